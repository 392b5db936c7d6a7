"""Channel benchmarks: gonb's channels beside Go's, asyncio.Queue, gevent and trio, in one run.

    .venv/bin/python bench/chan_bench.py [--n 100000] [--repeat 3] [--only gonb,asyncio]

Two workloads, each timed --repeat times, the repeats taken in turns across the peers (the median
is reported):

* ping-pong: two goroutines (tasks, greenlets) hand one value back and forth over two unbuffered
  channels; one round trip is two sends and two receives, and every one of them switches.
* buffered: one sends --n values into a channel of 100 slots that another drains.

Peers: Go's channels (bench/go/chan_bench.go, built when `go` is on PATH, run with GOMAXPROCS=1:
one P, as gonb has), asyncio.Queue, gevent's Channel (unbuffered) and Queue(100), trio's memory
channels (size 0 and 100). A peer that is not installed is skipped (`pip install -e ".[bench]"`).
The machine is shared and noisy: compare the ratios to asyncio.Queue measured in the same run.
"""
import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import gonb

GO_SRC = Path(__file__).resolve().parent / "go" / "chan_bench.go"


def timed(n, body):
    "Run body() and return n / elapsed seconds."
    t0 = time.perf_counter()
    body()
    return n / (time.perf_counter() - t0)


# --- gonb ------------------------------------------------------------------------------------------

def gonb_pingpong(n):
    def main():
        ping, pong = gonb.Chan(), gonb.Chan()

        def ponger():
            for v in ping: pong.send(v + 1)

        def pinger():
            v = 0
            for _ in range(n):
                ping.send(v)
                v = pong.recv()
            ping.close()

        gonb.go(ponger)
        return timed(n, pinger)
    return gonb.run(main)


def gonb_buffered(n):
    def main():
        c, done = gonb.Chan(100), gonb.Chan()

        def consumer():
            for _ in c: pass
            done.send(True)

        def producer():
            for i in range(n): c.send(i)
            c.close()
            done.recv()

        gonb.go(consumer)
        return timed(n, producer)
    return gonb.run(main)


# --- asyncio ---------------------------------------------------------------------------------------

def asyncio_pingpong(n):
    async def main():
        ping, pong = asyncio.Queue(1), asyncio.Queue(1)

        async def ponger():
            for _ in range(n): await pong.put(await ping.get() + 1)

        task = asyncio.ensure_future(ponger())
        t0 = time.perf_counter()
        v = 0
        for _ in range(n):
            await ping.put(v)
            v = await pong.get()
        rate = n / (time.perf_counter() - t0)
        await task
        return rate
    return asyncio.run(main())


def asyncio_buffered(n):
    async def main():
        q = asyncio.Queue(100)

        async def consumer():
            for _ in range(n): await q.get()

        task = asyncio.ensure_future(consumer())
        t0 = time.perf_counter()
        for i in range(n): await q.put(i)
        await task
        return n / (time.perf_counter() - t0)
    return asyncio.run(main())


# --- gevent ----------------------------------------------------------------------------------------

def gevent_pingpong(n):
    import gevent
    from gevent.queue import Channel
    ping, pong = Channel(), Channel()

    def ponger():
        for _ in range(n): pong.put(ping.get() + 1)

    def pinger():
        v = 0
        for _ in range(n):
            ping.put(v)
            v = pong.get()

    g = gevent.spawn(ponger)
    rate = timed(n, pinger)
    g.join()
    return rate


def gevent_buffered(n):
    import gevent
    from gevent.queue import Queue
    q = Queue(100)

    def consumer():
        for _ in range(n): q.get()

    g = gevent.spawn(consumer)

    def producer():
        for i in range(n): q.put(i)
        g.join()
    return timed(n, producer)


# --- trio ------------------------------------------------------------------------------------------

