"""Faults a real server meets, on gonb: fd numbers reused while data is in flight, peer resets,
broken pipes and half-closes, EINTR storms, aborted accepts, fd exhaustion (in a subprocess, with
the net/http-style accept back-off of examples/accept_backoff.py), and 10,000 idle connections
reaped by their read deadlines while a slow reader and an active echo share the runtime.

Network tests run once per netpoll backend (the `gorun` fixture), except where a docstring says.
All traffic is on loopback.
"""
import errno
import hashlib
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import gonb
import gonb.fd
from gonb import net
from gonb.pollcache import pollcache
from gonb.runtime import Sema, sched, semacquire, semrelease
from goutil import spawn, watchdog, track, close_all, gomain, tcp_pair, read_exactly, echo, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------------------------
# helpers (goroutine-side), as in test_close.py / test_deadlines.py


def read_to_eof(c, bufsize=65536):
    "Everything `c` delivers until io.EOF."
    buf, out = bytearray(bufsize), bytearray()
    while True:
        try:
            n = c.read(buf)
        except gonb.EOF:
            return bytes(out)
        out += buf[:n]


def pds_in_use():
    "pollDescs handed out by the pollcache and not yet freed."
    return len(pollcache.blocks) * len(pollcache.blocks[0]) - pollcache.nfree() if pollcache.blocks else 0


def words(op, c):
    return f"{op} tcp {c.local_addr()}->{c.remote_addr()}"


# ---------------------------------------------------------------------------------------------
# 1. fd reuse storm

STORM_TOTAL = 3000          # connections over the whole storm
STORM_LIVE = 200            # at most this many alive at once: freed fd numbers are reused at once
REC = 16                    # one record: b"IIIIII:SSSSSSSS\n", connection id and sequence number


def rec(cid, seq):
    return b"%06d:%08d\n" % (cid, seq)


class RecordChecker:
    """Parses one direction of one connection: every record must carry this connection's id and
    the next sequence number. A single foreign or shifted byte breaks the record framing or the
    id/seq check, and is reported."""

    def __init__(self, cid, where, errors):
        self.cid, self.where, self.errors = cid, where, errors
        self.pending = bytearray()
        self.next = 0

    def feed(self, data):
        self.pending += data
        while len(self.pending) >= REC:
            r = bytes(self.pending[:REC])
            del self.pending[:REC]
            m = re.fullmatch(rb"(\d{6}):(\d{8})\n", r)
            if m is None:
                self.errors.append(f"{self.where} conn {self.cid}: malformed record {r!r}")
                return False
            cid, seq = int(m.group(1)), int(m.group(2))
            if self.cid is None:          # the server learns the id from the hello (seq 0)
                self.cid = cid
            if cid != self.cid or seq != self.next:
                self.errors.append(f"{self.where} conn {self.cid}: got record of conn {cid} seq {seq}, "
                                   f"expected seq {self.next} (foreign bytes: fd reuse mix-up?)")
                return False
            self.next += 1
        return True


def n_up(cid): return 1 + (cid * 37) % 40      # records client -> server (after the hello)
def n_down(cid): return 1 + (cid * 53) % 40    # records server -> client
BIG_DOWN = 4096                                 # mode 3: far more than the client will read


