"""Closing conns and listeners, EOF, resets and big transfers, on gonb: Go's net_test.go
(TestCloseUnblocksRead, TestZeroByteRead, ...) and internal/poll's close-unblock guarantees.

Every test runs once per netpoll backend (the `gorun` fixture).
"""
import hashlib, os

import pytest

import gonb
from gonb import fd, net
from goutil import spawn, watchdog, track, gomain, tcp_pair, read_exactly, assert_closed, wait_parked


# ---------------------------------------------------------------------------------------------
# helpers (goroutine-side), as in test_deadlines.py


# ---------------------------------------------------------------------------------------------
# closing unblocks whoever is parked


def test_close_unblocks_parked_read(gorun, fd_baseline):
    "A reader parked with no deadline wakes with ErrClosed when another goroutine closes the conn."
    def main():
        watchdog(10, "close unblocks read")
        ln, c, s = tcp_pair()
        f = spawn(lambda: c.read(bytearray(16)))
        gonb.sleep(0.05)
        assert not f.done, f"read returned before close: {f.value!r} {f.exc!r}"
        t_close = gonb.now()
        c.close()                                # returns only once the fd is really closed
        assert f.done                            # so the reader has already been woken
        assert f.t >= t_close
        assert_closed(f.exc, "read", c)

    gorun(gomain(main))


def test_close_unblocks_parked_write(gorun, fd_baseline):
    "A writer parked on a full send buffer wakes with ErrClosed, reporting what it had written."
    def main():
        watchdog(10, "close unblocks write")
        ln, c, s = tcp_pair()                    # s never reads
        chunk = b"x" * (64 << 20)

        def writer():
            c.write(chunk)

        f = spawn(writer)
        gonb.sleep(0.05)
        assert not f.done, f"write of 64 MiB to a non-reader returned: {f.exc!r}"
        c.close()
        f.wait()
        assert_closed(f.exc, "write", c)
        assert 0 < f.exc.written < len(chunk)

    gorun(gomain(main))


def test_close_unblocks_accept(gorun, fd_baseline):
    "A goroutine parked in accept wakes with ErrClosed when the listener is closed."
    def main():
        watchdog(10, "close unblocks accept")
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        f = spawn(ln.accept)
        gonb.sleep(0.05)
        assert not f.done, f.exc
        ln.close()
        f.wait()
        assert_closed(f.exc, "accept", ln=ln)

    gorun(gomain(main))


def test_close_unblocks_lock_waiters(gorun, fd_baseline):
    """Two readers and two writers on one conn: one of each is parked in netpoll, the other waits
    for the fd's read/write lock (fdMutex). Close wakes all four with ErrClosed."""
    def main():
        watchdog(10, "close unblocks lock waiters")
        ln, c, s = tcp_pair()
        chunk = b"y" * (16 << 20)
        rs = [spawn(lambda: c.read(bytearray(8))) for _ in range(2)]
        ws = [spawn(lambda: c.write(chunk)) for _ in range(2)]
        gonb.sleep(0.05)
        assert not any(f.done for f in rs + ws), [f.exc for f in rs + ws]
        c.close()
        for f, op in [(f, "read") for f in rs] + [(f, "write") for f in ws]:
            f.wait()
            assert_closed(f.exc, op, c)

    gorun(gomain(main))


def test_peer_close_unblocks_read_with_eof(gorun, fd_baseline):
    "Go's TestCloseUnblocksRead: the peer closes; a reader parked on our side gets io.EOF."
    def main():
        watchdog(10, "peer close unblocks read")
        ln, c, s = tcp_pair()
        f = spawn(lambda: c.read(bytearray(1)))
        wait_parked(1, "IO wait")
        assert not f.done
        s.close()
        f.wait()
        assert isinstance(f.exc, gonb.EOF) and isinstance(f.exc, EOFError), repr(f.exc)
        assert not isinstance(f.exc, net.OpError)   # io.EOF is returned bare, as in Go
        assert str(f.exc) == "EOF"

    gorun(gomain(main))


