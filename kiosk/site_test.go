package kiosk

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/record"
)

// fakeSite is a SiteGuard and SiteBoard: a fixed passage and verdict, an
// evacuation switch, and everything the kiosk recorded.
type fakeSite struct {
	mu      sync.Mutex
	passage SitePassage
	verdict SiteVerdict
	evac    SiteEvacuation
	checked []string
	events  []record.Event
	relays  []record.PulseResult
	report  SiteReport
	fixes   []SiteCorrection
	fixErr  error
	fixed   SiteCorrected
	evacs   []bool
	// onEvacuation, when set, runs at each Evacuation call (unlocked).
	onEvacuation func()
}

func newFakeSite() *fakeSite {
	return &fakeSite{passage: SitePassage{From: "outside", To: "site", Direction: record.DirectionEntry},
		verdict: SiteVerdict{Allowed: true, View: record.SiteViewSite}}
}

func (f *fakeSite) Check(person string, now time.Time) (SitePassage, SiteVerdict) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked = append(f.checked, person)
	return f.passage, f.verdict
}

func (f *fakeSite) Evacuation() SiteEvacuation {
	f.mu.Lock()
	hook := f.onEvacuation
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.evac
}

func (f *fakeSite) Record(ev record.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev)
}

func (f *fakeSite) RecordRelay(r record.PulseResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.relays = append(f.relays, r)
}

func (f *fakeSite) Report() SiteReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.report
}

func (f *fakeSite) Correct(c SiteCorrection) (SiteCorrected, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fixErr != nil {
		return SiteCorrected{}, f.fixErr
	}
	f.fixes = append(f.fixes, c)
	return f.fixed, nil
}

func (f *fakeSite) Evacuate(start bool, by, reason string) (SiteEvacuation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.evacs = append(f.evacs, start)
	f.evac = SiteEvacuation{Active: start, ID: "ev-1", By: by, Reason: reason}
	return f.evac, nil
}

func (f *fakeSite) setEvacuation(e SiteEvacuation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.evac = e
}

func (f *fakeSite) recorded() ([]record.Event, []record.PulseResult, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events), slices.Clone(f.relays), slices.Clone(f.checked)
}

