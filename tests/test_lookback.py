"""Chapters only look back: the seed's core chapters (00-07) never import a later chapter's module, and a later
chapter (08+) imports only the core and the chapters numbered before it. Every import counts: module level or
inside a function, relative or absolute, and "gonb.x" strings. A module's chapter is the notebook whose
`#| default_exp` names it. Later chapters plug into the core instead (chapter 06's `runtime.attach`, chapter 00's
`dialers`, chapter 03's `__gonb_program__`)."""
import ast, json, re
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
CORE_END = (7, "07z")   # the last key a core chapter can have


def chapter_key(ch):
    "Chapters in reading order: 08 < 08a < ... < 09 < 12a."
    return int(re.match(r"\d+", ch).group()), ch


def chapters():
    "Dotted module under gonb ('net', 'bench.lab', 'bench' for a package's face) -> its chapter ('00', '08d')."
    order = {}
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        m = re.match(r"(\d+[a-z]?)_", nb.name)
        if not m: continue
        for c in json.loads(nb.read_text())["cells"]:
            for line in "".join(c["source"]).splitlines():
                if line.startswith("#| default_exp"):
                    mod = line.split()[-1]
                    order[mod.removesuffix(".__init__")] = m.group(1)
    return order


def chapter_of(order, mod):
    "The chapter of a dotted module, or of the nearest package above it that has one: (module, chapter)."
    parts = mod.split(".")
    while parts:
        if ".".join(parts) in order: return ".".join(parts), order[".".join(parts)]
        parts.pop()
    return None, None


def imported(py, mod, is_init):
    "Every gonb module `py` names: imports (absolute or relative, anywhere in the file) and 'gonb.x' strings."
    pkg = mod.split(".") if is_init else mod.split(".")[:-1]
    out = set()
    for n in ast.walk(ast.parse(py.read_text())):
        if isinstance(n, ast.ImportFrom):
            if n.level:
                stem = (pkg[:len(pkg) - (n.level - 1)] if n.level > 1 else pkg) + (n.module.split(".") if n.module else [])
            elif n.module and (n.module == "gonb" or n.module.startswith("gonb.")):
                stem = n.module.split(".")[1:]
            else: continue
            if stem: out.add(".".join(stem))
            out.update(".".join(stem + [a.name]) for a in n.names)
        elif isinstance(n, ast.Import):
            out.update(a.name[5:] for a in n.names if a.name.startswith("gonb."))
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            out.update(t.rstrip(".") for t in re.findall(r"\bgonb\.([a-z_][a-z_.]*)", n.value))
    return out


def forward_imports():
    "Each import that reaches forward, as a sentence; and how many modules were read."
    order, bad, read = chapters(), [], 0
    for py in sorted((ROOT / "gonb").rglob("*.py")):
        parts = py.relative_to(ROOT / "gonb").with_suffix("").parts
        is_init = parts[-1] == "__init__"
        mod = ".".join(parts[:-1] if is_init else parts)
        if not mod or mod.startswith("_modidx"): continue
        me_mod, me = chapter_of(order, mod)
        if me is None: continue
        read += 1
        seen = set()
        for t in sorted(imported(py, mod, is_init)):
            tm, them = chapter_of(order, t)
            if them is None or tm == me_mod or tm in seen: continue
            if is_init and tm.startswith(mod + "."): continue   # a package's face gathers its own modules
            seen.add(tm)
            if chapter_key(me) <= CORE_END < chapter_key(them):
                bad.append(f"{mod} (ch {me}) imports {tm} (ch {them}): a core chapter reaches a later one")
            elif CORE_END < chapter_key(them) and chapter_key(me) < chapter_key(them):
                bad.append(f"{mod} (ch {me}) imports {tm} (ch {them}): a chapter reaches a later one")
    return bad, read


def test_chapters_only_look_back():
    bad, read = forward_imports()
    assert read >= 20, f"only {read} modules mapped to chapters: is nbs/ there?"
    assert bad == [], "\n".join(bad)


def test_the_check_sees_a_forward_import(tmp_path, monkeypatch):
    "The rule catches each kind of import it claims to: a function-level import, a relative one, a string."
    (tmp_path / "nbs").mkdir()
    (tmp_path / "gonb").mkdir()
    for name, mod in (("00_a", "a"), ("06_b", "b"), ("09_c", "c"), ("12_d", "d")):
        cell = {"cell_type": "code", "source": [f"#| default_exp {mod}"]}
        (tmp_path / "nbs" / f"{name}.ipynb").write_text(json.dumps({"cells": [cell]}))
    (tmp_path / "gonb" / "a.py").write_text("def f():\n    from gonb import c\n")
    (tmp_path / "gonb" / "b.py").write_text("X = 'gonb.d:Thing'\nfrom . import a\n")
    (tmp_path / "gonb" / "c.py").write_text("from .d import y\nfrom . import b\n")
    (tmp_path / "gonb" / "d.py").write_text("from gonb.c import z\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    bad, read = forward_imports()
    assert read == 4
    assert bad == ["a (ch 00) imports c (ch 09): a core chapter reaches a later one",
                   "b (ch 06) imports d (ch 12): a core chapter reaches a later one",
                   "c (ch 09) imports d (ch 12): a chapter reaches a later one"]


def test_no_cycle_between_net_and_packet():
    "net (00) is whole without packet (14): packet plugs its networks into net's dial table."
    import gonb.net, gonb.packet
    assert "packet" not in vars(gonb.net)
    assert all(gonb.net.dialers[n] is gonb.packet.dial_datagram for n in gonb.net.datagram_networks)
