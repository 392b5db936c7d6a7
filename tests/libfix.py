"""Fixtures shared by the library tests: gonb.monkey patched for one test, a slow ThreadingHTTPServer, a
real redis-server on a free port, and a throwaway self-signed certificate made by the openssl CLI."""
import http.server, shutil, socket, subprocess, tempfile, threading, time

import pytest
from gonb import monkey


@pytest.fixture
def patched():
    "gonb.monkey.patch_all() for the test, every original back afterwards."
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", monkey.MonkeyPatchWarning)   # pytest's own threads and sockets exist
        monkey.patch_all()
    try: yield monkey
    finally: monkey.unpatch_all()


class SlowHandler(http.server.BaseHTTPRequestHandler):
    "Answers every GET after `delay` seconds with `ok`."
    delay = 0.1
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(self.delay)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args): pass


class Server(http.server.ThreadingHTTPServer):
    "socketserver's listen backlog is 5: forty clients at once would overflow it into SYN retries (1 s)."
    request_queue_size = 128
    daemon_threads = True


@pytest.fixture
def slow_http():
    "A ThreadingHTTPServer (stdlib sockets, its own threads, made before patching) whose handler sleeps 100 ms."
    srv = Server(("127.0.0.1", 0), SlowHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try: yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.shutdown(); srv.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_server():
    "A real redis-server on a free port, no persistence; stopped afterwards."
    exe = shutil.which("redis-server")
    if exe is None: pytest.skip("redis-server is not installed (Debian: apt-get install redis-server; .ci/run does it)")
    port = free_port()
    d = tempfile.mkdtemp()
    p = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                          "--dir", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1): break
        except OSError:
            if time.monotonic() > deadline or p.poll() is not None:
                p.kill(); raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
    try: yield port
    finally:
        p.terminate(); p.wait(10); shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    "(cert.pem, key.pem): a self-signed certificate for localhost and 127.0.0.1, made by the openssl CLI."
    exe = shutil.which("openssl")
    if exe is None: pytest.skip("the openssl CLI is not installed (apt-get install openssl; .ci/run does it)")
    d = tmp_path_factory.mktemp("tls")
    crt, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run([exe, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    return crt, key
