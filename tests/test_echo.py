"""The seed's echo server under load, and the epoll_ctl count of an echo run (register once, never modify)."""
import os
import random
import re
import resource
import shutil
import subprocess
import sys

import pytest

import gonb
from gonb import net
from gonb.runtime import Sema, semacquire, semrelease
from goutil import read_exactly, wait_until

NCLIENTS = 1000


@pytest.fixture
def nofile():
    "Raise RLIMIT_NOFILE's soft limit to the hard one (1,000 clients need 2,000+ fds)."
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * NCLIENTS + 200
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_echo_1000_concurrent_clients(gorun, fd_baseline, nofile):
    rng = random.Random(20240611)
    # three payloads per client, sizes log-uniform from 1 byte to 256 KiB; a writer goroutine sends
    # them while the client reads the echo back (a big write alone could fill both socket buffers)
    plans = [[rng.randbytes(int(2 ** rng.uniform(0, 18))) for _ in range(3)] for _ in range(NCLIENTS)]
    stats = {"active": 0, "max_active": 0, "served": 0, "echoed": 0}

    def main():
        l = net.listen("tcp", "0.0.0.0:0")   # the seed listens on 0.0.0.0:9009; a free port here
        port = l.addr().Port
        server_done = Sema()
        barrier = Sema()

        def handle(conn):                     # the seed's per-connection goroutine, echoing
            stats["active"] += 1
            stats["max_active"] = max(stats["max_active"], stats["active"])
            if stats["active"] == NCLIENTS:   # every connection is accepted: let the clients talk
                for _ in range(NCLIENTS): semrelease(barrier)
            try:
                buf = bytearray(4096)
                while True:
                    try:
                        n = conn.read(buf)
                    except gonb.EOF:
                        return
                    conn.write(memoryview(buf)[:n])
                    stats["echoed"] += n
            finally:
                stats["active"] -= 1
                stats["served"] += 1
                conn.close()
                semrelease(server_done)

        def accept_loop():
            while True:
                try:
                    conn = l.accept()
                except net.OpError as e:
                    assert isinstance(e, net.ErrClosed), e   # only the listener's close ends the loop
                    return
                gonb.go(handle, conn)

        gonb.go(accept_loop)

        clients_done = Sema()

        def client(i):
            c = net.dial("tcp", f"127.0.0.1:{port}")
            try:
                semacquire(barrier)                      # wait until the server holds all 1,000
                written = []
                def writer():
                    for payload in plans[i]:
                        assert c.write(payload) == len(payload)
                        written.append(len(payload))
                gonb.go(writer)
                for payload in plans[i]:
                    back = read_exactly(c, len(payload))
                    if back != payload:
                        bad = next(j for j in range(len(payload)) if back[j] != payload[j])
                        raise AssertionError(f"client {i}: byte {bad} of {len(payload)} differs")
                assert written == [len(p) for p in plans[i]]
            finally:
                c.close()
            semrelease(clients_done)

        for i in range(NCLIENTS):
            gonb.go(client, i)
        for _ in range(NCLIENTS):
            semacquire(clients_done)
        for _ in range(NCLIENTS):
            semacquire(server_done)
        l.close()
        wait_until(lambda: len(gonb.goroutines()) == 1, what="the accept loop ended by the close")
        assert gonb.runtime.sched.netpollWaiters == 0
        return sorted(g[3] for g in gonb.goroutines())

    left = gorun(main)
    assert left == ["test_echo_1000_concurrent_clients.<locals>.main"]   # every other goroutine ended
    assert stats["served"] == NCLIENTS
    assert stats["max_active"] == NCLIENTS        # all 1,000 connections were open at once
    assert stats["active"] == 0
    assert stats["echoed"] == sum(len(p) for plan in plans for p in plan)


# ---------------------------------------------------------------------------------------------
# epoll_ctl count: each fd is registered once (ADD) and removed once (DEL), never modified per read

ECHO_PROGRAM = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "examples", "echo_rounds.py")


def epoll_ctl_calls(tmp_path, n, m):
    "Run the echo program under strace -f -c; return (epoll_ctl calls, program output)."
    prog = ECHO_PROGRAM
    out = tmp_path / f"strace-{n}-{m}.txt"
    env = dict(os.environ, GONB_NETPOLL="epoll")
    p = subprocess.run(["strace", "-f", "-c", "-e", "trace=epoll_ctl", "-o", str(out),
                        sys.executable, str(prog), str(n), str(m)],
                       env=env, capture_output=True, text=True, timeout=120,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if p.returncode != 0 and "ptrace" in p.stderr.lower():
        pytest.skip(f"strace cannot trace here: {p.stderr.strip()[:200]}")
    assert p.returncode == 0, p.stderr
    table = out.read_text()
    calls = 0
    for line in table.splitlines():
        fields = line.split()
        if fields and fields[-1] == "epoll_ctl":
            calls = int(fields[3])   # % time, seconds, usecs/call, calls, [errors], syscall
    assert re.search(r"\bepoll_ctl\b", table) or calls == 0, table
    return calls, p.stdout


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_epoll_ctl_once_per_fd(tmp_path):
    n = 20
    counts = {}
    for m in (1, 100):
        calls, stdout = epoll_ctl_calls(tmp_path, n, m)
        assert stdout.strip() == f"OK {n} {m}"
        counts[m] = calls
        # 2n connection fds (client + accepted) x (ADD + DEL), plus the listener (ADD + DEL) and
        # the eventfd (ADD): about 4n + 3; a per-read EPOLL_CTL_MOD would add n*m calls or more.
        assert 4 * n <= calls <= 4 * n + 10, (m, calls)
    assert abs(counts[100] - counts[1]) <= 4, counts   # independent of the number of round trips
