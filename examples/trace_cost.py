"""What tracing costs: the lab's gonb echo server (epoll, C=100, 128 B) with and without GONB_TRACE,
alternating in one run, with the lab's load client on the other core (chapter 13 and the README quote it).

    python examples/trace_cost.py [--repeat 3] [--seconds 3] [--out DIR]

Prints, per run, the server's CPU per message and throughput, and for traced runs the trace's size,
events and bytes per event; then the medians and the CPU ratio traced / untraced. With --out, the runs,
the medians and the command go to DIR/latest.json (chapter 13 reads bench/results/trace_cost).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gonb import bench


def measure(traced, plan, sc, gobin, client, path):
    "One server, one echo window; returns (µs of server CPU per message, msg/s, trace bytes, events, server seconds)."
    if traced: os.environ["GONB_TRACE"] = path
    try:
        scpu, ccpu = bench.cpus()
        t0 = time.monotonic()
        with bench.Server("gonb-epoll", cpu=scpu, gobin=gobin) as srv:
            r = bench.run_load(sc, plan, srv, client, gobin, ccpu)
        life = time.monotonic() - t0
    finally:
        os.environ.pop("GONB_TRACE", None)
    if r.get("errors") and not r.get("verified"): raise RuntimeError(r["errors"])
    size = events = 0
    if traced:
        size = os.path.getsize(path)
        with open(path) as f: events = sum(1 for line in f if line.startswith("{"))
        os.unlink(path)
    return r["server_cpu"] / r["rate"] * 1e6, r["rate"], size, events, life


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--out", help="directory for latest.json")
    a = ap.parse_args()
    plan = bench.Plan(kinds=["gonb-epoll"], scenarios=("echo",), conns=(100,), sizes=(128,),
                      repeat=a.repeat, seconds=a.seconds, warmup=0.5)
    sc = plan.groups()["shared"][0]
    gobin = bench.go_build()
    client = "go" if gobin else "python"
    path = os.path.join(tempfile.mkdtemp(), "cost.json")
    rows = {False: [], True: []}
    for rep in range(a.repeat):
        for traced in (False, True):
            us, rate, size, events, life = measure(traced, plan, sc, gobin, client, path)
            rows[traced].append((us, rate, size, events, life))
            extra = f"  trace {size / 1e6:.0f} MB, {events:,} events, {size / events:.0f} B/event" if traced else ""
            print(f"{'traced  ' if traced else 'untraced'}  {us:6.1f} µs CPU/msg  {rate:9,.0f} msg/s{extra}", flush=True)
    off = statistics.median(r[0] for r in rows[False])
    on = statistics.median(r[0] for r in rows[True])
    bpe = statistics.median(r[2] / r[3] for r in rows[True])
    mbs = statistics.median(r[2] / r[4] / 1e6 for r in rows[True])
    print(f"\nmedian: untraced {off:.1f} µs/msg, traced {on:.1f} µs/msg: {on / off:.2f}x CPU per message; "
          f"{bpe:.0f} bytes per event, ~{mbs:.0f} MB/s of trace (client: {client})")
    if a.out:
        fields = ("us_per_msg", "rate", "trace_bytes", "events", "server_seconds")
        meta = dict(bench.machine(), command="python examples/trace_cost.py " + " ".join(sys.argv[1:]),
                    date=time.strftime("%Y-%m-%d %H:%M"), client=client, loadavg=os.getloadavg()[0])
        out = dict(meta=meta, runs={("traced" if t else "untraced"): [dict(zip(fields, r)) for r in rs] for t, rs in rows.items()},
                   median=dict(untraced_us_per_msg=off, traced_us_per_msg=on, ratio=on / off, bytes_per_event=bpe,
                               trace_mb_per_s=mbs))
        Path(a.out).mkdir(parents=True, exist_ok=True)
        (Path(a.out) / "latest.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
