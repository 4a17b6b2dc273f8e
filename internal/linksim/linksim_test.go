package linksim

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ms(d float64) time.Duration { return time.Duration(d * float64(time.Millisecond)) }

func TestShaperDelayAndBandwidth(t *testing.T) {
	p := Profile{RTT: 60 * time.Millisecond, Up: 10e6}
	seg := ms(1448 * 8 / 10e6 * 1000) // 1.1584 ms at 10 Mbit/s
	tests := []struct {
		name     string
		segments int
		want     time.Duration // delivery of the last segment after t0
	}{
		{"one segment: serialisation and half the RTT", 1, seg + 30*time.Millisecond},
		{"the first window of 10", 10, 10*seg + 30*time.Millisecond},
		// Windows of 10, 20, 40 (70 segments) in rounds 0-2; segments
		// 71-100 start at 3 RTT.
		{"slow start: 100 segments take four rounds", 100, 180*time.Millisecond + 30*seg + 30*time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newShaper(p, p.Up, 1, t0)
			var last time.Time
			for i := 0; i < tt.segments; i++ {
				last = s.segment(t0, mss)
			}
			if got := last.Sub(t0); (got - tt.want).Abs() > time.Microsecond {
				t.Fatalf("last segment after %v, want %v", got, tt.want)
			}
		})
	}
}

func TestShaperRestartsSlowStartAfterIdle(t *testing.T) {
	p := Profile{RTT: 100 * time.Millisecond}
	s := newShaper(p, 0, 1, t0)
	for i := 0; i < 70; i++ { // windows of 10, 20 and 40: the window is 40
		s.segment(t0, mss)
	}
	// Within the RTO of the last send (t0+200ms): the grown window is
	// kept, 40 segments in one round.
	at := t0.Add(350 * time.Millisecond)
	var last time.Time
	for i := 0; i < 40; i++ {
		last = s.segment(at, mss)
	}
	if got := last.Sub(at); got != 50*time.Millisecond {
		t.Fatalf("warm window: %v, want one way (50ms)", got)
	}
	// After an idle RTO (200ms + RTT): back to 10 segments a round.
	at = at.Add(301 * time.Millisecond)
	for i := 0; i < 11; i++ {
		last = s.segment(at, mss)
	}
	if got := last.Sub(at); got != 150*time.Millisecond {
		t.Fatalf("after idle: the 11th segment after %v, want one RTT + one way (150ms)", got)
	}
}

func TestShaperLoss(t *testing.T) {
	p := Profile{RTT: 100 * time.Millisecond, Loss: 1}
	s := newShaper(p, 0, 1, t0)
	if got := s.segment(t0, mss).Sub(t0); got != 150*time.Millisecond {
		t.Fatalf("lost full segment: %v, want fast retransmit one way + RTT (150ms)", got)
	}
	if got := s.segment(t0, 100).Sub(t0); got != 350*time.Millisecond {
		t.Fatalf("lost short segment: %v, want one way + RTO (200ms + RTT) = 350ms", got)
	}
}

// TestProxyTakesAtLeastTheLinkTime: 100 kB up and a byte back take at
// least connect (1 RTT) + the bandwidth time + half an RTT back through
// the proxy; an upper bound would depend on the machine's load.
func TestProxyTakesAtLeastTheLinkTime(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const size = 100_000
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		n, _ := io.CopyN(io.Discard, c, size)
		if n == size {
			c.Write([]byte{1})
		}
	}()
	x, err := Listen(l.Addr().String(), GoodLTE)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	start := time.Now()
	c, err := net.Dial("tcp", x.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(bytes.Repeat([]byte{7}, size)); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 1 {
		t.Fatalf("reply %v %v", b, err)
	}
	min := GoodLTE.RTT + GoodLTE.UploadTime(size) + GoodLTE.RTT/2
	if got := time.Since(start); got < min {
		t.Fatalf("%v through the link, want at least %v", got, min)
	}
}
