"""Channels (chapter 09): the behaviours Go's runtime/chan_test.go checks, in gonb's words."""
import collections

import pytest

import gonb
from gonb import net
from gonb.chan import Chan, SendOnClosedChannel, CloseOfClosedChannel, plainError
from goutil import gomain, track, echo, read_exactly, wait_parked, wait_until, watchdog

SIZES = [0, 1, 2, 3, 5]


@pytest.mark.parametrize("n", SIZES)
def test_recv_blocks_until_a_send(gorun, n):
    got = []

    def main():
        c = Chan(n)
        gonb.go(lambda: got.append(c.recv()))
        wait_parked(1, "chan receive")
        assert got == []
        c.send(7)
        gonb.gosched()
        return got
    assert gorun(main) == [7]


@pytest.mark.parametrize("n", SIZES)
def test_send_blocks_when_the_buffer_is_full(gorun, n):
    sent = []

    def main():
        c = Chan(n)
        for i in range(n): c.send(i)                    # fills the buffer without blocking
        assert (len(c), c.cap) == (n, n)
        gonb.go(lambda: (c.send("more"), sent.append(True)))
        wait_parked(1, "chan send")
        assert sent == [] and len(c) == n
        got = [c.recv() for _ in range(n + 1)]
        gonb.gosched()
        return got
    assert gorun(main) == list(range(n)) + ["more"]
    assert sent == [True]


@pytest.mark.parametrize("n", SIZES)
def test_fifo_through_buffer_and_parked_senders(gorun, n):
    def main():
        c = Chan(n)
        def producer():
            for i in range(200): c.send(i)
            c.close()
        gonb.go(producer)
        return list(c)                                  # range: ends at close, after draining
    assert gorun(main) == list(range(200))


@pytest.mark.parametrize("n", SIZES)
def test_len_and_cap(gorun, n):
    def main():
        c = Chan(n)
        lens = []
        for i in range(n):
            c.send(i)
            lens.append(len(c))
        drained = []
        while len(c):
            c.recv()
            drained.append(len(c))
        return lens, drained, c.cap
    assert gorun(main) == (list(range(1, n + 1)), list(range(n - 1, -1, -1)), n)


@pytest.mark.parametrize("n", SIZES)
def test_closed_channel_drains_then_gives_zero_values(gorun, n):
    def main():
        c = Chan(n)
        for i in range(n): c.send(i)
        c.close()
        drained = [c.recv_ok() for _ in range(n)]
        return drained, [c.recv_ok() for _ in range(3)], c.recv(), len(c)
    drained, after, v, length = gorun(main)
    assert drained == [(i, True) for i in range(n)]
    assert after == [(None, False)] * 3 and v is None and length == 0


@pytest.mark.parametrize("n", SIZES)
def test_close_wakes_every_parked_receiver(gorun, n):
    got = []

    def main():
        c = Chan(n)
        for _ in range(4): gonb.go(lambda: got.append(c.recv_ok()))
        wait_parked(4, "chan receive")
        c.close()
        wait_until(lambda: len(got) == 4, what="every receiver woken")
        return list(c.recvq)
    assert gorun(main) == []
    assert got == [(None, False)] * 4


def test_close_makes_parked_senders_panic(gorun):
    errs = []

    def sender(c, v):
        try: c.send(v)
        except SendOnClosedChannel as e: errs.append(str(e))

    def main():
        c = Chan()
        for v in range(3): gonb.go(sender, c, v)
        wait_parked(3, "chan send")
        c.close()
        wait_until(lambda: len(errs) == 3, what="every sender woken")
        return list(c.sendq)
    assert gorun(main) == []
    assert errs == ["send on closed channel"] * 3


def test_send_and_close_on_closed_channel_panic(gorun):
    def main():
        c = Chan(1)
        c.close()
        with pytest.raises(SendOnClosedChannel, match="^send on closed channel$"):
            c.send(1)
        with pytest.raises(CloseOfClosedChannel, match="^close of closed channel$"):
            c.close()
        return isinstance(SendOnClosedChannel(), RuntimeError) and isinstance(CloseOfClosedChannel(), RuntimeError)
    assert gorun(main)


def test_uncaught_channel_panic_ends_the_program(gorun):
    def main():
        c = Chan()
        c.close()
        gonb.go(c.send, 1)
        gonb.sleep(1)
    with pytest.raises(SendOnClosedChannel) as ei:
        gorun(main)
    assert "panic in goroutine" in " ".join(getattr(ei.value, "__notes__", []))