def test_fd_reuse_storm(gorun, fd_baseline):
    """3,000 connections opened and closed in overlapping waves (at most 200 alive) while data is in
    flight: writers writing, readers parked. Four endings, by connection id mod 4:
    0 graceful (close_write both ways), 1 client RST (SO_LINGER 0) while its own reader is parked,
    2 the server closes while its reader is parked, 3 the client closes with unread data (RST).
    Every byte read must belong to the reading connection (tagged id + sequence), freed fd numbers
    must really be reused, and at the end no goroutine waits in netpoll (`netpollWaiters` == 0), no
    pollDesc or poller registration is left behind, and no fd leaks."""
    rng = random.Random(1)
    errors, outcomes = [], {}
    fds_seen = []

    def note(kind):
        outcomes[kind] = outcomes.get(kind, 0) + 1

    def main():
        watchdog(240, "fd reuse storm")
        waiters0, tags0, pds0 = sched.netpollWaiters, len(sched.poller.tags), pds_in_use()
        ln = net.listen("tcp", "127.0.0.1:0")
        addr = str(ln.addr())
        live = Sema()
        for _ in range(STORM_LIVE):
            semrelease(live)
        done_clients, done_servers = Sema(), Sema()
        stats = {"servers": 0, "accept_end": None}

        # ---- server side -------------------------------------------------------------------
        def server(s):
            chk = RecordChecker(None, "server", errors)
            fds_seen.append(s.fd.pfd.Sysfd)
            wrote = None
            try:
                buf = bytearray(rng.choice((7, 16, 100, 4096)))   # odd sizes split records
                # the hello tells us who this is
                while chk.cid is None:
                    n = s.read(buf)
                    if not chk.feed(buf[:n]):
                        return
                cid = chk.cid
                mode = cid % 4

                def writer():
                    total = BIG_DOWN if mode == 3 else n_down(cid)
                    for seq in range(total):
                        s.write(rec(cid, seq))
                        if seq % 8 == 7:
                            gonb.gosched()
                    if mode == 0:
                        s.close_write()
                    if mode == 2:
                        while chk.next < 1 + n_up(cid):   # let the reader take every record
                            gonb.sleep(0.001)
                        gonb.sleep(0.002)                 # and park again
                        s.close()           # our reader is parked in read: it must wake ErrClosed

                wrote = spawn(writer)
                try:
                    while True:
                        n = s.read(buf)
                        if not chk.feed(buf[:n]):
                            return
                except gonb.EOF:
                    note(f"server read EOF mode {mode}")
                    if mode in (0, 2) and chk.next != 1 + n_up(cid):
                        errors.append(f"server conn {cid}: EOF after {chk.next} records, "
                                      f"expected {1 + n_up(cid)}")
                    if mode == 2:
                        errors.append(f"server conn {cid}: EOF, but the client never closes first")
                except ConnectionResetError as e:
                    note(f"server read reset mode {mode}")
                    if mode not in (1, 3):
                        errors.append(f"server conn {cid}: unexpected reset {e}")
                    elif not str(e).endswith("read: connection reset by peer"):
                        errors.append(f"server conn {cid}: reset words {e}")
                except net.ErrClosed as e:
                    note(f"server read closed mode {mode}")
                    if mode != 2:
                        errors.append(f"server conn {cid}: unexpected ErrClosed {e}")
                    elif chk.next != 1 + n_up(cid):
                        errors.append(f"server conn {cid}: closed after {chk.next} records")
                wrote.wait()
                if wrote.exc is not None:
                    e = wrote.exc
                    note(f"server write {type(e).__name__} mode {mode}")
                    ok = mode in (1, 3) and isinstance(e, (BrokenPipeError, ConnectionResetError))
                    if not ok:
                        errors.append(f"server conn {cid} mode {mode}: write failed: {e!r} {e}")
            except Exception as e:      # anything else is a failure, recorded, never fatal here
                errors.append(f"server: {type(e).__name__}: {e}")
            finally:
                close_all(s)
                if wrote is not None:
                    wrote.wait()
                stats["servers"] += 1
                semrelease(done_servers)

        def acceptor():
            try:
                while True:
                    s = ln.accept()
                    gonb.go(server, s)
            except net.ErrClosed:
                stats["accept_end"] = "closed"
            except Exception as e:
                errors.append(f"accept: {e!r}")

        gonb.go(acceptor)

        # ---- client side -------------------------------------------------------------------
        def client(cid):
            mode = cid % 4
            c = None
            try:
                c = net.dial("tcp", addr)
                fds_seen.append(c.fd.pfd.Sysfd)
                chk = RecordChecker(cid, "client", errors)

                def reader():
                    buf = bytearray(rng.choice((5, 16, 64, 4096)))
                    limit = 3 if mode == 3 else None    # mode 3 leaves the rest unread
                    got = 0
                    while limit is None or got < limit:
                        n = c.read(buf)
                        got += n
                        if not chk.feed(buf[:n]):
                            return "bad"

                r = spawn(reader)
                c.write(rec(cid, 0))
                for seq in range(1, 1 + n_up(cid)):
                    c.write(rec(cid, seq))
                    if seq % 5 == 0:
                        gonb.gosched()
                if mode == 0:
                    c.close_write()
                    r.wait()
                    if not isinstance(r.exc, gonb.EOF):
                        errors.append(f"client {cid}: reader ended with {r.exc!r}, not EOF")
                    elif chk.next != n_down(cid):
                        errors.append(f"client {cid}: {chk.next} records before EOF, expected {n_down(cid)}")
                elif mode == 1:
                    gonb.sleep(rng.random() * 0.002)
                    c.set_linger(0)
                    c.close()                           # RST; our own reader is parked or reading
                    r.wait()
                    if not isinstance(r.exc, net.ErrClosed):
                        errors.append(f"client {cid}: reader after local close: {r.exc!r}")
                elif mode == 2:
                    r.wait()                            # the server writes, then closes
                    if not isinstance(r.exc, gonb.EOF) or chk.next != n_down(cid):
                        errors.append(f"client {cid}: mode 2 reader {r.exc!r} after {chk.next} records")
                else:
                    r.wait()
                    if r.exc is not None:
                        errors.append(f"client {cid}: mode 3 reader {r.exc!r}")
                    c.close()                           # unread data: the kernel sends RST
            except Exception as e:
                errors.append(f"client {cid}: {type(e).__name__}: {e}")
            finally:
                if c is not None:
                    close_all(c)
                semrelease(live)
                semrelease(done_clients)

        for cid in range(STORM_TOTAL):
            semacquire(live)                            # a slot frees when a client ends
            gonb.go(client, cid)
            if cid % 50 == 49:
                gonb.sleep(0.001)                       # waves: let closes and dials interleave
        for _ in range(STORM_TOTAL):
            semacquire(done_clients)
        for _ in range(STORM_TOTAL):
            semacquire(done_servers)
        ln.close()
        gonb.sleep(0.01)                                # the acceptor sees ErrClosed
        assert stats["accept_end"] == "closed"
        print(f"fd reuse storm ({os.environ.get('GONB_NETPOLL')}): {STORM_TOTAL} conns, "
              f"{len(set(fds_seen))} distinct fd numbers; endings {outcomes}")
        assert not errors, f"{len(errors)} errors, first: " + "\n".join(errors[:10])
        assert stats["servers"] == STORM_TOTAL
        # fd numbers really were reused
        assert len(fds_seen) == 2 * STORM_TOTAL
        assert len(set(fds_seen)) < STORM_TOTAL // 4, f"{len(set(fds_seen))} distinct fds: no reuse?"
        # every ending really happened
        for mode in range(4):
            assert any(k.endswith(f"mode {mode}") for k in outcomes), (mode, outcomes)
        assert outcomes.get("server read closed mode 2") == STORM_TOTAL // 4, outcomes
        assert outcomes.get("server read EOF mode 0") == STORM_TOTAL // 4, outcomes
        # nothing left in the runtime
        assert sched.netpollWaiters == waiters0 == 0
        assert len(sched.poller.tags) == tags0, "poller registrations left behind"
        assert pds_in_use() == pds0, "pollDescs not returned to the pollcache"
        left = [g for g in gonb.goroutines() if not g[3].endswith((".main", ".dog"))]
        assert left == [], left

    gorun(main)


