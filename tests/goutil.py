"""Goroutine-side helpers shared by the tests: futures for goroutines, a watchdog, tracked conns that
are closed even when an assertion fails, Go's error words for closed conns, waits on a condition or on
parked goroutines that hold however loaded the machine, and the count of open fds."""
import os

import pytest

from greenlet import GreenletExit

import gonb
from gonb import net
from gonb.runtime import Sema, semacquire, semrelease

_tracked = []


class Future:
    "The outcome of a goroutine started by `spawn`: value or exception, and when it ended."

    def __init__(self):
        self.done, self.value, self.exc, self.t = False, None, None, None
        self._sema = Sema()

    def wait(self):
        "Park until the goroutine has finished; returns self."
        if not self.done:
            semacquire(self._sema)
            semrelease(self._sema)   # let any other waiter through too
        return self


def spawn(fn, *args):
    "Run fn(*args) in a new goroutine, recording its result or exception (never propagating it)."
    f = Future()

    def body():
        try:
            f.value = fn(*args)
        except GreenletExit:
            raise
        except Exception as e:
            f.exc = e
        f.t = gonb.now()
        f.done = True
        semrelease(f._sema)

    gonb.go(body)
    return f


def watchdog(seconds, what):
    "Fail the program if it is still running after `seconds` (something hangs)."
    def dog():
        gonb.sleep(seconds)
        raise AssertionError(f"{what}: still running after {seconds} s (hang?)")
    gonb.go(dog)


def track(*objs):
    "Have `gomain` close these when main ends, even on a failed assertion (no fd-leak noise)."
    _tracked.extend(objs)
    return objs[0] if len(objs) == 1 else objs


def gomain(main):
    "Wrap a test's main: close whatever it tracked when it returns or fails."
    def wrapped():
        _tracked.clear()
        try:
            return main()
        finally:
            objs = _tracked[::-1]
            _tracked.clear()
            close_all(*objs)
    return wrapped


def tcp_pair():
    "A listener, a dialed conn and its accepted peer (all tracked)."
    ln = track(net.listen("tcp", "127.0.0.1:0"))
    c = track(net.dial("tcp", str(ln.addr())))
    s = track(ln.accept())
    return ln, c, s


@pytest.fixture(autouse=True)
def no_idle_pipes():
    """Close the pipes a test's copies pooled (chapter 14a), so that no later test's fd count sees them;
    a module that imports this fixture uses it for each of its tests."""
    yield
    from gonb import splice
    splice.emptyPipePool()


def pair(ln):
    "A conn dialed to listener `ln` (tcp or unix) and its accepted peer (not tracked)."
    c = net.dial(ln.addr().network(), str(ln.addr()))
    return c, ln.accept()


def close_all(*objs):
    for o in objs:
        try:
            o.close()
        except net.ErrClosed:
            pass


def read_exactly(c, n):
    buf, out = bytearray(max(n, 1)), bytearray()
    while len(out) < n:
        k = c.read(memoryview(buf)[: n - len(out)])
        out += buf[:k]
    return bytes(out)


def conn_words(op, c):
    """Go's OpError prefix for a conn. Deadline errors ("set-deadline" here) name only the local
    address (net.go conn.SetDeadline: Source nil, Addr laddr); socket options name both (SetNoDelay)."""
    if op == "set-deadline": return f"set tcp {c.local_addr()}"
    return f"{op} tcp {c.local_addr()}->{c.remote_addr()}"


def assert_closed(e, op, c=None, ln=None):
    "`e` is Go's use-of-closed-connection error for `op`: not a timeout."
    assert isinstance(e, net.OpError), repr(e)
    assert e.op == op.split("-")[0], e.op
    assert isinstance(e, net.ErrClosed), type(e).__mro__
    assert not isinstance(e, TimeoutError) and not e.timeout()
    where = f"{op} tcp {ln.addr()}" if ln is not None else conn_words(op, c)
    assert str(e) == f"{where}: use of closed network connection"



def echo(conn, bufsize=4096):
    "Echo until EOF or an error, then close: the seed's per-connection goroutine."
    buf = bytearray(bufsize)
    try:
        while True:
            n = conn.read(buf)
            conn.write(memoryview(buf)[:n])
    except (gonb.EOF, OSError):
        pass
    finally:
        close_all(conn)


def wait_until(pred, timeout=10.0, what=None, every=0):
    """From a goroutine: yield until `pred()` holds, or fail after `timeout` seconds. With `every`=0 it
    yields by gosched (the others run; the network is seen only when sysmon polls it, every 10 ms); with
    `every` > 0 it sleeps that long, so the scheduler can block in netpoll and see events at once."""
    deadline = gonb.now() + timeout
    while not pred():
        if gonb.now() > deadline:
            raise AssertionError(f"{what or pred.__qualname__}: still false after {timeout} s")
        if every: gonb.sleep(every)
        else: gonb.gosched()


def parked(reason=None):
    "How many goroutines are parked: with wait reason `reason` (e.g. 'chan send', 'IO wait'), or any."
    return sum(1 for _, status, why, _ in gonb.goroutines() if status == "waiting" and reason in (None, why))


def wait_parked(n, reason=None, timeout=10.0):
    "Yield until at least `n` goroutines are parked (with wait reason `reason`), however loaded the machine."
    wait_until(lambda: parked(reason) >= n, timeout, f"{n} goroutines parked in {reason or 'any wait'!r}")


def pct(xs, p):
    "The `p` quantile (0..1) of the measurements `xs`: the value below which that fraction lies."
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def open_fds():
    "How many fds this process has open (to check that nothing leaks)."
    return len(os.listdir("/proc/self/fd"))