@pytest.mark.parametrize("n", SIZES)
def test_non_blocking_operations(gorun, n):
    def main():
        c = Chan(n)
        r = [gonb.select(c, default=True)]                      # nothing to receive
        r += [gonb.select((c, i), default=True)[0] for i in range(n + 1)]  # n fit, then full
        r.append([gonb.select(c, default=True) for _ in range(n)])
        c.close()
        r.append(gonb.select(c, default=True))                  # closed: proceeds, ok false
        return r
    r = gorun(main)
    assert r[0] == (-1, None, False)
    assert r[1:n + 2] == [0] * n + [-1]
    assert r[n + 2] == [(0, i, True) for i in range(n)]
    assert r[n + 3] == (0, None, False)


def test_non_blocking_send_reaches_a_parked_receiver(gorun):
    got = []

    def main():
        c = Chan()
        assert gonb.select((c, 1), default=True)[0] == -1       # unbuffered, nobody waiting
        gonb.go(lambda: got.append(c.recv()))
        wait_parked(1, "chan receive")
        assert gonb.select((c, 2), default=True) == (0, None, True)
        gonb.gosched()
    gorun(main)
    assert got == [2]


@pytest.mark.parametrize("n", [0, 1, 10])
def test_many_producers_and_consumers_deliver_every_value_once(gorun, n):
    producers, consumers, per = 6, 5, 500
    got = collections.Counter()

    def main():
        c, done = Chan(n), Chan()

        def producer(p):
            for i in range(per): c.send((p, i))
            done.send(None)

        def consumer():
            for v in c: got[v] += 1
            done.send(None)

        for p in range(producers): gonb.go(producer, p)
        for _ in range(consumers): gonb.go(consumer)
        for _ in range(producers): done.recv()
        c.close()
        for _ in range(consumers): done.recv()
    gorun(main)
    assert len(got) == producers * per and set(got.values()) == {1}


def test_values_are_not_kept_alive_by_the_buffer(gorun):
    import weakref

    class Box: pass

    def main():
        c = Chan(2)
        b = Box()
        ref = weakref.ref(b)
        c.send(b)
        del b
        c.recv()
        return ref() is None
    assert gorun(main)


def test_deadlock_when_main_waits_on_a_channel_nobody_sends_on(gorun):
    with pytest.raises(gonb.Deadlock, match="^all goroutines are asleep - deadlock!$"):
        gorun(lambda: Chan().recv())


def test_deadlock_when_every_goroutine_waits_on_channels(gorun):
    def main():
        a, b = Chan(), Chan()
        gonb.go(lambda: (a.recv(), b.send(1)))
        gonb.go(lambda: Chan(1).send(1) or Chan(1).send(2) or Chan().send(3))
        b.recv()                                  # a is never sent on: all three wait forever
    with pytest.raises(gonb.Deadlock):
        gorun(main)


def test_no_deadlock_while_a_sleeper_can_still_send(gorun):
    def main():
        c = Chan()
        gonb.go(lambda: (gonb.sleep(0.05), c.send("late")))
        return c.recv()
    assert gorun(main) == "late"


def test_goroutine_dump_shows_chan_wait_reasons(gorun):
    def main():
        full = Chan()
        gonb.go(Chan().recv)
        gonb.go(full.send, 1)
        gonb.go(gonb.select, Chan(), Chan())
        gonb.go(gonb.select)
        for reason in ("chan receive", "chan send", "select", "select (no cases)"):
            wait_parked(1, reason)
        return sorted(g[2] for g in gonb.goroutines() if g[1] == "waiting")
    assert gorun(main) == ["chan receive", "chan send", "select", "select (no cases)"]


def test_parked_waiters_leave_the_queues_when_the_run_ends(gorun):
    c, d = Chan(), Chan(1)

    def main():
        d.send("kept")
        for _ in range(3): gonb.go(c.recv)
        gonb.go(gonb.select, c, (d, "x"))
        wait_parked(3, "chan receive"); wait_parked(1, "select")
    gorun(main)
    assert list(c.recvq) == [] and list(d.sendq) == []
    assert gorun(lambda: (gonb.select((c, 1), default=True), d.recv())) == ((-1, None, False), "kept")


def test_bad_input_and_calls_outside_a_goroutine(gorun):
    with pytest.raises(plainError, match="makechan: size out of range"):
        Chan(-1)
    with pytest.raises(TypeError):
        Chan("3")
    with pytest.raises(RuntimeError, match="runtime is not running"):
        Chan(1).send(1)
    assert bool(Chan()) and bool(Chan(3))           # an empty channel is still a channel


