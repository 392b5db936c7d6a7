#!/usr/bin/env bash
# Fail if the committed/working-tree state of gonb/ and nbs/ is not what
#   nbdev_export (notebooks -> gonb/)  and  nbdev_clean (strip nbs/ metadata)
# would produce.  Works on a dirty tree: it compares the tree before and after
# running the two tools, it does not require a clean checkout.  (In CI the
# clone is fresh, so "before" == what was committed.)
# Any changes the tools make are LEFT in the working tree: review and commit them.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
LIB="${LIB:-gonb}"
NBS="${NBS:-nbs}"

for t in nbdev_export nbdev_clean; do
  [[ -x "$BIN/$t" ]] || { echo "check-sync: $BIN/$t not found (run 'make .venv' first)" >&2; exit 2; }
done
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "check-sync: not inside a git work tree" >&2; exit 2; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/gonb-check-sync.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# snapshot PATH...: porcelain status (tracked + untracked, not ignored) and a
# content hash of every tracked or untracked-but-not-ignored file.
snapshot() {
  git status --porcelain --untracked-files=all -- "$@"
  echo '---'
  git ls-files --cached --others --exclude-standard -z -- "$@" | sort -zu |
    while IFS= read -r -d '' f; do
      if [[ -f "$f" ]]; then printf '%s  %s\n' "$(md5sum <"$f" | cut -d' ' -f1)" "$f"
      else printf '%s  %s\n' '<missing>' "$f"; fi
    done
}

# keep a copy of the before-state so a real diff can be shown on failure
copy_tree() { mkdir -p "$2"; [[ -d "$1" ]] && cp -a "$1/." "$2/" || true; }

fail=0
report() {  # report NAME DIR BEFORE AFTER COPY
  echo "check-sync: FAILED: '$1' changed files under $2/ -- the committed tree is out of sync." >&2
  echo "  changed (before -> after):" >&2
  diff <(echo "$3") <(echo "$4") | grep '^[<>]' | sed 's/^/    /' >&2 || true
  echo "  content diff (first 80 lines):" >&2
  diff -ru --exclude=__pycache__ --exclude=.ipynb_checkpoints "$5" "$2" 2>&1 | head -n 80 | sed 's/^/    /' >&2 || true
  fail=1
}

# 1. nbdev_export must not change anything under gonb/
before="$(snapshot "$LIB")"; copy_tree "$LIB" "$tmp/lib"
"$BIN/nbdev_export"
after="$(snapshot "$LIB")"
if [[ "$before" != "$after" ]]; then
  report nbdev_export "$LIB" "$before" "$after" "$tmp/lib"
  echo "  fix: run 'make export' (nbdev_export) and commit $LIB/; never edit $LIB/ by hand." >&2
fi

# 2. nbdev_clean must not change anything under nbs/
before="$(snapshot "$NBS")"; copy_tree "$NBS" "$tmp/nbs"
"$BIN/nbdev_clean" 2>"$tmp/clean.err" || { cat "$tmp/clean.err" >&2; echo "check-sync: nbdev_clean failed" >&2; exit 1; }
cat "$tmp/clean.err" >&2
# nbdev_clean only *warns* (exit 0) on a notebook it cannot parse
if grep -q 'Failed to clean notebook' "$tmp/clean.err"; then
  echo "check-sync: FAILED: nbdev_clean could not parse a notebook (see warning above)" >&2; fail=1
fi
after="$(snapshot "$NBS")"
if [[ "$before" != "$after" ]]; then
  report nbdev_clean "$NBS" "$before" "$after" "$tmp/nbs"
  echo "  fix: run '$BIN/nbdev_clean' and commit $NBS/ (it keeps outputs, strips execution counts/metadata)." >&2
fi

if [[ $fail -ne 0 ]]; then
  echo "check-sync: the tools' changes were left in your working tree; review and commit them." >&2
  exit 1
fi
echo "check-sync: OK ($LIB/ matches nbdev_export, $NBS/ is nbdev_clean-clean)"
