"""The fault-injecting soak of issue 24, at a scale that fits CI (GONB_FAULT_SOAK_SECONDS, default 4 s):
echo clients that, session after session, close mid-message, reset (RST), half-close, read slowly or
keep moving their deadlines, while the collector runs often (threshold 50) and finds garbage whose
`__del__` tries gonb calls and objects with `gonb.set_finalizer` finalizers that send on a channel.

Every session that ends cleanly checks its bytes: what the client got back has the byte count and sha256
of what it sent (0 bytes lost or corrupted). At the end: every finalizer set has run, fds and goroutines
are back to where they started. Runs on both poller backends (`gorun`)."""
import gc
import hashlib
import os
import random
import socket
import struct

import gonb
from gonb import net

SECONDS = float(os.environ.get("GONB_FAULT_SOAK_SECONDS", "4"))
NCLIENTS = 48
MODES = ("clean", "midclose", "rst", "halfclose", "slow", "deadlines")


class Garbage:
    "A cycle with a __del__ that tries the scheduler: refused inside a collection, never harmful."
    refused = 0
    def __init__(self): self.me = self
    def __del__(self):
        try: gonb.gosched()
        except RuntimeError: Garbage.refused += 1


class Owned:
    "A resource with a finalizer set through gonb: it runs on the finalizer goroutine."
    def __init__(self): self.me = self


def test_fault_soak(gorun, fd_baseline):
    stats = {m: 0 for m in MODES}
    stats.update(checked_bytes=0, lost=0, finalized=0, owned=0, errors=[])

    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        finalized = gonb.Chan(1 << 20)
        stop = [False]

        def server(s):
            buf = bytearray(1 << 16)
            try:
                while True:
                    s.set_read_deadline(gonb.now() + 5)          # moved on every read
                    n = s.read(buf)
                    Garbage()
                    s.write(memoryview(buf)[:n])
            except gonb.EOF: pass
            except (net.OpError, gonb.ErrDeadlineExceeded): pass   # resets and abandoned peers
            finally: s.close()

        def acceptor():
            while not stop[0]:
                try: c = ln.accept()
                except net.OpError: return
                gonb.go(server, c)

        def session(rnd, mode):
            c = net.dial("tcp", str(ln.addr()))
            o = Owned()
            gonb.set_finalizer(o, finalized.send, 1)
            stats["owned"] += 1
            del o
            msg = rnd.randbytes(rnd.choice((1, 100, 5000, 70000)))
            if mode == "rst":
                c.write(msg[: len(msg) // 2 + 1])
                c.fd.pfd.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
                return
            if mode == "midclose":
                c.write(msg[: len(msg) // 2 + 1])
                c.close()
                return
            sent, back = hashlib.sha256(), hashlib.sha256()
            nsent = ngot = 0
            buf = bytearray(1 << 16)
            for _ in range(rnd.randint(1, 4)):
                c.write(msg)
                sent.update(msg); nsent += len(msg)
                want = nsent
                while ngot < want:
                    if mode == "deadlines": c.set_read_deadline(gonb.now() + rnd.choice((0.5, 1, float("inf"))))
                    view = memoryview(buf)[: 512 if mode == "slow" else len(buf)]
                    n = c.read(view)
                    back.update(view[:n]); ngot += n
                    if mode == "slow": gonb.sleep(0.0005)
            if mode == "halfclose":
                c.close_write()
                try:
                    n = c.read(buf)
                    stats["errors"].append(f"{n} bytes after the echo")
                except gonb.EOF: pass
            c.close()
            if back.digest() != sent.digest() or ngot != nsent: stats["lost"] += abs(nsent - ngot) or 1
            stats["checked_bytes"] += nsent

        def client(i, done):
            rnd = random.Random(i)
            end = gonb.now() + SECONDS
            try:
                while gonb.now() < end:
                    mode = rnd.choice(MODES)
                    session(rnd, mode)
                    stats[mode] += 1
            except Exception as e: stats["errors"].append(f"client {i}: {e!r}")
            finally: done.send(i)

        gonb.go(acceptor)
        done = gonb.Chan(NCLIENTS)
        for i in range(NCLIENTS): gonb.go(client, i, done)
        for _ in range(NCLIENTS): done.recv()
        stop[0] = True
        ln.close()
        for _ in range(100):                                  # servers see their peers go
            gc.collect()
            stats["finalized"] += sum(1 for _ in iter(lambda: gonb.select(finalized, default=True)[0] == 0, False))
            if stats["finalized"] == stats["owned"] and len(gonb.goroutines()) == 1: break
            gonb.sleep(0.05)
        stats["goroutines"] = gonb.goroutines()

    old = gc.get_threshold()
    gc.set_threshold(50)
    try: gorun(main)
    finally: gc.set_threshold(*old)
    print({k: v for k, v in stats.items() if k != "errors"})
    assert stats["errors"] == []
    assert stats["lost"] == 0 and stats["checked_bytes"] > 0
    assert all(stats[m] > 0 for m in MODES), stats
    assert stats["finalized"] == stats["owned"] > 0
    assert Garbage.refused > 0
    assert [g[3] for g in stats["goroutines"]] == ["test_fault_soak.<locals>.main"]
    # fds: the fd_baseline fixture checks the process is back to what it had before the run
