"""gonb.monkey (chapter 14e): what each patch does in a goroutine, outside one, and on misuse."""
import os, queue, select, socket, subprocess, sys, threading, time

import pytest
import gonb
from gonb import monkey
from gonb.sync import WaitGroup
from goutil import wait_parked, watchdog
from libfix import patched


def test_unpatched_program_is_untouched():
    code = ("import socket, threading, time, select, gonb, gonb.monkey, gonb.socket, gonb.ssl;"
            "assert socket.socket.__module__ == 'socket' and time.sleep.__module__ == 'time';"
            "assert threading.Lock is threading._allocate_lock and select.select.__module__ == 'select';"
            "assert not any(gonb.monkey.is_patched(n) for n in ('socket','ssl','time','select','thread','queue','subprocess'))")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_is_patched_and_unpatch(patched):
    for name in ("socket", "ssl", "time", "select", "thread", "queue", "subprocess"):
        assert monkey.is_patched(name), name
    assert socket.socket is gonb.socket.socket
    monkey.unpatch_all()
    assert socket.socket.__module__ == "socket" and not monkey.is_patched("socket")
    assert time.sleep.__module__ == "time"


def test_patch_warns_when_sockets_exist():
    s = socket.socket()
    try:
        with pytest.warns(monkey.MonkeyPatchWarning, match="socket\\(s\\) already exist"):
            monkey.patch_socket()
    finally:
        s.close(); monkey.unpatch_all()


def test_sleep_parks_and_checks_like_python(gorun, patched):
    def main():
        t0 = gonb.now()
        wg = WaitGroup()
        for _ in range(50):
            wg.add(1); gonb.go(lambda: (time.sleep(0.05), wg.done()))
        wg.wait()
        took = gonb.now() - t0
        with pytest.raises(ValueError, match="sleep length must be non-negative"):
            time.sleep(-1)
        with pytest.raises(TypeError):
            time.sleep("1")
        return took
    assert gorun(main) < 0.5
    t0 = time.monotonic(); time.sleep(0.02); assert time.monotonic() - t0 >= 0.02   # outside: blocks


def test_lock_held_by_preempted_goroutine_does_not_stall_others(gorun, patched):
    lk = threading.Lock()
    def main():
        watchdog(20, "locks")
        log = []
        def holder():
            with lk:
                t0 = gonb.now()
                while gonb.now() - t0 < 0.4: pass           # spins while holding: sysmon preempts it
                log.append("holder done")
        def waiter():
            with lk: log.append("waiter got it")
        def ticker():
            for _ in range(5): gonb.sleep(0.005)
            log.append("ticker done")
        gonb.go(holder); gonb.gosched()
        gonb.go(waiter); gonb.go(ticker)
        while len(log) < 3: gonb.sleep(0.005)
        return log
    log = gorun(main)
    assert log.index("ticker done") < log.index("holder done") < log.index("waiter got it"), log


def test_lock_misuse_in_pythons_words(gorun, patched):
    def main():
        lk, rl = threading.Lock(), threading.RLock()
        with pytest.raises(RuntimeError, match="release unlocked lock"):
            lk.release()
        with pytest.raises(ValueError, match="can't specify a timeout for a non-blocking call"):
            lk.acquire(False, 1)
        with pytest.raises(ValueError, match="timeout value must be a non-negative number"):
            lk.acquire(True, -5)                         # checked even when the lock is free, as CPython does
        assert not lk.locked()
        with pytest.raises(RuntimeError, match="cannot release un-acquired lock"):
            rl.release()
        rl.acquire()
        errs = []
        def other():
            try: rl.release()
            except RuntimeError as e: errs.append(str(e))
        gonb.go(other); gonb.sleep(0.001)
        assert errs == ["cannot release un-acquired lock"]
        rl.release()
        return "healthy"
    assert gorun(main) == "healthy"


def test_thread_without_goroutine_on_patched_lock(gorun, patched):
    lk = threading.Lock()
    def main():
        lk.acquire()                                     # a goroutine holds it
        out = []
        def plain():                                     # a thread blocks on it, as threads do
            with lk: out.append("thread got it")
        th = threading.Thread(target=plain); th.start()
        gonb.sleep(0.05)
        assert not out
        lk.release()
        while th.is_alive(): gonb.sleep(0.005)
        return out
    assert gorun(main) == ["thread got it"]
    with lk: pass                                        # and outside any run


def test_condition_notified_by_a_thread(gorun, patched):
    from concurrent.futures import ThreadPoolExecutor
    def main():
        with ThreadPoolExecutor(4) as ex:                # futures wait on Conditions; workers notify
            futs = [ex.submit(lambda i=i: (time.sleep(0.05), i)[1]) for i in range(8)]
            ticks = []
            gonb.go(lambda: [ticks.append(gonb.sleep(0.01)) for _ in range(3)])
            res = [f.result(timeout=10) for f in futs]
        return res, len(ticks)
    res, ticks = gorun(main)
    assert res == list(range(8)) and ticks == 3


