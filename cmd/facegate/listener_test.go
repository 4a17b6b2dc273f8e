package main

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// fakeListener hands out pipe connections whose remote address is the
// next one of addrs.
type fakeListener struct {
	addrs chan string
}

type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c *addrConn) RemoteAddr() net.Addr { return c.remote }

func (l *fakeListener) Accept() (net.Conn, error) {
	a, ok := <-l.addrs
	if !ok {
		return nil, net.ErrClosed
	}
	c, _ := net.Pipe()
	ac := &addrConn{Conn: c, remote: net.TCPAddrFromAddrPort(mustAddrPort(a))}
	return ac, nil
}
func (l *fakeListener) Close() error   { return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

// The kiosk listener's pools: other machines take at most their own
// bound, per host too, and never the places of this machine's
// connections (the screen's browser); a closed connection frees its place.
func TestLimitedListenerKeepsPlacesForThisMachine(t *testing.T) {
	fl := &fakeListener{addrs: make(chan string, 100)}
	l := limitListener(fl, 3, 4, 2)
	accepted := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	defer close(fl.addrs)
	// offer hands addr to the listener and returns its connection, or nil
	// when the listener closed it (it then waits for the next).
	offer := func(addr string) net.Conn {
		t.Helper()
		fl.addrs <- addr
		select {
		case c := <-accepted:
			return c
		case <-time.After(200 * time.Millisecond):
			return nil
		}
	}
	var held []net.Conn
	for _, a := range []string{"192.168.1.7:1", "192.168.1.7:2", "192.168.1.8:1", "192.168.1.8:2"} {
		c := offer(a)
		if c == nil {
			t.Fatalf("%s refused within the bounds", a)
		}
		held = append(held, c)
	}
	for _, a := range []string{"192.168.1.7:3", "192.168.1.9:1"} { // one host's third, the network's fifth
		if c := offer(a); c != nil {
			t.Fatalf("%s accepted over the bounds", a)
		}
	}
	for _, a := range []string{"127.0.0.1:1", "127.0.0.1:2", "[::1]:3"} {
		if c := offer(a); c == nil {
			t.Fatalf("this machine's %s refused while the network held its own bound", a)
		}
	}
	if c := offer("127.0.0.1:4"); c != nil {
		t.Fatal("a fourth connection from this machine accepted over its bound")
	}
	held[0].Close()
	if c := offer("192.168.1.10:1"); c == nil {
		t.Fatal("a place freed by a closed connection was not given again")
	}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
