"""Go 1.23's own `net` tests that gonb's API can express (net/timeout_test.go, net/udpsock_test.go),
ported to gonb.net, run on both poller backends (the `gorun` fixture). Durations as in Go."""
import pytest

import gonb
from gonb import net, packet, Chan, select
from goutil import gomain, track

noDeadline = None


def isDeadlineExceeded(e): return isinstance(e, gonb.ErrDeadlineExceeded) and isinstance(e, TimeoutError)


@pytest.mark.parametrize("timeout", [-5, 0.01])
def test_TestAcceptTimeout(gorun, timeout):
    "timeout_test.go TestAcceptTimeout: a past deadline fails Accept even with a connection waiting."
    @gomain
    def main():
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        if timeout < 0:
            dialDone = Chan()
            def dialer():
                try: net.dial("tcp", str(ln.addr())).close()
                except OSError: pass   # the timing may not work out; Accept's behaviour is what counts
                finally: dialDone.close()
            gonb.go(dialer)
            gonb.sleep(0.01)
        ln.set_deadline(gonb.now() + timeout)
        with pytest.raises(net.OpError) as e: ln.accept().close()
        assert isDeadlineExceeded(e.value), "wanted deadline exceeded"
        if timeout < 0: dialDone.recv()
    gorun(main)


def test_TestAcceptTimeoutMustReturn(gorun):
    "timeout_test.go TestAcceptTimeoutMustReturn."
    @gomain
    def main():
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        ln.set_deadline(noDeadline)
        ln.set_deadline(gonb.now() + 0.01)
        with pytest.raises(net.OpError) as e: ln.accept().close()
        assert isDeadlineExceeded(e.value)
    gorun(main)


def test_TestAcceptTimeoutMustNotReturn(gorun):
    "timeout_test.go TestAcceptTimeoutMustNotReturn: a cleared deadline does not fire."
    @gomain
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        maxch, ch = Chan(), Chan()
        def g():
            ln.set_deadline(gonb.now() - 5)
            ln.set_deadline(noDeadline)
            maxch.send(gonb.Timer(0.1))
            try: ln.accept()
            except OSError as e: ch.send(e)
        gonb.go(g)
        mx = maxch.recv()
        i, err, _ = select(ch, mx.C)
        assert i == 1, f"expected Accept to not return, but it returned with {err}"
        ln.close()
        ch.recv()   # wait for the tester goroutine to stop
    gorun(main)


def test_TestReadTimeout(gorun):
    "timeout_test.go TestReadTimeout: read deadlines work even with data ready, and fire on an idle conn."
    @gomain
    def main():
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        def handler():
            c = ln.accept()
            c.write(b"READ TIMEOUT TEST")
            gonb.sleep(1)
            c.close()
        gonb.go(handler)
        c = track(net.dial("tcp", str(ln.addr())))
        for i, (timeout, xerrs) in enumerate([(-5, (True, True)), (0.05, (False, True))]):
            c.set_read_deadline(gonb.now() + timeout)
            b = bytearray(1)
            for j, xerr in enumerate(xerrs):
                while True:
                    try:
                        c.read(b)
                    except OSError as e:
                        assert isDeadlineExceeded(e), f"#{i}/{j}: {e}"
                        break
                    assert not xerr, f"#{i}/{j}: read succeeded past the deadline"
                    gonb.sleep(timeout / 3)
    gorun(main)


def read1(c):
    c.read(bytearray(1))


def writeForever(c):
    b = bytes(1024)
    while True: c.write(b)


@pytest.mark.parametrize("op", ["read", "write"], ids=["TestReadTimeoutMustNotReturn", "TestWriteTimeoutMustNotReturn"])
def test_TestTimeoutMustNotReturn(gorun, op):
    """timeout_test.go TestReadTimeoutMustNotReturn, TestWriteTimeoutMustNotReturn: past deadlines for the
    other direction and a cleared one for ours; only Close ends the call, and not as a timeout."""
    @gomain
    def main():
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        c = net.dial("tcp", str(ln.addr()))
        other, ours, call = ((c.set_write_deadline, c.set_read_deadline, read1) if op == "read" else
                             (c.set_read_deadline, c.set_write_deadline, writeForever))
        maxch, ch = Chan(), Chan()
        def g():
            c.set_deadline(gonb.now() - 5)
            other(gonb.now() - 5)
            ours(noDeadline)
            maxch.send(gonb.Timer(0.1))
            try: call(c)
            except (OSError, gonb.EOF) as e: ch.send(e)
        gonb.go(g)
        mx = maxch.recv()
        i, err, _ = select(ch, mx.C)
        assert i == 1, f"expected {op} to not return, but it returned with {err}"
        c.close()
        err = ch.recv()
        assert isinstance(err, net.OpError) and not err.timeout() and not isinstance(err, TimeoutError), err
    gorun(main)


