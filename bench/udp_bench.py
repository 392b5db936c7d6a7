"""UDP echo, side by side: gonb (chapter 14), asyncio's DatagramProtocol and Go, in one run.

    .venv/bin/python bench/udp_bench.py [--conns 1 50] [--size 128] [--seconds 2] [--repeat 3]

Each server is the same program: one socket, one loop (goroutine, protocol callback) reading a datagram
and writing it back to its sender. Each runs in its own process pinned to one core; the load client
runs on the other core: Go's (bench/go/udp_load_client.go) when `go` is installed, else the Python one
below (plain epoll). The client keeps one datagram in flight per socket and checks every echo byte for
byte. The servers take turns within each repeat, so they share the machine's noise; figures are
medians over --repeat runs with min-max, and throughput is also given as a ratio to asyncio in the
same run (the machine is shared: compare ratios). Server CPU is utime+stime per round trip.
"""
import argparse, asyncio, hashlib, json, os, random, select, shutil, socket, statistics, subprocess, sys
import tempfile, time
from pathlib import Path

from gonb.bench import cpus, pinned, proc_cpu

GO_SRC = Path(__file__).resolve().parent / "go"
GO_PROGRAMS = ("udp_echo_server", "udp_load_client")
BUFSIZE = 2048


# ---- the servers -----------------------------------------------------------------------------

def serve_gonb():
    "The gonb server: listen_packet, then read_from/write_to in one goroutine."
    import gonb
    from gonb import packet

    def main():
        pc = packet.listen_packet("udp", "127.0.0.1:0")
        print(pc.local_addr().Port, flush=True)
        buf = bytearray(BUFSIZE)
        view = memoryview(buf)
        while True:
            n, peer = pc.read_from(buf)
            pc.write_to(view[:n], peer)
    gonb.run(main)


class Echo(asyncio.DatagramProtocol):
    "The asyncio server: each datagram is sent back from the callback that receives it."
    def connection_made(self, transport): self.transport = transport
    def datagram_received(self, data, addr): self.transport.sendto(data, addr)


def serve_asyncio():
    async def main():
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        print(transport.get_extra_info("sockname")[1], flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())


# ---- the Python load client (when Go is not installed) ---------------------------------------