// newSiteRig is newRig with a site.
func newSiteRig(t *testing.T, cfg *Options, site *fakeSite) *rig {
	t.Helper()
	if cfg == nil {
		cfg = testConfig(t)
	}
	r := &rig{cfg: cfg, sel: &fakeSelector{window: 600 * time.Millisecond}, auth: &fakeAuth{res: approved(), delay: 800 * time.Millisecond},
		relay: &fakeRelay{}, pub: &fakePublisher{}, brk: &fakeBroker{connected: true}}
	k, err := New(*cfg, Deps{Selector: r.sel, Authenticator: r.auth, Relay: r.relay, Publisher: r.pub, Broker: r.brk,
		Site: site, SiteBoard: site, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r.k = k
	return r
}

// The configuration file's modes (modeGate, modeMuster).
const (
	modeGate   = "gate"
	modeMuster = "muster"
)

func siteConfig(t *testing.T, mode string) *Options {
	cfg := testConfig(t)
	cfg.Zones.Muster = mode == modeMuster
	return cfg
}

func TestSiteSessionOutcomes(t *testing.T) {
	evac := SiteEvacuation{Active: true, ID: "evac-7", Since: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), By: "fire-panel"}
	tests := []struct {
		name     string
		mode     string
		setup    func(f *fakeSite, r *rig)
		decision record.Decision
		reason   string
		message  string
		apiCalls int
		pulses   int
		alert    string
		zones    bool   // the event carries zone_from/zone_to/direction/site_view
		passback string // the event's passback field
		evacID   string
		relay    string // the event's relay field
		relayRes string // what RecordRelay got ("" none)
		checks   int
	}{
		{name: "allowed passage", decision: record.DecisionGranted, reason: ReasonApproved, message: "Welcome", apiCalls: 1, pulses: 1,
			zones: true, relay: record.RelayPending, relayRes: record.RelayPulsed, checks: 1},
		{name: "hard passback denies with its coaching", setup: func(f *fakeSite, r *rig) {
			f.verdict = SiteVerdict{Allowed: false, Code: ReasonPassbackSameZone, View: record.SiteViewSite}
		}, decision: record.DecisionDenied, reason: ReasonPassbackSameZone, message: "Already inside — see the site office", apiCalls: 1, zones: true, checks: 1},
		{name: "no path into a hazardous zone", setup: func(f *fakeSite, r *rig) {
			f.passage = SitePassage{From: "site", To: "zone-b", Direction: record.DirectionEntry}
			f.verdict = SiteVerdict{Allowed: false, Code: ReasonPassbackNoPath, View: record.SiteViewLocal}
		}, decision: record.DecisionDenied, reason: ReasonPassbackNoPath, message: "No entry recorded on your way here — see the site office", apiCalls: 1, zones: true, checks: 1},
		{name: "zone full", setup: func(f *fakeSite, r *rig) {
			f.verdict = SiteVerdict{Allowed: false, Code: ReasonOccupancyFull, View: record.SiteViewSite}
		}, decision: record.DecisionDenied, reason: ReasonOccupancyFull, message: "Zone full — wait for someone to leave", apiCalls: 1, zones: true, checks: 1},
		{name: "unknown hard code still denies", setup: func(f *fakeSite, r *rig) {
			f.verdict = SiteVerdict{Allowed: false, Code: "passback_brand_new", View: record.SiteViewSite}
		}, decision: record.DecisionDenied, reason: "passback_brand_new", message: siteFallbackCoach, apiCalls: 1, zones: true, checks: 1},
		{name: "soft passback allows and alerts", setup: func(f *fakeSite, r *rig) {
			f.verdict = SiteVerdict{Allowed: true, Soft: true, Code: ReasonPassbackSameZone, View: record.SiteViewSite}
		}, decision: record.DecisionGranted, reason: ReasonApproved, message: "Welcome", apiCalls: 1, pulses: 1, alert: AlertPassbackSoft,
			zones: true, passback: ReasonPassbackSameZone, relay: record.RelayPending, relayRes: record.RelayPulsed, checks: 1},
		{name: "soft occupancy allows and alerts", setup: func(f *fakeSite, r *rig) {
			f.verdict = SiteVerdict{Allowed: true, Soft: true, Code: ReasonOccupancyFull, View: record.SiteViewSite}
		}, decision: record.DecisionGranted, reason: ReasonApproved, apiCalls: 1, pulses: 1, alert: AlertOccupancyReached,
			zones: true, passback: ReasonOccupancyFull, relay: record.RelayPending, relayRes: record.RelayPulsed, checks: 1},
		{name: "relay failure takes the grant back", setup: func(f *fakeSite, r *rig) { r.relay.err = errors.New("gpio busy") },
			decision: record.DecisionGranted, reason: ReasonApproved, apiCalls: 1, alert: ReasonRelayFailed,
			zones: true, relay: record.RelayPending, relayRes: record.RelayNotEnergised, checks: 1},
		{name: "API rejection never asks the site", setup: func(f *fakeSite, r *rig) { r.auth.res = rejected("face_compare_underscore") },
			decision: record.DecisionDenied, reason: "face_compare_underscore", apiCalls: 1},
		{name: "evacuation refuses before the camera", setup: func(f *fakeSite, r *rig) { f.evac = evac },
			decision: record.DecisionDenied, reason: ReasonEvacuation, message: "Evacuation — leave by the nearest exit", evacID: "evac-7", checks: 1},
		{name: "evacuation leaves the way out open", setup: func(f *fakeSite, r *rig) {
			f.evac = evac
			f.passage = SitePassage{From: "site", To: "outside", Direction: record.DirectionExit, Exit: true}
		}, decision: record.DecisionGranted, reason: ReasonApproved, apiCalls: 1, pulses: 1, zones: true, evacID: "evac-7",
			relay: record.RelayPending, relayRes: record.RelayPulsed, checks: 2},
		{name: "evacuation starting mid-session refuses", setup: func(f *fakeSite, r *rig) {
			r.auth.delay = 2 * time.Second
			go func() {
				time.Sleep(1500 * time.Millisecond) // the face is taken, the API call runs
				f.setEvacuation(evac)
			}()
		}, decision: record.DecisionDenied, reason: ReasonEvacuation, apiCalls: 1, evacID: "evac-7", zones: false, checks: 1},
		{name: "muster check-in", mode: modeMuster, setup: func(f *fakeSite, r *rig) { f.evac = evac },
			decision: record.DecisionGranted, reason: ReasonMustered, message: "Checked in at assembly point", apiCalls: 1, evacID: "evac-7"},
		{name: "muster outside an evacuation says so", mode: modeMuster,
			decision: record.DecisionDenied, reason: ReasonNoEvacuation, message: "No evacuation in progress"},
		{name: "muster rejected face checks nobody in", mode: modeMuster, setup: func(f *fakeSite, r *rig) {
			f.evac = evac
			r.auth.res = rejected("face_compare_underscore")
		}, decision: record.DecisionDenied, reason: "face_compare_underscore", apiCalls: 1, evacID: "evac-7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mode := tc.mode
				if mode == "" {
					mode = modeGate
				}
				site := newFakeSite()
				r := newSiteRig(t, siteConfig(t, mode), site)
				if tc.setup != nil {
					tc.setup(site, r)
				}
				stop := r.start(t)
				if err := r.k.Identify(worker); err != nil {
					t.Fatal(err)
				}
				require.Eventually(t, func() bool { return len(r.events()) > 0 }, time.Minute, 100*time.Millisecond)
				time.Sleep(time.Minute)
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				evs, _, alerts := r.pub.snapshot()
				if len(evs) != 1 {
					t.Fatalf("%d events, want 1", len(evs))
				}
				ev := evs[0]
				if ev.Decision != tc.decision || !slices.Contains(ev.Reason, tc.reason) {
					t.Errorf("decision %s %v, want %s with %s", ev.Decision, ev.Reason, tc.decision, tc.reason)
				}
				if tc.message != "" && ev.Message != tc.message {
					t.Errorf("message %q, want %q", ev.Message, tc.message)
				}
				if got := r.auth.calls(); got != tc.apiCalls {
					t.Errorf("%d API calls, want %d", got, tc.apiCalls)
				}
				if got := r.relay.count(); got != tc.pulses {
					t.Errorf("%d pulses, want %d", got, tc.pulses)
				}
				if tc.alert == "" && len(alerts) != 0 || tc.alert != "" && !slices.ContainsFunc(alerts, func(a Alert) bool { return a.Code == tc.alert }) {
					t.Errorf("alerts %+v, want %q", alerts, tc.alert)
				}
				p := site.passage
				if got := (ev.ZoneFrom == p.From && ev.ZoneTo == p.To && ev.Direction == p.Direction && ev.SiteView == site.verdict.View); got != tc.zones ||
					!tc.zones && (ev.ZoneTo != "" || ev.SiteView != "") {
					t.Errorf("zones %q→%q %q view %q, want them: %v", ev.ZoneFrom, ev.ZoneTo, ev.Direction, ev.SiteView, tc.zones)
				}
				if ev.Passback != tc.passback || ev.EvacuationID != tc.evacID || ev.Relay != tc.relay {
					t.Errorf("passback %q evacuation %q relay %q, want %q %q %q", ev.Passback, ev.EvacuationID, ev.Relay, tc.passback, tc.evacID, tc.relay)
				}
				if wantMode := map[string]string{modeMuster: record.ModeMuster}[mode]; ev.Mode != wantMode {
					t.Errorf("mode %q, want %q", ev.Mode, wantMode)
				}
				// The site saw this gate's own event at once, and the pulse's end.
				recEvs, recRelays, checked := site.recorded()
				if len(recEvs) != 1 || recEvs[0].EventID != ev.EventID || recEvs[0].Decision != ev.Decision {
					t.Errorf("site recorded %+v, want the event %s", recEvs, ev.EventID)
				}
				if tc.relayRes == "" && len(recRelays) != 0 || tc.relayRes != "" && (len(recRelays) != 1 || recRelays[0].Relay != tc.relayRes || recRelays[0].EventID != ev.EventID) {
					t.Errorf("site relay results %+v, want %q", recRelays, tc.relayRes)
				}
				if len(checked) != tc.checks || tc.checks > 0 && checked[0] != worker.UserID {
					t.Errorf("site checks %v, want %d for %s", checked, tc.checks, worker.UserID)
				}
				if mode == modeMuster && len(r.pub.relayResults()) != 0 {
					t.Errorf("a muster kiosk wrote relay results %+v", r.pub.relayResults())
				}
			})
		})
	}
}

