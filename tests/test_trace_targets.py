"""gonb.trace.start's targets (issue 24): a path (str or os.PathLike) or a file open for binary writing; an
int is refused; the target is opened at start; every error names the file."""
import io
import json
import pathlib
import socket

import pytest
import gonb
from gonb import trace


def small_program():
    ch = gonb.Chan()
    gonb.go(ch.send, 1)
    return ch.recv()


def events(data):
    return json.loads(data)


@pytest.fixture(autouse=True)
def no_trace_left():
    yield
    assert trace.stop() is None, "a test left a trace running"


def test_an_int_is_refused_and_the_fd_is_left_alone():
    a, b = socket.socketpair()
    try:
        with pytest.raises(TypeError, match="not a file descriptor"):
            trace.start(a.fileno())
        a.sendall(b"still mine")                    # the fd was neither written to nor closed
        assert b.recv(100) == b"still mine"
        with pytest.raises(TypeError, match="not a file descriptor"):
            trace.start(True)
    finally:
        a.close(); b.close()


@pytest.mark.parametrize("kind", [str, pathlib.Path])
def test_a_path(tmp_path, kind):
    p = tmp_path / "t.json"
    trace.start(kind(p))                            # armed for the next run, which closes it
    assert gonb.run(small_program) == 1
    assert any(e.get("ph") == "X" or e.get("ph") == "B" for e in events(p.read_text()))


def test_a_binary_file_stays_the_callers(tmp_path):
    f = open(tmp_path / "t.json", "wb")
    def main():
        trace.start(f)                              # inside the run: stop() ends it
        small_program()
        return trace.stop()
    assert gonb.run(main) is f
    assert not f.closed                             # flushed, not closed: Go's Stop leaves the writer alone
    f.write(b"\n")
    f.close()
    assert events((tmp_path / "t.json").read_text())
    b = io.BytesIO()
    trace.start(b)
    gonb.run(small_program)
    trace.stop()
    assert events(b.getvalue().decode())


def test_a_text_file_or_an_odd_object_is_refused(tmp_path):
    with open(tmp_path / "t.txt", "w") as f:
        with pytest.raises(TypeError, match="binary writing"):
            trace.start(f)
    for bad in (None, 1.5, object(), io.StringIO()):
        with pytest.raises(TypeError, match="not a trace target"):
            trace.start(bad)


@pytest.mark.parametrize("bad", ["/proc/self/status", "/", "/nonexistent-dir/t.json"])
def test_an_unwritable_target_fails_at_start_naming_the_file(bad):
    with pytest.raises(OSError) as e:
        trace.start(bad)
    assert e.value.filename == bad and bad in str(e.value) and "gonb.trace" in str(e.value)
    assert trace.stop() is None                     # nothing armed
    assert gonb.run(small_program) == 1             # and the runtime is healthy


def test_a_write_that_fails_later_is_raised_by_stop_naming_the_file():
    class Failing(io.RawIOBase):
        name = "failing-sink"
        n = 0
        def writable(self): return True
        def write(self, b):
            self.n += 1
            if self.n > 1: raise OSError(28, "No space left on device")
            return len(b)

    def main():
        trace.start(Failing())
        for _ in range(2000): small_program()       # enough records for a flush
        with pytest.raises(OSError) as e:
            trace.stop()
        return e.value.errno, e.value.filename      # the run went on without its trace
    assert gonb.run(main) == (28, "failing-sink")


def test_a_write_that_fails_in_a_traced_run_is_reported_naming_the_file(capfd):
    class Failing(io.RawIOBase):
        name = "failing-sink"
        def writable(self): return True
        def write(self, b):
            if b != b"[": raise OSError(28, "No space left on device")
            return len(b)

    trace.start(Failing())
    assert gonb.run(small_program) == 1
    err = capfd.readouterr().err
    assert "failing-sink" in err and "No space left on device" in err


def test_gonb_trace_env_names_the_file(monkeypatch):
    monkeypatch.setenv("GONB_TRACE", "/proc/self/status")
    with pytest.raises(OSError, match="/proc/self/status"):
        gonb.run(small_program)
    monkeypatch.delenv("GONB_TRACE")
    assert gonb.run(small_program) == 1
