package lograte

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// lines records the records at info or above.
type lines struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *lines) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h *lines) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r)
	h.mu.Unlock()
	return nil
}
func (h *lines) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *lines) WithGroup(string) slog.Handler      { return h }

// A steady flood of one kind is one line an interval, carrying how many
// were held back; another kind has its own first line.
func TestLogFloodIsOneLineAnInterval(t *testing.T) {
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	l := New(time.Minute, func() time.Time { return now })
	h := &lines{}
	log := slog.New(h)
	for i := 0; i < 3600; i++ { // one a second for an hour
		l.Log(log, slog.LevelWarn, "cmd/open|bad_signature", "refused")
		now = now.Add(time.Second)
	}
	l.Log(log, slog.LevelWarn, "cmd/identify|invalid", "refused")
	if got := len(h.recs); got != 61 {
		t.Fatalf("an hour of one refusal a second made %d lines, want 60 and the other kind's first", got)
	}
	var repeated int64
	h.recs[1].Attrs(func(a slog.Attr) bool {
		if a.Key == "repeated" {
			repeated = a.Value.Int64()
		}
		return true
	})
	if repeated != 59 {
		t.Errorf("the second line says %d repeated, want 59", repeated)
	}
}

// Made-up keys past MaxKinds share one kind: a flood of new peer names is
// not a line each.
func TestLogManyKindsShareOneLine(t *testing.T) {
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	l := New(time.Minute, func() time.Time { return now })
	h := &lines{}
	log := slog.New(h)
	for i := 0; i < 10*MaxKinds; i++ {
		l.Log(log, slog.LevelWarn, fmt.Sprintf("ghost-%d", i), "refused")
	}
	if got := len(h.recs); got != MaxKinds+1 {
		t.Fatalf("%d made-up kinds made %d lines, want %d", 10*MaxKinds, got, MaxKinds+1)
	}
	if len(l.kinds) > MaxKinds+1 {
		t.Errorf("%d kinds remembered", len(l.kinds))
	}
}

// A clock stepped back does not hold a kind back for the step.
func TestLogClockStepBack(t *testing.T) {
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	l := New(time.Minute, func() time.Time { return now })
	if ok, _ := l.Allow("k"); !ok {
		t.Fatal("first")
	}
	now = now.Add(-time.Hour)
	if ok, _ := l.Allow("k"); !ok {
		t.Error("held back after the clock stepped back an hour")
	}
}
