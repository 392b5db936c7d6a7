"""The book's own links: every relative link in a chapter's markdown or the README names a file that exists, and
every `#anchor` into a notebook names one of its headings (JupyterLab's anchor: the heading's text without
its markdown, spaces as '-')."""
import json, re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / "nbs"
START = re.compile(r"\]\(")


def markdown_texts():
    "(where, directory, text) for each markdown cell of the chapters, and for the README."
    yield "README.md", ROOT, (ROOT / "README.md").read_text()
    for nb in sorted(NBS.glob("*.ipynb")):
        for i, c in enumerate(json.loads(nb.read_text())["cells"]):
            if c["cell_type"] == "markdown": yield f"{nb.name} cell {i}", NBS, "".join(c["source"])


def link_targets(text):
    "The target of every inline link, allowing one level of parentheses inside it."
    for m in START.finditer(text):
        depth, j = 1, m.end()
        while j < len(text) and depth and text[j] != "\n":
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        yield text[m.end():j - 1].split(" ")[0]


def headings(nb):
    return {re.sub(r"[`*]", "", line.lstrip("#").strip()).replace(" ", "-") for c in json.loads(nb.read_text())["cells"]
            if c["cell_type"] == "markdown" for line in "".join(c["source"]).splitlines() if line.startswith("#")}


LINKS = [(where, base, t) for where, base, text in markdown_texts() for t in link_targets(text)
         if t and not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def test_the_book_has_relative_links():
    assert len(LINKS) > 20


@pytest.mark.parametrize("where,base,target", LINKS, ids=[f"{w}->{t}" for w, _, t in LINKS])
def test_relative_link_resolves(where, base, target):
    path, _, anchor = target.partition("#")
    dest = (base / path).resolve()
    assert dest.exists(), f"{where}: {target} names no file"
    if anchor and dest.suffix == ".ipynb":
        assert anchor in headings(dest), f"{where}: no heading of {path} has the anchor #{anchor}"
