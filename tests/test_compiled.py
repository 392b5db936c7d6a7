"""The compiled build (chapter 15): the `.pxd` derived from a source, the loader that serves a build only
for the source it was built from, the two environment switches, and the build's bookkeeping.

The import tests run `import gonb` in a subprocess on a copy of the package (its sources and builds), so
that a copy can be changed without touching the tree under test."""
import importlib, json, os, shutil, subprocess, sys, textwrap

import pytest
from gonb import compiled
from gonb.compiled import COMPILED_MODULES, ConventionError, EXT_SUFFIX

SWITCHES = ("GONB_PURE_PYTHON", "GONB_REQUIRE_COMPILED")


def python(args, cwd, **switches):
    "Run this interpreter on `args` in `cwd` (where the copy of gonb is), with only the given gonb switches set."
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    env.update(switches, PYTHONPATH=str(cwd))
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


PROBE = ("import gonb, importlib, json; print(json.dumps({'active': gonb.compiled.active, "
         "'files': [importlib.import_module(m).__file__ for m in gonb.compiled.COMPILED_MODULES]}))")


def probe(cwd, **switches):
    "Which mode `import gonb` runs in, and which file each compiled module was loaded from."
    out = python(["-c", PROBE], cwd, **switches)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def copy_package(dest, builds=True):
    "A copy of the package under test in `dest` (its sources, and its builds when `builds`); `dest`."
    skip = ["__pycache__"] + ([] if builds else ["__compiled__"])
    shutil.copytree(compiled.PKG_DIR, dest / "gonb", ignore=shutil.ignore_patterns(*skip))
    return dest


@pytest.fixture(scope="module")
def toolchain():
    "Skip a test that compiles on a machine that cannot."
    missing = compiled.toolchain_missing()
    if missing: pytest.skip(f"{missing}: no compiled build here")


@pytest.fixture(scope="module")
def built(toolchain):
    "The build of the current source; made here if missing (about a minute)."
    compiled.build()
    assert compiled.complete(compiled.buildid())


def all_compiled(files, root):
    return all(f.endswith(EXT_SUFFIX) and f.startswith(str(root / "gonb" / "__compiled__")) for f in files)


def all_pure(files, root):
    return all(f == str(root / "gonb" / f"{m.rpartition('.')[2]}.py") for m, f in zip(COMPILED_MODULES, files))


def test_this_process_runs_the_mode_it_was_asked_for():
    "make test's two pytest passes: GONB_REQUIRE_COMPILED=1 runs every compiled module as C, GONB_PURE_PYTHON=1 none."
    files = [importlib.import_module(m).__file__ for m in COMPILED_MODULES]
    if compiled.flag("GONB_REQUIRE_COMPILED"):
        assert compiled.active and all(f.endswith(EXT_SUFFIX) for f in files)
    elif compiled.flag("GONB_PURE_PYTHON"):
        assert not compiled.active and all(f.endswith(".py") for f in files)
    else:
        pytest.skip("neither switch set: either mode may run")


def test_the_current_build_serves_every_compiled_module(built, tmp_path):
    got = probe(copy_package(tmp_path))
    assert got["active"] and all_compiled(got["files"], tmp_path), got


def test_a_build_from_older_source_is_never_imported(built, tmp_path):
    "One module's source changed after the build: every module falls back to pure Python, none is mixed in."
    copy_package(tmp_path)
    chan = tmp_path / "gonb" / "chan.py"
    chan.write_text(chan.read_text() + "\n# changed after the build\n")
    assert any((tmp_path / "gonb" / "__compiled__").iterdir())        # the old build is still there
    got = probe(tmp_path)
    assert not got["active"] and all_pure(got["files"], tmp_path), got


def test_pure_python_switch_ignores_a_current_build(built, tmp_path):
    got = probe(copy_package(tmp_path), GONB_PURE_PYTHON="1")
    assert not got["active"] and all_pure(got["files"], tmp_path), got


def test_require_compiled_without_a_build_fails_clearly(tmp_path):
    out = python(["-c", "import gonb"], copy_package(tmp_path, builds=False), GONB_REQUIRE_COMPILED="1")
    assert out.returncode != 0
    assert "ImportError: gonb: GONB_REQUIRE_COMPILED=1, but there is no compiled build of this source" in out.stderr
    assert "make compile" in out.stderr


