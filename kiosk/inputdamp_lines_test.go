package kiosk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// The damper keys its window on the input name only. input-fault is one
// name for every line (gate/monitor.go: each input unreadable at start,
// "door: …", "tamper: …"; the site wire's fire alarm, "fire_alarm: …"),
// so the faults of several lines at one start (a loose ribbon cable, a
// missing chip) fold into the first line's count with only the last
// detail kept: the fire alarm line that cannot be read (no evacuation
// will start) is in no audit line and no alert.
func TestInputFaultOfAnotherLineIsNotLostInRepeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		start := time.Now()
		r.k.GateInput(InputFault, "door: request line 17: no such device", start)
		r.k.GateInput(InputFault, "fire_alarm: request line 22: no such device", start)
		r.k.GateInput(InputFault, "tamper: request line 27: no such device", start)
		time.Sleep(2*inputQuiet + time.Second)

		b, err := os.ReadFile(filepath.Join(r.cfg.StateDir, "audit", auditName))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "fire_alarm") {
			t.Errorf("audit log:\n%s\nno line names the fire alarm line's fault", b)
		}
		_, _, alerts := r.pub.snapshot()
		found := false
		for _, a := range alerts {
			found = found || strings.Contains(a.Message, "fire_alarm")
		}
		if !found {
			t.Errorf("no alert names the fire alarm line's fault: %+v", alerts)
		}
	})
}
