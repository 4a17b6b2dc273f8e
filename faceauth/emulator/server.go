// Package emulator is a local FaceAuth server for tests, the demo and fault
// injection. It speaks the HTTP contract of docs/faceauth.md (POST and GET
// {base}/faceauth), validates requests like the real service, records every
// authentication and serves it back through the history listing.
//
// Its face comparison is a test double, not a biometric matcher: Haar face
// detection, symmetry alignment and LBP histograms (docs/emulator.md). It
// shares nothing with the client but the HTTP contract.
package emulator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// BasePath is the API version prefix; the endpoint is BasePath+"/faceauth".
const BasePath = "/v3"

// maxUpload caps a POST body (the real gateway's limit is unknown; a
// 960x720 JPEG is far below this).
const maxUpload = 10 << 20

// Server is the emulator: an http.Handler. Safe for concurrent use.
type Server struct {
	seed       *Seed
	matcher    *matcher
	projects   map[string]*Project    // by API key
	subs       map[string]*submission // by submission id
	log        *slog.Logger
	now        func() time.Time
	sleep      func(ctx context.Context, d time.Duration) error
	newID      func() string
	mu         sync.Mutex // guards everything below
	records    []Record
	rng        *mrand.Rand
	fired      []int // per fault rule
	httpSrv    *http.Server
	listener   net.Listener
	cascadeDir string
}

type submission struct {
	Submission
	project *Project
	ref     *faceFeatures // nil unless approved
}

// Option configures New.
type Option func(*Server)

// WithClock sets the time source of create_time (tests of paging and dates).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithLogger logs one line per request (default: nothing).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithCascadeDir sets where the Haar cascades are (DefaultCascadeDir).
func WithCascadeDir(dir string) Option { return func(s *Server) { s.cascadeDir = dir } }

// WithSleep replaces the latency wait (tests that must not sleep).
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(s *Server) { s.sleep = sleep }
}

// New validates the seed, analyses every approved submission's reference
// image (an error names a submission whose image is unreadable or has no
// face) and returns the server. The server keeps seed: do not change it
// afterwards. Close frees it.
func New(seed *Seed, opts ...Option) (*Server, error) {
	if seed == nil {
		return nil, fmt.Errorf("%w: nil seed", ErrSeed)
	}
	if err := seed.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		seed: seed, projects: map[string]*Project{}, subs: map[string]*submission{},
		log: slog.New(discard{}), now: time.Now, sleep: sleepCtx, newID: randomID,
		fired: make([]int, len(seed.Faults.Rules)),
	}
	for _, o := range opts {
		o(s)
	}
	s.rng = newRand(seed.Faults.RandomSeed)
	m, err := newMatcher(s.cascadeDir)
	if err != nil {
		return nil, err
	}
	s.matcher = m
	byID := map[string]*Project{}
	for i := range seed.Projects {
		p := &seed.Projects[i]
		s.projects[p.APIKey] = p
		byID[p.ID] = p
	}
	analysed := map[[sha256.Size]byte]*faceFeatures{} // seeds often reuse one photo
	for _, sub := range seed.Submissions {
		e := &submission{Submission: sub, project: byID[sub.Project]}
		if e.project == nil {
			e.project = &seed.Projects[0]
		}
		if sub.Status == StatusApproved {
			img, err := seed.referenceBytes(sub)
			if err != nil {
				m.Close()
				return nil, err
			}
			sum := sha256.Sum256(img)
			if e.ref = analysed[sum]; e.ref == nil {
				e.ref, err = m.analyse(img, true)
				analysed[sum] = e.ref
			}
			if err != nil {
				m.Close()
				return nil, fmt.Errorf("%w: submission %q: reference image: %w", ErrSeed, sub.ID, err)
			}
		}
		s.subs[sub.ID] = e
	}
	return s, nil
}

// Start listens on addr (127.0.0.1:0 when empty) and serves in the
// background. It returns the base URL to give a client, e.g.
// http://127.0.0.1:41234/v3.
func (s *Server) Start(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("emulator: listen: %w", err)
	}
	s.mu.Lock()
	s.listener = l
	s.httpSrv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	srv := s.httpSrv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String() + BasePath, nil
}

