"""Deadlines on conns and listeners, replaying Go's net/timeout_test.go on gonb.

Every test runs once per netpoll backend (the `gorun` fixture). Time bounds are generous in the
"returns late" direction (a noisy 2-core machine) and strict in the "returns early" direction:
a call that fails with a timeout must never do so before its deadline on gonb.now()'s clock.
"""
import datetime

import pytest

import gonb
from gonb import net
from gonb.runtime import Sema, semacquire, semrelease
from goutil import (spawn, watchdog, track, gomain, tcp_pair, close_all, read_exactly, conn_words, assert_closed,
                    wait_parked, wait_until)

# ---------------------------------------------------------------------------------------------
# helpers (goroutine-side)


def assert_timeout(e, op, c=None, ln=None):
    "`e` is Go's deadline error for `op` on conn `c` (or listener `ln`), with Go's words."
    assert isinstance(e, net.OpError), repr(e)
    assert e.op == op and e.net == "tcp", (e.op, e.net)
    assert isinstance(e, gonb.ErrDeadlineExceeded) and isinstance(e, TimeoutError), type(e).__mro__
    assert isinstance(e.err, gonb.ErrDeadlineExceeded), repr(e.err)
    assert e.timeout()
    assert not isinstance(e, net.ErrClosed)
    where = f"{op} tcp {ln.addr()}" if ln is not None else conn_words(op, c)
    assert str(e) == f"{where}: i/o timeout"


CHUNK = b"\xab" * (256 << 10)

# ---------------------------------------------------------------------------------------------
# Go's readTimeoutTests / writeTimeoutTests / acceptTimeoutTests


@pytest.mark.parametrize("timeout,xerrs", [(-5.0, [True, True]), (0.05, [False, True])],
                         ids=["past", "50ms"])
def test_read_timeout(gorun, fd_baseline, timeout, xerrs):
    "A past read deadline fails even with data ready; a 50 ms one lets reads through, then fails."
    msg = b"READ TIMEOUT TEST"

    def main():
        watchdog(10, "read timeout")
        ln, c, s = tcp_pair()
        s.write(msg)                          # loopback: queued at c before we read
        deadline = gonb.now() + timeout
        c.set_read_deadline(deadline)
        b, got = bytearray(1), bytearray()
        for j, want_timeout in enumerate(xerrs):
            while True:
                try:
                    n = c.read(b)
                except Exception as e:
                    t = gonb.now()
                    assert_timeout(e, "read", c)
                    assert t >= deadline, f"#{j}: timed out {deadline - t:.6f} s before the deadline"
                    break
                assert not want_timeout, f"#{j}: read {n} byte(s), want i/o timeout"
                assert n == 1
                got += b
                gonb.sleep(timeout / 3)
        if timeout < 0:
            assert got == b""
        else:
            assert 1 <= len(got) < len(msg)   # 17 reads 16 ms apart cannot all beat 50 ms
        c.set_read_deadline(None)             # the refused data was there all along, intact
        assert got + read_exactly(c, len(msg) - len(got)) == msg
        close_all(c, s, ln)

    gorun(gomain(main))


@pytest.mark.parametrize("timeout,xerrs", [(-5.0, [True, True]), (0.01, [False, True])],
                         ids=["past", "10ms"])
def test_write_timeout(gorun, fd_baseline, timeout, xerrs):
    "A past write deadline fails even with buffer space; a 10 ms one lets writes through, then fails."
    def main():
        watchdog(10, "write timeout")
        ln, c, s = tcp_pair()                 # s never reads
        deadline = gonb.now() + timeout
        c.set_write_deadline(deadline)
        nwrites = 0
        for j, want_timeout in enumerate(xerrs):
            while True:
                try:
                    c.write(b"WRITE TIMEOUT TEST")
                except Exception as e:
                    t = gonb.now()
                    assert_timeout(e, "write", c)
                    assert t >= deadline, f"#{j}: timed out {deadline - t:.6f} s before the deadline"
                    assert e.written == 0     # Go: n == 0 with the deadline error
                    break
                assert not want_timeout, f"#{j}: write succeeded, want i/o timeout"
                nwrites += 1
                gonb.sleep(timeout / 3)
        assert (nwrites == 0) == (timeout < 0)
        c.set_write_deadline(None)
        assert c.write(b"!") == 1             # usable again once the deadline is cleared
        assert read_exactly(s, 18 * nwrites + 1) == b"WRITE TIMEOUT TEST" * nwrites + b"!"
        close_all(c, s, ln)

    gorun(gomain(main))


