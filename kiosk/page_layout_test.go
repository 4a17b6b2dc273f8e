package kiosk

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestPageChallengeWithACapitalisedLongNameFits: the roster takes display
// names of up to 64 characters, and rosters exported from HR systems are
// often in capitals. TestPageFitsEveryScreen checks the longest name in
// lower case only. In capitals (wider glyphs, one more line), in the
// challenge at the Pi's 800x480, the panel overflows at both ends: the
// name's first line goes under the header and the state label the guard
// reads goes under the footer or off the screen.
func TestPageChallengeWithACapitalisedLongNameFits(t *testing.T) {
	cfg := testConfig(t)
	cfg.Page.Title = "North gate"
	cfg.Page.ShowName = true
	ctx, b, feed, _, _ := livePage(t, cfg)
	for _, name := range []string{
		"MARIA FERNANDA RODRÍGUEZ DE LA CONCEPCIÓN VILLALOBOS SANTAMARÍA.",
		"MAXIMILIAN ALEXANDER WOLFGANG VON WARTENBERG-MÜHLHAUSEN GRÜNWALD",
	} {
		if n := utf8.RuneCountInString(name); n > maxNameLen || !validName(name) {
			t.Fatalf("%q (%d characters) is not a name the roster takes", name, n)
		}
		for _, dir := range []string{"left", "right"} {
			share := 0.5
			s := pageStatusJSON{Status: Status{State: StateChallenge, Message: challengeMessage[dir], Name: name,
				Health: HealthOK, Since: time.Now().UTC(), Turn: &share}, Challenge: dir}
			l := showStatus(t, ctx, b, feed, s)
			shot := pageShot(t, ctx, b, "challenge-caps-name-"+dir+"-"+name[:4])
			before := t.Failed()
			checkLayout(t, "800x480 challenge-"+dir+" "+name[:10]+"…", l, s.Message, "health: ok", s)
			if !before && t.Failed() {
				t.Logf("screenshot: %s", shot)
			}
		}
	}
}

// TestPageScreenShowsTheRelayAndTheDoor: the daemon sends the relay line
// and the door sensor to the page (Status.Relay, Status.Door; SetRelay
// "for the screen", SetDoor "for the screen"), and docs/gate.md promises
// that an exit press's pulse shows "on the kiosk screen … like a grant's
// (open, then closed)". A guard at the gate should see at a glance that
// the gate is unlocked (an exit press, an evacuation hold, a relay stuck
// after a fault) or the door stands open. The page draws neither: with the
// relay energised and the door open, the screen looks exactly as with
// both closed.
func TestPageScreenShowsTheRelayAndTheDoor(t *testing.T) {
	cfg := testConfig(t)
	ctx, b, feed, _, _ := livePage(t, cfg)
	const visibleText = `document.body.innerText`
	closed := pageStatusJSON{Status: Status{State: StateIdle, Message: msgIdle, Health: HealthOK, Since: time.Now().UTC(),
		Relay: "closed", Door: "closed"}}
	showStatus(t, ctx, b, feed, closed)
	var textClosed string
	if err := b.Eval(ctx, visibleText, &textClosed); err != nil {
		t.Fatal(err)
	}
	open := closed
	open.Message = msgEvacuation // an evacuation holds the relay open
	open.Relay, open.Door = "open", "open"
	showStatus(t, ctx, b, feed, open)
	shot := pageShot(t, ctx, b, "relay-and-door-open-not-shown")
	var textOpen string
	if err := b.Eval(ctx, visibleText, &textOpen); err != nil {
		t.Fatal(err)
	}
	var marks string
	if err := b.Eval(ctx, `JSON.stringify([document.body.dataset.relay || "", document.body.dataset.door || "", `+
		`document.querySelectorAll("[data-relay],[data-door],#relay,#door").length])`, &marks); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(textOpen, "UNLOCKED") || !strings.Contains(textOpen, "DOOR OPEN") || marks != `["open","open",1]` {
		t.Errorf("relay energised and door open, the screen says only %q (%s; %s)", textOpen, marks, shot)
	}
	if strings.Contains(textClosed, "UNLOCKED") || strings.Contains(textClosed, "DOOR OPEN") {
		t.Errorf("relay and door closed, the screen says %q", textClosed)
	}
}

