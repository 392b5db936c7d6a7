"The public API carries type hints (gonb ships py.typed): every parameter and return of it is annotated."
import inspect
from pathlib import Path

import gonb
from gonb import context, net, packet, sync

PUBLIC_FUNCTIONS = [gonb.run, gonb.go, gonb.sleep, gonb.now, gonb.gosched, gonb.select, gonb.after, gonb.after_func,
                    net.listen, net.dial, context.dial_context, packet.listen_packet, context.background, context.todo,
                    context.with_cancel, context.with_deadline, context.with_timeout, context.with_value]
PUBLIC_CLASSES = [gonb.Chan, gonb.Timer, gonb.Ticker, net.Conn, net.TCPConn, net.Listener, packet.PacketConn,
                  sync.Mutex, sync.RWMutex, sync.WaitGroup, sync.Once, sync.Cond, context.Context]


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


def test_public_api_is_annotated():
    gaps = {f.__qualname__: unannotated(f) for f in PUBLIC_FUNCTIONS if unannotated(f)}
    gaps |= {f.__qualname__: unannotated(f) for c in PUBLIC_CLASSES for f in public_methods(c) if unannotated(f)}
    assert gaps == {}


def test_py_typed_ships():
    root = Path(gonb.__file__).parent
    assert (root / "py.typed").exists()
    assert "include gonb/py.typed" in (root.parent / "MANIFEST.in").read_text().splitlines()
