package main

import (
	"context"
	"strings"
	"testing"
)

// A pulse by hand killed with SIGKILL (or cut by a power loss) left its
// start in the audit log with no end, for good (found by a red-team pass;
// left alone until 2026-12-08). The next pulse by hand records that end as
// interrupted and says so; while the first still runs, it does not.
func TestRelayPulseKilledIsEndedByTheNextPulse(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a helper process")
	}
	cfg, state := relayConfig(t, "{driver: sim, max_pulse: 10s, pulse: 20ms}")
	first, exited, _ := startRelayPulseProcess(t, cfg, state)

	// Still running: a second pulse (another line, say) ends nothing.
	code, _, errs := runRelayCmd(context.Background(), "pulse", "--config", cfg)
	if code != exitOK || strings.Contains(errs, "ended without recording its end") {
		t.Fatalf("second pulse beside a running one: exit %d\n%s", code, errs)
	}
	if got := manualRecords(t, state); len(got) != 3 || got[0].Phase != "start" || got[1].Phase != "start" || got[2].Phase != "end" || got[2].ID != got[1].ID {
		t.Fatalf("a running pulse was ended: %+v", got)
	}

	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	code, _, errs = runRelayCmd(context.Background(), "pulse", "--config", cfg)
	if code != exitOK || !strings.Contains(errs, "an earlier pulse by hand (by installer") {
		t.Fatalf("pulse after a killed one: exit %d\n%s", code, errs)
	}
	got := manualRecords(t, state)
	if len(got) != 6 {
		t.Fatalf("audit records %+v, want the killed pulse's end and the new pulse", got)
	}
	end := got[3]
	if end.Phase != "end" || end.Relay != "interrupted" || end.ID != got[0].ID || end.Started != got[0].TS || end.By != "installer" {
		t.Fatalf("killed pulse's end %+v, want interrupted naming start %+v", end, got[0])
	}
	code, _, errs = runRelayCmd(context.Background(), "pulse", "--config", cfg)
	if code != exitOK || strings.Contains(errs, "ended without recording its end") || len(manualRecords(t, state)) != 8 {
		t.Fatalf("the killed pulse was ended twice: exit %d\n%s\n%+v", code, errs, manualRecords(t, state))
	}
}
