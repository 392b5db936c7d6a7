// The seed's echo server (例子), for the latency lab of gonb (nbs/08_latency.ipynb).
//
// The seed reads into `make([]byte, 128)` in a loop and never writes back; this is the same program
// with the echo written back and one buffer per connection (-bufsize, 4096 by default, the size every
// server in the lab reads with). -hog starts a goroutine spinning in `x++` when the first connection
// arrives: Go's sysmon preempts it (asynchronously, with SIGURG) and the echo goes on answering.
//
//	go build -o echo_server echo_server.go && ./echo_server [-bufsize 4096] [-hog]
//
// It prints the port it listens on (127.0.0.1, chosen by the kernel), then serves until killed.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
)

var sink int // the hog's counter, kept where the compiler cannot drop it

func hog() {
	x := 0
	for {
		x++
		sink = x
	}
}

func main() {
	bufsize := flag.Int("bufsize", 4096, "bytes per read")
	withHog := flag.Bool("hog", false, "start a goroutine spinning in x++ at the first connection")
	flag.Parse()
	lister, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(lister.Addr().(*net.TCPAddr).Port)
	hogStarted := false
	for {
		conn, err := lister.Accept() // 等待建立连接
		if err != nil {
			continue
		}
		go func() { // 开启协程处理
			defer conn.Close()
			buf := make([]byte, *bufsize)
			for {
				n, err := conn.Read(buf)
				if err != nil {
					return
				}
				if _, err := conn.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
		if *withHog && !hogStarted {
			hogStarted = true
			go hog()
		}
	}
}
