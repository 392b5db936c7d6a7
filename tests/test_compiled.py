"""The compiled build (chapter 15): the `.pxd` derived from a source, the loader that serves a build only
for the source it was built from, the two environment switches, and the build's bookkeeping.

The import tests run `import gonb` in a subprocess on a copy of the package (its sources and builds), so
that a copy can be changed without touching the tree under test."""
import importlib, json, os, shutil, subprocess, sys, textwrap, threading, time

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


ECHO = textwrap.dedent('''
    import sys, gonb
    from gonb import net

    def echo(msg=b"ping"):
        "One round trip through gonb's poller: a listener, a dialer, an echoing goroutine; what came back."
        got = []
        def main():
            l = net.listen("tcp", "127.0.0.1:0")
            def serve():
                with l.accept() as c:
                    buf = bytearray(64); c.write(buf[:c.read(buf)])
            gonb.go(serve)
            with net.dial("tcp", f"127.0.0.1:{l.addr().Port}") as c:
                c.write(msg); buf = bytearray(64); got.append(bytes(buf[:c.read(buf)]))
            l.close()
        gonb.run(main)
        return got[0].decode()
''')
RUN_AFTER_A_REBUILD = '''
print(gonb.compiled.describe(), "gonb.netpoll_epoll" in sys.modules, flush=True)
sys.stdin.readline()                         # meanwhile the test rebuilds from changed source
print(echo(), gonb.compiled.describe(), sys.modules["gonb.netpoll_epoll"].__file__, flush=True)
'''