def test_without_a_c_compiler_the_build_says_so_in_one_line(tmp_path):
    out = python(["-m", "gonb.compiled", "build"], copy_package(tmp_path, builds=False), CC="/nonexistent/cc")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["gonb.compiled: no C compiler (/nonexistent/cc): gonb runs as pure Python"]
    assert not (tmp_path / "gonb" / "__compiled__").exists()


def test_importing_gonb_does_not_load_the_compiler(tmp_path):
    out = python(["-c", "import gonb, sys; print(sorted(m for m in sys.modules if m.startswith('Cython.')))"],
                 copy_package(tmp_path, builds=False))
    assert out.returncode == 0, out.stderr
    assert "Cython.Build" not in out.stdout and "Cython.Compiler" not in out.stdout, out.stdout


def fake_compile_all(tmp, sources, jobs=2):
    "compile_all's contract without a compiler: an (empty) extension file per module."
    (tmp / "lib").mkdir()
    files = {m: tmp / "lib" / f"{m.rpartition('.')[2]}{EXT_SUFFIX}" for m in sources}
    for f in files.values(): f.write_bytes(b"")
    return files


def test_build_replaces_older_builds_and_leaves_no_staging(tmp_path, monkeypatch, capsys):
    root = tmp_path / "__compiled__"
    (root / "0123456789abcdef").mkdir(parents=True)                  # an older build
    monkeypatch.setattr(compiled, "BUILD_ROOT", root)
    monkeypatch.setattr(compiled, "toolchain_missing", lambda: None)
    monkeypatch.setattr(compiled, "compile_all", fake_compile_all)
    bid = compiled.buildid()
    assert compiled.build() == root / bid and compiled.complete(bid)
    assert sorted(p.name for p in root.iterdir()) == [bid]           # the older build and the staging dir are gone
    assert compiled.build() == root / bid and "up to date" in capsys.readouterr().out


def test_a_failed_build_leaves_nothing_to_import(tmp_path, monkeypatch):
    def failing(tmp, sources, jobs=2): raise RuntimeError("the C compiler failed")
    monkeypatch.setattr(compiled, "BUILD_ROOT", tmp_path / "__compiled__")
    monkeypatch.setattr(compiled, "toolchain_missing", lambda: None)
    monkeypatch.setattr(compiled, "compile_all", failing)
    with pytest.raises(RuntimeError): compiled.build()
    assert list((tmp_path / "__compiled__").iterdir()) == []


# ---- the declarations and the derived .pxd ---------------------------------------------------------

A = '''"""Module a."""
import os

LIMIT = 1 << 40   # a C constant
class Desc:
    rg: object
    seq: int
    __slots__ = tuple(__annotations__)

    def bump(self, by):
        "Add `by`."
        self.seq += by
        return self.seq

class Plain:
    pass

def total(d, n):
    "n bumps of d."
    k = 0
    for i in range(n): k = d.bump(1)
    return k + (LIMIT >> 40)
'''
B = '''"""Module b."""
from .fx_a import Desc as D, Plain, total

def seq_of(h):
    "A seam: a def with a typed parameter."
    return h.seq + 1
'''
TABLES = {"fx_a": {"LIMIT": "long long", "Desc": "class", "Desc.bump": ("cpdef inline", {"by": "long"}),
                   "total": ("cpdef", {"d": "Desc", "n": "long", "k": "long", "i": "long"})},
          "fx_b": {"seq_of": ("def", {"h": "D"})}}


def derived(module, source=None, public=()):
    return compiled.derive(source or {"fx_a": A, "fx_b": B}[module], TABLES[module], TABLES, module, public)


def test_derive_declares_types_functions_and_variables():
    pxd, staged = derived("fx_a")
    assert pxd.splitlines() == [
        "cimport cython", "cdef long long LIMIT", "", "@cython.final", "cdef class Desc:",
        "    cdef public object rg", "    cdef public object seq", "    cpdef inline bump(self, long by)",
        "@cython.locals(k=cython.long, i=cython.long)", "cpdef total(Desc d, long n)"]
    assert len(staged.splitlines()) == len(A.splitlines())     # line for line: tracebacks show the source's lines
    assert 'LIMIT = 1 << 40; globals()["LIMIT"] = LIMIT   # a C constant' in staged
    assert "__slots__ = ('rg', 'seq')" in staged and "import cython; import os" in staged


