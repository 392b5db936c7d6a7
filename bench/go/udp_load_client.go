// The load generator of gonb's datagram benchmark (bench/udp_bench.py): -conns goroutines, each with
// its own dialed UDP socket, in closed-loop ping-pong (one datagram in flight per socket). Every
// datagram is -size bytes: a sequence number in bytes 0-8, then a per-socket random pattern; each
// echo is compared with what was sent, byte for byte. An echo not back within -timeout counts as
// lost and the socket sends the next one (a late echo of an older datagram is skipped).
// Prints one JSON line: round trips in the window (after -warmup, for -seconds), their latency
// percentiles, and the totals over the whole run.
//
//	go build -o udp_load_client udp_load_client.go
//	./udp_load_client -addr 127.0.0.1:PORT -conns 50 -size 128 -warmup 0.5 -seconds 2
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"sort"
	"sync"
	"time"
)

type result struct {
	Msgs, Total, Lost, Mismatched int
	Seconds                       float64
	P50us, P99us                  float64
}

func main() {
	addr := flag.String("addr", "", "server host:port")
	conns := flag.Int("conns", 50, "sockets in ping-pong")
	size := flag.Int("size", 128, "datagram bytes (>= 8)")
	warmup := flag.Float64("warmup", 0.5, "seconds before the window")
	seconds := flag.Float64("seconds", 2, "window seconds")
	timeout := flag.Duration("timeout", 500*time.Millisecond, "an echo later than this is lost")
	flag.Parse()
	start := time.Now()
	from := start.Add(time.Duration(*warmup * float64(time.Second)))
	until := from.Add(time.Duration(*seconds * float64(time.Second)))
	var mu sync.Mutex
	var res result
	var rtts []time.Duration
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		c, err := net.Dial("udp", *addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		wg.Add(1)
		go func(i int, c net.Conn) {
			defer wg.Done()
			defer c.Close()
			msg, buf := make([]byte, *size), make([]byte, *size+64)
			rand.New(rand.NewSource(int64(i))).Read(msg)
			var mine []time.Duration
			var msgs, total, lost, bad int
			for seq := uint64(1); ; seq++ {
				t0 := time.Now()
				if !t0.Before(until) {
					break
				}
				binary.BigEndian.PutUint64(msg, seq)
				if _, err := c.Write(msg); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				c.SetReadDeadline(t0.Add(*timeout))
				for {
					n, err := c.Read(buf)
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						lost++
						break
					} else if err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(1)
					}
					if n >= 8 && binary.BigEndian.Uint64(buf) < seq {
						continue // the late echo of a datagram already counted lost
					}
					if !bytes.Equal(buf[:n], msg) {
						bad++
						break
					}
					total++
					if t0.After(from) {
						msgs++
						mine = append(mine, time.Since(t0))
					}
					break
				}
			}
			mu.Lock()
			res.Msgs, res.Total, res.Lost, res.Mismatched = res.Msgs+msgs, res.Total+total, res.Lost+lost, res.Mismatched+bad
			rtts = append(rtts, mine...)
			mu.Unlock()
		}(i, c)
	}
	wg.Wait()
	res.Seconds = *seconds
	sort.Slice(rtts, func(a, b int) bool { return rtts[a] < rtts[b] })
	if len(rtts) > 0 {
		res.P50us = float64(rtts[len(rtts)/2].Nanoseconds()) / 1e3
		res.P99us = float64(rtts[len(rtts)*99/100].Nanoseconds()) / 1e3
	}
	json.NewEncoder(os.Stdout).Encode(res)
}
