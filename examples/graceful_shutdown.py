"""The seed's echo server, shutting down as a Go server does on Ctrl-C or SIGTERM.

    python examples/graceful_shutdown.py [ADDRESS [GRACE_SECONDS]]      # default 127.0.0.1:9009, 5 s

`notify_context` turns SIGINT/SIGTERM into a canceled context. Then: stop accepting (close the
listener), let the connections being served finish for a grace period, and cut off the rest: their
handlers' context is canceled, which sets a past deadline on the connection, so a handler parked in
`read` wakes (Go's idiom; chapter 12a). A second Ctrl-C during the grace period is a hard stop
(KeyboardInterrupt), as in Go after `stop()`.
"""
import signal
import sys

import gonb
from gonb import context, net, sync
from gonb.signal import notify_context


def handle(hard, conn, wg, stats):
    "Echo until the client closes; when `hard` is canceled, a past deadline wakes a parked read or write."
    stop = gonb.Chan()

    def interrupt():
        if gonb.select(hard.done(), stop)[0] == 0: conn.set_deadline(net.aLongTimeAgo)

    gonb.go(interrupt)
    buf = bytearray(4096)
    try:
        with conn:
            while True:
                try: n = conn.read(buf)
                except (gonb.EOF, OSError): return
                conn.write(buf[:n])
    finally:
        stop.close()
        stats["canceled" if hard.err() else "finished"] += 1
        wg.done()


def serve(ctx, ln, grace=5.0):
    "Echo on `ln` until `ctx` is done, then shut down gracefully; returns how the connections ended."
    hard, cut = context.with_cancel(context.background())
    wg, stats = sync.WaitGroup(), {"finished": 0, "canceled": 0}

    def accept_loop():
        while True:
            try: conn = ln.accept()
            except net.ErrClosed: return
            wg.add(1)
            gonb.go(handle, hard, conn, wg, stats)

    gonb.go(accept_loop)
    ctx.done().recv()
    ln.close()                                          # 1. stop accepting
    drained = gonb.Chan()
    gonb.go(lambda: (wg.wait(), drained.close()))
    if gonb.select(drained, gonb.after(grace))[0] == 1:  # 2. the grace period is over
        cut()                                           # 3. cancel the rest
        drained.recv()
    cut()
    return stats


def main(address="127.0.0.1:9009", grace="5"):
    ctx, stop = notify_context(context.background(), signal.SIGINT, signal.SIGTERM)
    gonb.go(lambda: (ctx.done().recv(), stop()))        # from now on a second Ctrl-C is a hard stop
    ln = net.listen("tcp", address)
    print(f"echo server on {ln.addr()}; Ctrl-C to shut down", flush=True)
    stats = serve(ctx, ln, float(grace))
    print(f"shut down: {stats['finished']} connections finished, {stats['canceled']} cut off", flush=True)


if __name__ == "__main__":
    gonb.run(main, *sys.argv[1:3])
