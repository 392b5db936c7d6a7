"""What one idle connection costs in memory, in pure Python and compiled: object sizes, and tracemalloc's count.

    .venv/bin/python bench/idle_memory.py [--pairs 500] [--record DIR]

In each mode (a child process with GONB_PURE_PYTHON=1, then one with GONB_REQUIRE_COMPILED=1) a gonb program
opens --pairs loopback connections; for each, a goroutine parks in `conn.read` on the server end, as the
echo server's do between messages. tracemalloc (started after one warm-up pair) counts the bytes allocated per
pair, and the part of them allocated under the goroutine's `conn.read` (tracebacks through that line): what
the parked goroutine holds, its frames and the greenlet's saved copy of the C stack below the switch. `sys.getsizeof` gives the connection's objects. With
--record, the figures and the command go to DIR/latest.json (chapter 15 reads bench/results/idle_memory).
Allocation counts do not depend on the machine's load.
"""
import argparse, json, subprocess, sys, time
from pathlib import Path

from modes import COMPILED, PURE, child_env

MODES = {"pure": PURE, "compiled": COMPILED}


def park_in_read(conn):
    "The idle server goroutine: one read that parks until the peer writes or closes."
    buf = bytearray(128)
    try: conn.read(buf)
    except Exception: pass


def measure(pairs):
    "{bytes_per_pair, parked_bytes_per_pair, sizes} for this process's mode."
    import tracemalloc, gonb
    from gonb import net, runtime
    out = {}

    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        keep = []
        def pair():
            c = net.dial("tcp", str(ln.addr())); s = ln.accept()
            gonb.go(park_in_read, s); keep.append((c, s))
        pair(); gonb.sleep(0.01)                  # the warm-up pair: first-use allocations stay out of the count
        tracemalloc.start(30)
        before = tracemalloc.take_snapshot()
        for _ in range(pairs): pair()
        gonb.sleep(0.05)                          # every server goroutine is parked in conn.read
        diff = tracemalloc.take_snapshot().compare_to(before, "traceback")
        tracemalloc.stop()
        parked = [d for d in diff if any(f.filename == __file__ and "conn.read(" in (lineof(f) or "") for f in d.traceback)]
        out["bytes_per_pair"] = sum(d.size_diff for d in diff) / pairs
        out["parked_bytes_per_pair"] = sum(d.size_diff for d in parked) / pairs
        conn = keep[0][1]
        pfd = conn.fd.pfd
        objs = {"Conn": conn, "netFD": conn.fd, "FD": pfd, "fdMutex": pfd.fdmu, "Sema": pfd.csema, "pollDesc": pfd.pd,
                "FileIO": pfd.file, "G": runtime.getg()}
        out["sizes"] = {name: sys.getsizeof(o) for name, o in objs.items()}
        for c, s in keep: c.close(); s.close()
    gonb.run(main)
    return out


def lineof(frame):
    import linecache
    return linecache.getline(frame.filename, frame.lineno)


def record(pairs, out_dir, argv):
    "Measure each mode in a child process; print the figures and, with out_dir, write latest.json."
    modes = {}
    for mode, env in MODES.items():
        child = subprocess.run([sys.executable, __file__, "--pairs", str(pairs), "--child"], env=child_env(env),
                               capture_output=True, text=True, check=True)
        modes[mode] = json.loads(child.stdout)
        m = modes[mode]
        print(f"{mode:9} {m['bytes_per_pair'] / 1e3:5.2f} KB per idle pair (tracemalloc), of which "
              f"{m['parked_bytes_per_pair'] / 1e3:4.2f} KB allocated under its goroutine's parked conn.read")
    print("sys.getsizeof, pure -> compiled: " + ", ".join(
        f"{k} {modes['pure']['sizes'][k]} -> {modes['compiled']['sizes'][k]}" for k in modes["pure"]["sizes"]))
    if out_dir:
        meta = dict(command="python bench/idle_memory.py " + " ".join(argv), date=time.strftime("%Y-%m-%d"),
                    python=sys.version.split()[0], pairs=pairs)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "latest.json").write_text(json.dumps(dict(meta=meta, modes=modes), indent=1) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=500)
    ap.add_argument("--record", metavar="DIR")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: print(json.dumps(measure(a.pairs)))
    else: record(a.pairs, a.record, sys.argv[1:])