def test_derive_cimports_the_extension_types_a_module_imports_and_types_a_def_in_place():
    pxd, staged = derived("fx_b")
    assert pxd.splitlines() == ["cimport cython", "from gonb.fx_a cimport Desc as D"]
    assert staged.splitlines()[2] == "@cython.locals(h=D)"      # the blank line above the def
    assert compiled.derive("import os\nclass Plain: pass\n", {}, {}) == ("", "import os\nclass Plain: pass\n")


@pytest.mark.parametrize("table, source, message", [
    ({"nosuch": ("cpdef", {})}, A, "fx_a: nosuch is not in the source"),
    ({"Plain.x": ("cpdef", {})}, A, "fx_a: Plain.x is not in the source"),
    ({"total": ("cpdef", {"n": "long"})}, A, "total is public: its parameters stay Python objects (n)"),
    ({"Desc": "class"}, A.replace("tuple(__annotations__)", "('rg', 'seq')"), "__slots__ = tuple(__annotations__)"),
    ({"Desc": "class"}, A.replace("seq: int", "seq: int = 0"), "field seq has a value in the class body"),
    ({"Plain": "class"}, A.replace("class Plain:", "class Plain(Exception):"), "an extension type is a class deriving from object"),
    ({"LIMIT": "list"}, A, "a C variable is assigned at module level"),
    ({"total": ("def", {})}, A.replace("\n\ndef total", "\nx = 1\ndef total"), "the line above a typed def is blank or a comment"),
])
def test_derive_refuses_what_the_convention_does_not_allow(table, source, message):
    with pytest.raises(ConventionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compiled.derive(source, table, {"fx_a": table}, "fx_a", public={"total"})


def test_the_declarations_name_what_the_sources_have_and_no_public_function_takes_a_c_scalar():
    "Every module's table against its real source (the build does the same), public API included."
    public = compiled.public_api()
    assert "sleep" in public["runtime"] and "run" in public["runtime"]
    for m, text in compiled.read_sources().items():
        name = m.rpartition(".")[2]
        pxd, staged = compiled.derive(text, compiled.DECLARATIONS.get(name, {}), compiled.DECLARATIONS, m, public.get(name, ()))
        assert len(staged.splitlines()) == len(text.splitlines()), m
        assert "cython" not in text, f"{m} names cython: every compiler concern belongs to chapter 15"


LOAD = textwrap.dedent('''
    import importlib.util, json, sys
    for name, path in json.loads(sys.argv[1]).items():
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    from gonb.fx_a import Desc, total, LIMIT
    from gonb.fx_b import seq_of
    d = Desc(); d.seq = 2**70; d.rg = "yes"               # fields keep Python's semantics
    big, rg = d.seq, d.rg
    d.seq = 0
    print(json.dumps({"total": total(d, 3), "seq_of": seq_of(d), "big": big == 2**70, "rg": rg, "LIMIT": LIMIT}))
''')


def test_derived_declarations_compile_and_behave_as_the_source(toolchain, tmp_path, monkeypatch):
    "Two small modules through the real build: C fields and functions, a cimport, a typed def; Python's semantics kept."
    monkeypatch.setattr(compiled, "DECLARATIONS", TABLES)
    so = compiled.compile_all(tmp_path, {"gonb.fx_a": A, "gonb.fx_b": B})
    out = python(["-c", LOAD, json.dumps({m: str(p) for m, p in so.items()})], tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"total": 4, "seq_of": 4, "big": True, "rg": "yes", "LIMIT": 1 << 40}
    a, b = (tmp_path / "gonb" / "fx_a.c").read_text(), (tmp_path / "gonb" / "fx_b.c").read_text()
    assert "static CYTHON_INLINE PyObject *__pyx_f_4gonb_4fx_a_4Desc_bump(" in a   # cpdef inline: a C function the compiler may inline
    assert "->seq" in b                   # fx_b reads Desc's field from the C struct, not by attribute lookup