def trio_pingpong(n):
    import trio

    async def main():
        ping_s, ping_r = trio.open_memory_channel(0)
        pong_s, pong_r = trio.open_memory_channel(0)

        async def ponger():
            for _ in range(n): await pong_s.send(await ping_r.receive() + 1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ponger)
            t0 = time.perf_counter()
            v = 0
            for _ in range(n):
                await ping_s.send(v)
                v = await pong_r.receive()
            return n / (time.perf_counter() - t0)
    return trio.run(main)


def trio_buffered(n):
    import trio

    async def main():
        s, r = trio.open_memory_channel(100)

        async def consumer():
            for _ in range(n): await r.receive()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer)
            t0 = time.perf_counter()
            for i in range(n): await s.send(i)
        return n / (time.perf_counter() - t0)
    return trio.run(main)


# --- Go --------------------------------------------------------------------------------------------

def go_binary():
    "Build bench/go/chan_bench.go once (cached by source hash); None without `go`."
    go = shutil.which("go")
    if go is None or not GO_SRC.exists(): return None
    h = hashlib.sha256(GO_SRC.read_bytes()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / f"gonb-chan-bench-{h}"
    if not out.exists():
        env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod", CGO_ENABLED="0")
        if "HOME" not in env: env["GOCACHE"] = str(Path(tempfile.gettempdir()) / "gonb-bench-gocache")
        r = subprocess.run([go, "build", "-o", str(out) + ".tmp", GO_SRC.name], cwd=GO_SRC.parent,
                           env=env, capture_output=True, text=True)
        if r.returncode != 0: return None
        os.replace(str(out) + ".tmp", out)
    return out


def go_rates(n, repeat):
    "Go's medians {'pingpong': rate, 'buffered': rate}, run with GOMAXPROCS=1; None without Go."
    exe = go_binary()
    if exe is None: return None
    out = subprocess.run([str(exe), "-n", str(n), "-repeat", str(repeat)], capture_output=True,
                         text=True, check=True, env=dict(os.environ, GOMAXPROCS="1")).stdout
    return json.loads(out)


# --- the run ---------------------------------------------------------------------------------------

PEERS = {
    "gonb": (gonb_pingpong, gonb_buffered),
    "asyncio.Queue": (asyncio_pingpong, asyncio_buffered),
    "gevent": (gevent_pingpong, gevent_buffered),
    "trio": (trio_pingpong, trio_buffered),
}


def installed(name):
    if name in ("gevent", "trio"):
        try: __import__(name)
        except ImportError: return False
    return True


def measure(n, repeat, only=None):
    """{peer: {'pingpong': rate, 'buffered': rate}} for every peer available. The repeats go round
    the peers in turn, so a burst of load from elsewhere on the machine lands on all of them alike."""
    peers = {name: fns for name, fns in PEERS.items() if (not only or name in only) and installed(name)}
    samples = {name: {"pingpong": [], "buffered": []} for name in peers}
    for _ in range(repeat):
        for name, (pingpong, buffered) in peers.items():
            samples[name]["pingpong"].append(pingpong(n))
            samples[name]["buffered"].append(buffered(n))
    results = {name: {kind: statistics.median(xs) for kind, xs in s.items()} for name, s in samples.items()}
    if not only or "go" in only:
        go = go_rates(n, repeat)
        if go is not None: results["Go (GOMAXPROCS=1)"] = go
    return results


def report(results):
    base = results.get("asyncio.Queue")
    print(f"{'':22}{'ping-pong round trips/s':>26}{'buffered(100) values/s':>34}")
    for name, r in results.items():
        cells = []
        for kind in ("pingpong", "buffered"):
            ratio = f"  {r[kind] / base[kind]:6.2f}x asyncio" if base else ""
            cells.append(f"{r[kind]:>14,.0f}{ratio}")
        print(f"{name:22}{cells[0]:>26}{cells[1]:>34}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="round trips / values per run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    ap.add_argument("--only", default="", help="comma-separated peers: gonb,asyncio.Queue,gevent,trio,go")
    args = ap.parse_args()
    report(measure(args.n, args.repeat, set(filter(None, args.only.split(",")))))


if __name__ == "__main__":
    main()