// TestPageEvacuationLabel: during an evacuation the state label under
// the instruction read IDLE; it says EVACUATION, and IDLE again after.
func TestPageEvacuationLabel(t *testing.T) {
	cfg := testConfig(t)
	ctx, b, feed, _, _ := livePage(t, cfg)
	label := func() string {
		var got string
		if err := b.Eval(ctx, `document.getElementById("state").innerText`, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	evac := pageStatusJSON{Status: Status{State: StateIdle, Message: msgEvacuation, Health: HealthOK, Since: time.Now().UTC(), Evacuation: true}}
	showStatus(t, ctx, b, feed, evac)
	if got := label(); got != "EVACUATION" {
		t.Errorf("during an evacuation the state label reads %q (%s)", got, pageShot(t, ctx, b, "evacuation-label"))
	}
	after := evac
	after.Message, after.Evacuation = msgIdle, false
	showStatus(t, ctx, b, feed, after)
	if got := label(); got != "IDLE" {
		t.Errorf("after the evacuation the state label reads %q", got)
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// TestPageGuardLabelsReadable: what a guard reads at a glance on the
// Pi's 800x480 (the state label under the instruction, the health in the
// header: "health: down", "offline", "out of service") is smaller than a
// readable 18 px: the state label is 3.2vh (15.4 px, grey #888 on #111),
// the header 3.6vh (17.3 px).
func TestPageGuardLabelsReadable(t *testing.T) {
	cfg := testConfig(t)
	ctx, b, feed, _, _ := livePage(t, cfg)
	s := pageStatusJSON{Status: Status{State: StateIdle, Message: msgIdle, Health: HealthDown, Since: time.Now().UTC()}}
	showStatus(t, ctx, b, feed, s)
	shot := pageShot(t, ctx, b, "guard-labels-small")
	var sizes map[string]float64
	var raw string
	if err := b.Eval(ctx, `JSON.stringify({state: parseFloat(getComputedStyle(document.getElementById("state")).fontSize),
		health: parseFloat(getComputedStyle(document.getElementById("health")).fontSize)})`, &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(raw), &sizes); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"state", "health"} {
		if sizes[id] < 18 {
			t.Errorf("#%s is %.1f px at 800x480, below 18 px (%s)", id, sizes[id], shot)
		}
	}
}

// TestPageRightToLeftNamesAndAnOfflinePicture: a name in Arabic or Hebrew
// is laid out right to left (it sat on the left, its words in the wrong
// order around Latin initials); offline, the preview's last frame is
// dimmed, so that nobody takes it for the camera.
func TestPageRightToLeftNamesAndAnOfflinePicture(t *testing.T) {
	cfg := testConfig(t)
	ctx, b, feed, _, _ := livePage(t, cfg)
	s := pageStatusJSON{Status: Status{State: StateIdentified, Message: msgIdentified, Health: HealthOK, Since: time.Now().UTC(), Name: "مريم الحسيني"}}
	showStatus(t, ctx, b, feed, s)
	var dir string
	if err := b.Eval(ctx, `getComputedStyle(document.getElementById("name")).direction`, &dir); err != nil {
		t.Fatal(err)
	}
	if dir != "rtl" {
		t.Errorf("an Arabic name is laid out %q, want rtl", dir)
	}
	feed.set(s, true) // the daemon away
	deadline := time.Now().Add(20 * time.Second)
	for {
		var opacity string
		if err := b.Eval(ctx, `getComputedStyle(document.getElementById("preview")).opacity`, &opacity); err != nil {
			t.Fatal(err)
		}
		if opacity != "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offline, the preview's last frame is shown as live (opacity %s)", opacity)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
