"""gonb.signal and Ctrl-C: notified signals arrive on channels; without notify, KeyboardInterrupt from run
with the program's frames; the graceful-shutdown example under SIGINT and SIGTERM. Programs that need
a real signal run in their own process, with the backend of the `gorun` fixture."""
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import gonb
from gonb import signal as gsignal

ROOT = Path(__file__).resolve().parent.parent


def start(tmp_path, src=None, script=None, args=()):
    "Start a Python program (source text or a script path); wait for its first line; return (proc, line)."
    if src is not None:
        script = tmp_path / "program.py"
        script.write_text(textwrap.dedent(src))
    # SIGINT at its default in the child, as for a program started in a terminal's foreground: a runner
    # started in the background (nohup, `make test &`) ignores SIGINT, and a child inherits that
    p = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=ROOT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return p, p.stdout.readline().strip()


def finish(p, timeout=20):
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def test_sigint_without_notify_raises_keyboardinterrupt_from_run_with_the_programs_frames(gorun, tmp_path):
    p, line = start(tmp_path, """
        import gonb
        from gonb import net
        def main():
            ln = net.listen("tcp", "127.0.0.1:0")
            print("ready", flush=True)
            conn = ln.accept()
        gonb.run(main)
    """)
    assert line == "ready"
    time.sleep(0.2)                                  # parked in accept: the M is blocked in netpoll
    p.send_signal(signal.SIGINT)
    rc, out, err = finish(p)
    assert rc == -signal.SIGINT, (rc, err)           # Python's exit for an uncaught KeyboardInterrupt
    frames = re.findall(r'File "([^"]+)", line \d+, in (\S+)', err)
    assert [fn.rpartition(".")[2] for _, fn in frames] == ["<module>", "run", "main"], err   # compiled: gonb.runtime.run
    assert "conn = ln.accept()" in err and err.strip().splitlines()[-2] == "KeyboardInterrupt"
    assert not any(w in err for w in ("findRunnable", "schedule", "netpoll", "epoll")), err


def test_sigint_in_a_spinning_goroutine_raises_in_its_own_code(gorun, tmp_path):
    p, line = start(tmp_path, """
        import gonb
        def spin():
            x = 0
            while True: x += 1
        def main():
            gonb.go(spin)
            print("ready", flush=True)
            gonb.sleep(60)
        gonb.run(main)
    """)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    rc, out, err = finish(p)
    assert rc == -signal.SIGINT, (rc, err)
    assert "KeyboardInterrupt" in err and ("in spin" in err or "in main" in err), err   # its own code, or main's
    assert not any(w in err for w in ("findRunnable", "netpoll", "epoll")), err


def test_notified_sigint_is_delivered_on_the_channel_not_raised(gorun, tmp_path):
    p, line = start(tmp_path, """
        import signal, gonb
        from gonb import signal as gsignal
        def spin():
            x = 0
            while True: x += 1                       # sysmon preempts it; a signal must not kill it
        def main():
            ch = gonb.Chan(1)
            gsignal.notify(ch, signal.SIGINT, signal.SIGTERM)
            gonb.go(spin)
            print("ready", flush=True)
            got = [ch.recv().name for _ in range(3)]
            print(" ".join(got), flush=True)
        gonb.run(main)
    """)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGINT):
        time.sleep(0.25)
        p.send_signal(s)
    rc, out, err = finish(p)
    assert (rc, out.strip(), err) == (0, "SIGINT SIGTERM SIGINT", "")


def recv_exactly(c, n):
    got = b""
    while len(got) < n:
        chunk = c.recv(65536)
        assert chunk, "connection closed before the echo came back"
        got += chunk
    return got


