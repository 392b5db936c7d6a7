"""Instructions per echo round trip, counted by callgrind (the same whatever else the machine does).

An in-process echo: 10 connections, N round trips of 128 B each, both ends in one runtime, gonb or
asyncio streams. The cost of a round trip is the difference between two runs, so start-up cancels:

    for n in 100 400; do valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \\
        .venv/bin/python bench/callgrind_echo.py gonb $n 2>&1 | grep Collected; done
    # (Collected(400) - Collected(100)) / (10 * 300) = user-space instructions per round trip

Chapter 08 ("Where gonb's time goes") gives the figures.
"""
import sys

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


if __name__ == "__main__":
    kind, n = sys.argv[1], int(sys.argv[2])
    {"gonb": gonb_echo, "asyncio": asyncio_echo}[kind](n)
