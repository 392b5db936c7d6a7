// The latency lab's TCP proxy in Go (gonb.bench, the proxy scenario; nbs/14a_splice.ipynb retells it):
// each client connection is joined to a fresh connection to the backend by two io.Copy calls, one per
// direction. Between two *net.TCPConn, io.Copy calls TCPConn.ReadFrom, which moves the bytes with
// splice(2) through a pipe (net/splice_linux.go); when a direction ends its write side is shut down,
// so the other end sees EOF.
//
//	go build -o proxy proxy.go && ./proxy -backend 127.0.0.1:PORT
//
// It prints the port it listens on (127.0.0.1, chosen by the kernel), then serves until killed.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
)

func join(client *net.TCPConn, backend string) {
	defer client.Close()
	c, err := net.Dial("tcp", backend)
	if err != nil {
		return
	}
	b := c.(*net.TCPConn)
	defer b.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(b, client) // client -> backend
		b.CloseWrite()
		close(done)
	}()
	io.Copy(client, b) // backend -> client
	client.CloseWrite()
	<-done
}

func main() {
	backend := flag.String("backend", "", "the echo server, host:port")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go join(c.(*net.TCPConn), *backend)
	}
}
