package kiosk

import (
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// Found by a red-team pass: a worker holds up a badge the roster does not list (lost,
// withdrawn, a typo on the card). The kiosk refuses it (metrics count
// identifications{result=unknown_badge}), but the screen keeps saying
// "Scan your badge": the worker scans again and again and is never told
// why nothing happens, and there is no audit line of the attempt. The
// screen must say why not (in words), as it does for every other refusal.
func TestUnknownBadgeSaysWhyOnScreen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		roster := filepath.Join(t.TempDir(), "roster.csv")
		if err := os.WriteFile(roster, []byte(goodRoster), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Identity.RosterFile = roster
		r := newRig(t, cfg)
		s := &fakeScanner{}
		r.k.badges = newBadgeLoop(s, r.k, quietLogger())
		stop := r.start(t)
		defer stop()
		require.Eventually(t, func() bool { running, _ := s.state(); return running == 1 }, time.Minute, 100*time.Millisecond)
		idle := r.k.Status().Message
		if !s.show("FG1:B:B9999") { // not in the roster
			t.Fatal("no scanner to show the badge to")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		st := r.k.Status()
		if st.Message == idle {
			t.Errorf("after a badge not in the roster the screen still says %q (state %s): the worker is not told why nothing happens", st.Message, st.State)
		}
		if len(r.events()) != 0 {
			t.Errorf("an unknown badge made a decision event: %+v", r.events())
		}
	})
}
