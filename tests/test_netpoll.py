"""The poller itself: stale events after fd reuse, netpollBreak, timers waking netpoll, the waiter count."""
import threading
import time

import pytest

import gonb
from gonb import net
from gonb.netpoll_epoll import EpollPoller, PollPoller
from gonb.pollcache import pollcache
from gonb.runtime import G, Sema, sched, semacquire, semrelease
from goutil import wait_until


# ---------------------------------------------------------------------------------------------
# fdseq (Go 1.21, issue 59545): an event tagged with the descriptor's previous life is dropped. Go's bug
# was a stale *error* marking the new fd broken; a stale readiness, checked here, would only be a
# spurious wake-up, and is dropped all the same

def test_stale_event_after_fd_reuse_is_ignored(gorun, fd_baseline):
    def main():
        poller = sched.poller
        with net.listen("tcp", "127.0.0.1:0") as l:
            # a descriptor's first life: a listener, registered through the real path
            old = net.listen("tcp", "127.0.0.1:0")
            oldfd = old.fd.pfd.Sysfd
            pd, oldseq = poller.tags[oldfd]
            assert pd is old.fd.pfd.pd and oldseq == pd.fdseq
            old.close()
            assert oldfd not in poller.tags
            assert pd.fdseq == oldseq + 1                  # pollcache.free bumped it
            assert pollcache.first is pd                   # LIFO: the next alloc gets it back
            # its second life: the dialing end of a connection
            with net.dial("tcp", str(l.addr())) as c, l.accept() as s:
                assert c.fd.pfd.pd is pd
                cfd = c.fd.pfd.Sysfd
                assert poller.tags[cfd] == (pd, oldseq + 1)
                got = []
                def reader():
                    buf = bytearray(64)
                    n = c.read(buf)
                    got.append(bytes(buf[:n]))
                gonb.go(reader)
                wait_until(lambda: isinstance(pd.rg, G), what="parked in netpollblock", every=0.005)
                assert sched.netpollWaiters == 1

                # An event still tagged with the first life's fdseq (what epoll would hand back
                # for an event queued before the fd was closed and its pollDesc reused).
                poller.tags[cfd] = (pd, oldseq)
                s.write(b"stale")
                gonb.sleep(0.1)                            # the poller sees the readiness, ...
                assert got == [], "a stale-tagged event woke the new fd's reader"
                assert isinstance(pd.rg, G)                # ... and leaves the waiter parked
                assert sched.netpollWaiters == 1

                # The same readiness with the current tag wakes it.
                poller.tags[cfd] = (pd, pd.fdseq)
                if poller.levelTriggered:
                    poller.netpollarm(pd, "r")             # the stale report used up the arming
                s.write(b"fresh")
                wait_until(lambda: got, what="a correctly tagged event wakes the reader", every=0.005)
                assert got == [b"stalefresh"]
                assert sched.netpollWaiters == 0
    gorun(main)


# ---------------------------------------------------------------------------------------------
# netpollBreak (runtime TestNetpollBreak) and who consumes the wake-up: only a blocking poll
# (CL 171824; Go's comment in netpoll_epoll.go netpoll)

@pytest.mark.parametrize("cls", [EpollPoller, PollPoller])
def test_netpoll_break_wakes_a_blocked_netpoll(cls, fd_baseline):
    p = cls()
    try:
        t = threading.Timer(0.1, p.netpollBreak)
        t0 = time.monotonic()
        t.start()
        res = p.netpoll(10 * 10**9)                      # 10 s
        elapsed = time.monotonic() - t0
        t.join()
        assert res == ([], 0)
        assert elapsed < 5, f"netpollBreak did not wake a 10 s netpoll ({elapsed:.1f} s)"
        assert elapsed >= 0.09                           # it really blocked until the break
        assert p.wakeSig is False                        # the blocking poll consumed the wake-up

        # consumed: a timed poll now waits its time
        t0 = time.monotonic()
        assert p.netpoll(50 * 10**6) == ([], 0)
        assert time.monotonic() - t0 >= 0.04

        # a non-blocking poll must leave a pending wake-up for the blocking poller
        p.netpollBreak()
        p.netpollBreak()                                 # coalesces with the first
        assert p.wakeSig is True
        for _ in range(3):
            assert p.netpoll(0) == ([], 0)
        assert p.wakeSig is True
        t0 = time.monotonic()
        assert p.netpoll(10 * 10**9) == ([], 0)
        assert time.monotonic() - t0 < 5
        assert p.wakeSig is False
        t0 = time.monotonic()                            # both breaks were drained together
        p.netpoll(30 * 10**6)
        assert time.monotonic() - t0 >= 0.02
    finally:
        p.close()


# ---------------------------------------------------------------------------------------------
# timers wake a blocked netpoll

