"""Chapter 14a: io.copy between gonb conns goes through TCPConn.read_from: splice(2) through a pooled pipe,
parked on both fds' pollDescs; sendfile(2) from a raw file; a user-space copy otherwise. Every test runs on
both poller backends (the `gorun` fixture)."""
import gc, json, os, shutil, subprocess, sys, tempfile
from pathlib import Path

import pytest

import gonb
from goutil import no_idle_pipes, pair   # no_idle_pipes: an autouse fixture
from gonb import io, net, packet, splice

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def empty_pool():
    "Close the pooled pipes earlier tests left (a full collection empties the pool), before fd_baseline counts."
    gc.collect()
    assert splice.splicePipePool == []


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed")
def test_proxy_moves_bytes_by_splice(gorun):
    """The proxy of examples/splice_proxy.py under strace: every byte went into and out of a pipe by
    splice(2) (4 x the bytes each way), and read/write moved at most the poller's eventfd counters."""
    messages, size = 16, 64 << 10
    out = subprocess.run([sys.executable, str(ROOT / "examples/splice_proxy.py"), "--messages", str(messages),
                          "--size", str(size), "--json"], capture_output=True, text=True, timeout=120)
    if "strace could not attach" in out.stderr: pytest.skip("ptrace is not permitted here")
    assert out.returncode == 0, out.stderr
    calls = json.loads(out.stdout)["syscalls"]
    assert calls["splice"][1] == 4 * messages * size
    others = sum(nbytes for name, (n, nbytes) in calls.items() if name != "splice")
    assert others <= 8 * calls.get("read", [0])[0] and others < 1024, calls


def test_copy_n_splices_and_counts_down(gorun, empty_pool, fd_baseline):
    "copy_n between two TCP conns splices exactly n bytes; the LimitedReader's N is counted down; pipes pool."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        a, a_peer = pair(ln)
        b, b_peer = pair(ln)
        a_peer.write(bytes(range(256)) * 100)
        lr = io.LimitedReader(a, 10_000)
        assert io.copy(b, lr) == 10_000 and lr.N == 0
        got = bytearray(10_000)
        io.read_full(b_peer, got)
        assert got == (bytes(range(256)) * 100)[:10_000]
        # the rest is still in a's socket, which the splice left half-read: a plain read gets it at once
        a.set_read_deadline(gonb.now() + 2)
        rest = bytearray(100_000)
        n = io.read_at_least(a, rest, 25_600 - 10_000)
        assert bytes(rest[:n]) == (bytes(range(256)) * 100)[10_000:]
        assert len(splice.splicePipePool) >= 1
        for c in (a, a_peer, b, b_peer, ln): c.close()
    gorun(main)
    gc.collect()   # a full collection empties the pipe pool (fd_baseline counts its fds)
    assert splice.splicePipePool == []


def test_destination_fails_halfway(gorun):
    """A copy whose destination resets halfway raises Go's readfrom OpError with the bytes written before it;
    the source conn stays usable."""
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        src, src_peer = pair(ln)
        dst, dst_peer = pair(ln)
        def feed():
            try:
                while True: src_peer.write(bytes(64 << 10))
            except OSError: pass
        def reset():
            io.read_full(dst_peer, bytearray(100))
            dst_peer.set_linger(0)
            dst_peer.close()
        gonb.go(feed)
        gonb.go(reset)
        with pytest.raises(OSError) as ei: io.copy(dst, src)
        e = ei.value
        assert isinstance(e, net.OpError) and e.op == "readfrom" and e.written >= 100
        assert str(e).startswith(f"readfrom tcp {dst.local_addr()}->{dst.remote_addr()}: ")
        assert isinstance(e, (ConnectionResetError, BrokenPipeError)), repr(e)
        assert src.read(bytearray(10)) > 0             # the source is still readable
        for c in (src, src_peer, dst, ln): c.close()
    gorun(main)


def test_copy_from_closed_conn(gorun):
    "A splice from a closed conn: Go's words, 0 written, and the destination still works."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        src, src_peer = pair(ln)
        dst, dst_peer = pair(ln)
        src.close()
        with pytest.raises(net.ErrClosed) as ei: io.copy(dst, src)
        assert str(ei.value).endswith(": use of closed network connection") and ei.value.written == 0
        dst.write(b"still here")
        buf = bytearray(10)
        io.read_full(dst_peer, buf)
        assert buf == b"still here"
        for c in (src_peer, dst, dst_peer, ln): c.close()
    gorun(main)


