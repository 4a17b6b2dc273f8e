package kiosk

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/facegate/facegate/mqtt"
)

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// A cmd/open that the mqtt side accepts (and so has used its nonce) is
// never refused by RemoteOpen for its by or reason: the sender would be
// told nothing useful and could not resend the same command.
func FuzzRemoteOpenTakesWhatMQTTVerifies(f *testing.F) {
	for _, s := range [][2]string{
		{"ops", "delivery"},
		{strings.Repeat("b", 64), ""},
		{strings.Repeat("b", 65), ""},
		{strings.Repeat("b", 128), ""},
		{strings.Repeat("é", 64), strings.Repeat("é", 64)},
		{"ops", strings.Repeat("a", 39) + "é delivery"}, // the 40th byte splits "é"
		{"ops", strings.Repeat("a", 38) + "👷 delivery"},
		{"ops\u200b", "\u00a0"},
	} {
		f.Add(s[0], s[1])
	}
	const topic = "facegate/site/gate/cmd/open"
	secret := []byte("0123456789abcdef-test-secret")
	now := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, by, reason string) {
		v := mqtt.NewOpenVerifier(secret, topic, 30*time.Second, fixedClock(now), filepath.Join(t.TempDir(), "replay.json"))
		p, err := mqtt.SignOpen(secret, mqtt.OpenBody{TS: now.Unix(), Nonce: "nonce-fields-0001", Topic: topic, By: by, Reason: reason})
		if err != nil {
			t.Fatal(err)
		}
		o, err := v.Verify(p)
		if err != nil {
			return
		}
		r := newRig(t, nil) // not running: RemoteOpen checks, then says ErrNotRunning
		err = r.k.RemoteOpen(RemoteOpen{Source: SourceMQTT, By: o.By, Reason: o.Reason})
		if !errors.Is(err, ErrNotRunning) {
			t.Fatalf("mqtt accepted by %q reason %q, RemoteOpen refuses: %v", o.By, o.Reason, err)
		}
	})
}

func TestClipNeverSplitsACharacter(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("a", 39) + "é",
		strings.Repeat("a", 38) + "👷👷",
		strings.Repeat("é", 30),
		strings.Repeat("a", 40),
		"short",
	} {
		got := clip(s)
		if !utf8.ValidString(got) || !strings.HasPrefix(s, strings.TrimSuffix(got, "…")) || len(got) > 40+len("…") {
			t.Errorf("clip(%q) = %q", s, got)
		}
	}
}
