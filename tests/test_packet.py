"""Datagrams on gonb (chapter 14): UDP and unixgram through the same poller, Go 1.19's words.

Every test runs once per netpoll backend (the `gorun` fixture). The error texts were checked against a
Go 1.19 program run on this machine (net.ListenPacket, UDPConn.ReadFrom/WriteTo, net.Dial("udp")).
"""
import errno, os, random, socket

import pytest

import gonb
from gonb import net, packet
from goutil import spawn, watchdog, track, gomain


def udp_pair():
    "A bound UDP socket and a UDP socket dialed to it (both tracked)."
    pc = track(packet.listen_packet("udp", "127.0.0.1:0"))
    c = track(net.dial("udp", str(pc.local_addr())))
    return pc, c


def closed_port():
    "The address of a UDP port nobody is bound to any more."
    gone = packet.listen_packet("udp", "127.0.0.1:0")
    addr = str(gone.local_addr())
    gone.close()
    return addr


def assert_go(e, words, *kinds):
    "`e` is a net.OpError printing Go's `words` and an instance of each of `kinds`."
    assert isinstance(e, net.OpError), repr(e)
    assert str(e) == words, str(e)
    for k in kinds: assert isinstance(e, k), (type(e).__mro__, k)


def raised(f):
    "The exception f() raises (and fail if it returns)."
    try: f()
    except Exception as e: return e
    raise AssertionError(f"{f} did not raise")


# ---------------------------------------------------------------------------------------------
# the echo server: one socket, 200 concurrent clients


def test_udp_echo_200_clients(gorun, fd_baseline):
    """One server goroutine answers 200 client goroutines at once, every datagram matched: half the
    clients dial (read/write), half bind their own socket and use write_to/read_from. The server
    sees each client's address as the client sees it."""
    clients, rounds = 200, 5

    def main():
        watchdog(60, "udp echo")
        srv = track(packet.listen_packet("udp", "127.0.0.1:0"))
        srv.set_read_buffer(1 << 20)
        peers = set()

        def serve():
            buf = bytearray(2048)
            while True:
                try: n, peer = srv.read_from(buf)
                except net.ErrClosed: return
                peers.add(str(peer))
                srv.write_to(memoryview(buf)[:n], peer)

        def client(i):
            rnd = random.Random(i)
            dialed = i % 2 == 0
            c = track(net.dial("udp", str(srv.local_addr())) if dialed else packet.listen_packet("udp", "127.0.0.1:0"))
            buf = bytearray(2048)
            for r in range(rounds):
                msg = f"{i}:{r}:".encode() + rnd.randbytes(rnd.randrange(0, 1200))
                c.set_read_deadline(gonb.now() + 10)
                if dialed:
                    c.write(msg)
                    n, frm = c.read(buf), srv.local_addr()
                else:
                    c.write_to(msg, srv.local_addr())
                    n, frm = c.read_from(buf)
                assert bytes(buf[:n]) == msg, (i, r)
                assert frm == srv.local_addr()
            return str(c.local_addr())

        gonb.go(serve)
        fs = [spawn(client, i) for i in range(clients)]
        for f in fs:
            f.wait()
            assert f.exc is None, repr(f.exc)
        assert peers == {f.value for f in fs}

    gorun(gomain(main))


def test_zero_length_and_truncated_datagrams(gorun, fd_baseline):
    """An empty datagram is a read of 0 bytes, never EOF, on both read_from and a dialed read; a
    datagram longer than the buffer is cut to it and the rest dropped (the next read is the next one)."""
    def main():
        watchdog(10, "zero-length datagrams")
        pc, c = udp_pair()
        c.write(b"")
        n, frm = pc.read_from(bytearray(16))
        assert (n, frm) == (0, c.local_addr())
        pc.write_to(b"", c.local_addr())
        assert c.read(bytearray(16)) == 0
        c.write(b"0123456789abcdef")
        c.write(b"next")
        buf = bytearray(4)
        assert pc.read_from(buf)[0] == 4 and bytes(buf) == b"0123"
        assert pc.read_from(buf)[0] == 4 and bytes(buf) == b"next"
        pc.write_to(b"xyz", c.local_addr())
        assert c.read_from(bytearray(0)) == (0, pc.local_addr())   # an empty buffer still takes a datagram

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# Go's words, and Python's classes