// The site tracks people by user id: an identity without one is checked
// as "" (the guard decides), never by a submission id.
func TestSitePersonWithoutUserID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		site := newFakeSite()
		r := newSiteRig(t, siteConfig(t, modeGate), site)
		stop := r.start(t)
		r.identify(t, Identity{SubmissionID: "sub-9", Source: SourceHTTP}, 1)
		stop()
		if _, _, checked := site.recorded(); len(checked) != 1 || checked[0] != "" {
			t.Fatalf("checked %q, want one check of \"\"", checked)
		}
	})
}

func TestMusterKioskNeverOpens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		site := newFakeSite()
		r := newSiteRig(t, siteConfig(t, modeMuster), site)
		stop := r.start(t)
		defer stop()
		if err := r.k.RemoteOpen(RemoteOpen{Source: SourceMQTT, By: "ops"}); !errors.Is(err, ErrSourceDisabled) {
			t.Fatalf("remote open on a muster kiosk: %v", err)
		}
		if got := r.k.Status().Message; got != msgMusterNoEvac {
			t.Errorf("idle outside an evacuation: %q", got)
		}
		site.setEvacuation(SiteEvacuation{Active: true, ID: "e1"})
		r.k.SetEvacuation(SiteEvacuation{Active: true, ID: "e1", By: "panel"})
		if got := r.k.Status().Message; got != msgMusterIdle {
			t.Errorf("idle during an evacuation: %q", got)
		}
	})
}

