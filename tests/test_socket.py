"""gonb.socket (chapter 14c): the stdlib's socket API on the netpoller, on both poller backends."""
import errno, os, socket as stdsocket, tempfile, threading

import pytest
import gonb
from gonb import socket as gsocket
from goutil import wait_parked, watchdog


def pair():
    return gsocket.socketpair()


def test_recv_parks_only_its_goroutine(gorun, fd_baseline):
    def main():
        watchdog(10, "recv")
        a, b = pair()
        got, ticks = [], []
        gonb.go(lambda: got.append(b.recv(5)))
        def ticker():
            for _ in range(5): ticks.append(gonb.now()); gonb.sleep(0.01)
        gonb.go(ticker)
        wait_parked(1, "IO wait")
        gonb.sleep(0.06)
        assert len(ticks) == 5 and not got          # the ticker ran while recv waited
        a.sendall(b"hello")
        while not got: gonb.sleep(0.001)
        a.close(); b.close()
        return got
    assert gorun(main) == [b"hello"]


def test_timeouts_and_nonblocking(gorun, fd_baseline):
    def main():
        a, b = pair()
        b.settimeout(0.05)
        t0 = gonb.now()
        with pytest.raises(TimeoutError, match="timed out") as ei:
            b.recv(1)
        assert isinstance(ei.value, stdsocket.timeout)
        assert gonb.now() - t0 >= 0.05
        a.send(b"x"); assert b.recv(1) == b"x"   # the deadline was disarmed: the socket is healthy
        b.setblocking(False)
        with pytest.raises(BlockingIOError):
            b.recv(1)
        for bad, words in ((-1, "Timeout value out of range"), (float("nan"), "Invalid value NaN")):
            with pytest.raises(ValueError, match=words):
                b.settimeout(bad)
        assert b.gettimeout() == 0.0
        with pytest.raises(TypeError):
            b.settimeout("1")
        a.close(); b.close()
    gorun(main)


def test_close_wakes_a_parked_reader_and_double_close(gorun, fd_baseline):
    def main():
        a, b = pair()
        errs = []
        def reader():
            try: b.recv(1)
            except OSError as e: errs.append(e)
        gonb.go(reader)
        wait_parked(1, "IO wait")
        b.close()
        assert [e.errno for e in errs] == [errno.EBADF]
        b.close()                                    # no-op, as in Python
        with pytest.raises(OSError, match="Bad file descriptor"):
            b.recv(1)
        with pytest.raises(OSError, match="Bad file descriptor"):
            b.sendall(b"x")
        a.close()
    gorun(main)


def test_misuse_in_pythons_words(gorun, fd_baseline):
    def main():
        s = gsocket.socket()
        with pytest.raises(OSError) as ei:
            s.recv(1)                                # never connected
        assert ei.value.errno == errno.ENOTCONN
        ln = gsocket.create_server(("127.0.0.1", 0))
        port = ln.getsockname()[1]
        ln.close()
        with pytest.raises(ConnectionRefusedError):
            s.connect(("127.0.0.1", port))
        s.close()
        with gsocket.socket() as t:
            assert t.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED
        with pytest.raises(stdsocket.gaierror):
            gsocket.getaddrinfo("no-such-host.invalid", 80)
        return "healthy"
    assert gorun(main) == "healthy"
    assert gorun(lambda: "again") == "again"          # the runtime is fine afterwards


def test_accept_connect_sendall_makefile(gorun, fd_baseline):
    payload = os.urandom(1 << 20)                    # more than a socket buffer: sendall must park
    def main():
        srv = gsocket.create_server(("127.0.0.1", 0))
        srv.settimeout(5)
        def server():
            s, _ = srv.accept()
            with s, s.makefile("rb") as f:
                data = f.read(len(payload))
                s.sendall(data[::-1][:10])
        gonb.go(server)
        c = gsocket.create_connection(srv.getsockname(), timeout=5)
        c.sendall(payload)
        back = c.recv(10)
        c.close(); srv.close()
        return back
    assert gorun(main) == payload[::-1][:10]