def test_errors_go_words(gorun, fd_baseline):
    "Each datagram error as Go 1.19 prints it, and an instance of the right Python class."
    def main():
        e = raised(lambda: packet.listen_packet("udp", ":99999"))
        assert_go(e, "listen udp: address 99999: invalid port", ValueError, net.AddrError)
        e = raised(lambda: packet.listen_packet("udp", "127.0.0.1:nosuchservice"))
        assert_go(e, "listen udp: lookup udp/nosuchservice: unknown port")
        e = raised(lambda: packet.listen_packet("udp4", "[::1]:0"))
        assert_go(e, "listen udp4: address ::1: no suitable address found", ValueError)
        e = raised(lambda: net.listen("udp", "127.0.0.1:0"))
        assert_go(e, "listen udp 127.0.0.1:0: address 127.0.0.1:0: unexpected address type", ValueError)
        e = raised(lambda: packet.listen_packet("tcp", "127.0.0.1:0"))
        assert_go(e, "listen tcp 127.0.0.1:0: address 127.0.0.1:0: unexpected address type", ValueError)
        e = raised(lambda: net.dial("udp", ""))
        assert_go(e, "dial udp: missing address")
        e = raised(lambda: net.dial("udp", "127.0.0.1"))
        assert_go(e, "dial udp: address 127.0.0.1: missing port in address")

        pc, c = udp_pair()
        L, C = pc.local_addr(), c.local_addr()
        e = raised(lambda: packet.listen_packet("udp", str(L)))
        assert_go(e, f"listen udp {L}: bind: address already in use", OSError)
        assert e.errno == errno.EADDRINUSE

        # a connected socket whose peer's port is closed: the write goes out, the next read is refused
        r = track(net.dial("udp", closed_port()))
        r.write(b"ping")
        r.set_read_deadline(gonb.now() + 5)
        e = raised(lambda: r.read(bytearray(8)))
        assert_go(e, f"read udp {r.local_addr()}->{r.remote_addr()}: read: connection refused",
                  ConnectionRefusedError)

        big = bytes(70_000)
        e = raised(lambda: c.write(big))
        assert_go(e, f"write udp {C}->{L}: write: message too long", OSError)
        assert e.errno == errno.EMSGSIZE
        e = raised(lambda: pc.write_to(big, C))
        assert_go(e, f"write udp {L}->{C}: sendto: message too long")
        assert e.errno == errno.EMSGSIZE

        e = raised(lambda: c.write_to(b"x", L))
        assert_go(e, f"write udp {C}->{L}: use of WriteTo with pre-connected connection", packet.ErrWriteToConnected)
        e = raised(lambda: pc.write(b"x"))
        assert_go(e, f"write udp {L}: write: destination address required", OSError)
        e = raised(lambda: pc.write_to(b"x", None))
        assert_go(e, f"write udp {L}: invalid argument", OSError)
        assert e.errno == errno.EINVAL
        e = raised(lambda: pc.write_to(b"x", net.TCPAddr(C.IP, C.Port)))
        assert_go(e, f"write udp {L}->{C}: invalid argument")
        v4 = track(packet.listen_packet("udp4", "127.0.0.1:0"))
        e = raised(lambda: v4.write_to(b"x", packet.ResolveUDPAddr("udp", "[::1]:9")))
        assert_go(e, f"write udp4 {v4.local_addr()}->[::1]:9: address ::1: non-IPv4 address", ValueError)
        with pytest.raises(TypeError, match="must be a UDPAddr"):
            pc.write_to(b"x", "127.0.0.1:9")

        pc.set_read_deadline(gonb.now() + 0.02)
        e = raised(lambda: pc.read_from(bytearray(8)))
        assert_go(e, f"read udp {L}: i/o timeout", TimeoutError, gonb.ErrDeadlineExceeded)
        assert e.timeout()

        pc.close()
        closed = "use of closed network connection"
        assert_go(raised(lambda: pc.read_from(bytearray(8))), f"read udp {L}: {closed}", net.ErrClosed)
        assert_go(raised(lambda: pc.write_to(b"x", C)), f"write udp {L}->{C}: {closed}", net.ErrClosed)
        assert_go(raised(pc.close), f"close udp {L}: {closed}", net.ErrClosed)
        assert_go(raised(lambda: pc.set_read_deadline(gonb.now())), f"set udp {L}: {closed}", net.ErrClosed)
        assert_go(raised(lambda: pc.set_read_buffer(1000)), f"set udp {L}: {closed}", net.ErrClosed)
        c.close()
        assert_go(raised(lambda: c.read(bytearray(8))), f"read udp {C}->{L}: {closed}", net.ErrClosed)
        assert_go(raised(lambda: c.write(b"x")), f"write udp {C}->{L}: {closed}", net.ErrClosed)

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# deadlines and close


