"""The public/private line, drawn the way nbdev draws it: a module's `__all__` is its API (`#| export`), and what Go
leaves unexported stays out of it (`#| exporti`). The API carries type hints (gonb ships py.typed): every parameter
and return of it is annotated. The API is read from `__all__`, not listed here."""
import glob, inspect, re
from pathlib import Path

import pytest

import gonb
from gonb import context, net, packet, runtime, sync, sysmon, trace

# The modules whose chapters draw the line (00, 03, 06, 13, 14); the others join as their chapters draw it.
DRAWN = [runtime, net, packet, sysmon, trace]
# Their API as the package's face and the README give it, until their own __all__ is drawn.
NOT_YET_DRAWN = [gonb.select, gonb.after, gonb.after_func, context.dial_context, context.background, context.todo,
                 context.with_cancel, context.with_deadline, context.with_timeout, context.with_value,
                 gonb.Chan, gonb.Timer, gonb.Ticker, sync.Mutex, sync.RWMutex, sync.WaitGroup, sync.Once, sync.Cond,
                 context.Context]
GO_SRC = Path("/usr/share/go-1.19/src")


def api():
    "Every name a DRAWN module exports, as (module, name, object)."
    return [(m, n, getattr(m, n)) for m in DRAWN for n in m.__all__]


def unannotated(f):
    "Names of `f`'s parameters (and 'return') that have no annotation; `self` needs none."
    sig = inspect.signature(f)
    missing = [n for n, p in sig.parameters.items() if n != "self" and p.annotation is inspect.Parameter.empty]
    if sig.return_annotation is inspect.Signature.empty and f.__name__ != "__init__": missing.append("return")
    return missing


USER_BUILT = {gonb.Chan, gonb.Timer, gonb.Ticker, sync.Cond}   # the rest come from a function (dial, listen, ...)


def public_methods(cls):
    "The methods a user calls: the exported ones, `__iter__`, and `__init__` of the classes users build."
    return [f for n, f in vars(cls).items() if inspect.isfunction(f)
            and (not n.startswith("_") and not n.endswith("Slow")   # Go's unexported slow paths
                 or n == "__iter__" or n == "__init__" and cls in USER_BUILT)]


def callables():
    "The functions and classes of the API: the DRAWN modules' __all__, and the rest named above."
    objs = [o for _, _, o in api() if inspect.isfunction(o) or inspect.isclass(o)] + NOT_YET_DRAWN
    return [o for o in dict.fromkeys(objs) if not (inspect.isclass(o) and issubclass(o, BaseException))]


def test_public_api_is_annotated():
    gaps = {f.__qualname__: unannotated(f) for f in callables() if inspect.isfunction(f) and unannotated(f)}
    gaps |= {f.__qualname__: unannotated(f) for c in callables() if inspect.isclass(c)
             for f in public_methods(c) if unannotated(f)}
    assert gaps == {}


def test_package_face_is_the_api():
    "What `import gonb` offers is in the API of the module it comes from."
    for name in ("run", "go", "gosched", "sleep", "now", "Deadlock", "goroutines"):
        assert name in runtime.__all__ and getattr(gonb, name) is getattr(runtime, name)
    assert "syscall" in sysmon.__all__ and gonb.syscall is sysmon.syscall


def test_all_names_what_the_module_defines():
    for m, n, o in api():
        assert not n.startswith("_"), (m.__name__, n)
        assert getattr(o, "__module__", m.__name__) == m.__name__ or n in ("ErrClosed",), (m.__name__, n)


def go_names(pattern, where):
    "Names Go's source defines at top level (func, method or var), by regex, in the files `where` globs."
    out = set()
    for f in glob.glob(str(GO_SRC / where), recursive=True):
        if not f.endswith("_test.go") and Path(f).is_file(): out |= set(re.findall(pattern, Path(f).read_text(errors="replace"), re.M))
    return out


@pytest.mark.skipif(not GO_SRC.exists(), reason="Go 1.19's source is not installed (apt-get install golang-go)")
def test_no_unexported_go_name_in_the_api():
    """A lower-case name of Go's runtime (park_m, goexit0, casgstatus) is unexported there; it may be in gonb's API
    only as gonb's spelling of a name Go exports somewhere (sleep is time.Sleep, start is runtime/trace.Start)."""
    unexported = go_names(r"^func (?:\([^)]*\) )?([a-z]\w*)", "runtime/*.go")
    exported = {n.lower() for n in go_names(r"^func (?:\([^)]*\) )?([A-Z]\w*)", "**/*.go")} | {"main"}
    bad = [f"{m.__name__}.{n}" for m, n, _ in api() if m in (runtime, sysmon) and n in unexported and n.replace("_", "") not in exported]
    assert bad == []
    assert {"park_m", "goexit0", "casgstatus", "gopark", "findRunnable"} & set(runtime.__all__) == set()