# ---------------------------------------------------------------------------------------------
# 2. peer reset, broken pipe, half-close


def test_peer_reset_wakes_parked_reader_and_writer(gorun, fd_baseline):
    """The peer closes with SO_LINGER 0 (RST) while our reader is parked in read and our writer is
    parked on a full send buffer. Both wake. The kernel hands ECONNRESET to whichever syscall comes
    first; after it the socket is dead: a read sees EOF, a write EPIPE. So exactly one of the two
    gets `connection reset by peer`, with Go's words, and the other EOF / `broken pipe`."""
    def main():
        watchdog(20, "peer reset")
        ln, c, s = tcp_pair()
        rd = spawn(lambda: s.read(bytearray(64)))
        wr = spawn(lambda: s.write(b"z" * (32 << 20)))      # c never reads: the writer parks
        pd = s.fd.pfd.pd
        both_parked = lambda: type(pd.rg) is not int and type(pd.wg) is not int   # a G in rg and in wg
        wait_until(lambda: both_parked() or rd.done or wr.done, timeout=5, every=0.005)
        assert both_parked(), (rd.exc, wr.exc)
        c.set_linger(0)
        c.close()
        rd.wait(), wr.wait()
        pair = f"{s.local_addr()}->{s.remote_addr()}"
        assert isinstance(rd.exc, (ConnectionResetError, gonb.EOF)), repr(rd.exc)
        assert isinstance(wr.exc, (ConnectionResetError, BrokenPipeError)), repr(wr.exc)
        assert isinstance(wr.exc, net.OpError) and wr.exc.op == "write"
        assert 0 < wr.exc.written < (32 << 20)
        resets = [e for e in (rd.exc, wr.exc) if isinstance(e, ConnectionResetError)]
        assert len(resets) == 1, (rd.exc, wr.exc)
        if isinstance(rd.exc, ConnectionResetError):
            assert isinstance(rd.exc, net.OpError) and rd.exc.op == "read"
            assert str(rd.exc) == f"read tcp {pair}: read: connection reset by peer"
            assert str(rd.exc).endswith("read: connection reset by peer")
            assert str(wr.exc) == f"write tcp {pair}: write: broken pipe"
        else:
            assert str(rd.exc) == "EOF"
            assert str(wr.exc) == f"write tcp {pair}: write: connection reset by peer"
        # the dead conn keeps failing cleanly, and closes once
        with pytest.raises(gonb.EOF):
            s.read(bytearray(1))
        with pytest.raises(BrokenPipeError) as ei:
            s.write(b"x")
        assert str(ei.value) == f"write tcp {pair}: write: broken pipe"
        s.close()
        # the runtime is fine: a fresh pair talks
        c2 = track(net.dial("tcp", str(ln.addr())))
        s2 = track(ln.accept())
        c2.write(b"alive")
        assert read_exactly(s2, 5) == b"alive"

    gorun(gomain(main))


