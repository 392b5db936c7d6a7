"""The execution tracer (chapter 13): valid Chrome trace-event JSON, goroutine tracks named after their
functions, the poller's and the go statement's flows, preemption of a hog, the summary, and a whole file
however the program ends. Programs that need SIGURG (the main thread) run in a subprocess."""
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

import gonb
from gonb import trace
from gonb.runtime import sched

from conftest import BACKENDS
from goutil import gomain, tcp_pair, read_exactly, echo


def check_trace(path):
    "Load `path` as strict JSON and check the trace-event rules every viewer relies on; returns the events."
    with open(path) as f: events = json.load(f)
    assert isinstance(events, list) and events
    last, depth = {}, {}
    for e in events:
        for k in ("ph", "ts", "pid", "tid"): assert k in e, e
        if e["ph"] == "M": continue
        track = (e["pid"], e["tid"])
        assert e["ts"] >= last.get(track, float("-inf")), f"time goes backwards on {track}: {e}"
        last[track] = e["ts"]
        if e["ph"] == "X": assert e["dur"] >= 0, e
        elif e["ph"] == "B": depth[track] = depth.get(track, 0) + 1
        elif e["ph"] == "E":
            depth[track] = depth.get(track, 0) - 1
            assert depth[track] >= 0, f"E without B on {track}: {e}"
    assert {t: d for t, d in depth.items() if d} == {}, "unbalanced B/E"
    return events


def track_names(events):
    return {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}


def tid_of(events, suffix):
    "The goroutine track whose function name ends with `suffix`."
    return next(t for t, n in track_names(events).items() if t < trace.mTid and n.endswith(suffix))


def slices(events, tid):
    "(name, start, end) of the B/E slices on one goroutine track."
    out, open_ = [], None
    for e in events:
        if e["tid"] != tid: continue
        if e["ph"] == "B": open_ = (e["name"], e["ts"])
        elif e["ph"] == "E": out.append((open_[0], open_[1], e["ts"]))
    return out


def echo_program():
    "Three echo round trips through a listener, a dialer and a handler goroutine, plus a blocking syscall."
    ln, c, s = tcp_pair()
    gonb.go(echo, s)
    for i in range(3):
        c.write(b"ping%d" % i)
        assert read_exactly(c, 5) == b"ping%d" % i
    gonb.syscall(time.sleep, 0.05)     # outlasts a sysmon tick: handed off


def test_trace_is_valid_and_tracks_are_named(gorun, tmp_path):
    path = str(tmp_path / "t.json")
    with trace.tracing(path):
        gorun(gomain(echo_program))
    assert sched.observers == () and not sched.observing
    events = check_trace(path)
    names = track_names(events)
    assert names[trace.mTid] == "M0" and names[trace.sysmonTid] == "sysmon"
    goroutines = {n.split(" ", 1)[1] for t, n in names.items() if t < trace.mTid}
    assert {"gomain.wrapped", "forcegchelper", "echo"} <= goroutines
    states = {e["name"] for e in events if e["ph"] == "B"}
    assert {"running", "runnable", "IO wait", "syscall", "schedule"} <= states
    handler = tid_of(events, " echo")
    go_in = [e["id"] for e in events if e["ph"] == "f" and e["name"] == "go" and e["tid"] == handler]
    go_out = [e for e in events if e["ph"] == "s" and e["name"] == "go" and e["id"] in go_in]
    assert len(go_in) == 1 and names[go_out[0]["tid"]].endswith("gomain.wrapped")   # main's go statement
    assert any(e["ph"] == "i" and e["name"] == "handoff" for e in events)         # the 50 ms syscall
    assert any(e["ph"] == "X" and e["name"] == "netpoll block" for e in events)


def test_a_readers_io_wait_ends_after_the_netpollready_that_readied_it(gorun, tmp_path):
    path = str(tmp_path / "t.json")

    def main():
        ln, c, s = tcp_pair()
        got = []
        def reader(): got.append(read_exactly(s, 5))
        gonb.go(reader)
        gonb.sleep(0.03)                  # the reader parks in IO wait
        c.write(b"hello")
        gonb.sleep(0.03)
        assert got == [b"hello"]

    with trace.tracing(path):
        gorun(gomain(main))
    events = check_trace(path)
    reader = tid_of(events, "main.reader")
    io = [sl for sl in slices(events, reader) if sl[0] == "IO wait"]
    assert len(io) == 1 and io[0][2] - io[0][1] >= 20_000          # µs: parked until the write
    arrow = next(e for e in events if e["ph"] == "f" and e["name"] == "netpollready" and e["tid"] == reader)
    assert arrow["ts"] == io[0][2]                                  # the slice ends where the arrow lands
    ready = next(e for e in events if e["ph"] == "s" and e["id"] == arrow["id"])
    assert io[0][1] < ready["ts"] <= io[0][2]                      # readied during the wait, before it ended
    poll = [e for e in events if e["tid"] == ready["tid"] and e.get("cat") != "flow" and "netpoll" in e.get("name", "")
            and e["ts"] <= ready["ts"] and e["args"]["ready"] >= 1]
    assert poll and ready["tid"] in (trace.mTid, trace.sysmonTid)


