"""gonb.ssl (chapter 14d), without monkey-patching: handshakes, reads and writes park on want-read/write."""
import ssl, threading

import pytest
import gonb
from gonb import socket as gsocket, ssl as gssl
from goutil import wait_parked, watchdog
from libfix import cert


def contexts(cert):
    crt, key = cert
    s = gssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); s.load_cert_chain(crt, key)
    return s, gssl.create_default_context(cafile=crt)


def test_handshake_parks_and_echo(gorun, cert):
    sctx, cctx = contexts(cert)
    def main():
        watchdog(20, "tls")
        ln = gsocket.create_server(("127.0.0.1", 0))
        def server():
            raw, _ = ln.accept()
            with sctx.wrap_socket(raw, server_side=True) as c:
                c.sendall(c.recv(100)[::-1])
        gonb.go(server)
        wait_parked(1, "IO wait")                          # accept parks
        raw = gsocket.create_connection(ln.getsockname())
        hs = []
        def client():
            with cctx.wrap_socket(raw, server_hostname="localhost") as c:
                hs.append(c.version()); c.sendall(b"abc"); hs.append(c.recv(3))
        gonb.go(client)
        while len(hs) < 2: gonb.sleep(0.001)
        ln.close()
        return hs
    version, echoed = gorun(main)
    assert version.startswith("TLS") and echoed == b"cba"


def test_timeouts_and_nonblocking_in_pythons_words(gorun, cert):
    sctx, cctx = contexts(cert)
    def main():
        ln = gsocket.create_server(("127.0.0.1", 0))
        hold = []
        def server():
            raw, _ = ln.accept()
            hold.append(sctx.wrap_socket(raw, server_side=True))   # handshakes, then says nothing
        gonb.go(server)
        c = cctx.wrap_socket(gsocket.create_connection(ln.getsockname()), server_hostname="localhost")
        c.settimeout(0.03)
        with pytest.raises(TimeoutError, match="The read operation timed out"):
            c.recv(1)
        c.setblocking(False)
        with pytest.raises(ssl.SSLWantReadError):
            c.recv(1)
        c.close(); ln.close()
        while not hold: gonb.sleep(0.001)
        hold[0].close()
        silent = gsocket.create_server(("127.0.0.1", 0))      # accepts (backlog) but never handshakes
        d = gsocket.create_connection(silent.getsockname())
        d.settimeout(0.03)
        with pytest.raises(TimeoutError, match="The handshake operation timed out"):
            cctx.wrap_socket(d, server_hostname="localhost")
        d.close(); silent.close()
        return "healthy"
    assert gorun(main) == "healthy"


def test_wrong_hostname_is_the_stdlibs_error(gorun, cert):
    sctx, cctx = contexts(cert)
    def main():
        ln = gsocket.create_server(("127.0.0.1", 0))
        def server():
            raw, _ = ln.accept()
            try: sctx.wrap_socket(raw, server_side=True).close()
            except (ssl.SSLError, OSError): raw.close()
        gonb.go(server)
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            cctx.wrap_socket(gsocket.create_connection(ln.getsockname()), server_hostname="example.com")
        gonb.sleep(0.01); ln.close()
    gorun(main)


def test_session_reuse_sni_unwrap(gorun, cert):
    sctx, cctx = contexts(cert)
    cctx.maximum_version = ssl.TLSVersion.TLSv1_2
    names = []
    sctx.sni_callback = lambda s, name, ctx: names.append(name)
    def main():
        ln = gsocket.create_server(("127.0.0.1", 0))
        def server():
            for _ in range(3):
                raw, _ = ln.accept()
                c = sctx.wrap_socket(raw, server_side=True)
                if c.recv(10) == b"unwrap":
                    p = c.unwrap(); p.sendall(b"plain"); p.close()
                else: c.close()
        gonb.go(server)
        a = cctx.wrap_socket(gsocket.create_connection(ln.getsockname()), server_hostname="localhost")
        a.sendall(b"x"); sess = a.session; a.close()
        b = cctx.wrap_socket(gsocket.create_connection(ln.getsockname()), server_hostname="localhost", session=sess)
        reused = b.session_reused; b.sendall(b"y"); b.close()
        c = cctx.wrap_socket(gsocket.create_connection(ln.getsockname()), server_hostname="localhost")
        c.sendall(b"unwrap"); p = c.unwrap()
        got = p.recv(5); p.close(); ln.close()
        return reused, got
    assert gorun(main) == (True, b"plain")
    assert names == ["localhost"] * 3


def test_outside_a_goroutine_blocks_as_the_stdlib(cert):
    sctx, cctx = contexts(cert)
    ln = gsocket.create_server(("127.0.0.1", 0))
    def server():
        raw, _ = ln.accept()
        with sctx.wrap_socket(raw, server_side=True) as c: c.sendall(c.recv(5).upper())
    threading.Thread(target=server).start()
    with cctx.wrap_socket(gsocket.create_connection(ln.getsockname()), server_hostname="localhost") as c:
        c.sendall(b"hello"); assert c.recv(5) == b"HELLO"
    ln.close()


def test_read_write_after_close_is_the_stdlibs_valueerror(gorun, cert):
    sctx, cctx = contexts(cert)
    def main():
        ln = gsocket.create_server(("127.0.0.1", 0))
        served = gonb.Chan()
        def serve():
            try: sctx.wrap_socket(ln.accept()[0], server_side=True).close()
            finally: served.close()
        gonb.go(serve)
        c = cctx.wrap_socket(gsocket.create_connection(ln.getsockname()), server_hostname="localhost")
        served.recv()        # the server's end is closed before the run ends: no goroutine left holding an fd
        c.close(); ln.close()
        with pytest.raises(ValueError, match="closed or unwrapped"):
            c.read(1)
        with pytest.raises(ValueError, match="closed or unwrapped"):
            c.write(b"x")
    gorun(main)