func TestEvacuationIdleScreenAndAlert(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		site := newFakeSite()
		r := newSiteRig(t, siteConfig(t, modeGate), site)
		stop := r.start(t)
		defer stop()
		if got := r.k.Status().Message; got != msgIdle {
			t.Fatalf("idle: %q", got)
		}
		e := SiteEvacuation{Active: true, ID: "e1", By: "fire-panel", Reason: "alarm zone 3"}
		site.setEvacuation(e)
		r.k.SetEvacuation(e)
		if got := r.k.Status().Message; got != msgEvacuation {
			t.Errorf("idle during an evacuation: %q", got)
		}
		site.setEvacuation(SiteEvacuation{})
		r.k.SetEvacuation(SiteEvacuation{ID: "e1", By: "marshal"})
		if got := r.k.Status().Message; got != msgIdle {
			t.Errorf("idle after the evacuation: %q", got)
		}
		_, _, alerts := r.pub.snapshot()
		if len(alerts) != 2 || alerts[0].Code != AlertEvacuation || !strings.Contains(alerts[0].Message, "fire-panel") ||
			alerts[1].Code != AlertEvacuation || !strings.Contains(alerts[1].Message, "ended by marshal") {
			t.Errorf("alerts %+v", alerts)
		}
	})
}

// The screen's status says an evacuation is in progress, so that the page
// labels it "evacuation", not "idle" (until 2026-12-08 only the idle
// message changed), and says so no longer once it ended.
func TestEvacuationIsInTheScreensStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		site := newFakeSite()
		r := newSiteRig(t, siteConfig(t, modeGate), site)
		stop := r.start(t)
		defer stop()
		if r.k.Status().Evacuation {
			t.Fatal("an evacuation on the screen before any")
		}
		e := SiteEvacuation{Active: true, ID: "e1", By: "fire-panel"}
		site.setEvacuation(e)
		r.k.SetEvacuation(e)
		if s := r.k.Status(); !s.Evacuation || s.State != StateIdle {
			t.Errorf("during an evacuation the screen's status is %+v, want evacuation", s)
		}
		site.setEvacuation(SiteEvacuation{})
		r.k.SetEvacuation(SiteEvacuation{ID: "e1", By: "marshal"})
		if s := r.k.Status(); s.Evacuation {
			t.Errorf("after the evacuation the screen's status is %+v", s)
		}
	})
}