def echo_round(c, msg):
    c.sendall(msg)
    return recv_exactly(c, len(msg))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_graceful_shutdown_loses_no_in_flight_echo(gorun, tmp_path, signum):
    p, line = start(tmp_path, script=ROOT / "examples" / "graceful_shutdown.py", args=("127.0.0.1:0", "10"))   # grace: ample on a loaded machine
    m = re.match(r"echo server on 127\.0\.0\.1:(\d+);", line)
    assert m, line
    port = int(m.group(1))
    clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]
    for c in clients: c.sendall(b"?"); assert recv_exactly(c, 1) == b"?"   # accepted: no longer in the kernel's backlog
    msgs = [os.urandom(50_000) for _ in clients]
    for c, msg in zip(clients, msgs): c.sendall(msg[:25_000])    # in flight when the signal comes
    p.send_signal(signum)
    time.sleep(0.1)
    with pytest.raises(OSError):                                 # 1. it stopped accepting
        socket.create_connection(("127.0.0.1", port), timeout=2).recv(1)
    for c, msg in zip(clients, msgs):                            # 2. the connections it serves finish
        c.sendall(msg[25_000:])
        assert recv_exactly(c, len(msg)) == msg
        c.close()
    rc, out, err = finish(p)
    assert (rc, err) == (0, ""), err
    assert out.strip().splitlines()[-1] == "shut down: 20 connections finished, 0 cut off"


def test_graceful_shutdown_cuts_off_idle_connections_after_the_grace_period(gorun, tmp_path):
    p, line = start(tmp_path, script=ROOT / "examples" / "graceful_shutdown.py", args=("127.0.0.1:0", "0.3"))
    port = int(re.match(r"echo server on 127\.0\.0\.1:(\d+);", line).group(1))
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    busy = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert echo_round(busy, b"hello") == b"hello"
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    assert echo_round(busy, b"still served") == b"still served"
    busy.close()
    assert idle.recv(1) == b""                                   # 3. cut off: the server closed it
    assert 0.25 < time.monotonic() - t0 < 5
    idle.close()
    rc, out, err = finish(p)
    assert (rc, err) == (0, "")
    assert out.strip().splitlines()[-1] == "shut down: 1 connections finished, 1 cut off"


