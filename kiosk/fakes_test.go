package kiosk

import (
	"context"
	"errors"
	"image"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/record"
)

// fakeSelector plays a script: the reasons (one per 100 ms), then an
// acceptable face for window, then the face. hang makes it wait for ctx
// instead (hangBefore: never an acceptable face; hangAfter: capturing
// never ends). err is returned after the window instead of the face.
type fakeSelector struct {
	mu         sync.Mutex
	reasons    []string
	window     time.Duration
	faces      int
	err        error
	hangBefore bool
	hangAfter  bool
	calls      int
}

func (f *fakeSelector) SelectFace(ctx context.Context, progress func(Progress)) (Face, error) {
	f.mu.Lock()
	f.calls++
	reasons, window, faces, ferr, hb, ha := f.reasons, f.window, f.faces, f.err, f.hangBefore, f.hangAfter
	f.mu.Unlock()
	frame := image.Pt(1280, 720)
	for _, r := range reasons {
		progress(Progress{Reason: r, Box: image.Rect(100, 100, 200, 200), Frame: frame})
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return Face{}, err
		}
	}
	if hb {
		<-ctx.Done()
		return Face{}, ctx.Err()
	}
	start := time.Now()
	progress(Progress{Box: image.Rect(500, 200, 780, 480), Frame: frame})
	if ha {
		<-ctx.Done()
		return Face{}, ctx.Err()
	}
	if err := sleepCtx(ctx, window); err != nil {
		return Face{}, err
	}
	if ferr != nil {
		return Face{}, ferr
	}
	if faces == 0 {
		faces = 1
	}
	return Face{JPEG: []byte("\xff\xd8jpeg\xff\xd9"), CapturedAt: start.Add(window / 2), Faces: faces,
		Box: image.Rect(500, 200, 780, 480), Frame: frame, Score: 0.9, Detail: fakeDetail, Signature: fakeSignature}, nil
}

// fakeDetail and fakeSignature are the chosen face's detail and texture
// the fake selector reports.
const fakeDetail = 0.0825

var fakeSignature = []float32{0.25, 0.5, 0.25}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fakeAuth answers after delay with res or err; block waits for ctx.
type fakeAuth struct {
	mu    sync.Mutex
	res   *faceauth.Result
	err   error
	delay time.Duration
	block bool
	reqs  []faceauth.Request
	// first are errors returned, one per call, before res/err.
	first []error
}

func (f *fakeAuth) Authenticate(ctx context.Context, req faceauth.Request) (*faceauth.Result, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	res, err, delay, block := f.res, f.err, f.delay, f.block
	if len(f.first) > 0 {
		res, err = nil, f.first[0]
		f.first = f.first[1:]
	}
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil, &faceauth.APIError{Code: faceauth.CodeCanceled, Class: faceauth.ClassTransient, Err: ctx.Err()}
	}
	if err := sleepCtx(ctx, delay); err != nil {
		return nil, &faceauth.APIError{Code: faceauth.CodeCanceled, Class: faceauth.ClassTransient, Err: err}
	}
	return res, err
}

func (f *fakeAuth) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// fakeRelay records pulses. err refuses the pulse (never energised);
// after is returned once the line was energised (cut or stuck); during runs
// while it is energised (after the energised callback).
type fakeRelay struct {
	mu     sync.Mutex
	pulses []time.Duration
	err    error
	after  error
	during func()
}

func (f *fakeRelay) Pulse(ctx context.Context, d time.Duration, energised func()) error {
	f.mu.Lock()
	if f.err != nil {
		f.mu.Unlock()
		return f.err
	}
	f.pulses = append(f.pulses, d)
	after, during := f.after, f.during
	f.mu.Unlock()
	energised()
	if during != nil {
		during()
	}
	return after
}

func (f *fakeRelay) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pulses)
}

// fakePublisher records everything.
type fakePublisher struct {
	mu     sync.Mutex
	events []record.Event
	pulses []record.PulseResult
	states []State
	health []Health
	alerts []Alert
	err    error
	// eventErr, when set, fails PublishEvent only (an outbox that refuses a
	// decision: disk full).
	eventErr error
	// eventDelay holds PublishEvent that long (a slow outbox or card).
	eventDelay time.Duration
}

func (f *fakePublisher) PublishEvent(ev record.Event) error {
	f.mu.Lock()
	d := f.eventDelay
	f.mu.Unlock()
	time.Sleep(d)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev)
	if f.eventErr != nil {
		return f.eventErr
	}
	return f.err
}

func (f *fakePublisher) PublishPulse(p record.PulseResult) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulses = append(f.pulses, p)
	return f.err
}

func (f *fakePublisher) relayResults() []record.PulseResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]record.PulseResult(nil), f.pulses...)
}

func (f *fakePublisher) PublishState(s Status) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states = append(f.states, s.State)
	return nil
}

func (f *fakePublisher) PublishHealth(h Health) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.health = append(f.health, h)
	return nil
}

func (f *fakePublisher) PublishAlert(a Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alerts = append(f.alerts, a)
	return nil
}

func (f *fakePublisher) snapshot() ([]record.Event, []State, []Alert) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]record.Event(nil), f.events...), append([]State(nil), f.states...), append([]Alert(nil), f.alerts...)
}

