package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSetAsideNeverReplacesAnEarlierCopy: a Raspberry Pi without an RTC
// and without NTP (a site network without internet) boots on the same
// saved time each time, so two corrupt state files (the lockout memory,
// kiosk/lockout.go; the site presence, site/state.go) can be set aside at
// the same second of the clock. The second must not replace the first
// copy kept for a person to look at: os.Rename onto the same
// <path>.corrupt-<time> name silently deletes it. (The outbox's
// saveDamage already opens its copy with O_EXCL and adds -N.)
func TestSetAsideNeverReplacesAnEarlierCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "liveness-lockout.json")
	boot := time.Date(2026, 12, 3, 6, 0, 12, 0, time.UTC) // the saved time, plus the boot
	var asides []string
	for _, content := range []string{"first damaged copy", "second damaged copy"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		aside, err := SetAside(path, boot)
		if err != nil {
			t.Fatal(err)
		}
		asides = append(asides, aside)
	}
	if asides[0] == asides[1] {
		t.Errorf("both set aside as %s", asides[0])
	}
	if b, err := os.ReadFile(asides[0]); err != nil || string(b) != "first damaged copy" {
		t.Errorf("the first copy %s holds %q (%v): replaced by the second", asides[0], b, err)
	}
}
