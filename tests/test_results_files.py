"""Every committed results file under bench/results/ carries its command and records no path of the machine that
produced it (a home, a work tree, a temporary directory): what it says must be true on any clone."""
import json, re
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results"
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|root|home|tmp|var/tmp)/")


def results_files():
    return sorted(RESULTS.rglob("*.json"))


def test_there_are_results_files():
    assert results_files(), RESULTS


@pytest.mark.parametrize("path", results_files(), ids=lambda p: str(p.relative_to(RESULTS)))
def test_results_file_names_no_machine_path(path):
    text = path.read_text()
    assert MACHINE_PATH.findall(text) == [], path


@pytest.mark.parametrize("path", results_files(), ids=lambda p: str(p.relative_to(RESULTS)))
def test_results_file_carries_its_command(path):
    data = json.loads(path.read_text())
    assert (data.get("meta") or {}).get("command") or data.get("command"), path