@pytest.mark.parametrize("timeout", [-5.0, 0.01], ids=["past", "10ms"])
def test_accept_timeout(gorun, fd_baseline, timeout):
    "Accept deadlines in the past fail even with a connection waiting in the backlog."
    def main():
        watchdog(10, "accept timeout")
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        pending = track(net.dial("tcp", str(ln.addr()))) if timeout < 0 else None
        deadline = gonb.now() + timeout
        ln.set_deadline(deadline)
        for j in range(2):
            try:
                ln.accept().close()
            except Exception as e:
                t = gonb.now()
                assert_timeout(e, "accept", ln=ln)
                assert t >= deadline, f"#{j}: timed out {deadline - t:.6f} s before the deadline"
            else:
                pytest.fail(f"#{j}: accept succeeded, want i/o timeout")
        ln.set_deadline(None)
        if pending is not None:               # the connection was waiting all along
            s = track(ln.accept())
            assert s.remote_addr() == pending.local_addr()
            close_all(s, pending)
        ln.close()

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# Go's {Accept,Read,Write}TimeoutMustNotReturn


@pytest.mark.parametrize("how", ["cleared", "far_future"])
@pytest.mark.parametrize("op", ["read", "write", "accept"])
def test_timeout_must_not_return(gorun, fd_baseline, op, how):
    """With the deadline cleared (after a past one) or far in the future, the call blocks for
    >= 100 ms; closing from another goroutine then ends it with ErrClosed, not a timeout."""
    def main():
        watchdog(10, f"{op} must not return")
        ln, c, s = tcp_pair()
        target = ln if op == "accept" else c

        def blocked():
            now = gonb.now()
            if how == "cleared":
                target.set_deadline(now - 5)
                if op == "read":
                    c.set_write_deadline(now - 5)
                    c.set_read_deadline(None)
                elif op == "write":
                    c.set_read_deadline(now - 5)
                    c.set_write_deadline(None)
                else:
                    ln.set_deadline(None)
            else:
                target.set_deadline(now + 3600)
            if op == "read":
                c.read(bytearray(1))
            elif op == "write":
                while True:
                    c.write(CHUNK)            # the peer never reads: fills up, then parks
            else:
                ln.accept()

        t0 = gonb.now()
        f = spawn(blocked)
        gonb.sleep(0.1)
        assert not f.done, f"{op} returned within 100 ms: {f.exc!r}"
        target.close()
        f.wait()
        assert f.t - t0 >= 0.1
        if op == "accept":
            assert_closed(f.exc, "accept", ln=ln)
        else:
            assert_closed(f.exc, op, c)
        close_all(c, s, ln)

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# Go's TestReadTimeoutUnblocksRead (CL 30164), and its write twin


@pytest.mark.parametrize("when", ["past", "soon"])
@pytest.mark.parametrize("op", ["read", "write"])
def test_deadline_set_while_parked_unblocks(gorun, fd_baseline, op, when):
    "A goroutine parked with no deadline is woken by a deadline another goroutine sets."
    def main():
        watchdog(10, f"{op} deadline unblocks")
        ln, c, s = tcp_pair()

        def blocked():
            if op == "read":
                c.read(bytearray(1))
            else:
                while True:
                    c.write(CHUNK)

        f = spawn(blocked)
        gonb.sleep(0.1)
        assert not f.done, f"{op} returned early: {f.exc!r}"
        t_set = gonb.now()
        deadline = t_set + (-5 if when == "past" else 0.05)
        (c.set_read_deadline if op == "read" else c.set_write_deadline)(deadline)
        f.wait()
        assert_timeout(f.exc, op, c)
        assert f.t >= deadline
        assert f.t - max(deadline, t_set) < 5
        close_all(c, s, ln)

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# Go's TestVariousDeadlines: a server writing forever, a client reading until its deadline

