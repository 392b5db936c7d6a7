"""Go 1.23's own `context` tests (context/x_test.go, and the XTest functions of context/context_test.go
that read unexported state), ported to gonb.context.

Go compares errors with `==` against the sentinels `Canceled` and `DeadlineExceeded`; gonb's errors
are exception instances, so the ports check the class, and a cause given by the test by identity.
veryLongDuration is 1000 h, shortDuration 1 ms, quiescent 5 s, as in Go."""
import random

import pytest

import gonb
from gonb import Chan, select, context
from gonb.context import (Canceled, Context, DeadlineExceeded, background, todo, with_cancel, with_cancel_cause,
                          with_deadline, with_timeout, with_timeout_cause, with_value, without_cancel, cause,
                          after_func, cancelCtx, afterFuncCtx, parentCancelCtx)
from gonb.sync import WaitGroup

run = gonb.run
shortDuration, veryLongDuration, quiescent = 1e-3, 1000 * 3600, 5.0


def blocks(c): return select(c, default=True)[0] == -1


class otherContext(Context):
    "x_test.go otherContext: a Context that is none of context.go's types."
    def __init__(self, c): self.c = c
    def deadline(self): return self.c.deadline()
    def done(self): return self.c.done()
    def err(self): return self.c.err()
    def value(self, key): return self.c.value(key)


class myDoneCtx(otherContext):
    "context_test.go myDoneCtx: a fresh Done channel on every call."
    def done(self): return Chan()


def test_TestParentFinishesChild():
    "context_test.go XTestParentFinishesChild: cancelling the parent finishes every child and clears the links."
    def main():
        parent, cancel = with_cancel(background())
        cancelChild, stop1 = with_cancel(parent)
        valueChild = with_value(parent, "key", "value")
        timerChild, stop2 = with_timeout(valueChild, veryLongDuration)
        afterStop = after_func(parent, lambda: None)
        assert select(parent.done(), cancelChild.done(), timerChild.done(), valueChild.done(), default=True)[0] == -1
        pc, cc, tc = parent, cancelChild, timerChild
        acs = [c for c in pc.children if isinstance(c, afterFuncCtx)]
        assert len(pc.children) == 3 and cc in pc.children and tc in pc.children and acs, f"bad linkage: pc.children = {pc.children}"
        for child in (cc, tc, acs[0]):
            assert parentCancelCtx(child.parent) is pc, "bad linkage: parentCancelCtx"
        cancel()
        assert len(pc.children) == 0, f"pc.cancel didn't clear pc.children = {pc.children}"
        for ctx, name in ((parent, "parent"), (cancelChild, "cancelChild"), (valueChild, "valueChild"), (timerChild, "timerChild")):
            assert not blocks(ctx.done()), f"<-{name}.Done() blocked, but shouldn't have"
            assert isinstance(ctx.err(), Canceled), f"{name}.Err() == {ctx.err()!r} want Canceled"
        precanceledChild = with_value(parent, "key", "value")
        assert not blocks(precanceledChild.done())
        assert isinstance(precanceledChild.err(), Canceled)
        stop1(); stop2(); afterStop()
    run(main)


def test_TestChildFinishesFirst():
    "context_test.go XTestChildFinishesFirst: a child's cancel leaves its parent running and unlinks itself."
    def main():
        cancelable, stop = with_cancel(background())
        for parent in (background(), cancelable):
            child, cancel = with_cancel(parent)
            assert (parent.done() is None or blocks(parent.done())) and blocks(child.done())
            pcok = isinstance(parent, cancelCtx)
            p = parentCancelCtx(child.parent)
            assert (p is not None) == pcok and (not pcok or p is parent), f"bad linkage: parentCancelCtx = {p}"
            if pcok: assert list(parent.children) == [child]
            cancel()
            if pcok: assert len(parent.children) == 0, "child's cancel didn't remove self from pc.children"
            assert not blocks(child.done())
            assert isinstance(child.err(), Canceled)
            assert parent.done() is None or blocks(parent.done())
            assert parent.err() is None
        stop()
    run(main)