def test_notify_stop_and_handlers_put_back(gorun):
    before = signal.getsignal(signal.SIGUSR1), signal.getsignal(signal.SIGINT)

    def main():
        ch = gonb.Chan(4)
        gsignal.notify(ch, signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert ch.recv() == signal.SIGUSR1
        gsignal.stop(ch)
        assert signal.getsignal(signal.SIGUSR1) == before[0]   # nobody wants it: Python's handler again
        ch2 = gonb.Chan(1)
        gsignal.notify(ch2, signal.SIGUSR1)
        gsignal.notify(ch, signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)
        gonb.sleep(0.05)
        assert (len(ch), len(ch2)) == (1, 1)                     # every registered channel gets it
        os.kill(os.getpid(), signal.SIGUSR1)
        gonb.sleep(0.05)
        assert (len(ch), len(ch2)) == (2, 1)                     # a full channel misses it, without blocking
        ctx, stop = gsignal.notify_context(gonb.context.background(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR2)
        ctx.done().recv()
        assert isinstance(ctx.err(), gonb.context.Canceled)
        stop()

    gorun(main)
    assert (signal.getsignal(signal.SIGUSR1), signal.getsignal(signal.SIGINT)) == before


def test_notify_bad_input(gorun):
    def main():
        ch = gonb.Chan(1)
        with pytest.raises(TypeError, match="name the signals"): gsignal.notify(ch)
        with pytest.raises(TypeError, match="not a gonb.Chan"): gsignal.notify("ch", signal.SIGINT)
        with pytest.raises(ValueError, match="SIGKILL cannot be caught"): gsignal.notify(ch, signal.SIGKILL)
        with pytest.raises(ValueError, match="preemption"): gsignal.notify(ch, signal.SIGURG)
        with pytest.raises(ValueError, match="is not a signal"): gsignal.notify(ch, 1000)
        gsignal.stop(ch)                                         # never notified: nothing to do
    gorun(main)

    errors = []
    def off_main():
        try: gonb.run(lambda: gsignal.notify(gonb.Chan(1), signal.SIGINT))
        except RuntimeError as e: errors.append(str(e))
    t = threading.Thread(target=off_main); t.start(); t.join()
    assert errors and "main thread" in errors[0]


def test_an_ignored_sigint_stays_ignored_after_stop(gorun):
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)        # as under nohup or a shell's background job
    try:
        def main():
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN   # run did not take it over
            ch = gonb.Chan(1)
            gsignal.notify(ch, signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            assert ch.recv() == signal.SIGINT                  # notify enables it, as in Go
            gsignal.stop(ch)
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        gorun(main)
    finally:
        signal.signal(signal.SIGINT, old)


def test_repeated_signals_are_coalesced_like_sigsend(gorun):
    "runtime/sigqueue.go sigsend: one pending bit per signal, so copies sent before the loop runs arrive once."
    def main():
        ch = gonb.Chan(8)
        gsignal.notify(ch, signal.SIGUSR1, signal.SIGUSR2)
        for _ in range(5):
            os.kill(os.getpid(), signal.SIGUSR1)             # each runs the handler; the loop has not run
            os.kill(os.getpid(), signal.SIGUSR2)
        gonb.sleep(0.05)
        got = [ch.recv() for _ in range(len(ch))]
        assert sorted(got) == [signal.SIGUSR1, signal.SIGUSR2]
        os.kill(os.getpid(), signal.SIGUSR1)                 # taken: the next one is delivered again
        assert ch.recv() == signal.SIGUSR1
        gsignal.stop(ch)
    gorun(main)


def test_stop_delivers_a_signal_already_accepted(gorun):
    "os/signal Stop: a signal caught for ch before stop(ch) is delivered (handlers.stopping, signalWaitUntilIdle)."
    def main():
        ch = gonb.Chan(1)
        gsignal.notify(ch, signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)                 # accepted: pending, the loop has not run yet
        gsignal.stop(ch)
        assert gonb.select(ch, default=True) == (0, signal.SIGUSR1, True)
        assert gsignal.handlers.m == {} and gsignal.handlers.stopping == [] and gsignal.handlers.ref == {}
    gorun(main)


def test_handlers_map_channels_to_signal_masks(gorun):
    "os/signal handlers.m: channel -> mask; handlers.ref: signal -> channels; a signal is enabled once."
    def main():
        a, b = gonb.Chan(1), gonb.Chan(1)
        gsignal.notify(a, signal.SIGUSR1, signal.SIGUSR2)
        gsignal.notify(a, signal.SIGUSR1)                    # already wanted: no second count
        gsignal.notify(b, signal.SIGUSR1)
        assert gsignal.handlers.m == {a: 1 << signal.SIGUSR1 | 1 << signal.SIGUSR2, b: 1 << signal.SIGUSR1}
        assert gsignal.handlers.ref == {signal.SIGUSR1: 2, signal.SIGUSR2: 1}
        gsignal.stop(a)
        assert gsignal.handlers.ref == {signal.SIGUSR1: 1} and signal.SIGUSR2 not in gsignal.sig.wanted
        gsignal.stop(b)
    gorun(main)


def test_uncaught_sigint_exits_130_in_a_shell(tmp_path):
    "Go's dieFromSignal re-raises SIGINT at its default action: a shell shows 130. gonb's uncaught KeyboardInterrupt does the same."
    script = tmp_path / "program.py"
    script.write_text("import os, signal, gonb\ngonb.run(lambda: (os.kill(os.getpid(), signal.SIGINT), gonb.sleep(5)))\n")
    r = subprocess.run(["sh", "-c", f'"{sys.executable}" "{script}"; echo "status=$?"'], capture_output=True, text=True,
                       cwd=ROOT, timeout=30, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert r.stdout.strip() == "status=130", (r.stdout, r.stderr)
    assert "KeyboardInterrupt" in r.stderr
