"""The seed's Go echo server, written with gonb: only the syntax changed.

    python examples/echo_server.py [address]      (default 0.0.0.0:9009; try: nc 127.0.0.1 9009)
"""
import sys

import gonb
from gonb import net


def handle(conn):
    with conn:                          # defer conn.Close()
        buf = bytearray(128)
        while True:
            try:
                n = conn.read(buf)
            except (gonb.io.EOF, OSError):
                return
            conn.write(memoryview(buf)[:n])


def main(address="0.0.0.0:9009"):
    lister = net.listen("tcp", address)
    print("listening on", lister.addr(), flush=True)
    while True:
        try:
            conn = lister.accept()      # 等待建立连接
        except net.ErrClosed:
            return
        except OSError:
            continue
        gonb.go(handle, conn)           # 开启协程处理


if __name__ == "__main__":
    gonb.run(main, *sys.argv[1:2])
