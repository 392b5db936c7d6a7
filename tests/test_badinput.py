"""Bad input to every public gonb call: wrong types, wrong values, wrong states (after close, from
the wrong thread, from a finished run). Each must fail with a clear Python exception (TypeError,
ValueError, or an OSError subclass carrying Go's words where Go has them: Go 1.19's net/ipsock.go,
net/dial.go, net/port.go, net/lookup.go) and leave the runtime and every other connection working:
after each bad call, an echo on an already open connection and a fresh dial still work, in the same
run. Plus Hypothesis fuzzing of the address and port parsers against a reference model of Go's.

Network tests run once per netpoll backend (the `gorun` fixture).
"""
import datetime
import decimal
import fractions
import json
import math
import mmap
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import gonb
from gonb import net
from gonb.runtime import sched
from goutil import read_exactly, echo, open_fds, wait_parked, wait_until

LONG_UNIX_PATH = os.path.join(tempfile.gettempdir(), "x" * 200)   # longer than sun_path (108 bytes)


# ---------------------------------------------------------------------------------------------
# helpers


class Witness:
    """An echo server and one open client connection, made before the bad call: `check()` proves
    afterwards that the runtime still schedules, sleeps, accepts, and that the old conn still talks."""

    def __init__(self):
        self.ln = net.listen("tcp", "127.0.0.1:0")
        self.conns = []

        def acceptor():
            try:
                while True:
                    s = self.ln.accept()
                    self.conns.append(s)
                    gonb.go(echo, s)
            except net.ErrClosed:
                pass

        gonb.go(acceptor)
        self.c = net.dial("tcp", str(self.ln.addr()))

    def check(self):
        msg = os.urandom(37)
        assert self.c.write(msg) == len(msg)
        assert read_exactly(self.c, len(msg)) == msg, "the existing connection stopped echoing"
        with net.dial("tcp", str(self.ln.addr())) as c2:      # a fresh connection too
            c2.write(b"fresh")
            assert read_exactly(c2, 5) == b"fresh"
        t = gonb.now()
        gonb.sleep(0.002)
        assert gonb.now() >= t + 0.002

    def close(self):
        for o in [self.c, self.ln] + self.conns:
            try:
                o.close()
            except net.ErrClosed:
                pass


def pair():
    "A second connection (client, server end), through a one-shot listener."
    with net.listen("tcp", "127.0.0.1:0") as ln:
        c = net.dial("tcp", str(ln.addr()))
        s = ln.accept()
    return c, s


def assert_talks(c, s):
    "Both directions of the pair still work."
    c.write(b"ping")
    assert read_exactly(s, 4) == b"ping"
    s.write(b"pong")
    assert read_exactly(c, 4) == b"pong"


def check_clear(e, types):
    "The exception has the expected type and a printable, non-empty message."
    assert isinstance(e, types), f"{type(e).__mro__} is not one of {types}: {e!r}"
    text = str(e)                                  # must not itself fail
    assert text.strip(), repr(e)
    return text


def in_run(gorun, body):
    "Run body(witness) in a gonb program, then check the witness and close everything."
    def main():
        w = Witness()
        try:
            body(w)
            w.check()
        finally:
            w.close()
        return "ok"
    assert gorun(main) == "ok"


# ---------------------------------------------------------------------------------------------
# conn methods: wrong types and values

CONN_CASES = {
    # write needs a bytes-like object
    "write-str": (lambda c: c.write("text"), TypeError),
    "write-None": (lambda c: c.write(None), TypeError),
    "write-int": (lambda c: c.write(12), TypeError),
    "write-list": (lambda c: c.write([1, 2, 3]), TypeError),
    # read needs a writable buffer
    "read-bytes": (lambda c: c.read(b"immutable"), TypeError),
    "read-str": (lambda c: c.read("text"), TypeError),
    "read-None": (lambda c: c.read(None), TypeError),
    "read-int": (lambda c: c.read(16), TypeError),
    "read-readonly-view": (lambda c: c.read(memoryview(bytearray(8)).toreadonly()), TypeError),
    # deadlines are gonb.now() seconds or None
    "deadline-str": (lambda c: c.set_deadline("soon"), TypeError),
    "read-deadline-bool": (lambda c: c.set_read_deadline(True), TypeError),
    "write-deadline-datetime": (lambda c: c.set_write_deadline(datetime.datetime.now()), TypeError),
    "deadline-nan": (lambda c: c.set_deadline(math.nan), ValueError),
    # socket options
    "linger-str": (lambda c: c.set_linger("long"), TypeError),
    "linger-huge": (lambda c: c.set_linger(2 ** 40), (ValueError, OverflowError)),
    "keepalive-period-str": (lambda c: c.set_keep_alive_period("30"), TypeError),
    "keepalive-period-nan": (lambda c: c.set_keep_alive_period(math.nan), ValueError),
    "keepalive-period-int32-overflow": (lambda c: c.set_keep_alive_period(2 ** 31), (ValueError, OverflowError, OSError)),
}


