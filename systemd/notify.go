package systemd

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The sd_notify states facegate sends (sd_notify(3)).
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// ErrNotifyAddress is returned for a NOTIFY_SOCKET that is not a unix socket
// path or an abstract name.
var ErrNotifyAddress = errors.New("systemd: NOTIFY_SOCKET is not a unix socket path or @abstract name")

// Status is the free-form status line shown by `systemctl status`.
func Status(s string) string {
	return "STATUS=" + strings.ReplaceAll(s, "\n", " ")
}

// Reloading is the state sent when a reload starts; READY=1 ends it. The
// monotonic timestamp is what Type=notify-reload (systemd ≥ 253) requires
// and older versions ignore.
func Reloading() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	usec := ts.Sec*1_000_000 + ts.Nsec/1_000
	return "RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10)
}

// Notifier sends notifications to the service manager's NOTIFY_SOCKET.
// A Notifier made without a socket (not started by systemd) does nothing.
// It is safe for concurrent use: each message is one datagram on its own
// connection, as libsystemd does.
type Notifier struct {
	addr string
}

// NewNotifier reads NOTIFY_SOCKET through getenv.
func NewNotifier(getenv func(string) string) (*Notifier, error) {
	addr := getenv("NOTIFY_SOCKET")
	if addr == "" {
		return &Notifier{}, nil
	}
	if addr[0] != '/' && addr[0] != '@' {
		return nil, fmt.Errorf("%w: %q", ErrNotifyAddress, addr)
	}
	return &Notifier{addr: addr}, nil
}

// Enabled reports whether a service manager is listening.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != "" }

// Notify sends the states, one per line, in one datagram.
func (n *Notifier) Notify(states ...string) error {
	if !n.Enabled() || len(states) == 0 {
		return nil
	}
	// Go maps a leading '@' to the abstract namespace on Linux.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("systemd notify: dial: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(states, "\n"))); err != nil {
		return fmt.Errorf("systemd notify: send: %w", err)
	}
	return nil
}

// WatchdogInterval is how often to send WATCHDOG=1: half of WATCHDOG_USEC,
// as sd_watchdog_enabled(3) advises. ok is false when the watchdog is off or
// meant for another process (WATCHDOG_PID).
func WatchdogInterval(getenv func(string) string, pid int) (interval time.Duration, ok bool, err error) {
	s := getenv("WATCHDOG_USEC")
	if s == "" {
		return 0, false, nil
	}
	usec, err := strconv.ParseUint(s, 10, 63)
	if err != nil || usec == 0 || usec > uint64(math.MaxInt64/int64(time.Microsecond)) {
		return 0, false, fmt.Errorf("systemd: WATCHDOG_USEC=%q is not a positive number", s)
	}
	if p := getenv("WATCHDOG_PID"); p != "" {
		wp, err := strconv.Atoi(p)
		if err != nil {
			return 0, false, fmt.Errorf("systemd: WATCHDOG_PID=%q is not a number", p)
		}
		if wp != pid {
			return 0, false, nil
		}
	}
	return time.Duration(usec) * time.Microsecond / 2, true, nil
}