func TestSiteCoachingCoversItsCodes(t *testing.T) {
	for _, code := range []string{ReasonPassbackSameZone, ReasonPassbackNoPath, ReasonOccupancyFull, ReasonEvacuation, ReasonMustered, ReasonNoEvacuation, ReasonSiteUnknown} {
		if m, ok := Coach(code); !ok || m == "" {
			t.Errorf("Coach(%q) = %q, %v", code, m, ok)
		}
		if !knownReasons[code] {
			t.Errorf("%q is not a known metrics reason", code)
		}
	}
}

// An assembly-point kiosk without the site guard would turn a match into a
// plain grant and pulse the relay: New refuses it.
func TestMusterNeedsTheSiteGuard(t *testing.T) {
	cfg := siteConfig(t, modeMuster)
	_, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{res: approved()}, Relay: &fakeRelay{},
		Publisher: &fakePublisher{}, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "muster") {
		t.Fatalf("New of a muster kiosk without Deps.Site: %v, want an error", err)
	}
}

// A check-in at the assembly point is not held up by the door's rules: a
// broker outage (require_broker) or an anti-passback grant in memory.
func TestMusterCheckInIgnoresTheDoorRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(cfg *Options)
		after func(t *testing.T, r *rig)
	}{
		{name: "broker down", setup: func(cfg *Options) { cfg.Policy.RequireBroker = true },
			after: func(t *testing.T, r *rig) {
				r.brk.mu.Lock()
				r.brk.connected = false
				r.brk.mu.Unlock()
			}},
		{name: "anti-passback hard", setup: func(cfg *Options) {
			cfg.Policy.AntiPassback.Mode = "hard"
			cfg.Policy.AntiPassback.Window = time.Hour
		}, after: func(t *testing.T, r *rig) {
			if err := r.k.passback.grant(worker.SubmissionID, r.k.now(), time.Hour); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := siteConfig(t, modeMuster)
				tc.setup(cfg)
				site := newFakeSite()
				site.setEvacuation(SiteEvacuation{Active: true, ID: "evac-1"})
				r := newSiteRig(t, cfg, site)
				tc.after(t, r)
				stop := r.start(t)
				r.identify(t, worker, 1)
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				ev := r.events()[0]
				if ev.Decision != record.DecisionGranted || !slices.Contains(ev.Reason, ReasonMustered) {
					t.Errorf("check-in %s %v, want granted %s", ev.Decision, ev.Reason, ReasonMustered)
				}
				if r.relay.count() != 0 {
					t.Errorf("%d pulses at the assembly point", r.relay.count())
				}
			})
		})
	}
}

// SetEvacuation asks the guard for the idle message without holding the
// kiosk's lock (the guard takes its own locks; under k.mu that is a lock
// order the kiosk must not impose).
func TestSetEvacuationAsksTheGuardUnlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		site := newFakeSite()
		r := newSiteRig(t, siteConfig(t, modeGate), site)
		stop := r.start(t)
		defer stop()
		var underLock atomic.Bool
		site.mu.Lock()
		site.onEvacuation = func() {
			// Anyone else holds k.mu only briefly; the caller's own hold
			// never ends while it waits here.
			for range 1000 {
				if r.k.mu.TryLock() {
					r.k.mu.Unlock()
					return
				}
				runtime.Gosched()
			}
			underLock.Store(true)
		}
		site.mu.Unlock()
		e := SiteEvacuation{Active: true, ID: "e1", By: "panel"}
		site.setEvacuation(e)
		r.k.SetEvacuation(e)
		if underLock.Load() {
			t.Error("SiteGuard.Evacuation called with the kiosk's lock held")
		}
		if got := r.k.Status().Message; got != msgEvacuation {
			t.Errorf("idle during an evacuation: %q", got)
		}
	})
}

