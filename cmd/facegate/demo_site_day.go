package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/facegate/facegate/internal/demoscene"
	"github.com/facegate/facegate/mqtt/broker"
	"github.com/facegate/facegate/record"
)

// demoSiteName is the demo site: its gates publish under facegate/demo/<gate>.
const demoSiteName = "demo"

// siteStep is one moment of the scripted day: a worker at a gate (and the
// decision the script expects), or an operator's action.
type siteStep struct {
	Gate, User string
	// Want is the expected decision; Reason, when set, a code it carries.
	Want   record.Decision
	Reason string
	// Action is "evacuate" or "end_evacuation" instead of a passage.
	Action string
	Say    string
}

// demoSiteDay is the scripted day. Workers 1-5 come in, 6 never does.
func demoSiteDay() []siteStep {
	w := func(i int) string { return demoSiteWorkers[i-1].User }
	granted, denied := record.DecisionGranted, record.DecisionDenied
	return []siteStep{
		{Gate: "entrance", User: w(1), Want: granted, Say: "the day starts: workers badge in at the entrance"},
		{Gate: "entrance", User: w(2), Want: granted},
		{Gate: "entrance", User: w(3), Want: granted},
		{Gate: "entrance", User: w(4), Want: granted},
		{Gate: "entrance", User: w(5), Want: granted},
		{Gate: "zone-b-door", User: w(6), Want: denied, Reason: "passback_no_path", Say: "worker 6 tries the hazardous zone without having entered the site"},
		{Gate: "entrance", User: w(1), Want: denied, Reason: "passback_same_zone", Say: "worker 1 passes the badge back: already inside"},
		{Gate: "zone-b-door", User: w(1), Want: granted, Say: "workers 1 and 2 go into zone-b (maximum 2)"},
		{Gate: "zone-b-door", User: w(2), Want: granted},
		{Gate: "zone-b-door", User: w(3), Want: denied, Reason: "occupancy_full", Say: "zone-b is full: worker 3 waits"},
		{Gate: "zone-b-door", User: w(1), Want: granted, Say: "worker 1 comes out of zone-b"},
		{Gate: "zone-b-door", User: w(3), Want: granted, Say: "now worker 3 may go in"},
		{Gate: "exit", User: w(5), Want: granted, Say: "worker 5 leaves the site for lunch and comes back"},
		{Gate: "entrance", User: w(5), Want: granted},
		{Action: "evacuate", Say: "fire: the site is evacuated"},
		{Gate: "assembly", User: w(1), Want: granted, Say: "workers check in at the assembly point"},
		{Gate: "assembly", User: w(2), Want: granted},
		{Gate: "assembly", User: w(5), Want: granted},
		{Action: "end_evacuation", Say: "the operator ends the evacuation"},
	}
}

// siteOutcome is the demo's last line: where everyone is, as every gate
// agrees, and who was missing when the evacuation ended.
type siteOutcome struct {
	Presence map[string][]string `json:"presence"`
	Missing  []string            `json:"missing"`
}

// runDemoSite is `facegate demo --site`: see demoSite.
func runDemoSite(ctx context.Context, a *app, seconds int, mqttURL string) int {
	var deadline time.Time
	if seconds > 0 {
		deadline = time.Now().Add(time.Duration(seconds) * time.Second)
	}
	if err := demoSite(ctx, a, deadline, mqttURL); err != nil {
		fmt.Fprintf(a.stderr, "facegate demo --site: %v\n", err)
		return exitError
	}
	return exitOK
}