def test_read_from_deadlines(gorun, fd_baseline):
    """Deadlines on read_from: one already past fails at once; one ahead fails no earlier than set;
    data before the deadline is read; a deadline moved later while parked is honoured; None clears."""
    def main():
        watchdog(20, "read_from deadlines")
        pc, c = udp_pair()
        buf = bytearray(16)
        pc.set_read_deadline(gonb.now() - 1)
        t0 = gonb.now()
        assert isinstance(raised(lambda: pc.read_from(buf)), TimeoutError)
        assert gonb.now() - t0 < 0.5

        t0 = gonb.now()
        pc.set_read_deadline(t0 + 0.1)
        assert isinstance(raised(lambda: pc.read_from(buf)), TimeoutError)
        assert gonb.now() - t0 >= 0.099

        pc.set_read_deadline(gonb.now() + 5)
        gonb.go(lambda: (gonb.sleep(0.02), c.write(b"early")))
        assert pc.read_from(buf)[0] == 5

        t0 = gonb.now()
        pc.set_read_deadline(t0 + 0.05)
        f = spawn(lambda: pc.read_from(buf))
        gonb.sleep(0.01)
        pc.set_read_deadline(t0 + 0.3)           # extended while the reader is parked
        f.wait()
        assert isinstance(f.exc, TimeoutError) and f.t - t0 >= 0.299, (f.exc, f.t - t0)

        pc.set_read_deadline(None)
        f = spawn(lambda: pc.read_from(buf))
        gonb.sleep(0.2)
        assert not f.done
        c.write(b"late")
        f.wait()
        assert f.value == (4, c.local_addr())

    gorun(gomain(main))


def test_close_wakes_parked_read_from(gorun, fd_baseline):
    "A goroutine parked in read_from (and one in a dialed read) wakes with ErrClosed when the socket closes."
    def main():
        watchdog(10, "close wakes read_from")
        pc, c = udp_pair()
        L, C = pc.local_addr(), c.local_addr()
        f = spawn(lambda: pc.read_from(bytearray(16)))
        g = spawn(lambda: c.read(bytearray(16)))
        gonb.sleep(0.05)
        assert not f.done and not g.done
        t_close = gonb.now()
        pc.close()
        c.close()
        assert f.done and g.done and f.t >= t_close
        assert_go(f.exc, f"read udp {L}: use of closed network connection", net.ErrClosed)
        assert_go(g.exc, f"read udp {C}->{L}: use of closed network connection", net.ErrClosed)
        assert not isinstance(f.exc, TimeoutError)

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# unixgram


