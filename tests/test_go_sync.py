"""Go's own `sync` tests (Go 1.23's sync/mutex_test.go, rwmutex_test.go, waitgroup_test.go,
once_test.go, cond_test.go), ported to gonb.sync.

Go's assertions are kept; counts are scaled where named so each test runs in seconds on CPython.
GOMAXPROCS settings are dropped: gonb has one P (chapter 06)."""
import pytest

import gonb
from gonb import Chan, select
from gonb.runtime import Sema, semacquire, semrelease
from gonb.sync import Mutex, RWMutex, WaitGroup, Once, Cond, FatalError

run = gonb.run


def test_TestSemaphore():
    "sync/mutex_test.go TestSemaphore (HammerSemaphore: 10 goroutines × 1000 loops, as in Go)."
    def main():
        s = Sema()
        s.count = 1
        c = Chan()
        def hammer(loops):
            for _ in range(loops):
                semacquire(s)
                semrelease(s)
            c.send(True)
        for _ in range(10): gonb.go(hammer, 1000)
        for _ in range(10): c.recv()
        assert s.count == 1
    run(main)


def test_TestMutex():
    "sync/mutex_test.go TestMutex (HammerMutex with TryLock: 10 goroutines × 1000 loops, as in Go)."
    def main():
        m = Mutex()
        m.lock()
        assert not m.try_lock(), "TryLock succeeded with mutex locked"
        m.unlock()
        assert m.try_lock(), "TryLock failed with mutex unlocked"
        m.unlock()
        c = Chan()
        def hammer(loops):
            for i in range(loops):
                if i % 3 == 0:
                    if m.try_lock(): m.unlock()
                    continue
                m.lock()
                m.unlock()
            c.send(True)
        for _ in range(10): gonb.go(hammer, 1000)
        for _ in range(10): c.recv()
        assert m.state == 0
    run(main)


def _misuse_Mutex_Unlock(): Mutex().unlock()
def _misuse_Mutex_Unlock2(): mu = Mutex(); mu.lock(); mu.unlock(); mu.unlock()
def _misuse_RWMutex_Unlock(): RWMutex().unlock()
def _misuse_RWMutex_Unlock2(): mu = RWMutex(); mu.rlock(); mu.unlock()
def _misuse_RWMutex_Unlock3(): mu = RWMutex(); mu.lock(); mu.unlock(); mu.unlock()
def _misuse_RWMutex_RUnlock(): RWMutex().runlock()
def _misuse_RWMutex_RUnlock2(): mu = RWMutex(); mu.lock(); mu.runlock()
def _misuse_RWMutex_RUnlock3(): mu = RWMutex(); mu.rlock(); mu.runlock(); mu.runlock()


@pytest.mark.parametrize("f", [_misuse_Mutex_Unlock, _misuse_Mutex_Unlock2, _misuse_RWMutex_Unlock,
                               _misuse_RWMutex_Unlock2, _misuse_RWMutex_Unlock3, _misuse_RWMutex_RUnlock,
                               _misuse_RWMutex_RUnlock2, _misuse_RWMutex_RUnlock3],
                         ids=lambda f: f.__name__[len("_misuse_"):].replace("_", "."))
def test_TestMutexMisuse(f):
    """sync/mutex_test.go TestMutexMisuse: each misuse is fatal with a message about an unlocked lock
    (Go's `fatal`, which recover cannot catch; gonb's FatalError ends `run` unless caught)."""
    with pytest.raises(FatalError, match="unlocked"):
        run(f)


def test_TestMutexFairness():
    "sync/mutex_test.go TestMutexFairness: a goroutine gets the mutex within 10 s against a hog."
    def main():
        mu, stop = Mutex(), Chan()
        def hog():
            while True:
                mu.lock()
                gonb.sleep(100e-6)
                mu.unlock()
                if select(stop, default=True)[0] == 0: return
        gonb.go(hog)
        done = Chan(1)
        def other():
            for _ in range(10):
                gonb.sleep(100e-6)
                mu.lock()
                mu.unlock()
            done.send(True)
        gonb.go(other)
        try:
            assert select(done, gonb.after(10))[0] == 0, "can't acquire Mutex in 10 seconds"
        finally:
            stop.close()
    run(main)


