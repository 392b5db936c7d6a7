"""select (chapter 10): wake-up by exactly one case, fairness, default, nil and closed channels."""
import collections
import math

import pytest

import gonb
from gonb.chan import Chan, SendOnClosedChannel
from gonb.selectgo import cheaprandn
from goutil import wait_parked, wait_until


def test_select_parked_on_several_channels_is_woken_by_exactly_one(gorun):
    results = []

    def main():
        chans = [Chan() for _ in range(4)]
        out = Chan(1)
        gonb.go(lambda: results.append(gonb.select(chans[0], chans[1], (chans[2], "s"), chans[3])))
        wait_parked(1, "select")
        assert [len(list(q)) for q in (chans[0].recvq, chans[1].recvq, chans[2].sendq, chans[3].recvq)] == [1] * 4
        chans[3].send("v")                              # wins the select; it is runnable, not yet run
        # The select's other sudogs are still queued, but belong to a select already won:
        late = [gonb.select((chans[0], 1), default=True), gonb.select(chans[2], default=True),
                gonb.select((chans[1], 2), default=True)]
        gonb.gosched()
        left = [len(list(q)) for c in chans for q in (c.recvq, c.sendq)]
        out.send(None)
        return late, left
    late, left = gorun(main)
    assert results == [(3, "v", True)]
    assert late == [(-1, None, False)] * 3
    assert left == [0] * 8                              # pass 3 left nothing behind


def test_select_send_case_wakes_with_none_true(gorun):
    got = []

    def main():
        c = Chan()
        gonb.go(lambda: got.append(gonb.select(Chan(), (c, "hello"))))
        wait_parked(1, "select")
        v = c.recv()
        gonb.gosched()
        return v
    assert gorun(main) == "hello"
    assert got == [(1, None, True)]


def test_fairness_over_four_ready_channels(gorun):
    n, k = 20_000, 4

    def main():
        chans = [Chan(1) for _ in range(k)]
        for c in chans: c.send(0)
        counts = [0] * k
        for _ in range(n):
            i, _, _ = gonb.select(*chans)
            counts[i] += 1
            chans[i].send(0)                            # keep every case ready
        return counts
    counts = gorun(main)
    sd = math.sqrt(n * (1 / k) * (1 - 1 / k))           # binomial: ~61 for 20,000 draws
    assert sum(counts) == n
    assert all(abs(c - n / k) < 5 * sd for c in counts), counts


def test_cheaprandn_is_uniform():
    n, draws = 7, 70_000
    counts = collections.Counter(cheaprandn(n) for _ in range(draws))
    assert set(counts) == set(range(n))
    sd = math.sqrt(draws * (1 / n) * (1 - 1 / n))
    assert all(abs(c - draws / n) < 5 * sd for c in counts.values()), counts


def test_default_nil_and_closed_cases(gorun):
    def main():
        c, full, closed = Chan(1), Chan(1), Chan()
        full.send("x")
        closed.close()
        return [gonb.select(c, default=True),
                gonb.select((full, 1), default=True),
                gonb.select(None, default=True),
                gonb.select(default=True),
                gonb.select(None, (c, "y")),
                gonb.select(None, c, (None, 3)),
                gonb.select(closed, None),
                gonb.select(full, default=True)]
    assert gorun(main) == [(-1, None, False), (-1, None, False), (-1, None, False),
                           (-1, None, False), (1, None, True), (1, "y", True),
                           (0, None, False), (0, "x", True)]


def test_send_case_on_closed_channel_panics(gorun):
    def main():
        c = Chan(5)
        c.close()
        with pytest.raises(SendOnClosedChannel, match="send on closed channel"):
            gonb.select(Chan(), (c, 1))
        with pytest.raises(SendOnClosedChannel):
            gonb.select((c, 1), default=True)
        return True
    assert gorun(main)


def test_close_wakes_a_parked_select(gorun):
    got, errs = [], []

    def sender(c):
        try: gonb.select(Chan(), (c, 1))
        except SendOnClosedChannel as e: errs.append(str(e))

    def main():
        r, s = Chan(), Chan()
        gonb.go(lambda: got.append(gonb.select(Chan(), r)))
        gonb.go(sender, s)
        wait_parked(2, "select")
        r.close(); s.close()
        wait_until(lambda: got and errs, what="both selects woken")
        return [list(q) for c in (r, s) for q in (c.recvq, c.sendq)]
    assert gorun(main) == [[], [], [], []]
    assert got == [(1, None, False)] and errs == ["send on closed channel"]


def test_self_select_never_pairs_a_goroutine_with_itself(gorun):
    # Two goroutines each select send and receive on the same channel (Go's TestSelfSelect):
    # every value received must come from the other goroutine.
    rounds = 1000
    bad = []

    def main():
        for n in (0, 1, 10):
            c, done = Chan(n), Chan()

            def side(me):
                for _ in range(rounds):
                    i, v, _ = gonb.select((c, me), c)
                    if i == 1 and v == me and n == 0: bad.append((n, me))
                done.send(None)
            gonb.go(side, 0); gonb.go(side, 1)
            # after both finish the buffer may hold values; drain them so no one stays parked
            finished = 0
            while finished < 2:
                i, _, _ = gonb.select(done, c)
                finished += i == 0
    gorun(main)
    assert bad == []


def test_select_stress_every_value_once(gorun):
    # Senders and receivers all go through select over four channels, buffered and not. A closed
    # channel is always ready, so it can win over another one's buffered values: as in Go, a receiver
    # drops a case (nil) once its channel reports closed, and ends when every case is nil. Whenever
    # main is scheduled (under load, sysmon preempts at any point) nothing may be lost.
    per, sizes = 300, [0, 1, 3, 0]
    got = collections.Counter()

    def main():
        chans = [Chan(n) for n in sizes]
        done = Chan()

        def sender(k):
            for i in range(per):
                gonb.select(*[(c, (k, i)) for c in chans])
            done.send(None)

        def receiver():
            cases = list(chans)
            while any(c is not None for c in cases):
                i, v, ok = gonb.select(*cases)
                if ok: got[v] += 1
                else: cases[i] = None                   # closed and drained: a nil case never fires
            done.send(None)

        for k in range(4): gonb.go(sender, k)
        for _ in range(3): gonb.go(receiver)
        for _ in range(4): done.recv()
        for c in chans: c.close()
        for _ in range(3): done.recv()
        return [len(c) for c in chans]
    assert gorun(main) == [0, 0, 0, 0]
    assert len(got) == 4 * per and set(got.values()) == {1}


def test_empty_select_and_all_nil_select_deadlock(gorun):
    with pytest.raises(gonb.Deadlock, match="all goroutines are asleep - deadlock!"):
        gorun(gonb.select)
    with pytest.raises(gonb.Deadlock):
        gorun(gonb.select, None, (None, 1))


def test_select_forever_is_fine_while_others_work(gorun):
    def main():
        c = Chan()
        gonb.go(gonb.select)                            # parks for good
        gonb.go(lambda: (gonb.sleep(0.02), c.send("done")))
        return c.recv()
    assert gorun(main) == "done"


def test_bad_cases_raise_and_leave_the_runtime_healthy(gorun):
    def main():
        c = Chan(1)
        for bad in (42, (c,), (c, 1, 2), [c, 1], ("not a chan", 1)):
            with pytest.raises(TypeError, match="must be a Chan"):
                gonb.select(c, bad)
        c.send("ok")
        return gonb.select(c)
    assert gorun(main) == (0, "ok", True)
    with pytest.raises(RuntimeError, match="runtime is not running"):
        gonb.select(Chan(1), default=True)