VARIOUS = [1e-9, 2e-9, 5e-9, 50e-9, 100e-9, 200e-9, 500e-9, 750e-9, 1e-6, 5e-6, 25e-6, 250e-6,
           2500e-6, 50e-3, 250e-3, 750e-3, 1.0]


def test_various_deadlines(gorun, fd_baseline):
    "Every deadline from 1 ns to 1 s ends a never-ending read in a timeout, never before it."
    def main():
        watchdog(60, "various deadlines")
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        served = []

        def serve(sc):
            try:
                while True:
                    sc.write(CHUNK)
            except OSError:
                pass                           # the client went away: EPIPE / ECONNRESET
            finally:
                sc.close()

        def acceptor():
            while True:
                try:
                    sc = ln.accept()
                except net.ErrClosed:
                    return
                served.append(spawn(serve, sc))

        acc = spawn(acceptor)
        buf = bytearray(64 << 10)
        for timeout in VARIOUS:
            for run in range(3 if timeout < 1e-3 else 1):
                name = f"{timeout:g}s run {run}"
                c = track(net.dial("tcp", str(ln.addr())))
                t0 = gonb.now()
                deadline = t0 + timeout
                c.set_deadline(deadline)
                n = 0
                try:
                    while True:
                        n += c.read(buf)
                except Exception as e:
                    t = gonb.now()
                    err = e
                c.close()
                assert isinstance(err, net.OpError) and err.timeout(), f"{name}: {n} bytes, {err!r}"
                assert_timeout(err, "read", c)
                assert t >= deadline, f"{name}: timed out {deadline - t:.9f} s before the deadline"
                assert t - t0 < 5, f"{name}: client stuck for {t - t0:.3f} s"
        ln.close()
        acc.wait()
        assert acc.exc is None, acc.exc
        for f in served:
            f.wait()
            assert f.exc is None, f.exc

    gorun(gomain(main))


def test_timeout_never_early(gorun, fd_baseline):
    "Fluctuation: 150 reads with sub-3 ms deadlines each time out no earlier than their deadline."
    def main():
        watchdog(20, "timeout never early")
        ln, c, s = tcp_pair()
        b = bytearray(1)
        for i in range(150):
            deadline = gonb.now() + (i % 30) * 1e-4
            c.set_read_deadline(deadline)
            try:
                c.read(b)
            except net.OpError as e:
                t = gonb.now()
                assert_timeout(e, "read", c)
                assert t >= deadline, f"#{i}: timed out {deadline - t:.9f} s before the deadline"
            else:
                pytest.fail("read returned data nobody sent")
        close_all(c, s, ln)

    gorun(gomain(main))


@pytest.mark.parametrize("op", ["read", "write"])
def test_timeout_fluctuation(gorun, fd_baseline, op):
    "Go's Read/WriteTimeoutFluctuation: a 100 ms deadline fires, late by well under a second."
    def main():
        watchdog(10, f"{op} fluctuation")
        ln, c, s = tcp_pair()
        deadline = gonb.now() + 0.1
        total = 0
        try:
            if op == "read":
                c.set_read_deadline(deadline)
                c.read(bytearray(1))
            else:
                c.set_write_deadline(deadline)
                while True:                    # the peer never reads: the buffers fill, then we park
                    total += c.write(CHUNK)
        except Exception as e:
            t = gonb.now()
            assert_timeout(e, op, c)
            if op == "write":
                assert 0 <= e.written < len(CHUNK)
                total += e.written
        else:
            pytest.fail("no timeout")
        assert t >= deadline, f"timed out {deadline - t:.6f} s before the deadline"
        assert t - deadline < 2, f"{t - deadline:.3f} s late"
        if op == "write":                      # every byte reported written did arrive, intact
            assert total > 0
            s.set_read_deadline(gonb.now() + 5)
            got, buf = 0, bytearray(1 << 20)
            while got < total:
                k = s.read(buf)
                assert buf[:k] == b"\xab" * k
                got += k
        close_all(c, s, ln)

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# Go's TestReadWriteProlongedTimeout, TestReadWriteDeadlineRace, TestConcurrentSetDeadline


