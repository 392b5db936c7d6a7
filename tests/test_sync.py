"""gonb.sync: Go's behaviours of Mutex, RWMutex, WaitGroup, Once and Cond, on both poller backends."""
import pytest

import gonb
from gonb import sync
from gonb.sync import Mutex, RWMutex, WaitGroup, Once, Cond, FatalError
from goutil import wait_parked


def spin(seconds):
    "Burn CPU in pure Python (no gonb call): only sysmon's signal can stop it."
    end = gonb.now() + seconds
    while gonb.now() < end: pass


def counter_race(locked, n=4, rounds=60, hold=0.0005):
    """n goroutines increment a shared counter `rounds` times each, by a read, a spin and a write.
    Returns (final count, times a goroutine found another inside the critical section)."""
    mu, shared, inside, overlaps, left = Mutex(), [0], [False], [0], [n]

    def worker():
        for _ in range(rounds):
            if locked: mu.lock()
            if inside[0]: overlaps[0] += 1
            inside[0] = True
            v = shared[0]
            spin(hold)                       # preempted here sooner or later (10 ms slices)
            shared[0] = v + 1
            inside[0] = False
            if locked: mu.unlock()
        left[0] -= 1

    def main():
        for _ in range(n): gonb.go(worker)
        while left[0]: gonb.sleep(0.005)
        return shared[0], overlaps[0]
    return main


def test_mutual_exclusion_under_preemption(gorun):
    # The control: without the mutex, sysmon's preemption inside the read-modify-write loses updates.
    count, overlaps = gorun(counter_race(False))
    assert overlaps > 0 and count < 4 * 60, "no preemption landed in the critical section: the test proves nothing"
    count, overlaps = gorun(counter_race(True))
    assert (count, overlaps) == (4 * 60, 0)


def test_try_lock(gorun):
    def main():
        mu = Mutex()
        assert mu.try_lock() is True
        assert mu.try_lock() is False
        mu.unlock()
        assert mu.try_lock() is True
        mu.unlock()
        mu.state = sync.mutexStarving | (1 << sync.mutexWaiterShift)   # a starving mutex belongs to its queue
        assert mu.try_lock() is False
    gorun(main)


def fairness_main(seen_starving, seconds_b=10.0):
    "Go's TestMutexFairness: A holds the mutex while sleeping; B wants it 10 times."
    def main():
        mu, stop, b_done = Mutex(), [False], [0]

        def a():
            while not stop[0]:
                with mu:
                    gonb.sleep(0.0001)
                    if mu.state & sync.mutexStarving: seen_starving.append(True)   # B asked for handoffs

        def b():
            for _ in range(10):
                gonb.sleep(0.0001)
                with mu: pass
            b_done[0] = 1

        gonb.go(a); gonb.go(b)
        t0 = gonb.now()
        while not b_done[0] and gonb.now() - t0 < seconds_b: gonb.sleep(0.005)   # not wait_until: one test expects the miss
        done_in_time = b_done[0]
        stop[0] = True
        gonb.sleep(0.01)
        return done_in_time, mu.state
    return main


def test_starvation_mode_entered_and_left(gorun):
    seen = []
    done, state = gorun(fairness_main(seen))
    assert done, "B could not get the mutex in 10 s"
    assert seen, "starvation mode was never entered"
    assert state == 0, f"mutex left in state {state:#x}: starvation mode not left"


def test_without_starvation_mode_the_waiter_starves(gorun, monkeypatch):
    monkeypatch.setattr(sync, "starvationThresholdNs", float("inf"))
    seen = []
    done, _ = gorun(fairness_main(seen, seconds_b=0.3))
    assert not done and not seen


def test_rwmutex_writer_preference(gorun):
    def main():
        rw, log = RWMutex(), []

        def reader(name, hold):
            rw.rlock(); log.append(f"{name} in"); gonb.sleep(hold); log.append(f"{name} out"); rw.runlock()

        def writer():
            rw.lock(); log.append("w in"); gonb.sleep(0.005); log.append("w out"); rw.unlock()

        gonb.go(reader, "r1", 0.03); gonb.sleep(0.005)
        gonb.go(writer); gonb.sleep(0.005)
        gonb.go(reader, "r2", 0); gonb.sleep(0.005)
        assert log == ["r1 in"], log     # r2 waits behind the pending writer although only readers hold it
        gonb.sleep(0.08)
        return log
    assert gorun(main) == ["r1 in", "r1 out", "w in", "w out", "r2 in", "r2 out"]


def test_rwmutex_readers_share(gorun):
    def main():
        rw, inside, most = RWMutex(), [0], [0]
        def reader():
            rw.rlock(); inside[0] += 1; most[0] = max(most[0], inside[0]); gonb.sleep(0.01); inside[0] -= 1; rw.runlock()
        wg = WaitGroup()
        for _ in range(5):
            wg.add(1); gonb.go(lambda: (reader(), wg.done()))
        wg.wait()
        return most[0]
    assert gorun(main) == 5


