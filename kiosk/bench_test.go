package kiosk

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSession is the kiosk's own cost per session (fakes answer at
// once, no cooldown): the state changes, policy, the seq file and audit
// line (two fsyncs), the event to the publisher and the page.
func BenchmarkSession(b *testing.B) {
	cfg := config4bench(b)
	sel := &fakeSelector{}
	auth := &fakeAuth{res: approved()}
	pub := &fakePublisher{}
	k, err := New(*cfg, Deps{Selector: sel, Authenticator: auth, Relay: &fakeRelay{}, Publisher: pub, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	for k.Status().State != StateIdle {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k.Identify(worker4bench) != nil {
			time.Sleep(10 * time.Microsecond)
		}
		for {
			pub.mu.Lock()
			n := len(pub.events)
			pub.mu.Unlock()
			if n == i+1 {
				break
			}
			time.Sleep(10 * time.Microsecond)
		}
	}
	b.StopTimer()
	cancel()
	<-done
}

var worker4bench = Identity{SubmissionID: "sub-bench", Source: SourceHTTP}

func config4bench(b *testing.B) *Options {
	cfg := testConfigTB(b)
	cfg.Policy.Cooldown = 0
	cfg.Policy.Attempts.Max = 0
	return cfg
}