def test_TestParallelReaders():
    "sync/rwmutex_test.go TestParallelReaders: readers hold the read lock together."
    def parallelReader(m, clocked, cunlock, cdone):
        m.rlock()
        clocked.send(True)
        cunlock.recv()
        m.runlock()
        cdone.send(True)

    def doTestParallelReaders(numReaders):
        m, clocked, cunlock, cdone = RWMutex(), Chan(), Chan(), Chan()
        for _ in range(numReaders): gonb.go(parallelReader, m, clocked, cunlock, cdone)
        for _ in range(numReaders): clocked.recv()   # all RLocks succeeded
        for _ in range(numReaders): cunlock.send(True)
        for _ in range(numReaders): cdone.recv()

    def main():
        for n in (1, 3, 4): doTestParallelReaders(n)
    run(main)


def test_TestRWMutex():
    "sync/rwmutex_test.go TestRWMutex: TryLock/TryRLock, then HammerRWMutex (n = 100 iterations; Go: 1000)."
    n = 100

    def reader(rwm, iters, activity, cdone):
        for _ in range(iters):
            rwm.rlock()
            activity[0] += 1
            a = activity[0]
            if a < 1 or a >= 10000:
                rwm.runlock()
                raise AssertionError(f"wlock({a})")
            gonb.gosched()   # Go's empty loop: here, let the others in while we hold it
            activity[0] -= 1
            rwm.runlock()
        cdone.send(True)

    def writer(rwm, iters, activity, cdone):
        for _ in range(iters):
            rwm.lock()
            activity[0] += 10000
            a = activity[0]
            if a != 10000:
                rwm.unlock()
                raise AssertionError(f"wlock({a})")
            gonb.gosched()
            activity[0] -= 10000
            rwm.unlock()
        cdone.send(True)

    def HammerRWMutex(numReaders, iters):
        activity, rwm, cdone = [0], RWMutex(), Chan()
        gonb.go(writer, rwm, iters, activity, cdone)
        i = 0
        while i < numReaders // 2:
            gonb.go(reader, rwm, iters, activity, cdone); i += 1
        gonb.go(writer, rwm, iters, activity, cdone)
        while i < numReaders:
            gonb.go(reader, rwm, iters, activity, cdone); i += 1
        for _ in range(2 + numReaders): cdone.recv()

    def main():
        m = RWMutex()
        m.lock()
        assert not m.try_lock(), "TryLock succeeded with mutex locked"
        assert not m.try_rlock(), "TryRLock succeeded with mutex locked"
        m.unlock()
        assert m.try_lock(), "TryLock failed with mutex unlocked"
        m.unlock()
        assert m.try_rlock(), "TryRLock failed with mutex unlocked"
        assert m.try_rlock(), "TryRLock failed with mutex rlocked"
        assert not m.try_lock(), "TryLock succeeded with mutex rlocked"
        m.runlock()
        m.runlock()
        for readers in (1, 3, 10, 5): HammerRWMutex(readers, n)
    run(main)


def test_TestRLocker():
    "sync/rwmutex_test.go TestRLocker: RLocker's Lock/Unlock are RLock/RUnlock."
    n = 10

    def main():
        wl = RWMutex()
        rl = wl.rlocker()
        wlocked, rlocked = Chan(1), Chan(1)
        def g():
            for _ in range(n):
                rl.lock()
                rl.lock()
                rlocked.send(True)
                wl.lock()
                wlocked.send(True)
        gonb.go(g)
        for _ in range(n):
            rlocked.recv()
            rl.unlock()
            assert select(wlocked, default=True)[0] == -1, "RLocker() didn't read-lock it"
            rl.unlock()
            wlocked.recv()
            assert select(rlocked, default=True)[0] == -1, "RLocker() didn't respect the write lock"
            wl.unlock()
    run(main)


