"""gonb.context, with dial_context: the tree, deadlines, values, and cancellation that reaches a parked dial."""
import socket

import pytest

import gonb
from gonb import context, net
from gonb.context import background, todo, with_cancel, with_deadline, with_timeout, with_value, Canceled, DeadlineExceeded
from gonb.runtime import sched
from goutil import track, gomain


def is_done(ctx):
    return gonb.select(ctx.done(), default=True)[0] == 0


def test_roots():
    assert background().done() is None and background().err() is None and background().deadline() is None
    assert str(background()) == "context.Background" and str(todo()) == "context.TODO"
    assert background().value("k") is None


def test_tree_cancels_down_never_up(gorun):
    def main():
        root, cancel_root = with_cancel(background())
        a, cancel_a = with_cancel(root)
        b, _ = with_cancel(root)
        a1, _ = with_cancel(a)
        a2, _ = with_timeout(a, 3600)
        v = with_value(a1, "k", "v")
        a1.done()                                   # made before, closed by the cancel
        cancel_a()
        assert all(isinstance(c.err(), Canceled) and is_done(c) for c in (a, a1, a2, v))
        assert a1.err() is a.err()                  # the parent's reason, passed down
        assert root.err() is None and b.err() is None and not is_done(root) and not is_done(b)
        assert list(root.children) == [b]           # a left its parent
        assert sched.p0.ntimers == 0                # a2's timer stopped with it
        late, _ = with_cancel(a)                    # a child of a canceled parent is born canceled
        assert isinstance(late.err(), Canceled)
        cancel_root()
        assert isinstance(b.err(), Canceled) and str(b.err()) == "context canceled"
    gorun(main)


def test_deadlines(gorun):
    def main():
        ctx, cancel = with_timeout(background(), 0.03)
        t0 = gonb.now()
        assert ctx.deadline() == pytest.approx(t0 + 0.03, abs=0.01)
        ctx.done().recv()
        assert gonb.now() - t0 >= 0.029
        err = ctx.err()
        assert isinstance(err, DeadlineExceeded) and isinstance(err, TimeoutError)
        assert str(err) == "context deadline exceeded"
        cancel()
        assert ctx.err() is err                     # cancel after the deadline changes nothing
        past, _ = with_deadline(background(), gonb.now() - 1)
        assert isinstance(past.err(), DeadlineExceeded)
        parent, _ = with_timeout(background(), 0.05)
        child, _ = with_timeout(parent, 3600)       # a later deadline than the parent's is the parent's
        assert child.deadline() == parent.deadline()
        child.done().recv()
        assert isinstance(child.err(), DeadlineExceeded)
        parent, cancel_parent = with_timeout(background(), 3600)
        short, cancel_short = with_timeout(parent, 0.001)
        short.done().recv()
        assert parent.err() is None                 # the child's deadline did not touch the parent
        cancel_short(); cancel_parent()
    gorun(main)


def test_values():
    ctx = with_value(with_value(background(), "a", 1), "b", 2)
    c2, _ = with_cancel(ctx)
    assert (c2.value("a"), c2.value("b"), c2.value("c")) == (1, 2, None)
    assert str(ctx) == "context.Background.WithValue(a, int).WithValue(b, int)"   # Go 1.23's stringify
    assert str(with_value(background(), "k1", "c1k1")) == "context.Background.WithValue(k1, c1k1)"
    with pytest.raises(TypeError, match="nil key"): with_value(background(), None, 1)
    with pytest.raises(TypeError, match="key is not comparable"): with_value(background(), {}, 1)
    with pytest.raises(TypeError, match="cannot create context from nil parent"): with_cancel(None)
    with pytest.raises(TypeError): with_timeout(background(), "1")


def test_a_parent_of_another_implementation_is_watched(gorun):
    class ChanCtx(context.Context):
        "A user's context: done when its channel closes."
        def __init__(self): self.ch, self.e = gonb.Chan(), None
        def done(self): return self.ch
        def err(self): return self.e

    def main():
        p = ChanCtx()
        c, _ = with_cancel(p)
        p.e = Canceled("custom")
        p.ch.close()
        c.done().recv()
        return str(c.err())
    assert gorun(main) == "custom"


def black_hole():
    "A listening address whose full accept queue makes a connect park (Linux drops the SYN)."
    ln = socket.socket(); ln.bind(("127.0.0.1", 0)); ln.listen(0)
    socks = [ln]
    while True:
        c = socket.socket(); c.settimeout(0.2)
        try: c.connect(ln.getsockname())
        except OSError: c.close(); break
        socks.append(c)
    return "%s:%d" % ln.getsockname(), socks


def test_dial_context_canceled_or_expired_before_the_dial(gorun):
    def main():
        ln = track(net.listen("tcp", "127.0.0.1:0")); addr = str(ln.addr())
        ctx, cancel = with_cancel(background()); cancel()
        with pytest.raises(net.OpError) as ei: context.dial_context(ctx, "tcp", addr)
        assert str(ei.value) == f"dial tcp {addr}: operation was canceled"
        assert isinstance(ei.value, Canceled) and not isinstance(ei.value, TimeoutError)
        ctx, _ = with_deadline(background(), gonb.now() - 1)
        with pytest.raises(TimeoutError) as ei: context.dial_context(ctx, "tcp", addr)
        assert str(ei.value) == f"dial tcp {addr}: i/o timeout" and ei.value.timeout()
        assert isinstance(ei.value, DeadlineExceeded)
        with context.dial_context(with_timeout(background(), 5)[0], "tcp", addr) as c:   # a live context dials
            s = track(ln.accept()); c.write(b"x"); assert s.read(bytearray(1)) == 1
        with pytest.raises(TypeError, match="nil context"): context.dial_context(None, "tcp", addr)
    gorun(gomain(main))


@pytest.mark.parametrize("how", ["cancel", "deadline"])
def test_dial_context_wakes_a_parked_dial(gorun, fd_baseline, how):
    hole, socks = black_hole()
    try:
        def main():
            if how == "cancel":
                ctx, cancel = with_cancel(background())
                gonb.go(lambda: (gonb.sleep(0.1), cancel()))
            else:
                ctx, _ = with_timeout(background(), 0.1)
            t0 = gonb.now()
            with pytest.raises(net.OpError) as ei: context.dial_context(ctx, "tcp", hole)
            took = gonb.now() - t0
            words = "operation was canceled" if how == "cancel" else "i/o timeout"
            assert str(ei.value) == f"dial tcp {hole}: {words}"
            assert 0.09 <= took < 2, took           # woken by the context, not by the kernel's SYN retries
            assert sched.netpollWaiters == 0        # nothing left parked
            gonb.sleep(0.01)                        # the interrupter, readied by connect's last receive, ends
            return [fn for _, _, _, fn in gonb.goroutines()]
        alive = gorun(main)
        assert not any("connectInterrupter" in fn for fn in alive), alive   # the helper goroutine is gone
    finally:
        for s in socks: s.close()