def test_peer_reset_idle_reader(gorun, fd_baseline):
    "RST arrives while nobody reads; the next read (not parked) reports it with Go's words."
    def main():
        watchdog(20, "peer reset idle")
        ln, c, s = tcp_pair()
        c.write(b"before")
        assert read_exactly(s, 6) == b"before"
        c.set_linger(0)
        c.close()
        gonb.sleep(0.05)
        with pytest.raises(ConnectionResetError) as ei:
            s.read(bytearray(16))
        assert isinstance(ei.value, net.OpError) and ei.value.op == "read"
        assert str(ei.value).endswith("read: connection reset by peer")
        assert str(ei.value) == f"{words('read', s)}: read: connection reset by peer"
        assert not ei.value.timeout()

    gorun(gomain(main))


def test_broken_pipe_on_write(gorun, fd_baseline):
    """The peer closes normally (FIN) and does not read: our first write still succeeds (the
    kernel buffers it; the peer answers with RST), a later one fails with EPIPE or ECONNRESET,
    as Go's `write: broken pipe` / `write: connection reset by peer`, within a few writes."""
    def main():
        watchdog(20, "broken pipe")
        ln, c, s = tcp_pair()
        c.close()
        with pytest.raises(gonb.EOF):
            s.read(bytearray(1))
        err = None
        for i in range(200):
            try:
                s.write(b"data %d\n" % i)
            except OSError as e:
                err = e
                break
            gonb.sleep(0.002)
        assert err is not None, "200 writes to a closed peer all succeeded"
        assert i >= 1, "the very first write failed: the RST came before anything was sent"
        assert isinstance(err, net.OpError) and err.op == "write"
        assert isinstance(err, (BrokenPipeError, ConnectionResetError)), type(err).__mro__
        assert str(err).endswith(("write: broken pipe", "write: connection reset by peer")), str(err)
        assert str(err).startswith(words("write", s) + ": ")
        assert err.written == 0

    gorun(gomain(main))