def test_unixgram_exchange(gorun, fd_baseline, tmp_path):
    """A unixgram server on a path: a named client is answered with write_to; a dialed client with no
    name reads as None to the server, prints `@` as its own address, and talks with read/write."""
    def main():
        srv_path, cli_path = str(tmp_path / "srv.sock"), str(tmp_path / "cli.sock")
        srv = track(packet.listen_packet("unixgram", srv_path))
        assert isinstance(srv, packet.UnixgramConn) and isinstance(srv, net.UnixConn)
        assert str(srv.local_addr()) == srv_path and srv.local_addr().network() == "unixgram"
        cli = track(packet.listen_packet("unixgram", cli_path))
        buf = bytearray(64)
        for i in range(20):
            cli.write_to(f"q{i}".encode(), srv.local_addr())
            n, peer = srv.read_from(buf)
            assert peer == net.UnixAddr(cli_path, "unixgram")
            srv.write_to(b"a" + buf[:n], peer)
            n, frm = cli.read_from(buf)
            assert bytes(buf[:n]) == f"aq{i}".encode() and frm == srv.local_addr()

        anon = track(net.dial("unixgram", srv_path))
        assert str(anon.local_addr()) == "@" and str(anon.remote_addr()) == srv_path
        anon.write(b"")
        assert srv.read_from(buf) == (0, None)
        e = raised(lambda: srv.write_to(b"x", net.UnixAddr(cli_path, "unix")))
        assert_go(e, f"write unixgram {srv_path}->{cli_path}: address family not supported by protocol", OSError)
        e = raised(lambda: srv.write_to(b"x", net.UnixAddr(str(tmp_path / "nobody"), "unixgram")))
        assert_go(e, f"write unixgram {srv_path}->{tmp_path / 'nobody'}: sendto: no such file or directory",
                  FileNotFoundError)
        e = raised(lambda: anon.write_to(b"x", srv.local_addr()))
        assert_go(e, f"write unixgram @->{srv_path}: use of WriteTo with pre-connected connection")

        auto = track(packet.listen_packet("unixgram", ""))     # an empty name: the kernel picks an abstract one
        assert str(auto.local_addr()).startswith("@") and len(str(auto.local_addr())) > 1
        auto.write_to(b"auto", srv.local_addr())
        n, peer = srv.read_from(buf)
        assert (bytes(buf[:n]), peer) == (b"auto", auto.local_addr())

        srv.set_read_deadline(gonb.now() + 0.02)
        assert_go(raised(lambda: srv.read_from(buf)), f"read unixgram {srv_path}: i/o timeout", TimeoutError)
        srv.close()
        assert os.path.exists(srv_path)                      # Go leaves a unixgram socket's file
        e = raised(lambda: anon.write(b"x"))
        assert_go(e, f"write unixgram @->{srv_path}: write: connection refused", ConnectionRefusedError)
        e = raised(lambda: net.dial("unixgram", str(tmp_path / "nobody")))
        assert_go(e, f"dial unixgram {tmp_path / 'nobody'}: connect: no such file or directory", FileNotFoundError)

    gorun(gomain(main))


# ---------------------------------------------------------------------------------------------
# addresses, options, fds


def test_addresses_and_families(gorun, fd_baseline):
    """Addresses print as Go prints them: a dual-stack wildcard as [::]:port, an IPv4 sender on it
    as plain IPv4; udp4 and udp6 pick their families."""
    def main():
        any_ = track(packet.listen_packet("udp", ":0"))
        port = any_.local_addr().Port
        assert str(any_.local_addr()) == f"[::]:{port}"
        c = track(net.dial("udp4", f"127.0.0.1:{port}"))
        c.write(b"v4")
        n, peer = any_.read_from(bytearray(8))
        assert str(peer) == str(c.local_addr()) and str(peer).startswith("127.0.0.1:")
        any_.write_to(b"back", peer)
        assert c.read(bytearray(8)) == 4
        assert str(track(packet.listen_packet("udp4", ":0")).local_addr()).startswith("0.0.0.0:")
        # a sender's address, changed by the program, sends to the new place (not the kernel's cached sockaddr)
        other = track(packet.listen_packet("udp", "127.0.0.1:0"))
        peer.Port = other.local_addr().Port
        any_.write_to(b"moved", peer)
        buf = bytearray(8)
        assert other.read_from(buf)[0] == 5 and bytes(buf[:5]) == b"moved"
        if socket.has_ipv6:
            six = track(packet.listen_packet("udp6", "[::1]:0"))
            d = track(net.dial("udp6", str(six.local_addr())))
            d.write(b"six")
            n, peer = six.read_from(bytearray(8))
            assert peer == d.local_addr() and str(peer).startswith("[::1]:")

    gorun(gomain(main))


def test_socket_options(gorun, fd_baseline):
    """set_read_buffer/set_write_buffer reach the kernel (which doubles them); broadcast is on by
    default on UDP sockets, as Go's setDefaultSockopts sets it, and a write to 255.255.255.255 goes out."""
    def main():
        pc = track(packet.listen_packet("udp4", "0.0.0.0:0"))
        sock = pc.fd.pfd.sock
        pc.set_read_buffer(300_000)
        pc.set_write_buffer(200_000)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 300_000
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 200_000
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 1
        try:
            assert pc.write_to(b"hello", packet.ResolveUDPAddr("udp4", "255.255.255.255:9")) == 5
        except OSError as e:
            if e.errno not in (errno.ENETUNREACH, errno.EHOSTUNREACH): raise   # no broadcast route here
        for bad in ("1k", 1.5, None, True):
            with pytest.raises(TypeError):
                pc.set_read_buffer(bad)
        with pytest.raises(OverflowError):
            pc.set_write_buffer(1 << 40)
        ug = track(packet.listen_packet("unixgram", ""))
        assert ug.fd.pfd.sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 0

    gorun(gomain(main))


