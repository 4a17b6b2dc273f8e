package mqtt

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/facegate/facegate/record"
)

func FuzzParseSiteEvent(f *testing.F) {
	f.Add([]byte(`{"event_id":"e1","seq":1,"ts":"2026-11-22T07:31:05.412Z","site":"plant-a","gate":"entrance","decision":"granted","reason":[],"zone_from":"outside","zone_to":"site","direction":"entry","site_view":"site"}`))
	f.Add([]byte(`{"event_id":"e1","ts":"2026-11-22T07:31:05.412+01:00","site":"s","gate":"g","decision":"denied","passback":"passback_same_zone","mode":"muster","evacuation_id":"x"}`))
	f.Add([]byte(`{"event_id":"e1","ts":"x","zone_to":"\u0000"}`))
	f.Add([]byte(`{}{}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		ev, err := ParseSiteEvent(p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error outside the vocabulary: %v", err)
			}
			return
		}
		if ev.EventID == "" || ev.Site == "" || ev.Gate == "" || validEvent(ev) != nil {
			t.Fatalf("accepted an invalid event %+v", ev)
		}
		for _, s := range []string{ev.ZoneFrom, ev.ZoneTo, ev.Site, ev.Gate, ev.EvacuationID, ev.UserID} {
			if !utf8.ValidString(s) || len(s) > 128 {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

func FuzzParseSitePulse(f *testing.F) {
	f.Add([]byte(`{"kind":"relay","event_id":"e1","ts":"2026-11-22T07:31:09.418Z","site":"plant-a","gate":"entrance","relay":"not_energised","reason":"relay_failed","duration_ms":0}`))
	f.Add([]byte(`{"kind":"relay","event_id":"","relay":"pulsed"}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := ParseSitePulse(p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error outside the vocabulary: %v", err)
			}
			return
		}
		if r.Kind != record.PulseKind || validPulse(r) != nil || r.Gate == "" || r.Site == "" {
			t.Fatalf("accepted an invalid relay result %+v", r)
		}
	})
}

func FuzzParseEvacuation(f *testing.F) {
	f.Add([]byte(`{"active":true,"id":"evac-1","since":"2026-11-22T07:45:12.000Z","ts":"2026-11-22T07:45:12.000Z","by":"ops","reason":"drill","gate":"entrance"}`))
	f.Add([]byte(`{"active":false,"id":"","since":"","ts":""}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		e, err := ParseEvacuation(p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error outside the vocabulary: %v", err)
			}
			return
		}
		if e.ID == "" || e.validate() != nil {
			t.Fatalf("accepted an invalid state %+v", e)
		}
		if e.Newer(e) {
			t.Fatalf("a state is newer than itself: %+v", e)
		}
	})
}

func FuzzVerifySite(f *testing.F) {
	ev := "facegate/plant-a/cmd/evacuate"
	good, _ := SignSiteCommand(testSecret, SiteCommandBody{TS: testStart.Unix() - 3600, Nonce: "nonce-0000000001", Topic: ev, Action: "start"})
	f.Add(ev, good)
	f.Add("facegate/plant-a/cmd/correct", []byte(`{"body":{"ts":1,"user_id":"w"},"sig":"00"}`))
	f.Add(ev, []byte(`{"body":null,"sig":null}`))
	f.Add("facegate/plant-a/cmd/unlock", []byte(`{"body":{"ts":1,"submission_id":"sha256:00"},"sig":"00"}`))
	f.Fuzz(func(t *testing.T, topic string, p []byte) {
		v, _, _ := newFuzzVerifier(t)
		v.AddSiteTopic(ev, testSecret)
		v.AddSiteTopic("facegate/plant-a/cmd/correct", testSecret)
		v.AddSiteTopic("facegate/plant-a/cmd/unlock", testSecret)
		if _, err := v.VerifySite(topic, p); err == nil {
			t.Fatalf("accepted a payload the fuzzer made without the secret: %s %q", topic, p)
		}
	})
}

// FuzzHandleSite feeds any message on any topic to a gate with zones on:
// nothing panics, and only valid records reach the handler.
func FuzzHandleSite(f *testing.F) {
	f.Add("facegate/plant-a/exit/event", []byte(`{"event_id":"e1","ts":"2026-11-22T07:31:05.412Z","site":"plant-a","gate":"exit","decision":"granted"}`), false)
	f.Add("facegate/plant-a/exit/event/relay", []byte(`{"kind":"relay","event_id":"e1","ts":"2026-11-22T07:31:05.412Z","site":"plant-a","gate":"exit","relay":"pulsed"}`), false)
	f.Add("facegate/plant-a/exit/site/snapshot", []byte(`{"v":1}`), true)
	f.Add("facegate/plant-a/evacuation", []byte(`{"active":true,"id":"e","since":"2026-11-22T07:45:12Z","ts":"2026-11-22T07:45:12Z"}`), true)
	f.Add("facegate/plant-a/cmd/correct", []byte(`{"body":{},"sig":"00"}`), false)
	f.Add("facegate/plant-a/cmd/unlock", []byte(`{"body":{},"sig":"00"}`), false)
	f.Add("facegate/plant-a/exit/site/unlocks", []byte(validUnlockList(2)), true)
	f.Fuzz(func(t *testing.T, topic string, p []byte, retained bool) {
		h := &siteRecorder{}
		s := newSiteLink(SiteOptions{Enabled: true, Topic: "facegate/plant-a", Handler: h, Commands: true, Queue: 1}, "facegate/plant-a/entrance")
		c := &Client{opts: Options{Site: "plant-a"}, log: quietLogger(), clock: SystemClock{}, site: s, done: make(chan struct{})}
		c.verifier, _, _ = newFuzzVerifier(t)
		c.verifier.AddSiteTopic(s.topics.CmdEvacuate, testSecret)
		c.verifier.AddSiteTopic(s.topics.CmdCorrect, testSecret)
		c.verifier.AddSiteTopic(s.topics.CmdUnlock, testSecret)
		if !s.owns(topic) {
			return
		}
		c.handleSite(inbound{topic: topic, payload: p, retained: retained})
		for _, ev := range h.events {
			if ev.Site != "plant-a" || siteGateOf("facegate/plant-a", topic, "event") != ev.Gate {
				t.Fatalf("delivered %+v from %s", ev, topic)
			}
		}
		if len(h.cmds) > 0 {
			t.Fatalf("accepted an unsigned command %+v", h.cmds)
		}
	})
}
