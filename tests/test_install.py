"""What a pip user gets (chapter 15, "The build"): gonb's sdist, built from this tree, then a wheel built from that
sdist as pip builds one, installed into a fresh venv with no Cython. With a C compiler the wheel carries the compiled
build and runs it; with CC=/bin/false the build fails, one line says why, and the same echo runs as pure Python.
`pip uninstall` leaves no file of gonb behind.

Slow (a wheel compiles in about a minute): marked `slow`, and `make test` runs them once, beside its two pytest
passes (what a fresh venv runs does not depend on the mode of this process). The builds use this venv's setuptools
and Cython (`--no-build-isolation`); the fresh venvs get greenlet from the package index, or pip's cache."""
import json, os, re, shutil, subprocess, sys, tarfile, zipfile
from pathlib import Path

import pytest
from gonb import compiled
from test_compiled import ECHO

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
SWITCHES = ("GONB_PURE_PYTHON", "GONB_REQUIRE_COMPILED", "CC")


def run(args, cwd=None, **env):
    "Run `args` with this environment less gonb's switches, CC and PYTHON*, plus `env`; the finished process, checked."
    full = {k: v for k, v in os.environ.items() if k not in SWITCHES and not k.startswith("PYTHON")} | env
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=cwd, env=full)
    assert out.returncode == 0, f"{args}: {out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    "gonb's sdist, built from a copy of this tree's package files, with the checkout's own builds (MANIFEST.in prunes them)."
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("sdist")
    for f in ("setup.py", "pyproject.toml", "settings.ini", "MANIFEST.in", "README.md"): shutil.copy(ROOT / f, src / f)
    shutil.copytree(ROOT / "gonb", src / "gonb", ignore=shutil.ignore_patterns("__pycache__"))
    run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out), str(src)])
    return next(out.glob("gonb-*.tar.gz"))


def wheel(sdist, dest, **env):
    "The wheel pip builds from the sdist (with `env`, e.g. CC), and the lines gonb.compiled printed while building it."
    out = run([*PIP, "wheel", "-v", "--no-deps", "--no-build-isolation", "-w", str(dest), str(sdist)], **env)
    return next(dest.glob("gonb-*.whl")), re.findall(r"^\s*(gonb\.compiled: .*)$", out.stdout + out.stderr, re.M)


def venv(where, whl):
    "A fresh venv at `where` with the wheel installed (and greenlet); its python."
    run([sys.executable, "-m", "venv", "--without-pip", str(where)])
    py = where / "bin" / "python"
    run([*PIP, "--python", str(py), "install", "--quiet", str(whl)])
    return py


def gonb_files(where):
    "Every path in the venv that belongs to gonb."
    return sorted(str(p.relative_to(where)) for p in where.rglob("*") if "gonb" in p.name)


PROBE = ECHO + """
import importlib.util, json
print(json.dumps({"echo": echo(), "status": gonb.compiled.describe(), "active": gonb.compiled.active,
                  "Cython": importlib.util.find_spec("Cython") is not None, "file": gonb.runtime.__file__,
                  "cython": getattr(importlib.util.find_spec("cython"), "origin", None)}))
"""


def probe(py, **env):
    "An echo round trip in the venv, and what gonb says about its mode (run with nothing of this environment but PATH)."
    out = subprocess.run([str(py), "-c", PROBE], capture_output=True, text=True, timeout=120, cwd="/",
                         env={"PATH": os.environ["PATH"], **env})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_sdist_ships_what_a_build_needs(sdist):
    names = tarfile.open(sdist).getnames()
    top = names[0].split("/")[0]
    for f in ("setup.py", "pyproject.toml", "settings.ini", "gonb/py.typed", "gonb/compiled/__init__.py"):
        assert f"{top}/{f}" in names, f
    assert not any("__compiled__" in n or n.endswith(".so") for n in names)


@pytest.fixture(scope="module")
def toolchain():
    missing = compiled.toolchain_missing()
    if missing: pytest.skip(f"{missing}: no compiled wheel here")


def test_a_wheel_built_with_a_c_compiler_runs_compiled_and_uninstalls_whole(toolchain, sdist, tmp_path):
    whl, said = wheel(sdist, tmp_path / "wheel")
    bid = compiled.buildid()                                    # the sources in the wheel are this tree's
    assert said == [f"gonb.compiled: built {bid} ({len(compiled.COMPILED_MODULES)} modules)"]
    assert not whl.name.endswith("-none-any.whl")               # a wheel for this interpreter and platform
    names = zipfile.ZipFile(whl).namelist()
    assert "gonb/py.typed" in names                             # PEP 561: type checkers read gonb's hints
    assert {n for n in names if "__compiled__" in n} == {f"gonb/__compiled__/{bid}/{compiled.MANIFEST}"} | {
        f"gonb/__compiled__/{bid}/{m.rpartition('.')[2]}{compiled.EXT_SUFFIX}" for m in compiled.COMPILED_MODULES}

    py = venv(tmp_path / "venv", whl)
    got = probe(py, GONB_REQUIRE_COMPILED="1")
    assert got["echo"] == "ping" and got["active"] and not got["Cython"] and got["cython"] is None, got
    assert got["status"].startswith(f"gonb: compiled (build {bid}, ") and got["file"].endswith(compiled.EXT_SUFFIX), got
    status = run([str(py), "-m", "gonb.compiled", "build"], cwd="/")
    assert status.stdout == f"gonb.compiled: build {bid} is up to date\n"

    run([*PIP, "--python", str(py), "uninstall", "--yes", "gonb"])
    assert gonb_files(tmp_path / "venv") == []


def test_without_a_c_compiler_the_wheel_installs_pure_python_and_says_why(sdist, tmp_path):
    whl, said = wheel(sdist, tmp_path / "wheel", CC="/bin/false")
    assert len(said) == 1 and said[0].endswith(": gonb installs as pure Python"), said
    why = said[0].removeprefix("gonb.compiled: ").removesuffix(": gonb installs as pure Python")
    assert why.startswith("the build failed (CompileError: ") and "/bin/false" in why and len(why) < 200, why
    assert not any(n.endswith(".so") for n in zipfile.ZipFile(whl).namelist())

    py = venv(tmp_path / "venv", whl)
    got = probe(py)
    assert got["echo"] == "ping" and not got["active"] and not got["Cython"], got   # no Cython: pure Python on
    assert got["cython"] is None                                                      # nothing needs cython at run time
    assert got["status"].startswith(f"gonb: pure Python (this package was built without it: {why}); "
                                    f"pip compiles gonb when it installs it from source with a C compiler: "), got
    assert "pip install --force-reinstall --no-deps --no-cache-dir" in got["status"]
    # a pip install is never built into: pip would not uninstall what a build left there
    out = subprocess.run([str(py), "-m", "gonb.compiled", "build"], capture_output=True, text=True, timeout=120, cwd="/")
    assert out.returncode == 1 and out.stdout.startswith("gonb.compiled: gonb in ") and "is installed by pip" in out.stdout
    site = next((tmp_path / "venv").glob("lib/python*/site-packages"))
    assert sorted(p.name for p in (site / "gonb" / "__compiled__").iterdir()) == [compiled.buildid()]   # the record only

    run([*PIP, "--python", str(py), "uninstall", "--yes", "gonb"])
    assert gonb_files(tmp_path / "venv") == []
