"""Every name a module lists in __all__ exists: `from gonb.X import *` works for each exported module (nbdev
writes __all__ from the `#| export` cells, and a `@patch`ed method exported that way names nothing)."""
import importlib, pkgutil

import pytest

import gonb

MODULES = sorted(m.name for m in pkgutil.walk_packages(gonb.__path__, "gonb.")
                 if not m.name.startswith(("gonb.compiled.", "gonb.__compiled__", "gonb._modidx")) and not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name):
    mod = importlib.import_module(name)
    missing = [n for n in getattr(mod, "__all__", []) if not hasattr(mod, n)]
    assert missing == [], f"{name}.__all__ names what it does not define: {missing}"
