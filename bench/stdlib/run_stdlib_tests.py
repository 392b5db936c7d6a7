"""CPython's own tests under gonb.monkey.patch_all(), as gevent runs them: the test module's code runs in
goroutine 1 of a gonb.run (so its clients park on gonb's poller), its server threads are plain threads
(so they block as the stdlib's would). Prints one line per test that did not pass, and a summary.

  .venv/bin/python bench/stdlib/run_stdlib_tests.py test_httplib test_urllib2_localnet test_socket test_ssl \
      --skip=VSOCK

--skip=TEXT leaves out the tests whose id contains TEXT (VSOCK: its threaded test hangs on this machine without
gonb too); -v names each test as it starts; kill -USR1 PID dumps every thread's stack.
"""
import sys, time
from gonb import monkey
monkey.patch_all()
import faulthandler, importlib, json, signal, unittest
import gonb

faulthandler.register(signal.SIGUSR1)   # kill -USR1 PID: where every thread is (a hung test)


class Result(unittest.TestResult):
    "Names each test before it runs with -v, so a hang names its test."
    def startTest(self, test):
        if "-v" in sys.argv: print("  ..", test, flush=True)
        super().startTest(test)


def iter_tests(suite):
    "Every test case in a suite, flattened."
    for t in suite:
        if isinstance(t, unittest.TestSuite): yield from iter_tests(t)
        else: yield t


def run_module(name):
    mod = importlib.import_module(f"test.{name}")
    skips = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--skip=")]
    suite = unittest.TestSuite(t for t in iter_tests(unittest.defaultTestLoader.loadTestsFromModule(mod))
                               if not any(k in t.id() for k in skips))
    result = Result()
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
    for name in [a for a in sys.argv[1:] if not a.startswith("-")] or ["test_httplib", "test_urllib2_localnet"]:
        r = run_module(name)
        out.append(r)
        print(f"{name}: ran {r['run']}, failures {r['failures']}, errors {r['errors']}, skipped {r['skipped']} "
              f"({r['seconds']} s)", flush=True)
        for t, why in r["not_passed"]: print(f"   {t}: {why}")
    if "--json" in sys.argv: print(json.dumps(out))
