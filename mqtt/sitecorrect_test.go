package mqtt

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/internal/mosquittotest"
)

// A gate's own evacuation start and end reach the peers as the signed
// cmd/evacuate, named as the sender names it; the sender's echo is dropped.
func TestSiteMosquittoPublishEvacuate(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	withCmds := func(o *Options) {
		o.Open = OpenOptions{Enabled: true, Secret: testSecret, ReplayPath: filepath.Join(t.TempDir(), "replay.json")}
		o.Zones.Commands = true
	}
	a := newSiteGate(t, mq.URL(), "entrance", withCmds)
	b := newSiteGate(t, mq.URL(), "exit", withCmds)
	off := newSiteGate(t, mq.URL(), "zone-b-door", nil)
	require.Eventually(t, func() bool { return a.c.Connected() && b.c.Connected() && off.c.Connected() }, 5*time.Second, 5*time.Millisecond, "connected")
	if _, err := off.c.PublishEvacuate(t.Context(), Evacuate{Action: EvacuateStart, ID: "evac-1"}); !errors.Is(err, ErrSiteCommandsOff) {
		t.Fatalf("without site commands: %v", err)
	}
	time.Sleep(1100 * time.Millisecond) // past the replay memory's first second
	if _, err := a.c.PublishEvacuate(t.Context(), Evacuate{Action: EvacuateStart}); err == nil {
		t.Fatal("a start without an id was sent")
	}
	for _, action := range []string{EvacuateStart, EvacuateEnd} {
		sent, err := a.c.PublishEvacuate(t.Context(), Evacuate{Action: action, ID: "evac-20261202T100000.000Z-ABCDEF-entrance", By: "fire-alarm@entrance", Reason: "fire alarm input"})
		if err != nil {
			t.Fatal(err)
		}
		require.Eventually(t, func() bool {
			n := len(b.h.commands())
			return n > 0 && b.h.commands()[n-1].(Evacuate).Nonce == sent.Nonce
		},
			5*time.Second, 5*time.Millisecond, "the peer got the %s", action)
		got := b.h.commands()[len(b.h.commands())-1].(Evacuate)
		if got.Action != action || got.ID != sent.ID || got.By != "fire-alarm@entrance" || !got.Issued.Equal(sent.Issued) {
			t.Fatalf("peer got %+v, sent %+v", got, sent)
		}
	}
	require.Eventually(t, func() bool { a.c.site.mu.Lock(); defer a.c.site.mu.Unlock(); return len(a.c.site.sent) == 0 }, 5*time.Second, 5*time.Millisecond, "the sender saw its commands back")
	if n := len(a.h.commands()); n != 0 {
		t.Fatalf("the sender got its own commands back: %+v", a.h.commands())
	}
	if n := len(off.h.commands()); n != 0 {
		t.Fatalf("a gate without site commands applied %+v", off.h.commands())
	}
}
