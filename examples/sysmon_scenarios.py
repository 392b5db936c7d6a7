"""sysmon's three duties, each measured with and without it (chapter 03 plots these; tests assert them).

Each scenario runs a gonb program in its own process, on that process's main thread, since the
asynchronous preemption signal needs the main thread. Import the functions, or run:

    python examples/sysmon_scenarios.py hog [--off]       # a CPU hog vs an echo probe at 1 msg/ms
    python examples/sysmon_scenarios.py busy [--off]      # two gosched loops vs a parked reader
    python examples/sysmon_scenarios.py syscall [--off]   # gonb.syscall(time.sleep, 0.5) vs a 1 ms ticker
    GODEBUG=preemptslice=2ms,latencypreempt=1 python examples/sysmon_scenarios.py hog   # chapter 03's knobs

`--off` runs the same program without what sysmon provides: GODEBUG=asyncpreemptoff=1 for the hog,
no sysmon thread for the others.
"""
import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)


def child(mode, off, *args, godebug=None):
    "Start this script as a gonb program in a new process (with GODEBUG=`godebug` if given); returns the Popen."
    env = dict(os.environ)
    if godebug is not None:
        env["GODEBUG"] = godebug
    if off and mode == "hog":
        env["GODEBUG"] = "asyncpreemptoff=1"
    cmd = [sys.executable, HERE, "--child", mode] + (["--off"] if off else []) + [str(a) for a in args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)


# --- the programs, run with --child --------------------------------------------------------------

def hog_server(off, seconds=None):
    """An echo server and a goroutine spinning forever in pure Python: `while True: x += 1`. With
    `seconds`, it records every goroutine state transition for that long and prints them as JSON."""
    import gonb
    from gonb import net
    from gonb import runtime

    def hog():
        x = 0
        while True:
            x += 1

    def echo(c):
        buf = bytearray(64)
        while True:
            n = c.read(buf)
            c.write(buf[:n])

    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        print(ln.addr().Port, flush=True)
        c = ln.accept()
        gonb.go(echo, c)
        gonb.go(hog)
        if seconds is None:
            gonb.sleep(3600)   # the parent kills this process
        runtime.trace_start()
        gonb.sleep(float(seconds))
        print(json.dumps(runtime.trace_stop()), flush=True)
        os._exit(0)

    gonb.run(main)


def busy_server(off, seconds):
    "Two goroutines loop on gosched; a reader is parked on a socket the parent writes stamps into."
    import gonb
    import gonb.sysmon
    from gonb import net
    gonb.sysmon.sysmonEnabled = not off

    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        print(ln.addr().Port, flush=True)
        c = ln.accept()
        delays = []

        def reader():
            buf = bytearray(8)
            while True:
                got = 0
                while got < 8: got += c.read(memoryview(buf)[got:])
                delays.append(time.monotonic_ns() - int.from_bytes(buf, "big"))

        def spin():
            while True: gonb.gosched()
        gonb.go(reader)
        gonb.go(spin)
        gonb.go(spin)
        gonb.sleep(seconds)    # timers still run: findRunnable checks them on every gosched
        return delays

    print(json.dumps(gonb.run(main)), flush=True)
    os._exit(0)


def syscall_program(off):
    "One goroutine blocks 0.5 s in gonb.syscall(time.sleep, 0.5); another ticks every 1 ms."
    import gonb
    import gonb.sysmon
    gonb.sysmon.sysmonEnabled = not off

    def main():
        ticks = []

        def ticker():
            while True:
                ticks.append(time.monotonic())
                gonb.sleep(0.001)
        gonb.go(ticker)
        gonb.sleep(0.05)
        t0 = time.monotonic()
        gonb.syscall(time.sleep, 0.5)
        t1 = time.monotonic()
        gonb.sleep(0.05)
        gaps = [b - a for a, b in zip(ticks, ticks[1:]) if b > t0 - 0.01 and a < t1 + 0.01]
        return {"gaps": gaps, "syscall": t1 - t0}

    print(json.dumps(gonb.run(main)), flush=True)


# --- the measurements, run by the parent ----------------------------------------------------------

def hog(off=False, seconds=5.0, interval=0.001, give_up=1.0, godebug=None):
    """Probe the hog server at 1 message per `interval`: returns the round-trip times in seconds,
    stopping early (starved=True) when one reply takes longer than `give_up` seconds. `godebug`, e.g.
    "preemptslice=2ms,latencypreempt=1", is the server's GODEBUG (else it inherits this process's)."""
    p = child("hog", off, godebug=godebug)
    try:
        port = int(p.stdout.readline())
        s = socket.create_connection(("127.0.0.1", port))
        s.settimeout(give_up)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rtts, starved, stop = [], False, time.monotonic() + seconds
        while time.monotonic() < stop:
            t0 = time.monotonic()
            s.sendall(b"ping")
            try:
                got = b""
                while len(got) < 4: got += s.recv(4 - len(got))
            except socket.timeout:
                starved = True
                break
            rtts.append(time.monotonic() - t0)
            time.sleep(max(0.0, interval - (time.monotonic() - t0)))
        s.close()
        return {"rtts": rtts, "starved": starved}
    finally:
        p.kill()
        p.wait()


def hog_trace(seconds=1.0, godebug=None):
    """Probe the hog server while it traces itself for `seconds`, pausing 1 ms after each answer so the
    echo has parked before the next message comes: returns its goroutine state transitions
    (t_ns, goid, from, to, reason); goroutine 3 is the echo, 4 the hog."""
    p = child("hog", False, seconds, godebug=godebug)
    port = int(p.stdout.readline())
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stop = time.monotonic() + seconds - 0.1
    while time.monotonic() < stop:
        s.sendall(b"ping")
        got = b""
        while len(got) < 4: got += s.recv(4 - len(got))
        time.sleep(0.001)
    out = p.stdout.readline()
    p.wait()
    s.close()
    return json.loads(out)


def busy(off=False, seconds=2.0, interval=0.02):
    "Stamp messages to the busy server's parked reader; returns its wake-up delays in seconds."
    p = child("busy", off, seconds)
    port = int(p.stdout.readline())
    s = socket.create_connection(("127.0.0.1", port))
    stop = time.monotonic() + seconds - 0.3
    sent = 0
    while time.monotonic() < stop:
        s.sendall(time.monotonic_ns().to_bytes(8, "big"))
        sent += 1
        time.sleep(interval)
    out = p.stdout.readline()
    p.wait()
    s.close()
    return {"delays": [d / 1e9 for d in json.loads(out)], "sent": sent}


def syscall_gaps(off=False):
    "The 1 ms ticker's gaps while another goroutine is blocked 0.5 s in a syscall."
    p = child("syscall", off)
    out = p.stdout.readline()
    p.wait()
    return json.loads(out)


if __name__ == "__main__":
    a = sys.argv[1:]
    off = "--off" in a
    a = [x for x in a if x != "--off"]
    if a[0] == "--child":
        {"hog": lambda: hog_server(off, *a[2:]), "busy": lambda: busy_server(off, float(a[2])),
         "syscall": lambda: syscall_program(off)}[a[1]]()
    else:
        r = {"hog": hog, "busy": busy, "syscall": syscall_gaps}[a[0]](off)
        for k, v in r.items():
            if isinstance(v, list) and v:
                v = sorted(v)
                print(f"{k}: n={len(v)} p50={v[len(v) // 2] * 1e3:.2f} ms p99={v[int(len(v) * 0.99)] * 1e3:.2f} ms max={v[-1] * 1e3:.2f} ms")
            else:
                print(f"{k}: {v}")
