// The latency lab's load generator (nbs/08_latency.ipynb), in Go so that it is not the bottleneck.
// gonb.bench runs it pinned to another core than the server; `python -m gonb.bench --load` is the
// same program in Python (plain epoll), used when `go` is not installed. Both print one JSON line.
//
//	go build -o load_client load_client.go
//	./load_client -addr 127.0.0.1:PORT -conns 100 -size 128 -warmup 0.25 -seconds 1 [-probe] \
//	    [-giveup 1] [-idle 10000] [-serverpid PID] [-ctl CTLPORT]
//
// Every message is `size` bytes: the send time (CLOCK_MONOTONIC ns, big-endian) in bytes 0-8, a
// sequence number in 8-16, then a per-connection random pattern. Each echo is compared with what was
// sent, byte for byte, before the connection sends again (closed loop: one message in flight).
//
//   - -conns N: N connections ping-pong flat out; messages completed inside the window (after the
//     warm-up, for -seconds) are counted and their round-trip times kept.
//   - -probe: one more connection sends a message every millisecond (or at once when the echo of the
//     previous one came later than that); a probe waiting more than -giveup seconds means the server
//     has stopped answering ("starved"), which also ends the window.
//   - -idle N: before the window, open N connections, echo one message on each, and leave them idle;
//     the server's VmRSS (from /proc/PID/status) is read before and after.
//   - -serverpid: the server's CPU time (/proc/PID/stat) over the window, beside this process's own.
//   - -ctl PORT: gonb's control connection: `reset SIZE` at the window's start, `report` at its end
//     (the server's wake-up histograms and busyness over the window), passed through as "server".
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/bits"
	"math/rand"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// ---- CLOCK_MONOTONIC, shared with the server ------------------------------------------------------

var monoBase int64
var timeBase time.Time

// initClock ties Go's monotonic clock (which is CLOCK_MONOTONIC) to the raw clock value: the sample
// with the tightest bracket of time.Now() calls around one clock_gettime(2) wins.
func initClock() {
	best := int64(1 << 62)
	for i := 0; i < 20; i++ {
		var ts syscall.Timespec
		t1 := time.Now()
		syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0) // CLOCK_MONOTONIC
		t2 := time.Now()
		if d := int64(t2.Sub(t1)); d < best {
			best = d
			timeBase = t1.Add(t2.Sub(t1) / 2)
			monoBase = ts.Nano()
		}
	}
}

func nanotime() int64 { return monoBase + int64(time.Since(timeBase)) }

// ---- statistics: exact percentiles, and gonb.bench.servers.Histogram's buckets ----------------------

// bucket is Histogram.bucket_of: exact below 256 ns; above, 128 buckets per power of two (the top 8 bits).
func bucket(ns int64) int {
	if ns < 256 {
		if ns < 0 {
			ns = 0
		}
		return int(ns)
	}
	e := bits.Len64(uint64(ns)) - 8
	return e<<7 + int(ns>>e)
}

func stats(s []int64) map[string]interface{} {
	out := map[string]interface{}{"n": len(s)}
	if len(s) == 0 {
		return out
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	pct := func(q float64) int64 {
		i := int(q * float64(len(s)))
		if i >= len(s) {
			i = len(s) - 1
		}
		return s[i]
	}
	var sum int64
	hist := map[string]int{}
	for _, x := range s {
		sum += x
		hist[strconv.Itoa(bucket(x))]++
	}
	out["p50"], out["p90"], out["p99"], out["p999"] = pct(0.5), pct(0.9), pct(0.99), pct(0.999)
	out["max"], out["mean"], out["hist"] = s[len(s)-1], sum/int64(len(s)), hist
	return out
}

// ---- /proc ----------------------------------------------------------------------------------------

func procCPU(pid int) float64 { // utime + stime of a process, seconds
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ
}

func procRSS(pid int) int64 { // VmRSS, bytes
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb * 1024
		}
	}
	return -1
}

func selfCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// ---- one connection -------------------------------------------------------------------------------

type conn struct {
	c        *net.TCPConn
	msg, buf []byte
	seq      uint64
	rtts     []int64 // round trips completed inside the window
	sent     int64   // messages written
	verified int64   // echoes identical to what was sent
	bad      int64   // echoes that differed
	err      string
}

func dial(addr string, size int) (*conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	k := &conn{c: c.(*net.TCPConn), msg: make([]byte, size), buf: make([]byte, size)}
	rand.Read(k.msg[16:])
	return k, nil
}

