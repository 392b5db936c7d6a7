"""An echo server whose accept loop survives fd exhaustion the way Go's net/http Server.Serve does:
on a temporary error (EMFILE, ENFILE, ECONNABORTED, ECONNRESET, EINTR, EAGAIN, a timeout) it logs
the error, sleeps 5 ms, doubling each time up to 1 s, and tries again; a successful accept resets
the delay. Any other error ends the loop.

    python examples/accept_backoff.py [address] [--nofile N]

address defaults to 127.0.0.1:9010. --nofile N lowers RLIMIT_NOFILE's soft limit to N first, so a
few clients exhaust the server's fds (tests/test_faults.py does exactly that). The server prints
`listening on ADDR` on stdout and one line per accept error on stderr, e.g.

    accept error: accept tcp 127.0.0.1:9010: accept4: too many open files; retrying in 5ms
"""
import argparse
import errno
import resource
import sys

import gonb
from gonb import net

# syscall.Errno.Temporary in Go: EINTR, EMFILE, ENFILE, ECONNRESET, ECONNABORTED, or a timeout.
TEMPORARY = {errno.EINTR, errno.EMFILE, errno.ENFILE, errno.ECONNRESET, errno.ECONNABORTED,
             errno.EAGAIN, errno.EWOULDBLOCK, errno.ETIMEDOUT}


def temporary(err):
    "net.Error's Temporary(): a timeout, or an errno Go calls temporary."
    return isinstance(err, TimeoutError) or getattr(err, "errno", None) in TEMPORARY


def duration(seconds):
    "A delay as Go's time.Duration prints it: 5ms, 10ms, ..., 640ms, 1s."
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def handle(conn):
    "Echo until the client closes (or resets) the connection."
    with conn:
        buf = bytearray(4096)
        while True:
            try:
                n = conn.read(buf)
                conn.write(memoryview(buf)[:n])
            except (gonb.EOF, OSError):
                return


def serve(lister):
    "net/http's Server.Serve accept loop, with its back-off on temporary errors."
    temp_delay = 0.0
    while True:
        try:
            conn = lister.accept()
        except net.ErrClosed:
            return
        except OSError as e:
            if not temporary(e):
                raise
            temp_delay = 0.005 if temp_delay == 0 else min(temp_delay * 2, 1.0)
            print(f"accept error: {e}; retrying in {duration(temp_delay)}", file=sys.stderr, flush=True)
            gonb.sleep(temp_delay)
            continue
        temp_delay = 0.0
        gonb.go(handle, conn)


def main(address):
    lister = net.listen("tcp", address)
    print("listening on", lister.addr(), flush=True)
    serve(lister)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("address", nargs="?", default="127.0.0.1:9010")
    ap.add_argument("--nofile", type=int, help="lower RLIMIT_NOFILE's soft limit to this first")
    args = ap.parse_args()
    if args.nofile:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, hard))
    try:
        gonb.run(main, args.address)
    except KeyboardInterrupt:
        pass
