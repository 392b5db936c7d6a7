"""`make demo`: the seed's echo server under a built-in load, with messages/s and round-trip times.

The server is examples/echo_server.py's handler, run by gonb in this process. The load comes from a
second process, also written with gonb: CONNS connections, each a goroutine in closed-loop
ping-pong (send SIZE bytes, wait for the whole echo, check it) for SECONDS, timing every round trip.

    python examples/demo.py [--conns 100] [--seconds 3] [--size 128]
"""
import argparse
import json
import os
import subprocess
import sys

import gonb
from gonb import net

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import echo_server  # noqa: E402  (the seed's server)


def load(address, conns, seconds, size):
    "The load generator's main: `conns` goroutines in closed-loop ping-pong until time is up."
    rtts, errors = [], []
    stop = gonb.now() + seconds

    def pinger():
        msg, buf = os.urandom(size), bytearray(size)
        try:
            with net.dial("tcp", address) as c:
                while gonb.now() < stop:
                    t0 = gonb.now()
                    c.write(msg)
                    got = 0
                    while got < size:
                        got += c.read(memoryview(buf)[got:])
                    rtts.append(gonb.now() - t0)
                    if buf != msg:
                        errors.append("echo mismatch")
                        return
        except OSError as e:
            errors.append(str(e))

    for _ in range(conns):
        gonb.go(pinger)
    while gonb.now() < stop + 0.2 or len(gonb.goroutines()) > 1:
        gonb.sleep(0.02)
    rtts.sort()
    pct = lambda p: rtts[min(len(rtts) - 1, int(len(rtts) * p))] if rtts else None
    # a summary, not every sample: the parent reads the pipe only once this process has exited
    return {"count": len(rtts), "p50": pct(0.5), "p99": pct(0.99), "max": pct(1), "errors": errors[:3]}


def serve_and_measure(args):
    "The server's main: serve on loopback, start the load process, wait for it without blocking."
    ln = net.listen("tcp", "127.0.0.1:0")
    gonb.go(accept_loop, ln)
    cmd = [sys.executable, os.path.abspath(__file__), "--load", str(ln.addr()),
           "--conns", str(args.conns), "--seconds", str(args.seconds), "--size", str(args.size)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    while proc.poll() is None:        # a blocking wait() would stop the M, and the server with it
        gonb.sleep(0.05)
    ln.close()
    return json.loads(proc.stdout.read())


def accept_loop(ln):
    while True:
        try:
            conn = ln.accept()
        except net.ErrClosed:
            return
        gonb.go(echo_server.handle, conn)


def report(r, args):
    if r["errors"] or not r["count"]:
        sys.exit(f"demo failed: {r['errors']}")
    print(f"echo server (gonb, {os.environ.get('GONB_NETPOLL', 'epoll')}), {args.conns} connections, "
          f"{args.size} B messages, {args.seconds} s, load from a second gonb process:")
    print(f"  {r['count'] / args.seconds:,.0f} round trips/s   p50 {r['p50'] * 1e3:.2f} ms   "
          f"p99 {r['p99'] * 1e3:.2f} ms   max {r['max'] * 1e3:.2f} ms")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--conns", type=int, default=100)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--load", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.load:
        print(json.dumps(gonb.run(load, args.load, args.conns, args.seconds, args.size)))
    else:
        report(gonb.run(serve_and_measure, args), args)