def test_TestCancelRemoves():
    "context_test.go XTestCancelRemoves: WithCancel, WithTimeout and AfterFunc children leave on cancel/stop."
    def main():
        for make in (lambda c: with_cancel(c)[1], lambda c: with_timeout(c, 3600)[1], lambda c: after_func(c, lambda: None)):
            ctx, _ = with_cancel(background())
            assert len(ctx.children) == 0
            cancel = make(ctx)
            assert len(ctx.children) == 1
            cancel()
            assert len(ctx.children) == 0
    run(main)


def test_TestCustomContextGoroutines(monkeypatch):
    "context_test.go XTestCustomContextGoroutines: a goroutine is started only for a parent with its own Done."
    created = [0]
    real_go = context.go
    monkeypatch.setattr(context, "go", lambda f, *a: (created.__setitem__(0, created[0] + 1), real_go(f, *a))[1])

    def main():
        g = [0]
        def checkNoGoroutine(): assert created[0] == g[0], f"{created[0] - g[0]} goroutines created"
        def checkCreatedGoroutine():
            assert created[0] == g[0] + 1, f"{created[0] - g[0]} goroutines created, want 1"
            g[0] = created[0]
        _, cancel0 = with_cancel(myDoneCtx(background())); cancel0(); checkCreatedGoroutine()
        _, cancel0 = with_timeout(myDoneCtx(background()), veryLongDuration); cancel0(); checkCreatedGoroutine()
        checkNoGoroutine()
        ctx1, cancel1 = with_cancel(background()); checkNoGoroutine()
        ctx2 = otherContext(ctx1)
        ctx3, cancel3 = with_cancel(ctx2); checkNoGoroutine()
        _, cancel3b = with_cancel(myDoneCtx(ctx2)); checkCreatedGoroutine()   # ctx1 does not provide Done
        ctx4, cancel4 = with_timeout(ctx3, veryLongDuration); checkNoGoroutine()
        ctx5, cancel5 = with_cancel(ctx4); checkNoGoroutine()
        cancel5(); checkNoGoroutine()
        _, cancel6 = with_timeout(ctx5, veryLongDuration); checkNoGoroutine()
        cancel6(); cancel1()
        _, cancel7 = with_cancel(ctx5); checkNoGoroutine()
        for c in (cancel7, cancel3b, cancel4, cancel3): c()
        checkNoGoroutine()
    run(main)


def test_TestBackground_TestTODO():
    "x_test.go TestBackground, TestTODO."
    for c, name in ((background(), "context.Background"), (todo(), "context.TODO")):
        assert c is not None and c.done() is None and str(c) == name


def test_TestWithCancel():
    "x_test.go TestWithCancel: the cancel reaches an otherContext's child synchronously."
    def main():
        c1, cancel = with_cancel(background())
        assert str(c1) == "context.Background.WithCancel"
        o = otherContext(c1)
        c2, _ = with_cancel(o)
        contexts = [c1, o, c2]
        for i, c in enumerate(contexts):
            assert c.done() is not None and c.err() is None and blocks(c.done()), f"c[{i}]"
        cancel()   # should propagate synchronously
        for i, c in enumerate(contexts):
            assert not blocks(c.done()), f"<-c[{i}].Done() blocked, but shouldn't have"
            assert isinstance(c.err(), Canceled)
    run(main)


def checkDeadline(c, name):
    "x_test.go testDeadline (renamed: pytest would collect test*)."
    timer = gonb.Timer(quiescent)
    try: assert select(timer.C, c.done())[0] == 1, f"{name}: context not timed out after {quiescent}"
    finally: timer.stop()
    assert isinstance(c.err(), DeadlineExceeded), f"{name}: c.Err() == {c.err()!r}"


def test_TestDeadline():
    "x_test.go TestDeadline."
    def main():
        c, _ = with_deadline(background(), gonb.now() + shortDuration)
        assert str(c).startswith("context.Background.WithDeadline(")
        checkDeadline(c, "WithDeadline")
        c, _ = with_deadline(background(), gonb.now() + shortDuration)
        checkDeadline(otherContext(c), "WithDeadline+otherContext")
        c, _ = with_deadline(background(), gonb.now() + shortDuration)
        c, _ = with_deadline(otherContext(c), gonb.now() + veryLongDuration)
        checkDeadline(c, "WithDeadline+otherContext+WithDeadline")
        c, _ = with_deadline(background(), gonb.now() - shortDuration)
        checkDeadline(c, "WithDeadline+inthepast")
        c, _ = with_deadline(background(), gonb.now())
        checkDeadline(c, "WithDeadline+now")
    run(main)


