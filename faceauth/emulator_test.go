package faceauth_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/faceauth/emulator"
)

func gocvFace(t *testing.T, name string) []byte {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "gocv.io/x/gocv").Output()
	if err != nil {
		t.Skipf("gocv module directory not found: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "images", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func f(v float64) *float64 { return &v }

// TestClientAgainstEmulator runs the client over real HTTP on 127.0.0.1
// against the emulator: results, every error class, safe retries, history
// paging in both response shapes.
func TestClientAgainstEmulator(t *testing.T) {
	face := gocvFace(t, "face.jpg")
	seed := &emulator.Seed{
		Projects: []emulator.Project{
			{ID: "site", APIKey: "emu-key-site", Policy: emulator.Policy{
				FaceSimilarity: emulator.PolicyOption{Enabled: true, Threshold: 70},
				HeadCover:      emulator.PolicyOption{Enabled: true, Threshold: 60}}},
			{ID: "legacy", APIKey: "emu-key-legacy", ErrorStyle: "camel", HistoryShape: "flat", MisspeltScores: true,
				Policy: emulator.Policy{HeadCover: emulator.PolicyOption{Enabled: true, Threshold: 60}}},
		},
		Submissions: []emulator.Submission{
			{ID: "w1", Project: "site", Status: emulator.StatusApproved, ReferenceJPEG: face, Scores: emulator.FixedScores{HeadCover: f(90)}},
			{ID: "w-nohat", Project: "site", Status: emulator.StatusApproved, ReferenceJPEG: face, Scores: emulator.FixedScores{HeadCover: f(5)}},
			{ID: "w-pending", Project: "site", Status: emulator.StatusPending},
			{ID: "w-flaky", Project: "site", Status: emulator.StatusApproved, ReferenceJPEG: face, Scores: emulator.FixedScores{HeadCover: f(90)}},
			{ID: "w-down", Project: "site", Status: emulator.StatusApproved, ReferenceJPEG: face},
			{ID: "w-gw", Project: "site", Status: emulator.StatusApproved, ReferenceJPEG: face},
			{ID: "l1", Project: "legacy", Status: emulator.StatusApproved, ReferenceJPEG: face, Scores: emulator.FixedScores{HeadCover: f(80)}},
			{ID: "l-pending", Project: "legacy", Status: emulator.StatusPending},
		},
		Faults: emulator.Faults{Rules: []emulator.FaultRule{
			{Submission: "w-flaky", Code: "detection_server_error", Times: 1},
			{Submission: "w-down", Code: "data_processing_error"},
			{Submission: "w-gw", Status: 502, Body: "<html>Bad Gateway</html>"},
		}},
	}
	srv, err := emulator.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	client := func(key string) *faceauth.Client {
		c, err := faceauth.New(faceauth.Options{BaseURL: base, APIKey: key, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	site, legacy := client("emu-key-site"), client("emu-key-legacy")
	ctx := context.Background()
	auth := func(c *faceauth.Client, sub string, img []byte) (*faceauth.Result, error) {
		return c.Authenticate(ctx, faceauth.Request{SubmissionID: sub, Image: img, UserID: "u1"})
	}

	start := time.Now()
	res, err := auth(site, "w1", face)
	t.Logf("one approved round trip over HTTP: %s", time.Since(start))
	if err != nil || !res.Approved() || res.Scores.FaceSimilarity == nil || *res.Scores.FaceSimilarity < 90 ||
		res.Scores.HeadCover == nil || *res.Scores.HeadCover != 90 || res.Scores.Occluded != nil || res.CreateTime.IsZero() || res.AuthenticationID == "" {
		t.Fatalf("approved: %+v %v", res, err)
	}
	if res, err := auth(site, "w-nohat", face); err != nil || res.Approved() || len(res.FailCodes) != 1 || res.FailCodes[0] != faceauth.FailHeadCover {
		t.Fatalf("no hat: %+v %v", res, err)
	}
	if res, err := auth(site, "w-flaky", face); err != nil || !res.Approved() {
		t.Fatalf("detection_server_error once, then retried: %+v %v", res, err)
	}
	if res, err := auth(legacy, "l1", face); err != nil || !res.Approved() || res.Scores.HeadCover == nil || *res.Scores.HeadCover != 80 {
		t.Fatalf("misspelt score keys: %+v %v", res, err)
	}

	errCases := []struct {
		name  string
		c     *faceauth.Client
		sub   string
		img   []byte
		code  string
		class faceauth.Class
		http  int
	}{
		{"unknown submission", site, "nobody", face, faceauth.CodeInvalidSubmissionID, faceauth.ClassIdentity, 400},
		{"pending submission", site, "w-pending", face, faceauth.CodeInvalidSubmissionStatus, faceauth.ClassIdentity, 400},
		{"pending, camel body", legacy, "l-pending", face, faceauth.CodeInvalidSubmissionStatus, faceauth.ClassIdentity, 400},
		{"wrong key", client("not-a-key"), "w1", face, faceauth.CodeInvalidProjectID, faceauth.ClassConfig, 400},
		{"not an image", site, "w1", []byte("GIF89a? no"), faceauth.CodeImageConverting, faceauth.ClassRecapture, 400},
		{"no face", site, "w1", gocvFace(t, "chessboard_4x6.png"), faceauth.CodeNoFace, faceauth.ClassRecapture, 400},
		{"storage down (retried, still failing)", site, "w-down", face, faceauth.CodeDataProcessing, faceauth.ClassTransient, 400},
		{"gateway page", site, "w-gw", face, faceauth.CodeHTTPStatus, faceauth.ClassTransient, 502},
	}
	for _, tc := range errCases {
		_, err := auth(tc.c, tc.sub, tc.img)
		var ae *faceauth.APIError
		if !errors.As(err, &ae) || !strings.EqualFold(ae.Code, tc.code) || ae.Class != tc.class || ae.HTTPStatus != tc.http {
			t.Errorf("%s: %+v", tc.name, err)
		}
	}

	// History: every page, count 1, over HTTP.
	var ids []string
	for r, err := range site.History(ctx, faceauth.HistoryQuery{PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		if r.ProjectID != "site" || r.KYCSubmissionID == "" || r.CreateTime.IsZero() {
			t.Fatalf("%+v", r)
		}
		ids = append(ids, r.AuthID)
	}
	if len(ids) != 3 { // w1, w-nohat, w-flaky
		t.Fatalf("history ids %v", ids)
	}
	today := time.Now().UTC()
	n := 0
	for r, err := range site.History(ctx, faceauth.HistoryQuery{AuthID: ids[1], Since: today.AddDate(0, 0, -1), Until: today}) {
		if err != nil || r.AuthID != ids[1] || r.Status != faceauth.StatusRejected || r.FailCodes[0] != faceauth.FailHeadCover {
			t.Fatalf("%+v %v", r, err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("auth id filter gave %d records", n)
	}
	n = 0
	for r, err := range legacy.History(ctx, faceauth.HistoryQuery{}) {
		if err != nil || r.Status != faceauth.StatusApproved || r.ProjectID != "" {
			t.Fatalf("flat shape: %+v %v", r, err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("flat shape gave %d records", n)
	}
	if err := site.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := client("bad").Ping(ctx); faceauth.ClassOf(err) != faceauth.ClassConfig {
		t.Fatalf("ping with a wrong key: %v", err)
	}
}

func BenchmarkAuthenticateEmulator(b *testing.B) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "gocv.io/x/gocv").Output()
	if err != nil {
		b.Skip(err)
	}
	face, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "images", "face.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	srv, err := emulator.New(&emulator.Seed{
		Projects:    []emulator.Project{{ID: "p", APIKey: "k", Policy: emulator.Policy{FaceSimilarity: emulator.PolicyOption{Enabled: true, Threshold: 70}}}},
		Submissions: []emulator.Submission{{ID: "s", Status: emulator.StatusApproved, ReferenceJPEG: face}},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	base, err := srv.Start("")
	if err != nil {
		b.Fatal(err)
	}
	c, err := faceauth.New(faceauth.Options{BaseURL: base, APIKey: "k"})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res, err := c.Authenticate(context.Background(), faceauth.Request{SubmissionID: "s", Image: face}); err != nil || !res.Approved() {
			b.Fatal(res, err)
		}
	}
}
