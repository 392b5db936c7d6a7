"""A gonb TCP proxy under strace: which system calls moved its bytes (chapter 14a).

    python examples/splice_proxy.py [--messages 32] [--size 65536] [--json]

The proxy (two `io.copy`s, one per direction) runs alone in a child process; `strace -f -p` is attached
to it once it listens. This process runs the echo backend and the client: the client sends the
messages through the proxy, reads each echo back whole and checks it, then closes. The table sums,
per system call, the calls and the bytes they returned in the proxy's process: with splice, `read`
and `write` move nothing but the poller's 8-byte eventfd counters, if any. Needs strace (and ptrace permission).
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, time

import gonb
from gonb import io, net

TRACED = "read,write,readv,writev,recvfrom,sendto,recvmsg,sendmsg,splice,sendfile"


def proxy(backend):
    "The child: accept one client, dial the backend, copy both ways, exit when both directions end."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        print(ln.addr(), flush=True)
        c = ln.accept()
        b = net.dial("tcp", backend)
        done = gonb.Chan()
        def half(dst, src):
            io.copy(dst, src)
            dst.close_write()
            done.send(None)
        gonb.go(half, b, c)
        gonb.go(half, c, b)
        done.recv(); done.recv()
        c.close(); b.close(); ln.close()
    gonb.run(main)


def sum_strace(path):
    "{syscall: [calls, bytes returned]} from an `strace -f -o` file (unfinished/resumed pairs joined)."
    out = {}
    done = re.compile(r"^\d+\s+(\w+)\(.*\)\s+=\s+(-?\d+)")
    resumed = re.compile(r"^\d+\s+<\.\.\. (\w+) resumed>.*=\s+(-?\d+)")
    with open(path) as f:
        for line in f:
            m = done.match(line) or resumed.match(line)
            if not m: continue
            calls_bytes = out.setdefault(m.group(1), [0, 0])
            calls_bytes[0] += 1
            calls_bytes[1] += max(int(m.group(2)), 0)
    return out


def run(messages, size):
    "Backend and client here, the proxy in a child under strace; returns the summed table (None: no tracing)."
    tmp = tempfile.mkdtemp(prefix="gonb-splice-")
    trace = os.path.join(tmp, "strace.txt")
    result = {}

    def main():
        backend = net.listen("tcp", "127.0.0.1:0")
        def echo():
            c = backend.accept()
            buf = bytearray(64 << 10)         # the backend copies in user space: it is not the one traced
            while True:
                try: n = c.read(buf)
                except gonb.EOF: break
                c.write(memoryview(buf)[:n])
            c.close()
        gonb.go(echo)
        child = subprocess.Popen([sys.executable, __file__, "--proxy", str(backend.addr())],
                                 stdout=subprocess.PIPE, text=True)
        addr = gonb.syscall(child.stdout.readline).strip()
        st = subprocess.Popen(["strace", "-f", "-qq", "-e", f"trace={TRACED}", "-o", trace, "-p", str(child.pid)],
                              stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not attached(child.pid): gonb.sleep(0.01)   # then dial
        if not attached(child.pid):                   # no ptrace here: nothing to count
            for p in (child, st): p.kill(); p.wait()
            return backend.close()
        c = net.dial("tcp", addr)
        msg, got = os.urandom(size), bytearray(size)
        for _ in range(messages):
            c.write(msg)
            io.read_full(c, got)
            assert got == msg, "the echo differs from the message"
        c.close_write()
        assert io.read_all(c) == b""
        c.close()
        gonb.syscall(child.wait)
        gonb.syscall(st.wait)
        backend.close()
        result.update(sum_strace(trace))

    gonb.run(main)
    shutil.rmtree(tmp, ignore_errors=True)
    return result or None   # None: strace could not attach


def attached(pid):
    "Is a tracer attached to every thread of `pid`?"
    tasks = os.listdir(f"/proc/{pid}/task")
    for t in tasks:
        with open(f"/proc/{pid}/task/{t}/status") as f:
            if not any(l.startswith("TracerPid:") and l.split()[1] != "0" for l in f): return False
    return True


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=32)
    ap.add_argument("--size", type=int, default=64 << 10)
    ap.add_argument("--json", action="store_true", help="print the table as JSON")
    ap.add_argument("--proxy", metavar="BACKEND", help=argparse.SUPPRESS)   # the child's role
    a = ap.parse_args()
    if a.proxy:
        proxy(a.proxy)
        sys.exit(0)
    if not shutil.which("strace"): sys.exit("splice_proxy: strace is not installed")
    table = run(a.messages, a.size)
    if table is None: sys.exit("splice_proxy: strace could not attach to the proxy (is ptrace permitted here?)")
    if a.json:
        print(json.dumps({"messages": a.messages, "size": a.size, "syscalls": table}))
    else:
        moved = a.messages * a.size
        print(f"proxy: {a.messages} messages of {a.size} B each way ({2 * moved:,} B through the proxy)")
        print(f"{'syscall':<10} {'calls':>7} {'bytes':>12}")
        for name, (calls, nbytes) in sorted(table.items(), key=lambda kv: -kv[1][1]):
            print(f"{name:<10} {calls:>7} {nbytes:>12,}")
