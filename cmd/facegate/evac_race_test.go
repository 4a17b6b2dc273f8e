package main

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/kiosk"
)

// hookPub is alertLog with a hook run before each alert is kept.
type hookPub struct {
	alertLog
	onAlert func(kiosk.Alert)
}

func (h *hookPub) PublishAlert(a kiosk.Alert) error {
	if f := h.onAlert; f != nil {
		f(a)
	}
	return h.alertLog.PublishAlert(a)
}

// Evacuate now moves the relay from the caller's goroutine (an HTTP
// handler), beside the site loop and other handlers. evacuationChanged
// reads the trusted active evacuation before it takes hmu: an operator's
// start that reads "Y is on" while the trust lock is busy (a slow fsync
// of the trust file on an SD card) holds the relay after the operator's
// end (and the loop's handling of it) found nothing to release. The relay
// stays held, no evacuation on, no retry due: every door unlocked.
func TestEvacuateRacingAnEndDoesNotLeaveTheRelayHeld(t *testing.T) {
	cfg := siteTestConfig(t, releaseYAML)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := newSiteWire(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRelay{}
	w.relay = r
	pub := &hookPub{}
	k, err := kiosk.New(kioskOptions(cfg), kiosk.Deps{Selector: nopSelector{}, Authenticator: nopAuth{}, Relay: nopRelay{}, Publisher: pub,
		Site: w, SiteBoard: w, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.start(k, nil); err != nil {
		t.Fatal(err)
	}
	w.handle()

	// Another goroutine's trust-file write holds tmu (slow disk) from
	// the moment the start is announced until the end has been handled.
	release := make(chan struct{})
	var once sync.Once
	pub.onAlert = func(a kiosk.Alert) {
		if a.Code != kiosk.AlertEvacuation || !strings.Contains(a.Message, "started") {
			return
		}
		once.Do(func() {
			locked := make(chan struct{})
			go func() {
				w.tmu.Lock()
				close(locked)
				<-release
				w.tmu.Unlock()
			}()
			<-locked
		})
	}

	startDone := make(chan struct{})
	go func() { // operator A: POST start
		defer close(startDone)
		_, _ = w.Evacuate(true, "marshal", "drill") // "not active after its start": B ended it
	}()
	time.Sleep(200 * time.Millisecond) // A reads "on" and waits for tmu
	if !w.Evacuation().Active {
		t.Fatal("the start is not in the presence yet")
	}
	// Operator B: POST end (needs no tmu: nothing active is left to check).
	endDone := make(chan struct{})
	go func() {
		defer close(endDone)
		if _, err := w.Evacuate(false, "marshal", "false alarm"); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-endDone:
	case <-time.After(200 * time.Millisecond):
	}
	handled := make(chan struct{})
	go func() { defer close(handled); w.handle() }() // the site loop: start and end notices
	time.Sleep(200 * time.Millisecond)
	close(release)
	<-startDone
	<-endDone
	<-handled
	// Whatever the loop does next.
	for range 3 {
		w.handle()
		if w.relayRetryDue() {
			w.evacuationChanged()
		}
	}
	if w.Evacuation().Active {
		t.Fatal("an evacuation is still on")
	}
	if r.isHeld() {
		t.Fatalf("relay held open with no evacuation on (holds %d, releases %d, wire held %v for %q, retry due %v)",
			r.holds, r.frees, w.held, w.heldID, w.relayRetryDue())
	}
}
