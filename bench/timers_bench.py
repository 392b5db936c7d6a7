"""Does a full timer heap slow a message? An echo round trip with 0, then 100,000 live timers.

    .venv/bin/python bench/timers_bench.py [--timers 100000] [--msgs 10000] [--repeat 5] [--out DIR]

Two goroutines exchange 128-byte messages over a loopback TCP connection; before every read each
side sets a read deadline, so every message also re-arms a runtime timer on the same heap. The same
program runs with no other timer, then beside `--timers` armed `gonb.after_func` timers and contexts
with a timeout (one in a hundred), all on P0's heap. (Not `Timer`s or `Ticker`s: since Go 1.23, and in
gonb, a channel timer is on the heap only while a goroutine waits on its channel; chapter 12.) Each figure is
the median of --repeat runs, alternating; the ratio is what to read (the machine is shared). With --out,
the figures and the command go to DIR/latest.json (chapter 12 reads bench/results/timers).
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import gonb
from gonb import context, net
from gonb.runtime import sched


def _noop(): pass


def echo_rate(n_timers, msgs):
    "Round trips per second over loopback with `n_timers` armed timers on the heap."
    def main():
        keep = []
        for i in range(n_timers):
            if i % 100 == 0: keep.append(context.with_timeout(context.background(), 3600))
            else: keep.append(gonb.after_func(3600 + i * 1e-3, _noop))
        live = sched.p0.ntimers
        ln = net.listen("tcp", "127.0.0.1:0")
        c = net.dial("tcp", str(ln.addr())); s = ln.accept()

        def server():
            buf = bytearray(128)
            while True:
                s.set_read_deadline(gonb.now() + 60)
                try: n = s.read(buf)
                except (gonb.EOF, OSError): return
                s.write(buf[:n])

        gonb.go(server)
        msg, buf = b"x" * 128, bytearray(128)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(msgs):
            c.write(msg)
            got = 0
            while got < 128:
                c.set_read_deadline(gonb.now() + 60)
                got += c.read(memoryview(buf)[got:])
        rate, cpu_us = msgs / (time.perf_counter() - t0), (time.process_time() - c0) / msgs * 1e6
        c.close(); s.close(); ln.close()
        return rate, cpu_us, live
    return gonb.run(main)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timers", type=int, default=100_000)
    ap.add_argument("--msgs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", help="directory for latest.json")
    a = ap.parse_args()
    runs = {0: [], a.timers: []}
    for _ in range(a.repeat):
        for n in runs: runs[n].append(echo_rate(n, a.msgs))
    print(f"echo round trips, {a.msgs:,} messages, median of {a.repeat} alternating runs (a read deadline re-armed per read):")
    (b_rate, b_cpu), live = [statistics.median(x) for x in zip(*runs[0])][:2], runs[a.timers][0][2]
    f_rate, f_cpu = [statistics.median(x) for x in zip(*runs[a.timers])][:2]
    print(f"  no other timer        {b_rate:8,.0f} /s   {b_cpu:6.1f} CPU µs per round trip")
    print(f"  {live:>7,} live timers {f_rate:8,.0f} /s   {f_cpu:6.1f} CPU µs per round trip   "
          f"({f_rate / b_rate:.2f}x the rate, {f_cpu / b_cpu:.2f}x the CPU)")
    if a.out:
        meta = dict(command="python bench/timers_bench.py " + " ".join(sys.argv[1:]), date=time.strftime("%Y-%m-%d %H:%M"),
                    msgs=a.msgs, repeat=a.repeat, loadavg=os.getloadavg()[0], gonb=gonb_build())
        figures = dict(no_timers=dict(rate=b_rate, cpu_us=b_cpu), with_timers=dict(live=live, rate=f_rate, cpu_us=f_cpu),
                       rate_ratio=f_rate / b_rate, cpu_ratio=f_cpu / b_cpu)
        Path(a.out).mkdir(parents=True, exist_ok=True)
        (Path(a.out) / "latest.json").write_text(json.dumps(dict(meta=meta, figures=figures), indent=1) + "\n")


def gonb_build():
    "Which gonb ran: compiled or pure Python (gonb.compiled.describe's first words)."
    from gonb import compiled
    return compiled.describe().split(" (")[0]


if __name__ == "__main__":
    main()