@pytest.mark.parametrize("with_waiter", [False, True], ids=["timer-only", "with-parked-reader"])
def test_timer_wakes_blocked_netpoll(gorun, fd_baseline, with_waiter):
    calls = []

    def main():
        poller = sched.poller
        real = poller.netpoll
        def netpoll(delay):
            t0 = time.monotonic()
            r = real(delay)
            t1 = time.monotonic()
            calls.append((delay, t1 - t0, t1))
            return r
        poller.netpoll = netpoll                           # findRunnable calls sched.poller.netpoll
        l = net.listen("tcp", "127.0.0.1:0")
        try:
            if with_waiter:
                def acceptor():
                    try: l.accept()
                    except net.ErrClosed: pass
                gonb.go(acceptor)
                gonb.sleep(0.01)
                assert sched.netpollWaiters == 1
            for d in (0.05, 0.0005, 0.05, 0.02):
                del calls[:]
                t0 = gonb.now()
                gonb.sleep(d)
                elapsed = gonb.now() - t0
                assert elapsed >= d, f"sleep({d}) woke early after {elapsed:.4f} s"
                assert elapsed < d + 1.0, f"sleep({d}) took {elapsed:.3f} s"
                # nothing else was runnable: the scheduler blocked in netpoll until the timer, it
                # did not spin with zero timeouts
                blocking = [c for c in calls if c[0] != 0]
                # Only if the machine stalled us inside a non-blocking poll until the timer was
                # already due was there nothing left to block for (d = 0.5 ms under CPU load).
                assert blocking or (calls and calls[-1][2] >= t0 + d), calls
                assert len(calls) <= 6, calls
                assert all(c[0] > 0 for c in blocking), calls   # a timer is armed: never -1
            # several sleepers wake in deadline order, none early
            woke = []
            def sleeper(d):
                t0 = gonb.now()
                gonb.sleep(d)
                woke.append((d, gonb.now() - t0))
            for d in (0.03, 0.01, 0.02):
                gonb.go(sleeper, d)
            gonb.sleep(0.06)
            # on a loaded machine all four timers may come due in one check; main may run first
            wait_until(lambda: len(woke) == 3, what="3 woken", every=0.005)
            assert [d for d, _ in woke] == [0.01, 0.02, 0.03]
            assert all(el >= d for d, el in woke), woke
        finally:
            l.close()
        gonb.sleep(0.01)
        return sched.netpollWaiters
    assert gorun(main) == 0


# ---------------------------------------------------------------------------------------------
# the waiter count (Go 1.22 netpollWaiters, issue 60782): symmetric for every way a waiter leaves

@pytest.mark.parametrize("how", ["data", "close", "past-deadline", "deadline-timer", "mixed"])
def test_netpoll_waiters_return_to_zero(gorun, fd_baseline, how):
    K = 6

    def main():
        l = net.listen("tcp", "127.0.0.1:0")
        pairs = []
        for _ in range(K):
            c = net.dial("tcp", str(l.addr()))
            pairs.append((c, l.accept()))
        done = Sema()
        results = {}

        def reader(i, c):
            try:
                results[i] = ("data", c.read(bytearray(16)))
            except net.OpError as e:
                results[i] = ("timeout" if e.timeout() else "closed", e)
            finally:
                semrelease(done)

        try:
            for round_ in range(2):                        # twice: the count must not drift
                results.clear()
                if round_ == 1 and how in ("close", "mixed"):
                    break                                  # closed conns cannot go round again
                for i, (c, _) in enumerate(pairs):
                    gonb.go(reader, i, c)
                wait_until(lambda: sched.netpollWaiters == K, what=f"{K} netpoll waiters", every=0.005)
                assert results == {}
                for i, (c, s) in enumerate(pairs):
                    way = how if how != "mixed" else ("data", "close", "past-deadline", "deadline-timer")[i % 4]
                    if way == "data":
                        s.write(b"hello")
                    elif way == "close":
                        c.close()
                    elif way == "past-deadline":
                        c.set_read_deadline(gonb.now() - 1)
                    else:
                        c.set_read_deadline(gonb.now() + 0.03)
                for _ in range(K):
                    semacquire(done)
                assert sched.netpollWaiters == 0, (how, round_, results)
                for i, (c, s) in enumerate(pairs):
                    kind, v = results[i]
                    way = how if how != "mixed" else ("data", "close", "past-deadline", "deadline-timer")[i % 4]
                    pair = f"{c.local_addr()}->{c.remote_addr()}"
                    if way == "data":
                        assert (kind, v) == ("data", 5)
                    elif way == "close":
                        assert kind == "closed" and isinstance(v, net.ErrClosed)
                        assert str(v) == f"read tcp {pair}: use of closed network connection"
                    else:
                        assert kind == "timeout" and isinstance(v, gonb.ErrDeadlineExceeded)
                        assert isinstance(v, TimeoutError)
                        assert str(v) == f"read tcp {pair}: i/o timeout"
                        c.set_read_deadline(None)
            assert sched.netpollWaiters == 0
        finally:
            for c, s in pairs:
                for x in (c, s):
                    try: x.close()
                    except net.ErrClosed: pass
            l.close()
        return sched.netpollWaiters
    assert gorun(main) == 0


def test_netpoll_waiters_after_unwinding_parked_readers(gorun, fd_baseline):
    "Readers still parked when main returns are unwound; their fds are closed by their `with`."
    def main():
        l = net.listen("tcp", "127.0.0.1:0")
        conns = []
        for _ in range(3):
            c = net.dial("tcp", str(l.addr()))
            conns.append((c, l.accept()))
        def reader(c, s):
            with c, s:
                c.read(bytearray(4))
        for c, s in conns:
            gonb.go(reader, c, s)
        wait_until(lambda: sched.netpollWaiters == 3, what="3 netpoll waiters", every=0.005)
        l.close()
        return "done"
    assert gorun(main) == "done"
