"""The chapters' links to Go's source: every golang/go link in nbs/ names one Go declaration, is pinned to a
release tag (never a branch such as master), and gives a line range. Without network this checks the form; the
lines themselves are checked against Go's trees when GONB_GO_TREE names them (tools/golinks.py, e.g.
GONB_GO_TREE=go1.23.5=/usr/share/go-1.23:go1.19.8=/usr/share/go-1.19)."""
import importlib.util, json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("golinks", ROOT / "tools" / "golinks.py")
golinks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golinks)

LINKS = golinks.markdown_links(ROOT / "nbs")


def test_chapters_link_go():
    "The chapters that retell Go link it (a regression that drops the links fails here)."
    chapters = {nb for nb, *_ in LINKS}
    for n in ("01_pollcache", "02_netpollblock", "03_sysmon", "04_read_write", "06_proc", "09_chan", "14b_bufio"):
        assert f"{n}.ipynb" in chapters, n


def test_every_go_link_is_well_formed():
    "Any golang/go address in a notebook (markdown or code) is one the checker parses: nothing slips past it."
    parsed = {l[3] for l in LINKS}
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        for i, c in enumerate(json.loads(nb.read_text())["cells"]):
            for url in golinks.ANY_GO_LINK.findall("".join(c["source"])):
                assert c["cell_type"] == "markdown", f"{nb.name} cell {i}: Go links go in markdown cells"
                assert url in parsed, f"{nb.name} cell {i}: {url} is not [Name](.../blob/TAG/src/PATH#La-Lb)"


@pytest.mark.parametrize("nb,cell,text,url,tag,path,start,end", LINKS, ids=[f"{l[0]}:{l[2]}" for l in LINKS])
def test_link_is_pinned_and_named(nb, cell, text, url, tag, path, start, end):
    assert golinks.TAG.fullmatch(tag), f"{url}: pinned to {tag!r}, not a release tag"
    assert path.endswith(".go") and not path.endswith("_test.go"), url
    assert 1 <= start <= end, url
    assert golinks.TEXT.fullmatch(text), f"{url}: the link text {text!r} names no Go declaration"
    recv, name = golinks.split_name(text)
    assert name in text and (recv is None or recv in text)


def test_checker_finds_declarations():
    "decl_span finds a func, a method on a pointer receiver and a type, and ends each at its closing brace."
    src = "package p\n\ntype T struct {\n\ta int\n}\n\nfunc (t *T) m() {\n\tif x {\n\t}\n}\n\nfunc f(a int) int {\n\treturn a\n}\n"
    assert golinks.decl_span(src, "T") == (3, 5)
    assert golinks.decl_span(src, "m", "T") == (7, 10)
    assert golinks.decl_span(src, "f") == (12, 14)
    assert golinks.decl_span(src, "m") is None and golinks.decl_span(src, "f", "T") is None


TREES = golinks.Trees()


@pytest.mark.skipif(not TREES, reason="GONB_GO_TREE is not set: the line check needs Go's source at the linked tags")
@pytest.mark.parametrize("nb,cell,text,url,tag,path,start,end", LINKS, ids=[f"{l[0]}:{l[2]}" for l in LINKS])
def test_link_lines(nb, cell, text, url, tag, path, start, end):
    if not TREES.has(tag): pytest.skip(f"GONB_GO_TREE names no tree at {tag}")
    err = golinks.check_link(TREES, text, tag, path, start, end)
    assert err is None, f"{nb} cell {cell}: {err}"