@pytest.mark.parametrize("case", list(CONN_CASES))
def test_conn_bad_arguments(gorun, fd_baseline, case):
    """A conn method called with a wrong type or value raises a clear TypeError/ValueError (or
    Go's OSError); the conn itself still talks both ways afterwards, and so does the witness."""
    call, types = CONN_CASES[case]

    def body(w):
        c, s = pair()
        try:
            with pytest.raises(Exception) as ei:
                call(c)
            check_clear(ei.value, types)
            if isinstance(ei.value, OSError):
                assert isinstance(ei.value, net.OpError) and ei.value.op == "set"
                assert str(ei.value).endswith("setsockopt: invalid argument"), str(ei.value)
            assert_talks(c, s)
        finally:
            c.close()
            s.close()

    in_run(gorun, body)


def test_keep_alive_period_values(gorun, fd_baseline):
    """Keep-alive periods as current Go (1.23, tcpsockopt_unix.go setKeepAliveIdle) takes them: round
    *up* to whole seconds (1.5 s is 2 s, 0.2 s is 1 s); 0 means the 15 s default; a negative period
    leaves the setting alone; a period the kernel refuses (over 32767 s) is Go's
    `set tcp A->B: setsockopt: invalid argument`. (Go 1.19 passed 0 and negatives to the kernel,
    EINVAL; neither Go clamps them to 1 s.)"""
    def body(w):
        c, s = pair()
        try:
            sock = c.fd.pfd.sock
            idle = lambda: sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
            c.set_keep_alive_period(1.5)
            assert idle() == 2
            c.set_keep_alive_period(0.2)
            assert idle() == 1
            c.set_keep_alive_period(7)
            c.set_keep_alive_period(-5)
            assert idle() == 7, "a negative period must leave the setting alone"
            c.set_keep_alive_period(0)
            assert idle() == 15, "a zero period means Go's default, 15 s"
            with pytest.raises(OSError) as ei:
                c.set_keep_alive_period(10 ** 6)
            assert isinstance(ei.value, net.OpError), repr(ei.value)
            assert str(ei.value) == f"set tcp {c.local_addr()}->{c.remote_addr()}: setsockopt: invalid argument"
            assert_talks(c, s)
        finally:
            c.close()
            s.close()

    in_run(gorun, body)


def test_absurd_buffer_sizes(gorun, fd_baseline):
    """A read into a buffer larger than maxRW (1 GiB + 1 page, an mmap that is never touched) asks
    the kernel for at most maxRW and returns what is there; empty reads and writes return 0."""
    def body(w):
        c, s = pair()
        huge = mmap.mmap(-1, gonb.fd.maxRW + mmap.PAGESIZE)
        try:
            s.write(b"tiny")
            view = memoryview(huge)
            got = 0
            while got < 4:
                got += c.read(view[got:])
            assert huge[:4] == b"tiny"
            view.release()
            assert c.read(bytearray(0)) == 0 and c.write(b"") == 0
            assert_talks(c, s)
        finally:
            huge.close()
            c.close()
            s.close()

    in_run(gorun, body)