// demoSite runs the site on this machine: every gate a full daemon, the
// scripted day, then the gates' agreed presence as the last stdout line.
// With a deadline the day is compressed to end before it (or cut short).
func demoSite(ctx context.Context, a *app, deadline time.Time, mqttURL string) error {
	start := time.Now()
	// Five gates' loggers, the broker's deliveries and the story all write
	// to stderr, the deliveries and the last line to stdout: one write at a
	// time, so that lines never interleave.
	a = &app{env: a.env, stdin: a.stdin, stdout: &lockedWriter{w: a.stdout}, stderr: &lockedWriter{w: a.stderr}}
	images, err := demoscene.ImagesDir(a.getenv)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "facegate-demo-site-")
	if err != nil {
		return fmt.Errorf("temporary folder: %w", err)
	}
	defer os.RemoveAll(tmp)

	out := &siteDemoOutput{stdout: a.stdout, stderr: a.stderr, seen: map[string]bool{}}
	events := "facegate/" + demoSiteName + "/+/event"
	if mqttURL == "" {
		// The broker outlives ctx: the gates publish "offline" to it while
		// they shut down.
		b, err := broker.Start(context.WithoutCancel(ctx), "127.0.0.1:0",
			broker.WithSubscription(events, func(_ string, payload []byte, _ bool) { out.event(payload) }))
		if err != nil {
			return err
		}
		defer b.Close()
		mqttURL = b.URL()
	} else {
		if err := clearSiteRetained(ctx, mqttURL, demoSiteName, demoSiteGates); err != nil {
			return err
		}
		unsubscribe, err := subscribeEvents(ctx, mqttURL, events, out.event)
		if err != nil {
			return err
		}
		defer unsubscribe()
	}

	fmt.Fprintln(a.stderr, "facegate demo --site: starting the FaceAuth emulator and the site's gates…")
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	run, err := startSite(ctx, siteOptions{Site: demoSiteName, BrokerURL: mqttURL, Dir: tmp, Images: images,
		Gates: demoSiteGates, Workers: demoSiteWorkers, ZoneBMax: demoSiteZoneBMax, Log: log})
	if err != nil {
		return err
	}
	defer run.close()
	for _, g := range run.gates {
		fmt.Fprintf(a.stderr, "facegate demo --site: %-12s http://%s/  (site page /site)\n", g.spec.Name, g.d.addrString())
	}
	fmt.Fprintf(a.stderr, "facegate demo --site: MQTT %s, decisions on %s\n", mqttURL, events)

	outcome, dayErr := run.day(ctx, demoSiteDay(), deadline, a.stderr)
	// Every decision the gates made is printed before the last line.
	made := 0
	for _, g := range run.gates {
		made += g.decisions()
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	if !out.waitFor(wctx, made) {
		fmt.Fprintf(a.stderr, "facegate demo --site: %d of %d decisions arrived from the broker\n", out.count(), made)
	}
	cancel()
	out.close()
	if outcome != nil {
		line, err := json.Marshal(outcome)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s\n", line)
	}
	fmt.Fprintf(a.stderr, "facegate demo --site: %d decisions in %s\n", made, time.Since(start).Round(time.Second))
	return dayErr
}

// day plays the steps, paced to end before deadline (zero: a pace to
// watch), and returns the outcome the gates agree on. A step whose
// decision is not the script's is reported and makes day fail at the end;
// so do gates that do not agree.
func (r *siteRun) day(ctx context.Context, steps []siteStep, deadline time.Time, narrate io.Writer) (*siteOutcome, error) {
	const (
		watchPace = 1500 * time.Millisecond
		// reserve is kept at the end for the gates to settle and stop.
		reserve = 3 * time.Second
	)
	var problems []string
	var missing []string
	began := time.Now()
	evacuated := false
	for i, st := range steps {
		if ctx.Err() != nil {
			problems = append(problems, "interrupted")
			break
		}
		pause := watchPace
		if !deadline.IsZero() {
			left := time.Until(deadline) - reserve
			if left <= 0 {
				fmt.Fprintf(narrate, "facegate demo --site: out of time: the day stops after %d of %d steps\n", i, len(steps))
				break
			}
			perStep := time.Since(began) / time.Duration(max(i, 1))
			pause = min(watchPace, max(0, left/time.Duration(len(steps)-i)-perStep))
		}
		if i > 0 && pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
		if st.Say != "" {
			fmt.Fprintf(narrate, "— %s\n", st.Say)
		}
		switch st.Action {
		case "evacuate":
			if err := r.evacuate(ctx, true); err != nil {
				problems = append(problems, err.Error())
				continue
			}
			evacuated = true
		case "end_evacuation":
			// The muster list as it stands when the operator ends it.
			state, err := r.agree(ctx)
			if err != nil {
				problems = append(problems, err.Error())
			}
			missing = state.Missing
			if err := r.evacuate(ctx, false); err != nil {
				problems = append(problems, err.Error())
				continue
			}
			evacuated = false
		default:
			ev, err := r.pass(ctx, st.Gate, st.User)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			if ev.Decision != st.Want || (st.Reason != "" && !slices.Contains(ev.Reason, st.Reason)) {
				p := fmt.Sprintf("step %d: %s at %s: %s %v, the script expects %s %s", i+1, st.User, st.Gate,
					ev.Decision, ev.Reason, st.Want, st.Reason)
				fmt.Fprintf(narrate, "facegate demo --site: %s\n", p)
				problems = append(problems, p)
			}
		}
		// The next step may be at another gate: every gate must know this
		// one's outcome first (as a real site's gates would by then).
		if _, err := r.agree(ctx); err != nil {
			problems = append(problems, fmt.Sprintf("after step %d: %v", i+1, err))
		}
	}
	if evacuated {
		state, _ := r.agree(ctx)
		missing = state.Missing
	}
	final, err := r.agree(context.WithoutCancel(ctx))
	if err != nil {
		problems = append(problems, err.Error())
	}
	outcome := &siteOutcome{Presence: final.Presence, Missing: missing}
	if outcome.Missing == nil {
		outcome.Missing = []string{}
	}
	if len(problems) > 0 {
		return outcome, fmt.Errorf("%w: %s", errSiteStep, strings.Join(problems, "; "))
	}
	return outcome, nil
}