@pytest.mark.parametrize("size", [9, 1 << 20], ids=["small", "1MiB"])
def test_half_close_both_ways(gorun, fd_baseline, size):
    """Both sides write `size` bytes at once, each then close_write()s; each still reads all of the
    other's bytes and then io.EOF (readers are parked before the data comes). Both close cleanly."""
    rnd = random.Random(size)
    up, down = rnd.randbytes(size), rnd.randbytes(size)

    def main():
        watchdog(30, "half close both ways")
        ln, c, s = tcp_pair()
        s_reader = spawn(read_to_eof, s)
        c_reader = spawn(read_to_eof, c)
        gonb.sleep(0.02)                                   # both readers parked
        assert not s_reader.done and not c_reader.done

        def send(conn, data):
            conn.write(data)
            conn.close_write()

        w1, w2 = spawn(send, c, up), spawn(send, s, down)
        for f in (w1, w2, s_reader, c_reader):
            f.wait()
            assert f.exc is None, repr(f.exc)
        assert hashlib.sha256(s_reader.value).digest() == hashlib.sha256(up).digest()
        assert hashlib.sha256(c_reader.value).digest() == hashlib.sha256(down).digest()
        for conn in (c, s):
            with pytest.raises(gonb.EOF):                  # EOF again, not an error
                conn.read(bytearray(1))
            with pytest.raises(BrokenPipeError):           # our own side is shut
                conn.write(b"late")
        c.close()
        s.close()

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# 3. EINTR: signals rain on the thread blocked in epoll_wait/poll

EINTR_SECONDS = 2.0


def test_eintr_storm_during_blocking_poll(gorun, fd_baseline):
    """A thread sends SIGUSR1 to the main thread every ~1 ms (a no-op Python handler is installed,
    so every blocking epoll_wait/poll/recv is interrupted with EINTR) while an echo workload with
    sleeps and read deadlines runs for ~2 s. Every byte comes back, nothing raises, and no sleep or
    deadline ever ends early. pytest runs tests on the main thread, where Python delivers signals."""
    assert threading.current_thread() is threading.main_thread()
    hits = [0]

    def handler(signum, frame):
        hits[0] += 1

    old = signal.signal(signal.SIGUSR1, handler)
    stop = threading.Event()
    main_ident = threading.main_thread().ident
    sent = [0]

    def killer():
        while not stop.wait(0.001):
            signal.pthread_kill(main_ident, signal.SIGUSR1)
            sent[0] += 1

    early, stats = [], {"bytes": 0, "rounds": 0, "sleeps": 0, "timeouts": 0}

    def main():
        watchdog(60, "EINTR storm")
        ln = track(net.listen("tcp", "127.0.0.1:0"))

        def echo(s):
            buf = bytearray(65536)
            try:
                while True:
                    n = s.read(buf)
                    s.write(memoryview(buf)[:n])
            except gonb.EOF:
                pass
            finally:
                s.close()

        def acceptor():
            try:
                while True:
                    gonb.go(echo, ln.accept())
            except net.ErrClosed:
                pass

        gonb.go(acceptor)
        end = gonb.now() + EINTR_SECONDS

        def client(i):
            rnd = random.Random(i)
            with net.dial("tcp", str(ln.addr())) as c:
                while gonb.now() < end:
                    msg = rnd.randbytes(rnd.choice((1, 100, 4096, 100_000)))
                    w = spawn(c.write, msg)                 # big messages: write while reading
                    got = read_exactly(c, len(msg))
                    w.wait()
                    assert w.exc is None, w.exc
                    assert got == msg, f"client {i}: echo differs"
                    stats["bytes"] += len(msg)
                    stats["rounds"] += 1
                    d = rnd.choice((0.0005, 0.001, 0.003, 0.007))
                    t0 = gonb.now()
                    gonb.sleep(d)
                    if gonb.now() < t0 + d:
                        early.append(("sleep", d, gonb.now() - t0))
                    stats["sleeps"] += 1
                    if stats["rounds"] % 7 == 0:           # a deadline that must expire
                        dl = gonb.now() + 0.004
                        c.set_read_deadline(dl)
                        try:
                            c.read(bytearray(1))
                            raise AssertionError("read returned data nobody sent")
                        except TimeoutError as e:
                            assert str(e).endswith("i/o timeout")
                            if gonb.now() < dl:
                                early.append(("deadline", dl, gonb.now()))
                            stats["timeouts"] += 1
                        c.set_read_deadline(None)

        fs = [spawn(client, i) for i in range(16)]
        for f in fs:
            f.wait()
            assert f.exc is None, repr(f.exc)
        ln.close()
        return True

    t = threading.Thread(target=killer, daemon=True)
    try:
        t.start()
        assert gorun(gomain(main)) is True
    finally:
        stop.set()
        t.join()
        signal.signal(signal.SIGUSR1, old)
    print(f"EINTR storm: {sent[0]} signals sent, {hits[0]} handled, {stats}")
    assert early == [], early[:5]
    assert sent[0] >= 200 and hits[0] >= 200, (sent, hits)   # the storm really happened
    assert stats["rounds"] >= 50 and stats["timeouts"] >= 5, stats