def test_accept_timeout(gorun, fd_baseline):
    def main():
        srv = gsocket.create_server(("127.0.0.1", 0))
        srv.settimeout(0.03)
        with pytest.raises(TimeoutError):
            srv.accept()
        srv.close()
    gorun(main)


def test_sendfile(gorun, fd_baseline):
    data = os.urandom(300_000)
    with tempfile.TemporaryFile() as f:
        f.write(data); f.seek(0)
        def main():
            a, b = pair()
            got = bytearray()
            def reader():
                while len(got) < len(data): got.extend(b.recv(65536))
            gonb.go(reader)
            assert a.sendfile(f) == len(data)
            while len(got) < len(data): gonb.sleep(0.001)
            a.close(); b.close()
            return bytes(got)
        assert gorun(main) == data
        assert f.tell() == len(data)


def test_outside_a_goroutine_it_blocks_as_the_stdlib(gorun):
    a, b = pair()                                    # made before run: registered by the run that uses it
    threading.Timer(0.05, a.send, (b"t",)).start()
    assert b.recv(1) == b"t"                         # no run: this thread blocks
    def main():
        out = []
        def plain_thread():                          # a thread during the run: not the M, blocks itself
            out.append(b.recv(2))
        th = threading.Thread(target=plain_thread); th.start()
        gonb.sleep(0.02)
        a.send(b"ok")
        while th.is_alive(): gonb.sleep(0.005)
        a.send(b"go"); out.append(b.recv(2))         # and in a goroutine, registered now
        return out
    assert gorun(main) == [b"ok", b"go"]
    assert gorun(lambda: b.send(b"!") and a.recv(1)) == b"!"   # a later run registers it again
    a.close(); b.close()


def test_resolver_runs_on_a_syscall_thread(gorun):
    def main():
        order = []
        def lookup(): order.append(gsocket.gethostbyname("localhost"))
        gonb.go(lookup)
        gonb.go(lambda: order.append("other ran"))
        while len(order) < 2: gonb.sleep(0.001)
        return order
    assert set(gorun(main)) == {"127.0.0.1", "other ran"}


def test_two_readers_take_turns(gorun, fd_baseline):
    def main():
        a, b = pair()
        got = []
        for _ in range(2): gonb.go(lambda: got.append(b.recv(1)))
        wait_parked(2)
        a.send(b"1"); gonb.sleep(0.01); a.send(b"2")
        while len(got) < 2: gonb.sleep(0.001)
        a.close(); b.close()
        return sorted(got)
    assert gorun(main) == [b"1", b"2"]


def test_two_socket_objects_on_one_fd(gorun, fd_baseline):
    def main():
        a, b = pair()
        a.send(b"x"); assert b.recv(1) == b"x"          # b's fd is registered now
        twin = gsocket.socket(fileno=b.fileno())         # a second object on the same fd (http.client does this)
        got = []
        gonb.go(lambda: got.append(twin.recv(1)))
        wait_parked(1, "IO wait")                        # parked through a dup of the fd
        a.send(b"y")
        while not got: gonb.sleep(0.001)
        twin.detach()
        a.close(); b.close()
        return got
    assert gorun(main) == [b"y"]


def test_msg_dontwait_never_waits(gorun, fd_baseline):
    def main():
        a, b = pair()
        with pytest.raises(BlockingIOError):
            b.recv(1, stdsocket.MSG_DONTWAIT)        # a blocking socket, but the call asked not to wait
        with pytest.raises(BlockingIOError):
            while True: a.send(b"x" * 65536, stdsocket.MSG_DONTWAIT)
        fd = a.fileno(); assert a.detach() == fd and a._closed
        os.close(fd); b.close()
    gorun(main)


def test_a_timeout_too_short_to_wait_still_reads_what_is_there(gorun, fd_baseline):
    def main():
        a, b = pair()
        a.send(b"ready")
        b.settimeout(1e-9)                               # expired before any wait: CPython polls, then reads
        got = b.recv(5)
        with pytest.raises(TimeoutError):
            b.recv(1)                                    # nothing left: now it times out
        a.close(); b.close()
        return got
    assert gorun(main) == b"ready"