def test_TestTimeout():
    "x_test.go TestTimeout."
    def main():
        c, _ = with_timeout(background(), shortDuration)
        assert str(c).startswith("context.Background.WithDeadline(")
        checkDeadline(c, "WithTimeout")
        c, _ = with_timeout(background(), shortDuration)
        checkDeadline(otherContext(c), "WithTimeout+otherContext")
        c, _ = with_timeout(background(), shortDuration)
        c, _ = with_timeout(otherContext(c), veryLongDuration)
        checkDeadline(c, "WithTimeout+otherContext+WithTimeout")
    run(main)


def test_TestCanceledTimeout():
    "x_test.go TestCanceledTimeout."
    def main():
        c, _ = with_timeout(background(), 1)
        c, cancel = with_timeout(otherContext(c), veryLongDuration)
        cancel()   # should propagate synchronously
        assert not blocks(c.done())
        assert isinstance(c.err(), Canceled)
    run(main)


class key1(int):
    "x_test.go key1: an int type of its own (equal only to key1 values)."
    def __eq__(self, o): return type(o) is type(self) and int(o) == int(self)
    def __hash__(self): return hash((type(self).__name__, int(self)))


class key2(key1):
    "x_test.go key2, a Stringer: `%[1]T(%[1]d)`."
    def __str__(self): return f"context_test.key2({int(self)})"


k1, k2, k3 = key1(1), key2(1), key2(3)


def test_TestValues():
    "x_test.go TestValues: lookups through value and other contexts, and Go 1.23's String."
    def check(c, nm, v1, v2, v3):
        for k, want in ((k1, v1), (k2, v2), (k3, v3)):
            got = c.value(k)
            assert (got if isinstance(got, str) else "") == want, f"{nm}.Value({k!r}) = {got!r} want {want!r}"

    c0 = background(); check(c0, "c0", "", "", "")
    c1 = with_value(background(), k1, "c1k1"); check(c1, "c1", "c1k1", "", "")
    assert str(c1) == "context.Background.WithValue(test_go_context.key1, c1k1)"   # Go: context_test.key1
    c2 = with_value(c1, k2, "c2k2"); check(c2, "c2", "c1k1", "c2k2", "")
    assert str(c2) == "context.Background.WithValue(test_go_context.key1, c1k1).WithValue(context_test.key2(1), c2k2)"
    c3 = with_value(c2, k3, "c3k3"); check(c3, "c2", "c1k1", "c2k2", "c3k3")
    c4 = with_value(c3, k1, None); check(c4, "c4", "", "c2k2", "c3k3")
    check(otherContext(background()), "o0", "", "", "")
    o1 = otherContext(with_value(background(), k1, "c1k1")); check(o1, "o1", "c1k1", "", "")
    o2 = with_value(o1, k2, "o2k2"); check(o2, "o2", "c1k1", "o2k2", "")
    o3 = otherContext(c4); check(o3, "o3", "", "c2k2", "c3k3")
    o4 = with_value(o3, k3, None); check(o4, "o4", "", "c2k2", "")


def test_TestAllocs():
    "x_test.go TestAllocs."
    pytest.skip("gonb cannot express it: it counts Go heap allocations per call (testing.AllocsPerRun)")


def test_TestSimultaneousCancels():
    "x_test.go TestSimultaneousCancels: a tree of 100 contexts canceled in random order from many goroutines."
    def main():
        root, cancel = with_cancel(background())
        m, q = {root: cancel}, [root]
        while q and len(m) < 100:
            parent = q.pop(0)
            for _ in range(4):
                ctx, c = with_cancel(parent)
                m[ctx] = c
                q.append(ctx)
        wg = WaitGroup()
        wg.add(len(m))
        cancels = list(m.values()); random.shuffle(cancels)
        for c in cancels: gonb.go(lambda c=c: (c(), wg.done()))
        stuck = Chan()
        timer = gonb.after_func(quiescent, stuck.close)
        ctxs = list(m); random.shuffle(ctxs)
        for ctx in ctxs:
            assert select(ctx.done(), stuck)[0] == 0, f"timed out after {quiescent} waiting for <-ctx.Done()"
        done = Chan()
        gonb.go(lambda: (wg.wait(), done.close()))
        assert select(done, stuck)[0] == 0, "timed out waiting for cancel functions"
        timer.stop()
    run(main)