def test_calls_after_close(gorun, fd_baseline):
    "Every call on a closed conn or listener: Go's `use of closed network connection`, op by op."
    def body(w):
        c, s = pair()
        try:
            pair_words = f"tcp {c.local_addr()}->{c.remote_addr()}"
            local_words = f"tcp {c.local_addr()}"    # conn.SetDeadline's OpError: Source nil, Addr laddr
            c.close()
            for where, op, call in [
                    (pair_words, "read", lambda: c.read(bytearray(4))),
                    (pair_words, "write", lambda: c.write(b"x")),
                    (pair_words, "close", c.close), (pair_words, "close", c.close),   # twice, thrice
                    (pair_words, "close", c.close_write),
                    (local_words, "set", lambda: c.set_deadline(None)),
                    (local_words, "set", lambda: c.set_read_deadline(gonb.now() + 1)),
                    (pair_words, "set", lambda: c.set_no_delay(True)),
                    (pair_words, "set", lambda: c.set_linger(0))]:
                with pytest.raises(net.ErrClosed) as ei:
                    call()
                assert str(ei.value) == f"{op} {where}: use of closed network connection"
            with pytest.raises(gonb.EOF):                                   # the peer: EOF
                s.read(bytearray(1))
        finally:
            s.close()
        ln = net.listen("tcp", "127.0.0.1:0")
        ln.close()
        for op, call in [("accept", ln.accept), ("close", ln.close), ("set", lambda: ln.set_deadline(None))]:
            with pytest.raises(net.ErrClosed) as ei:
                call()
            assert str(ei.value) == f"{op} tcp {ln.addr()}: use of closed network connection"
        with pytest.raises(TypeError):
            w.ln.set_deadline("x")                                            # the live listener

    in_run(gorun, body)


# ---------------------------------------------------------------------------------------------
# the runtime's own calls


SLEEP_CASES = {   # gonb.sleep takes an int or a float: the same words in both modes (chapter 15: no C parameter)
    "str": ("1", "TypeError: gonb.sleep: a duration is a number of seconds, not str"),
    "None": (None, "TypeError: gonb.sleep: a duration is a number of seconds, not NoneType"),
    "Fraction": (fractions.Fraction(1, 10), "TypeError: gonb.sleep: a duration is a number of seconds, not Fraction"),
    "Decimal": (decimal.Decimal("0.1"), "TypeError: gonb.sleep: a duration is a number of seconds, not Decimal"),
    "list": ([1], "TypeError: gonb.sleep: a duration is a number of seconds, not list"),
    "nan": (math.nan, "ValueError: gonb.sleep: duration is NaN"),   # chapter 06's one rule (issue 24)
    "bool": (False, "TypeError: gonb.sleep: a duration is a number of seconds, not bool"),
}


def test_runtime_bad_calls(gorun, fd_baseline):
    "gonb.go/sleep/syscall/run with wrong arguments or inside run: exact errors, the run goes on."
    def body(w):
        for call, types, words in [
                (lambda: gonb.go(123), TypeError, "gonb.go: 123 is not callable"),
                (lambda: gonb.go(None), TypeError, "gonb.go: None is not callable"),
                *[((lambda v=v: gonb.sleep(v)), (TypeError, ValueError), words) for v, words in SLEEP_CASES.values()],
                (lambda: gonb.syscall(123), TypeError, ""),
                (lambda: gonb.run(lambda: None), RuntimeError, "already running")]:
            with pytest.raises(Exception) as ei:
                call()
            text = check_clear(ei.value, types)
            if words.startswith(("TypeError: ", "ValueError: ")): assert f"{type(ei.value).__name__}: {text}" == words
            else: assert words in text
            w.check()
        gonb.sleep(-1)                  # Go's time.Sleep(d <= 0) returns at once
        gonb.sleep(0)

    in_run(gorun, body)


def test_fields_keep_python_semantics(gorun, fd_baseline):
    """What a user can reach from a conn or a goroutine holds what it is given, as Python attributes do:
    no C conversion (a C int would overflow on 2**40, a C bint would read back True). Compiled, the same."""
    def body(w):
        c, s = pair()
        try:
            pd = c.fd.pfd.pd
            fd, closing = pd.fd, pd.closing
            pd.fd, pd.closing = 2 ** 40, "yes"
            assert (pd.fd, pd.closing) == (2 ** 40, "yes")
            pd.fd, pd.closing = fd, closing
            g = gonb.go(lambda: None)
            g.preempt = "later"
            assert g.preempt == "later"
            g.preempt = False
            assert_talks(c, s)
        finally:
            c.close()
            s.close()

    in_run(gorun, body)


