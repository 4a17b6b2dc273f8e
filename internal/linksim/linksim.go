// Package linksim is a TCP proxy on 127.0.0.1 that behaves like a site's
// uplink: one-way delay (half the RTT each way), a bandwidth per direction,
// TCP slow start (10 segments, doubled each round trip, restarted after an
// idle RTO as Linux does by default) and segment loss modelled as the
// retransmission delay it causes. It is for benchmarks and tests: the
// end-to-end time to the relay is measured through it as a site would see
// it, without root or a network namespace.
package linksim

import (
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"sync"
	"time"
)

// Profile is one link.
type Profile struct {
	Name string
	// RTT is the round-trip time; each direction gets half.
	RTT time.Duration
	// Up is client→server and Down server→client, in bits per second
	// (0: not limited).
	Up, Down int64
	// Loss is the probability that a segment is lost (each direction).
	Loss float64
	// Seed makes the losses repeatable.
	Seed int64
}

// The links of issue 16.
var (
	GoodLTE  = Profile{Name: "good-lte", RTT: 60 * time.Millisecond, Up: 10e6, Down: 30e6, Seed: 1}
	PoorSite = Profile{Name: "poor-site", RTT: 150 * time.Millisecond, Up: 1e6, Down: 4e6, Loss: 0.01, Seed: 1}
)

// UploadTime is how long n bytes take at the uplink's rate alone.
func (p Profile) UploadTime(n int) time.Duration {
	if p.Up <= 0 {
		return 0
	}
	return time.Duration(float64(n) * 8 / float64(p.Up) * float64(time.Second))
}

const (
	mss      = 1448 // payload of one segment (Ethernet MTU, TCP timestamps)
	initCwnd = 10   // segments (RFC 6928, Linux default)
	minRTO   = 200 * time.Millisecond
)

// shaper times the segments of one direction of one connection. It is
// pure (no clock, no I/O) so that its arithmetic is tested on its own.
type shaper struct {
	oneWay, rtt time.Duration
	bps         int64
	loss        float64
	rng         *rand.Rand

	txFree      time.Time // the link is busy sending until then
	lastDeliver time.Time // in-order delivery
	lastSend    time.Time
	cwnd        int       // segments per round trip
	roundStart  time.Time // when the current window started
	inRound     int       // segments sent in it
	started     bool
}

func newShaper(p Profile, bps int64, seed int64, notBefore time.Time) *shaper {
	return &shaper{oneWay: p.RTT / 2, rtt: p.RTT, bps: bps, loss: p.Loss, rng: rand.New(rand.NewSource(seed)),
		txFree: notBefore, cwnd: initCwnd}
}

func (s *shaper) rto() time.Duration { return minRTO + s.rtt }

// segment returns when a segment of size bytes, handed to the sender at
// now, reaches the other end.
func (s *shaper) segment(now time.Time, size int) time.Time {
	if !s.started || now.Sub(s.lastSend) > s.rto() {
		// Slow start after idle (net.ipv4.tcp_slow_start_after_idle=1).
		s.started, s.cwnd, s.roundStart, s.inRound = true, initCwnd, now, 0
	} else if now.Sub(s.roundStart) >= s.rtt {
		// The window's acknowledgements are back: a new round from now.
		s.roundStart, s.inRound = now, 0
	}
	if s.inRound >= s.cwnd {
		// Window full: wait for the acknowledgements of this round.
		s.roundStart, s.inRound = s.roundStart.Add(s.rtt), 0
		s.cwnd *= 2
	}
	start := later(now, s.txFree, s.roundStart)
	s.txFree = start
	if s.bps > 0 {
		s.txFree = start.Add(time.Duration(float64(size) * 8 / float64(s.bps) * float64(time.Second)))
	}
	s.inRound++
	s.lastSend = s.txFree
	deliver := s.txFree.Add(s.oneWay)
	if s.loss > 0 && s.rng.Float64() < s.loss {
		// A full segment is followed by others whose duplicate ACKs
		// trigger a fast retransmit (one RTT); a short one ends a
		// message and waits for the retransmission timeout.
		penalty := s.rtt
		if size < mss {
			penalty = s.rto()
		}
		deliver = deliver.Add(penalty)
		s.cwnd = max(s.cwnd/2, 2)
	}
	deliver = later(deliver, s.lastDeliver)
	s.lastDeliver = deliver
	return deliver
}

