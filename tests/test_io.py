"""gonb.io on real conns (both poller backends), and the public API: `from gonb import *`, annotations."""
import pytest

import gonb
from goutil import no_idle_pipes, pair   # no_idle_pipes: an autouse fixture
from gonb import bufio, io, net, splice
from gonb.io import EOF, ErrUnexpectedEOF
from test_typing import unannotated


def test_star_import_gives_the_api():
    "`from gonb import *` gives every name in __all__, all of them real, and hides no stdlib module."
    ns = {}
    exec("from gonb import *", ns)
    names = set(gonb.__all__)
    assert {"run", "go", "gosched", "sleep", "now", "Chan", "select", "Timer", "Ticker", "after", "after_func",
            "EOF", "ErrDeadlineExceeded", "Deadlock", "syscall", "net", "bufio", "sync", "context"} <= names
    assert all(ns[n] is getattr(gonb, n) for n in names)
    assert not {"io", "signal", "time"} & names


IO_API = [io.copy, io.copy_buffer, io.copy_n, io.read_full, io.read_at_least, io.read_all, io.write_string,
          io.multi_writer, io.multi_reader, io.limit_reader, io.section_reader, io.pipe]
IO_CLASSES = [io.LimitedReader, io.SectionReader, io.PipeReader, io.PipeWriter, bufio.Reader, bufio.Writer, bufio.Scanner]


def test_io_api_is_annotated():
    "The io and bufio API carries type hints, as test_typing.py asks of the rest of gonb's API."
    gaps = {f.__qualname__: unannotated(f) for f in IO_API + [bufio.scan_lines, bufio.scan_words] if unannotated(f)}
    for cls in IO_CLASSES:
        for name, f in vars(cls).items():
            if callable(f) and not name.startswith("_") and name[0].islower() and unannotated(f) \
                    and f.__module__.startswith("gonb") and name not in ("fill", "readErr", "readSlice", "collectFragments",
                                                                          "deliver", "writeBuf", "setErr", "advance",
                                                                          "callSplit", "readMore"):
                gaps[f.__qualname__] = unannotated(f)
    assert gaps == {}


def test_read_full_reassembles_messages(gorun):
    "A 64 KiB message written in pieces is read whole by read_full; a peer that stops halfway is unexpected EOF."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        c, peer = pair(ln)
        msg = bytes(range(256)) * 256
        def send():
            for i in range(0, len(msg), 1000):
                peer.write(msg[i:i + 1000])
                if i % 7000 == 0: gonb.sleep(0.001)
            peer.write(msg[:10])
            peer.close()
        gonb.go(send)
        got = bytearray(len(msg))
        assert io.read_full(c, got) == len(msg) and got == msg
        with pytest.raises(ErrUnexpectedEOF) as ei: io.read_full(c, bytearray(100))
        assert ei.value.n == 10
        with pytest.raises(EOF): io.read_full(c, bytearray(1))
        c.close(); ln.close()
    gorun(main)


def test_copy_user_space_destination_fails_halfway(gorun):
    "A user-space copy (pipe → conn) whose peer resets: the bytes written and Go's error; the pipe is still usable."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        c, peer = pair(ln)
        r, w = io.pipe()
        def feed():
            try:
                while True: w.write(bytes(32 << 10))
            except io.ErrClosedPipe: pass
        def reset():
            io.read_full(peer, bytearray(1000))
            peer.set_linger(0)
            peer.close()
        gonb.go(feed); gonb.go(reset)
        with pytest.raises(OSError) as ei: io.copy(c, r)
        e = ei.value
        assert isinstance(e, net.OpError) and e.op == "readfrom" and e.written >= 1000
        assert isinstance(e, (BrokenPipeError, ConnectionResetError))
        assert r.read(bytearray(10)) == 10      # the source is untouched by the failure
        r.close()
        c.close(); ln.close()
    gorun(main)


def test_copy_conn_into_pipe_and_multi_writer(gorun):
    "copy from a conn into a MultiWriter of a pipe and a buffer: the conn's bytes reach both, then EOF."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        c, peer = pair(ln)
        r, w = io.pipe()
        seen = bytearray()
        class Keep:
            def write(self, p):
                seen.extend(p)
                return len(p)
        out = []
        gonb.go(lambda: out.append(io.read_all(r)))
        peer.write(b"x" * 100_000)
        peer.close()
        assert io.copy(io.multi_writer(w, Keep()), c) == 100_000
        w.close()
        while not out: gonb.sleep(0.001)
        assert out[0] == bytes(seen) == b"x" * 100_000
        c.close(); ln.close()
    gorun(main)


def test_write_after_close_leaves_runtime_healthy(gorun):
    "A write on a closed conn says Go's words; copy onto it too; the runtime goes on serving other conns."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        c, peer = pair(ln)
        c.close()
        with pytest.raises(net.ErrClosed, match="use of closed network connection"): c.write(b"x")
        assert io.copy(c, io.multi_reader()) == 0     # nothing to write: no error, as in Go
        class One:
            def read(self, p):
                p[0] = 1
                return 1
        with pytest.raises(net.ErrClosed) as ei: io.copy(c, One())
        assert str(ei.value).startswith("readfrom tcp ") and ": write tcp " in str(ei.value)
        assert ei.value.written == 0
        d, dpeer = pair(ln)
        io.write_string(d, "still serving")
        buf = bytearray(13)
        io.read_full(dpeer, buf)
        assert buf == b"still serving"
        for x in (peer, d, dpeer, ln): x.close()
    gorun(main)


def test_pipe_outside_a_goroutine_is_a_clear_error():
    "pipe() may be made anywhere, but read/write park, so they need a goroutine: a clear error outside one."
    r, w = io.pipe()
    with pytest.raises(RuntimeError): w.write(b"x")