# ---------------------------------------------------------------------------------------------
# 4. ECONNABORTED storm on accept (gonb.fd.AcceptFunc is internal/poll's accept hook)


def test_accept_econnaborted_storm(gorun, fd_baseline, monkeypatch):
    """Every other accept4 call fails with ECONNABORTED (a client reset while still queued, as
    Linux reports it). Go's FD.Accept retries those silently; 300 clients dialing at once are all
    accepted, in order of no importance, and each gets its own echo back."""
    real = gonb.fd.AcceptFunc
    calls = {"aborted": 0, "real": 0}

    def flaky(sock):
        if (calls["aborted"] + calls["real"]) % 2 == 0:
            calls["aborted"] += 1
            raise ConnectionAbortedError(errno.ECONNABORTED, "Software caused connection abort")
        calls["real"] += 1
        return real(sock)

    monkeypatch.setattr(gonb.fd, "AcceptFunc", flaky)
    N = 300

    def main():
        watchdog(60, "ECONNABORTED storm")
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        accepted = []

        def serve():
            for _ in range(N):
                s = ln.accept()
                accepted.append(s)
                gonb.go(lambda s=s: (s.write(read_exactly(s, 8)), s.close()))

        srv = spawn(serve)

        def client(i):
            with net.dial("tcp", str(ln.addr())) as c:
                msg = b"%08d" % i
                c.write(msg)
                assert read_exactly(c, 8) == msg
                with pytest.raises(gonb.EOF):
                    c.read(bytearray(1))

        fs = [spawn(client, i) for i in range(N)]
        for f in fs:
            f.wait()
            assert f.exc is None, repr(f.exc)
        srv.wait()
        assert srv.exc is None, repr(srv.exc)
        assert len(accepted) == N
        assert calls["aborted"] >= N, calls                  # one abort before every success
        # the listener is still healthy after the storm
        c = track(net.dial("tcp", str(ln.addr())))
        s = track(ln.accept())
        c.write(b"after")
        assert read_exactly(s, 5) == b"after"

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# 5. fd exhaustion: examples/accept_backoff.py in a subprocess with a tiny RLIMIT_NOFILE

BACKOFF_LINE = re.compile(r"accept error: accept tcp 127\.0\.0\.1:(\d+): accept4: too many open files; "
                          r"retrying in (\d+ms|1s)")


def _ms(text):
    return 1000 if text == "1s" else int(text[:-2])


def _lines_reader(stream, into):
    for line in stream:
        into.append(line.rstrip("\n"))


