"""The lab's Histogram (chapter 08a): every percentile within 1 % of the true one, the true max kept, mergeable,
and the same buckets as the Go load client's (bench/go/load_client.go)."""
import os, random, re, shutil, subprocess
from pathlib import Path

import pytest

from gonb.bench.servers import Histogram, hist_summary

ROOT = Path(__file__).resolve().parent.parent


def true_percentile(s, q):
    "The smallest sample with a share q of the samples at or under it."
    return s[min(len(s) - 1, max(0, -int(-q * len(s)) - 1))]


@pytest.mark.parametrize("dist", ["lognormal", "uniform", "bimodal", "tiny"])
def test_percentiles_within_one_percent_and_the_max_exact(dist):
    rng = random.Random(dist)
    gen = {"lognormal": lambda: int(rng.lognormvariate(12, 2)),
           "uniform": lambda: rng.randrange(1, 50_000_000),
           "bimodal": lambda: rng.choice((rng.randrange(20_000, 30_000), rng.randrange(5_000_000, 9_000_000))),
           "tiny": lambda: rng.randrange(0, 600)}[dist]
    samples = [gen() for _ in range(30_000)]
    h = Histogram()
    for x in samples: h.record(x)
    s = sorted(samples)
    for q in (0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0):
        t = true_percentile(s, q)
        assert t <= h.percentile(q) <= max(t * 1.01, t + 1), (q, t, h.percentile(q))
    assert h.max == s[-1] == h.percentile(1.0) == hist_summary(h)["max"]


def test_a_bucket_is_at_most_one_percent_wide_and_holds_its_values():
    for v in list(range(0, 2000)) + [2**k + d for k in range(11, 62) for d in (-1, 0, 1)]:
        b = Histogram.bucket_of(v)
        top = Histogram.bucket_ns(b)
        assert (Histogram.bucket_ns(b - 1) if b else -1) < v <= top <= max(v * 1.008, v), v


def test_merge_keeps_counts_and_the_max():
    a, b = Histogram(), Histogram()
    for x in (10, 20, 30): a.record(x)
    for x in (5, 10**9): b.record(x)
    m = Histogram().merge(a).merge(b)
    assert (m.count, m.max, m.percentile(1.0)) == (5, 10**9, 10**9)
    assert Histogram.from_buckets(m.bucket_counts(), m.max).percentile(0.5) == 20


def test_older_results_read_at_their_buckets_edge():
    "Results written with 4 buckets per power of two (before this Histogram) keep their counts and edges."
    h = Histogram.from_quarter_buckets({"40": 3, "41": 1})   # [1024, 1280] and (1280, 1536]
    assert h.count == 4
    assert 1280 <= h.percentile(0.5) <= 1280 * 1.01 and 1536 <= h.percentile(1.0) <= 1536 * 1.01


@pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain")
def test_the_go_load_client_buckets_alike(tmp_path):
    "bench/go/load_client.go's bucket(), run by Go on the same values, gives Histogram.bucket_of's buckets."
    src = (ROOT / "bench" / "go" / "load_client.go").read_text()
    fn = re.search(r"func bucket\(ns int64\) int \{.*?\n\}", src, re.S).group(0)
    values = [0, 1, 255, 256, 257, 1000, 4095, 4096, 123_456_789, 2**40 + 12345]
    (tmp_path / "main.go").write_text("package main\n\nimport (\n\t\"fmt\"\n\t\"math/bits\"\n)\n\n" + fn +
                                      "\n\nfunc main() {\n\tfor _, v := range []int64{" + ", ".join(map(str, values)) +
                                      "} {\n\t\tfmt.Println(bucket(v))\n\t}\n}\n")
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod", CGO_ENABLED="0", GO111MODULE="off")
    env.setdefault("GOCACHE", str(tmp_path / "gocache"))
    out = subprocess.run(["go", "run", "main.go"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert [int(x) for x in out.stdout.split()] == [Histogram.bucket_of(v) for v in values]
