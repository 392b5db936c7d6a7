"""Runtime micro-benchmarks: goroutine switches per second and spawn cost, beside raw greenlet.

    .venv/bin/python bench/runtime_bench.py [--n 200000] [--repeat 5]

Each figure is the median of --repeat runs, and each gonb figure is also given as a ratio to the
bare-greenlet baseline measured in the same run (the machine is shared and noisy: compare ratios).
"""
import argparse
import statistics
import time

from greenlet import greenlet

import gonb
from gonb.runtime import getg, gopark, goready, sched, waitReasonChanReceive


def live():
    "Goroutines not yet finished, less forcegc (goroutine 2, a system goroutine that never finishes)."
    return len(sched.allgs) - 1


def bare_greenlet_switches(n):
    "Two greenlets switching to each other n times: the floor under any goroutine switch."
    def other():
        while True: main.switch()
    main, g = greenlet.getcurrent(), greenlet(other)
    t0 = time.perf_counter()
    for _ in range(n): g.switch()
    return 2 * n / (time.perf_counter() - t0)


def goroutine_switches(n):
    "Two goroutines handing control back and forth with gopark/goready (each hand-off = 1 switch)."
    peer = {}

    def side(me, other):
        for _ in range(n):
            peer[me] = getg()
            if other in peer: goready(peer.pop(other))
            gopark(None, None, waitReasonChanReceive)

    def main():
        t0 = time.perf_counter()
        gonb.go(side, "a", "b")
        gonb.go(side, "b", "a")
        while live() > 1:
            if peer and live() == 2:   # one side finished; release the other
                goready(peer.popitem()[1])
            gonb.sleep(0.001)
        return 2 * n / (time.perf_counter() - t0)
    return gonb.run(main)


def gosched_switches(n):
    "One goroutine calling gosched n times against another: a round trip through the global queue."
    def spin():
        for _ in range(n): gonb.gosched()

    def main():
        t0 = time.perf_counter()
        gonb.go(spin); gonb.go(spin)
        while live() > 1: gonb.sleep(0.001)
        return 2 * n / (time.perf_counter() - t0)
    return gonb.run(main)


def spawn_cost(n):
    "Seconds per goroutine started, run to completion and reaped."
    def main():
        t0 = time.perf_counter()
        for _ in range(n): gonb.go(int)
        while live() > 1: gonb.gosched()
        return (time.perf_counter() - t0) / n
    return gonb.run(main)


def bare_greenlet_spawn(n):
    t0 = time.perf_counter()
    for _ in range(n): greenlet(int).switch()
    return (time.perf_counter() - t0) / n


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    med = lambda f, n: statistics.median(f(n) for _ in range(a.repeat))
    base_sw, base_sp = med(bare_greenlet_switches, a.n), med(bare_greenlet_spawn, a.n // 4)
    park = med(goroutine_switches, a.n // 2)
    yld = med(gosched_switches, a.n // 2)
    spawn = med(spawn_cost, a.n // 4)
    print(f"bare greenlet switch           {base_sw:12,.0f} /s")
    print(f"goroutine switch (park/ready)  {park:12,.0f} /s   {park / base_sw:.2f}x bare greenlet")
    print(f"goroutine switch (gosched)     {yld:12,.0f} /s   {yld / base_sw:.2f}x bare greenlet")
    print(f"bare greenlet spawn+run        {base_sp * 1e6:12.2f} us")
    print(f"goroutine spawn+run+exit       {spawn * 1e6:12.2f} us   {spawn / base_sp:.2f}x bare greenlet")