def test_event_semaphore_barrier_queue(gorun, patched):
    def main():
        watchdog(20, "sync")
        ev, sem, bar = threading.Event(), threading.BoundedSemaphore(2), threading.Barrier(3)
        q = queue.Queue()
        inside, peak = [0], [0]
        def worker(i):
            with sem:
                inside[0] += 1; peak[0] = max(peak[0], inside[0])
                gonb.sleep(0.01)
                inside[0] -= 1
            bar.wait(5) if i < 3 else None
            ev.wait(5)
            q.put(i)
        for i in range(5): gonb.go(worker, i)
        gonb.sleep(0.05)
        assert q.empty()
        ev.set()
        got = sorted(q.get(timeout=5) for _ in range(5))
        with pytest.raises(ValueError, match="Semaphore released too many times"):
            sem.release()
        sq = queue.SimpleQueue(); gonb.go(lambda: (gonb.sleep(0.01), sq.put("x")))
        assert sq.get(timeout=5) == "x"
        with pytest.raises(queue.Empty):
            q.get(timeout=0.01)
        return got, peak[0]
    assert gorun(main) == ([0, 1, 2, 3, 4], 2)


def test_local_per_goroutine(gorun, patched):
    class L(threading.local):
        def __init__(self, v): self.v = v
    loc = L(7)
    def main():
        loc.v = "main"
        seen = []
        def g():
            seen.append(loc.v); loc.v = "g"; gonb.sleep(0.001); seen.append(loc.v)
        for _ in range(2): gonb.go(g)
        gonb.sleep(0.02)
        return seen, loc.v
    assert gorun(main) == ([7, 7, "g", "g"], "main")


def test_select_and_poll_park(gorun, patched):
    def main():
        r, w = os.pipe()
        got = []
        gonb.go(lambda: got.append(select.select([r], [], [], 5)))
        wait_parked(1, "IO wait")
        os.write(w, b"x")
        while not got: gonb.sleep(0.001)
        assert got == [([r], [], [])]
        r2, w2 = os.pipe()
        t0 = gonb.now()
        assert select.select([r2], [w], [], 1)[1] == [w]        # two fds: a syscall thread
        assert select.select([r2], [], [], 0.03) == ([], [], [])
        assert gonb.now() - t0 >= 0.03
        p = select.poll(); p.register(r2, select.POLLIN)
        assert p.poll(30) == []
        with pytest.raises(ValueError):
            select.select([r2], [], [], -1)
        for fd in (r, w, r2, w2): os.close(fd)
    gorun(main)


def test_subprocess_wait_and_communicate(gorun, patched):
    def main():
        t0 = gonb.now()
        ps = [subprocess.Popen(["sleep", "0.2"]) for _ in range(5)]
        ticks = []
        gonb.go(lambda: [ticks.append(gonb.sleep(0.02)) for _ in range(5)])
        codes = [p.wait() for p in ps]
        out = subprocess.run(["echo", "hi"], capture_output=True, timeout=5).stdout
        with pytest.raises(subprocess.TimeoutExpired):
            subprocess.run(["sleep", "5"], timeout=0.05)
        return codes, out, len(ticks), gonb.now() - t0
    codes, out, ticks, took = gorun(main)
    assert codes == [0] * 5 and out == b"hi\n" and ticks == 5 and took < 1.0


def test_epoll_and_selectors_park(gorun, patched):
    import selectors
    def main():
        r, w = os.pipe()
        got = []
        def waiter():
            with select.epoll() as ep:
                ep.register(r, select.EPOLLIN)
                got.append(ep.poll(5))
        gonb.go(waiter)
        wait_parked(1, "IO wait")                           # one fd: parked on gonb's poller
        os.write(w, b"x")
        while not got: gonb.sleep(0.001)
        assert got == [[(r, select.EPOLLIN)]]
        with selectors.DefaultSelector() as sel:
            sel.register(r, selectors.EVENT_READ)
            assert len(sel.select(1)) == 1                  # still readable
            os.read(r, 1)
            t0 = gonb.now()
            assert sel.select(0.03) == [] and gonb.now() - t0 >= 0.03
        for fd in (r, w): os.close(fd)
        pl = gonb.runtime.sched.poller
        return type(getattr(pl, "epfd", None) or pl.p).__module__
    assert gorun(main) == "select"                         # gonb's own poller kept the stdlib's objects


def test_thread_join_from_a_goroutine_parks(gorun, patched):
    def main():
        th = threading.Thread(target=time.sleep, args=(0.2,)); th.start()
        ticks = []
        gonb.go(lambda: [ticks.append(gonb.sleep(0.01)) for _ in range(5)])
        th.join()
        assert not th.is_alive()
        return len(ticks)
    assert gorun(main) == 5                               # the ticker ran while main joined


def test_a_waiter_left_by_an_ended_run_does_not_swallow_a_wake(patched):
    lk = threading.Lock()
    def first():                                         # ends holding lk, with a goroutine queued on it
        lk.acquire()
        gonb.go(lk.acquire)
        gonb.sleep(0.01)
    gonb.run(first)
    def second():
        got = []
        gonb.go(lambda: got.append(lk.acquire(timeout=2)))   # queued behind the ended run's waiter
        gonb.sleep(0.01)
        t0 = gonb.now()
        lk.release()                                     # must wake this run's waiter, not the dead one
        while not got: gonb.sleep(0.001)
        return got, gonb.now() - t0
    got, took = gonb.run(second)
    assert got == [True] and took < 1, took              # woken by the release, not by its 2 s timeout
