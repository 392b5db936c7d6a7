"""Run twice: after `gonb.run` returns, however its program ended and whatever it left behind, the next run
starts from exactly the state the first one did, in every subsystem: the scheduler (`sched`), the pollcache,
the poller, sysmon, the timers, signals, the tracer and the lab's observers. Each case runs in a fresh
process (its first run is a process's first), in the mode and on the backend the environment selects.

Known and kept: the helper threads of `gonb.syscall` are a process's, as Go's idle Ms are: a later run
reuses them (`syscallThreads.idle` is not compared)."""
import json, os, subprocess, sys, textwrap
from pathlib import Path

import pytest

from conftest import BACKENDS

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = textwrap.dedent(r'''
    import json, os, signal, sys, tempfile, threading, time
    import gonb
    from gonb import net, runtime, sysmon, pollcache
    from gonb import signal as gsignal
    from gonb import trace
    from gonb.runtime import sched
    from gonb.bench.servers import WakeLatency

    T0 = time.monotonic_ns()

    def describe(v):
        "A value as a run's state: plain values as they are, objects by kind and size (each run makes new ones)."
        if v is None or isinstance(v, (bool, str, float)): return v
        if isinstance(v, int): return "<time>" if T0 <= v <= time.monotonic_ns() else v   # nanotime stamps differ from run to run
        if isinstance(v, runtime.G): return ["G", v.goid, v.status, v.waitreason, v.system]
        if isinstance(v, (runtime.M, runtime.P)): return type(v).__name__
        if isinstance(v, threading.Event): return ["Event", v.is_set()]
        if isinstance(v, threading.Thread): return ["Thread", v.name, v.is_alive()]
        if hasattr(v, "locked"): return ["lock", v.locked()]
        if isinstance(v, (list, tuple, dict, set, frozenset)) or type(v).__name__ == "deque": return [type(v).__name__, len(v)]
        return type(v).__name__

    # generation counts runs: it must differ. sysmonpoll is sysmon's request to the M, made from sysmon's thread
    # whenever the last poll is 10 ms old: on a loaded machine it may be set before goroutine 1 looks, so it is
    # checked where no sysmon runs, right after each run returns (idle below)
    FIELDS = sorted(a for a in dir(sched) if not a.startswith("_") and not callable(getattr(sched, a))
                    and a not in ("generation", "sysmonpoll"))

    def state():
        "Every subsystem's state, as goroutine 1 finds it when it starts."
        pp = sched.p0
        return {
            "sched": {f: describe(getattr(sched, f)) for f in FIELDS},
            "p0": {"status": pp.status, "runq": pp.runqtail - pp.runqhead, "runnext": describe(pp.runnext),
                   "schedtick": pp.schedtick, "syscalltick": pp.syscalltick, "timers": len(pp.timers)},
            "goroutines": [g[:3] for g in gonb.goroutines()],   # (goid, status, wait reason); main's function differs
            "pollcache": [pollcache.pollcache.nfree(), len(pollcache.pollcache.blocks)],
            "poller": describe(sched.poller),
            "sysmon": {"forcegc": [describe(sysmon.forcegcstate.g), sysmon.forcegcstate.idle, sysmon.forcegcstate.count],
                       "preempt": [sysmon.preemptstate.slice, sysmon.preemptstate.latency, sysmon.preemptstate.tick],
                       "thread": describe(sched.sysmon), "log": sysmon.sysmonlog},
            "signals": {"wanted": sorted(gsignal.sig.wanted), "saved": sorted(gsignal.sig.saved),
                        "pending": sorted(gsignal.sig.pending), "receiving": gsignal.sig.receiving,
                        "pair": [gsignal.sig.w is None, gsignal.sig.r is None],
                        "handlers": [len(gsignal.handlers.m), len(gsignal.handlers.ref), len(gsignal.handlers.stopping)]},
            "tracer": [trace._tracer is None, any(isinstance(o, trace.Tracer) for o in sched.observers)],
            "observers": [describe(sched.observers), sched.observing],
            "subsystems": list(runtime.subsystems),
        }

    seen, kept = [], []
    def clean():
        seen.append(state())

    def messy():
        "Leave behind all a program can: parked goroutines, armed timers, fds, signals, observers, a trace."
        seen.append(state())
        ln = net.listen("tcp", "127.0.0.1:0")
        gonb.go(lambda: kept.append(ln.accept()))       # kept past the run: a collected conn would close, and
        c = net.dial("tcp", str(ln.addr()))              # its peer's parked read would wake with EOF and panic
        kept.append(c)
        gonb.go(c.read, bytearray(8))                        # parked in the poller, three fds open
        gonb.go(ln.accept)
        gonb.go(gonb.Chan().recv)                            # parked on a channel forever
        gonb.go(gonb.sleep, 60)                              # a timer armed for a minute
        gonb.after_func(30, lambda: None)
        if threading.current_thread() is threading.main_thread():
            gsignal.notify(gonb.Chan(1), signal.SIGUSR1)     # a handler, the signal loop and its socketpair
        runtime.trace_start()                                # the state trace, never stopped
        runtime.observe_start(WakeLatency())                 # the lab's counters, never stopped
        trace.start(os.path.join(tempfile.mkdtemp(), "t.json"))   # the tracer, never stopped
        gonb.syscall(time.sleep, 0.03)                       # outlasts a sysmon tick: the P is handed off
        t0 = gonb.now()
        while gonb.now() - t0 < 0.03: pass                   # a hog: sysmon preempts it
        if sys.argv[1] == "panic": raise ValueError("the program dies")
        return "returned"

    idle = []
    def ended():
        "What a run leaves in the fields that only a live run's threads change."
        idle.append({"sysmonpoll": sched.sysmonpoll, "sysmon": describe(sched.sysmon)})

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGUSR1), sys.getswitchinterval()
    gonb.run(clean)                                          # a process's first run
    ended()
    try: gonb.run(messy)
    except ValueError as e: print("ended:", type(e).__name__, file=sys.stderr)
    ended()
    after = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGUSR1), sys.getswitchinterval()
    gonb.run(clean)                                          # and the run after the mess
    ended()
    print(json.dumps({"runs": seen, "idle": idle, "handlers_restored": before == after}))
''')