def test_TestWriteTimeout(gorun):
    "timeout_test.go TestWriteTimeout: write deadlines work even with buffer space, and fire once it fills."
    @gomain
    def main():
        ln = track(net.listen("tcp", "127.0.0.1:0"))
        for i, (timeout, xerrs) in enumerate([(-5, (True, True)), (0.01, (False, True))]):
            c = track(net.dial("tcp", str(ln.addr())))
            c.set_write_deadline(gonb.now() + timeout)
            for j, xerr in enumerate(xerrs):
                while True:
                    try:
                        c.write(b"WRITE TIMEOUT TEST")
                    except OSError as e:
                        assert isDeadlineExceeded(e), f"#{i}/{j}: {e}"
                        break
                    assert not xerr, f"#{i}/{j}: write succeeded past the deadline"
                    gonb.sleep(timeout / 3)
    gorun(main)


def test_TestUDPZeroBytePayload(gorun):
    "udpsock_test.go TestUDPZeroBytePayload: an empty datagram is sent and read, by ReadFrom and by Read."
    @gomain
    def main():
        c = track(packet.listen_packet("udp", "127.0.0.1:0"))
        for genericRead in (False, True):
            assert c.write_to(b"", c.local_addr()) == 0
            c.set_read_deadline(gonb.now() + 30)
            b = bytearray(1)
            if genericRead: assert c.read(b) == 0
            else: assert c.read_from(b)[0] == 0
    gorun(main)


def test_TestUDPZeroByteBuffer(gorun):
    "udpsock_test.go TestUDPZeroByteBuffer: a read into an empty buffer succeeds or times out."
    @gomain
    def main():
        c = track(packet.listen_packet("udp", "127.0.0.1:0"))
        b = b"UDP ZERO BYTE BUFFER TEST"
        for genericRead in (False, True):
            assert c.write_to(b, c.local_addr()) == len(b)
            c.set_read_deadline(gonb.now() + 0.1)
            try:
                if genericRead: c.read(bytearray(0))
                else: c.read_from(bytearray(0))
            except OSError as e:
                assert isinstance(e, TimeoutError), e
    gorun(main)


def test_TestUDPReadSizeError(gorun):
    "udpsock_test.go TestUDPReadSizeError: a datagram longer than the buffer is truncated, without error."
    @gomain
    def main():
        c1 = track(packet.listen_packet("udp", "127.0.0.1:0"))
        c2 = track(net.dial("udp", str(c1.local_addr())))
        b1 = b"READ SIZE ERROR TEST"
        for genericRead in (False, True):
            assert c2.write(b1) == len(b1)
            b2 = bytearray(len(b1) - 1)
            n = c1.read(b2) if genericRead else c1.read_from(b2)[0]
            assert n == len(b1) - 1
    gorun(main)


def test_TestUDPReadTimeout(gorun):
    "udpsock_test.go TestUDPReadTimeout: a timed-out ReadFrom returns no data and no address."
    @gomain
    def main():
        c = track(packet.listen_packet("udp4", "127.0.0.1:0"))
        c.set_deadline(gonb.now())
        with pytest.raises(OSError) as e: c.read_from(bytearray(1))
        assert isDeadlineExceeded(e.value)
    gorun(main)


def test_UnixConn_close_write_and_close_read(gorun, tmp_path):
    "net/unixsock.go UnixConn.CloseWrite/CloseRead: one direction shut down; the peer reads EOF, the other way still works."
    @gomain
    def main():
        path = str(tmp_path / "s.sock")
        ln = track(net.listen("unix", path))
        c = track(net.dial("unix", path))
        s = track(ln.accept())
        c.close_write()
        with pytest.raises(gonb.EOF): s.read(bytearray(4))   # the peer sees the end of our stream
        s.write(b"back")
        buf = bytearray(4)
        assert c.read(buf) == 4 and bytes(buf) == b"back"    # we can still read
        s.close_read()
        s.close_write()
        with pytest.raises(gonb.EOF): c.read(buf)
    gorun(main)