def test_a_rebuild_never_breaks_a_running_process(built, tmp_path, monkeypatch):
    """A process that imported gonb loads gonb.netpoll_epoll at its first run(). After a rebuild from changed
    source, that run still works, from the build the process chose, and describe() still names that build."""
    copy_package(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    child = subprocess.Popen([sys.executable, "-c", ECHO + RUN_AFTER_A_REBUILD], cwd=tmp_path, text=True,
                             env={**env, "PYTHONPATH": str(tmp_path)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        old = compiled.buildid()                          # the copy's sources are the tree's
        first = child.stdout.readline()
        assert first.startswith(f"gonb: compiled (build {old}, ") and first.endswith(" False\n"), first   # no poller loaded yet
        chan = tmp_path / "gonb" / "chan.py"
        chan.write_text(chan.read_text() + "\n# changed after the build\n")
        for name, value in [("PKG_DIR", tmp_path / "gonb"), ("BUILD_ROOT", tmp_path / "gonb" / "__compiled__"),
                            ("toolchain_missing", lambda: None), ("compile_all", fake_compile_all)]:
            monkeypatch.setattr(compiled, name, value)
        new = compiled.buildid()
        assert new != old and compiled.build() == compiled.build_dir(new)
        assert compiled.complete(old)                     # kept: the child holds it
        out, err = child.communicate("go\n", timeout=60)
    finally:
        child.kill()
    assert child.returncode == 0, err
    echoed, rest = out.split(" ", 1)
    assert echoed == "ping" and rest.startswith(f"gonb: compiled (build {old}, "), out
    assert rest.rstrip().endswith(str(compiled.so_path("gonb.netpoll_epoll", old))), out


def test_pure_python_switch_ignores_a_current_build(built, tmp_path):
    got = probe(copy_package(tmp_path), GONB_PURE_PYTHON="1")
    assert not got["active"] and all_pure(got["files"], tmp_path), got


def test_require_compiled_without_a_build_fails_clearly(tmp_path):
    "A copy on PYTHONPATH is a checkout without a Makefile: the advice is the build command, not pip's."
    out = python(["-c", "import gonb"], copy_package(tmp_path, builds=False), GONB_REQUIRE_COMPILED="1")
    assert out.returncode != 0
    assert "ImportError: gonb: GONB_REQUIRE_COMPILED=1, but there is no compiled build of this source" in out.stderr
    assert "-m gonb.compiled build` builds it" in out.stderr and "pip" not in out.stderr


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


@pytest.fixture
def fake_build(tmp_path, monkeypatch):
    "build() into tmp_path/__compiled__ with compile_all faked; the build root."
    root = tmp_path / "__compiled__"
    monkeypatch.setattr(compiled, "BUILD_ROOT", root)
    monkeypatch.setattr(compiled, "toolchain_missing", lambda: None)
    monkeypatch.setattr(compiled, "compile_all", fake_compile_all)
    return root


def older_build(root, bid="0123456789abcdef"):
    "A whole build of other source in `root`; its directory."
    (root / bid).mkdir(parents=True)
    for m in COMPILED_MODULES: compiled.so_path(m, bid, root).write_bytes(b"")
    (root / bid / compiled.MANIFEST).write_text(json.dumps({"id": bid}))
    return root / bid


def test_build_replaces_older_builds_and_leaves_no_staging(fake_build, capsys):
    older_build(fake_build); (fake_build / ".staging-crashed").mkdir()   # and what a crashed builder left
    bid = compiled.buildid()
    assert compiled.build() == fake_build / bid and compiled.complete(bid)
    assert compiled.manifest(bid)["cython"] and compiled.manifest(bid)["modules"] == list(COMPILED_MODULES)
    assert sorted(p.name for p in fake_build.iterdir()) == [".lock", bid]   # the older build and the staging dirs are gone
    assert compiled.build() == fake_build / bid and "up to date" in capsys.readouterr().out


def test_a_build_a_process_holds_is_kept_until_it_is_released(fake_build):
    old = older_build(fake_build)
    held = compiled.hold(old.name)                       # what install() does in a process that loaded it
    assert held
    compiled.build()
    assert old.exists()                                  # kept while held
    held.close()                                         # the process ends
    (compiled.build_dir(compiled.buildid()) / compiled.MANIFEST).unlink()   # no longer whole: build() makes it again
    compiled.build()
    assert not old.exists()


def test_two_builders_of_one_id_both_succeed(fake_build, capsys):
    "The second builder waits for the first (the build lock), then finds the build made: one compile, two successes."
    compiling, compiles = threading.Event(), []
    def slow_compile_all(tmp, sources, jobs=2):
        compiles.append(1); compiling.set(); time.sleep(0.5)
        return fake_compile_all(tmp, sources, jobs)
    compiled.compile_all = slow_compile_all              # fake_build's monkeypatch restores it
    results = []
    first = threading.Thread(target=lambda: results.append(compiled.build())); first.start()
    assert compiling.wait(10)
    second = threading.Thread(target=lambda: results.append(compiled.build())); second.start()
    first.join(10); second.join(10)
    bid = compiled.buildid()
    assert results == [fake_build / bid] * 2 and compiles == [1] and compiled.complete(bid)
    out = capsys.readouterr().out
    assert f"built {bid}" in out and "up to date (another builder made it)" in out


def test_describe_tells_a_process_that_imported_gonb_before_its_build(fake_build, monkeypatch):
    "A kernel started before `make compile` runs pure Python: describe() says so, not that no build exists."
    monkeypatch.delenv("GONB_PURE_PYTHON", raising=False); monkeypatch.setattr(compiled, "active", False)
    assert "no compiled build of this source" in compiled.describe()
    compiled.build()
    assert compiled.describe() == (f"gonb: pure Python in this process (build {compiled.buildid()} was made after it "
                                   "imported gonb; a new process runs it)")


def test_a_failed_build_leaves_nothing_to_import(fake_build, monkeypatch):
    def failing(tmp, sources, jobs=2): raise RuntimeError("the C compiler failed")
    monkeypatch.setattr(compiled, "compile_all", failing)
    with pytest.raises(RuntimeError): compiled.build()
    assert [p.name for p in fake_build.iterdir()] == [".lock"]


def test_a_failed_wheel_build_records_why_and_describe_reports_it(fake_build, monkeypatch, capsys):
    "setup.py's build_ext: the install goes on as pure Python, one line says why, and so does describe() later."
    monkeypatch.delenv("GONB_PURE_PYTHON", raising=False); monkeypatch.setattr(compiled, "active", False)
    def failing(tmp, sources, jobs=2): raise RuntimeError("command '/bin/false' failed\nwith exit code 1")
    monkeypatch.setattr(compiled, "compile_all", failing)
    (fake_build / "stale").mkdir(parents=True)          # an earlier wheel's build/ directory
    assert compiled.build_into(fake_build) is None
    why = "the build failed (RuntimeError: command '/bin/false' failed with exit code 1)"
    assert capsys.readouterr().out.splitlines() == [f"gonb.compiled: {why}: gonb installs as pure Python"]
    bid = compiled.buildid()
    assert [p.name for p in fake_build.iterdir()] == [bid] and compiled.manifest(bid)["failed"] == why
    assert not compiled.complete(bid) and f"gonb: pure Python (this package was built without it: {why}); " in compiled.describe()


def test_a_failed_build_says_why_in_one_short_line(fake_build, monkeypatch, capsys):
    "A compiler's error names its whole command line: the line keeps its start (the compiler) and its end (the status)."
    command = ["/bin/false", *[f"-I/include/{i}" for i in range(40)], "-c", "runtime.c"]
    def failing(tmp, sources, jobs=2): raise RuntimeError(f"Command {command!r} returned non-zero exit status 1.")
    monkeypatch.setattr(compiled, "compile_all", failing)
    compiled.build_into(fake_build)
    line, = capsys.readouterr().out.splitlines()
    assert line.startswith("gonb.compiled: the build failed (RuntimeError: Command ['/bin/false', '-I/include/0'")
    assert line.endswith("'-c', 'runtime.c'] returned non-zero exit status 1.): gonb installs as pure Python") and len(line) < 250


def test_a_wheel_build_is_whole_in_the_package_being_built(fake_build, capsys):
    assert compiled.build_into(fake_build) == fake_build / compiled.buildid()
    assert compiled.complete(compiled.buildid(), fake_build) and "built" in capsys.readouterr().out


class FakeDist:
    "A distribution whose direct_url.json (PEP 610) says where it was installed from; None: from an index."
    def __init__(self, origin): self.origin = origin
    def read_text(self, name): return json.dumps(self.origin) if self.origin is not None and name == "direct_url.json" else None


@pytest.mark.parametrize("origin, source", [
    (None, "--no-binary gonb gonb"),                                              # from an index: its sdist
    ({"url": "file:///home/me/my%20gonb", "dir_info": {}}, "'/home/me/my gonb'"),  # `pip install ./gonb`
    ({"url": "https://example.org/gonb-0.1.0.tar.gz", "archive_info": {}}, "https://example.org/gonb-0.1.0.tar.gz"),
    ({"url": "https://example.org/gonb.git", "vcs_info": {"vcs": "git", "commit_id": "abc123"}}, "git+https://example.org/gonb.git@abc123"),
    ({"url": "file:///tmp/gonb-0.1.0-cp311-cp311-linux_x86_64.whl", "archive_info": {}}, "<gonb's source directory or sdist>"),
])
def test_a_pip_user_is_told_to_reinstall_from_where_gonb_came(origin, source):
    assert compiled.reinstall_command(FakeDist(origin)) == (
        f"{sys.executable} -m pip install --force-reinstall --no-deps --no-cache-dir {source}")


def test_a_build_into_a_read_only_checkout_says_what_to_do(tmp_path):
    "The copy is bind-mounted read-only in a mount namespace of the build's own (root ignores permissions, not that)."
    copy_package(tmp_path, builds=False)
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("no mount namespace here (unshare -m)")
    ro = f"mount --bind -o ro {tmp_path} {tmp_path} && exec {sys.executable} -m gonb.compiled build"
    out = python(["-c", f"import os; os.execvp('unshare', ['unshare', '-m', 'sh', '-c', {ro!r}])"], tmp_path)
    assert out.returncode == 1, out.stderr
    assert out.stdout.startswith(f"gonb.compiled: cannot write {tmp_path}/gonb/__compiled__ (Read-only file system): "), out.stdout
    assert "clone it, then `make compile`), or `pip install` it" in out.stdout
    assert not (tmp_path / "gonb" / "__compiled__").exists()


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
