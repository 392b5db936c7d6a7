"""N connections x M echo round trips in one gonb program; prints "OK N M" when every byte matched.

    python examples/echo_rounds.py N M

Run under `strace -f -c -e trace=epoll_ctl` it shows that epoll_ctl is called per fd, not per read
(tests/test_echo.py and nbs/05_netpoll_epoll.ipynb do exactly that).
"""
import sys, gonb
from gonb import net
from gonb.runtime import Sema, semacquire, semrelease
N, M = int(sys.argv[1]), int(sys.argv[2])

def main():
    l = net.listen("tcp", "127.0.0.1:0")
    done = Sema()
    def handle(c):
        buf = bytearray(256)
        try:
            while True:
                n = c.read(buf)
                c.write(buf[:n])
        except gonb.EOF:
            pass
        finally:
            c.close()
            semrelease(done)
    def accept_loop():
        for _ in range(N):
            gonb.go(handle, l.accept())
    gonb.go(accept_loop)
    def client(i):
        c = net.dial("tcp", str(l.addr()))
        buf = bytearray(64)
        for k in range(M):
            msg = b"%d:%d" % (i, k)
            c.write(msg)
            got = 0
            while got < len(msg):
                got += c.read(memoryview(buf)[got:len(msg)])
            assert bytes(buf[:len(msg)]) == msg
            gonb.sleep(0.0005 if k % 10 == 0 else 0)   # let reads really park sometimes
        c.close()
        semrelease(done)
    for i in range(N):
        gonb.go(client, i)
    for _ in range(2 * N):
        semacquire(done)
    l.close()
    print("OK", N, M)

gonb.run(main)
