"""The read half of a pollDesc as a state machine, explored exhaustively against the real gonb code.

MODEL. One pollDesc from the real path (`poll_runtime_pollOpen` on a socketpair fd, registered with
the epoll poller), read mode only. `rg` is pdNil | pdReady | pdWait | G, moved as Go's table says
(runtime/netpoll.go, Go 1.19-1.23; chapter 02, nbs/02_netpollblock.ipynb). At most one reader at a time
(Go's fdMutex guarantees it): either one `netpollblock(pd, 'r', False)` (R) or one
`poll_runtime_pollWait(pd, 'r')` (W), a real goroutine that parks for real through gopark/park_m.
Where Go lets another thread act in the middle of netpollblock, the reader stops (gosched) and the
driver goroutine may act before it goes on. The reader's program counter, in the model and observed:
    new     spawned, not yet run
    W1      rg CAS'd pdNil -> pdWait, netpollcheckerr not yet re-checked
    W2      re-check passed, gopark's unlockf (netpollblockcommit: CAS pdWait -> G) not yet run
    parked  committed: rg holds the G, sched.netpollWaiters counts it
    woken   readied by someone, not yet back at the final swap
    W3      the park was aborted (commit found rg != pdWait), not yet at the final swap
The stops are hooks around the real functions (`netpoll.netpollcheckerr` and `netpoll.gopark`,
looked up by netpollblock at call time); nothing inside netpollblock & co. is replaced.

ALPHABET (the driver goroutine's steps; a step is taken only when its guard holds):
    R  spawn a netpollblock reader              W  spawn a poll_runtime_pollWait reader   (no reader active)
    S  let the reader run to its next stop (gosched until it has moved)                 (reader runnable)
    P  the poller saw the fd readable: netpollready(toRun, pd, 'r') + injectglist       (netpollunblock ioready=true)
    U  netpollunblock(pd, 'r', False) + goready, a bare unblock                         (ioready=false)
    D  poll_runtime_pollSetDeadline(pd, -1, 'r'): a deadline already in the past         (rd != -1, open)
    A  arm a read deadline 1 h ahead: a real timer in the P's heap                       (rd <= 0, open)
    F  that timer fires: runtime.checkTimers(p0, pd.rd) runs netpolldeadlineimpl         (timer armed)
    C  clear the deadline (d = 0)                                                        (rd != 0, open)
    Z  poll_runtime_pollReset(pd, 'r') by the fd's owner                                 (no reader active, open)
    X  poll_runtime_pollUnblock(pd) (close); once; the fd stays registered, so P, R, W, S may follow
EXPLORED: every sequence of DEPTH = 6 enabled steps: 94,296 sequences (701,772 real steps with
teardown), each replayed on a fresh pollDesc (the same one, recycled by pollcache through
pollClose/pollOpen) and torn down: close if not closed, let the reader finish, pollWait/pollReset
must say pollErrClosing, pollClose. Past that depth: the model has 199 reachable states (at most 7
steps away) and 1,045 enabled steps; from every state, reached by a shortest path, every enabled pair
of steps is replayed (5,773 sequences up to 9 steps). All in one gonb.run each, epoll, sysmon off
(nothing but the driver moves rg, so every run is the same); about 8 s on 2 cores.
GONB_SM_DEPTH=7 explores all 581,304 sequences of 7 steps (4.9 M steps, about 50 s; passes).

CHECKED after every step, on the real state:
  * exact agreement with the model: rg, the reader's stop, its netpollblock returns and result,
    netpollWaiters, the sign of rd, rrun, whether the deadline timer is armed, closing;
  * Go's invariants, stated without the model:
      - the runtime never threw ("runtime: double wait", "runtime: corrupted polldesc", casgstatus, ...);
      - no lost pdReady: a readiness signalled by P and not yet consumed (a netpollblock returning True)
        nor discarded (a successful pollReset) is exactly `rg == pdReady`, and every netpollblock
        returns True iff such a readiness was pending when it returned;
      - rg holds a G only while that G is parked in IO wait, a reader parked in IO wait is named by rg
        (else nobody could wake it), and pdWait is only seen while the reader is between CAS and commit;
      - a parked reader is never left parked on a closed fd (net.Conn.Close's contract) or past an
        expired deadline (Go's TestReadTimeoutUnblocksRead);
      - sched.netpollWaiters == the goroutines actually parked in IO wait (Go issue 60782), 0 at the end;
      - after close the reader has finished, pollWait and pollReset return pollErrClosing.
Direct tests make the two throws fire; a deadline timer fires through the scheduler on real time;
Hypothesis replays longer random sequences (up to 40 steps); mutants of netpollblock/netpollunblock/
netpollblockcommit show the exploration fails when an invariant is broken.

BOTH MODES. The hooks and mutants replace functions on the `gonb.netpoll` module, and the code under test
calls them through the module at every call, compiled too: chapter 15's declaration table keeps them
Python functions (`def`, their parameters typed) and cimports no `gopark` into netpoll. That seam is
checked first (test_the_replaced_functions_are_seams_in_both_modes); the mutant tests then prove the
compiled code sees a replacement, since the exploration must fail with each one in place.
"""
import os
import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import gonb
from gonb import netpoll, pollcache, runtime, sysmon
from gonb.pollcache import pdNil, pdReady, pdWait, pollNoError, pollErrClosing, pollErrTimeout
from gonb.runtime import (G, RuntimeThrow, sched, gosched, goready, _Grunnable, _Gwaiting,
                          gStatusStrings, waitReasonIOWait)

