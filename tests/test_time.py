"""gonb.Timer, Ticker, after, after_func: Go 1.23's stop/reset results, dropped ticks, one timer heap."""
import pytest

import gonb
from gonb import runtime
from gonb.runtime import sched


def nothing_within(ch, seconds):
    "True if nothing arrives on `ch` for `seconds`."
    return gonb.select(ch, gonb.after(seconds))[0] == 1


def test_timer_fires_once_with_the_time(gorun):
    def main():
        t0 = gonb.now()
        t = gonb.Timer(0.02)
        v = t.C.recv()
        assert 0.02 <= v - t0 < 1 and v <= gonb.now()
        assert nothing_within(t.C, 0.05)            # once
        assert t.stop() is False                    # fired and received: nothing to stop
    gorun(main)


def test_stop_and_reset_results_and_no_stale_value(gorun):
    def main():
        t = gonb.Timer(3600)
        assert (t.stop(), t.stop()) == (True, False)
        assert t.reset(0.01) is False               # it was stopped
        assert t.reset(0.01) is True                # it was armed
        gonb.sleep(0.05)                            # fired, not received
        assert (len(t.C), t.C.cap) == (0, 0)        # Go 1.23: a timer channel looks unbuffered
        assert t.stop() is True                     # it stopped a delivery: the value is gone
        assert nothing_within(t.C, 0.05)
        t.reset(0.01); gonb.sleep(0.05)
        assert t.reset(3600) is True                # reset drains the stale value too
        assert nothing_within(t.C, 0.05)
        assert t.stop() is True
        t2 = gonb.Timer(0.02)
        assert t2.stop() is True and nothing_within(t2.C, 0.06)   # no value after a successful stop
    gorun(main)


def test_after_and_select_timeout(gorun):
    def main():
        ch = gonb.Chan()
        t0 = gonb.now()
        i, v, ok = gonb.select(ch, gonb.after(0.03))
        assert i == 1 and ok and v - t0 >= 0.03
    gorun(main)


def test_after_func_runs_in_its_own_goroutine_and_stop_prevents_it(gorun):
    def main():
        me = runtime.getg()
        ran = []
        gonb.after_func(0.01, lambda: ran.append(runtime.getg()))
        t = gonb.after_func(0.01, lambda: ran.append("must not run"))
        assert t.C is None
        assert t.stop() is True
        gonb.sleep(0.05)
        assert len(ran) == 1 and ran[0] is not me and ran[0].goid != me.goid
        f = gonb.after_func(0.01, lambda: ran.append("again"))
        gonb.sleep(0.03)
        assert f.stop() is False                    # already ran
        assert f.reset(0.01) is False               # re-armed: runs again
        gonb.sleep(0.03)
        assert ran[1:] == ["again", "again"]
        with pytest.raises(TypeError): gonb.after_func(1, "not callable")
    gorun(main)


def test_ticker_rate_and_dropped_ticks(gorun):
    def main():
        period = 0.01
        tk = gonb.Ticker(period)
        fast = [tk.C.recv() for _ in range(20)]     # a receiver that keeps up
        span = fast[-1] - fast[0]
        assert 19 * period * 0.9 <= span < 19 * period * 3, span
        slow, t0 = [], gonb.now()
        while gonb.now() - t0 < 0.3:                # a receiver that takes 35 ms per tick
            slow.append(tk.C.recv())
            gonb.sleep(0.035)
        tk.stop()
        assert len(slow) <= 12, len(slow)           # ~30 ticks were sent; the rest were dropped
        assert nothing_within(tk.C, 0.05)           # stopped, and the pending tick drained
        tk.reset(0.005)
        assert tk.C.recv() is not None
        tk.stop()
    gorun(main)


def test_a_late_ticker_skips_missed_periods_and_stays_on_its_grid(gorun, monkeypatch):
    import time
    monkeypatch.setenv("GODEBUG", "asyncpreemptoff=1")   # so that time.sleep really holds the M

    def main():
        tk = gonb.Ticker(0.01)
        first = tk.when
        time.sleep(0.055)                           # the M is stuck: five periods pass unserved
        v = tk.C.recv()                             # one tick, run late by this receive
        assert abs(v - first / 1e9) < 1e-3          # Go 1.23 sendTime: the time it was due (not +55 ms)
        assert (tk.when - first) % tk.period == 0   # on the grid of the first tick
        assert (tk.when - first) // tk.period >= 4  # past the missed periods, not one period on
        tk.stop()
    gorun(main)


