"""gonb.net against Go 1.19: error words, address printing, socket options, unix sockets, accept errors."""
import errno
import os
import socket

import pytest

import gonb
import gonb.fd
from gonb import net
from goutil import read_exactly, wait_parked, wait_until


# ---------------------------------------------------------------------------------------------
# helpers (all run inside a goroutine)

def echo_once(network="tcp", address="127.0.0.1:0", payload=b"ping"):
    "Prove the runtime still works: listen, accept in a goroutine, echo one message, close all."
    l = net.listen(network, address)
    def serve():
        c = l.accept()
        try:
            buf = bytearray(len(payload))
            got = 0
            while got < len(payload):
                got += c.read(memoryview(buf)[got:])
            c.write(buf)
        finally:
            c.close()
    gonb.go(serve)
    try:
        c = net.dial(network, str(l.addr()))
        try:
            c.write(payload)
            assert read_exactly(c, len(payload)) == payload
            with pytest.raises(gonb.EOF):
                c.read(bytearray(1))
        finally:
            c.close()
    finally:
        l.close()
    return True


def free_port():
    "A port nobody listens on (we listened on it and closed)."
    l = net.listen("tcp", "127.0.0.1:0")
    port = l.addr().Port
    l.close()
    return port


# ---------------------------------------------------------------------------------------------
# error words, exactly as Go 1.19 prints them

@pytest.mark.parametrize("address", [":99999", "127.0.0.1:99999"])
def test_listen_invalid_port(gorun, fd_baseline, address):
    def main():
        with pytest.raises(net.OpError) as ei:
            net.listen("tcp", address)
        e = ei.value
        assert str(e) == "listen tcp: address 99999: invalid port"
        assert isinstance(e, net.AddrError)
        assert (e.op, e.net, e.source, e.addr) == ("listen", "tcp", None, None)
        assert isinstance(e.err, net.AddrError) and str(e.err) == "address 99999: invalid port"
        return echo_once()
    assert gorun(main) is True


def test_listen_missing_port(gorun, fd_baseline):
    def main():
        with pytest.raises(net.OpError) as ei:
            net.listen("tcp", "127.0.0.1")
        assert str(ei.value) == "listen tcp: address 127.0.0.1: missing port in address"
        assert isinstance(ei.value, net.AddrError)
        return echo_once()
    assert gorun(main) is True


def test_listen_unknown_network(gorun, fd_baseline):
    def main():
        with pytest.raises(net.OpError) as ei:
            net.listen("foo", "127.0.0.1:0")
        assert str(ei.value) == "listen foo: unknown network foo"
        assert isinstance(ei.value, net.UnknownNetworkError)
        with pytest.raises(net.UnknownNetworkError) as ei:
            net.dial("foo", "127.0.0.1:1")
        assert str(ei.value) == "dial foo: unknown network foo"
        return echo_once()
    assert gorun(main) is True


def test_listen_address_in_use(gorun, fd_baseline):
    def main():
        l = net.listen("tcp", "127.0.0.1:0")
        port = l.addr().Port
        try:
            with pytest.raises(OSError) as ei:
                net.listen("tcp", f"127.0.0.1:{port}")
            e = ei.value
            assert isinstance(e, net.OpError)
            assert str(e) == f"listen tcp 127.0.0.1:{port}: bind: address already in use"
            assert e.errno == errno.EADDRINUSE
            assert str(e.addr) == f"127.0.0.1:{port}"
            # the first listener is unharmed
            c = net.dial("tcp", f"127.0.0.1:{port}")
            s = l.accept()
            c.write(b"x")
            assert read_exactly(s, 1) == b"x"
            c.close(); s.close()
        finally:
            l.close()
        return echo_once()
    assert gorun(main) is True


def test_dial_connection_refused(gorun, fd_baseline):
    def main():
        port = free_port()
        for _ in range(3):   # repeated failures neither leak nor wedge the poller
            with pytest.raises(ConnectionRefusedError) as ei:
                net.dial("tcp", f"127.0.0.1:{port}")
            e = ei.value
            assert isinstance(e, net.OpError)
            assert str(e) == f"dial tcp 127.0.0.1:{port}: connect: connection refused"
            assert e.errno == errno.ECONNREFUSED
            assert (e.op, e.net) == ("dial", "tcp")
        return echo_once()
    assert gorun(main) is True


def test_accept_after_close(gorun, fd_baseline):
    def main():
        l = net.listen("tcp", "127.0.0.1:0")
        port = l.addr().Port
        l.close()
        with pytest.raises(net.OpError) as ei:
            l.accept()
        assert str(ei.value) == f"accept tcp 127.0.0.1:{port}: use of closed network connection"
        assert isinstance(ei.value, net.ErrClosed)
        with pytest.raises(net.OpError) as ei:
            l.close()
        assert str(ei.value) == f"close tcp 127.0.0.1:{port}: use of closed network connection"
        return echo_once()
    assert gorun(main) is True