def test_close_disarms_deadline_timer(gorun, fd_baseline):
    """Closing a conn with an armed deadline, then opening new conns (which reuse the freed poll
    descriptors): the old timer must not time out a read on a new conn."""
    def main():
        watchdog(10, "stale deadline timer")
        ln, c, s = tcp_pair()
        c.set_deadline(gonb.now() + 0.05)
        s.set_read_deadline(gonb.now() + 0.05)
        c.close()
        s.close()
        fresh = []
        for _ in range(4):
            fresh.append(track(net.dial("tcp", str(ln.addr()))))
            fresh.append(track(ln.accept()))
        fs = [spawn(lambda x=x: x.read(bytearray(1))) for x in fresh]
        gonb.sleep(0.2)                          # the old deadlines are long past
        assert not any(f.done for f in fs), [f.exc for f in fs if f.done]
        for x in fresh:
            x.close()
        for f, x in zip(fs, fresh):
            f.wait()
            assert_closed(f.exc, "read", x)

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# use after close


def test_close_twice(gorun, fd_baseline):
    "Closing a conn or listener twice: the second close is OpError('close') wrapping ErrClosed."
    def main():
        ln, c, s = tcp_pair()
        c.close()
        with pytest.raises(net.OpError) as ei:
            c.close()
        assert_closed(ei.value, "close", c)
        ln.close()
        with pytest.raises(net.ErrClosed) as ei:
            ln.close()
        assert_closed(ei.value, "close", ln=ln)
        with c:                                  # the context manager tolerates a closed conn
            pass

    gorun(gomain(main))


def test_ops_after_close(gorun, fd_baseline):
    "Every operation on a closed conn or listener fails with ErrClosed and Go's words."
    def main():
        ln, c, s = tcp_pair()
        laddr, raddr = c.local_addr(), c.remote_addr()
        c.close()
        assert (c.local_addr(), c.remote_addr()) == (laddr, raddr)   # still known, as in Go
        for op, call in [("read", lambda: c.read(bytearray(4))),
                         ("read", lambda: c.read(bytearray(0))),     # even a zero-byte read
                         ("write", lambda: c.write(b"data")),
                         ("write", lambda: c.write(b"")),
                         ("set-deadline", lambda: c.set_deadline(gonb.now() + 1)),
                         ("set-deadline", lambda: c.set_read_deadline(None)),
                         ("set-deadline", lambda: c.set_write_deadline(gonb.now() - 1)),
                         ("set", lambda: c.set_no_delay(False)),
                         ("close", lambda: c.close_write()),
                         ("close", lambda: c.close())]:
            with pytest.raises(net.OpError) as ei:
                call()
            assert_closed(ei.value, op, c)
        assert str(ei.value) == f"close tcp {laddr}->{raddr}: use of closed network connection"
        ln.close()
        for op, call in [("accept", ln.accept), ("set", lambda: ln.set_deadline(None))]:
            with pytest.raises(net.OpError) as ei:
                call()
            assert_closed(ei.value, op, ln=ln)
        # the peer sees EOF
        with pytest.raises(gonb.EOF):
            s.read(bytearray(4))

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# zero-byte reads, EOF and half-close


def test_zero_byte_read(gorun, fd_baseline):
    """Go's TestZeroByteRead: a read into an empty buffer returns 0 at once, on both sides, with
    or without data pending, past a deadline, and after the peer's EOF (FD.Read checks len(p)
    before waiting). The pending data is left intact."""
    def main():
        watchdog(10, "zero-byte read")
        ln, c, s = tcp_pair()
        for conn in (c, s):
            assert conn.read(bytearray(0)) == 0       # no data: must not park
            assert conn.read(memoryview(bytearray(8))[:0]) == 0
        s.write(b"pending")
        assert c.read(bytearray()) == 0               # data ready: still 0, nothing consumed
        c.set_read_deadline(gonb.now() - 1)
        assert c.read(bytearray()) == 0               # an expired deadline is not checked
        c.set_read_deadline(None)
        assert read_exactly(c, 7) == b"pending"
        assert c.write(b"") == 0                      # zero-byte write: 0, no error
        s.close_write()
        gonb.sleep(0.01)
        assert c.read(bytearray()) == 0               # at EOF: 0, not EOF
        with pytest.raises(gonb.EOF):
            c.read(bytearray(1))

    gorun(gomain(main))