def test_start_inside_a_run_sees_the_goroutines_alive_then(gorun, tmp_path):
    path = str(tmp_path / "t.json")

    def main():
        def sleeper(): gonb.sleep(0.05)
        gonb.go(sleeper)
        gonb.sleep(0.01)
        trace.start(path)
        with pytest.raises(RuntimeError, match="tracing is already enabled"): trace.start(path)
        gonb.sleep(0.08)
        assert trace.stop() == path
        assert trace.stop() is None

    gorun(main)
    events = check_trace(path)
    sleeper = tid_of(events, "main.sleeper")
    assert slices(events, sleeper)[0][:2] == ("sleep", 0.0)        # asleep when the trace began


def test_memory_stays_bounded_while_the_file_grows(gorun, tmp_path):
    path = str(tmp_path / "t.json")
    peak = []

    def main():
        def spin():
            for _ in range(5_000): gonb.gosched()
        for _ in range(4): gonb.go(spin)
        for _ in range(200):
            peak.append(len(trace._tracer.buf))
            gonb.sleep(0.0005)

    with trace.tracing(path):
        gorun(main)
    events = check_trace(path)
    assert len(events) > 10 * trace.Tracer.flushEvery
    assert max(peak) <= trace.Tracer.flushEvery + 8    # + what sysmon may append during one flush


def run_program(code, path, backend, timeout=60):
    "Run a gonb program in its own process (main thread: SIGURG works) with GONB_TRACE=path."
    env = dict(os.environ, GONB_TRACE=path, GONB_NETPOLL=backend)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=timeout)


HOG = """
import gonb
def hog():
    x = 0
    while True: x += 1
def main():
    gonb.go(hog)
    gonb.sleep(0.3)     # wakes only because sysmon preempts the hog
gonb.run(main)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hog_runs_in_10ms_slices_cut_by_preemptions(backend, tmp_path):
    path = str(tmp_path / "hog.json")
    r = run_program(HOG, path, backend)
    assert r.returncode == 0, r.stderr
    events = check_trace(path)
    hog = tid_of(events, " hog")
    runs = [sl for sl in slices(events, hog) if sl[0] == "running"]
    lengths = sorted((b - a) / 1000 for _, a, b in runs[:-1])      # ms; the last is cut by the exit
    assert len(runs) >= 10
    assert 5 <= lengths[len(lengths) // 2] <= 30, lengths
    preempts = [e["ts"] for e in events if e["ph"] == "i" and e["name"] == "preempt" and e["args"]["g"] == hog]
    assert all(e["args"]["how"] == "SIGURG" for e in events if e["ph"] == "i" and e["name"] == "preempt")
    for (_, a, b), (_, c, _) in zip(runs, runs[1:]):                # a preemption ends every slice
        assert any(a <= t <= c for t in preempts), (a, b, c)
    marks = [e for e in events if e["ph"] == "i" and e["name"] == "preempted" and e["tid"] == hog]
    assert len(marks) >= len(runs) - 1
    out = subprocess.run([sys.executable, "-m", "gonb.trace", path, "--png", str(tmp_path / "hog.png")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "hog " in out.stdout and "main " in out.stdout and "scheduler latency" in out.stdout
    with open(tmp_path / "hog.png", "rb") as f: assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_summary_names_the_goroutine_functions(tmp_path, monkeypatch):
    path = str(tmp_path / "t.json")
    monkeypatch.setenv("GONB_TRACE", path)
    gonb.run(gomain(echo_program))
    out = subprocess.run([sys.executable, "-m", "gonb.trace", path], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()[1:] if line.strip()}
    assert {"gomain.wrapped", "echo", "forcegchelper"} <= set(rows)
    assert rows["echo"][0] == "1"                                   # one handler goroutine
    assert "scheduler latency (runnable -> running)" in out.stdout
    funcs, lat = trace.summarize(path)
    assert funcs["echo"]["IO wait"] > 0 and funcs["gomain.wrapped"]["syscall"] >= 40_000   # µs
    assert lat.count >= sum(f["count"] for f in funcs.values())


ENDINGS = {
    "panic": ("def main():\n    gonb.go(lambda: gonb.sleep(1))\n    gonb.sleep(0.01)\n    raise ValueError('boom')",
              "ValueError: boom"),
    "deadlock": ("from gonb.runtime import Sema, semacquire\ndef main():\n    semacquire(Sema())",
                 "all goroutines are asleep - deadlock!"),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ending", ENDINGS)
def test_a_program_that_panics_or_deadlocks_leaves_a_valid_trace(ending, backend, tmp_path):
    path = str(tmp_path / "t.json")
    body, words = ENDINGS[ending]
    r = run_program(f"import gonb\n{body}\ngonb.run(main)\n", path, backend)
    assert r.returncode != 0 and words in r.stderr
    events = check_trace(path)
    main = tid_of(events, " main")
    assert slices(events, main)[-1][0] == ("running" if ending == "panic" else "semacquire")


def test_sysmon_forcegc_is_an_instant_on_its_track(gorun, tmp_path, monkeypatch):
    import gonb.sysmon as sm
    monkeypatch.setattr(sm, "forcegcperiod", 50_000_000)     # 50 ms instead of 2 minutes
    path = str(tmp_path / "t.json")

    def main():
        t = gonb.now()
        while gonb.now() - t < 0.3: gonb.gosched()          # the P stays busy: sysmon keeps looking

    with trace.tracing(path):
        gorun(main)
    events = check_trace(path)
    forced = [e for e in events if e["ph"] == "i" and e["name"] == "forcegc"]
    assert forced and all(e["tid"] == trace.sysmonTid for e in forced)
    helper = tid_of(events, " forcegchelper")
    assert any(sl[0] == "running" and sl[1] >= forced[0]["ts"] for sl in slices(events, helper))
