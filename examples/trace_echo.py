"""Trace the seed's echo server under load, with a CPU hog arriving part-way (chapter 13's picture).

    python examples/trace_echo.py OUT.json [--conns 100] [--seconds 0.3] [--hog-at 0.1] [--png OUT.png]

The server runs in its own process, on its main thread (asynchronous preemption needs it). Once the
load has warmed up it starts tracing, starts the hog `--hog-at` seconds later (never with
`--hog-at -1`), and stops tracing after `--seconds`. The load is the lab's client (Go's when `go` is
installed, else Python's) pinned to the second core, C connections in closed-loop ping-pong with 128 B.
"""
import argparse
import os
import subprocess
import sys
import types

HERE = os.path.abspath(__file__)


def serve(path, seconds, hog_at, warmup):
    "The child: the seed's echo server; trace `seconds` once the load has run `warmup` seconds."
    import gonb
    from gonb import net, trace

    def handle(conn):
        with conn:
            buf = bytearray(128)
            while True:
                try: n = conn.read(buf)
                except (gonb.EOF, OSError): return
                try: conn.write(buf[:n])
                except OSError: return

    def hog():
        x = 0
        while True: x += 1

    def acceptor(ln):
        while True: gonb.go(handle, ln.accept())

    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        print(ln.addr().Port, flush=True)
        gonb.go(acceptor, ln)
        gonb.sleep(warmup)
        with trace.tracing(path):
            if hog_at >= 0:
                gonb.sleep(hog_at)
                gonb.go(hog)
            gonb.sleep(seconds - max(hog_at, 0))
        print("traced", flush=True)
        gonb.sleep(3600)     # keep serving until the parent is done with the load

    gonb.run(main)


def run(path, conns=100, seconds=0.3, hog_at=0.1, warmup=0.6):
    "Start the traced server and the load; returns the load client's result line (JSON text)."
    from gonb import bench
    ccpu = bench.cpus()[1]
    # The server is not pinned: pinned to one core beside a busy machine's other work, its sysmon was
    # seen starved for seconds once the hog started (with and without tracing; the lab pins, this does not).
    p = subprocess.Popen([sys.executable, HERE, "--child", path, str(seconds), str(hog_at), str(warmup)],
                         stdout=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline())
        gobin = bench.go_build()
        plan = bench.Plan(seconds=warmup + seconds + 0.5, warmup=0.2, giveup=5.0)
        srv = types.SimpleNamespace(port=port, pid=p.pid, ctl=0)
        cmd = bench.load_cmd(bench.Scenario("echo", conns, 128), plan, srv, "go" if gobin else "python", gobin)
        load = subprocess.run(cmd, capture_output=True, text=True, timeout=60, preexec_fn=bench.pinned(ccpu))
        assert p.stdout.readline().strip() == "traced", "the server did not finish its trace"
        return load.stdout.strip().splitlines()[-1] if load.stdout.strip() else load.stderr
    finally:
        p.kill()
        p.wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        serve(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
        sys.exit(0)
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=0.3)
    ap.add_argument("--hog-at", type=float, default=0.1)
    ap.add_argument("--png")
    a = ap.parse_args()
    print(run(a.out, a.conns, a.seconds, a.hog_at))
    from gonb import trace
    trace.printSummary(a.out)
    if a.png: print(trace.plot(a.out, a.png, rows=16, title="echo, C=%d, a CPU hog from %g ms" % (a.conns, a.hog_at * 1000)))