def test_half_close(gorun, fd_baseline):
    """close_write sends EOF to the peer, who can still write back; we keep reading. EOF repeats
    on every later read, and is io.EOF itself, not an OpError."""
    def main():
        watchdog(10, "half close")
        ln, c, s = tcp_pair()
        parked = spawn(lambda: read_exactly(s, 5) and s.read(bytearray(1)))
        gonb.sleep(0.02)
        c.write(b"hello")
        c.close_write()                              # wakes the parked reader: data, then EOF
        parked.wait()
        assert isinstance(parked.exc, gonb.EOF), repr(parked.exc)
        assert str(parked.exc) == "EOF"
        with pytest.raises(gonb.EOF):                # EOF again
            s.read(bytearray(1))
        s.write(b"reply")                            # the other direction is still open
        assert read_exactly(c, 5) == b"reply"
        with pytest.raises(net.OpError) as ei:       # but we can no longer write ourselves
            c.write(b"more")
        assert ei.value.op == "write" and isinstance(ei.value, BrokenPipeError), repr(ei.value)
        assert str(ei.value) == f"write tcp {c.local_addr()}->{c.remote_addr()}: write: broken pipe"
        s.close_write()
        with pytest.raises(gonb.EOF):
            c.read(bytearray(1))

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# big transfers


def test_64mib_write_to_slow_reader(gorun, fd_baseline):
    "One 64 MiB write to a reader taking small bites and sleeping: completes, every byte intact."
    size = 64 << 20

    def main():
        watchdog(40, "64 MiB write")
        ln, c, s = tcp_pair()
        data = os.urandom(size)
        want = hashlib.sha256(data).hexdigest()

        def writer():
            n = c.write(data)
            c.close_write()
            return n

        def reader():
            h, total, buf = hashlib.sha256(), 0, bytearray(16 << 10)
            reads = 0
            while True:
                try:
                    n = s.read(buf)
                except gonb.EOF:
                    return total, h.hexdigest()
                h.update(memoryview(buf)[:n])
                total += n
                reads += 1
                if reads % 256 == 0:
                    gonb.sleep(0.001)            # slower than the writer: it must park, often

        w, r = spawn(writer), spawn(reader)
        w.wait()
        r.wait()
        assert w.exc is None and w.value == size, w.exc
        assert r.exc is None, r.exc
        assert r.value == (size, want)

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# 1,000 parked readers


def test_close_1000_parked_readers(gorun, fd_baseline):
    """1,000 connections, a reader parked on each; a closer goroutine closes them all: every
    reader wakes with ErrClosed, none hangs, and no fd outlives run()."""
    N = 1000

    def main():
        watchdog(60, "1000 parked readers")
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        conns, peers = [], []
        for _ in range(N):
            conns.append(track(net.dial("tcp", str(ln.addr()))))
            peers.append(track(ln.accept()))
        readers = [spawn(lambda x=x: x.read(bytearray(1))) for x in conns]
        wait_parked(N, "IO wait", timeout=20)
        assert not any(f.done for f in readers)

        def closer():
            for x in conns:
                x.close()

        cl = spawn(closer)
        cl.wait()
        assert cl.exc is None, cl.exc
        for f, x in zip(readers, conns):
            f.wait()
            assert_closed(f.exc, "read", x)
        for p in peers:                              # the peers see EOF, then close too
            with pytest.raises(gonb.EOF):
                p.read(bytearray(1))
            p.close()
        ln.close()

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# resets and broken pipes


