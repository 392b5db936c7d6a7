"""Links from the chapters to Go's source, at a pinned release tag and line range.

A link names one Go declaration in its text and points at the lines that hold it:

    [netpollblock](https://github.com/golang/go/blob/go1.23.5/src/runtime/netpoll.go#L548-L583)
    [pollCache.alloc](https://github.com/golang/go/blob/go1.23.5/src/runtime/netpoll.go#L688-L712)
    [pollDesc](https://github.com/golang/go/blob/go1.23.5/src/runtime/netpoll.go#L75-L115)

The text is a function (`name`), a method (`Recv.name`) or a type (`name`); the range runs from the line that
declares it to its closing brace. Checking a range needs Go's tree at that tag: GONB_GO_TREE lists the trees,
separated by ':', each either `TAG=DIR` (a Go source tree whose `src/` is that release, e.g. a distribution's
golang-1.23-src) or a git directory holding Go's history with its release tags (`git show TAG:PATH`).

    python tools/golinks.py check                         # every link in nbs/ (needs GONB_GO_TREE)
    python tools/golinks.py link TAG PKGDIR NAME [RECV]   # print the link for one declaration
"""
import json, os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[`?([^\]`]+)`?\]\((https://github\.com/golang/go/blob/([^/)]+)/(src/[^#)]+)#L(\d+)-L(\d+))\)")
ANY_GO_LINK = re.compile(r"https://github\.com/golang/go/(?:blob|tree)/[^\s)]*")
TAG = re.compile(r"go1\.\d+(\.\d+)?")                 # a release tag: go1.19, go1.19.8, go1.23.5 (never master)
TEXT = re.compile(r"\(?\*?[A-Za-z_]\w*\)?\.[A-Za-z_]\w*|[A-Za-z_]\w*")   # name, Recv.name, (*Recv).name
URL = "https://github.com/golang/go/blob/{tag}/{path}#L{start}-L{end}"


def markdown_links(nbs=ROOT / "nbs"):
    "Every golang/go link in the markdown cells of the chapters: (notebook, cell index, text, url, tag, path, start, end)."
    out = []
    for nb in sorted(Path(nbs).glob("*.ipynb")):
        for i, c in enumerate(json.loads(nb.read_text())["cells"]):
            if c["cell_type"] != "markdown": continue
            for m in LINK.finditer("".join(c["source"])):
                text, url, tag, path, a, b = m.groups()
                out.append((nb.name, i, text, url, tag, path, int(a), int(b)))
    return out


def split_name(text):
    "'netpollblock' -> (None, 'netpollblock'); 'pollCache.alloc' and '(*pollCache).alloc' -> ('pollCache', 'alloc')."
    if "." not in text: return None, text
    recv, name = text.rsplit(".", 1)
    return recv.strip("()*"), name


def decl_span(src, name, recv=None):
    """1-based (first, last) lines of the declaration of `name` in Go source text `src`: a func (`recv` None), a
    method on `recv` (pointer or value receiver), or a type (`recv` None, when no func has the name). None if absent."""
    lines = src.splitlines()
    if recv is None:
        heads = [re.compile(rf"func {re.escape(name)}(\[.*?\])?\("), re.compile(rf"type {re.escape(name)}\b")]
    else:
        heads = [re.compile(rf"func \((\w+ )?\*?{re.escape(recv)}(\[.*?\])?\) {re.escape(name)}\(")]
    for head in heads:
        for i, line in enumerate(lines):
            if not head.match(line): continue
            if not line.rstrip().endswith("{"): return i + 1, i + 1       # one-line type, or a func with no body
            for j in range(i + 1, len(lines)):
                if lines[j] == "}": return i + 1, j + 1                   # gofmt: the closing brace at column 0
    return None


class Trees:
    "Go's source at release tags, from GONB_GO_TREE (see the module's docstring)."
    def __init__(self, spec=None):
        spec = os.environ.get("GONB_GO_TREE", "") if spec is None else spec
        self.dirs, self.gits = {}, []
        for part in filter(None, spec.split(":")):
            if "=" in part:
                tag, d = part.split("=", 1); self.dirs[tag] = Path(d)
            else: self.gits.append(part)
        self._cache = {}

    def __bool__(self): return bool(self.dirs or self.gits)

    def has(self, tag):
        "Whether some tree holds Go at `tag`."
        return tag in self.dirs or any(subprocess.run(["git", "--git-dir", g, "rev-parse", "-q", "--verify", f"{tag}^{{commit}}"],
                                                      capture_output=True).returncode == 0 for g in self.gits)

    def read(self, tag, path):
        "The text of `path` (from the repository's root, 'src/...') at `tag`, or None where no tree has it."
        key = tag, path
        if key not in self._cache:
            text = None
            if tag in self.dirs and (self.dirs[tag] / path).is_file(): text = (self.dirs[tag] / path).read_text()
            for g in self.gits:
                if text is not None: break
                r = subprocess.run(["git", "--git-dir", g, "show", f"{tag}:{path}"], capture_output=True, text=True)
                if r.returncode == 0: text = r.stdout
            self._cache[key] = text
        return self._cache[key]

    def files(self, tag, pkgdir):
        "The non-test .go files of package directory `pkgdir` ('src/runtime') at `tag`."
        if tag in self.dirs:
            return sorted(f"{pkgdir}/{p.name}" for p in (self.dirs[tag] / pkgdir).glob("*.go") if not p.name.endswith("_test.go"))
        for g in self.gits:
            r = subprocess.run(["git", "--git-dir", g, "ls-tree", "--name-only", f"{tag}:{pkgdir}"], capture_output=True, text=True)
            if r.returncode == 0:
                return sorted(f"{pkgdir}/{n}" for n in r.stdout.split() if n.endswith(".go") and not n.endswith("_test.go"))
        return []

    def find(self, tag, pkgdir, name, recv=None):
        "Every (path, first, last) in `pkgdir` at `tag` that declares `name` (on `recv`)."
        out = []
        for path in self.files(tag, pkgdir):
            span = decl_span(self.read(tag, path) or "", name, recv)
            if span: out.append((path, *span))
        return out


def check_link(trees, text, tag, path, start, end):
    "None if the link's lines are exactly the declaration its text names, else what is wrong."
    src = trees.read(tag, path)
    if src is None: return f"no tree has {path} at {tag}"
    recv, name = split_name(text)
    span = decl_span(src, name, recv)
    if span is None: return f"{text} is not declared in {path} at {tag}"
    if span != (start, end): return f"{text} is at #L{span[0]}-L{span[1]} in {path} at {tag}, not #L{start}-L{end}"
    return None


def main(argv):
    trees = Trees()
    if argv[:1] == ["check"]:
        if not trees: sys.exit("GONB_GO_TREE is not set: it names Go's trees, e.g. go1.23.5=/usr/share/go-1.23")
        bad = 0
        links = markdown_links()
        for nb, i, text, url, tag, path, a, b in links:
            err = check_link(trees, text, tag, path, a, b) if trees.has(tag) else f"GONB_GO_TREE has no tree at {tag}"
            if err: bad += 1; print(f"{nb} cell {i}: {err}")
        print(f"{len(links)} links, {bad} wrong")
        sys.exit(1 if bad else 0)
    if argv[:1] == ["link"] and len(argv) in (4, 5):
        tag, pkgdir, name = argv[1:4]
        recv = argv[4] if len(argv) == 5 else None
        for path, a, b in trees.find(tag, pkgdir, name, recv):
            print(f"[{recv + '.' if recv else ''}{name}]({URL.format(tag=tag, path=path, start=a, end=b)})")
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