def test_close_unblocks_parked_accept(gorun, fd_baseline):
    def main():
        l = net.listen("tcp", "127.0.0.1:0")
        port = l.addr().Port
        errs = []
        def acceptor():
            try: l.accept()
            except net.OpError as e: errs.append(e)
        gonb.go(acceptor)
        wait_parked(1, "IO wait")
        assert errs == []
        l.close()
        wait_until(lambda: errs, what="the parked accept woken by close")
        assert [str(e) for e in errs] == [f"accept tcp 127.0.0.1:{port}: use of closed network connection"]
        return echo_once()
    assert gorun(main) is True


def test_accept_deadline(gorun, fd_baseline):
    def main():
        with net.listen("tcp", "127.0.0.1:0") as l:
            port = l.addr().Port
            for dl in (gonb.now() - 5, gonb.now() + 0.02):     # TestAcceptTimeout: past and future
                l.set_deadline(dl)
                with pytest.raises(TimeoutError) as ei:
                    l.accept()
                assert str(ei.value) == f"accept tcp 127.0.0.1:{port}: i/o timeout"
                assert ei.value.timeout() and isinstance(ei.value, gonb.ErrDeadlineExceeded)
            l.set_deadline(None)
            with net.dial("tcp", f"127.0.0.1:{port}") as c, l.accept() as s:
                assert str(s.remote_addr()) == str(c.local_addr())
        return echo_once()
    assert gorun(main) is True


def test_conn_closed_errors(gorun, fd_baseline):
    def main():
        l = net.listen("tcp", "127.0.0.1:0")
        c = net.dial("tcp", str(l.addr()))
        s = l.accept()
        pair = f"{c.local_addr()}->{c.remote_addr()}"
        c.close()
        for op, call in [("read", lambda: c.read(bytearray(4))), ("write", lambda: c.write(b"x")),
                         ("close", c.close)]:
            with pytest.raises(net.OpError) as ei:
                call()
            assert str(ei.value) == f"{op} tcp {pair}: use of closed network connection"
        with pytest.raises(gonb.EOF) as ei:   # the peer sees io.EOF, unwrapped
            s.read(bytearray(4))
        assert str(ei.value) == "EOF" and not isinstance(ei.value, net.OpError)
        s.close(); l.close()
        return echo_once()
    assert gorun(main) is True


# ---------------------------------------------------------------------------------------------
# address printing

@pytest.mark.parametrize("network,address,shown", [
    ("tcp", ":0", "[::]"), ("tcp", "0.0.0.0:0", "[::]"), ("tcp", "127.0.0.1:0", "127.0.0.1"),
    ("tcp4", "127.0.0.1:0", "127.0.0.1"), ("tcp6", "[::1]:0", "[::1]"), ("tcp4", ":0", "0.0.0.0"),
    ("tcp6", ":0", "[::]"), ("tcp", "localhost:0", "127.0.0.1")])
def test_listener_addr(gorun, fd_baseline, network, address, shown):
    def main():
        l = net.listen(network, address)
        try:
            port = l.addr().Port
            assert 0 < port < 65536
            assert str(l.addr()) == f"{shown}:{port}"
            # and the socket really is bound there
            assert l.fd.pfd.sock.getsockname()[1] == port
        finally:
            l.close()
    gorun(main)


@pytest.mark.parametrize("network,address,host", [
    ("tcp", "127.0.0.1:0", "127.0.0.1"), ("tcp6", "[::1]:0", "[::1]")])
def test_conn_addrs_mirror(gorun, fd_baseline, network, address, host):
    def main():
        l = net.listen(network, address)
        port = l.addr().Port
        c = net.dial(network, f"{host}:{port}")
        s = l.accept()
        try:
            assert str(c.remote_addr()) == f"{host}:{port}" == str(s.local_addr())
            assert str(c.local_addr()) == str(s.remote_addr())
            assert str(c.local_addr()).startswith(host + ":")
            assert c.local_addr().Port != port
            assert c.local_addr() == s.remote_addr() and c.remote_addr() == s.local_addr()
        finally:
            c.close(); s.close(); l.close()
    gorun(main)


