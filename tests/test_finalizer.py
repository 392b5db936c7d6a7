"""The collector inside the runtime (issue 24): finalizers that cannot break the scheduler, no preemption
inside a collection (chapter 06), and gonb.set_finalizer's finalizer goroutine (chapter 14f).

The select and stall programs run in a subprocess: SIGURG preemption needs gonb.run on the main thread,
and each needs its own GC threshold. They inherit the mode (GONB_PURE_PYTHON / GONB_REQUIRE_COMPILED)."""
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import gonb
from gonb import runtime

FINALIZER_MSG = "gonb: called from a finalizer while the garbage collector runs"

# The first scenario: a __del__ in a reference cycle runs longer than a preemption slice, and
# collections start while select queues main on its channels. CALL=1: the finalizer also calls gonb
# (a non-blocking select and a send on a buffered channel with room).
SELECT_PROGRAM = textwrap.dedent("""
    import gc, os, sys, time
    import gonb
    from gonb import Chan, select
    CALL = os.environ["CALL"] == "1"
    N = int(os.environ["N"])
    note = Chan(10 ** 6)
    class Cyc:
        def __init__(self): self.me = self
        def __del__(self):
            t = time.perf_counter() + 0.0015
            while time.perf_counter() < t: pass
            if CALL:
                gonb.select(default=True)
                note.send(1)
    def main():
        a, b = Chan(), Chan()
        def producer(c):
            for i in range(N): c.send(i)
        gonb.go(producer, a); gonb.go(producer, b)
        seen = {0: [], 1: []}
        while len(seen[0]) + len(seen[1]) < 2 * N:
            i, v, ok = select(a, b)
            seen[i].append(v)
            Cyc(); [Cyc() for _ in range(3)]
        return seen[0] == list(range(N)) and seen[1] == list(range(N))
    gc.set_threshold(20)
    print("all received in order:", gonb.run(main))
""")


def run_program(src, env_extra, timeout=120):
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, timeout=timeout, env=env)


def finalizer_errors(stderr):
    "The RuntimeError lines of the finalizers' tracebacks (CPython prints them as 'Exception ignored')."
    return [l for l in stderr.splitlines() if l.startswith("RuntimeError")]


@pytest.mark.parametrize("call", ["0", "1"])
@pytest.mark.parametrize("godebug", ["preemptslice=1ms", "preemptslice=1ms,asyncpreemptoff=1"])
def test_select_with_a_finalizer_keeps_g_states(call, godebug):
    r = run_program(SELECT_PROGRAM, {"CALL": call, "N": "150", "GODEBUG": godebug})
    assert "casgstatus" not in r.stderr and "Deadlock" not in r.stderr, r.stderr[-2000:]
    assert r.returncode == 0, r.stderr[-2000:]
    assert "all received in order: True" in r.stdout
    errors = finalizer_errors(r.stderr)
    if call == "0": assert errors == []
    else:
        # Every finalizer ran inside a collection, and each one's gonb call was refused in gonb's words;
        # those the interpreter's exit collects find the runtime gone.
        assert errors and all(FINALIZER_MSG in e or "the runtime is not running" in e for e in errors), errors[:3]
        assert sum(FINALIZER_MSG in e for e in errors) > 100


# The second scenario: a hog, select, mutex and timer workers; finalizers of about 1 ms that call
# into gonb; a 1 ms slice and GC threshold 20. A goroutine preempted or parked inside a collection kept
# CPython's collector busy: the young generation grew without bound and the program never ended.
STALL_PROGRAM = textwrap.dedent("""
    import gc, sys, time
    import gonb
    from gonb import Chan, select, sync
    SECONDS, N = 1.5, 200
    young = [0]
    class Fin:
        def __init__(self, ch): self.me, self.ch = self, ch
        def __del__(self):
            t = time.perf_counter() + 0.001
            while time.perf_counter() < t: pass
            try: self.ch.send(1)                     # refused inside a collection
            except RuntimeError: pass
    def main():
        ch, res, mu, counter = Chan(4), Chan(), sync.Mutex(), [0]
        end = time.perf_counter() + SECONDS
        def hog():
            while time.perf_counter() < end:
                Fin(ch); young[0] = max(young[0], gc.get_count()[0])
        def selector(k):
            for i in range(N):
                select(gonb.after(0.0005), default=False)
                Fin(ch)
            res.send(k)
        def locker(k):
            for i in range(N):
                mu.lock(); counter[0] += 1; Fin(ch); mu.unlock()
                gonb.sleep(0.0002)
            res.send(k)
        def sleeper(k):
            for i in range(N):
                gonb.sleep(0.0005); Fin(ch); young[0] = max(young[0], gc.get_count()[0])
            res.send(k)
        gonb.go(hog)
        workers = [selector, locker, sleeper] * 2
        for k, w in enumerate(workers): gonb.go(w, k)
        got = sorted(res.recv() for _ in workers)
        return got == list(range(len(workers))) and counter[0] == 2 * N
    gc.set_threshold(20)
    t0 = time.perf_counter()
    ok = gonb.run(main)
    print("ok", ok, "young", young[0], "seconds", round(time.perf_counter() - t0, 1))
""")


