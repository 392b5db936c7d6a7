// Channel micro-benchmarks for gonb's bench/chan_bench.py: the Go side of the comparison.
//
// pingpong: two goroutines hand one value back and forth over two unbuffered channels (one round
// trip = two sends and two receives). buffered: one goroutine sends n values into a channel of 100
// that another drains. Each is timed -repeat times; the median rate is printed as JSON.
//
//	go build -o chan_bench chan_bench.go && GOMAXPROCS=1 ./chan_bench [-n 200000] [-repeat 3]
package main

import (
	"encoding/json"
	"flag"
	"os"
	"sort"
	"time"
)

func pingpong(n int) float64 {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
	}()
	t0 := time.Now()
	v := 0
	for i := 0; i < n; i++ {
		ping <- v
		v = <-pong
	}
	close(ping)
	return float64(n) / time.Since(t0).Seconds()
}

func buffered(n int) float64 {
	c, done := make(chan int, 100), make(chan bool)
	go func() {
		for range c {
		}
		done <- true
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		c <- i
	}
	close(c)
	<-done
	return float64(n) / time.Since(t0).Seconds()
}

func median(f func(int) float64, n, repeat int) float64 {
	rs := make([]float64, repeat)
	for i := range rs {
		rs[i] = f(n)
	}
	sort.Float64s(rs)
	return rs[repeat/2]
}

func main() {
	n := flag.Int("n", 200000, "round trips (pingpong) and values (buffered) per run")
	repeat := flag.Int("repeat", 3, "runs; the median is reported")
	flag.Parse()
	json.NewEncoder(os.Stdout).Encode(map[string]float64{
		"pingpong": median(pingpong, *n, *repeat),
		"buffered": median(buffered, *n, *repeat),
	})
}
