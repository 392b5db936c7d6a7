"""The lab's proxy scenario (nbs/08c_lab.ipynb, "The proxy scenario"): client -> proxy -> Go echo backend.

    .venv/bin/python bench/proxy_bench.py [--only gonb-epoll,go,...] [--conns 10] [--size 65536]
                                          [--repeat 3] [--seconds 2] [--warmup 0.5] [--out bench/results/proxy]

The proxies (gonb.bench.servers.PROXY_KINDS): gonb with io.copy both ways (splice, chapter 14a), in the
compiled build when there is one (gonb-epoll) and in pure Python (gonb-pure); Go with io.Copy
(bench/go/proxy.go, which splices); asyncio streams; gevent. Writes latest.json to --out and prints the
table: messages/s and MiB/s of echoed payload, round-trip p50/p99, the proxy's CPU, and its CPU per MiB
moved (2 x size bytes per message). Needs go (the backend and the load client are Go's).
"""
import argparse, json, sys
from pathlib import Path

from gonb.bench.lab import proxy_table, run_proxy_lab
from gonb.bench.servers import PROXY_KINDS, raise_nofile


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="comma-separated proxies (default: " + ",".join(PROXY_KINDS) + ")")
    p.add_argument("--conns", type=int, default=10)
    p.add_argument("--size", type=int, default=64 << 10)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "proxy"))
    a = p.parse_args(argv)
    kinds = a.only.split(",") if a.only else PROXY_KINDS
    bad = [k for k in kinds if k not in PROXY_KINDS]
    if bad: sys.exit(f"proxy_bench: unknown proxy {', '.join(bad)}; choose from {', '.join(PROXY_KINDS)}")
    raise_nofile()
    command = " ".join(["python bench/proxy_bench.py"] + (sys.argv[1:] if argv is None else argv))
    res = run_proxy_lab(kinds, a.conns, a.size, a.repeat, a.seconds, a.warmup, command=command)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(res, indent=1))
    print("\n" + proxy_table(res))
    print(f"\n{res['meta']['gonb']}\nload average {res['meta']['loadavg_start']:.1f} -> {res['meta']['loadavg_end']:.1f}, "
          f"other work {res['meta']['others_cpu_median']} cores (median); "
          f"{res['meta']['elapsed_seconds']:.0f} s; results in {out / 'latest.json'}")
    return 1 if any(r.get("mismatches") for r in res["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