// Close stops the listener started by Start (if any) and frees OpenCV.
// Requests in flight are cut.
func (s *Server) Close() error {
	s.mu.Lock()
	srv := s.httpSrv
	s.httpSrv = nil
	s.mu.Unlock()
	var err error
	if srv != nil {
		err = srv.Close()
	}
	s.matcher.mu.Lock()
	s.matcher.Close()
	s.matcher.mu.Unlock()
	return err
}

// Keys returns each project's ID and API key, in seed order (for the
// emulator command, which prints them).
func (s *Server) Keys() [][2]string {
	out := make([][2]string, 0, len(s.seed.Projects))
	for _, p := range s.seed.Projects {
		out = append(out, [2]string{p.ID, p.APIKey})
	}
	return out
}

// Records returns a copy of every authentication recorded so far, oldest first.
func (s *Server) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.records...)
}

// ServeHTTP answers {BasePath}/faceauth.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		s.log.Info("emulator request", "method", r.Method, "status", rec.status, "code", rec.code, "duration", time.Since(start))
	}()
	if p := strings.TrimSuffix(r.URL.Path, "/"); p != BasePath+"/faceauth" {
		writeJSON(rec, http.StatusNotFound, map[string]any{"message": "Not Found"})
		return
	}
	if d := s.seed.Faults.Latency; d > 0 {
		if s.sleep(r.Context(), d) != nil {
			return
		}
	}
	switch r.Method {
	case http.MethodPost:
		s.authenticate(rec, r)
	case http.MethodGet:
		s.history(rec, r)
	default:
		rec.Header().Set("Allow", "GET, POST")
		writeJSON(rec, http.StatusMethodNotAllowed, map[string]any{"message": "Method Not Allowed"})
	}
}

// fault returns the first rule that fires for this request, counting it.
func (s *Server) fault(method, submissionID string) *FaultRule {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.seed.Faults.Rules {
		r := &s.seed.Faults.Rules[i]
		m := strings.ToUpper(r.Method)
		if m == "" {
			m = http.MethodPost
		}
		if m != method || (r.Submission != "" && r.Submission != submissionID) {
			continue
		}
		if r.Times > 0 && s.fired[i] >= r.Times {
			continue
		}
		if r.Rate > 0 && r.Rate < 1 && s.rng.Float64() >= r.Rate {
			continue
		}
		s.fired[i]++
		return r
	}
	return nil
}

// applyFault answers the request according to rule (nothing if the client
// went away during the rule's latency).
func (s *Server) applyFault(w *statusRecorder, r *http.Request, rule *FaultRule, p *Project) {
	if rule.Latency > 0 && s.sleep(r.Context(), rule.Latency) != nil {
		return
	}
	switch {
	case rule.Drop:
		w.code = "drop"
		if hj, ok := w.ResponseWriter.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without an answer
	case rule.Code != "":
		s.apiError(w, p, rule.Code)
	default:
		ct := rule.ContentType
		if ct == "" {
			ct = "text/html"
		}
		w.Header().Set("Content-Type", ct)
		w.code = "status_" + strconv.Itoa(rule.Status)
		w.WriteHeader(rule.Status)
		_, _ = w.Write([]byte(rule.Body))
	}
}

// apiError answers 400 with a documented code in the project's style.
func (s *Server) apiError(w *statusRecorder, p *Project, code string) {
	w.code = code
	msg := errorMessages[code]
	if p != nil && p.ErrorStyle == "camel" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errorCode": code, "Message": msg, "traceId": s.newID()})
		return
	}
	writeJSON(w, http.StatusBadRequest, map[string]any{"error_code": code, "message": msg})
}