// agreeTimeout bounds how long the gates may take to agree after a step.
const agreeTimeout = 10 * time.Second

// agree waits until every running gate (or only the named ones) holds
// every grant and check-in made so far (a later fact of the same person
// counts) and reports the same site state, and returns it;
// errSiteDisagree (with each gate's view) when they do not within
// agreeTimeout. Equal views alone are not enough: right after a decision
// every gate may still show the state before it.
func (r *siteRun) agree(ctx context.Context, only ...string) (siteOutcome, error) {
	ctx, cancel := context.WithTimeout(ctx, agreeTimeout)
	defer cancel()
	for {
		views := map[string]siteOutcome{}
		var first *siteOutcome
		same := true
		for _, g := range r.gates {
			if g.d == nil || (len(only) > 0 && !slices.Contains(only, g.spec.Name)) {
				continue
			}
			if !g.caughtUp() {
				same = false
			}
			v := g.view()
			views[g.spec.Name] = v
			if first == nil {
				first = &v
			} else if !reflect.DeepEqual(*first, v) {
				same = false
			}
		}
		if first == nil {
			return siteOutcome{}, fmt.Errorf("%w: no gate is running", errSiteDisagree)
		}
		if same {
			return *first, nil
		}
		select {
		case <-ctx.Done():
			b, _ := json.Marshal(views)
			return *first, fmt.Errorf("%w: %s", errSiteDisagree, b)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// siteDemoOutput prints each decision once, as received from the broker:
// the event's JSON on stdout, a line for people on stderr.
type siteDemoOutput struct {
	stdout, stderr io.Writer

	mu      sync.Mutex
	seen    map[string]bool
	closed  bool
	changed chan struct{}
}

func (o *siteDemoOutput) event(payload []byte) {
	var ev record.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		fmt.Fprintf(o.stderr, "facegate demo --site: unreadable event on the broker: %v\n", err)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.seen[ev.EventID] { // delivery is at least once
		return
	}
	o.seen[ev.EventID] = true
	fmt.Fprintf(o.stdout, "%s\n", strings.TrimSpace(string(payload)))
	zones := ""
	if ev.ZoneTo != "" {
		zones = ev.ZoneFrom + "→" + ev.ZoneTo
	}
	fmt.Fprintf(o.stderr, "  %-12s %-7s %-12s %-16s %s — %q\n", ev.Gate, strings.ToUpper(string(ev.Decision)), ev.UserID,
		zones, strings.Join(ev.Reason, ","), ev.Message)
	if o.changed != nil {
		close(o.changed)
		o.changed = nil
	}
}

func (o *siteDemoOutput) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

// waitFor waits until n distinct decisions were printed.
func (o *siteDemoOutput) waitFor(ctx context.Context, n int) bool {
	for {
		o.mu.Lock()
		if len(o.seen) >= n {
			o.mu.Unlock()
			return true
		}
		if o.changed == nil {
			o.changed = make(chan struct{})
		}
		ch := o.changed
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}

// close stops printing: the outcome is the last line.
func (o *siteDemoOutput) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