def test_dual_stack_accepts_ipv4(gorun, fd_baseline):
    def main():
        l = net.listen("tcp", ":0")
        port = l.addr().Port
        assert str(l.addr()) == f"[::]:{port}"
        try:
            c = net.dial("tcp", f"127.0.0.1:{port}")
            s = l.accept()
            assert str(s.remote_addr()) == str(c.local_addr())
            assert str(s.remote_addr()).startswith("127.0.0.1:")      # not [::ffff:127.0.0.1]
            assert str(s.local_addr()) == f"127.0.0.1:{port}"
            c.write(b"v4"); assert read_exactly(s, 2) == b"v4"
            c.close(); s.close()
            c6 = net.dial("tcp6", f"[::1]:{port}")                       # and IPv6 on the same socket
            s6 = l.accept()
            assert str(s6.remote_addr()) == str(c6.local_addr())
            assert str(s6.remote_addr()).startswith("[::1]:")
            c6.close(); s6.close()
        finally:
            l.close()
    gorun(main)


@pytest.mark.parametrize("network,host,peer", [("tcp", "0.0.0.0", "127.0.0.1"), ("tcp", "[::]", "[::1]"),
                                               ("tcp", "", "127.0.0.1"), ("tcp", "localhost", "127.0.0.1")])
def test_dial_records_the_real_peer(gorun, fd_baseline, network, host, peer):
    "Go's netFD.dial takes the remote address from getpeername, not from what the caller typed."
    def main():
        with net.listen("tcp", ":0") as l:
            port = l.addr().Port
            with net.dial(network, f"{host}:{port}") as c, l.accept() as s:
                assert str(s.local_addr()) == f"{peer}:{port}"
                assert str(c.remote_addr()) == f"{peer}:{port}"          # not "0.0.0.0:PORT"
                assert str(c.local_addr()) == str(s.remote_addr())
    gorun(main)


@pytest.mark.parametrize("reader_parked", [False, True], ids=["idle", "parked"])
def test_read_after_peer_reset(gorun, fd_baseline, reader_parked):
    """A peer's RST: the next read fails with ECONNRESET (`read: connection reset by peer`), the one
    after it sees EOF, a write gets EPIPE. Go marks a pollDesc's event error only when epoll reports
    EPOLLERR alone (Go 1.23 netpoll_epoll.go netpoll: `pd.setEventErr(ev.Events == syscall.EPOLLERR,
    tag)`), so an RST's IN|OUT|ERR|HUP|RDHUP must not turn reads into `not pollable`."""
    def main():
        with net.listen("tcp", "127.0.0.1:0") as l, net.dial("tcp", str(l.addr())) as c, \
                l.accept() as s:
            check(l, c, s)

    def check(l, c, s):
        pair = f"{s.local_addr()}->{s.remote_addr()}"
        errs = []
        def reader():
            try: s.read(bytearray(16))
            except OSError as e: errs.append(e)
        if reader_parked:
            gonb.go(reader)
            wait_parked(1, "IO wait")
        c.set_linger(0)
        c.close()                      # sends RST
        if reader_parked:
            wait_until(lambda: errs, what="the parked reader woken by the RST", every=0.001)
        else:
            gonb.sleep(0.05)           # every goroutine parked: the poller sees the event first
            reader()
        assert len(errs) == 1
        e = errs[0]
        assert str(e) == f"read tcp {pair}: read: connection reset by peer"
        assert isinstance(e, ConnectionResetError) and isinstance(e, net.OpError)
        with pytest.raises(gonb.EOF):
            s.read(bytearray(16))
        with pytest.raises(BrokenPipeError) as ei:
            s.write(b"x")
        assert str(ei.value) == f"write tcp {pair}: write: broken pipe"
    gorun(main)


# ---------------------------------------------------------------------------------------------
# socket options Go sets on TCP connections

def test_tcp_keepalive_and_nodelay(gorun, fd_baseline):
    def main():
        l = net.listen("tcp", "127.0.0.1:0")
        c = net.dial("tcp", str(l.addr()))
        s = l.accept()
        try:
            for conn in (s, c):   # accepted (TCPListener.accept) and dialed (Dialer.KeepAlive)
                sock = conn.fd.pfd.sock
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 15
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 15
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
                assert not sock.getblocking()
                assert not sock.get_inheritable()
        finally:
            c.close(); s.close(); l.close()
    gorun(main)


# ---------------------------------------------------------------------------------------------
# unix sockets