@pytest.mark.parametrize("backend", ["epoll", "poll"])
def test_fd_exhaustion_accept_backoff(fd_baseline, backend):
    """examples/accept_backoff.py (net/http's accept loop) runs with RLIMIT_NOFILE = 32; 60 clients
    connect and exhaust its fds. It logs `accept tcp ...: accept4: too many open files` with a
    back-off of 5 ms doubling to at most 1 s, stays alive, and once the clients close it serves a
    new client again."""
    env = dict(os.environ, GONB_NETPOLL=backend, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "examples", "accept_backoff.py"),
                             "127.0.0.1:0", "--nofile", "32"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)
    out, err = [], []
    readers = [threading.Thread(target=_lines_reader, args=(proc.stdout, out), daemon=True),
               threading.Thread(target=_lines_reader, args=(proc.stderr, err), daemon=True)]
    for t in readers:
        t.start()
    clients = []

    def wait_for(cond, timeout, what):
        end = time.monotonic() + timeout
        while not cond():
            if proc.poll() is not None:
                pytest.fail(f"server died ({proc.returncode}) waiting for {what}: {err[-5:]}")
            if time.monotonic() > end:
                pytest.fail(f"timed out waiting for {what}; stdout {out[-3:]} stderr {err[-5:]}")
            time.sleep(0.01)

    def echo_ok(s, msg, timeout):
        s.settimeout(timeout)
        got = b""
        try:
            while len(got) < len(msg):
                b = s.recv(len(msg) - len(got))
                if not b:
                    return False
                got += b
        except (socket.timeout, OSError):
            return False
        return got == msg

    try:
        wait_for(lambda: out, 20, "`listening on`")
        m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", out[0])
        assert m, out
        port = int(m.group(1))
        for i in range(60):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            clients.append(s)
            s.sendall(b"hello %02d" % i)
        wait_for(lambda: sum(1 for l in err if BACKOFF_LINE.fullmatch(l)) >= 6, 20, "6 back-off lines")
        served = [echo_ok(s, b"hello %02d" % i, 0.5 if i < 5 else 0.05) for i, s in enumerate(clients)]
        assert 0 < sum(served) < len(clients), served        # some served, the rest stuck in the queue
        assert proc.poll() is None, "the server died of EMFILE"

        for s in clients:                                     # free the server's fds
            s.close()
        clients.clear()
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        clients.append(s)
        s.sendall(b"after the storm")
        assert echo_ok(s, b"after the storm", 15), f"no echo after the clients closed; stderr {err[-3:]}"
        assert proc.poll() is None

        # the log: only back-off lines, Go's words, 5 ms doubling up to 1 s (5 ms again after a success)
        assert err, "no accept errors were logged"
        prev = None
        for line in err:
            m = BACKOFF_LINE.fullmatch(line)
            assert m, f"unexpected stderr line: {line!r}"
            assert int(m.group(1)) == port
            d = _ms(m.group(2))
            assert d == 5 or (prev is not None and d == min(prev * 2, 1000)), (prev, d, err)
            prev = d
        delays = [_ms(BACKOFF_LINE.fullmatch(l).group(2)) for l in err]
        assert delays[:4] == [5, 10, 20, 40], delays
        assert max(delays) <= 1000
    finally:
        for s in clients:
            s.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for t in readers:
            t.join(5)
        proc.stdout.close()
        proc.stderr.close()


# ---------------------------------------------------------------------------------------------
# 6. 10,000 idle connections reaped by read deadlines, a slow reader, an active echo

IDLE_CONNS = 10_000
IDLE_TIMEOUT = 1.0           # each server-side read deadline: accept time + 1 s
REAP_SLACK = 10.0            # generous bound on how late a reaped read may return (2 shared cores)
IDLE_NEED = IDLE_CONNS + 1000   # 11,000

# The idle clients live in a helper process, which only holds plain blocking sockets: this process
# holds the 10,000 server ends (plus a few hundred fds of its own), the helper the 10,000 client ends.
HOLDER = r"""
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    socks.append(socket.create_connection(("127.0.0.1", port), timeout=30))
    if i % 500 == 499:
        time.sleep(0.01)
print("connected", len(socks), flush=True)
sys.stdin.readline()          # hold them until the test says so
"""


