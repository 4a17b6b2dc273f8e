package kiosk

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"
)

// BadgeScanner reads badge QR codes from the camera (*capture.QRScanner
// satisfies it).
type BadgeScanner interface {
	// Run scans until ctx ends, calling found from Run's goroutine with
	// each new payload (found does not block). It returns nil when ctx
	// ends, or the error that stopped it (the camera closed). The kiosk
	// runs it while the gate is idle and cancels it when a session starts,
	// so that the face selector has the CPU.
	Run(ctx context.Context, found func(payload string)) error
}

// badgeLoop runs the badge scanner while the gate is idle and hands every
// payload to IdentifyQR.
type badgeLoop struct {
	scanner BadgeScanner
	k       *Kiosk
	log     *slog.Logger
	idle    chan bool // latest idle flag; buffered 1
}

func newBadgeLoop(s BadgeScanner, k *Kiosk, log *slog.Logger) *badgeLoop {
	return &badgeLoop{scanner: s, k: k, log: log, idle: make(chan bool, 1)}
}

// setIdle records whether the scanner should run; it never blocks (only
// the latest value matters). Nil-safe: no scanner, nothing to do.
func (b *badgeLoop) setIdle(idle bool) {
	if b == nil {
		return
	}
	for {
		select {
		case b.idle <- idle:
			return
		default:
			select {
			case <-b.idle:
			default:
			}
		}
	}
}

// The wait before a scanner that stopped on its own is started again: it
// doubles on each stop in a row, up to badgeRetryMax, so a camera that is
// gone is not hammered; a run that lasted badgeRetryMax starts it over.
const (
	badgeRetryMin = time.Second
	badgeRetryMax = 30 * time.Second
)

// run scans while idle until ctx ends; the scanner has stopped when it
// returns. A scanner whose Run returns on its own (an error, the camera
// closed) is started again after a backoff while the gate stays idle.
func (b *badgeLoop) run(ctx context.Context) {
	var (
		stop    context.CancelFunc
		done    chan struct{} // closed when the running scanner returned; nil when none runs
		started time.Time
		idle    bool
		retry   *time.Timer // pending restart after a stop on its own
		retryC  <-chan time.Time
		backoff = badgeRetryMin
	)
	halt := func() {
		if stop != nil {
			stop()
			<-done
			stop, done = nil, nil
		}
	}
	start := func() {
		sctx, cancel := context.WithCancel(ctx)
		stop, done, started = cancel, make(chan struct{}), time.Now()
		go func(done chan struct{}) {
			defer close(done)
			if err := b.scanner.Run(sctx, b.found); err != nil {
				b.log.Error("badge scanner stopped", "err", err)
			}
		}(done)
	}
	defer func() {
		if retry != nil {
			retry.Stop()
		}
		halt()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done: // returned on its own: halt() was not called
			stop()
			stop, done = nil, nil
			if ctx.Err() != nil {
				return
			}
			if time.Since(started) >= badgeRetryMax {
				backoff = badgeRetryMin
			}
			retry = time.NewTimer(backoff)
			retryC = retry.C
			b.log.Warn("badge scanner restarts after a pause", "after", backoff)
			backoff = min(2*backoff, badgeRetryMax)
		case <-retryC:
			retry, retryC = nil, nil
			if idle && stop == nil {
				start()
			}
		case idle = <-b.idle:
			if !idle {
				halt()
				continue
			}
			if stop != nil || retry != nil {
				continue // running, or waiting out the backoff
			}
			start()
		}
	}
}

func (b *badgeLoop) found(payload string) {
	err := b.k.IdentifyQR(payload)
	switch {
	case err == nil, errors.Is(err, ErrBusy):
	case errors.Is(err, ErrNotRunning):
	default:
		// The payload may carry a submission id: never at info level.
		b.log.Info("badge refused", "err", err)
		b.log.Debug("badge payload", "payload", payload)
		// A facegate badge refused: say so. Other QR codes in view (a
		// poster) are not badges and change nothing on the screen.
		if strings.HasPrefix(payload, "FG1:") && (errors.Is(err, ErrUnknownBadge) || errors.Is(err, ErrInvalidIdentity) || errors.Is(err, ErrSourceDisabled)) {
			b.k.showBadgeRefused()
		}
	}
}

// msgBadgeRefused is shown for a while when a badge QR code was read and
// refused (not in the roster, a user id the roster does not bind, a
// submission-id badge with allow_submission off, a malformed payload).
const msgBadgeRefused = "Badge not recognised — see the site office"

// badgeRefusedFor is how long msgBadgeRefused stays on the idle screen.
const badgeRefusedFor = 4 * time.Second

// showBadgeRefused puts msgBadgeRefused on the idle screen, and the idle
// message back after badgeRefusedFor unless something else changed it.
func (k *Kiosk) showBadgeRefused() {
	shown := false
	k.updateStatusIf(func(s *Status) bool {
		if s.State != StateIdle || s.Message == msgBadgeRefused {
			return false
		}
		s.Message, shown = msgBadgeRefused, true
		return true
	})
	if !shown {
		return
	}
	time.AfterFunc(badgeRefusedFor, func() {
		idle := k.idleMessage()
		k.updateStatusIf(func(s *Status) bool {
			if s.State != StateIdle || s.Message != msgBadgeRefused {
				return false
			}
			s.Message = idle
			return true
		})
	})
}

// runBadges starts the badge loop (when there is a scanner) until ctx
// ends; wait returns once it has stopped.
func (k *Kiosk) runBadges(ctx context.Context) (wait func()) {
	if k.badges == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.badges.run(ctx)
	}()
	return func() { <-done }
}

// scanWhileIdle lets the scanner run only while the gate is idle and not
// draining; called after every change of state.
func (k *Kiosk) scanWhileIdle() {
	if k.badges == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.badges.setIdle(k.status.State == StateIdle && !k.draining)
}
