"""The runtime core: goroutines, park/ready, the scheduler loop, timers, deadlock and panics."""
import random
import threading

import pytest

import gonb
from gonb import runtime, sysmon
from gonb.runtime import gopark, goready, getg, sched, waitReasonChanReceive, _runqSize
from goutil import wait_until


class Chan:
    "A one-slot unbuffered hand-off built only from gopark/goready, to test them."
    def __init__(self):
        self.value, self.receiver = None, None

    def recv(self):
        self.receiver = getg()
        gopark(None, None, waitReasonChanReceive)
        v, self.value = self.value, None
        return v

    def send(self, v):
        gp, self.receiver = self.receiver, None
        assert gp is not None, "send with no receiver"
        self.value = v
        goready(gp)


def test_ten_thousand_sleepers_never_wake_early():
    n = 10_000
    early, done = [], []

    def sleeper(d):
        t0 = gonb.now()
        gonb.sleep(d)
        if gonb.now() - t0 < d: early.append(d)
        done.append(d)

    def main():
        for _ in range(n): gonb.go(sleeper, random.uniform(0, 0.05))
        wait_until(lambda: len(done) == n, timeout=60, every=0.01)

    gonb.run(main)
    assert len(done) == n
    assert early == []


def test_park_ready_ping_pong():
    rounds = 1000
    ping, pong = Chan(), Chan()
    seen = []

    def ponger():
        for _ in range(rounds):
            v = ping.recv()
            pong.send(v + 1)

    def main():
        gonb.go(ponger)
        for i in range(rounds):
            wait_until(lambda: ping.receiver is not None, what="the ponger parked in recv")
            ping.send(i)
            seen.append(pong.recv())
        return seen[-1]

    assert gonb.run(main) == rounds
    assert seen == list(range(1, rounds + 1))


def test_gosched_fairness_two_spinners_both_progress():
    counts = [0, 0]

    def spinner(i):
        while True:
            counts[i] += 1
            gonb.gosched()

    def main():
        gonb.go(spinner, 0)
        gonb.go(spinner, 1)
        gonb.sleep(0.05)                    # a timer must still fire while two goroutines spin
        return list(counts)

    c = gonb.run(main)
    assert c[0] > 100 and c[1] > 100
    assert abs(c[0] - c[1]) <= max(c) * 0.1   # round-robin through the global queue


def test_runnext_runs_first_then_the_local_ring_then_the_global_queue():
    order = []

    def main():
        gonb.gosched()                     # leave tick 0, where the global queue is looked at first
        gonb.go(order.append, "a")
        gonb.go(order.append, "b")        # takes runnext; "a" moves to the ring's tail
        gonb.gosched()                     # main goes to the global queue, behind both
        order.append("main")
    gonb.run(main)
    assert order == ["b", "a", "main"]


def test_deadlock_detected():
    with pytest.raises(gonb.Deadlock, match="all goroutines are asleep - deadlock!"):
        gonb.run(lambda: Chan().recv())


def test_deadlock_with_parked_goroutines_and_no_timers():
    def main():
        c = Chan()
        gonb.go(lambda: Chan().recv())
        c.recv()
    with pytest.raises(gonb.Deadlock):
        gonb.run(main)


def test_panic_in_goroutine_ends_run_and_unwinds_the_rest():
    unwound = []

    def sleeper():
        try:
            gonb.sleep(10)
        finally:
            unwound.append("sleeper")

    def bad():
        raise ValueError("boom")

    def main():
        gonb.go(sleeper)
        gonb.sleep(0.01)
        gonb.go(bad)
        gonb.sleep(10)

    with pytest.raises(ValueError, match="boom") as ei:
        gonb.run(main)
    assert any("goroutine 4" in note for note in ei.value.__notes__)
    assert unwound == ["sleeper"]


def test_exception_in_main_is_raised():
    def main():
        raise KeyError("k")
    with pytest.raises(KeyError):
        gonb.run(main)


def test_run_twice_and_state_released():
    assert gonb.run(lambda: 1) == 1
    assert gonb.run(lambda: gonb.sleep(0.001) or 2) == 2
    assert sched.m0 is None and sched.allgs == {} and sched.poller is None


def test_run_inside_run_refused_and_runtime_survives():
    def main():
        with pytest.raises(RuntimeError, match="already running"):
            gonb.run(lambda: None)
        gonb.sleep(0.001)
        return "ok"
    assert gonb.run(main) == "ok"


def test_calls_outside_run_are_clear_errors():
    with pytest.raises(RuntimeError, match="not running"):
        gonb.go(print)
    with pytest.raises(RuntimeError, match="not running"):
        gonb.sleep(0.1)
    with pytest.raises(TypeError):
        gonb.run(42)


def test_calls_from_another_thread_are_refused():
    errors = []

    def main():
        def other():
            try: gonb.sleep(0.01)
            except RuntimeError as e: errors.append(str(e))
        t = threading.Thread(target=other)
        t.start()
        while t.is_alive(): gonb.sleep(0.005)
    gonb.run(main)
    assert errors and "not on a goroutine" in errors[0]


def test_sleep_bad_input():
    def main():
        with pytest.raises(TypeError):
            gonb.sleep("1")
        gonb.sleep(-1)            # Go: a non-positive duration returns at once
        gonb.sleep(0)
        return True
    assert gonb.run(main)