def test_idle_connections_reaped_while_active_echo_flows(gorun, fd_baseline):
    """10,000 idle connections, each with a 1 s read deadline set by its server goroutine right
    after accept, are all reaped with `i/o timeout`, never before their deadline and at most
    REAP_SLACK late; meanwhile a slow reader (its echo writes parked on a full socket buffer) does
    not stall an active echo connection, which keeps getting its echoes the whole time.

    The idle clients are held by a helper process, so this process needs ~10,000 fds, not 20,000:
    RLIMIT_NOFILE's soft limit is raised to the hard one at import, and the test is skipped if the
    hard limit is below 11,000. Runs on both backends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < IDLE_NEED:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {IDLE_NEED}: cannot hold {IDLE_CONNS} connections")
    reaped, bad = [], []
    report = {}

    def main():
        watchdog(120, "idle reap")
        waiters0 = sched.netpollWaiters
        idle_ln = track(net.listen("tcp", "127.0.0.1:0"))
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        port = idle_ln.addr().Port

        # -- the active echo and the slow reader, on their own listener ------------------------
        active_c = track(net.dial("tcp", str(ln.addr())))
        gonb.go(echo, track(ln.accept()), 65536)
        slow_c = track(net.dial("tcp", str(ln.addr())))
        gonb.go(echo, track(ln.accept()), 65536)

        phase = {"stop": False}
        rtts = []

        def active():
            i = 0
            while not phase["stop"]:
                msg = b"%032d" % i
                t0 = gonb.now()
                active_c.write(msg)
                assert read_exactly(active_c, 32) == msg
                rtts.append((t0, gonb.now() - t0))
                i += 1
                gonb.sleep(0.005)

        slow = {"sent": 0, "read": 0}

        def slow_writer():
            chunk = b"s" * 65536
            try:
                while not phase["stop"]:
                    slow_c.write(chunk)
                    slow["sent"] += len(chunk)
            except net.ErrClosed:
                pass

        def slow_reader():
            buf = bytearray(1024)
            try:
                while not phase["stop"]:
                    slow["read"] += slow_c.read(buf)
                    gonb.sleep(0.05)
            except net.ErrClosed:
                pass

        act = spawn(active)
        spawn(slow_writer)
        spawn(slow_reader)

        # -- the idle connections ----------------------------------------------------------------
        def reap(s):
            deadline = gonb.now() + IDLE_TIMEOUT
            try:
                s.set_read_deadline(deadline)
                s.read(bytearray(16))
                bad.append("read returned data")
            except TimeoutError as e:
                t = gonb.now()
                if not (isinstance(e, net.OpError) and str(e) == f"{words('read', s)}: i/o timeout"):
                    bad.append(f"timeout words: {e}")
                reaped.append((deadline, t))
            except Exception as e:
                bad.append(repr(e))
            finally:
                close_all(s)

        def acceptor():
            for _ in range(IDLE_CONNS):
                gonb.go(reap, idle_ln.accept())

        t0 = gonb.now()
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(port), str(IDLE_CONNS)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            acc = spawn(acceptor)
            line = gonb.syscall(holder.stdout.readline)   # blocking: runs beside the goroutines
            assert line.strip() == f"connected {IDLE_CONNS}", line
            acc.wait()
            assert acc.exc is None, repr(acc.exc)
            report["accepted_s"] = gonb.now() - t0
            while len(reaped) + len(bad) < IDLE_CONNS and gonb.now() < t0 + 90:
                gonb.sleep(0.05)
            report["reaped_s"] = gonb.now() - t0
        finally:
            holder.stdin.write("go\n")
            holder.stdin.close()
            gonb.syscall(holder.wait)
            holder.stdout.close()
        phase["stop"] = True
        slow_c.close()
        act.wait()
        assert act.exc is None, repr(act.exc)
        active_c.close()
        gonb.sleep(0.05)

        assert bad == [], bad[:5]
        assert len(reaped) == IDLE_CONNS
        late = sorted(t - d for d, t in reaped)
        assert late[0] >= 0, f"a read timed out {-late[0]:.6f} s before its deadline"
        assert late[-1] <= REAP_SLACK, f"a read timed out {late[-1]:.3f} s after its deadline"
        report.update(late_p50=late[len(late) // 2], late_p99=late[int(len(late) * 0.99)], late_max=late[-1])
        # the active echo kept flowing while the idle storm was accepted and reaped
        during = [r for t, r in rtts if t0 <= t <= t0 + report["reaped_s"]]
        assert len(during) >= 10, f"only {len(during)} active echoes during the idle storm"
        gaps = [b[0] - a[0] for a, b in zip(rtts, rtts[1:])]
        assert max(gaps) < 5.0, f"the active echo stalled for {max(gaps):.2f} s"
        report.update(echoes=len(during), echo_max_rtt=max(during), echo_max_gap=max(gaps))
        # and the slow reader was really stalled: its echo writes were parked on a full buffer
        assert slow["sent"] - slow["read"] > 1 << 20, slow
        report["slow"] = dict(slow)
        assert sched.netpollWaiters == waiters0 == 0

    gorun(gomain(main))
    print(f"idle reap ({os.environ.get('GONB_NETPOLL')}): {IDLE_CONNS} conns, accepted in "
          f"{report['accepted_s']:.2f} s, all reaped by {report['reaped_s']:.2f} s; lateness p50 "
          f"{report['late_p50'] * 1e3:.1f} ms p99 {report['late_p99'] * 1e3:.1f} ms max "
          f"{report['late_max'] * 1e3:.1f} ms; active echo {report['echoes']} round trips, max rtt "
          f"{report['echo_max_rtt'] * 1e3:.1f} ms, max gap {report['echo_max_gap'] * 1e3:.1f} ms; "
          f"slow reader {report['slow']}")