def test_unlock_errors_in_gos_words(gorun):
    def main():
        with pytest.raises(FatalError, match="^sync: unlock of unlocked mutex$"): Mutex().unlock()
        rw = RWMutex()
        with pytest.raises(FatalError, match="^sync: RUnlock of unlocked RWMutex$"): rw.runlock()
        with pytest.raises(FatalError, match="^sync: Unlock of unlocked RWMutex$"): rw.unlock()
        rw.lock(); rw.unlock(); rw.rlock(); rw.runlock()     # still usable
    gorun(main)
    # uncaught, it ends the run, naming the goroutine
    with pytest.raises(FatalError, match="unlock of unlocked mutex") as ei:
        gorun(lambda: gonb.go(Mutex().unlock) and gonb.sleep(1))
    assert any("panic in goroutine" in n for n in ei.value.__notes__)


def test_waitgroup(gorun):
    def main():
        wg, done = WaitGroup(), []
        with pytest.raises(RuntimeError, match="^sync: negative WaitGroup counter$"): wg.add(-1)
        for i in range(10):
            wg.add(1)
            gonb.go(lambda i=i: (gonb.sleep(0.001 * (i % 3)), done.append(i), wg.done()))
        waiters = []
        for _ in range(3): gonb.go(lambda: (wg.wait(), waiters.append(len(done))))
        wg.wait()
        gonb.sleep(0.005)
        assert sorted(done) == list(range(10)) and waiters == [10, 10, 10]
        with pytest.raises(RuntimeError, match="^sync: negative WaitGroup counter$"): wg.done()
        wg.add(2); wg.done(); wg.done(); wg.wait()
        with pytest.raises(TypeError): wg.add(1.5)
    gorun(main)


def test_once_callers_wait_for_f(gorun):
    def main():
        once, calls, seen = Once(), [], []
        def f():
            gonb.sleep(0.02)
            calls.append(1)
        wg = WaitGroup()
        for _ in range(5):
            wg.add(1); gonb.go(lambda: (once.do(f), seen.append(len(calls)), wg.done()))
        wg.wait()
        once.do(f)
        return calls, seen
    assert gorun(main) == ([1], [1] * 5)


def test_once_that_raises_is_done(gorun):
    def main():
        once = Once()
        with pytest.raises(ZeroDivisionError): once.do(lambda: 1 / 0)
        once.do(lambda: 1 / 0)     # not called again
    gorun(main)


def test_cond_broadcast_wakes_all_and_signal_one(gorun):
    def main():
        mu = Mutex(); c = Cond(mu)
        woke, order = [], []
        def waiter(i):
            with mu:
                order.append(i)
                c.wait()
                woke.append(i)
        for i in range(5): gonb.go(waiter, i)
        gonb.sleep(0.005)
        c.signal(); gonb.sleep(0.005)
        assert woke == order[:1], (woke, order)   # the longest waiter
        c.broadcast(); gonb.sleep(0.005)
        assert sorted(woke) == [0, 1, 2, 3, 4]
        c.signal(); c.broadcast()       # nobody waits: no effect
        with pytest.raises(TypeError): Cond(object())
    gorun(main)


def test_cond_signal_between_add_and_park_is_not_lost(gorun):
    "A waiter whose L.unlock yields (a handoff) can be signalled before it parks: the ticket says so."
    def main():
        mu = Mutex(); c = Cond(mu)
        woke = []
        l = c.notify
        with mu:
            t = sync.notifyListAdd(l)
            c.signal()                   # notified before it parked
            sync.notifyListWait(l, t)    # returns at once
            woke.append(t)
        return woke
    assert gorun(main) == [0]


def test_dump_shows_sync_wait_reasons(gorun):
    def main():
        mu, rw = Mutex(), RWMutex()
        mu.lock(); rw.lock()
        gonb.go(mu.lock); gonb.go(rw.rlock)
        wait_parked(2)
        return sorted(r for _, s, r, _ in gonb.goroutines() if s == "waiting")
    assert gorun(main) == ["sync.Mutex.Lock", "sync.RWMutex.RLock"]


def test_lock_outside_a_goroutine_is_a_clear_error():
    mu = Mutex()
    mu.lock()                            # uncontended: works anywhere, as in Go
    with pytest.raises(RuntimeError, match="not running"): mu.lock()
    assert mu.state == sync.mutexLocked  # untouched by the failed call
    mu.unlock()


@pytest.mark.parametrize("locked", [False, True])
def test_semrelease1_handoff_yields_only_outside_acquirem(locked):
    """sema.go semrelease1: a handoff yields to the woken waiter (`ticket == 1`) only when the releaser
    holds no M lock (`m.locks == 0`); inside acquirem it keeps running, and the waiter runs later."""
    from gonb.runtime import Sema, semacquire, semrelease1, acquirem, releasem
    order = []

    def main():
        s = Sema()
        gonb.go(lambda: (semacquire(s), order.append("waiter")))
        gonb.gosched()                       # the waiter parks on s
        mp = acquirem() if locked else None
        semrelease1(s, True)
        order.append("releaser")
        releasem(mp)
        gonb.gosched()
    gonb.run(main)
    assert order == (["releaser", "waiter"] if locked else ["waiter", "releaser"])