@pytest.mark.parametrize("reader", ["parked", "late"])
def test_peer_reset(gorun, fd_baseline, reader):
    """The peer closes with SO_LINGER 0 (an RST): our read fails with ECONNRESET, as Go's
    `read tcp A->B: read: connection reset by peer`, catchable as ConnectionResetError. "late":
    the read starts after the scheduler has already polled the RST event."""
    def main():
        watchdog(10, "peer reset")
        ln, c, s = tcp_pair()
        f = spawn(lambda: c.read(bytearray(8))) if reader == "parked" else None
        if f is not None: wait_parked(1, "IO wait")
        s.set_linger(0)
        s.close()
        if f is None:
            gonb.sleep(0.05)                         # every goroutine parked: netpoll sees the RST
            with pytest.raises(net.OpError) as ei:
                c.read(bytearray(8))
            e = ei.value
        else:
            f.wait()
            e = f.exc
        assert isinstance(e, net.OpError) and e.op == "read", repr(e)
        assert isinstance(e, ConnectionResetError), type(e).__mro__
        assert not e.timeout() and not isinstance(e, net.ErrClosed)
        assert str(e).endswith("connection reset by peer"), str(e)
        assert str(e) == f"read tcp {c.local_addr()}->{c.remote_addr()}: read: connection reset by peer"

    gorun(gomain(main))


def test_write_to_closed_peer(gorun, fd_baseline):
    "Writing to a peer that has closed eventually fails: EPIPE or ECONNRESET, as an OpError('write')."
    def main():
        watchdog(10, "write to closed peer")
        ln, c, s = tcp_pair()
        s.close()
        chunk = b"z" * (64 << 10)
        for i in range(100):
            try:
                c.write(chunk)
            except net.OpError as e:
                err = e
                break
            gonb.sleep(0.005)                        # let the peer's RST come back
        else:
            pytest.fail("100 writes to a closed peer all succeeded")
        assert err.op == "write" and isinstance(err, (BrokenPipeError, ConnectionResetError)), repr(err)
        assert not err.timeout() and not isinstance(err, net.ErrClosed)
        words = "broken pipe" if isinstance(err, BrokenPipeError) else "connection reset by peer"
        assert str(err) == f"write tcp {c.local_addr()}->{c.remote_addr()}: write: {words}"
        assert isinstance(err.written, int) and 0 <= err.written <= len(chunk)

    gorun(gomain(main))


def test_lock_handed_to_a_waiting_reader_and_writer(gorun, fd_baseline):
    """The slow paths behind FD.read/FD.write's fused lock: a second reader (and writer) waits on the
    fdMutex semaphore, the first one unlocks with a waiter present (rwunlock wakes it), and both
    operations of each pair complete in order on an open conn."""
    def main():
        watchdog(10, "lock hand-off")
        ln, c, s = tcp_pair()
        rs = [spawn(c.read, bytearray(1)) for _ in range(2)]
        gonb.sleep(0.02)
        assert c.fd.pfd.fdmu.state & fd.mutexRMask, "the second reader is not waiting for the read lock"
        chunk = b"w" * (8 << 20)                # bigger than the socket buffers: the first write parks
        ws = [spawn(lambda: c.write(chunk)) for _ in range(2)]
        gonb.sleep(0.02)
        assert c.fd.pfd.fdmu.state & fd.mutexWMask, "the second writer is not waiting for the write lock"
        drained = spawn(lambda: read_exactly(s, 2 * len(chunk)))
        s.write(b"a"); s.write(b"b")
        for f in rs + ws + [drained]:
            f.wait()
            assert f.exc is None, f.exc
        assert [f.value for f in rs] == [1, 1] and [f.value for f in ws] == [len(chunk)] * 2
        assert c.fd.pfd.fdmu.state & (fd.mutexRLock | fd.mutexWLock | fd.mutexRMask | fd.mutexWMask) == 0

    gorun(gomain(main))