// roundTrip sends one stamped message and waits for its echo; returns send and receive times.
func (k *conn) roundTrip(giveup time.Duration) (int64, int64, error) {
	k.seq++
	t0 := nanotime()
	binary.BigEndian.PutUint64(k.msg[0:], uint64(t0))
	binary.BigEndian.PutUint64(k.msg[8:], k.seq)
	if giveup > 0 {
		k.c.SetReadDeadline(time.Now().Add(giveup))
	}
	if _, err := k.c.Write(k.msg); err != nil {
		return t0, 0, err
	}
	k.sent++
	if _, err := io.ReadFull(k.c, k.buf); err != nil {
		return t0, 0, err
	}
	t1 := nanotime()
	if !bytes.Equal(k.buf, k.msg) {
		k.bad++
		return t0, t1, fmt.Errorf("echo differs from the message sent")
	}
	k.verified++
	return t0, t1, nil
}

func (k *conn) close() {
	k.c.SetLinger(0) // a reset, not TIME_WAIT: thousands of connections per run
	k.c.Close()
}

// ---- the run --------------------------------------------------------------------------------------

var winStart, winEnd atomic.Int64
var stop atomic.Bool

func inWindow(t int64) bool {
	ws, we := winStart.Load(), winEnd.Load()
	return ws != 0 && t >= ws && (we == 0 || t <= we)
}

func flatOut(k *conn, wg *sync.WaitGroup) {
	defer wg.Done()
	for !stop.Load() {
		t0, t1, err := k.roundTrip(0)
		if err != nil {
			if !stop.Load() {
				k.err = err.Error()
			}
			return
		}
		if inWindow(t1) {
			k.rtts = append(k.rtts, t1-t0)
		}
	}
}

func probe(k *conn, giveup time.Duration, starved *atomic.Bool, done chan struct{}, wg *sync.WaitGroup, sentInWindow *int64) {
	defer wg.Done()
	next := nanotime()
	for !stop.Load() {
		if d := next - nanotime(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		t0 := nanotime()
		next = t0 + 1_000_000
		if inWindow(t0) {
			*sentInWindow++
		}
		_, t1, err := k.roundTrip(giveup)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				starved.Store(true)
				close(done)
				return
			}
			if !stop.Load() {
				k.err = err.Error()
			}
			return
		}
		if inWindow(t1) {
			k.rtts = append(k.rtts, t1-t0)
		}
	}
}

type ctlConn struct {
	c net.Conn
	r *bufio.Reader
}

func (c *ctlConn) call(cmd string) json.RawMessage {
	if c == nil {
		return nil
	}
	fmt.Fprintf(c.c, "%s\n", cmd)
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return json.RawMessage(fmt.Sprintf(`{"error": %q}`, err.Error()))
	}
	return json.RawMessage(line)
}

