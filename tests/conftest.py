"""Shared fixtures: `gorun` runs a gonb program once per netpoll backend (epoll, poll)."""
import resource

import pytest
import gonb
from goutil import open_fds

# Thousands of connections are thousands of fds: raise the soft limit to the hard one, once.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _soft < _hard:
    try: resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))
    except (ValueError, OSError): pass

BACKENDS = ["epoll", "poll"]


@pytest.fixture(params=BACKENDS)
def gorun(request, monkeypatch):
    "gonb.run, with GONB_NETPOLL set to each backend in turn."
    monkeypatch.setenv("GONB_NETPOLL", request.param)
    return gonb.run


@pytest.fixture
def fd_baseline():
    "Assert that a test leaves the process with as many open fds as it found."
    before = open_fds()
    yield
    assert open_fds() == before, "fd leak"