DEPTH = int(os.environ.get("GONB_SM_DEPTH", "6"))
EXPECTED_SEQUENCES = {5: 15_209, 6: 94_296, 7: 581_304}
EXPECTED_STATES, EXPECTED_STEPS, EXPECTED_PAIRS = 199, 1045, 5773
ALPHABET = "RWSPUDAFCZX"
HOUR = 3600 * 10**9

# ---------------------------------------------------------------------------------------------
# The model: Go's rg/wg transition table for one read waiter, written from Go's source, not gonb's.

NIL, READY, WAIT, GP = "pdNil", "pdReady", "pdWait", "G"
RUNNABLE = ("new", "W1", "W2", "W3", "woken")


class ModelThrow(Exception):
    "The model reached one of Go's throws: the guards should make that impossible."


class Model:
    __slots__ = ("rg", "rd", "rrun", "tarmed", "closing", "waiters", "kind", "pc", "returns", "result")

    def __init__(self):
        self.rg, self.rd, self.rrun, self.tarmed, self.closing, self.waiters = NIL, 0, False, False, False, 0
        self.kind = self.pc = self.result = None   # the current (or last) reader
        self.returns = ()                          # its netpollblock results so far

    def copy(self):
        m = Model.__new__(Model)
        for s in Model.__slots__: setattr(m, s, getattr(self, s))
        return m

    def checkerr(self):  # netpollcheckerr, read mode (no event errors in this model)
        if self.closing: return pollErrClosing
        if self.rd < 0: return pollErrTimeout
        return pollNoError

    def idle(self): return self.pc in (None, "done")

    def enabled(self, a):
        if a in "RW": return self.idle()
        if a == "S": return self.pc in RUNNABLE
        if a in "PU": return True
        if a == "D": return not self.closing and self.rd != -1
        if a == "A": return not self.closing and self.rd <= 0
        if a == "C": return not self.closing and self.rd != 0
        if a == "F": return self.tarmed
        if a == "Z": return not self.closing and self.idle()
        if a == "X": return not self.closing
        raise ValueError(a)

    def apply(self, a):
        "Take step `a`; returns what the step returns (pollReset's error code), else None."
        if a in "RW": self.kind, self.pc, self.returns, self.result = a, "new", (), None
        elif a == "S": self.step()
        elif a == "P": self.unblock(True)
        elif a == "U": self.unblock(False)
        elif a == "D": self.setdeadline(-1)
        elif a == "A": self.setdeadline(1)
        elif a == "C": self.setdeadline(0)
        elif a == "F":                       # netpolldeadlineimpl: rd = -1, unblock; rrun stays set
            self.tarmed, self.rd = False, -1
            self.unblock(False)
        elif a == "Z":                       # pollReset: errors first, else forget readiness
            e = self.checkerr()
            if e == pollNoError: self.rg = NIL
            return e
        elif a == "X":                       # pollUnblock
            self.closing = True
            self.unblock(False)
            self.rrun = self.tarmed = False
        return None

    def setdeadline(self, new):              # pollSetDeadline, read mode; rd: 0 none, 1 future, -1 past
        if self.closing: return
        old, self.rd = self.rd, new
        if not self.rrun:
            if new > 0: self.rrun = self.tarmed = True
        elif new != old:                      # rseq++: the old timer is void
            if new > 0: self.tarmed = True
            else: self.rrun = self.tarmed = False
        if new < 0: self.unblock(False)

    def unblock(self, ioready):              # netpollunblock
        old = self.rg
        if old == READY or (old == NIL and not ioready): return
        self.rg = READY if ioready else NIL
        if old == GP:                        # the waker readies the G and takes it off the count
            self.waiters -= 1
            self.pc = "woken"

    def step(self):                          # the reader runs to its next stop
        pc = self.pc
        if pc == "new":
            if self.kind == "W":             # pollWait checks errors before blocking
                e = self.checkerr()
                if e != pollNoError: return self.finish(e)
            return self.block()
        if pc == "W1":                       # the re-check after pdWait
            if self.checkerr() == pollNoError:
                self.pc = "W2"
                return None
            return self.swap()
        if pc == "W2":                       # netpollblockcommit
            if self.rg == WAIT:
                self.rg, self.pc = GP, "parked"
                self.waiters += 1
            else:
                self.pc = "W3"
            return None
        if pc in ("W3", "woken"): return self.swap()
        raise AssertionError(f"model: step from {pc}")

    def block(self):                         # netpollblock's entry
        if self.rg == READY:
            self.rg = NIL
            return self.returned(True)
        if self.rg != NIL: raise ModelThrow("runtime: double wait")
        self.rg, self.pc = WAIT, "W1"
        return None

    def swap(self):                          # netpollblock's exit
        old, self.rg = self.rg, NIL
        if old == GP: raise ModelThrow("runtime: corrupted polldesc")
        return self.returned(old == READY)

    def returned(self, ok):
        self.returns += (ok,)
        if self.kind == "R": return self.finish(ok)
        if ok: return self.finish(pollNoError)
        e = self.checkerr()                  # pollWait loops while there is no error
        if e != pollNoError: return self.finish(e)
        return self.block()

    def finish(self, result):
        self.result, self.pc = result, "done"

    def observe(self):
        return dict(rg=self.rg, pc=self.pc, waiters=self.waiters, rd=self.rd, rrun=self.rrun,
                    tarmed=self.tarmed, closing=self.closing, returns=self.returns,
                    result=repr(self.result) if self.pc == "done" else None)


