"""CPython's own tests under gonb.monkey.patch_all(), as gevent runs them: the test module's code runs in
goroutine 1 of a gonb.run (so its clients park on gonb's poller), its server threads are plain threads
(so they block as the stdlib's would). Prints one line per test that did not pass, and a summary.

  .venv/bin/python bench/stdlib/run_stdlib_tests.py test_httplib test_urllib2_localnet test_socket test_ssl
"""
import sys, time
from gonb import monkey
monkey.patch_all()
import importlib, json, unittest
import gonb


def run_module(name):
    mod = importlib.import_module(f"test.{name}")
    suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
    result = unittest.TestResult()
    t0 = time.monotonic()
    def main(): suite.run(result)
    try: gonb.run(main)
    except BaseException as e:   # the run itself ended badly: count it
        result.errors.append((name, f"gonb.run ended: {e!r}"))
    return {"module": name, "run": result.testsRun, "failures": len(result.failures), "errors": len(result.errors),
            "skipped": len(result.skipped), "seconds": round(time.monotonic() - t0, 1),
            "not_passed": [(str(t), tb.strip().splitlines()[-1][:200]) for t, tb in result.failures + result.errors]}


if __name__ == "__main__":
    out = []
    for name in sys.argv[1:] or ["test_httplib", "test_urllib2_localnet"]:
        r = run_module(name)
        out.append(r)
        print(f"{name}: ran {r['run']}, failures {r['failures']}, errors {r['errors']}, skipped {r['skipped']} "
              f"({r['seconds']} s)", flush=True)
        for t, why in r["not_passed"]: print(f"   {t}: {why}")
    if "--json" in sys.argv: print(json.dumps(out))