def test_source_deadline_parks_then_times_out(gorun):
    "A drain parks on the source's pollDesc: its read deadline ends the copy with i/o timeout and the count."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        src, src_peer = pair(ln)
        dst, dst_peer = pair(ln)
        src_peer.write(b"x" * 1000)
        src.set_read_deadline(gonb.now() + 0.05)
        with pytest.raises(TimeoutError) as ei: io.copy(dst, src)
        assert ei.value.written == 1000 and str(ei.value).endswith("i/o timeout")
        src.set_read_deadline(None)
        src_peer.write(b"y")
        assert src.read(bytearray(4)) == 1                 # usable again, deadline cleared
        for c in (src, src_peer, dst, dst_peer, ln): c.close()
    gorun(main)


def test_close_wakes_parked_splice(gorun):
    "Closing the source wakes a copy parked in spliceDrain, as it wakes a parked read."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        src, src_peer = pair(ln)
        dst, dst_peer = pair(ln)
        errs = []
        def copier():
            try: io.copy(dst, src)
            except OSError as e: errs.append(e)
        gonb.go(copier)
        gonb.sleep(0.02)
        src.close()
        while not errs: gonb.sleep(0.001)
        assert isinstance(errs[0], net.ErrClosed)
        for c in (src_peer, dst, dst_peer, ln): c.close()
    gorun(main)


def test_unix_stream_to_tcp_and_back(gorun, tmp_path):
    "A stream unix conn splices into a TCP conn, and a TCP conn into a unix one."
    def main():
        uln = net.listen("unix", str(tmp_path / "s"))
        tln = net.listen("tcp", "127.0.0.1:0")
        u, u_peer = pair(uln)
        t, t_peer = pair(tln)
        u_peer.write(b"via unix")
        gonb.go(io.copy_n, t, u, 8)
        buf = bytearray(8)
        io.read_full(t_peer, buf)
        assert buf == b"via unix"
        t_peer.write(b"via tcp!")
        assert io.copy_n(u, t, 8) == 8
        io.read_full(u_peer, buf)
        assert buf == b"via tcp!"
        for c in (u, u_peer, t, t_peer, uln, tln): c.close()
    gorun(main)


def test_sendfile_and_fallbacks(gorun):
    "A raw file goes by sendfile (offset advanced); a buffered file and a pipe by the user-space loop."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        c, peer = pair(ln)
        data = os.urandom(300_000)
        with tempfile.NamedTemporaryFile() as f:
            f.write(data); f.flush()
            with open(f.name, "rb", buffering=0) as raw:
                got = []
                gonb.go(lambda: got.append(io.read_all(peer)))
                assert io.copy(c, raw) == len(data) and raw.tell() == len(data)
                raw.seek(0)
                assert io.copy(c, io.limit_reader(raw, 1000)) == 1000 and raw.tell() == 1000
        r, w = io.pipe()
        gonb.go(lambda: (w.write(b"tail"), w.close()))
        assert io.copy(c, r) == 4
        c.close()
        while not got: gonb.sleep(0.001)
        assert got[0] == data + data[:1000] + b"tail"
        peer.close(); ln.close()
    gorun(main)


def test_datagram_conn_is_no_reader_from(gorun):
    "A UDP conn's read_from(buf) is not io.ReaderFrom: copy into it writes one datagram per chunk, as Go's."
    def main():
        srv = packet.listen_packet("udp", "127.0.0.1:0")
        c = net.dial("udp", str(srv.local_addr()))
        r, w = io.pipe()
        def feed():
            w.write(b"one"); w.write(b"two"); w.close()
        gonb.go(feed)
        assert io.copy(c, r) == 6
        buf = bytearray(16)
        got = [bytes(buf[:srv.read_from(buf)[0]]) for _ in range(2)]
        assert got == [b"one", b"two"]
        c.close(); srv.close()
    gorun(main)


def test_splice_unsupported_falls_back(gorun, monkeypatch):
    "With no pipe to be had (newPipe fails, or the kernel cannot splice) copy moves the bytes in user space."
    monkeypatch.setattr(splice, "getPipe", lambda: None)
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        a, a_peer = pair(ln)
        b, b_peer = pair(ln)
        a_peer.write(b"hello"); a_peer.close()
        assert io.copy(b, a) == 5
        buf = bytearray(5)
        io.read_full(b_peer, buf)
        assert buf == b"hello"
        for x in (a, b, b_peer, ln): x.close()
    gorun(main)


@pytest.mark.skipif(not shutil.which("go"), reason="the proxy scenario's backend and load client are Go's")
def test_proxy_lab_smoke():
    "The lab's proxy scenario runs end to end: gonb's and Go's proxies, every echo of 64 KiB verified."
    from gonb.bench.lab import proxy_table, run_proxy_lab
    res = run_proxy_lab(["gonb-epoll", "go"], repeat=1, seconds=0.3, warmup=0.1, out=open(os.devnull, "w"))
    assert sorted(res["summary"]) == ["go", "gonb-epoll"], res["summary"]
    for r in res["runs"]:
        assert r["verified"] > 0 and not r["mismatches"] and r["proxy_ms_per_mib"] > 0, r
    assert "gonb-epoll" in proxy_table(res)