func main() {
	addr := flag.String("addr", "", "server address host:port")
	nconns := flag.Int("conns", 1, "connections running flat out")
	size := flag.Int("size", 128, "message size, bytes (>= 16)")
	warmup := flag.Float64("warmup", 0.25, "seconds before the window opens")
	seconds := flag.Float64("seconds", 1, "length of the window, seconds")
	withProbe := flag.Bool("probe", false, "add a probe connection at 1 message/ms")
	giveup := flag.Float64("giveup", 1, "a probe echo later than this (seconds) means starved")
	idle := flag.Int("idle", 0, "idle connections to open before the window")
	serverpid := flag.Int("serverpid", 0, "server pid, for its CPU time and RSS")
	ctlport := flag.Int("ctl", 0, "gonb's control port")
	flag.Parse()
	initClock()
	out := map[string]interface{}{"client": "go", "conns": *nconns, "size": *size, "probe": *withProbe,
		"idle_conns": *idle}
	errs := []string{}
	fail := func(err error) {
		out["errors"] = append(errs, err.Error())
		json.NewEncoder(os.Stdout).Encode(out)
		os.Exit(0)
	}
	if *size < 16 {
		fail(fmt.Errorf("size must be at least 16"))
	}
	var ctl *ctlConn
	if *ctlport > 0 {
		host, _, _ := net.SplitHostPort(*addr)
		c, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(*ctlport)))
		if err != nil {
			fail(err)
		}
		ctl = &ctlConn{c, bufio.NewReader(c)}
	}
	giveupD := time.Duration(*giveup * 1e9)

	// The probe connection first (idle mode measures the server's RSS with it warm).
	var pk *conn
	var all []*conn
	if *withProbe || *idle > 0 {
		k, err := dial(*addr, *size)
		if err != nil {
			fail(err)
		}
		pk = k
		all = append(all, k)
	}
	if *idle > 0 {
		for i := 0; i < 20; i++ {
			if _, _, err := pk.roundTrip(giveupD * 5); err != nil {
				fail(err)
			}
		}
		time.Sleep(100 * time.Millisecond)
		before := procRSS(*serverpid)
		t0 := time.Now()
		idles := make([]*conn, *idle)
		var mu sync.Mutex
		for b := 0; b < *idle; b += 100 { // 100 at a time: no listen backlog overflows
			var wg sync.WaitGroup
			for i := b; i < b+100 && i < *idle; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					k, err := dial(*addr, *size)
					if err == nil {
						_, _, err = k.roundTrip(giveupD * 10)
					}
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err.Error())
					}
					idles[i] = k
				}(i)
			}
			wg.Wait()
			if len(errs) > 0 {
				break
			}
		}
		setup := time.Since(t0).Seconds()
		time.Sleep(300 * time.Millisecond)
		after := procRSS(*serverpid)
		n := 0
		for _, k := range idles {
			if k != nil {
				all = append(all, k)
				n++
			}
		}
		out["idle"] = map[string]interface{}{"conns": n, "rss_before": before, "rss_after": after,
			"bytes_per_conn": float64(after-before) / float64(max(n, 1)), "setup_seconds": setup}
	}

	var flat []*conn
	for i := 0; i < *nconns; i++ {
		k, err := dial(*addr, *size)
		if err != nil {
			fail(err)
		}
		flat = append(flat, k)
		all = append(all, k)
	}
	var wg sync.WaitGroup
	var starved atomic.Bool
	starvedCh := make(chan struct{})
	var probeSent int64
	for _, k := range flat {
		wg.Add(1)
		go flatOut(k, &wg)
	}
	if *withProbe {
		wg.Add(1)
		go probe(pk, giveupD, &starved, starvedCh, &wg, &probeSent)
	}
	time.Sleep(time.Duration(*warmup * 1e9))

	cpu0, srv0 := selfCPU(), procCPU(*serverpid)
	ctl.call(fmt.Sprintf("reset %d", *size))
	ws := nanotime()
	winStart.Store(ws)
	select {
	case <-time.After(time.Duration(*seconds * 1e9)):
	case <-starvedCh:
	}
	we := nanotime()
	winEnd.Store(we)
	cpu1, srv1 := selfCPU(), procCPU(*serverpid)
	if ctl != nil {
		out["server"] = ctl.call("report")
	}
	stop.Store(true)
	// Let every connection finish its round trip in flight (its echo is checked too), within limits.
	for _, k := range all {
		k.c.SetReadDeadline(time.Now().Add(giveupD + time.Second))
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(giveupD + 3*time.Second):
		errs = append(errs, "connections still busy after the window")
	}
	if *idle > 0 {
		if idl, ok := out["idle"].(map[string]interface{}); ok {
			idl["rss_end"] = procRSS(*serverpid)
		}
	}

	win := float64(we-ws) / 1e9
	var rtts []int64
	var sent, verified, bad int64
	for _, k := range all {
		sent += k.sent
		verified += k.verified
		bad += k.bad
		if k.err != "" {
			errs = append(errs, k.err)
		}
		if k != pk {
			rtts = append(rtts, k.rtts...)
		}
	}
	out["window"] = win
	out["messages"] = len(rtts)
	out["rate"] = float64(len(rtts)) / win
	out["rtt"] = stats(rtts)
	out["sent"], out["verified"], out["mismatches"] = sent, verified, bad
	out["unanswered"] = sent - verified - bad
	out["client_cpu"] = (cpu1 - cpu0) / win
	if *serverpid > 0 {
		out["server_cpu"] = (srv1 - srv0) / win
	}
	if *withProbe {
		out["probe_rtt"] = stats(pk.rtts)
		out["probe_sent"] = probeSent
		out["starved"] = starved.Load()
	}
	if len(errs) > 5 {
		errs = errs[:5]
	}
	out["errors"] = errs
	for _, k := range all {
		k.close()
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

func max(a, b int) int {
	if a > b {
		return a
	}
	return b
}