def test_no_fd_leak_1000_sockets(gorun, fd_baseline):
    "1,000 datagram sockets opened (bound, dialed, unixgram, some with a parked reader) and closed: no fd left."
    def main():
        watchdog(60, "1000 sockets")
        for wave in range(10):
            conns = []
            for i in range(100):
                kind = i % 4
                if kind == 0: conns.append(packet.listen_packet("udp", "127.0.0.1:0"))
                elif kind == 1: conns.append(net.dial("udp", "127.0.0.1:9"))
                elif kind == 2: conns.append(packet.listen_packet("unixgram", ""))
                else: conns.append(packet.listen_packet("udp6" if socket.has_ipv6 else "udp4", ":0"))
            parked = [spawn(c.read_from, bytearray(8)) for c in conns[::10]]
            gonb.sleep(0.001)
            for c in conns: c.close()
            for f in parked:
                f.wait()
                assert isinstance(f.exc, net.ErrClosed), repr(f.exc)

    gorun(main)


def test_udp_bench_smoke():
    "bench/udp_bench.py's gonb server and Python client work together: echoes counted, none wrong."
    import json, subprocess, sys
    from pathlib import Path
    bench = Path(__file__).resolve().parent.parent / "bench" / "udp_bench.py"
    srv = subprocess.Popen([sys.executable, str(bench), "--serve", "gonb"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline())
        out = subprocess.run([sys.executable, str(bench), "--client", "-addr", f"127.0.0.1:{port}", "-conns", "5",
                              "-size", "64", "-warmup", "0.1", "-seconds", "0.3"],
                             capture_output=True, text=True, timeout=60, check=True)
    finally:
        srv.kill()
        srv.wait()
    r = json.loads(out.stdout)
    assert r["Msgs"] > 0 and r["Total"] >= r["Msgs"] and r["Mismatched"] == 0, r


def test_bad_input_leaves_the_socket_working(gorun, fd_baseline):
    "Wrong types get a TypeError that says what to pass, and the socket goes on working."
    def main():
        pc, c = udp_pair()
        with pytest.raises(TypeError):
            pc.read_from(b"read-only bytes")
        with pytest.raises(TypeError):
            pc.write_to("text", c.local_addr())
        for bad in ("127.0.0.1:9", ("127.0.0.1", 9), 9):
            with pytest.raises(TypeError, match="UDPAddr"):
                pc.write_to(b"x", bad)
        for network in (123, None):
            with pytest.raises((TypeError, ValueError)):
                packet.listen_packet(network, "127.0.0.1:0")
        e = raised(lambda: packet.listen_packet("ip4:icmp", "127.0.0.1"))
        assert_go(e, "listen ip4:icmp: unknown network ip4:icmp", ValueError)
        c.write(b"still here")
        buf = bytearray(16)
        assert pc.read_from(buf) == (10, c.local_addr()) and bytes(buf[:10]) == b"still here"

    gorun(gomain(main))


def link_local():
    "An IPv6 link-local address of this machine as `fe80::...%ifname`, or None (from /proc/net/if_inet6)."
    try:
        with open("/proc/net/if_inet6") as f: rows = [line.split() for line in f]
    except OSError:
        return None
    for addr, _, _, scope, _, name in rows:
        if scope == "20":
            return str(__import__("ipaddress").ip_address(bytes.fromhex(addr))) + "%" + name
    return None


@pytest.mark.skipif(link_local() is None, reason="no IPv6 link-local address here")
def test_link_local_zone(gorun, fd_baseline):
    "A link-local sender prints with its zone, as Go prints it, and replies reach it."
    host = link_local()

    def main():
        a = track(packet.listen_packet("udp6", f"[{host}]:0"))
        b = track(packet.listen_packet("udp6", f"[{host}]:0"))
        assert str(a.local_addr()) == f"[{host}]:{a.local_addr().Port}"
        b.write_to(b"x", a.local_addr())
        n, peer = a.read_from(bytearray(8))
        assert peer == b.local_addr() and peer.Zone == host.partition("%")[2]
        a.write_to(b"y", peer)
        assert b.read_from(bytearray(8)) == (1, a.local_addr())

    gorun(gomain(main))
