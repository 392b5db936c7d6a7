"""Shared fixtures: `gorun` runs a gonb program once per netpoll backend (epoll, poll)."""
import os
import pytest
import gonb

BACKENDS = ["epoll", "poll"]


@pytest.fixture(params=BACKENDS)
def gorun(request, monkeypatch):
    "gonb.run, with GONB_NETPOLL set to each backend in turn."
    monkeypatch.setenv("GONB_NETPOLL", request.param)
    return gonb.run


def open_fds():
    "How many fds this process has open (to check that nothing leaks)."
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def fd_baseline():
    "Assert that a test leaves the process with as many open fds as it found."
    before = open_fds()
    yield
    assert open_fds() == before, "fd leak"
