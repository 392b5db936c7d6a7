"""The lab scenario of chapter 14e: C concurrent clients doing HTTP GETs with urllib against a local server
whose handler waits D ms, the same client program three ways, each in its own process:

  gonb     gonb.monkey.patch_all(), one goroutine per client (gonb.run)
  gevent   gevent.monkey.patch_all(), one greenlet per client
  threads  concurrent.futures.ThreadPoolExecutor(max_workers=C), one thread per client

The server is a separate process (asyncio, so it serves thousands of connections on one thread).
Printed and written as JSON: requests per second, latency p50/p99 (ms), peak RSS of the client process (MB).

  .venv/bin/python bench/http_clients_bench.py --clients 1000 --requests 5 --delay-ms 20 \
      --out bench/results/http_clients/results.json
"""
import argparse, json, os, subprocess, sys, time

SERVER = r'''
import asyncio, sys
delay = float(sys.argv[1])
async def handle(r, w):
    try:
        while (await r.readline()) not in (b"\r\n", b"\n", b""): pass
        await asyncio.sleep(delay)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await w.drain()
    finally:
        w.close()
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()
asyncio.run(main())
'''

CLIENT = r'''
import json, resource, sys, time
mode, url, clients, requests = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if mode == "gevent":
    from gevent import monkey; monkey.patch_all()
elif mode == "gonb":
    from gonb import monkey; monkey.patch_all()
import urllib.request
lat, errors = [], []
def client():
    for _ in range(requests):
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=60) as r: r.read()
            lat.append(time.perf_counter() - t0)
        except Exception as e:
            errors.append(repr(e))
t0 = time.perf_counter()
if mode == "gonb":
    import gonb
    def main():
        wg = gonb.sync.WaitGroup()
        def one():
            try: client()
            finally: wg.done()
        for _ in range(clients): wg.add(1); gonb.go(one)
        wg.wait()
    gonb.run(main)
elif mode == "gevent":
    import gevent
    gevent.joinall([gevent.spawn(client) for _ in range(clients)])
else:
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=clients) as ex:
        for f in [ex.submit(client) for _ in range(clients)]: f.result()
wall = time.perf_counter() - t0
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] * 1000 if lat else None
build = None if mode != "gonb" else __import__("gonb.compiled", fromlist=["x"]).describe().split(" (")[0]
print(json.dumps({"mode": mode, "gonb": build, "ok": len(lat), "errors": len(errors), "first_error": errors[:1],
                  "wall_s": wall, "rps": len(lat) / wall, "p50_ms": q(0.5), "p99_ms": q(0.99),
                  "max_ms": lat[-1] * 1000 if lat else None,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=5, help="GETs per client, one after the other")
    ap.add_argument("--delay-ms", type=float, default=20)
    ap.add_argument("--modes", default="gonb,gevent,threads")
    ap.add_argument("--out")
    a = ap.parse_args()
    srv = subprocess.Popen([sys.executable, "-c", SERVER, str(a.delay_ms / 1000)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline())
        url = f"http://127.0.0.1:{port}/"
        results = []
        for mode in a.modes.split(","):
            p = subprocess.run([sys.executable, "-c", CLIENT, mode, url, str(a.clients), str(a.requests)],
                               capture_output=True, text=True)
            if p.returncode:
                results.append({"mode": mode, "failed": p.stderr.strip().splitlines()[-1:]})
            else:
                results.append(json.loads(p.stdout.strip().splitlines()[-1]))
            r = results[-1]
            if "failed" in r: print(f"{mode:8} FAILED {r['failed']}")
            else:
                print(f"{mode:8} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
                      f"peak RSS {r['peak_rss_mb']:6.1f} MB  ok {r['ok']}  errors {r['errors']}", flush=True)
    finally:
        srv.terminate(); srv.wait()
    if a.out:
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
        meta = {"command": " ".join([os.path.relpath(sys.executable)] + sys.argv), "clients": a.clients,
                "requests_per_client": a.requests, "delay_ms": a.delay_ms, "python": sys.version.split()[0],
                "cpus": os.cpu_count(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}
        with open(a.out, "w") as f: json.dump({"meta": meta, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
