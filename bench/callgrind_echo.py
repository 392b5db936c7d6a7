"""Instructions per echo round trip, counted by callgrind (the same whatever else the machine does).

An in-process echo: 10 connections, N round trips of 128 B each, both ends in one runtime, gonb or
asyncio streams. The cost of a round trip is the difference between two runs, so start-up cancels:

    for n in 100 400; do valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \\
        .venv/bin/python bench/callgrind_echo.py gonb $n 2>&1 | grep Collected; done
    # (Collected(400) - Collected(100)) / (10 * 300) = user-space instructions per round trip

`--record DIR` runs that recipe for asyncio streams, gonb in pure Python and gonb compiled (under
`PYTHONHASHSEED=0`), and writes DIR/latest.json with the counts and the command. Chapters 08 ("Where
gonb's time goes") and 15 ("Measured") give the figures.
"""
import sys

from modes import COMPILED, PURE, child_env

CONNS, SIZE = 10, 128


def gonb_echo(n):
    import gonb
    from gonb import net
    from gonb.runtime import Sema, semacquire, semrelease
    from gonb.bench import gonb_echo as handle

    def client(addr, done):   # done: a semaphore, so that main waits without a timer
        c = net.dial("tcp", addr)
        msg, buf = b"x" * SIZE, bytearray(4096)
        for _ in range(n):
            c.write(msg)
            got = 0
            while got < SIZE: got += c.read(buf)
        c.close()
        semrelease(done)

    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        addr = f"127.0.0.1:{ln.addr().Port}"

        def acceptor():
            while True: gonb.go(handle, ln.accept())
        gonb.go(acceptor)
        done = Sema()
        for _ in range(CONNS): gonb.go(client, addr, done)
        for _ in range(CONNS): semacquire(done)
    gonb.run(main)


def asyncio_echo(n):
    import asyncio

    async def handle(reader, writer):
        while True:
            data = await reader.read(4096)
            if not data: break
            writer.write(data)
            await writer.drain()
        writer.close()

    async def client(port):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        msg = b"x" * SIZE
        for _ in range(n):
            w.write(msg)
            await w.drain()
            got = 0
            while got < SIZE: got += len(await r.read(4096))
        w.close()

    async def main():
        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        await asyncio.gather(*(client(port) for _ in range(CONNS)))
    asyncio.run(main())


# (label, runtime, environment): the builds record() compares
BUILDS = (("asyncio streams", "asyncio", {}), ("gonb, pure Python", "gonb", PURE), ("gonb, compiled", "gonb", COMPILED))
SHORT, LONG = 100, 400   # round trips per connection in the two runs whose difference is measured


def collected(kind, n, env):
    "User-space instructions callgrind counts for one run of `kind` with `n` round trips per connection."
    import re, subprocess, tempfile
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out",
                              sys.executable, __file__, kind, str(n)],
                             env=child_env(env, PYTHONHASHSEED="0"),
                             capture_output=True, text=True, check=True).stderr
    return int(re.search(r"Collected : (\d+)", out).group(1))


def record(out_dir):
    "Count every build in BUILDS, print instructions per round trip, and write out_dir/latest.json."
    import json, platform, time
    from pathlib import Path
    runs = []
    for label, kind, env in BUILDS:
        short, long = collected(kind, SHORT, env), collected(kind, LONG, env)
        per_rt = (long - short) / (CONNS * (LONG - SHORT))
        runs.append(dict(build=label, env=env, collected={SHORT: short, LONG: long}, per_round_trip=per_rt))
        print(f"{label:20} {per_rt / 1e3:7.1f}k instructions per round trip", flush=True)
    base = runs[0]["per_round_trip"]
    for r in runs: r["vs_asyncio_streams"] = r["per_round_trip"] / base
    meta = dict(command="python bench/callgrind_echo.py --record " + str(out_dir), date=time.strftime("%Y-%m-%d"),
                python=platform.python_version(), conns=CONNS, size=SIZE, round_trips=[SHORT, LONG])
    try:
        import Cython; meta["cython"] = Cython.__version__
    except ImportError: pass
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "latest.json").write_text(json.dumps(dict(meta=meta, runs=runs), indent=1) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "--record": record(sys.argv[2])
    else:
        kind, n = sys.argv[1], int(sys.argv[2])
        {"gonb": gonb_echo, "asyncio": asyncio_echo}[kind](n)
