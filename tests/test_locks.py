"""The M's `locks` counter (chapters 03 and 06): what keeps compiled runtime code from being preempted.

Compiled gonb has no Python frames, so these tests play compiled runtime code with code of their own
(whose frames the walk of `isAsyncSafePoint` does not attribute to gonb either): inside an
`acquirem` section only the counter can refuse. The hog runs in its own process, on its main thread,
where sysmon's SIGURG reaches it."""
import json
import signal
import subprocess
import sys

import pytest
from greenlet import getcurrent

import gonb
import gonb.signal as gsignal
import gonb.sysmon as sm
import gonb.trace as gtrace
from gonb.runtime import (RuntimeThrow, acquirem, releasem, casgstatus, getg, checkpreempt, sched,
                          _Grunning, _Gsyscall)

HOG = r'''
import json, time, gonb
from gonb.runtime import acquirem, releasem

def spin(seconds):                 # user code: a CPU hog
    end = time.monotonic() + seconds
    while time.monotonic() < end: pass

def main():
    turns = [0]
    def other():
        while True:
            turns[0] += 1
            gonb.gosched()
    gonb.go(other)
    gonb.gosched()                 # other starts
    mp = acquirem()                # as compiled runtime code would, around a call to Python code
    t0 = turns[0]
    spin(0.15)                     # sysmon asks (SIGURG) every round from ~20 ms on
    inside = turns[0] - t0
    releasem(mp)
    t1 = turns[0]
    spin(0.15)
    return inside, turns[0] - t1

print(json.dumps(gonb.run(main)))
'''


def test_hog_inside_acquirem_is_not_preempted_until_releasem():
    env = {"PATH": "/usr/bin:/bin", "GODEBUG": ""}
    out = subprocess.run([sys.executable, "-c", HOG], env=env, capture_output=True, text=True, timeout=60)
    inside, after = json.loads(out.stdout)
    assert inside == 0, "preempted inside an acquirem section"
    assert after >= 1, "the same hog in user code, after releasem, was never preempted"


def yields(action):
    "Whether `action()` switched the running goroutine to g0 and back (the P's schedtick moves)."
    t0 = sched.p0.schedtick
    action()
    return sched.p0.schedtick > t0


def test_checkpreempt_and_the_handler_refuse_inside_acquirem():
    def main():
        gp = getg()
        def callback(): return sys._getframe()   # a Python frame that is not gonb's
        handler = lambda: sm.doSigPreempt(signal.SIGURG, callback())
        out = []
        for ask in (checkpreempt, handler):
            gp.preempt = True                    # what sysmon's preemptone sets
            mp = acquirem()
            out.append((yields(ask), gp.preempt))
            releasem(mp)
            out.append((yields(ask), gp.preempt))
        return out
    assert gonb.run(main) == [(False, True), (True, False)] * 2


def test_handler_leaves_a_goroutine_in_a_syscall_alone():
    def main():
        gp = getg()
        gp.preempt = True
        casgstatus(gp, _Grunning, _Gsyscall)     # as entersyscall does (wantAsyncPreempt)
        inside = yields(lambda: sm.doSigPreempt(signal.SIGURG, sys._getframe()))
        casgstatus(gp, _Gsyscall, _Grunning)
        return inside, yields(lambda: sm.doSigPreempt(signal.SIGURG, sys._getframe()))
    assert gonb.run(main) == (False, True)


@pytest.mark.parametrize("how", ["sleep", "gosched", "return"])
def test_giving_up_the_m_inside_acquirem_throws(how):
    def main():
        acquirem()
        if how == "sleep": gonb.sleep(0.001)
        elif how == "gosched": gonb.gosched()
    with pytest.raises(RuntimeThrow, match="schedule: holding locks"):
        gonb.run(main)
    assert gonb.run(lambda: sched.m0.locks) == 0   # a new run, a new M
    assert sched.m0 is None


def counter_at(calls):
    "A wrapper recording the M's locks whenever `fn` is called by a goroutine (not by run, g0 or sysmon)."
    def wrap(fn):
        def recorded(*args, **kwargs):
            mp = sched.m0
            gp = mp.curg if mp is not None else None
            if gp is not None and getcurrent() is gp.glet: calls.append(mp.locks)
            return fn(*args, **kwargs)
        return recorded
    return wrap


def test_tracer_writes_on_the_m_inside_acquirem(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(gtrace.Tracer, "write", counter_at(calls)(gtrace.Tracer.write))
    def main():
        gtrace.start(str(tmp_path / "t.json"))   # attach, on this goroutine
        for _ in range(400): gonb.gosched()      # 800 records: at least one flush on a goroutine
        gtrace.stop()                            # finish, on this goroutine
    gonb.run(main)
    assert len(calls) >= 3 and min(calls) >= 1, calls


def test_signal_handlers_are_swapped_inside_acquirem(monkeypatch):
    calls = []
    monkeypatch.setattr(gsignal._signal, "signal", counter_at(calls)(signal.signal))
    def main():
        ch = gonb.Chan(1)
        gsignal.notify(ch, signal.SIGUSR1)
        gsignal.stop(ch)
    gonb.run(main)
    assert len(calls) >= 2 and min(calls) >= 1, calls