def test_unix_listen_dial_echo(gorun, fd_baseline, tmp_path):
    path = str(tmp_path / "echo.sock")
    def main():
        l = net.listen("unix", path)
        assert str(l.addr()) == path and l.addr().network() == "unix"
        assert os.path.exists(path)
        def serve():
            for _ in range(3):
                s = l.accept()
                assert str(s.local_addr()) == path
                def echo(s=s):
                    buf = bytearray(4096)
                    try:
                        while True:
                            n = s.read(buf)
                            s.write(buf[:n])
                    except gonb.EOF:
                        pass
                    finally:
                        s.close()
                gonb.go(echo)
        gonb.go(serve)
        for i in range(3):
            c = net.dial("unix", path)
            assert str(c.remote_addr()) == path
            msg = os.urandom(10000 + i)
            c.write(msg)
            assert read_exactly(c, len(msg)) == msg
            c.close()
        l.close()
        assert not os.path.exists(path), "UnixListener.close must remove its socket file"
        with pytest.raises(net.OpError) as ei:
            net.dial("unix", path)
        assert str(ei.value) == f"dial unix {path}: connect: no such file or directory"
        assert isinstance(ei.value, FileNotFoundError)
        return echo_once()
    assert gorun(main) is True


def test_unix_listen_on_existing_path(gorun, fd_baseline, tmp_path):
    path = str(tmp_path / "busy.sock")
    def main():
        l = net.listen("unix", path)
        try:
            with pytest.raises(net.OpError) as ei:
                net.listen("unix", path)
            assert str(ei.value) == f"listen unix {path}: bind: address already in use"
            assert ei.value.errno == errno.EADDRINUSE
        finally:
            l.close()
        assert not os.path.exists(path)
    gorun(main)


# ---------------------------------------------------------------------------------------------
# injected accept errors (gonb.fd.AcceptFunc is internal/poll's AcceptFunc hook)

def _inject(monkeypatch, errors):
    "Make the next accept calls raise `errors` in turn, then behave normally; returns the call log."
    real = gonb.fd.AcceptFunc
    calls = []
    pending = list(errors)
    def fake(sock):
        calls.append(pending[0] if pending else None)
        if pending: raise pending.pop(0)
        return real(sock)
    monkeypatch.setattr(gonb.fd, "AcceptFunc", fake)
    return calls


@pytest.mark.parametrize("exc", [lambda: InterruptedError(errno.EINTR, "Interrupted system call"),
                                 lambda: ConnectionAbortedError(errno.ECONNABORTED, "Software caused connection abort")],
                         ids=["EINTR", "ECONNABORTED"])
def test_accept_retries(gorun, fd_baseline, monkeypatch, exc):
    calls = _inject(monkeypatch, [exc(), exc(), exc()])
    def main():
        l = net.listen("tcp", "127.0.0.1:0")
        c = net.dial("tcp", str(l.addr()))
        s = l.accept()          # the errors are swallowed and the real connection comes back
        assert len(calls) >= 4 and calls[3] is None
        assert str(s.remote_addr()) == str(c.local_addr())
        c.write(b"hello"); assert read_exactly(s, 5) == b"hello"
        s.write(b"back"); assert read_exactly(c, 4) == b"back"
        c.close(); s.close(); l.close()
    gorun(main)


def test_accept_emfile(gorun, fd_baseline, monkeypatch):
    calls = _inject(monkeypatch, [OSError(errno.EMFILE, "Too many open files")])
    def main():
        l = net.listen("tcp", "127.0.0.1:0")
        port = l.addr().Port
        c = net.dial("tcp", str(l.addr()))
        with pytest.raises(net.OpError) as ei:
            l.accept()
        e = ei.value
        assert str(e) == f"accept tcp 127.0.0.1:{port}: accept4: too many open files"
        assert str(e).endswith("accept4: too many open files")
        assert e.errno == errno.EMFILE and isinstance(e, OSError)
        # the listener survives: the pending connection is accepted by the next call
        s = l.accept()
        assert len(calls) == 2
        assert str(s.remote_addr()) == str(c.local_addr())
        c.write(b"ok"); assert read_exactly(s, 2) == b"ok"
        c.close(); s.close(); l.close()
        return echo_once()
    assert gorun(main) is True


# ---------------------------------------------------------------------------------------------
# outside gonb.run

def test_runtime_calls_outside_run(fd_baseline):
    for call in (lambda: gonb.go(lambda: None), lambda: net.listen("tcp", "127.0.0.1:0"),
                 lambda: net.dial("tcp", "127.0.0.1:1"), lambda: gonb.sleep(0.01), gonb.gosched):
        with pytest.raises(RuntimeError, match=r"gonb\.run"):
            call()
    # and the runtime starts fine afterwards
    assert gonb.run(echo_once) is True


def test_goroutine_exception_propagates_and_runtime_recovers(gorun, fd_baseline):
    def main():
        with net.listen("tcp", "127.0.0.1:0") as l:   # closed while run() unwinds main
            def boom(): raise KeyError("boom")
            gonb.go(boom)
            l.accept()      # parked when the panic ends the program
    with pytest.raises(KeyError, match="boom"):
        gorun(main)
    assert gorun(echo_once) is True
