"""The measuring scripts under bench/ whose results files the chapters read: each runs small here and writes a
results file with its command and figures that can be wrong (the benchmark-sized runs are in bench/results/)."""
import json, os, shutil, subprocess, sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run_script(name, *args, env=None):
    subprocess.run([sys.executable, str(BENCH / name), *args], check=True, capture_output=True, text=True,
                   env={**os.environ, **(env or {})}, timeout=300)


def test_idle_memory_counts_what_a_parked_reader_holds(tmp_path):
    run_script("idle_memory.py", "--pairs", "40", "--record", str(tmp_path))
    res = json.loads((tmp_path / "latest.json").read_text())
    assert res["meta"]["command"].startswith("python bench/idle_memory.py")
    for mode, m in res["modes"].items():
        # a pair holds two sockets, two FDs and a goroutine: kilobytes, of which the parked read is a part
        assert 1_000 < m["bytes_per_pair"] < 50_000, (mode, m)
        assert 0 < m["parked_bytes_per_pair"] < m["bytes_per_pair"], (mode, m)
        assert set(m["sizes"]) == {"Conn", "netFD", "FD", "fdMutex", "Sema", "pollDesc", "FileIO", "G"}


def test_timers_bench_records_both_runs(tmp_path):
    run_script("timers_bench.py", "--timers", "300", "--msgs", "200", "--repeat", "1", "--out", str(tmp_path))
    res = json.loads((tmp_path / "latest.json").read_text())
    f = res["figures"]
    assert f["with_timers"]["live"] >= 300 and f["no_timers"]["rate"] > 0 and f["with_timers"]["rate"] > 0
    assert f["rate_ratio"] == pytest.approx(f["with_timers"]["rate"] / f["no_timers"]["rate"])
    assert "/" not in res["meta"]["gonb"].replace("gonb: ", "")   # the build's kind, no machine path


@pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (.ci/run installs golang-go)")
def test_go_inlining_records_verdicts_without_go_source(tmp_path):
    run_script("go_inlining.py", "--record", str(tmp_path))
    res = json.loads((tmp_path / "latest.json").read_text())
    v = res["verdicts"]
    assert "cannot inline casgstatus" in v["runtime"]["casgstatus"] and "cost" in v["runtime"]["casgstatus"]
    assert v["internal/poll"]["(*FD).readLock"].startswith("internal/poll/fd_mutex.go:")
    assert " as: " not in json.dumps(v)    # Go's inlined bodies (its source) are left out
