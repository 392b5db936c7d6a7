"""Go's compiler on the functions chapter 15 compares with gcc's inlining: which it inlines, and the cost it
gives those it does not (`go build -gcflags=PKG=-m -m`), for the Go on PATH.

    python bench/go_inlining.py [--record DIR]

Prints one verdict per function, as `file:line: verdict` with the file relative to Go's src/ (and without
the inlined body Go prints after "as:", which is Go's source); with --record, writes DIR/latest.json.
"""
import argparse, json, re, subprocess, sys, time
from pathlib import Path

FUNCS = {"runtime": ["casgstatus", "runqput", "runqget", "goready"],
         "internal/poll": ["(*FD).readLock", "(*FD).readUnlock", "(*FD).writeLock", "(*fdMutex).rwlock",
                           "(*fdMutex).rwunlock", "(*pollDesc).prepareRead", "(*pollDesc).waitRead"]}


def verdicts(pkg, names):
    "{name: 'file:line: verdict'} from the compiler's -m -m output for `pkg`."
    out = subprocess.run(["go", "build", f"-gcflags={pkg}=-m -m", pkg], capture_output=True, text=True).stderr
    found = {}
    for line in out.splitlines():
        m = re.match(r"(?:.*/src/)?(\S+?:\d+):\d+: ((?:can|cannot) inline (\S+?)(?: with cost \d+|:.*)?)(?: as: .*)?$", line)
        if m and m[3] in names and m[3] not in found: found[m[3]] = f"{m[1]}: {m[2]}"
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", metavar="DIR")
    a = ap.parse_args()
    go = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.split()[2]
    results = {pkg: verdicts(pkg, names) for pkg, names in FUNCS.items()}
    for pkg, found in results.items():
        for name in FUNCS[pkg]: print(f"{name:26} {found.get(name, 'no verdict printed')}")
    if a.record:
        meta = dict(command="python bench/go_inlining.py " + " ".join(sys.argv[1:]), date=time.strftime("%Y-%m-%d"), go=go)
        Path(a.record).mkdir(parents=True, exist_ok=True)
        (Path(a.record) / "latest.json").write_text(json.dumps(dict(meta=meta, verdicts=results), indent=1) + "\n")


if __name__ == "__main__":
    main()
