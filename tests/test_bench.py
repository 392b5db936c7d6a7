"""Smoke test of the latency lab (gonb.bench): a tiny run of every scenario with gonb, asyncio streams and
threads (the standard library only, as CI installs only the dev extra) and the Python load generator."""
import json, subprocess, sys


KINDS = ["gonb-epoll", "asyncio-streams", "threads"]
KEYS = ["echo c=1 128B", "echo c=3 128B", "echo c=3 4096B", "probe c=3", "hog", "idle n=40"]


def test_bench_smoke(tmp_path):
    cmd = [sys.executable, "-m", "gonb.bench", "--only", ",".join(KINDS), "--client", "python",
           "--conns", "1,3", "--sizes", "128,4096", "--scenarios", "echo,probe,hog,idle", "--repeat", "1",
           "--seconds", "0.2", "--warmup", "0.05", "--idle", "40", "--no-plots", "--out", str(tmp_path)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads((tmp_path / "latest.json").read_text())
    assert set(res) == {"meta", "runs", "summary", "targets"}
    m = res["meta"]
    for k in ("command", "date", "nproc", "cpu_model", "client", "plan", "server_cpu", "client_cpu"):
        assert k in m, k
    assert m["client"] == "python" and m["plan"]["kinds"] == KINDS
    keys = {r["key"] for r in res["runs"] if r["scenario"] != "probe" or r["key"] == "probe c=3"}
    assert set(KEYS) <= keys
    assert len(res["runs"]) == len(KINDS) * 8   # 4 echo + 2 probe + hog + idle, once each
    for r in res["runs"]:
        where = f"{r['kind']} {r['key']}"
        assert r["mismatches"] == 0, where
        # every echo that came back was compared byte for byte; only a starved probe goes unanswered
        assert r["sent"] > 0 and r["verified"] == r["sent"] - r["unanswered"], where
        assert r["unanswered"] == (1 if r.get("starved") else 0), where
        assert r["errors"] == [], (where, r["errors"])
        if r["scenario"] == "echo":
            assert r["messages"] > 0 and r["rate"] > 0, where
        else:
            assert r["probe_rtt"]["n"] > 0 or r.get("starved"), where
    runs = {(r["kind"], r["key"]): r for r in res["runs"]}
    # the gonb server reports its own view over the window (instrumented scenarios)
    srv = runs["gonb-epoll", "probe c=3"]["server"]
    assert 0 <= srv["busy"] <= 1 and srv["server_delay"]["n"] > 0 and srv["poll_to_run"]["n"] > 0
    # a CPU hog: asyncio never answers, gonb (sysmon preempts the hog) and threads (the GIL) do
    assert runs["asyncio-streams", "hog"]["starved"]
    assert not runs["gonb-epoll", "hog"]["starved"] and runs["gonb-epoll", "hog"]["probe_rtt"]["n"] > 0
    idle = runs["gonb-epoll", "idle n=40"]["idle"]
    assert idle["conns"] == 40 and idle["rss_after"] > 0
    s = res["summary"]["gonb-epoll"]["echo c=3 128B"]
    assert s["metrics"]["rate"]["n"] == 1 and "rate" in s["ratio"]
    assert [t["target"] for t in res["targets"]][0].startswith("echo C=3 128 B")
