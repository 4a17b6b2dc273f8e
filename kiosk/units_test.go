package kiosk

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/record"
)

// Every code the API documents has a screen message of its own.
func TestCoachCoversEveryCode(t *testing.T) {
	codes := []string{
		string(faceauth.FailFaceCompare), string(faceauth.FailOccluded), string(faceauth.FailFaceCover), string(faceauth.FailHeadCover),
		faceauth.CodeInvalidDataFormat, faceauth.CodeRequiredFieldMissing, faceauth.CodeInvalidSubmissionID,
		faceauth.CodeInvalidProjectID, faceauth.CodeInvalidSubmissionStatus, faceauth.CodeImageConverting,
		faceauth.CodeImageProcessing, faceauth.CodeDetectionServer, faceauth.CodeNoFace, faceauth.CodeDataProcessing,
		faceauth.CodeNotFound,
	}
	for _, c := range []faceauth.Class{faceauth.ClassIdentity, faceauth.ClassConfig, faceauth.ClassRecapture, faceauth.ClassTransient, faceauth.ClassClient} {
		codes = append(codes, ReasonAPIPrefix+string(c))
	}
	codes = append(codes, ReasonApproved, ReasonRemoteOpen, ReasonAntiPassbackSoft, ReasonAntiPassback, ReasonStaleApproval,
		ReasonTailgating, ReasonRateLimited, ReasonTimeout, ReasonCaptureTimeout, ReasonNoFace, ReasonCameraError,
		ReasonShutdown, ReasonRelayFailed, ReasonBrokerDown, ReasonRejected, ReasonInvalidResult)
	for _, s := range []string{"face_similarity", "occluded", "face_cover", "head_cover"} {
		codes = append(codes, s+suffixBelowMinimum, s+suffixMissing)
	}
	codes = append(codes, "no_face", "too_small", "multiple_faces", "too_blurry",
		"not_frontal", "head_tilted", "too_dark", "too_bright", "cut_by_edge")
	for _, c := range codes {
		m, ok := Coach(c)
		if !ok || m == "" {
			t.Errorf("no message for %q", c)
		}
		if len([]rune(m)) > 60 {
			t.Errorf("message for %q is too long for the screen: %q", c, m)
		}
	}
	for code, want := range map[string]string{
		"Head_cover_fail":           "Put on your hard hat",
		"FACE_OCCLUDED_FAIL":        "Uncover your face",
		"face_compare_underscore":   "Not recognised",
		"invalid_submission_status": "Your registration is not approved — see the site office",
		"api_transient":             "Service unavailable — try again",
		"too_small":                 "Come closer",
		"multiple_faces":            "One person at a time",
	} {
		if m, _ := Coach(code); m != want {
			t.Errorf("Coach(%q) = %q, want %q", code, m, want)
		}
	}
	if got := coachCapture("some_new_reason"); got != fallbackCapture {
		t.Errorf("unknown capture reason: %q", got)
	}
	if got := coachReasons([]string{"face_compare_underscore", "face_cover_fail"}, "x"); got != "Put on your face cover" {
		t.Errorf("PPE first: %q", got)
	}
}