func later(ts ...time.Time) time.Time {
	t := ts[0]
	for _, u := range ts[1:] {
		if u.After(t) {
			t = u
		}
	}
	return t
}

// Proxy forwards connections to a target through the link.
type Proxy struct {
	l      net.Listener
	target string
	p      Profile
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	seq    int64
	closed bool
}

// Listen starts a proxy on 127.0.0.1 that forwards to target (host:port).
func Listen(target string, p Profile) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("linksim: listen: %w", err)
	}
	x := &Proxy{l: l, target: target, p: p, conns: map[net.Conn]struct{}{}}
	x.wg.Add(1)
	go x.accept()
	return x, nil
}

// Addr is the proxy's host:port.
func (x *Proxy) Addr() string { return x.l.Addr().String() }

// Close stops accepting, cuts every connection and waits for the pumps.
func (x *Proxy) Close() error {
	err := x.l.Close()
	x.mu.Lock()
	x.closed = true
	for c := range x.conns {
		c.Close()
	}
	x.mu.Unlock()
	x.wg.Wait()
	return err
}

func (x *Proxy) track(cs ...net.Conn) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return false
	}
	for _, c := range cs {
		x.conns[c] = struct{}{}
	}
	return true
}

func (x *Proxy) accept() {
	defer x.wg.Done()
	for {
		c, err := x.l.Accept()
		if err != nil {
			return
		}
		// The client's SYN/SYN-ACK: its first byte leaves one RTT after
		// it connected.
		accepted := time.Now()
		s, err := net.Dial("tcp", x.target)
		if err != nil {
			c.Close()
			continue
		}
		if !x.track(c, s) {
			c.Close()
			s.Close()
			return
		}
		x.mu.Lock()
		x.seq++
		seed := x.p.Seed*1000 + x.seq
		x.mu.Unlock()
		up := newShaper(x.p, x.p.Up, seed, accepted.Add(x.p.RTT))
		down := newShaper(x.p, x.p.Down, -seed, accepted)
		var pair sync.WaitGroup
		pair.Add(2)
		x.wg.Add(3)
		go func() { defer pair.Done(); x.pump(s, c, up) }()
		go func() { defer pair.Done(); x.pump(c, s, down) }()
		go func() {
			// Both directions ended (or one failed): the pair is done.
			defer x.wg.Done()
			pair.Wait()
			c.Close()
			s.Close()
			x.mu.Lock()
			delete(x.conns, c)
			delete(x.conns, s)
			x.mu.Unlock()
		}()
	}
}

type chunk struct {
	data []byte
	at   time.Time
	eof  bool
}

// pump copies src to dst, each segment delivered at the time its shaper
// gives. The reader never waits for the link (large socket buffers).
func (x *Proxy) pump(dst, src net.Conn, sh *shaper) {
	defer x.wg.Done()
	q := make(chan chunk, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			if d := time.Until(c.at); d > 0 {
				time.Sleep(d)
			}
			if c.eof {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				return
			}
			if _, err := dst.Write(c.data); err != nil {
				src.Close()
				for range q { // let the reader finish
				}
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	var last time.Time
	for {
		n, err := src.Read(buf)
		now := time.Now()
		for off := 0; off < n; off += mss {
			end := min(off+mss, n)
			last = sh.segment(now, end-off)
			q <- chunk{data: append([]byte(nil), buf[off:end]...), at: last}
		}
		if err != nil {
			eof := errors.Is(err, io.EOF)
			if eof {
				q <- chunk{eof: true, at: later(now.Add(sh.oneWay), last)}
			}
			close(q)
			<-done
			if !eof {
				dst.Close() // a reset or a closed proxy ends both directions
			}
			return
		}
	}
}
