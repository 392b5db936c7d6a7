"""gonb's two modes, for the measuring scripts in bench/ that run each mode in a child process."""
import os

PURE, COMPILED = {"GONB_PURE_PYTHON": "1"}, {"GONB_REQUIRE_COMPILED": "1"}


def child_env(mode, **extra):
    "This process's environment with `mode` (PURE, COMPILED or {}: as installed) in place of the caller's choice."
    keep = {k: v for k, v in os.environ.items() if k not in (*PURE, *COMPILED)}
    return {**keep, **mode, **extra}