def test_timer_wakes_a_blocked_netpoll():
    delays = []

    def main():
        real = sched.poller.netpoll
        def spy(delay):
            delays.append(delay)
            return real(delay)
        sched.poller.netpoll = spy
        t0 = gonb.now()
        gonb.sleep(0.05)
        return gonb.now() - t0

    took = gonb.run(main)
    assert 0.05 <= took < 1.0
    assert any(d > 0 for d in delays), "the scheduler never blocked in netpoll until the timer"


def test_local_runq_overflow_spills_to_global_queue(monkeypatch):
    # Without sysmon nothing preempts main (under load, a 10 ms slice can end within any 256 spawns and
    # let the queues drain), so right after the spawns every new goroutine is still queued, in
    # runnext, the ring or the spilled halves on the global queue: none run yet, none lost.
    monkeypatch.setattr(sysmon, "sysmonEnabled", False)
    n = 2000
    done = []

    def main():
        p = sched.p0
        gs = {gonb.go(done.append, i) for i in range(n)}   # no yield: the 256-slot ring overflows
        ring = [p.runq[i % _runqSize] for i in range(p.runqhead, p.runqtail)]
        where = (p.runnext in gs, len(ring), len(gs & set(ring)), len(gs & set(sched.runq)))
        wait_until(lambda: len(done) == n)
        return where
    in_next, ring, in_ring, spilled = gonb.run(main)
    assert in_next and 0 < in_ring <= ring <= _runqSize and spilled > 0
    assert in_next + in_ring + spilled == n
    assert sorted(done) == list(range(n))


def test_goroutine_dump_and_trace():
    def main():
        runtime.trace_start()
        gonb.go(gonb.sleep, 0.05)
        gonb.sleep(0.001)
        dump = gonb.goroutines()
        gonb.sleep(0.1)
        return dump, runtime.trace_stop()

    dump, tr = gonb.run(main)
    assert (3, "waiting", "sleep", "sleep") in dump
    assert (1, "running", "", "main") in [d[:3] + ("main",) for d in dump if d[0] == 1]
    transitions = [(g, a, b) for _, g, a, b, _ in tr]
    assert (3, "running", "waiting") in transitions and (3, "waiting", "runnable") in transitions
    assert (3, "running", "dead") in transitions


def test_the_labs_observer_records_network_wakeups():
    "The lab's WakeLatency (chapter 08a) reads the runtime's event stream: the poller's wake-ups reach it."
    from gonb import net
    from gonb.bench.servers import WakeLatency

    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        c = net.dial("tcp", str(ln.addr()))
        s = ln.accept()
        w = WakeLatency()
        runtime.observe_start(w)
        buf = bytearray(8)
        for _ in range(50):
            gonb.go(s.write, b"x")
            c.read(buf)                      # parks, woken by the poller
        runtime.observe_stop(w)
        for x in (c, s, ln): x.close()
        return w

    w = gonb.run(main)
    assert w.poll_to_run.count >= 40
    assert w.ready_to_run.count >= w.poll_to_run.count
    assert 0 < w.poll_to_run.percentile(0.5) <= w.poll_to_run.percentile(0.99) <= w.poll_to_run.max < 10**9
    assert sched.observers == () and not sched.observing
    assert 0 <= w.busy() <= 1


def test_observers_see_one_stream_and_observing_is_derived():
    "trace_start's log and another observer see the same transitions; observing follows the subscribers."
    seen = []

    class counter(runtime.observer):
        def gstatus(self, gp, old, new, t): seen.append((t, gp.goid, old, new))

    def main():
        o = counter()
        runtime.observe_start(o)
        runtime.trace_start()
        assert sched.observing and len(sched.observers) == 2
        gonb.go(gonb.sleep, 0.001)
        gonb.sleep(0.01)
        tr = runtime.trace_stop()
        assert sched.observing
        runtime.observe_stop(o)
        assert not sched.observing
        return tr

    tr = gonb.run(main)
    both = [(t, g) for t, g, *_ in seen]
    assert len(tr) >= 5 and [(t, g) for t, g, *_ in tr] == both[:len(tr)]   # stamped once, seen alike
    with pytest.raises(TypeError, match="not a runtime.observer"): gonb.run(lambda: runtime.observe_start(object()))


def test_trace_sees_every_transition_of_a_network_round_trip(gorun):
    """The fused casgstatus lines (park_m, goready, injectglist, schedule) still report through observe():
    a reader's traced states form one unbroken chain, with its IO-wait parks and poller wake-ups."""
    from gonb import net

    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        c = net.dial("tcp", str(ln.addr()))
        s = ln.accept()
        runtime.trace_start()
        def reader():
            buf = bytearray(8)
            for _ in range(5): c.read(buf)
        g = gonb.go(reader)
        for _ in range(5):
            gonb.sleep(0.005)                 # the reader parks in IO wait before each write
            s.write(b"x")
        while g.status != runtime._Gdead: gonb.sleep(0.001)
        tr = runtime.trace_stop()
        for x in (c, s, ln): x.close()
        return g.goid, tr
    goid, tr = gorun(main)
    mine = [(a, b, why) for _, gid, a, b, why in tr if gid == goid]
    assert mine[0][:2] == ("idle", "runnable") and mine[-1][1] == "dead"
    assert all(prev[1] == nxt[0] for prev, nxt in zip(mine, mine[1:])), mine   # nothing skipped
    assert sum(1 for a, b, why in mine if (a, b, why) == ("running", "waiting", "IO wait")) >= 5
    assert sum(1 for a, b, _ in mine if (a, b) == ("waiting", "runnable")) >= 5