# Known gap, with asynchronous preemption off (both modes; seen in about one run in six): a hog that never calls gonb keeps the M while a
# collection that sysmon's thread started runs its 1 ms finalizers; the hog's garbage piles up behind that
# collection, the next one is longer by all of it, and the run may not finish (the last collection runs on
# sysmon's thread after main returned). Go stops the world for its collector; gonb cannot
# stop the M's thread from another one without the SIGURG handler that asyncpreemptoff removes.
RUNAWAY = "asyncpreemptoff: a collection on sysmon's thread can grow without bound behind a hog (known gap, 14f)"


@pytest.mark.parametrize("godebug", ["preemptslice=1ms",
                                     pytest.param("preemptslice=1ms,asyncpreemptoff=1", marks=pytest.mark.skip(reason=RUNAWAY))])
def test_preempted_collection_does_not_stall(godebug):
    r = run_program(STALL_PROGRAM, {"GODEBUG": godebug}, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    words = r.stdout.split()
    assert words[:2] == ["ok", "True"], r.stdout
    young = int(words[3])
    # Threshold 20: a stalled collector let it reach 73,303 and never end. It stays at the threshold
    # except while a collection runs on another thread (sysmon's): the collector is CPython's one, busy
    # with that collection's finalizers (1 ms each) while the hog allocates (measured: up to ~1,100).
    assert young < 5000, r.stdout


def test_gonb_calls_inside_a_collection_fail_clearly_from_every_kind_of_finalizer():
    errors = []

    def attempt():
        try: gonb.gosched()
        except RuntimeError as e: errors.append(str(e))

    class Cyc:
        def __init__(self): self.me = self
        def __del__(self): attempt()

    class Plain:
        "weakref callbacks need a weakref-able object; a cycle makes the collector free it."
        def __init__(self): self.me = self

    def gc_callback(phase, info):
        if phase == "start": attempt()

    import weakref
    keep = []

    def main():
        Cyc()
        p = Plain()
        keep.append(weakref.ref(p, lambda _: attempt()))
        del p
        gc.callbacks.append(gc_callback)
        try: gc.collect()
        finally: gc.callbacks.remove(gc_callback)
        # On another thread (as on sysmon's), a collection's finalizers get the same error.
        Cyc()
        t = threading.Thread(target=gc.collect)
        t.start(); t.join()
        gonb.gosched()                       # and the goroutine itself is unharmed
        return runtime.sched.m0.curg is runtime.getg()

    assert gonb.run(main) is True
    assert len(errors) == 4 and all(FINALIZER_MSG in e for e in errors), errors


def test_finalizer_on_the_scheduler_fails_clearly():
    "A __del__ run on g0 (the scheduler drops a finished goroutine's arguments) may not call gonb."
    errors = []

    class Arg:
        def __del__(self):
            try: gonb.gosched()
            except RuntimeError as e: errors.append(str(e))

    def main():
        gonb.go(lambda a: None, Arg())
        gonb.sleep(0.01)

    gonb.run(main)
    assert errors and "called on the scheduler (g0)" in errors[0], errors


class Res:
    def __init__(self, name): self.name, self.me = name, self


def test_set_finalizer_runs_on_a_goroutine_where_it_may_block():
    def main():
        done = gonb.Chan()

        def fin(name):
            gonb.sleep(0.001)
            done.send(name)                  # blocks until main receives

        for i in range(3):
            gonb.set_finalizer(Res(i), fin, i)
        gc.collect()
        return sorted(done.recv() for _ in range(3))

    assert gonb.run(main) == [0, 1, 2]


def test_set_finalizer_when_the_object_dies_outside_a_collection_and_on_another_thread():
    def main():
        done = gonb.Chan(2)
        x, y = type("X", (), {})(), type("Y", (), {})()
        gonb.set_finalizer(x, done.send, "refcount")
        gonb.set_finalizer(y, done.send, "thread")
        del x                                # freed here, by reference counting, in the goroutine
        holder = [y]
        del y
        t = threading.Thread(target=holder.clear)   # freed on another thread
        t.start(); t.join()
        return sorted(done.recv() for _ in range(2))

    assert gonb.run(main) == ["refcount", "thread"]


def test_set_finalizer_errors_removal_and_the_run_end():
    ran = []

    def main():
        r = Res("r")
        gonb.set_finalizer(r, ran.append, "no")
        with pytest.raises(RuntimeError, match="runtime.SetFinalizer: finalizer already set"):
            gonb.set_finalizer(r, ran.append, "again")
        gonb.set_finalizer(r, None)
        with pytest.raises(TypeError, match="first argument is nil"):
            gonb.set_finalizer(None, print)
        with pytest.raises(TypeError, match="cannot set a finalizer on int"):
            gonb.set_finalizer(7, print)
        with pytest.raises(TypeError, match="second argument is str, not a function"):
            gonb.set_finalizer(Res("s"), "print")
        del r
        gc.collect()
        gonb.sleep(0.01)
        keep.append(Res("kept"))
        gonb.set_finalizer(keep[-1], ran.append, "after the run")

    keep = []
    gonb.run(main)
    keep.clear(); gc.collect()               # its run is over: the finalizer was dropped with it
    assert ran == []
    with pytest.raises(RuntimeError, match="not running"):
        gonb.set_finalizer(Res("x"), print)
    # a new run starts afresh
    assert gonb.run(lambda: (gonb.set_finalizer(Res("y"), print), "ok")[1]) == "ok"


def test_a_finalizer_that_raises_ends_the_program_as_a_go_panic():
    def main():
        def boom(): raise ValueError("finalizer failed")
        gonb.set_finalizer(Res("z"), boom)
        gc.collect()
        gonb.sleep(1)

    with pytest.raises(ValueError, match="finalizer failed"):
        gonb.run(main)


def test_runfinq_does_not_hide_a_deadlock():
    def main():
        gonb.set_finalizer(Res("d"), print)
        gonb.Chan().recv()

    with pytest.raises(gonb.Deadlock):
        gonb.run(main)


def test_many_finalizers_leave_nothing_behind():
    import gonb.finalizer as fz

    def main():
        n, done = 2000, gonb.Chan(2000)
        for i in range(n): gonb.set_finalizer(Res(i), done.send, i)
        gc.collect()
        return len({done.recv() for _ in range(n)}), len(fz.finq.fins), len(fz.finq.q)

    assert gonb.run(main) == (2000, 0, 0)
    assert fz.finq.g is None and fz.finq.w == -1
    time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name == "gonb-finwaker"]