MODES_PROBE = textwrap.dedent('''
    import decimal, fractions, json, math, gonb, gonb.compiled
    out = {"active": gonb.compiled.active}
    def main():
        for name, v in [("str", "1"), ("None", None), ("Fraction", fractions.Fraction(1, 10)),
                        ("Decimal", decimal.Decimal("0.1")), ("nan", math.nan), ("bool", False), ("tiny", 1e-9)]:
            try: gonb.sleep(v); out[name] = "ok"
            except Exception as e: out[name] = f"{type(e).__name__}: {e}"
    gonb.run(main)
    print(json.dumps(out))
''')


def test_both_modes_give_the_same_words():
    "The same bad calls in a pure and a compiled process (when this source has a build): the same outcome, word for word."
    from gonb import compiled
    if not compiled.complete(compiled.buildid()):
        pytest.skip("no compiled build of this source (make compile)")
    runs = {}
    for switch in ("GONB_PURE_PYTHON", "GONB_REQUIRE_COMPILED"):
        env = {k: v for k, v in os.environ.items() if k not in ("GONB_PURE_PYTHON", "GONB_REQUIRE_COMPILED")}
        out = subprocess.run([sys.executable, "-c", MODES_PROBE], env={**env, switch: "1"},
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        runs[switch] = json.loads(out.stdout)
    pure, comp = runs["GONB_PURE_PYTHON"], runs["GONB_REQUIRE_COMPILED"]
    assert (pure.pop("active"), comp.pop("active")) == (False, True)
    assert pure == comp
    assert pure["Fraction"] == SLEEP_CASES["Fraction"][1] and pure["bool"] == SLEEP_CASES["bool"][1]


def test_runtime_calls_outside_run(fd_baseline):
    "Outside gonb.run: RuntimeError naming gonb.run; run(non-callable) is a TypeError; run works after."
    for call in (lambda: gonb.go(print), lambda: gonb.sleep(0.001), gonb.gosched,
                 lambda: gonb.syscall(print), lambda: net.listen("tcp", "127.0.0.1:0"),
                 lambda: net.dial("tcp", "127.0.0.1:1")):
        with pytest.raises(RuntimeError, match=r"gonb\.run"):
            call()
    for bad in (123, None, "main"):
        with pytest.raises(TypeError, match="not callable"):
            gonb.run(bad)
    assert sched.m0 is None
    assert gonb.run(lambda: 41 + 1) == 42


# ---------------------------------------------------------------------------------------------
# listen and dial: networks and addresses. Go 1.19's words, checked against its sources.

NET_CASES = {
    # wrong types
    "listen-network-int": (lambda: net.listen(123, "127.0.0.1:0"), (TypeError, ValueError), "123"),
    "listen-network-None": (lambda: net.listen(None, "127.0.0.1:0"), (TypeError, ValueError), "None"),
    "dial-address-None": (lambda: net.dial("tcp", None), TypeError, None),
    "dial-address-int": (lambda: net.dial("tcp", 8080), TypeError, None),
    "listen-address-bytes": (lambda: net.listen("tcp", b"127.0.0.1:0"), TypeError, None),
    "dial-timeout-str": (lambda: net.dial("tcp", "127.0.0.1:1", timeout="1s"), TypeError, None),
    # ports (net/port.go parsePort, net/lookup.go LookupPort)
    "listen-port-minus-1": (lambda: net.listen("tcp", ":-1"), ValueError, "listen tcp: address -1: invalid port"),
    "listen-port-65536": (lambda: net.listen("tcp", "127.0.0.1:65536"), ValueError,
                          "listen tcp: address 65536: invalid port"),
    "dial-port-huge": (lambda: net.dial("tcp", "127.0.0.1:99999999999999999999"), ValueError,
                       "dial tcp: address 99999999999999999999: invalid port"),
    "listen-port-unknown-service": (lambda: net.listen("tcp", "127.0.0.1:nosuchservice"), OSError,
                                    "listen tcp: lookup tcp/nosuchservice: unknown port"),
    "listen-port-two-signs": (lambda: net.listen("tcp", "127.0.0.1:+-80"), OSError,
                              "listen tcp: lookup tcp/+-80: unknown port"),
    "listen-port-double-minus": (lambda: net.listen("tcp", "127.0.0.1:--1"), OSError,
                                 "listen tcp: lookup tcp/--1: unknown port"),
    # host:port syntax (net/ipsock.go SplitHostPort)
    "listen-unclosed-bracket": (lambda: net.listen("tcp", "[::1"), ValueError,
                                "listen tcp: address [::1: missing ']' in address"),
    "listen-bare-ipv6": (lambda: net.listen("tcp", "::1:80"), ValueError,
                         "listen tcp: address ::1:80: too many colons in address"),
    "dial-three-parts": (lambda: net.dial("tcp", "a:b:c"), ValueError,
                         "dial tcp: address a:b:c: too many colons in address"),
    "listen-bracket-no-colon": (lambda: net.listen("tcp", "[::1]80"), ValueError,
                                "listen tcp: address [::1]80: missing port in address"),
    "listen-no-port": (lambda: net.listen("tcp", "127.0.0.1"), ValueError,
                       "listen tcp: address 127.0.0.1: missing port in address"),
    # empty addresses (net/dial.go resolveAddrList: `dial` needs one)
    "dial-tcp-empty": (lambda: net.dial("tcp", ""), OSError, "dial tcp: missing address"),
    "dial-unix-empty": (lambda: net.dial("unix", ""), OSError, "dial unix: missing address"),
    # addresses the kernel refuses
    "listen-foreign-ip": (lambda: net.listen("tcp", "192.0.2.1:0"), OSError,
                          "listen tcp 192.0.2.1:0: bind: cannot assign requested address"),
    "listen-tcp6-with-ipv4": (lambda: net.listen("tcp6", "127.0.0.1:0"), ValueError,
                              "listen tcp6: address 127.0.0.1: no suitable address found"),
    "dial-tcp4-with-ipv6": (lambda: net.dial("tcp4", "[::1]:1"), ValueError,
                            "dial tcp4: address ::1: no suitable address found"),
    "listen-unix-path-too-long": (lambda: net.listen("unix", LONG_UNIX_PATH), OSError,
                                  f"listen unix {LONG_UNIX_PATH}: bind: invalid argument"),
    "dial-unix-path-too-long": (lambda: net.dial("unix", LONG_UNIX_PATH), OSError,
                                f"dial unix {LONG_UNIX_PATH}: connect: invalid argument"),
    "listen-unknown-zone": (lambda: net.listen("tcp", "[fe80::1%nosuchif]:0"), OSError,
                            "listen tcp [fe80::1%nosuchif]:0: "),
}


@pytest.mark.parametrize("case", list(NET_CASES))
def test_listen_dial_bad_input(gorun, fd_baseline, case):
    """net.listen / net.dial with a bad network, address or timeout: the exception class, Go's
    words (exact, or the prefix for the zone case whose errno depends on the host), no fd left
    open, and the witness echo still works."""
    call, types, words = NET_CASES[case]

    def body(w):
        with pytest.raises(Exception) as ei:
            call()
        text = check_clear(ei.value, types)
        if isinstance(ei.value, OSError) or isinstance(words, str) and words.startswith(("listen ", "dial ")):
            assert isinstance(ei.value, net.OpError), repr(ei.value)
        if words and words.startswith(("listen ", "dial ")):
            if words.endswith(": "):
                assert text.startswith(words), text
            else:
                assert text == words
        elif words:
            assert words in text, text

    in_run(gorun, body)


def test_listen_empty_addresses(gorun, fd_baseline):
    """Go's Listen("tcp", "") listens on every address, on a port the kernel picks (internetAddrList
    skips SplitHostPort for an empty address); Listen("unix", "") binds an autobound abstract
    socket (an empty sun_path). Both work and close."""
    def body(w):
        with net.listen("tcp", "") as ln:
            port = ln.addr().Port
            assert port > 0 and str(ln.addr()) == f"[::]:{port}"
            with net.dial("tcp", f"127.0.0.1:{port}") as c, ln.accept() as s:
                assert_talks(c, s)
        with net.listen("unix", "") as ln:
            name = str(ln.addr())
            assert name.startswith("@") and len(name) > 1, name
            with net.dial("unix", name) as c, ln.accept() as s:
                assert_talks(c, s)

    in_run(gorun, body)


# ---------------------------------------------------------------------------------------------
# wrong thread, wrong run


def test_close_from_a_plain_thread(gorun, fd_baseline):
    """conn.close() from a thread that is not the gonb run's: a RuntimeError ("not on a goroutine",
    as for every other runtime call) and no half-done close: the goroutine parked in read on that
    conn stays parked and gets the data that comes next, and the conn keeps working."""
    def body(w):
        c, s = pair()
        try:
            got = []

            def reader():
                try:
                    got.append(read_exactly(c, 5))
                except Exception as e:
                    got.append(e)

            gonb.go(reader)
            wait_parked(1, "IO wait")
            errs = []

            def foreign():
                try:
                    c.close()
                except BaseException as e:
                    errs.append(e)

            t = threading.Thread(target=foreign)
            t.start()
            gonb.syscall(t.join)
            assert len(errs) == 1 and isinstance(errs[0], RuntimeError), errs
            assert "goroutine" in str(errs[0])
            gonb.sleep(0.05)
            assert got == [], f"the parked reader was disturbed: {got!r}"
            s.write(b"hello")
            wait_until(lambda: got, timeout=2, what="the parked reader woken by the data", every=0.005)
            assert got == [b"hello"], got
            assert_talks(c, s)
        finally:
            for x in (c, s):
                try:
                    x.close()
                except net.ErrClosed:
                    pass

    in_run(gorun, body)


FOREIGN_CALLS = [
    pytest.param(lambda c: c.read(bytearray(8)), id="read"),
    pytest.param(lambda c: c.set_read_deadline(gonb.now() + 0.01), id="set_read_deadline"),
]


@pytest.mark.parametrize("call", FOREIGN_CALLS)
def test_call_from_a_plain_thread(gorun, fd_baseline, call):
    "conn.read() or a deadline set from a foreign thread: RuntimeError; the conn is unharmed."
    def body(w):
        c, s = pair()
        try:
            errs = []

            def foreign():
                try:
                    call(c)
                except BaseException as e:
                    errs.append(e)

            t = threading.Thread(target=foreign)
            t.start()
            gonb.syscall(t.join)
            assert len(errs) == 1 and isinstance(errs[0], RuntimeError), errs
            assert_talks(c, s)
            s.write(b"later")
            assert read_exactly(c, 5) == b"later"
        finally:
            c.close()
            s.close()

    in_run(gorun, body)


def _leftover_pair(gorun):
    "A connected pair made in a gonb run that returns without closing it."
    kept = {}

    def first():
        kept["c"], kept["s"] = pair()

    gorun(first)
    return kept["c"], kept["s"]


def test_close_after_the_run_ended(gorun, fd_baseline):
    """A conn left open when gonb.run returns can still be closed afterwards, outside any run (as
    cleanup code does): close() succeeds and releases the fd."""
    c, s = _leftover_pair(gorun)
    try:
        nfds = open_fds()
        try:
            c.close()
        except Exception as e:
            pytest.fail(f"close() after the run ended raised {type(e).__name__}: {e}")
        assert c.fd.pfd.sock.fileno() == -1, "the fd was not released"
        assert open_fds() == nfds - 1
    finally:
        for x in (c, s):                           # never leak, whatever gonb did
            x.fd.pfd.sock.close()


def test_conn_from_an_earlier_run(gorun, fd_baseline):
    """Reading, in a new run, from a conn made by an earlier one (whose poller is gone) fails
    promptly with a clear exception instead of parking forever on a registration nobody polls."""
    c, s = _leftover_pair(gorun)
    try:
        def second():
            def dog():
                gonb.sleep(3)
                raise AssertionError("a read on a conn from an earlier run parked for 3 s (hang)")
            gonb.go(dog)
            with pytest.raises((OSError, RuntimeError)):
                s.read(bytearray(4))
            return "ok"

        assert gorun(second) == "ok"
    finally:
        for x in (c, s):
            x.fd.pfd.sock.close()


# ---------------------------------------------------------------------------------------------
# Hypothesis: gonb.net.SplitHostPort and LookupPort against a model of Go's


def go_split_host_port(hostport):
    """Go 1.19's net.SplitHostPort (src/net/ipsock.go), restated: ("ok", (host, port)) or
    ("err", text of the *AddrError)."""
    def fail(why):
        return "err", (f"address {hostport}: {why}" if hostport else why)

    last_colon = hostport.rfind(":")              # the port follows the last colon
    if last_colon < 0:
        return fail("missing port in address")
    open_from = close_from = 0                    # stray brackets are looked for from here on
    if hostport.startswith("["):
        rb = hostport.find("]")                   # the first ']' must sit right before that colon
        if rb < 0:
            return fail("missing ']' in address")
        if rb + 1 == len(hostport):
            return fail("missing port in address")
        if rb + 1 != last_colon:
            return fail("too many colons in address" if hostport[rb + 1] == ":" else "missing port in address")
        host = hostport[1:rb]
        open_from, close_from = 1, rb + 1
    else:
        host = hostport[:last_colon]
        if ":" in host:
            return fail("too many colons in address")
    if "[" in hostport[open_from:]:
        return fail("unexpected '[' in address")
    if "]" in hostport[close_from:]:
        return fail("unexpected ']' in address")
    return "ok", (host, hostport[last_colon + 1:])


def gonb_split(hostport):
    try:
        return "ok", tuple(net.SplitHostPort(hostport))
    except net.AddrError as e:
        return "err", str(e)


ADDR_ALPHABET = "[]:0123456789abcdef%."


@settings(max_examples=3000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=ADDR_ALPHABET, max_size=24))
@example("")
@example(":")
@example("[::1]:80")
@example("[::1%eth0]:http")
@example("[::1]")
@example("[::1]]:80")
@example("[[::1]:80")
@example("a[b:80")
@example("[a]b:80")
@example("[a]:b:80")
def test_split_host_port_matches_go(hostport):
    assert gonb_split(hostport) == go_split_host_port(hostport)