def test_TestWaitGroup():
    "sync/waitgroup_test.go TestWaitGroup: a two-WaitGroup barrier, eight rounds on the same groups."
    def testWaitGroup(wg1, wg2):
        n = 16
        wg1.add(n)
        wg2.add(n)
        exited = Chan(n)
        def g():
            wg1.done()
            wg2.wait()
            exited.send(True)
        for _ in range(n): gonb.go(g)
        wg1.wait()
        for _ in range(n):
            assert select(exited, default=True)[0] == -1, "WaitGroup released group too soon"
            wg2.done()
        for _ in range(n): exited.recv()   # will block if the barrier fails to unlock someone

    def main():
        wg1, wg2 = WaitGroup(), WaitGroup()
        for _ in range(8): testWaitGroup(wg1, wg2)
    run(main)


def test_TestWaitGroupMisuse():
    "sync/waitgroup_test.go TestWaitGroupMisuse: the panic value is Go's string."
    def main():
        wg = WaitGroup()
        wg.add(1)
        wg.done()
        with pytest.raises(RuntimeError) as e: wg.done()
        assert str(e.value) == "sync: negative WaitGroup counter", f"Unexpected panic: {e.value!r}"
    run(main)


def test_TestWaitGroupRace():
    "sync/waitgroup_test.go TestWaitGroupRace (1000 rounds, as in Go)."
    def main():
        for _ in range(1000):
            wg, n = WaitGroup(), [0]
            def g():
                n[0] += 1
                wg.done()
            wg.add(1); gonb.go(g)
            wg.add(1); gonb.go(g)
            wg.wait()
            assert n[0] == 2, "Spurious wakeup from Wait"
    run(main)


def test_TestOnce():
    "sync/once_test.go TestOnce: ten goroutines, one call, every Do returns after it."
    def main():
        o, once, c = [0], Once(), Chan()
        def g():
            once.do(lambda: o.__setitem__(0, o[0] + 1))
            assert o[0] == 1, f"once failed inside run: {o[0]} is not 1"
            c.send(True)
        for _ in range(10): gonb.go(g)
        for _ in range(10): c.recv()
        assert o[0] == 1, f"once failed outside run: {o[0]} is not 1"
    run(main)


def test_TestOncePanic():
    "sync/once_test.go TestOncePanic: a panicking f counts as done."
    def main():
        once = Once()
        def boom(): raise ValueError("failed")
        with pytest.raises(ValueError): once.do(boom)
        def twice(): raise AssertionError("Once.Do called twice")
        once.do(twice)
    run(main)


def test_TestCondSignal():
    "sync/cond_test.go TestCondSignal: each Signal wakes exactly one waiter."
    def main():
        m = Mutex()
        c = Cond(m)
        n = 2
        running, awake = Chan(n), Chan(n)
        def g():
            m.lock()
            running.send(True)
            c.wait()
            awake.send(True)
            m.unlock()
        for _ in range(n): gonb.go(g)
        for _ in range(n): running.recv()   # wait for everyone to run
        while n > 0:
            assert select(awake, default=True)[0] == -1, "goroutine not asleep"
            m.lock(); c.signal(); m.unlock()
            awake.recv()                    # will deadlock if no goroutine wakes up
            assert select(awake, default=True)[0] == -1, "too many goroutines awake"
            n -= 1
        c.signal()
    run(main)


def test_TestCondSignalGenerations():
    "sync/cond_test.go TestCondSignalGenerations: Signal wakes the longest waiter (n = 100, as in Go)."
    def main():
        m = Mutex()
        c = Cond(m)
        n = 100
        running, awake = Chan(n), Chan(n)
        for i in range(n):
            def g(i):
                m.lock()
                running.send(True)
                c.wait()
                awake.send(i)
                m.unlock()
            gonb.go(g, i)
            if i > 0:
                a = awake.recv()
                assert a == i - 1, f"wrong goroutine woke up: want {i - 1}, got {a}"
            running.recv()
            m.lock(); c.signal(); m.unlock()
    run(main)


