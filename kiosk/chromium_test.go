package kiosk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/cdp"
	"github.com/facegate/facegate/record"
)

// TestPageInChromium loads the kiosk page in headless Chromium while a
// granted result is on screen and checks what the page rendered from the
// server-sent events. The screenshot is kept in $FACEGATE_ARTIFACTS (or the
// test's temporary directory). Skips without Chromium.
func TestPageInChromium(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no chromium on PATH (Debian package chromium; make deps installs it)")
	}
	if testing.Short() {
		t.Skip("-short: skipping the headless browser")
	}
	cfg := testConfig(t)
	cfg.Policy.Cooldown = time.Minute // keep the result on screen
	cfg.Page.Title = "North gate"
	cfg.Page.ShowName = true
	sel := &fakeSelector{}
	auth := &fakeAuth{res: approved()}
	pub := &fakePublisher{}
	k, err := New(*cfg, Deps{Selector: sel, Authenticator: auth, Relay: &fakeRelay{}, Publisher: pub,
		Preview: &fakePreview{}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer(k.Handler())
	defer srv.Close()
	for k.Status().State != StateIdle {
		time.Sleep(5 * time.Millisecond)
	}
	if err := k.Identify(Identity{SubmissionID: "s1", DisplayName: "Ana Díaz", Source: SourceRoster}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for k.Status().State != StateCooldown && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	art := os.Getenv("FACEGATE_ARTIFACTS")
	if art == "" {
		art = t.TempDir()
	}
	shot := filepath.Join(art, "kiosk-granted.png")
	run := func(args ...string) string {
		t.Helper()
		cctx, ccancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer ccancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
			"--user-data-dir=" + t.TempDir(), "--window-size=1280,800", "--timeout=3000"}
		out, err := exec.CommandContext(cctx, bin, append(base, args...)...).Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", args, err)
		}
		if os.Getenv("KIOSK_DUMP") != "" {
			t.Log(string(out))
		}
		return string(out)
	}
	dom := run("--dump-dom", srv.URL+"/")
	for _, want := range []string{`id="result" class="granted"`, "Welcome", `<div id="result-name" dir="auto">Ana Díaz</div>`, `data-state="cooldown"`, "North gate"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if strings.Contains(dom, `id="result" hidden`) {
		t.Error("result panel still hidden")
	}
	run("--screenshot="+shot, srv.URL+"/")
	if st, err := os.Stat(shot); err != nil || st.Size() < 1000 {
		t.Errorf("screenshot %s: %v", shot, err)
	} else {
		t.Logf("screenshot: %s", shot)
	}
}

// screenSizes are the screens the page must fit: the official Raspberry
// Pi 7" touchscreen, common HDMI panels, and two in portrait.
var screenSizes = []struct{ w, h int }{
	{800, 480}, {1024, 600}, {1280, 720}, {1920, 1080}, {480, 800}, {720, 1280},
}

// pageStatusJSON is a Status as the page receives it, with the fields
// other parts of the daemon may add (the head-turn challenge).
type pageStatusJSON struct {
	Status
	Challenge string `json:"challenge,omitempty"`
}

// stateFeed is a stand-in /events that sends the state the test sets, or
// refuses the stream (503) once down, as a stopped daemon's proxy would.
type stateFeed struct {
	mu      sync.Mutex
	cur     pageStatusJSON
	changed chan struct{}
	down    bool
}

func (f *stateFeed) set(s pageStatusJSON, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cur, f.down = s, down
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *stateFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	first := true
	for {
		f.mu.Lock()
		cur, ch, down := f.cur, f.changed, f.down
		f.mu.Unlock()
		if down {
			if first {
				http.Error(w, "down", http.StatusServiceUnavailable)
			}
			return
		}
		if first {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("retry: 500\n\n"))
			first = false
		}
		_, _ = w.Write(sseMessage("state", cur))
		w.(http.Flusher).Flush()
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
}

// layoutProbe measures what a worker must read: the instruction (or the
// result), the state label, the name and the challenge arrow. For each it
// gives the extent of its text, its font size and the points of its text
// where something else is on top (or nothing: outside the viewport).
const layoutProbe = `JSON.stringify((function () {
  const $ = (id) => document.getElementById(id);
  const res = $("result");
  if (!res || !$("arrow-tip")) { return { vw: innerWidth, vh: innerHeight, els: [] }; }
  const shown = !res.hidden;
  const out = { vw: innerWidth, vh: innerHeight, scrollW: document.documentElement.scrollWidth,
    scrollH: document.documentElement.scrollHeight, result: shown, state: document.body.dataset.state,
    message: $("message").textContent, health: $("health").textContent, healthClass: $("health").dataset.health, els: [] };
  const ids = shown ? ["result-mark", "result-text", "result-name"] : ["message", "state", "name", "arrow"];
  for (const id of ids) {
    const el = $(id);
    if (!el || el.hidden || el.getClientRects().length === 0) { continue; }
    if (id !== "arrow" && el.textContent.trim() === "") { continue; }
    let rects;
    if (id === "arrow") {
      rects = [el.querySelector("svg").getBoundingClientRect()];
    } else {
      const rg = document.createRange();
      rg.selectNodeContents(el);
      rects = Array.from(rg.getClientRects()).filter((q) => q.width > 0 && q.height > 0);
    }
    const e = { id: id, text: el.textContent, font: parseFloat(getComputedStyle(el).fontSize),
      l: 1e9, t: 1e9, r: -1e9, b: -1e9, covered: [] };
    for (const q of rects) {
      e.l = Math.min(e.l, q.left); e.t = Math.min(e.t, q.top); e.r = Math.max(e.r, q.right); e.b = Math.max(e.b, q.bottom);
      for (const [fx, fy] of [[0.5, 0.5], [0.08, 0.5], [0.92, 0.5], [0.5, 0.15], [0.5, 0.85]]) {
        const hit = document.elementFromPoint(q.left + q.width * fx, q.top + q.height * fy);
        if (!hit || !(hit === el || el.contains(hit))) {
          e.covered.push(hit ? (hit.id || hit.tagName) : "nothing (outside the viewport)");
        }
      }
    }
    if (id === "arrow") {
      const tip = $("arrow-tip").getBoundingClientRect();
      e.dir = (tip.left + tip.right) / 2 < (e.l + e.r) / 2 ? "left" : "right";
    }
    out.els.push(e);
  }
  const turn = $("turn");
  if (turn && !turn.hidden && turn.getClientRects().length > 0) {
    const a = turn.getBoundingClientRect(), f = $("turn-fill").getBoundingClientRect();
    const bw = parseFloat(getComputedStyle(turn).borderLeftWidth);
    const hit = document.elementFromPoint(a.left + a.width / 2, a.top + a.height / 2);
    out.turn = { l: a.left, t: a.top, r: a.right, b: a.bottom, bw: bw, fl: f.left, fr: f.right, fw: f.width,
      full: "full" in turn.dataset, now: turn.getAttribute("aria-valuenow"), covered: !(hit && (hit === turn || turn.contains(hit))) };
  }
  const box = $("box"), img = $("preview");
  if (!box.hidden && img) {
    const a = box.getBoundingClientRect(), p = img.getBoundingClientRect();
    out.boxInside = a.left >= p.left - 8 && a.top >= p.top - 8 && a.right <= p.right + 8 && a.bottom <= p.bottom + 8;
  }
  return out;
})())`

type layoutElement struct {
	ID      string   `json:"id"`
	Text    string   `json:"text"`
	Font    float64  `json:"font"`
	L       float64  `json:"l"`
	T       float64  `json:"t"`
	R       float64  `json:"r"`
	B       float64  `json:"b"`
	Covered []string `json:"covered"`
	Dir     string   `json:"dir"`
}

type layout struct {
	W           float64         `json:"vw"`
	H           float64         `json:"vh"`
	SW          float64         `json:"scrollW"`
	SH          float64         `json:"scrollH"`
	Result      bool            `json:"result"`
	State       string          `json:"state"`
	Message     string          `json:"message"`
	Health      string          `json:"health"`
	HealthClass string          `json:"healthClass"`
	Els         []layoutElement `json:"els"`
	BoxInside   *bool           `json:"boxInside"`
	Turn        *turnMeterBox   `json:"turn"`
}

// turnMeterBox is where the turn meter and its fill are on the screen.
type turnMeterBox struct {
	L, T, R, B float64
	BW         float64 `json:"bw"`
	FL         float64 `json:"fl"`
	FR         float64 `json:"fr"`
	FW         float64 `json:"fw"`
	Full       bool    `json:"full"`
	Now        string  `json:"now"`
	Covered    bool    `json:"covered"`
}

// TestPageFitsEveryScreen renders the page at each screen size in each
// state and checks that the instruction and the result are entirely on
// screen, not covered by anything, and at least 6 % of the screen height
// (readable from 2 m); the challenge arrow points to the worker's side.
// The states come from a stand-in event stream, so that states other parts
// add (challenge) and the lost connection are covered too. Screenshots go
// to $FACEGATE_ARTIFACTS/kiosk-sizes, else test/artifacts/kiosk-sizes in
// the repository (kept; the path is logged). Skips without Chromium.
func TestPageFitsEveryScreen(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the headless browser")
	}
	cdp.ChromiumPath(t)
	cfg := testConfig(t)
	cfg.Page.Title = "North gate"
	cfg.Page.ShowName = true
	k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{res: approved()}, Relay: &fakeRelay{},
		Preview: &fakePreview{frames: [][]byte{testJPEG(t, 1280, 720), testJPEG(t, 1280, 720), testJPEG(t, 1280, 720)}}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	feed := &stateFeed{changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET /events", feed)
	mux.Handle("/", k.Handler())
	srv := httptest.NewServer(mux)
	// Cleanups run last first: the browser (registered later) goes before
	// the server waits for its streams.
	t.Cleanup(srv.Close)

	dir := artifactsDir(t, "kiosk-sizes")
	t.Logf("screenshots: %s", dir)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := cdp.Start(t, ctx)
	st := func(state State, msg string) pageStatusJSON {
		return pageStatusJSON{Status: Status{State: state, Message: msg, Health: HealthOK, Since: time.Now().UTC()}}
	}
	face := st(StateCapturing, msgCapturing)
	face.Box = &Box{X: 0.4, Y: 0.25, W: 0.2, H: 0.35}
	named := st(StateIdentified, msgIdentified)
	named.Name = "Ana Díaz"
	left := st("challenge", "Turn your head a little to the left")
	left.Challenge = "left"
	right := st("challenge", "Turn your head a little to the right")
	right.Challenge = "right"
	share := func(v float64) *float64 { return &v }
	halfLeft := left
	halfLeft.Turn = share(0.35)
	fullRight := right
	fullRight.Turn = share(1)
	namedLeft := halfLeft
	namedLeft.Name = "Ana Díaz"
	granted := st(StateGranted, "Welcome")
	granted.Decision, granted.Name = record.DecisionGranted, "Ana Díaz"
	denied := st(StateDenied, "Your badge is not registered — see the site office")
	denied.Decision = record.DecisionDenied
	// The longest coaching message (57 characters).
	stayInView := st(StateDenied, msgStayInView)
	stayInView.Decision = record.DecisionDenied
	failed := st(StateCooldown, "Camera unavailable — see the site office")
	failed.Decision = record.DecisionError
	// The longest display name a roster takes (maxNameLen, 64 characters).
	const longestName = "Maria Fernanda Rodríguez de la Concepción Villalobos Santamaría."
	longName := fullRight
	longName.Name = longestName
	namedLong := named
	namedLong.Name = longestName
	// The relay and the door open (the header's UNLOCKED · DOOR OPEN) in
	// the states with the longest texts.
	granted.Relay, granted.Door = "open", "open"
	grantedLong := granted
	grantedLong.Name = longestName
	cases := []struct {
		name   string
		status pageStatusJSON
		down   bool   // the stream is lost: the page says so after 5 s
		want   string // the instruction or result text
		health string // the header's text
	}{
		{"idle", st(StateIdle, msgIdle), false, msgIdle, "health: ok"},
		{"identified", named, false, msgIdentified, "health: ok"},
		{"capturing", face, false, msgCapturing, "health: ok"},
		{"authenticating", st(StateAuthenticating, msgChecking), false, msgChecking, "health: ok"},
		{"challenge-left", left, false, left.Message, "health: ok"},
		{"challenge-right", right, false, right.Message, "health: ok"},
		{"challenge-left-turning", halfLeft, false, left.Message, "health: ok"},
		{"challenge-right-turned", fullRight, false, right.Message, "health: ok"},
		{"challenge-named", namedLeft, false, left.Message, "health: ok"},
		{"challenge-long-name", longName, false, right.Message, "health: ok"},
		{"identified-long-name", namedLong, false, msgIdentified, "health: ok"},
		{"granted-long-name", grantedLong, false, "Welcome", "health: ok"},
		{"granted", granted, false, "Welcome", "health: ok"},
		{"denied", denied, false, denied.Message, "health: ok"},
		{"denied-longest", stayInView, false, msgStayInView, "health: ok"},
		{"error", failed, false, failed.Message, "health: ok"},
		{"stopped", st(StateStopped, msgStopped), false, msgStopped, "out of service"},
		{"offline", st(StateIdle, msgIdle), true, "Gate offline", "offline"},
	}
	if err := b.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		feed.set(tc.status, tc.down)
		var l layout
		wait := time.Now().Add(20 * time.Second)
		// The name too: two cases in a row can share a message ("granted"
		// after "granted-long-name"), and the page read before the second
		// one's name arrived.
		nameShown := func() string {
			var s string
			_ = b.Eval(ctx, `(document.getElementById("result").hidden ? document.getElementById("name") : document.getElementById("result-name")).textContent`, &s)
			return s
		}
		for {
			l = probeLayout(t, ctx, b)
			if (l.Message == tc.want || (l.Result && resultText(l) == tc.want)) && nameShown() == tc.status.Name {
				break
			}
			if time.Now().After(wait) {
				t.Fatalf("%s: the page shows %q (state %s), want %q", tc.name, l.Message, l.State, tc.want)
			}
			time.Sleep(50 * time.Millisecond)
		}
		for _, sz := range screenSizes {
			name := fmt.Sprintf("%s-%dx%d", tc.name, sz.w, sz.h)
			if err := b.SetViewport(ctx, sz.w, sz.h); err != nil {
				t.Fatal(err)
			}
			for i := 0; ; i++ {
				l = probeLayout(t, ctx, b)
				if int(l.W) == sz.w && int(l.H) == sz.h {
					break
				}
				if i > 100 {
					t.Fatalf("%s: viewport is %vx%v", name, l.W, l.H)
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // the resize handler places the box
			l = probeLayout(t, ctx, b)
			if err := b.Screenshot(ctx, filepath.Join(dir, name+".png")); err != nil {
				t.Fatal(err)
			}
			checkLayout(t, name, l, tc.want, tc.health, tc.status)
		}
	}
}

func probeLayout(t *testing.T, ctx context.Context, b *cdp.Browser) layout {
	t.Helper()
	var l layout
	var raw string
	if err := b.Eval(ctx, layoutProbe, &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		t.Fatalf("layout %s: %v", raw, err)
	}
	return l
}

func resultText(l layout) string {
	for _, e := range l.Els {
		if e.ID == "result-text" {
			return e.Text
		}
	}
	return ""
}

// checkLayout asserts what a worker 2 m away needs of one screen.
func checkLayout(t *testing.T, name string, l layout, want, health string, s pageStatusJSON) {
	t.Helper()
	if l.SW > l.W+0.5 || l.SH > l.H+0.5 {
		t.Errorf("%s: the page scrolls (%vx%v in a %vx%v viewport)", name, l.SW, l.SH, l.W, l.H)
	}
	if l.Health != health {
		t.Errorf("%s: header says %q, want %q", name, l.Health, health)
	}
	if health != "health: ok" && l.HealthClass != "down" {
		t.Errorf("%s: header health shown as %q beside %q", name, l.HealthClass, want)
	}
	main := "message"
	if s.Decision != "" {
		main = "result-text"
		if !l.Result {
			t.Errorf("%s: no result shown", name)
		}
	}
	seen := map[string]layoutElement{}
	for _, e := range l.Els {
		seen[e.ID] = e
		if e.L < -0.5 || e.T < -0.5 || e.R > l.W+0.5 || e.B > l.H+0.5 {
			t.Errorf("%s: #%s %q extends beyond the %vx%v screen: [%.0f,%.0f]-[%.0f,%.0f]", name, e.ID, e.Text, l.W, l.H, e.L, e.T, e.R, e.B)
		}
		if len(e.Covered) > 0 {
			t.Errorf("%s: #%s %q is covered by %v", name, e.ID, e.Text, e.Covered)
		}
	}
	m, ok := seen[main]
	switch {
	case !ok:
		t.Errorf("%s: #%s not shown", name, main)
	case m.Text != want:
		t.Errorf("%s: #%s says %q, want %q", name, main, m.Text, want)
	case m.Font < 0.06*l.H:
		t.Errorf("%s: #%s font %.1fpx is below 6%% of the screen height (%.1fpx)", name, main, m.Font, 0.06*l.H)
	}
	if s.Decision != "" {
		if mk, ok := seen["result-mark"]; !ok || mk.Font < 0.12*l.H {
			t.Errorf("%s: result mark missing or small: %+v", name, mk)
		}
		if s.Name != "" && seen["result-name"].Text != s.Name {
			t.Errorf("%s: result names %q, want %q", name, seen["result-name"].Text, s.Name)
		}
	} else if s.State != StateStopped || !strings.Contains(want, "offline") {
		if _, ok := seen["state"]; !ok && !strings.Contains(want, "offline") {
			t.Errorf("%s: the state label is not shown", name)
		}
	}
	a, arrow := seen["arrow"]
	if s.Challenge != "" {
		switch {
		case !arrow:
			t.Errorf("%s: no arrow for the challenge", name)
		case a.Dir != s.Challenge:
			t.Errorf("%s: the arrow points %s, want %s (the worker's own side as they face the screen)", name, a.Dir, s.Challenge)
		case a.B-a.T < 0.1*l.H:
			t.Errorf("%s: the arrow is %.0fpx high, below 10%% of the screen", name, a.B-a.T)
		}
	} else if arrow {
		t.Errorf("%s: an arrow outside the challenge", name)
	}
	checkTurnMeter(t, name, l, s)
	if s.Box != nil && (l.BoxInside == nil || !*l.BoxInside) {
		t.Errorf("%s: the face box is not over the preview (%v)", name, l.BoxInside)
	}
}

// testJPEG is a grey frame with a lighter oval where a face would be.
func testJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			dx, dy := float64(x-w/2)/float64(w/8), float64(y-h*2/5)/float64(h/5)
			c := color.RGBA{60, 64, 70, 255}
			if dx*dx+dy*dy < 1 {
				c = color.RGBA{190, 160, 140, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// checkTurnMeter: in the challenge the meter is on screen, uncovered, at
// least 3 % of the screen high, filled by the status's share from the
// side away from the arrow towards it, and green (data-full) only when
// full; outside the challenge it is not shown.
func checkTurnMeter(t *testing.T, name string, l layout, s pageStatusJSON) {
	t.Helper()
	m := l.Turn
	if s.Challenge == "" {
		if m != nil {
			t.Errorf("%s: a turn meter outside the challenge", name)
		}
		return
	}
	if m == nil {
		t.Errorf("%s: no turn meter in the challenge", name)
		return
	}
	share := 0.0
	if s.Turn != nil {
		share = *s.Turn
	}
	inner := m.R - m.L - 2*m.BW
	switch {
	case m.L < -0.5 || m.T < -0.5 || m.R > l.W+0.5 || m.B > l.H+0.5:
		t.Errorf("%s: the turn meter [%.0f,%.0f]-[%.0f,%.0f] extends beyond the %vx%v screen", name, m.L, m.T, m.R, m.B, l.W, l.H)
	case m.Covered:
		t.Errorf("%s: the turn meter is covered", name)
	case m.B-m.T < 0.03*l.H:
		t.Errorf("%s: the turn meter is %.0fpx high, below 3%% of the screen", name, m.B-m.T)
	case math.Abs(m.FW-share*inner) > 1.5:
		t.Errorf("%s: the meter is filled %.0f of %.0fpx, want %.0f%%", name, m.FW, inner, 100*share)
	case share > 0 && s.Challenge == "left" && math.Abs(m.FR-(m.R-m.BW)) > 1.5:
		t.Errorf("%s: the fill [%.0f,%.0f] does not grow from the right towards the arrow on the left (meter [%.0f,%.0f])", name, m.FL, m.FR, m.L, m.R)
	case share > 0 && s.Challenge == "right" && math.Abs(m.FL-(m.L+m.BW)) > 1.5:
		t.Errorf("%s: the fill [%.0f,%.0f] does not grow from the left towards the arrow on the right (meter [%.0f,%.0f])", name, m.FL, m.FR, m.L, m.R)
	case m.Full != (share >= 1):
		t.Errorf("%s: the meter shows full=%v at %.2f", name, m.Full, share)
	case m.Now != fmt.Sprint(math.Round(100*share)):
		t.Errorf("%s: aria-valuenow %q at %.2f", name, m.Now, share)
	}
}