def test_read_write_prolonged_timeout(gorun, fd_baseline):
    "Deadlines pushed an hour out before every 1-byte read and write, while I/O goes on."
    N = 1000

    def main():
        watchdog(30, "prolonged timeout")
        ln, c, s = tcp_pair()
        nread = [0]

        def server_reader():
            b = bytearray(1)
            while True:
                s.set_read_deadline(gonb.now() + 3600)
                try:
                    s.read(b)
                except gonb.EOF:
                    return
                assert b == b"w"
                nread[0] += 1

        def server_writer():
            while True:
                s.set_write_deadline(gonb.now() + 3600)
                try:
                    s.write(b"r")
                except net.OpError as e:
                    assert not e.timeout(), e
                    return e
                # gonb cannot preempt, and 1-byte loopback writes almost never block: yield.
                # Long enough that the scheduler runs dry and polls the network: a shorter yield
                # starves the parked goroutines (see test_busy_goroutines_do_not_starve_netpoll).
                gonb.sleep(2e-4)

        r, w = spawn(server_reader), spawn(server_writer)
        b = bytearray(1)
        for i in range(N):
            assert c.write(b"w") == 1
            assert c.read(b) == 1 and b == b"r", i
        c.close_write()
        r.wait()
        assert r.exc is None, r.exc
        assert nread[0] == N
        c.close()                               # the writer's next write fails (EPIPE/ECONNRESET)
        w.wait()
        assert w.exc is None, w.exc
        assert isinstance(w.value, (BrokenPipeError, ConnectionResetError)), repr(w.value)
        assert w.value.op == "write"
        close_all(s, ln)

    gorun(gomain(main))


@pytest.mark.parametrize("busy", ["gosched", "pingpong"])
def test_busy_goroutines_do_not_starve_netpoll(gorun, fd_baseline, busy):
    """Goroutines that stay runnable (one looping on gosched, or two handing a token back and
    forth) must not keep a reader whose data has arrived parked forever: Go's sysmon polls the
    network when the last poll is more than 10 ms old and injects what it finds."""
    def main():
        watchdog(3, f"{busy} vs parked reader")
        ln, c, s = tcp_pair()
        f = spawn(lambda: read_exactly(c, 4))
        wait_parked(1, "IO wait")
        s.write(b"data")
        t0 = gonb.now()
        if busy == "gosched":
            wait_until(lambda: f.done, timeout=1, what="reader with data ready, behind a gosched loop")
        else:
            ping, pong, stop = Sema(), Sema(), [False]

            def ponger():
                while True:
                    semacquire(ping)
                    if stop[0]:
                        return
                    semrelease(pong)

            p = spawn(ponger)
            while not f.done and gonb.now() - t0 < 1:
                semrelease(ping)                 # hand over, then wait for the token back
                semacquire(pong)
            stop[0] = True
            semrelease(ping)
            p.wait()
        assert f.done, f"reader with data ready still parked after 1 s of {busy}"
        assert f.value == b"data", f.exc

    gorun(gomain(main))


def test_extended_deadlines_keep_timer_heap_bounded(gorun):
    """Pushing a deadline forward 20,000 times (a server's per-request deadline) must not leave
    20,000 dead entries in the timer heap: Go modifies the one timer in place (modtimer)."""
    def main():
        ln, c, s = tcp_pair()
        timers = gonb.runtime.sched.p0.timers
        before = len(timers)
        for i in range(20000):
            c.set_read_deadline(gonb.now() + 3600 + i * 1e-3)
            c.set_write_deadline(gonb.now() + 1800 + i * 1e-3)
        grown = len(timers) - before
        close_all(c, s, ln)
        assert grown <= 100, f"timer heap grew by {grown} entries for 2 live timers"

    gorun(gomain(main))