def sequences(depth, m=None, prefix=""):
    "Every sequence of `depth` steps whose guards hold, in a fixed order."
    m = m or Model()
    if len(prefix) == depth:
        yield prefix
        return
    for a in ALPHABET:
        if m.enabled(a):
            m2 = m.copy()
            m2.apply(a)
            yield from sequences(depth, m2, prefix + a)



def state_key(m):
    "What decides the model's future: everything but the reader's past results."
    return (m.rg, m.rd, m.rrun, m.tarmed, m.closing, m.waiters, m.kind, m.pc)


def reachable_states():
    "Breadth-first closure of the model: {state: a shortest sequence reaching it}, and the edge count."
    m0 = Model()
    paths, frontier, edges = {state_key(m0): ""}, [(m0, "")], 0
    while frontier:
        nxt = []
        for m, p in frontier:
            for a in ALPHABET:
                if not m.enabled(a): continue
                edges += 1
                m2 = m.copy()
                m2.apply(a)
                if state_key(m2) not in paths:
                    paths[state_key(m2)] = p + a
                    nxt.append((m2, p + a))
        frontier = nxt
    return paths, edges


def two_steps_from_every_state():
    "For every reachable state: its shortest path, then every enabled pair of steps."
    paths, _ = reachable_states()
    for p in paths.values():
        m = Model()
        for a in p: m.apply(a)
        for a in ALPHABET:
            if not m.enabled(a): continue
            m2 = m.copy()
            m2.apply(a)
            for b in ALPHABET:
                if m2.enabled(b): yield p + a + b