def test_TestInterlockedCancels():
    "x_test.go TestInterlockedCancels."
    def main():
        parent, cancelParent = with_cancel(background())
        child, cancelChild = with_cancel(parent)
        gonb.go(lambda: (parent.done().recv(), cancelChild()))
        cancelParent()
        timer = gonb.Timer(quiescent)
        assert select(child.done(), timer.C)[0] == 0, "timed out waiting for child.Done()"
        timer.stop()
    run(main)


@pytest.mark.parametrize("testTimeout", [False, True], ids=["TestLayersCancel", "TestLayersTimeout"])
def test_TestLayers(testTimeout):
    "x_test.go TestLayersCancel, TestLayersTimeout: 30+ random layers of values, cancels and timeouts."
    def main():
        seed = random.randrange(1 << 32)
        r = random.Random(seed)
        vals, cancels, numTimers, ctx = [], [], 0, background()
        i = 0
        while i < 30 or numTimers == 0 or not cancels or not vals:
            k = r.randrange(3)
            if k == 0:
                v = object(); ctx = with_value(ctx, v, v); vals.append(v)
            elif k == 1:
                ctx, c = with_cancel(ctx); cancels.append(c)
            else:
                ctx, c = with_timeout(ctx, shortDuration if testTimeout else veryLongDuration)
                cancels.append(c); numTimers += 1
            i += 1
        def checkValues(when):
            for key in vals: assert ctx.value(key) is key, f"seed={seed} {when}: ctx.Value"
        if not testTimeout: assert blocks(ctx.done()), f"seed={seed} ctx should not be canceled yet"
        assert str(ctx).startswith("context.Background.")
        checkValues("before cancel")
        if testTimeout:
            timer = gonb.Timer(quiescent)
            assert select(ctx.done(), timer.C)[0] == 0, f"seed={seed} ctx should have timed out"
            timer.stop()
            checkValues("after timeout")
        else:
            r.choice(cancels)()
            assert not blocks(ctx.done()), f"seed={seed} ctx should be canceled"
            checkValues("after cancel")
        for c in cancels: c()
    run(main)


def test_TestWithCancelCanceledParent():
    "x_test.go TestWithCancelCanceledParent: a child of a canceled parent is born canceled, with its cause."
    def main():
        parent, pcancel = with_cancel_cause(background())
        because = Exception("Because!")
        pcancel(because)
        c, _ = with_cancel(parent)
        assert not blocks(c.done()), "child not done immediately upon construction"
        assert isinstance(c.err(), Canceled)
        assert cause(c) is because
    run(main)


def test_TestWithCancelSimultaneouslyCanceledParent():
    "x_test.go TestWithCancelSimultaneouslyCanceledParent (100 rounds, as Go)."
    def main():
        for _ in range(100):
            parent, pcancel = with_cancel_cause(background())
            because = Exception("Because!")
            gonb.go(pcancel, because)
            c, _ = with_cancel(parent)
            c.done().recv()
            assert isinstance(c.err(), Canceled)
            assert cause(c) is because
    run(main)


def test_TestWithValueChecksKey():
    "x_test.go TestWithValueChecksKey."
    with pytest.raises(TypeError): with_value(background(), bytearray(b"foo"), "bar")
    with pytest.raises(TypeError, match="^nil key$"): with_value(background(), None, "bar")


def test_TestInvalidDerivedFail():
    "x_test.go TestInvalidDerivedFail."
    with pytest.raises(TypeError): with_cancel(None)
    with pytest.raises(TypeError): run(lambda: with_deadline(None, gonb.now() + shortDuration))
    with pytest.raises(TypeError): with_value(None, "foo", "bar")