// With a site, its alert series are scraped at 0 from the start; without
// one they are not there.
func TestSiteAlertCountersStartAtZero(t *testing.T) {
	codes := []string{AlertEvacuation, AlertPassbackSoft, AlertOccupancyReached, AlertOccupancyBelow, AlertSiteUnreachable, "site_state"}
	got := scrape(t, newSiteRig(t, siteConfig(t, modeGate), newFakeSite()).k)
	for _, code := range codes {
		if want := `facegate_operator_alerts_total{code="` + code + `"} 0`; !strings.Contains(got, want) {
			t.Errorf("with a site, no %s", want)
		}
	}
	if got := scrape(t, newRig(t, testConfig(t)).k); strings.Contains(got, `code="`+AlertEvacuation+`"`) {
		t.Errorf("without a site, an %s series", AlertEvacuation)
	}
}

// A submission-id identity (a QR code FG1:S:<submission>:<user>, identify
// over HTTP or MQTT) names its own user id, and the FaceAuth API checks the
// face against the submission only; the site tracks people by user id.
// Until 2026-12-07 Ana, whose face matches kyc-ana, could show
// FG1:S:kyc-ana:w-bob: the site checked and recorded w-bob (a fresh id each
// entry dodged passback_same_zone; at a muster kiosk it checked Bob off the
// missing list). The roster binds the two both ways (found by a red-team
// pass).
func TestClaimedUserIDIsBoundByTheRoster(t *testing.T) {
	const roster = "badge_id,submission_id,user_id,display_name\n" +
		"B-ANA,kyc-ana,w-ana,Ana\n" +
		"B-BOB,kyc-bob,w-bob,Bob\n" +
		"B-TMP,kyc-tmp,,Visitor\n"
	tests := []struct {
		payload string
		refused bool
		person  string // the user id the site is asked about and the event carries
	}{
		{payload: "FG1:S:kyc-ana:w-bob", refused: true},
		{payload: "FG1:S:kyc-ana", person: "w-ana"},
		{payload: "FG1:S:kyc-ana:w-ana", person: "w-ana"},
		{payload: "FG1:S:kyc-eve:w-bob", refused: true}, // Bob is listed under kyc-bob
		{payload: "FG1:S:kyc-eve:w-eve", person: "w-eve"},
		{payload: "FG1:S:kyc-tmp:w-bob", refused: true},   // listed without a user id, w-bob under kyc-bob
		{payload: "FG1:S:kyc-tmp:w-tmp", person: "w-tmp"}, // a user id listed nowhere
	}
	for _, mode := range []string{modeGate, modeMuster} {
		for _, tt := range tests {
			t.Run(mode+" "+tt.payload, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					cfg := siteConfig(t, mode)
					path := filepath.Join(t.TempDir(), "roster.csv")
					if err := os.WriteFile(path, []byte(roster), 0o600); err != nil {
						t.Fatal(err)
					}
					cfg.Identity.RosterFile = path
					site := newFakeSite()
					if mode == modeMuster {
						site.evac = SiteEvacuation{Active: true, ID: "evac-1"}
					}
					r := newSiteRig(t, cfg, site)
					stop := r.start(t)
					err := r.k.IdentifyQR(tt.payload)
					time.Sleep(time.Minute)
					if err := stop(); err != nil {
						t.Fatal(err)
					}
					if tt.refused && !errors.Is(err, ErrInvalidIdentity) || !tt.refused && err != nil {
						t.Errorf("IdentifyQR(%s) = %v, want refused %v", tt.payload, err, tt.refused)
					}
					evs := r.events()
					_, _, checked := site.recorded()
					if tt.refused {
						if len(evs) != 0 || len(checked) != 0 {
							t.Fatalf("a refused identity made events %+v, site checks %v", evs, checked)
						}
						return
					}
					// A muster kiosk asks nothing: its event's user id is the check-in.
					if len(evs) != 1 || evs[0].UserID != tt.person || (mode == modeGate && !slices.Contains(checked, tt.person)) {
						t.Fatalf("events %+v, site checks %v: want one event and check for %s", evs, checked, tt.person)
					}
				})
			})
		}
	}
}