# ---------------------------------------------------------------------------------------------
# The harness: a driver goroutine taking the steps on the real pollDesc.

class Reader:
    "The waiting goroutine: its G, where it stopped, what netpollblock returned, how it ended."

    def __init__(self, kind):
        self.kind, self.g, self.stops, self.returns = kind, None, [], []
        self.result = self.exc = None
        self.done = self.inblock = False


_h = None   # the running harness, for the hooks


def _is_reader():
    h = _h
    return h is not None and h.reader is not None and sched.m0.curg is h.reader.g


def _stop(label):
    "Let the driver act here (another thread, in Go): note where, then yield."
    _h.reader.stops.append(label)
    gosched()


def install_hooks(monkeypatch):
    """Wrap (never replace) the functions netpollblock calls, to stop the reader at W1, W2 and W3
    and to record every netpollblock result. Installed after any mutant, so they wrap the mutant."""
    real_checkerr, real_gopark, real_block = netpoll.netpollcheckerr, netpoll.gopark, netpoll.netpollblock

    def checkerr(pd, mode):
        if _is_reader() and _h.reader.inblock: _stop("W1")   # netpollblock's re-check, not pollWait's
        return real_checkerr(pd, mode)

    def gopark(unlockf, lock, reason):
        if not _is_reader(): return real_gopark(unlockf, lock, reason)
        r = _h.reader
        _stop("W2")
        committed = []

        def unlock(gp, lk):                  # runs on g0 inside park_m
            ok = unlockf(gp, lk)
            committed.append(ok)
            if ok: r.stops.append("parked")
            return ok
        real_gopark(unlock, lock, reason)
        if not committed[0]: _stop("W3")

    def netpollblock(pd, mode, waitio):
        if not _is_reader(): return real_block(pd, mode, waitio)
        r = _h.reader
        r.inblock = True
        try:
            ok = real_block(pd, mode, waitio)
        finally:
            r.inblock = False
        r.returns.append(ok)
        return ok

    monkeypatch.setattr(netpoll, "netpollcheckerr", checkerr)
    monkeypatch.setattr(netpoll, "gopark", gopark)
    monkeypatch.setattr(netpoll, "netpollblock", netpollblock)