def test_TestDeadlineExceededSupportsTimeout():
    "x_test.go TestDeadlineExceededSupportsTimeout: DeadlineExceeded is a timeout."
    assert isinstance(DeadlineExceeded(), TimeoutError)


parentCause, childCause = Exception("parentCause"), Exception("childCause")
tooSlow, finishedEarly = Exception("tooSlow"), Exception("finishedEarly")
forever = 1e6


def _wc(): c, x = with_cancel(background()); x(); return c
def _wcc(v): c, x = with_cancel_cause(background()); x(v); return c
def _pc(pfirst, childcause):
    ctx, cp = with_cancel_cause(background())
    ctx, cc = (with_cancel_cause(ctx) if childcause is not None else with_cancel(ctx))
    cc_ = (lambda: cc(childcause)) if childcause is not None else cc
    if pfirst: cp(parentCause); cc_()
    else: cc_(); cp(parentCause)
    return ctx
def _cc(childfirst):
    ctx, cp = with_cancel(background()); ctx, cc = with_cancel_cause(ctx)
    if childfirst: cc(childCause); cp()
    else: cp(); cc(childCause)
    return ctx
def _to(d, c=None):
    ctx, x = (with_timeout(background(), d) if c is None else with_timeout_cause(background(), d, c)); x(); return ctx
def _stacked(d):
    ctx, x = with_cancel_cause(background()); ctx, _ = with_timeout_cause(ctx, d, tooSlow); x(finishedEarly); return ctx
def _wo_canceled(): ctx, x = with_cancel_cause(background()); ctx = without_cancel(ctx); x(finishedEarly); return ctx
def _wo_timeout(): ctx, x = with_timeout_cause(background(), 0, tooSlow); ctx = without_cancel(ctx); x(); return ctx


@pytest.mark.parametrize("name,make,err,want", [
    ("Background", background, None, None),
    ("TODO", todo, None, None),
    ("WithCancel", _wc, Canceled, Canceled),
    ("WithCancelCause", lambda: _wcc(parentCause), Canceled, parentCause),
    ("WithCancelCause nil", lambda: _wcc(None), Canceled, Canceled),
    ("WithCancelCause: parent cause before child", lambda: _pc(True, childCause), Canceled, parentCause),
    ("WithCancelCause: parent cause after child", lambda: _pc(False, childCause), Canceled, childCause),
    ("WithCancelCause: parent cause before nil", lambda: _pc(True, None), Canceled, parentCause),
    ("WithCancelCause: parent cause after nil", lambda: _pc(False, None), Canceled, Canceled),
    ("WithCancelCause: child cause after nil", lambda: _cc(False), Canceled, Canceled),
    ("WithCancelCause: child cause before nil", lambda: _cc(True), Canceled, childCause),
    ("WithTimeout", lambda: _to(0), DeadlineExceeded, DeadlineExceeded),
    ("WithTimeout canceled", lambda: _to(forever), Canceled, Canceled),
    ("WithTimeoutCause", lambda: _to(0, tooSlow), DeadlineExceeded, tooSlow),
    ("WithTimeoutCause canceled", lambda: _to(forever, tooSlow), Canceled, Canceled),
    ("WithTimeoutCause stacked", lambda: _stacked(0), DeadlineExceeded, tooSlow),
    ("WithTimeoutCause stacked canceled", lambda: _stacked(forever), Canceled, finishedEarly),
    ("WithoutCancel", lambda: without_cancel(background()), None, None),
    ("WithoutCancel canceled", _wo_canceled, None, None),
    ("WithoutCancel timeout", _wo_timeout, None, None),
], ids=lambda x: x if isinstance(x, str) else "")
def test_TestCause(name, make, err, want):
    "x_test.go TestCause: err and Cause after each way a context can end (Canceled/DeadlineExceeded: by class)."
    def main():
        ctx = make()
        got_err, got_cause = ctx.err(), cause(ctx)
        if err is None: assert got_err is None
        else: assert isinstance(got_err, err), f"ctx.Err() = {got_err!r} want {err.__name__}"
        if want is None: assert got_cause is None
        elif isinstance(want, type): assert type(got_cause) is want, f"Cause(ctx) = {got_cause!r} want {want.__name__}"
        else: assert got_cause is want, f"Cause(ctx) = {got_cause!r} want {want!r}"
    run(main)