def test_a_finalizer_elsewhere_never_readies_a_goroutine_and_leaves_the_state_sound():
    """Every operation that would ready a goroutine (a mutex, rwmutex or waitgroup with waiters, a cond, a
    context's cancel, a timer on the heap, a channel) refuses a finalizer run on another thread (as on
    sysmon's) or in a collection, before it changes anything; done afterwards by a goroutine, it works."""
    from gonb import context, sync
    results = {}

    def off_goroutine(ops, collect):
        "Run each op in a finalizer on another thread, collected by a collection or by reference counting."
        class Fin:
            def __init__(self, op): self.op, self.me = op, (self if collect else None)
            def __del__(self):
                try: self.op(); results[self.op.__name__] = "ran"
                except RuntimeError as e: results[self.op.__name__] = str(e)

        def thread():
            for op in ops: Fin(op)
            gc.collect()
        t = threading.Thread(target=thread)
        t.start(); t.join()

    def main():
        mu, rw, wg, cond = sync.Mutex(), sync.RWMutex(), sync.WaitGroup(), sync.Cond(sync.Mutex())
        ctx, cancel = context.with_cancel(context.background())
        ch, timer, order = gonb.Chan(), gonb.after_func(60, print), []   # a func timer: on the heap
        mu.lock(); rw.lock(); wg.add(1)
        gonb.go(lambda: (mu.lock(), order.append("mutex")))
        gonb.go(lambda: (rw.rlock(), order.append("rwmutex")))
        gonb.go(lambda: (wg.wait(), order.append("waitgroup")))
        gonb.go(lambda: (cond.L.lock(), cond.wait(), order.append("cond"), cond.L.unlock()))
        gonb.go(lambda: (ctx.done().recv(), order.append("context")))
        gonb.go(lambda: (ch.recv(), order.append("chan")))
        gonb.sleep(0.01)                     # all parked

        def mutex_unlock(): mu.unlock()
        def rwmutex_unlock(): rw.unlock()
        def waitgroup_done(): wg.done()
        def cond_signal(): cond.signal()
        def context_cancel(): cancel()
        def timer_stop(): timer.stop()
        def chan_send(): ch.send(1)
        ops = [mutex_unlock, rwmutex_unlock, waitgroup_done, cond_signal, context_cancel, timer_stop, chan_send]
        off_goroutine(ops, collect=True)
        off_goroutine(ops, collect=False)
        gonb.sleep(0.01)
        parked = sorted(g[1] for g in gonb.goroutines() if g[0] != 1)
        for op in ops: op()                  # now from a goroutine: each works
        gonb.sleep(0.01)
        return parked, sorted(order)

    parked, order = gonb.run(main)
    assert parked == ["waiting"] * 6         # nothing was readied from the finalizers
    assert order == sorted(["mutex", "rwmutex", "waitgroup", "cond", "context", "chan"])
    assert set(results) == {"mutex_unlock", "rwmutex_unlock", "waitgroup_done", "cond_signal", "context_cancel",
                            "timer_stop", "chan_send"}
    assert all(r.startswith("gonb:") for r in results.values()), [r for r in results.values() if not r.startswith("gonb:")]