def test_read_write_deadline_race(gorun, fd_baseline):
    "2 µs read and write deadlines set over and over while a reader and a writer run."
    N = 500

    def main():
        watchdog(30, "deadline race")
        ln, c, s = tcp_pair()

        def setter():
            for _ in range(N):
                c.set_read_deadline(gonb.now() + 2e-6)
                c.set_write_deadline(gonb.now() + 2e-6)
                gonb.sleep(2e-6)

        def reader():
            b = bytearray(1)
            for _ in range(N):
                try:
                    c.read(b)
                except net.OpError as e:
                    assert e.timeout(), e        # timeouts are expected, nothing else

        def writer():
            for _ in range(N):
                try:
                    c.write(b"x")
                except net.OpError as e:
                    assert e.timeout(), e

        def peer():                              # echo a byte now and then so reads succeed too
            for _ in range(N // 10):
                s.write(b"y")
                gonb.sleep(1e-4)

        fs = [spawn(fn) for fn in (setter, reader, writer, peer)]
        for f in fs:
            f.wait()
            assert f.exc is None, f.exc
        c.set_deadline(None)                     # the conn is still sound in both directions
        c.write(b"end")
        s.set_read_deadline(gonb.now() + 5)
        got = bytearray()
        while not got.endswith(b"end"):
            buf = bytearray(4096)
            got += buf[:s.read(buf)]
        assert set(got[:-3]) <= {ord("x")}
        close_all(c, s, ln)

    gorun(gomain(main))


def test_concurrent_set_deadline(gorun, fd_baseline):
    "8 goroutines move the deadlines of 10 conns steadily earlier (Go issue 35367)."
    def main():
        watchdog(30, "concurrent set deadline")
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        conns, peers = [], []
        for _ in range(10):
            conns.append(track(net.dial("tcp", str(ln.addr()))))
            peers.append(track(ln.accept()))
        now = gonb.now()

        def setter(i):
            for j in range(100, 0, -1):
                for k, c in enumerate(conns):
                    c.set_read_deadline(now + 7200 + i * j * k)
                    c.set_write_deadline(now + 3600 + i * j * k)
                gonb.gosched()

        fs = [spawn(setter, i) for i in range(8)]
        for f in fs:
            f.wait()
            assert f.exc is None, f.exc
        for c, p in zip(conns, peers):          # every conn still works, no deadline has fired
            p.write(b"ok")
            assert read_exactly(c, 2) == b"ok"
        close_all(*conns, *peers, ln)

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# clearing deadlines, combined deadlines, wrong types, dial timeouts


def test_none_clears_pending_deadline(gorun, fd_baseline):
    "A deadline cleared with None before it fires never fires: the read waits for data."
    def main():
        watchdog(10, "clear deadline")
        ln, c, s = tcp_pair()
        c.set_read_deadline(gonb.now() + 0.05)
        c.set_read_deadline(None)
        f = spawn(lambda: read_exactly(c, 3))
        gonb.sleep(0.2)                          # well past the cleared deadline
        assert not f.done, f.exc
        s.write(b"abc")
        f.wait()
        assert f.exc is None and f.value == b"abc", f.exc
        close_all(c, s, ln)

    gorun(gomain(main))


def test_none_clears_expired_deadline(gorun, fd_baseline):
    "After a deadline has expired, None makes the conn usable again (Go's zero time)."
    def main():
        watchdog(10, "clear expired")
        ln, c, s = tcp_pair()
        for setter in (c.set_read_deadline, c.set_deadline):
            setter(gonb.now() - 1)
            with pytest.raises(net.OpError) as ei:
                c.read(bytearray(1))
            assert_timeout(ei.value, "read", c)
            setter(None)
            s.write(b"z")
            assert read_exactly(c, 1) == b"z"
        c.set_write_deadline(gonb.now() - 1)
        with pytest.raises(net.OpError) as ei:
            c.write(b"w")
        assert_timeout(ei.value, "write", c)
        c.set_deadline(None)
        assert c.write(b"w") == 1 and read_exactly(s, 1) == b"w"
        close_all(c, s, ln)

    gorun(gomain(main))


def test_set_deadline_then_clear_one_side(gorun, fd_baseline):
    "set_deadline sets both; clearing the write side leaves the read deadline, and vice versa."
    def main():
        watchdog(10, "split deadlines")
        ln, c, s = tcp_pair()
        # read keeps its deadline, write has none
        deadline = gonb.now() + 0.05
        c.set_deadline(deadline)
        c.set_write_deadline(None)
        with pytest.raises(net.OpError) as ei:
            c.read(bytearray(1))
        t = gonb.now()
        assert_timeout(ei.value, "read", c)
        assert t >= deadline
        assert c.write(b"1") == 1                # past the old combined deadline: fine
        # write keeps its deadline, read has none
        c.set_read_deadline(None)
        deadline = gonb.now() + 0.05
        c.set_deadline(deadline)
        c.set_read_deadline(None)
        gonb.sleep(0.1)
        with pytest.raises(net.OpError) as ei:
            c.write(b"2")
        assert_timeout(ei.value, "write", c)
        f = spawn(lambda: read_exactly(c, 1))
        gonb.sleep(0.05)
        assert not f.done, f.exc                 # parked, no deadline
        s.write(b"3")
        f.wait()
        assert f.exc is None and f.value == b"3", f.exc
        close_all(c, s, ln)

    gorun(gomain(main))


BAD_DEADLINES = ["soon", b"1", True, [], object(), datetime.datetime.now(), 1j]


def test_wrong_deadline_types(gorun, fd_baseline):
    "A deadline that is not a number or None is a TypeError; the conn and its deadlines are untouched."
    def main():
        watchdog(10, "wrong types")
        ln, c, s = tcp_pair()
        for bad in BAD_DEADLINES:
            for setter in (c.set_deadline, c.set_read_deadline, c.set_write_deadline, ln.set_deadline):
                with pytest.raises(TypeError):
                    setter(bad)
        # no deadline was set by any of them: a read parks until data comes
        f = spawn(lambda: read_exactly(c, 2))
        gonb.sleep(0.05)
        assert not f.done, f.exc
        s.write(b"hi")
        f.wait()
        assert f.exc is None and f.value == b"hi", f.exc
        assert c.write(b"yo") == 2 and read_exactly(s, 2) == b"yo"
        # a failed call leaves an earlier valid deadline in force
        deadline = gonb.now() + 0.05
        c.set_read_deadline(deadline)
        with pytest.raises(TypeError):
            c.set_read_deadline("later")
        with pytest.raises(net.OpError) as ei:
            c.read(bytearray(1))
        assert_timeout(ei.value, "read", c)
        assert gonb.now() >= deadline
        # and the listener still accepts
        c2 = track(net.dial("tcp", str(ln.addr())))
        s2 = track(ln.accept())
        close_all(c, s, c2, s2, ln)

    gorun(gomain(main))


def test_dial_timeout_in_the_past(gorun, fd_baseline):
    "Go's dialTimeoutTests {-5s}: a dial whose timeout has already passed fails with i/o timeout."
    def main():
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        with pytest.raises(net.OpError) as ei:
            net.dial("tcp", str(ln.addr()), timeout=-5)
        e = ei.value
        assert e.op == "dial" and e.timeout() and isinstance(e, gonb.ErrDeadlineExceeded)
        assert str(e) == f"dial tcp {ln.addr()}: i/o timeout"
        ln.close()

    gorun(gomain(main))


@pytest.mark.parametrize("timeout", [1e12, 0], ids=["huge", "zero"])
def test_dial_timeout_no_limit(gorun, fd_baseline, timeout):
    """Go's TestDialTimeoutMaxDuration: a huge timeout dials fine. And net.DialTimeout(.., 0), like
    Dialer{Timeout: 0}, means no timeout at all (Dialer.deadline ignores a zero Timeout)."""
    def main():
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        c = track(net.dial("tcp", str(ln.addr()), timeout=timeout))
        s = track(ln.accept())
        c.write(b"ping")
        assert read_exactly(s, 4) == b"ping"
        close_all(c, s, ln)

    gorun(gomain(main))