class Harness:
    def __init__(self, fd):
        self.fd, self.pd, self.reader, self.pending, self.steps = fd, None, None, False, 0

    def open(self):
        pd, errno = pollcache.poll_runtime_pollOpen(self.fd)
        assert errno == 0 and pd.rg == pdNil and pd.rd == 0 and not pd.closing and not pd.rrun
        self.pd, self.reader, self.pending = pd, None, False

    # -- the steps on the real runtime
    def spawn(self, kind):
        r, pd = Reader(kind), self.pd
        self.reader = r

        def body():
            try:
                if kind == "R": r.result = netpoll.netpollblock(pd, "r", False)
                else: r.result = netpoll.poll_runtime_pollWait(pd, "r")
            except RuntimeThrow as e:
                r.exc = e
            r.done = True
            r.stops.append("done")
        r.g = gonb.go(body)

    def step_reader(self):
        r = self.reader
        n = len(r.stops)
        for _ in range(8):    # the reader may sit behind the driver once (every 61st tick)
            gosched()
            if len(r.stops) != n: return
        raise AssertionError(f"the reader did not move: {r.g!r}, stops {r.stops}")

    def do(self, a):
        pd = self.pd
        self.steps += 1
        if a in "RW": self.spawn(a)
        elif a == "S": self.step_reader()
        elif a == "P":
            toRun = []
            delta = netpoll.netpollready(toRun, pd, "r")
            runtime.netpollAdjustWaiters(delta)
            if toRun: runtime.injectglist(toRun, sched.p0)
            self.pending = True
        elif a == "U":
            gp, delta = netpoll.netpollunblock(pd, "r", False)
            if gp is not None: goready(gp)
            runtime.netpollAdjustWaiters(delta)
        elif a == "D": netpoll.poll_runtime_pollSetDeadline(pd, -1, "r")
        elif a == "A": netpoll.poll_runtime_pollSetDeadline(pd, HOUR, "r")
        elif a == "C": netpoll.poll_runtime_pollSetDeadline(pd, 0, "r")
        elif a == "F":
            assert pd.rt is not None and pd.rt.hkey >= 0, "F: no read deadline timer armed"
            runtime.checkTimers(sched.p0, pd.rd)
        elif a == "Z":
            e = netpoll.poll_runtime_pollReset(pd, "r")
            if e == pollNoError: self.pending = False
            return e
        elif a == "X": netpoll.poll_runtime_pollUnblock(pd)
        return None

    # -- what is observed
    def observe(self):
        pd, r = self.pd, self.reader
        rg = pd.rg
        rgs = GP if isinstance(rg, G) else {pdNil: NIL, pdReady: READY, pdWait: WAIT}.get(rg, repr(rg))
        if r is None: pc = None
        elif r.done: pc = "done"
        elif r.g.status == _Gwaiting: pc = "parked"
        elif r.g.status == _Grunnable:
            pc = "new" if not r.stops else "woken" if r.stops[-1] == "parked" else r.stops[-1]
        else: pc = gStatusStrings[r.g.status]
        return dict(rg=rgs, pc=pc, waiters=sched.netpollWaiters, rd=(pd.rd > 0) - (pd.rd < 0),
                    rrun=pd.rrun, tarmed=pd.rt is not None and pd.rt.hkey >= 0, closing=pd.closing,
                    returns=tuple(r.returns) if r else (), result=repr(r.result) if r and r.done else None)

    def check_returns(self, nseen):
        "Every netpollblock result since the last step: True iff a readiness was pending (no lost pdReady)."
        r = self.reader
        for ok in r.returns[nseen:]:
            if self.pending: assert ok, "lost pdReady: netpollblock returned False with a readiness pending"
            else: assert not ok, "netpollblock returned True with no readiness signalled"
            if ok: self.pending = False

    def invariants(self):
        pd, r = self.pd, self.reader
        assert r is None or r.exc is None, f"the runtime threw: {r.exc!r}"
        parked = [g for g in sched.allgs.values() if g.status == _Gwaiting and g.waitreason == waitReasonIOWait]
        assert sched.netpollWaiters == len(parked), \
            f"netpollWaiters={sched.netpollWaiters} but {len(parked)} goroutine(s) parked in IO wait (Go issue 60782)"
        rg = pd.rg
        val = None if isinstance(rg, G) else rg      # rg's value when it is not a G
        if val is None:
            assert r is not None and rg is r.g and rg in parked, f"rg holds {rg!r}, not a parked reader"
        else:
            assert val in (pdNil, pdReady, pdWait), f"illegal rg {rg!r}"
        if r is not None and r.g in parked:
            assert rg is r.g, "the reader is parked in IO wait but rg does not name it: nobody can wake it"
            assert not pd.closing, "a reader is still parked on a closed fd (net.Conn.Close's contract)"
            assert pd.rd >= 0, "a reader is still parked after its deadline expired"
        if val == pdWait:
            assert r is not None and not r.done and r.g.status == _Grunnable and r.stops[-1:] in (["W1"], ["W2"]), \
                "rg is pdWait but no reader is between its CAS and netpollblockcommit"
        if self.pending: assert val == pdReady, "lost pdReady: a signalled readiness vanished"
        else: assert val != pdReady, "pdReady appeared without a readiness signal"

    def take(self, m, a):
        "Step `a` on the model and on the real runtime; compare everything."
        nseen = len(self.reader.returns) if self.reader else 0
        want_ret = m.apply(a)
        got_ret = self.do(a)
        if self.reader is not None: self.check_returns(0 if a in "RW" else nseen)
        self.invariants()
        assert got_ret == want_ret, f"step {a} returned {got_ret!r}, Go's table says {want_ret!r}"
        got, want = self.observe(), m.observe()
        assert got == want, f"after {a}: gonb {diff(got, want)} Go's table {diff(want, got)}"

    def run_sequence(self, seq):
        self.open()
        m = Model()
        try:
            for a in seq: self.take(m, a)
            self.teardown(m)
        except BaseException as e:
            if hasattr(e, "add_note"): e.add_note(f"(state-machine sequence {seq!r}; gonb pd {self.pd!r})")
            raise

    def teardown(self, m):
        pd = self.pd
        if not m.closing: self.take(m, "X")
        while m.pc in RUNNABLE: self.take(m, "S")
        r = self.reader
        assert r is None or r.done, "the reader is still waiting after close (net.Conn.Close's contract)"
        assert sched.netpollWaiters == 0, "waiter count not back to 0 (Go issue 60782)"
        assert pd.rg in (pdNil, pdReady) and not isinstance(pd.rg, G)
        assert netpoll.poll_runtime_pollWait(pd, "r") == pollErrClosing
        assert netpoll.poll_runtime_pollReset(pd, "r") == pollErrClosing
        pollcache.poll_runtime_pollClose(pd)   # throws if a reader were still blocked