func TestScoreChecks(t *testing.T) {
	s := faceauth.Scores{FaceSimilarity: f64(90), HeadCover: f64(40)}
	got := scoreChecks(MinScores{FaceSimilarity: 95, HeadCover: 40, FaceCover: 10}, s)
	want := []string{"face_similarity_below_minimum", "face_cover_missing"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := scoreChecks(MinScores{}, faceauth.Scores{}); len(got) != 0 {
		t.Errorf("no minimums: %v", got)
	}
}

func TestAttemptsWindow(t *testing.T) {
	var a attempts
	t0 := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if !a.allow("w", t0.Add(time.Duration(i)*time.Second), 3, time.Minute) {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if a.allow("w", t0.Add(10*time.Second), 3, time.Minute) {
		t.Error("4th attempt within the window allowed")
	}
	if !a.allow("other", t0.Add(10*time.Second), 3, time.Minute) {
		t.Error("another worker refused")
	}
	if !a.allow("w", t0.Add(61*time.Second), 3, time.Minute) {
		t.Error("attempt after the first expired refused")
	}
	if !a.allow("w", t0, 0, 0) {
		t.Error("max 0 must mean no limit")
	}
}

func TestAuditRotation(t *testing.T) {
	dir := t.TempDir()
	a, err := openAudit(dir, 600, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		ev := record.Event{EventID: "e", Seq: uint64(i + 1), Decision: record.DecisionDenied, Reason: []string{"x"}}
		if err := a.write(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		info, _ := e.Info()
		if info.Size() > 600 {
			t.Errorf("%s is %d bytes, over the limit", e.Name(), info.Size())
		}
	}
	if strings.Join(names, " ") != "audit.jsonl audit.jsonl.1 audit.jsonl.2" {
		t.Fatalf("files %v", names)
	}
	// newest last in audit.jsonl, every line valid JSON, sequences contiguous across files
	var seqs []uint64
	for _, n := range []string{"audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"} {
		f, _ := os.Open(filepath.Join(dir, n))
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var ev record.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("%s: %v", n, err)
			}
			seqs = append(seqs, ev.Seq)
		}
		f.Close()
	}
	if len(seqs) == 0 || seqs[len(seqs)-1] != 20 {
		t.Fatalf("seqs %v", seqs)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("gap in %v", seqs)
		}
	}
	// reopening appends
	a, _ = openAudit(dir, 600, 3)
	a.write(record.Event{EventID: "e", Seq: 21})
	a.close()
	b, _ := os.ReadFile(filepath.Join(dir, auditName))
	if !strings.Contains(string(b), `"seq":21`) {
		t.Error("reopened log did not append")
	}
}

func TestCropsPruned(t *testing.T) {
	dir := t.TempDir()
	c := &cropStore{dir: dir, keep: 48 * time.Hour}
	now := time.Now()
	if err := c.save(now, "new", []byte("jpeg")); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "old.jpg")
	os.WriteFile(old, []byte("jpeg"), 0o600)
	os.Chtimes(old, now.Add(-72*time.Hour), now.Add(-72*time.Hour))
	keep := filepath.Join(dir, "notes.txt")
	os.WriteFile(keep, []byte("x"), 0o600)
	os.Chtimes(keep, now.Add(-72*time.Hour), now.Add(-72*time.Hour))
	n, err := c.prune(now)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("left %v", entries)
	}
}

func TestUUIDv7(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_123)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := newUUIDv7(now)
		if !uuidRE.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	if id := newUUIDv7(now); !strings.HasPrefix(strings.ReplaceAll(id, "-", ""), "018bcfe5687b") {
		t.Errorf("timestamp prefix of %s", id)
	}
}

func TestNewChecksDeps(t *testing.T) {
	cfg := testConfig(t)
	for _, d := range []Deps{
		{Authenticator: &fakeAuth{}, Relay: &fakeRelay{}},
		{Selector: &fakeSelector{}, Relay: &fakeRelay{}},
		{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}},
	} {
		if _, err := New(*cfg, d); err == nil {
			t.Errorf("New(%+v) accepted missing deps", d)
		}
	}
	bad := testConfig(t)
	bad.Policy.AntiPassback.Mode = "sideways"
	if _, err := New(*bad, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}}); err == nil {
		t.Error("New accepted an invalid config")
	}
}

// New and Reload refuse the values the kiosk would misread; the file's
// ranges are config's to check.
func TestOptionsCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(o *Options)
		msg  string
	}{
		{"no state dir", func(o *Options) { o.StateDir = "" }, "StateDir"},
		{"anti-passback", func(o *Options) { o.Policy.AntiPassback.Mode = "sideways" }, `"sideways" is not off, soft or hard`},
		{"record failure", func(o *Options) { o.Policy.OnRecordFailure = "maybe" }, `"maybe" is not deny or open`},
		{"liveness", func(o *Options) { o.Policy.Liveness = "" }, `"" is not off, passive, challenge or shadow`},
		{"privacy", func(o *Options) { o.Privacy = "blur" }, `"blur" is not plain, hash or omit`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testConfig(t)
			tc.mod(o)
			_, err := New(*o, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Logger: quietLogger()})
			if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "kiosk: ") {
				t.Fatalf("New: %v, want an error with %q", err, tc.msg)
			}
			k, err := New(*testConfig(t), Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Reload(*o); err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Reload: %v, want an error with %q", err, tc.msg)
			}
		})
	}
}