def python_client(addr, conns, size, warmup, seconds, timeout):
    "The Go client's protocol on plain epoll: one datagram in flight per socket, every echo checked."
    host, port = addr.rsplit(":", 1)
    ep, state = select.epoll(), {}
    for i in range(conns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((host, int(port)))
        s.setblocking(False)
        ep.register(s.fileno(), select.EPOLLIN)
        state[s.fileno()] = [s, bytearray(random.Random(i).randbytes(size)), 0, 0.0]   # sock, msg, seq, sent at
    start = time.monotonic()
    frm, until = start + warmup, start + warmup + seconds
    res = dict(Msgs=0, Total=0, Lost=0, Mismatched=0, Seconds=seconds)
    rtts = []

    def send(st, now):
        st[2] += 1
        st[1][:8] = st[2].to_bytes(8, "big")
        st[3] = now
        st[0].send(st[1])

    for st in state.values(): send(st, time.monotonic())
    while state:
        now = time.monotonic()
        for fd, _ in ep.poll(0.01):
            st = state[fd]
            data = st[0].recv(size + 64)
            if len(data) >= 8 and int.from_bytes(data[:8], "big") < st[2]: continue   # late echo of a lost one
            if data != st[1]: res["Mismatched"] += 1
            else:
                res["Total"] += 1
                if st[3] > frm:
                    res["Msgs"] += 1
                    rtts.append(now - st[3])
            if now < until: send(st, now)
            else: state.pop(fd)[0].close()
        for fd, st in list(state.items()):
            if now - st[3] > timeout:
                res["Lost"] += 1
                if now < until: send(st, now)
                else: state.pop(fd)[0].close()
    rtts.sort()
    if rtts: res.update(P50us=rtts[len(rtts) // 2] * 1e6, P99us=rtts[len(rtts) * 99 // 100] * 1e6)
    print(json.dumps(res))


# ---- running them ----------------------------------------------------------------------------

def go_build():
    "Build bench/go's UDP server and client (cached by source hash); their directory, or None without go."
    go = shutil.which("go")
    if go is None: return None
    h = hashlib.sha256(b"".join((GO_SRC / f"{n}.go").read_bytes() for n in GO_PROGRAMS))
    out = Path(tempfile.gettempdir()) / f"gonb-udp-bench-{h.hexdigest()[:12]}"
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod", CGO_ENABLED="0")
    for name in GO_PROGRAMS:
        if (out / name).exists(): continue
        out.mkdir(exist_ok=True)
        subprocess.run([go, "build", "-o", str(out / f"{name}.tmp"), f"{name}.go"], cwd=GO_SRC, env=env, check=True)
        os.replace(out / f"{name}.tmp", out / name)
    return out


def start_server(kind, cpu, gobin):
    "A server process pinned to `cpu`, and its port."
    cmd = [str(gobin / "udp_echo_server")] if kind == "go" else [sys.executable, __file__, "--serve", kind]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=pinned(cpu),
                         env=dict(os.environ, GONB_NETPOLL="epoll"))
    return p, int(p.stdout.readline())


def run_client(port, conns, args, cpu, gobin):
    "One client run against 127.0.0.1:port (Go's client from `gobin`, else Python's); its JSON result."
    opts = ["-addr", f"127.0.0.1:{port}", "-conns", str(conns), "-size", str(args.size),
            "-warmup", str(args.warmup), "-seconds", str(args.seconds)]
    cmd = [str(gobin / "udp_load_client")] + opts if gobin else [sys.executable, __file__, "--client"] + opts
    out = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=pinned(cpu), check=True)
    return json.loads(out.stdout)


def measure(kind, conns, args, gobin, client_bin):
    "One server, one client run: round trips/s, latency, server CPU per round trip."
    server_cpu, client_cpu = cpus()
    p, port = start_server(kind, server_cpu, gobin)
    try:
        cpu0 = proc_cpu(p.pid)
        r = run_client(port, conns, args, client_cpu, client_bin)
        r["cpu_us"] = (proc_cpu(p.pid) - cpu0) / max(r["Total"], 1) * 1e6
    finally:
        p.kill()
        p.wait()
    r["rate"] = r["Msgs"] / r["Seconds"]
    return r


def report(results, kinds, conns_list):
    "The table: medians with min-max, and throughput as a ratio to asyncio."
    print(f"\n{'':10} {'conns':>5} {'round trips/s':>22} {'vs asyncio':>10} {'p50 us':>8} {'p99 us':>8} "
          f"{'server CPU us/msg':>18} {'lost':>5}")
    for conns in conns_list:
        base = statistics.median(r["rate"] for r in results[("asyncio", conns)])
        for kind in kinds:
            rs = results[(kind, conns)]
            rates = [r["rate"] for r in rs]
            med = lambda key: statistics.median(r[key] for r in rs)
            print(f"{kind:10} {conns:5} {statistics.median(rates):10,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"
                  f" {statistics.median(rates) / base:9.2f}x {med('P50us'):8.0f} {med('P99us'):8.0f}"
                  f" {med('cpu_us'):18.1f} {sum(r['Lost'] + r['Mismatched'] for r in rs):5}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conns", type=int, nargs="+", default=[1, 50])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--python-client", action="store_true", help="use the Python client even if go is installed")
    args = ap.parse_args()
    gobin = go_build()
    kinds = ["gonb", "asyncio"] + (["go"] if gobin else [])
    client_bin = None if args.python_client else gobin
    print(f"UDP echo, {args.size} B datagrams, {args.seconds} s windows, {args.repeat} repeats; servers: "
          f"{', '.join(kinds)}; client: {'Go' if client_bin else 'Python epoll'}; CPUs {cpus()}")
    results = {}
    for rep in range(args.repeat):
        for conns in args.conns:
            for kind in kinds:
                r = measure(kind, conns, args, gobin, client_bin)
                results.setdefault((kind, conns), []).append(r)
                print(f"  repeat {rep + 1} {kind:8} conns={conns:<4} {r['rate']:10,.0f} round trips/s, lost {r['Lost']}, p99 {r['P99us']:.0f} us", flush=True)
    report(results, kinds, args.conns)


def client_main(argv):
    "The Python client's command line: the Go client's flags."
    opts = dict(zip(argv[::2], argv[1::2]))
    python_client(opts["-addr"], int(opts["-conns"]), int(opts["-size"]), float(opts["-warmup"]),
                  float(opts["-seconds"]), timeout=0.5)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]: {"gonb": serve_gonb, "asyncio": serve_asyncio}[sys.argv[2]]()
    elif sys.argv[1:2] == ["--client"]: client_main(sys.argv[2:])
    else: main()