// fakeBroker is a BrokerMonitor.
type fakeBroker struct {
	mu        sync.Mutex
	connected bool
	depth     int
}

func (f *fakeBroker) setDepth(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.depth = n
}

func (f *fakeBroker) Connected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connected
}

func (f *fakeBroker) OutboxDepth() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.depth
}

func (f *fakeBroker) OutboxCapacity() int { return fakeOutboxCapacity }

// fakeOutboxCapacity is the fake broker's outbox bound.
const fakeOutboxCapacity = 100_000

// fakeCamera is a CameraMonitor.
type fakeCamera struct {
	mu sync.Mutex
	h  CameraHealth
}

func (f *fakeCamera) CameraHealth() CameraHealth {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.h
}

// fakePinger answers Ping with err.
type fakePinger struct{ err error }

func (f fakePinger) Ping(ctx context.Context) error { return f.err }

// fakePreview serves n frames then ends.
type fakePreview struct{ frames [][]byte }

func (f *fakePreview) NextPreview(ctx context.Context, after uint64) ([]byte, uint64, error) {
	if after >= uint64(len(f.frames)) {
		<-ctx.Done()
		return nil, 0, ctx.Err()
	}
	return f.frames[after], after + 1, nil
}

func f64(v float64) *float64 { return &v }

func approved() *faceauth.Result {
	return &faceauth.Result{AuthenticationID: "auth-1", Status: faceauth.StatusApproved,
		CreateTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Scores:     faceauth.Scores{FaceSimilarity: f64(99.5), Occluded: f64(99.9), FaceCover: f64(93.3), HeadCover: f64(87)}}
}

func rejected(codes ...faceauth.FailCode) *faceauth.Result {
	return &faceauth.Result{AuthenticationID: "auth-2", Status: faceauth.StatusRejected,
		Scores: faceauth.Scores{FaceSimilarity: f64(20)}, FailCodes: codes, Comments: []string{"no"}}
}

func apiErr(code string, class faceauth.Class) error {
	return &faceauth.APIError{HTTPStatus: 400, Code: code, Message: "m", TraceID: "t", Class: class, Err: faceauth.ErrRejectedByAPI}
}

// rig is a kiosk with fakes.
type rig struct {
	k     *Kiosk
	cfg   *Options
	sel   *fakeSelector
	auth  *fakeAuth
	relay *fakeRelay
	pub   *fakePublisher
	brk   *fakeBroker
}

func testConfig(t *testing.T) *Options { return testConfigTB(t) }

// testConfigTB is the configuration file's defaults (config.Default, as
// cmd/facegate maps them) with a temporary state directory, plain
// submission ids and a 2 s cooldown.
func testConfigTB(t testing.TB) *Options {
	lim := func(max int, per time.Duration) Limit { return Limit{Max: max, Per: per} }
	return &Options{
		Site: "site", Gate: "gate", StateDir: t.TempDir(),
		RelayPulse: time.Second, APITimeout: 15 * time.Second, FrozenAfter: 10 * time.Second,
		Privacy: record.PrivacyPlain,
		Audit:   AuditOptions{MaxSizeMB: 10, MaxFiles: 5, CropDays: 7},
		Page: PageOptions{Listen: "127.0.0.1:8080", Title: "Face check", HealthInterval: 30 * time.Second,
			MaxDetectorTime: 500 * time.Millisecond, MinFreeMB: 50, Open: HTTPOpenOptions{PerMinute: 6}},
		Identity: IdentityOptions{Timeout: 10 * time.Second, CaptureTimeout: 5 * time.Second,
			QR: QROptions{Enabled: true, AllowSubmission: true}},
		Policy: PolicyOptions{MaxAge: 5 * time.Second, Cooldown: 2 * time.Second, MaxFaces: 1,
			AntiPassback: AntiPassback{Mode: "off", Window: 5 * time.Minute}, Attempts: lim(5, 5*time.Minute),
			OnRecordFailure: RecordFailureDeny, Liveness: LivenessOff, LivenessLockout: lim(3, 10*time.Minute)},
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newRig(t *testing.T, cfg *Options) *rig {
	t.Helper()
	if cfg == nil {
		cfg = testConfig(t)
	}
	r := &rig{cfg: cfg, sel: &fakeSelector{window: 600 * time.Millisecond}, auth: &fakeAuth{res: approved(), delay: 800 * time.Millisecond},
		relay: &fakeRelay{}, pub: &fakePublisher{}, brk: &fakeBroker{connected: true}}
	k, err := New(*cfg, Deps{Selector: r.sel, Authenticator: r.auth, Relay: r.relay, Publisher: r.pub, Broker: r.brk, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r.k = k
	return r
}

// start runs the kiosk until the returned stop is called; stop returns Run's error.
func (r *rig) start(t *testing.T) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.k.Run(ctx) }()
	require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
	return func() error {
		cancel()
		return <-done
	}
}

// identify hands id to the kiosk and waits (in fake time) for the kiosk's
// n-th event.
func (r *rig) identify(t *testing.T, id Identity, n int) {
	t.Helper()
	if err := r.k.Identify(id); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return len(r.events()) == n }, time.Minute, 100*time.Millisecond)
}

func (r *rig) events() []record.Event {
	ev, _, _ := r.pub.snapshot()
	return ev
}

var errCamera = errors.New("camera unplugged")