def test_channels_carry_results_from_goroutines_reading_connections(gorun, fd_baseline):
    conns, rounds = 20, 10

    @gomain
    def main():
        watchdog(20, "chan + net")
        ln = track(net.listen("tcp", "127.0.0.1:0"))

        def serve():
            while True:
                try: gonb.go(echo, ln.accept())
                except net.ErrClosed: return
        gonb.go(serve)
        results = Chan()

        def client(k):
            with net.dial("tcp", str(ln.addr())) as conn:
                total = 0
                for r in range(rounds):
                    msg = f"{k}:{r};".encode()
                    conn.write(msg)
                    assert read_exactly(conn, len(msg)) == msg
                    total += len(msg)
            results.send((k, total))

        for k in range(conns): gonb.go(client, k)
        got = dict(results.recv() for _ in range(conns))
        ln.close()
        return got
    got = gorun(main)
    assert got == {k: sum(len(f"{k}:{r};") for r in range(rounds)) for k in range(conns)}


@pytest.mark.parametrize("asyncpreempt", [True, False], ids=["preempt", "asyncpreemptoff"])
def test_a_cpu_hog_preempted_by_sysmon_does_not_stop_a_ping_pong(monkeypatch, asyncpreempt):
    # Async preemption needs the main thread: pytest runs tests there; gonb.run is called directly.
    # With GODEBUG=asyncpreemptoff=1 the same hog starves the pair: the test can tell the difference.
    import threading
    assert threading.current_thread() is threading.main_thread()
    if not asyncpreempt: monkeypatch.setenv("GODEBUG", "asyncpreemptoff=1")
    hog_seconds = 0.6

    def main():
        ping, pong = Chan(), Chan()
        hog_span = []

        def ponger():
            for v in ping: pong.send(v + 1)

        def hog():
            import time
            t0 = time.monotonic()
            x = 0
            while time.monotonic() - t0 < hog_seconds: x += 1    # never calls into gonb
            hog_span.extend([t0, time.monotonic()])

        gonb.go(ponger)
        stamps = []
        v = 0
        ping.send(v); v = pong.recv()                # the pair is running
        gonb.go(hog)
        t_end = gonb.now() + hog_seconds + 0.3
        while gonb.now() < t_end:
            ping.send(v)
            v = pong.recv()
            stamps.append(gonb.now())
        ping.close()
        return stamps, hog_span
    stamps, (h0, h1) = gonb.run(main)
    during = [t for t in stamps if h0 + 0.05 < t < h1 - 0.05]
    assert h1 - h0 >= hog_seconds
    if asyncpreempt: assert len(during) >= 20, f"only {len(during)} round trips while the hog ran"
    else: assert during == []


def test_channel_operations_are_preemption_points(monkeypatch):
    # Without the signal, a goroutine looping on channel operations that never block is still
    # stopped by sysmon at its next operation, so the sleeping main gets to run and stop it.
    monkeypatch.setenv("GODEBUG", "asyncpreemptoff=1")

    def main():
        c, stop = Chan(1), []

        def spinner():
            t0 = gonb.now()
            while not stop and gonb.now() - t0 < 5:
                c.send(1)
                c.recv()
        gonb.go(spinner)
        t0 = gonb.now()
        gonb.sleep(0.02)
        stop.append(True)
        return gonb.now() - t0
    assert gonb.run(main) < 1.0


def test_chan_bench_runs():
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent.parent / "bench" / "chan_bench.py"
    spec = importlib.util.spec_from_file_location("chan_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = bench.measure(300, 1, {"gonb", "asyncio.Queue"})
    assert set(r) == {"gonb", "asyncio.Queue"}
    assert all(rate > 0 for peer in r.values() for rate in peer.values())


def test_nil_channel(gorun):
    "Go's nil channel (gonb.chan.nil): send and receive park forever with Go's reasons, close panics, select skips it."
    from gonb.chan import nil

    def main():
        gonb.go(nil.send, 1); gonb.go(nil.recv); gonb.go(nil.recv_ok)
        wait_parked(1, "chan send (nil chan)"); wait_parked(2, "chan receive (nil chan)")
        with pytest.raises(plainError, match="^close of nil channel$"): nil.close()
        c = Chan(1); c.send("v")
        assert gonb.select(nil, (nil, 0), c) == (2, "v", True)
        assert gonb.select(nil, default=True) == (-1, None, False)
        assert (len(nil), nil.cap, bool(nil)) == (0, 0, False)
    gorun(main)
    with pytest.raises(gonb.Deadlock): gorun(lambda: nil.recv())