def diff(a, b): return {k: v for k, v in a.items() if b.get(k) != v}


@pytest.fixture
def quiet(monkeypatch):
    "epoll, and no sysmon: only the driver goroutine moves rg, so every run is deterministic."
    global _h
    monkeypatch.setenv("GONB_NETPOLL", "epoll")
    monkeypatch.setattr(sysmon, "sysmonEnabled", False)
    yield monkeypatch
    _h = None


def explore(seqs):
    "Replay every sequence in one gonb.run; returns (sequences, steps)."
    def main():
        global _h
        a, b = socket.socketpair()
        try:
            h = _h = Harness(a.fileno())
            n = 0
            for seq in seqs:
                h.run_sequence(seq)
                n += 1
            assert sched.netpollWaiters == 0
            return n, h.steps
        finally:
            a.close()
            b.close()
    return gonb.run(main)


# ---------------------------------------------------------------------------------------------
# The exhaustive exploration

def test_model_guards_never_reach_a_throw():
    "The model itself: no enabled sequence makes Go throw (the guards are the fdMutex discipline)."
    assert sum(1 for _ in sequences(5)) > 0   # sequences() applies every step: a ModelThrow fails here


def test_every_interleaving_up_to_depth(quiet):
    install_hooks(quiet)
    t0 = time.monotonic()
    n, steps = explore(sequences(DEPTH))
    print(f"\nstate machine: all {n} sequences of {DEPTH} steps over {ALPHABET!r} "
          f"({steps} steps with teardown) in {time.monotonic() - t0:.1f} s")
    assert n == EXPECTED_SEQUENCES.get(DEPTH, n)