def test_split_host_port_wrong_type():
    "A non-str address is a TypeError, not an AttributeError from deep inside."
    for bad in (None, 80, b"127.0.0.1:80"):
        with pytest.raises(TypeError):
            net.SplitHostPort(bad)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet="abcdef0123456789.%", max_size=12), st.text(alphabet="0123456789abc", max_size=6))
def test_join_then_split_round_trips(host, port):
    "Go's property: SplitHostPort(JoinHostPort(h, p)) == (h, p) for bracket-free h and colon-free p."
    assert tuple(net.SplitHostPort(net.JoinHostPort(host, port))) == (host, port)
    h6 = host + ":" + host
    assert tuple(net.SplitHostPort(net.JoinHostPort(h6, port))) == (h6, port)


def go_lookup_port(service):
    """Go 1.19's LookupPort("tcp", service) for services made of signs and digits: parsePort
    (src/net/port.go: one optional sign, decimal digits, saturating) and the 0..65535 check. A
    service that is not a number needs a lookup; none of these strings names a service, so that
    ends in `lookup tcp/S: unknown port` (Go 1.22+'s words, CL 530415; the README's *Which Go*)."""
    if service == "":
        return "ok", 0
    s, neg = service, False
    if s[0] == "+":
        s = s[1:]
    elif s[0] == "-":
        s, neg = s[1:], True
    n, cutoff, umax = 0, 1 << 30, (1 << 32) - 1
    for ch in s:
        if not "0" <= ch <= "9":
            return "err", f"lookup tcp/{service}: unknown port"
        if n >= cutoff:
            n = umax
            break
        n = n * 10 + int(ch)
        if n > umax:
            n = umax
            break
    if not neg and n >= cutoff:
        port = cutoff - 1
    elif neg and n > cutoff:
        port = -cutoff
    else:
        port = -n if neg else n
    if not 0 <= port <= 65535:
        return "err", f"address {service}: invalid port"
    return "ok", port


@settings(max_examples=1500, deadline=None, database=None)
@given(st.text(alphabet="+-0123456789", max_size=9))      # <= 9 digits: below Go's uint32 wrap-around
@example("+")
@example("-")
@example("+-80")
@example("-0")
@example("+80")
@example("65535")
@example("65536")
def test_lookup_port_matches_go(service):
    try:
        got = "ok", net.LookupPort("tcp", service)
    except (net.AddrError, net.DNSError) as e:
        got = "err", str(e)
    assert got == go_lookup_port(service)