@pytest.mark.parametrize("ending", ["return", "panic"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_starts_as_the_first_did(tmp_path, backend, ending):
    script = tmp_path / "rerun.py"
    script.write_text(PROGRAM)
    p = subprocess.run([sys.executable, str(script), ending], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env=dict(os.environ, GONB_NETPOLL=backend, GONB_TRACE=""))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.splitlines()[-1])
    first, messy, after = out["runs"]
    assert set(first["subsystems"]) >= {"sysmon", "signal", "pollcache", "trace"}
    for name in first:   # subsystem by subsystem, so that a failure names the one that kept state
        assert messy[name] == first[name], name
        assert after[name] == first[name], name
    assert out["idle"] == [{"sysmonpoll": False, "sysmon": None}] * 3   # no request outlives its run
    assert out["handlers_restored"]
    if ending == "return": assert p.stderr == ""
    else: assert p.stderr.strip() == "ended: ValueError"


def test_the_comparison_sees_kept_state(tmp_path):
    "The state compared is not blind: a subsystem that keeps state across runs shows up, by name."
    script = tmp_path / "rerun.py"
    # a subsystem that keeps a counter across runs, as pollcache did before it reset
    leaky = PROGRAM.replace("gonb.run(clean)                                          # and the run after the mess",
                            "pollcache.pollcache.alloc()\ngonb.run(clean)")
    assert leaky != PROGRAM
    script.write_text(leaky)
    p = subprocess.run([sys.executable, str(script), "return"], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env=dict(os.environ, GONB_TRACE=""))
    assert p.returncode == 0, p.stderr
    first, _, after = json.loads(p.stdout.splitlines()[-1])["runs"]
    assert after["pollcache"] == first["pollcache"]   # the reset hook runs at the start of a run too
    leaky = PROGRAM.replace("try: gonb.run(messy)", "del runtime.subsystems['pollcache']\ntry: gonb.run(messy)")
    assert leaky != PROGRAM
    script.write_text(leaky)
    p = subprocess.run([sys.executable, str(script), "return"], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env=dict(os.environ, GONB_TRACE=""))
    first, _, after = json.loads(p.stdout.splitlines()[-1])["runs"]
    assert after["pollcache"] != first["pollcache"]   # without its reset, the cache of the messy run shows