def test_every_state_every_two_steps(quiet):
    "Past the exhaustive depth: every reachable state of the model, every enabled pair of steps out of it."
    paths, edges = reachable_states()
    assert (len(paths), edges) == (EXPECTED_STATES, EXPECTED_STEPS)
    install_hooks(quiet)
    t0 = time.monotonic()
    n, steps = explore(two_steps_from_every_state())
    print(f"\nstate machine: {len(paths)} reachable states (shortest paths up to "
          f"{max(map(len, paths.values()))} steps), {edges} enabled steps; {n} sequences of a shortest "
          f"path + 2 steps ({steps} steps with teardown) in {time.monotonic() - t0:.1f} s")
    assert n == EXPECTED_PAIRS


# Longer runs than the exhaustive depth: each number picks one of the enabled steps.
@settings(max_examples=300, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.integers(0, 10), min_size=8, max_size=40))
def test_random_long_sequences(choices):
    m, seq = Model(), ""
    for c in choices:
        opts = [a for a in ALPHABET if m.enabled(a)]
        a = opts[c % len(opts)]
        m.apply(a)
        seq += a
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GONB_NETPOLL", "epoll")
        mp.setattr(sysmon, "sysmonEnabled", False)
        install_hooks(mp)
        try:
            assert explore([seq])[0] == 1
        finally:
            globals()["_h"] = None


# ---------------------------------------------------------------------------------------------
# The throws fire

def run_one(prefix, then):
    "Replay `prefix` on a fresh pd, call then(h), and tear down; inside one gonb.run."
    def main():
        global _h
        a, b = socket.socketpair()
        try:
            h = _h = Harness(a.fileno())
            h.open()
            m = Model()
            for s in prefix: h.take(m, s)
            then(h, m)
            h.teardown(m)
        finally:
            a.close()
            b.close()
    gonb.run(main)


@pytest.mark.parametrize("prefix,rg", [("RS", "pdWait"), ("RSS", "pdWait"), ("RSSS", "G")])
def test_second_waiter_throws_double_wait(quiet, prefix, rg):
    install_hooks(quiet)

    def then(h, m):
        assert m.rg == (WAIT if rg == "pdWait" else GP) and h.observe()["rg"] == m.rg
        with pytest.raises(RuntimeThrow, match="runtime: double wait"):
            netpoll.netpollblock(h.pd, "r", False)   # a second reader on the same pd and mode
        assert h.observe() == m.observe()            # the throw changed nothing
    run_one(prefix, then)


def test_g_in_rg_at_the_final_swap_throws_corrupted_polldesc(quiet):
    install_hooks(quiet)

    def then(h, m):
        assert m.pc == "woken" and m.rg == READY
        h.pd.rg = runtime.getg()   # force: rg holds a G when the woken reader swaps
        h.step_reader()
        r = h.reader
        assert r.done and isinstance(r.exc, RuntimeThrow) and str(r.exc) == "runtime: corrupted polldesc"
        assert h.pd.rg == pdNil    # the swap happened before the check, as in Go
        h.reader, h.pending = None, False   # the throw ended that reader (and its readiness)
        m.pc, m.rg = None, NIL
    run_one("RSSSP", then)


def test_corrupted_polldesc_ends_the_program(quiet):
    "Uncaught, the throw ends gonb.run with a RuntimeThrow, as Go's throw ends the process."
    def main():
        a, b = socket.socketpair()
        try:
            pd, _ = pollcache.poll_runtime_pollOpen(a.fileno())
            g = gonb.go(netpoll.netpollblock, pd, "r", False)
            gosched()
            assert pd.rg is g and g.status == _Gwaiting
            pd.rg = runtime.getg()
            goready(g)             # a wake-up that did not go through netpollunblock
            gosched()
        finally:
            a.close()
            b.close()
    with pytest.raises(RuntimeThrow, match="runtime: corrupted polldesc"):
        gonb.run(main)


# ---------------------------------------------------------------------------------------------
# A deadline timer firing on its own, through the scheduler (real time, not checkTimers by hand)

