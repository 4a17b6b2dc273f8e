package main

import (
	"net"
	"net/netip"
	"sync"
)

// limitedListener bounds the connections a listener holds, in two pools:
// this machine's (the kiosk screen's browser, local users) and other
// machines', the latter also per host. A connection over its pool's bound
// is closed at once. Held connections took every descriptor of the
// daemon's LimitNOFILE (the watchdog ping, a reload and the records failed
// with EMFILE), and with one pool a host on the network holding them all
// kept the screen's own connections out.
type limitedListener struct {
	net.Listener
	maxLocal, maxRemote, maxPerHost int

	mu            sync.Mutex
	local, remote int
	perHost       map[netip.Addr]int
}

func limitListener(l net.Listener, maxLocal, maxRemote, maxPerHost int) net.Listener {
	return &limitedListener{Listener: l, maxLocal: maxLocal, maxRemote: maxRemote, maxPerHost: maxPerHost, perHost: map[netip.Addr]int{}}
}

// Accept returns the next connection within the bounds.
func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if release, ok := l.admit(c.RemoteAddr()); ok {
			return &limitedConn{Conn: c, release: release}, nil
		}
		_ = c.Close()
	}
}

// admit counts a connection from addr in its pool, or reports that the
// pool is full; release gives the place back.
func (l *limitedListener) admit(addr net.Addr) (release func(), ok bool) {
	host := netip.IPv6Unspecified()
	if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		host = ap.Addr().Unmap()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if host.IsLoopback() {
		if l.local >= l.maxLocal {
			return nil, false
		}
		l.local++
		return func() { l.mu.Lock(); l.local--; l.mu.Unlock() }, true
	}
	if l.remote >= l.maxRemote || l.perHost[host] >= l.maxPerHost {
		return nil, false
	}
	l.remote++
	l.perHost[host]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.remote--
		if l.perHost[host]--; l.perHost[host] == 0 {
			delete(l.perHost, host)
		}
	}, true
}

// limitedConn gives its place back once, when closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
