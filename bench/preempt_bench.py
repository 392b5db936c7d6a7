"""Latency-aware preemption, measured (chapter 03's last section): what a shorter slice buys and costs.

For each setting of GODEBUG=preemptslice (10, 5, 2, 1 ms) with latencypreempt off and on, a gonb
echo server whose process also runs a CPU hog (`x += 1` in pure Python, counted) is measured with the
lab's load client (nbs/08_latency.ipynb; Go's when `go` is installed):

* probe: one connection at 1 message per ms beside the hog: the probe's round trip p50/p99, and the
  hog's own progress (loop iterations per second) meanwhile;
* echo: 100 connections flat out beside the hog: echo throughput, and the hog's progress;
* alone: the hog with nobody waiting: its progress, and how many slices per second it is given
  (the P's schedtick rate: how often sysmon preempts a goroutine nobody waits for).

Go's own echo server with its hog (bench/go, GOMAXPROCS=1) is measured the same way, in the same run.
The server is pinned to one CPU and the client to the other, as in the lab. Results are medians over
`--repeat` runs, written to bench/results/preempt.json and plotted to bench/results/preempt.png.

    python bench/preempt_bench.py                    # ~5 min
    python bench/preempt_bench.py --repeat 1 --seconds 1.5   # ~1 min
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from gonb.bench import cpus, go_build, gonb_echo, machine, pinned, serve_control

HERE = Path(__file__).resolve()
RESULTS = HERE.parent / "results"
SLICES_MS = (10, 5, 2, 1)
CHUNK = 1 << 16            # the hog publishes its count once per CHUNK iterations


def configs():
    "(label, GODEBUG) for every setting measured; the first is Go's defaults."
    return [(f"{s} ms{' latency' if lat else ''}", f"preemptslice={s}ms,latencypreempt={lat}")
            for lat in (0, 1) for s in SLICES_MS]


# --- the server, run with --serve ------------------------------------------------------------------

def serve():
    "A gonb echo server with a counted CPU hog and the lab's control protocol (reset / report)."
    import gonb
    from gonb import net
    from gonb.runtime import sched
    chunks = [0]
    mark = {}

    def hog():
        n = 0
        while True:
            x = 0
            while x < CHUNK: x += 1
            n += 1
            chunks[0] = n

    def command(line):
        "reset: open the window; report: the hog's progress and the slices begun since (per second)."
        now, done, ticks = time.monotonic_ns(), chunks[0] * CHUNK, sched.p0.schedtick
        if line.startswith("reset"):
            mark.update(t=now, done=done, ticks=ticks, cpu=time.process_time())
            return {"ok": True}
        wall = (now - mark["t"]) / 1e9
        return {"hog_ips": (done - mark["done"]) / wall, "slices": (ticks - mark["ticks"]) / wall,
                "server_cpu": (time.process_time() - mark["cpu"]) / wall}

    def accept_loop(ln, handler):
        while True: gonb.go(handler, ln.accept())

    def main():
        ln, ctl = net.listen("tcp", "127.0.0.1:0"), net.listen("tcp", "127.0.0.1:0")
        print(ln.addr().Port, ctl.addr().Port, flush=True)
        gonb.go(accept_loop, ctl, lambda conn: serve_control(conn, command))
        gonb.go(hog)
        accept_loop(ln, gonb_echo)

    gonb.run(main)


# --- the parent --------------------------------------------------------------------------------------

def start_server(godebug, gobin, cpu):
    "A gonb server under `godebug`, or Go's echo server with its hog when `godebug` is None; (Popen, port, ctl)."
    if godebug is None:
        cmd, env = [str(Path(gobin) / "echo_server"), "-hog"], dict(os.environ)
    else:
        cmd, env = [sys.executable, str(HERE), "--serve"], dict(os.environ, GODEBUG=godebug)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, preexec_fn=pinned(cpu))
    words = p.stdout.readline().split()
    return p, int(words[0]), int(words[1]) if len(words) > 1 else 0


def load(port, ctl, pid, conns, probe, seconds, gobin, cpu):
    "One run of the lab's load client; its JSON dict."
    args = ["-addr", f"127.0.0.1:{port}", "-conns", str(conns), "-size", "128", "-warmup", "0.3",
            "-seconds", str(seconds), "-giveup", "1", "-serverpid", str(pid)]
    if probe: args.append("-probe")
    if ctl: args += ["-ctl", str(ctl)]
    cmd = [str(Path(gobin) / "load_client")] if gobin else [sys.executable, "-m", "gonb.bench", "--load"]
    r = subprocess.run(cmd + args, capture_output=True, text=True, timeout=seconds + 60, preexec_fn=pinned(cpu))
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(label, godebug, gobin, seconds, scpu, ccpu):
    "The probe and the echo scenarios against one fresh server."
    p, port, ctl = start_server(godebug, gobin, scpu)
    try:
        if godebug is None:   # Go's hog starts with the first connection: let it run before the window
            load(port, ctl, p.pid, 1, False, 0.2, gobin, ccpu)
        pr = load(port, ctl, p.pid, 0, True, seconds, gobin, ccpu)
        ec = load(port, ctl, p.pid, 100, False, seconds / 2, gobin, ccpu)
        al = load(port, ctl, p.pid, 0, False, seconds / 2, gobin, ccpu)
    finally:
        p.kill()
        p.wait()
    srv = pr.get("server") or {}
    return {"label": label, "godebug": godebug, "probe_p50": pr["probe_rtt"].get("p50"),
            "probe_p99": pr["probe_rtt"].get("p99"), "probe_n": pr["probe_rtt"].get("n"),
            "starved": pr.get("starved"), "hog_ips": srv.get("hog_ips"),
            "echo_rate": ec["rate"], "echo_hog_ips": (ec.get("server") or {}).get("hog_ips"),
            "alone_hog_ips": (al.get("server") or {}).get("hog_ips"), "alone_slices": (al.get("server") or {}).get("slices"),
            "errors": pr.get("errors", []) + ec.get("errors", []) + al.get("errors", [])}


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def summarize(runs):
    "Medians over repeats, per setting, with the hog's progress as a share of Go's defaults (10 ms, off)."
    out = {}
    for label in dict.fromkeys(r["label"] for r in runs):
        rs = [r for r in runs if r["label"] == label]
        out[label] = {k: median([r[k] for r in rs]) for k in
                      ("probe_p50", "probe_p99", "hog_ips", "echo_rate", "echo_hog_ips", "alone_hog_ips",
                       "alone_slices")}
        out[label]["starved"] = any(r["starved"] for r in rs)
    base = out[configs()[0][0]]
    for s in out.values():
        for k in ("hog_ips", "echo_hog_ips", "alone_hog_ips"):
            s[k + "_share"] = s[k] / base[k] if s[k] and base[k] else None
    return out


def run(repeat, seconds, with_go=True):
    gobin = go_build()
    scpu, ccpu = cpus()
    todo = configs() + ([("Go 1.19 (GOMAXPROCS=1)", None)] if with_go and gobin else [])
    res = {"meta": dict(machine(), date=time.strftime("%Y-%m-%d %H:%M:%S %z"), command=" ".join(sys.argv),
                        client="go" if gobin else "python", loadavg_start=os.getloadavg()[0],
                        repeat=repeat, seconds=seconds), "runs": []}
    for rep in range(repeat):
        order = todo[rep % len(todo):] + todo[:rep % len(todo)]   # rotate: drift in load hits all alike
        for label, godebug in order:
            r = measure(label, godebug, gobin, seconds, scpu, ccpu)
            r["repeat"] = rep
            res["runs"].append(r)
            print(f"{label:<24} probe p50 {ms(r['probe_p50'])} p99 {ms(r['probe_p99'])}  hog "
                  f"{r['hog_ips'] or 0:>12,.0f} it/s  echo C=100 {r['echo_rate']:>8,.0f} msg/s  alone "
                  f"{r['alone_slices'] or 0:5.0f} slices/s", file=sys.stderr, flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end", file=sys.stderr)
    res["meta"]["loadavg_end"] = os.getloadavg()[0]
    res["summary"] = summarize(res["runs"])
    return res


def ms(ns): return "     -" if ns is None else f"{ns / 1e6:6.2f}"


def table(res):
    "The summary as text, one line per setting."
    lines = [f"{'setting':<24} {'probe p50':>9} {'p99':>7}  {'hog it/s':>12} {'share':>6}  {'echo C=100':>10} "
             f"{'hog share':>9}  {'alone: share':>12} {'slices/s':>8}"]
    for label, s in res["summary"].items():
        share = lambda k: "     -" if s.get(k) is None else f"{s[k] * 100:5.0f}%"
        num = lambda k: "-" if s.get(k) is None else f"{s[k]:,.0f}"
        lines.append(f"{label:<24} {ms(s['probe_p50'])} ms {ms(s['probe_p99'])}  {num('hog_ips'):>12} "
                     f"{share('hog_ips_share')}  {num('echo_rate'):>10} {share('echo_hog_ips_share'):>9}  "
                     f"{share('alone_hog_ips_share'):>12} {num('alone_slices'):>8}")
    return "\n".join(lines)


def plot(res, path=None):
    "Four panels against the slice, latency-aware off and on: the probe, the hog's share, echo, the hog alone."
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter
    s = res["summary"]
    go = next((v for k, v in s.items() if k.startswith("Go")), None)
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.6))
    axes = axes.flatten()
    for lat, color in ((0, "C0"), (1, "C3")):
        name = "latency-aware" if lat else "slice only"
        rows = [s[f"{x} ms{' latency' if lat else ''}"] for x in SLICES_MS]
        axes[0].plot(SLICES_MS, [r["probe_p99"] / 1e6 for r in rows], "o-", color=color, label=f"{name} p99")
        axes[0].plot(SLICES_MS, [r["probe_p50"] / 1e6 for r in rows], "o--", color=color, alpha=.6, label=f"{name} p50")
        axes[1].plot(SLICES_MS, [r["hog_ips_share"] * 100 for r in rows], "o-", color=color, label=f"{name}, probe")
        axes[1].plot(SLICES_MS, [r["echo_hog_ips_share"] * 100 for r in rows], "s:", color=color, label=f"{name}, echo C=100")
        axes[1].plot(SLICES_MS, [r["alone_hog_ips_share"] * 100 for r in rows], "^--", color=color, alpha=.6,
                     label=f"{name}, alone")
        axes[2].plot(SLICES_MS, [r["echo_rate"] / 1e3 for r in rows], "o-", color=color, label=name)
        axes[3].plot(SLICES_MS, [r["alone_slices"] for r in rows], "o-", color=color, label=name)
    if go:
        axes[0].axhline(go["probe_p99"] / 1e6, color="k", lw=.8, ls="-.", label=f"Go 1.19 p99 {go['probe_p99'] / 1e6:.0f} ms")
        axes[0].axhline(go["probe_p50"] / 1e6, color="k", lw=.8, ls=":", label=f"Go 1.19 p50 {go['probe_p50'] / 1e6:.0f} ms")
        axes[2].axhline(go["echo_rate"] / 1e3, color="k", lw=.8, ls="-.", label="Go 1.19 (hog, 1 CPU)")
    axes[0].axhline(5, color="g", lw=.8, ls=":", label="target p99 5 ms")
    axes[1].axhline(80, color="g", lw=.8, ls=":", label="target 80 %")
    titles = ("hog probe round trip (ms)", "hog's iterations/s, % of Go's defaults", "echo C=100 beside the hog (k msg/s)",
              "the hog alone: slices begun per second")
    for ax, title in zip(axes, titles):
        ax.set_xscale("log")
        ax.set_xticks(SLICES_MS, [str(x) for x in SLICES_MS])
        ax.invert_xaxis()
        ax.set_xlabel("preemptslice (ms)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
    for ax, ticks in ((axes[0], [1, 2, 5, 10, 20, 50]), (axes[3], [20, 50, 100, 200, 500, 1000])):
        ax.set_yscale("log")
        ax.set_yticks(ticks, [str(t) for t in ticks])
        ax.yaxis.set_minor_formatter(NullFormatter())
    m = res["meta"]
    fig.suptitle(f"GODEBUG=preemptslice, latencypreempt: medians of {m['repeat']} runs, {m['nproc']} shared cores, "
                 f"load avg {m['loadavg_start']:.1f}", y=1.0)
    plt.tight_layout()
    if path: fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig


def main():
    if sys.argv[1:2] == ["--serve"]: return serve()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="the probe's window (the echo's is half)")
    ap.add_argument("--no-go", action="store_true", help="leave Go's server out")
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args()
    res = run(a.repeat, a.seconds, not a.no_go)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "preempt.json").write_text(json.dumps(res, indent=1))
    plot(res, out / "preempt.png")
    print(table(res))


if __name__ == "__main__":
    main()