def test_TestCauseRace():
    "x_test.go TestCauseRace: Cause is nil until the cancel, then exactly the cause."
    def main():
        because = Exception("TestCauseRace")
        ctx, cancel = with_cancel_cause(background())
        gonb.go(cancel, because)
        while True:
            e = cause(ctx)
            if e is not None:
                assert e is because
                break
            gonb.gosched()
    run(main)


def test_TestWithoutCancel():
    "x_test.go TestWithoutCancel."
    ctx = without_cancel(with_value(background(), "key", "value"))
    assert ctx.deadline() is None and ctx.done() is None and ctx.err() is None
    assert ctx.value("key") == "value"


class customDoneContext(otherContext):
    "x_test.go customDoneContext: a parent whose Done is a channel of its own."
    def __init__(self, c, donec): super().__init__(c); self.donec = donec
    def done(self): return self.donec


def test_TestCustomContextPropagation():
    "x_test.go TestCustomContextPropagation: a watched parent passes its cause down."
    def main():
        because = Exception("TestCustomContextPropagation")
        donec = Chan()
        ctx1, cancel1 = with_cancel_cause(background())
        ctx3, cancel3 = with_cancel(customDoneContext(ctx1, donec))
        cancel1(because)
        donec.close()
        ctx3.done().recv()
        assert isinstance(ctx3.err(), Canceled)
        assert cause(ctx3) is because
        cancel3()
    run(main)


def test_TestCustomContextCause():
    "x_test.go TestCustomContextCause (its first half: Cause of a context of another implementation is its Err)."
    class customCauseContext(Context):
        def __init__(self): self._done, self._err = Chan(), None
        def done(self): return self._done
        def err(self): return self._err
        def cancel(self): self._err = Canceled(); self._done.close()
    def main():
        ccc = customCauseContext()
        ccc.cancel()
        assert isinstance(ccc.err(), Canceled) and cause(ccc) is ccc.err()
    run(main)


def test_TestAfterFuncCalledAfterCancel():
    "x_test.go TestAfterFuncCalledAfterCancel."
    def main():
        ctx, cancel = with_cancel(background())
        donec = Chan()
        stop = after_func(ctx, donec.close)
        assert select(donec, gonb.after(shortDuration))[0] == 1, "AfterFunc called before context is done"
        cancel()
        assert select(donec, gonb.after(veryLongDuration))[0] == 0
        assert stop() is False
    run(main)


def test_TestAfterFuncCalledAfterTimeout():
    "x_test.go TestAfterFuncCalledAfterTimeout."
    def main():
        ctx, cancel = with_timeout(background(), shortDuration)
        donec = Chan()
        after_func(ctx, donec.close)
        assert select(donec, gonb.after(veryLongDuration))[0] == 0
        cancel()
    run(main)


def test_TestAfterFuncCalledImmediately():
    "x_test.go TestAfterFuncCalledImmediately."
    def main():
        ctx, cancel = with_cancel(background())
        cancel()
        donec = Chan()
        after_func(ctx, donec.close)
        assert select(donec, gonb.after(veryLongDuration))[0] == 0
    run(main)


def test_TestAfterFuncNotCalledAfterStop():
    "x_test.go TestAfterFuncNotCalledAfterStop."
    def main():
        ctx, cancel = with_cancel(background())
        donec = Chan()
        stop = after_func(ctx, donec.close)
        assert stop() is True
        cancel()
        assert select(donec, gonb.after(shortDuration))[0] == 1, "AfterFunc called for already-canceled context"
        assert stop() is False
    run(main)


def test_TestAfterFuncCalledAsynchronously():
    "x_test.go TestAfterFuncCalledAsynchronously: f runs in its own goroutine (a send the canceller waits for)."
    def main():
        ctx, cancel = with_cancel(background())
        donec = Chan()
        stop = after_func(ctx, lambda: donec.send(None))
        cancel()
        assert select(donec, gonb.after(veryLongDuration))[0] == 0
        stop()
    run(main)
