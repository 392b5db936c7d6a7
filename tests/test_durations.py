"""One rule for durations and deadlines at every entry point (issue 24, chapter 06's durationNS): NaN is a
ValueError in gonb's words, +inf never, zero or less now, a huge value clamped, anything not a number a
TypeError; and a refused argument registers, starts and allocates nothing."""
import gc
import tracemalloc

import pytest
import gonb
from gonb import context, net, runtime

NAN, INF = float("nan"), float("inf")
HUGE = [1e300, 10 ** 400]

# Each entry point as a function of its duration (seconds); deadlines take now() + the duration.
DURATIONS = {
    "sleep": lambda s: gonb.sleep(s),
    "Timer": lambda s: gonb.Timer(s),
    "Timer.reset": lambda s: gonb.Timer(60).reset(s),
    "after": lambda s: gonb.after(s),
    "after_func": lambda s: gonb.after_func(s, lambda: None),
    "tick": lambda s: gonb.time.tick(s),
    "Ticker": lambda s: gonb.Ticker(s),
    "with_timeout": lambda s: context.with_timeout(context.background(), s),
    "with_deadline": lambda s: context.with_deadline(context.background(), s),
}


@pytest.mark.parametrize("name", DURATIONS)
def test_nan_is_a_value_error_in_gonbs_words(name):
    def main():
        with pytest.raises(ValueError, match="is NaN") as e:
            DURATIONS[name](NAN)
        assert "cannot convert" not in str(e.value)
        return len(gonb.runtime.sched.allgs)
    assert gonb.run(main) == 2   # main and forcegc: nothing started


@pytest.mark.parametrize("name", DURATIONS)
@pytest.mark.parametrize("bad", ["1", None, b"1", [1], 1j, True])
def test_not_a_number_is_a_type_error(name, bad):
    def main():
        with pytest.raises(TypeError, match="number of seconds"):
            DURATIONS[name](bad)
    gonb.run(main)


@pytest.mark.parametrize("big", [INF] + HUGE)
def test_inf_and_huge_mean_never(big):
    def main():
        fired = []
        reset = gonb.Timer(0)
        reset.reset(big)
        chans = [gonb.Timer(big).C, gonb.after(big), gonb.Ticker(big).C, gonb.time.tick(big), reset.C,
                 context.with_timeout(context.background(), big)[0].done(),
                 context.with_deadline(context.background(), big)[0].done()]
        gonb.after_func(big, lambda: fired.append(1))
        gonb.sleep(0.02)
        return [gonb.select(c, default=True)[0] for c in chans], fired
    assert gonb.run(main) == ([-1] * 7, [])


def test_sleep_inf_parks_with_a_timer():
    def main():
        g = gonb.go(gonb.sleep, INF)
        gonb.sleep(0.01)
        return g.status == runtime._Gwaiting and g.waitreason == "sleep", g.sleepWhen - runtime.nanotime() > 10 ** 18
    assert gonb.run(main) == (True, True)


@pytest.mark.parametrize("small", [0, -1, -1e300, -10 ** 400, -INF])
def test_zero_or_less_means_now(small):
    def main():
        t0 = gonb.now()
        gonb.sleep(small)                                  # returns at once
        assert gonb.after(small).recv() is not None        # fires at once
        assert gonb.Timer(small).C.recv() is not None
        done = gonb.Chan(1)
        gonb.after_func(small, lambda: done.send(1))
        assert done.recv() == 1
        ctx, cancel = context.with_timeout(context.background(), small)
        assert isinstance(ctx.err(), context.DeadlineExceeded)
        ctx, cancel = context.with_deadline(context.background(), small)
        assert isinstance(ctx.err(), context.DeadlineExceeded)
        assert gonb.time.tick(small) is gonb.chan.nil       # Go's Tick: nil for d <= 0
        with pytest.raises(ValueError, match="non-positive interval for NewTicker"):
            gonb.Ticker(small)                             # Go panics
        return gonb.now() - t0
    assert gonb.run(main) < 1


def test_failed_with_timeout_leaves_nothing_behind():
    class Other(context.Context):
        "A context of another implementation: propagateCancel would start a goroutine to watch it."
        def __init__(self): self.ch = gonb.Chan()
        def done(self): return self.ch

    def main():
        parent, cancel = context.with_cancel(context.background())
        other = Other()
        for bad in (NAN, "x"):   # warm up, then measure
            for p in (parent, other):
                for f in (context.with_timeout, context.with_deadline):
                    with pytest.raises((ValueError, TypeError)): f(p, bad)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for i in range(5000):
            p = parent if i % 2 else other
            with pytest.raises((ValueError, TypeError)):
                (context.with_timeout if i % 4 < 2 else context.with_deadline)(p, (NAN, "x", None, [])[i % 4])
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
        return len(parent.children), len(gonb.goroutines()), grown
    children, goroutines, grown = gonb.run(main)
    assert children == 0
    assert goroutines == 1                 # main only
    assert grown < 64 * 1024, grown        # 5,000 leaked children or goroutines would be megabytes


@pytest.mark.parametrize("setter", ["set_deadline", "set_read_deadline", "set_write_deadline"])
def test_deadlines_follow_the_same_rule(gorun, setter):
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        c = net.dial("tcp", str(ln.addr()))
        s = ln.accept()
        for target in (c, ln) if setter == "set_deadline" else (c,):
            set_ = getattr(target, setter)
            with pytest.raises(ValueError, match="deadline is NaN"): set_(NAN)
            for bad in ("1", b"", True, [1]):
                with pytest.raises(TypeError, match="number of seconds"): set_(bad)
            for never in [INF] + HUGE:
                set_(never)
        for never in [INF] + HUGE:       # +inf and huge: no timeout
            getattr(c, setter)(never)
        s.write(b"x")
        if setter != "set_write_deadline":
            assert c.read(bytearray(1)) == 1
        for past in (-INF, -1e300, -10 ** 400, 0, gonb.now() - 1):
            getattr(c, setter)(past)
            if setter != "set_write_deadline":
                with pytest.raises(gonb.ErrDeadlineExceeded): c.read(bytearray(1))
            else:
                with pytest.raises(gonb.ErrDeadlineExceeded): c.write(b"y")
        getattr(c, setter)(None)
        for x in (c, s, ln): x.close()
    gorun(main)
