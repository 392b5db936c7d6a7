// The UDP echo server of gonb's datagram benchmark (bench/udp_bench.py, chapter 14): one goroutine
// reads each datagram with ReadFrom and writes it back to its sender with WriteTo, the same program
// as the gonb and asyncio servers beside it.
//
//	go build -o udp_echo_server udp_echo_server.go && ./udp_echo_server [-bufsize 2048]
//
// It prints the port it is bound to (127.0.0.1, chosen by the kernel), then serves until killed.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
)

func main() {
	bufsize := flag.Int("bufsize", 2048, "bytes per read")
	flag.Parse()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(pc.LocalAddr().(*net.UDPAddr).Port)
	buf := make([]byte, *bufsize)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if _, err := pc.WriteTo(buf[:n], addr); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}