def test_TestCondBroadcast():
    "sync/cond_test.go TestCondBroadcast (n = 100; Go: 200)."
    n = 100

    def main():
        m = Mutex()
        c = Cond(m)
        running, awake = Chan(n), Chan(n)
        exit_ = [False]
        def g(i):
            m.lock()
            while not exit_[0]:
                running.send(i)
                c.wait()
                awake.send(i)
            m.unlock()
        for i in range(n): gonb.go(g, i)
        for i in range(n):
            for _ in range(n): running.recv()   # will deadlock unless n are running
            if i == n - 1:
                m.lock(); exit_[0] = True; m.unlock()
            assert select(awake, default=True)[0] == -1, "goroutine not asleep"
            m.lock(); c.broadcast(); m.unlock()
            seen = [False] * n
            for _ in range(n):
                g_ = awake.recv()
                assert not seen[g_], "goroutine woke up twice"
                seen[g_] = True
        assert select(running, default=True)[0] == -1, "goroutine did not exit"
        c.broadcast()
    run(main)


def test_TestRace():
    "sync/cond_test.go TestRace: three goroutines hand a value along with Wait and Signal."
    errors = []

    def main():
        x = [0]
        c = Cond(Mutex())
        done = Chan()
        def g1():
            c.L.lock()
            x[0] = 1
            c.wait()
            if x[0] != 2: errors.append("want 2")
            x[0] = 3
            c.signal()
            c.L.unlock()
            done.send(True)
        def g2():
            c.L.lock()
            while True:
                if x[0] == 1:
                    x[0] = 2
                    c.signal()
                    break
                c.L.unlock(); gonb.gosched(); c.L.lock()
            c.L.unlock()
            done.send(True)
        def g3():
            c.L.lock()
            while True:
                if x[0] == 2:
                    c.wait()
                    if x[0] != 3: errors.append("want 3")
                    break
                if x[0] == 3: break
                c.L.unlock(); gonb.gosched(); c.L.lock()
            c.L.unlock()
            done.send(True)
        for g in (g1, g2, g3): gonb.go(g)
        for _ in range(3): done.recv()
    run(main)
    assert not errors


def test_TestCondSignalStealing():
    "sync/cond_test.go TestCondSignalStealing (1000 iterations, as in Go): a Broadcast reaches the first waiter."
    def iteration():
        m = Mutex()
        cond = Cond(m)
        ch = Chan()
        def waiter():
            m.lock()
            ch.send(None)
            cond.wait()
            m.unlock()
            ch.send(None)
        gonb.go(waiter)
        ch.recv()
        m.lock(); m.unlock()   # the waiter is in cond.wait
        done = [False]
        gonb.go(cond.broadcast)
        def second():
            m.lock()
            while not done[0]: cond.wait()
            m.unlock()
        gonb.go(second)
        ch.recv()              # the first waiter does get signaled
        m.lock(); done[0] = True; m.unlock()
        cond.broadcast()

    def main():
        for _ in range(1000): iteration()
    run(main)


def test_TestCondCopy():
    "sync/cond_test.go TestCondCopy."
    pytest.skip("gonb cannot express it: a Python object is never copied by value, so a Cond cannot be copied (no copyChecker)")


def test_TestSemaHandoff():
    """runtime/sema_test.go TestSemaHandoff (iter = 1000; Go: 10000): a handoff release yields the P to the
    first waiter, which runs before the releaser's next statement in at least 2/3 of the rounds."""
    from gonb.runtime import semrelease1

    def testSemaHandoff():
        sema, res, done = Sema(), [0], Chan()
        wg = WaitGroup()
        wg.add(1)
        def busy():                          # Go keeps the other Ps busy; gonb has one P, kept busy the same way
            try:
                while select(done, default=True)[0] == -1: gonb.gosched()
            finally: wg.done()
        gonb.go(busy)
        wg.add(1)
        def waiter():
            try:
                semacquire(sema)
                if res[0] == 0: res[0] = 1
                semrelease1(sema, True)
                done.close()
            finally: wg.done()
        gonb.go(waiter)
        while not sema.waiters: gonb.gosched()   # wait for the goroutine to block in semacquire
        semrelease1(sema, True)              # the crux: the waiter's CAS must come first
        if res[0] == 0: res[0] = 2
        wg.wait()
        return res[0] == 1

    def main():
        ok = sum(testSemaHandoff() for _ in range(1000))
        assert ok >= 1000 * 2 // 3, f"direct handoff < 2/3: {ok} 1000"
    run(main)
