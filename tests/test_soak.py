"""Soak: an echo server and 1,000 client connections in one gonb program, random payload sizes,
for GONB_SOAK_SECONDS (default 30 s, so CI stays well inside its budget).

Every connection checks that nothing was lost or corrupted: sha256 and byte count of everything the
client sent, of what the server received, and of what the client got back must all agree. RSS
(/proc/self/statm) measured after a warm-up and again at the end of the traffic may not grow by more
than 30 %, and after everything is closed the process has exactly the fds it started with.

A longer local run:    GONB_SOAK_SECONDS=600 .venv/bin/python -m pytest -q -s tests/test_soak.py
The poll(2) backend:   GONB_NETPOLL=poll .venv/bin/python -m pytest -q -s tests/test_soak.py
(-s shows the numbers: connections, duration, bytes checked, RSS at warm-up and at the end.)
"""
import gc
import hashlib
import math
import os
import random
import resource

import pytest

import gonb
from gonb import net
from gonb.runtime import Sema, sched, semacquire, semrelease
from goutil import open_fds

NCONN = 1000
SECONDS = float(os.environ.get("GONB_SOAK_SECONDS", "30"))
WARMUP = min(5.0, SECONDS / 5)       # RSS is taken once every connection is busy and caches are warm
RSS_GROWTH = 0.30                    # generous: a leak of a few bytes per message shows up as far more
MAX_PAYLOAD = 1 << 16



def rss_bytes():
    "Resident set size of this process, from /proc/self/statm (second field, in pages)."
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Side:
    "Byte count and running sha256 of one direction as seen at one end."
    __slots__ = ("n", "h")

    def __init__(self): self.n, self.h = 0, hashlib.sha256()

    def add(self, b):
        self.n += len(b)
        self.h.update(b)


def test_soak_echo_1000_connections(fd_baseline, monkeypatch):
    """1,000 request/response echo clients for SECONDS: each sends a random message (1 B .. 64 KiB,
    log-uniform), reads its echo back in full, pauses 0..20 ms, repeats. One message in flight per
    connection keeps the kernel's socket memory bounded: free-running writers pushed ~1.4 GB into
    socket buffers here and met the machine-wide tcp_mem limit, where the kernel itself stalls
    connections in retransmission back-off, which would test the kernel, not gonb."""
    monkeypatch.setenv("GONB_NETPOLL", os.environ.get("GONB_NETPOLL", "epoll"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 2 * NCONN + 200:
        pytest.skip(f"RLIMIT_NOFILE {soft} < {2 * NCONN + 200}")
    sent = [Side() for _ in range(NCONN)]        # client -> server, at the client
    arrived = [Side() for _ in range(NCONN)]     # client -> server, at the server
    back = [Side() for _ in range(NCONN)]        # server -> client, at the client
    errors, res = [], {"msgs": 0}

    def main():
        def watchdog():
            gonb.sleep(SECONDS + 120)
            raise AssertionError(f"soak still running {SECONDS + 120:.0f} s after it started (hang?)")
        gonb.go(watchdog)
        fds0 = open_fds()
        ln = net.listen("tcp", "127.0.0.1:0")
        done = Sema()

        def server(s):
            buf = bytearray(MAX_PAYLOAD)
            try:
                hello = bytearray(4)
                got = 0
                while got < 4:
                    got += s.read(memoryview(hello)[got:])
                i = int.from_bytes(hello, "big")
                while True:
                    n = s.read(buf)
                    arrived[i].add(buf[:n])
                    s.write(memoryview(buf)[:n])
            except gonb.EOF:
                pass
            except Exception as e:
                errors.append(f"server: {e!r}")
            finally:
                s.close()
                semrelease(done)

        def acceptor():
            for _ in range(NCONN):
                gonb.go(server, ln.accept())

        gonb.go(acceptor)
        conns = [net.dial("tcp", str(ln.addr())) for _ in range(NCONN)]
        t0 = gonb.now()
        end = t0 + SECONDS

        def client(i, c):
            "Request/response: send a random message, read its echo back in full, repeat."
            rnd = random.Random(i)
            buf = bytearray(MAX_PAYLOAD)
            try:
                c.write(i.to_bytes(4, "big"))
                while True:                       # at least one round, even if it starts late
                    b = rnd.randbytes(int(2 ** rnd.uniform(0, math.log2(MAX_PAYLOAD))))
                    c.write(b)
                    sent[i].add(b)
                    got = 0
                    while got < len(b):
                        n = c.read(memoryview(buf)[:len(b) - got])
                        back[i].add(buf[:n])
                        got += n
                    res["msgs"] += 1
                    if gonb.now() >= end:
                        break
                    gonb.sleep(rnd.choice((0, 0.001, 0.005, 0.02)))
                c.close_write()
                try:                              # nothing more may come: the server sees EOF
                    n = c.read(buf)
                    errors.append(f"client {i}: {n} unexpected bytes after the last echo")
                except gonb.EOF:
                    pass
            except Exception as e:
                errors.append(f"client {i}: {e!r}")
            finally:
                semrelease(done)

        for i, c in enumerate(conns):
            gonb.go(client, i, c)

        gonb.sleep(WARMUP)
        gc.collect()
        res["rss_start"], res["t_start"] = rss_bytes(), gonb.now() - t0
        res["bytes_start"] = sum(s.n for s in sent)
        gonb.sleep(max(0.0, end - 0.2 - gonb.now()))
        gc.collect()
        res["rss_end"], res["t_end"] = rss_bytes(), gonb.now() - t0
        for _ in range(2 * NCONN):               # every client and server goroutine ends
            semacquire(done)
        res["duration"] = gonb.now() - t0
        for c in conns:
            c.close()
        ln.close()
        res["waiters"] = sched.netpollWaiters
        res["fds_before"], res["fds_after"] = fds0, open_fds()

    gonb.run(main)
    total = sum(s.n for s in sent)
    print(f"\nsoak ({os.environ['GONB_NETPOLL']}): {NCONN} connections, {res['duration']:.1f} s, "
          f"{res['msgs']:,} messages, {total:,} bytes sent and {sum(s.n for s in back):,} echoed, "
          f"all sha256-checked; RSS {res['rss_start'] / 2**20:.1f} MiB at {res['t_start']:.1f} s -> "
          f"{res['rss_end'] / 2**20:.1f} MiB at {res['t_end']:.1f} s "
          f"({(res['rss_end'] / res['rss_start'] - 1) * 100:+.1f} %); fds {res['fds_before']} -> {res['fds_after']}")
    assert errors == [], errors[:5]
    bad = [i for i in range(NCONN)
           if not (sent[i].n == arrived[i].n == back[i].n
                   and sent[i].h.digest() == arrived[i].h.digest() == back[i].h.digest())]
    assert bad == [], (f"{len(bad)} connections lost or corrupted bytes, e.g. conn {bad[0]}: sent "
                       f"{sent[bad[0]].n}, server got {arrived[bad[0]].n}, echoed {back[bad[0]].n}")
    assert all(s.n > 0 for s in sent), "some connection never sent anything"
    assert total > res["bytes_start"] > 0, "no traffic after the warm-up"
    assert res["waiters"] == 0
    assert res["fds_after"] == res["fds_before"], "fds leaked"
    assert res["rss_end"] <= res["rss_start"] * (1 + RSS_GROWTH), (
        f"RSS grew {res['rss_start']} -> {res['rss_end']} bytes (> {RSS_GROWTH:.0%})")
