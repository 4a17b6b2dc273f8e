package kiosk

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A window of counted repeats that ends as the kiosk stops (its timer
// fires while Run's inputs.close runs) must still be written: one of the
// two writes the count. The timer's callback, once fired, waits for d.mu;
// close takes d.mu first, finds Stop false (already fired) and skips the
// window; the callback then finds d.windows nil and returns: the repeats
// (and their alert) are lost.
func TestRepeatsWhoseWindowEndsDuringCloseAreWritten(t *testing.T) {
	r := newRig(t, nil)
	start := time.Now()
	r.k.GateInput(InputDoorForced, "", start)                  // written at once
	r.k.GateInput(InputDoorForced, "", start.Add(time.Second)) // counted: one repeat
	d := &r.k.inputs
	d.mu.Lock()
	w := d.windows[InputDoorForced+"\x00"]
	closed := make(chan struct{})
	go func() { d.close(r.k.inputRepeats); close(closed) }() // Run's stop: waits for d.mu
	time.Sleep(50 * time.Millisecond)
	w.timer.Reset(time.Nanosecond) // the window's minute ends now: its callback waits for d.mu behind close
	time.Sleep(50 * time.Millisecond)
	d.mu.Unlock()
	<-closed
	time.Sleep(100 * time.Millisecond) // the callback, had it anything to write

	b, err := os.ReadFile(filepath.Join(r.cfg.StateDir, "audit", auditName))
	if err != nil {
		t.Fatal(err)
	}
	repeated := 0
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec inputRecord
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		repeated += rec.Repeated
	}
	if repeated != 1 {
		t.Fatalf("audit log:\n%s\nthe repeat counted in the window is in no line (want repeated: 1)", b)
	}
}