@pytest.mark.parametrize("kind,want", [("R", False), ("W", pollErrTimeout)])
def test_short_deadline_fires_through_the_scheduler(quiet, kind, want):
    def main():
        a, b = socket.socketpair()
        try:
            pd, _ = pollcache.poll_runtime_pollOpen(a.fileno())
            out = []
            if kind == "R": g = gonb.go(lambda: out.append(netpoll.netpollblock(pd, "r", False)))
            else: g = gonb.go(lambda: out.append(netpoll.poll_runtime_pollWait(pd, "r")))
            gosched()
            assert pd.rg is g and sched.netpollWaiters == 1
            netpoll.poll_runtime_pollSetDeadline(pd, 2_000_000, "r")   # 2 ms
            t0 = gonb.now()
            gonb.sleep(0.05)   # idle: findRunnable blocks in netpoll until the timer is due
            assert out == [want] and gonb.now() - t0 >= 0.002
            assert pd.rg == pdNil and pd.rd == -1 and sched.netpollWaiters == 0
            assert netpoll.poll_runtime_pollWait(pd, "r") == pollErrTimeout
            netpoll.poll_runtime_pollUnblock(pd)
            assert netpoll.poll_runtime_pollWait(pd, "r") == pollErrClosing
            pollcache.poll_runtime_pollClose(pd)
        finally:
            a.close()
            b.close()
    gonb.run(main)


# ---------------------------------------------------------------------------------------------
# Mutants: the exploration must catch a broken netpollblock, netpollunblock or netpollblockcommit.

def mutant_block_store(pd, mode, waitio):
    "netpollblock whose final swap is a store of pdNil: a concurrent pdReady is lost."
    field = "rg" if mode == "r" else "wg"
    old = getattr(pd, field)
    if old == pdReady:
        setattr(pd, field, pdNil)
        return True
    if old != pdNil: runtime.throw("runtime: double wait")
    setattr(pd, field, pdWait)
    if waitio or netpoll.netpollcheckerr(pd, mode) == pollNoError:
        netpoll.gopark(netpoll.netpollblockcommit, (pd, field), waitReasonIOWait)
    setattr(pd, field, pdNil)
    return False


def mutant_unblock_no_ready_without_waiter(pd, mode, ioready):
    "netpollunblock that signals readiness only to a parked G: a readiness before the wait is lost."
    field = "rg" if mode == "r" else "wg"
    old = getattr(pd, field)
    if not isinstance(old, G): return None, 0
    setattr(pd, field, pdReady if ioready else pdNil)
    return old, -1


def mutant_commit_uncounted(gp, gpp):
    "netpollblockcommit that forgets to count the waiter (Go issue 60782)."
    pd, field = gpp
    if getattr(pd, field) != pdWait: return False
    setattr(pd, field, gp)
    return True


@pytest.mark.parametrize("name,mutant,why", [
    ("netpollblock", mutant_block_store, "lost pdReady"),
    ("netpollunblock", mutant_unblock_no_ready_without_waiter, "lost pdReady"),
    ("netpollblockcommit", mutant_commit_uncounted, "Go issue 60782")])
def test_exploration_catches_mutants(quiet, name, mutant, why):
    quiet.setattr(netpoll, name, mutant)
    install_hooks(quiet)
    with pytest.raises(AssertionError, match=why):
        explore(sequences(5))


def test_the_replaced_functions_are_seams_in_both_modes():
    "What this file replaces stays a Python function in the compiled build (chapter 15's DECLARATIONS)."
    from gonb.compiled import DECLARATIONS
    table = DECLARATIONS["netpoll"]
    for name in ("netpollcheckerr", "netpollblock", "netpollunblock", "netpollblockcommit"):
        assert table.get(name, ("def",))[0] == "def", f"{name} is a C function: a replacement would not be seen"
    assert "gopark" not in table.get("cimport", ()) and "gopark" not in table