def test_bad_durations(gorun):
    def main():
        with pytest.raises(ValueError, match="^non-positive interval for NewTicker$"): gonb.Ticker(0)
        tk = gonb.Ticker(1)
        with pytest.raises(ValueError, match="^non-positive interval for Ticker.Reset$"): tk.reset(-1)
        tk.stop()
        with pytest.raises(TypeError): gonb.Timer("1")
        t0 = gonb.now()
        assert gonb.Timer(-5).C.recv() >= t0        # a negative duration fires at once
        assert sched.p0.ntimers == 0                # nothing left armed
    gorun(main)
    with pytest.raises(RuntimeError, match="not running"): gonb.Timer(1)


def test_a_timer_from_an_ended_run(gorun):
    t = gorun(lambda: gonb.Timer(3600))
    assert t.stop() is True                         # still armed (its state outlives the run); now stopped
    def main():
        assert t.stop() is False
        assert t.reset(0.01) is False
        return t.C.recv()
    assert gorun(main) > 0


def test_no_extra_threads(gorun):
    import threading
    def main():
        before = threading.active_count()
        ts = [gonb.Timer(0.001 * (i % 20)) for i in range(1000)]
        fired = sum(1 for t in ts if t.C.recv() is not None)
        tk = gonb.Ticker(0.001); [tk.C.recv() for _ in range(5)]; tk.stop()
        return fired, threading.active_count() - before
    assert gorun(main) == (1000, 0)


def test_one_heap_for_sleep_deadlines_timers_tickers_and_contexts(gorun):
    from gonb import context, net

    def main():
        pp = sched.p0
        base = pp.ntimers
        t = gonb.Timer(3600); tk = gonb.Ticker(3600)
        ctx, cancel = context.with_timeout(context.background(), 3600)
        ln = net.listen("tcp", "127.0.0.1:0"); ln.set_deadline(gonb.now() + 3600)
        assert pp.ntimers == base + 2               # the context's and the deadline's; Go 1.23: not t's, tk's
        gonb.go(gonb.sleep, 3600); gonb.gosched()
        assert pp.ntimers == base + 3
        gonb.go(gonb.select, t.C, tk.C); gonb.gosched()   # a goroutine waits on both channels
        assert pp.ntimers == base + 5               # now both are on P0's heap
        t.stop(); tk.stop(); cancel(); ln.close()
        assert pp.ntimers == base + 1
    gorun(main)


def test_timers_keep_the_program_alive_and_deadlock_without_them(gorun):
    def main():
        ch = gonb.Chan()
        gonb.after_func(0.02, lambda: ch.send("late"))
        return ch.recv()
    assert gorun(main) == "late"
    with pytest.raises(gonb.Deadlock):
        gorun(lambda: (gonb.Timer(1).stop(), gonb.Chan().recv()))


@pytest.mark.parametrize("make", [lambda: gonb.Timer(2.0), lambda: gonb.Ticker(0.05)], ids=["Timer", "Ticker"])
def test_an_unobserved_timer_does_not_delay_deadlock(gorun, make):
    "Go 1.23: a timer channel nobody waits on is off the heap, so 'all goroutines are asleep' comes at once."
    t0 = gonb.now()
    with pytest.raises(gonb.Deadlock):
        gorun(lambda: (make(), gonb.Chan().recv()))
    assert gonb.now() - t0 < 1.0


def test_select_loop_with_after_leaves_no_heap_timers(gorun):
    "A `select(ch, after(60))` loop: each after's timer leaves the heap when the select wakes (unblockTimerChan)."
    def main():
        ch = gonb.Chan(1)
        base = sched.p0.ntimers
        for i in range(2000):
            ch.send(i)
            assert gonb.select(ch, gonb.after(60))[:2] == (0, i)
            gonb.go(ch.send, -1)
            assert gonb.select(ch, gonb.after(60))[:2] == (0, -1)   # this one parked first
        assert sched.p0.ntimers == base
        assert len(sched.p0.timers) <= 200          # dead entries are swept, not piled up
    gorun(main)