func (s *Server) authenticate(w *statusRecorder, r *http.Request) {
	key := r.Header.Get("x-api-key")
	if key == "" {
		s.apiError(w, nil, "required_field_missing")
		return
	}
	p := s.projects[key]
	if p == nil {
		s.apiError(w, nil, "Invalid_projectId")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	if err := r.ParseMultipartForm(maxUpload); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			w.code = "too_large"
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"message": "Request Entity Too Large"})
			return
		}
		s.apiError(w, p, "invalid_data_format")
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	subID := strings.TrimSpace(r.FormValue("submissionId"))
	if rule := s.fault(http.MethodPost, subID); rule != nil {
		s.applyFault(w, r, rule, p)
		return
	}
	files := r.MultipartForm.File["faceImage"]
	if subID == "" || len(files) == 0 {
		s.apiError(w, p, "required_field_missing")
		return
	}
	sub := s.subs[subID]
	if sub == nil || sub.project != p {
		s.apiError(w, p, "Invalid_submissionId")
		return
	}
	if sub.Status != StatusApproved {
		s.apiError(w, p, "invalid_submission_status")
		return
	}
	f, err := files[0].Open()
	if err != nil {
		s.apiError(w, p, "image_processing_error")
		return
	}
	img := make([]byte, files[0].Size)
	_, err = io.ReadFull(f, img)
	_ = f.Close()
	if err != nil {
		s.apiError(w, p, "image_processing_error")
		return
	}
	probe, err := s.matcher.analyse(img, false)
	switch {
	case errors.Is(err, errNotImage):
		s.apiError(w, p, "image_converting_error")
		return
	case errors.Is(err, errTooSmall):
		s.apiError(w, p, "image_processing_error")
		return
	case errors.Is(err, errNoFace):
		s.apiError(w, p, "no_face")
		return
	case err != nil:
		s.apiError(w, p, "detection_server_error")
		return
	}
	s.decide(w, p, sub, probe, r)
}

// decide scores the probe against the reference under the project's
// policy, records the authentication and answers 200.
func (s *Server) decide(w *statusRecorder, p *Project, sub *submission, probe *faceFeatures, r *http.Request) {
	fixed := sub.Scores
	pick := func(v *float64, computed float64) float64 {
		if v != nil {
			return *v
		}
		return computed
	}
	occluded := 55.0 // eyes not found: possibly covered
	if probe.eyes {
		occluded = 95
	}
	type check struct {
		opt               PolicyOption
		key, misspelt     string
		score             float64
		failCode, comment string
	}
	checks := []check{
		{p.Policy.FaceSimilarity, "face_similarity_score", "", pick(fixed.FaceSimilarity, similarity(sub.ref, probe)),
			"face_compare_underscore", "Face compare similarity score is lower than the threshold"},
		{p.Policy.Occlusion, "occluded_score", "", pick(fixed.Occluded, occluded),
			"Face_Occluded_fail", "Face is occluded"},
		{p.Policy.FaceCover, "face_cover_score", "face_cover_socre", pick(fixed.FaceCover, 0),
			"Face_cover_fail", "Protection equipment is not found on Face"},
		{p.Policy.HeadCover, "head_cover_score", "head_cover_socre", pick(fixed.HeadCover, 0),
			"Head_cover_fail", "Protection equipment is not found on Head"},
	}
	scores := map[string]float64{}
	rec := Record{
		ProjectID: p.ID, AuthID: s.newID(), CreateTime: s.now().UTC().Truncate(time.Millisecond),
		SubmissionID: sub.ID, UserID: r.FormValue("userId"),
		CF:     [3]string{r.FormValue("cf1"), r.FormValue("cf2"), r.FormValue("cf3")},
		Policy: p.Policy, Status: StatusApproved,
	}
	for _, c := range checks {
		if !c.opt.Enabled {
			continue
		}
		key := c.key
		if p.MisspeltScores && c.misspelt != "" {
			key = c.misspelt
		}
		scores[key] = c.score
		if c.score < c.opt.Threshold {
			rec.Status = StatusRejected
			rec.FailCodes = append(rec.FailCodes, c.failCode)
			rec.Comments = append(rec.Comments, c.comment)
		}
	}
	if p.Policy.FaceSimilarity.Enabled {
		v := scores["face_similarity_score"]
		rec.FaceSimilarity = &v
	}
	if p.Policy.Occlusion.Enabled {
		occ := pick(fixed.Occluded, occluded) < p.Policy.Occlusion.Threshold
		rec.Occluded = &occ
	}
	s.mu.Lock()
	s.records = append(s.records, rec)
	s.mu.Unlock()
	body := map[string]any{
		"authentication_id": rec.AuthID,
		"auth_status":       rec.Status,
		"create_time":       rec.CreateTime.Format(timeLayout),
		"score":             scores,
	}
	if rec.Status == StatusRejected {
		body["fail_code"] = rec.FailCodes
		body["rejected_comment"] = rec.Comments
	}
	w.code = rec.Status
	writeJSON(w, http.StatusOK, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// statusRecorder remembers what was answered, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	code   string
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// newRand is the generator of rate-based faults (seed 0 means 1).
func newRand(seed int64) *mrand.Rand {
	if seed == 0 {
		seed = 1
	}
	return mrand.New(mrand.NewSource(seed))
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

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

type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }
