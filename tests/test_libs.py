"""Real libraries in goroutines against real local servers, under gonb.monkey.patch_all(): urllib and
http.client against a slow ThreadingHTTPServer, requests, redis-py against redis-server, TLS clients."""
import http.client, ssl, threading, time, urllib.request

import pytest
import gonb
from gonb.sync import WaitGroup
from goutil import wait_parked, watchdog
import libfix
from libfix import patched, slow_http, redis_server, cert

N = 40


def overlapped(fn, n=N):
    "Run fn(i) in n goroutines; (results, seconds taken)."
    def main():
        watchdog(30, "clients")
        wg, out = WaitGroup(), [None] * n
        def one(i):
            try: out[i] = fn(i)
            finally: wg.done()
        t0 = gonb.now()
        for i in range(n): wg.add(1); gonb.go(one, i)
        wg.wait()
        return out, gonb.now() - t0
    return main


def test_urllib_40_goroutines_overlap(gorun, slow_http, patched):
    def get(i):
        with urllib.request.urlopen(slow_http, timeout=10) as r: return r.read()
    out, took = gorun(overlapped(get))
    assert out == [b"ok"] * N
    assert took < N * 0.1 / 4, f"{took:.2f} s: serial would be {N * 0.1:.1f} s"


def test_http_client_keepalive(gorun, patched, slow_http):
    host, port = slow_http[7:-1].split(":")
    def get(i):
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            bodies = []
            for _ in range(3):          # one connection, three requests (HTTP/1.1 keep-alive)
                c.request("GET", "/"); bodies.append(c.getresponse().read())
            return bodies
        finally: c.close()
    out, took = gorun(overlapped(get, 20))
    assert out == [[b"ok"] * 3] * 20
    assert took < 20 * 3 * 0.1 / 4


def test_requests_overlap(gorun, patched, slow_http):
    import requests
    def get(i):
        with requests.Session() as s: return s.get(slow_http, timeout=10).text
    out, took = gorun(overlapped(get))
    assert out == ["ok"] * N
    assert took < N * 0.1 / 4


def test_urllib_timeout_in_pythons_words(gorun, patched, slow_http):
    def main():
        with pytest.raises(TimeoutError, match="timed out"):
            urllib.request.urlopen(slow_http, timeout=0.02).read()
        return "healthy"
    assert gorun(main) == "healthy"


def test_redis_blpop_parked_while_100_goroutines_incr(gorun, patched, redis_server):
    import redis
    def main():
        watchdog(30, "redis")
        pool = redis.ConnectionPool(host="127.0.0.1", port=redis_server, max_connections=200)
        r = redis.Redis(connection_pool=pool)
        r.delete("q", "n")
        popped, wg = [], WaitGroup()
        def blpop():
            popped.append(r.blpop("q", timeout=10))
        gonb.go(blpop)
        wait_parked(1, "IO wait")                     # BLPOP sits in its recv, parked on the poller
        def incr():
            try:
                for _ in range(10): r.incr("n")
            finally: wg.done()
        for _ in range(100): wg.add(1); gonb.go(incr)
        wg.wait()
        assert not popped                             # still waiting: it did not block the INCRs
        assert int(r.get("n")) == 1000
        r.rpush("q", "wake")
        while not popped: gonb.sleep(0.001)
        pool.disconnect()
        return popped
    assert gorun(main) == [(b"q", b"wake")]


def test_redis_pipelines_and_pubsub(gorun, patched, redis_server):
    import redis
    def main():
        r = redis.Redis(host="127.0.0.1", port=redis_server)
        p = r.pubsub(); p.subscribe("ch")
        assert p.get_message(timeout=5)["type"] == "subscribe"
        got = []
        def listener():
            m = p.get_message(timeout=5, ignore_subscribe_messages=True)
            got.append(m["data"])
        gonb.go(listener)
        gonb.sleep(0.02)
        with r.pipeline() as pipe:
            pipe.set("k", "v").get("k").publish("ch", "hello")
            res = pipe.execute()
        while not got: gonb.sleep(0.001)
        p.close(); r.close()
        return res, got
    res, got = gorun(main)
    assert res[:2] == [True, b"v"] and got == [b"hello"]


def tls_server(cert):
    """A TLS echo server in a plain thread (stdlib sockets made before patching): upper-cases one message.
    Returns its port and `shutdown`, which stops it and waits until every socket it opened is closed."""
    import socket as stdsock
    crt, key = cert
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(crt, key)
    ls = stdsock.create_server(("127.0.0.1", 0))
    stop, threads = threading.Event(), []
    def serve_one(raw):
        try:
            with ctx.wrap_socket(raw, server_side=True) as c:
                time.sleep(0.05)
                c.sendall(c.recv(100).upper())
        except OSError: pass
    def loop():
        ls.settimeout(0.1)
        while not stop.is_set():
            try: raw, _ = ls.accept()
            except OSError: continue
            threads.append(threading.Thread(target=serve_one, args=(raw,), daemon=True)); threads[-1].start()
        ls.close()
    threads.append(threading.Thread(target=loop, daemon=True)); threads[0].start()
    def shutdown():
        stop.set()
        for t in list(threads): t.join(10)   # the loop first: no thread starts after it ends
    return ls.getsockname()[1], shutdown


def test_tls_clients_overlap(gorun, cert):
    port, shutdown = tls_server(cert)
    import gonb.monkey as monkey
    with pytest.warns(monkey.MonkeyPatchWarning, match="already"):   # the server's socket and thread exist
        monkey.patch_all()
    try:
        ctx = ssl.create_default_context(cafile=cert[0])
        import socket
        def one(i):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as c:
                    c.sendall(b"hi %d" % i)
                    return c.recv(100), c.version() is not None
        out, took = gorun(overlapped(one, 20))
    finally:
        monkey.unpatch_all(); shutdown()
    assert out == [(b"HI %d" % i, True) for i in range(20)]
    assert took < 20 * 0.05 * 0.8                       # one after the other: 1 s and 20 handshakes


def test_https_urllib(gorun, patched, cert):
    crt, key = cert
    srv = libfix.Server(("127.0.0.1", 0), libfix.SlowHandler)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); sctx.load_cert_chain(crt, key)
    srv.socket = sctx.wrap_socket(srv.socket, server_side=True)   # made by the patched module: a gonb socket ...
    t = threading.Thread(target=srv.serve_forever, daemon=True); t.start()   # ... served by a plain thread: blocks it
    try:
        ctx = ssl.create_default_context(cafile=crt)
        url = f"https://localhost:{srv.server_address[1]}/"
        def get(i):
            with urllib.request.urlopen(url, timeout=10, context=ctx) as r: return r.read()
        out, took = gorun(overlapped(get, 20))
    finally:
        srv.shutdown(); srv.server_close()
    assert out == [b"ok"] * 20
    assert took < 20 * 0.1 / 2
