"""The compiled build (chapter 15): the `.pxd` derived from a source, the loader that serves a build only
for the source it was built from, the two environment switches, and the build's bookkeeping.

The import tests run `import gonb` in a subprocess on a copy of the package (its sources and builds), so
that a copy can be changed without touching the tree under test."""
import importlib, json, os, shutil, subprocess, sys, textwrap

import pytest
from gonb import compiled
from gonb.compiled import COMPILED_MODULES, ConventionError, EXT_SUFFIX, cclasses, derive_pxd

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


# ---- the derived .pxd ------------------------------------------------------------------------------

A = '''
import cython

@cython.cclass
class Desc:
    __slots__ = ("rg", "seq", "__weakref__")
    rg: object
    seq: cython.long

@cython.cclass
class TimedDesc(Desc):
    __slots__ = ("when", "ok", "ratio", "small")
    when: cython.longlong
    ok: cython.bint
    ratio: cython.double
    small: cython.int

class Plain:
    __slots__ = ("x",)
'''
B = '''
import cython
from .fx_a import Desc as D, Plain

@cython.cclass
class Holder:
    __slots__ = ("pd", "nxt")
    pd: D
    nxt: "Holder"

def seq_of(h: Holder):
    return h.pd.seq + 1
'''
KINDS = {"fx_a": cclasses(A), "fx_b": cclasses(B)}


def pxd(source): return derive_pxd(source, lambda m: KINDS.get(m, []), "fx")


def test_derive_pxd_declares_fields_bases_and_c_types():
    assert KINDS == {"fx_a": ["Desc", "TimedDesc"], "fx_b": ["Holder"]}
    assert pxd(A).splitlines() == [
        "", "cdef class Desc:", "    cdef public object rg", "    cdef public long seq", "    cdef object __weakref__",
        "", "cdef class TimedDesc(Desc):", "    cdef public long long when", "    cdef public bint ok",
        "    cdef public double ratio", "    cdef public int small"]


def test_derive_pxd_cimports_only_the_cclasses_a_module_imports():
    assert pxd(B).splitlines() == [
        "from gonb.fx_a cimport Desc as D",
        "", "cdef class Holder:", "    cdef public D pd", "    cdef public Holder nxt"]
    assert pxd("import cython\nfrom .fx_a import Plain\nx = 1\n") == ""


CLASS = "import cython\n@cython.cclass\nclass C{base}:\n    __slots__ = {slots}\n    {field}\n"


@pytest.mark.parametrize("base, slots, field, message", [
    ("", "('n',)", "n: int", "fx, class C, field n: type 'int' is none of"),
    ("", "('n',)", "n: Plain", "type 'Plain' is none of"),                     # a plain class is no C type
    ("", "('n', 'm')", "n: object", "does not name exactly the annotated fields"),
    ("", "('n', 'n')", "n: object", "does not name exactly the annotated fields"),
    ("", "('n',)", "n: object = None", "field n has a value in the class body"),
    ("(Plain)", "('n',)", "n: object", "derives from object or from one cclass, not Plain"),
])
def test_derive_pxd_refuses_what_the_convention_does_not_allow(base, slots, field, message):
    with pytest.raises(ConventionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pxd("from .fx_a import Plain\n" + CLASS.format(base=base, slots=slots, field=field))


def test_derive_pxd_requires_slots():
    with pytest.raises(ConventionError, match="no __slots__"): pxd("import cython\n@cython.cclass\nclass C:\n    n: object\n")


LOAD = textwrap.dedent('''
    import importlib.util, json, sys, types, weakref
    for name, path in json.loads(sys.argv[1]).items():
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    from gonb.fx_a import Desc, TimedDesc
    from gonb.fx_b import Holder, seq_of
    h = Holder(); h.pd = TimedDesc(); h.pd.seq = 41; weakref.ref(h.pd)
    try: h.pd.seq = "x"; typed = False
    except TypeError: typed = True
    print(json.dumps({"seq": seq_of(h), "typed": typed, "getset": type(Desc.__dict__["seq"]) is types.GetSetDescriptorType}))
''')


def test_derived_pxds_compile_and_a_cimported_field_is_read_as_c(toolchain, tmp_path):
    "Two small modules through the real build: C fields, a cclass base, `__weakref__`, and a cimport across modules."
    so = compiled.compile_all(tmp_path, {"gonb.fx_a": A, "gonb.fx_b": B})
    out = python(["-c", LOAD, json.dumps({m: str(p) for m, p in so.items()})], tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"seq": 42, "typed": True, "getset": True}
    c = (tmp_path / "gonb" / "fx_b.c").read_text()
    assert "->seq" in c                   # fx_b reads Desc's field from the C struct, not by attribute lookup
