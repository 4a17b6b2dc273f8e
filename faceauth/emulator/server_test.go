package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func ptr(v float64) *float64 { return &v }

// testSeed has one project per body style and a submission for every case.
func testSeed(t testing.TB) *Seed {
	face := jpegOf(t, gocvImage(t, "face.jpg"), image.Rectangle{}, 1, 0)
	all := Policy{
		FaceSimilarity: PolicyOption{Enabled: true, Threshold: 70},
		Occlusion:      PolicyOption{Enabled: true, Threshold: 50},
		FaceCover:      PolicyOption{Enabled: true, Threshold: 60},
		HeadCover:      PolicyOption{Enabled: true, Threshold: 60},
	}
	ok := FixedScores{Occluded: ptr(90), FaceCover: ptr(90), HeadCover: ptr(90)}
	return &Seed{
		Projects: []Project{
			{ID: "snake", APIKey: "key-snake", Policy: all},
			{ID: "camel", APIKey: "key-camel", Policy: Policy{FaceSimilarity: all.FaceSimilarity, HeadCover: all.HeadCover},
				ErrorStyle: "camel", MisspeltScores: true, HistoryShape: "flat"},
		},
		Submissions: []Submission{
			{ID: "ok", Project: "snake", Status: StatusApproved, ReferenceJPEG: face, Scores: ok},
			{ID: "occluded", Project: "snake", Status: StatusApproved, ReferenceJPEG: face, Scores: FixedScores{Occluded: ptr(20), FaceCover: ptr(90), HeadCover: ptr(90)}},
			{ID: "nomask", Project: "snake", Status: StatusApproved, ReferenceJPEG: face, Scores: FixedScores{Occluded: ptr(90), FaceCover: ptr(10), HeadCover: ptr(90)}},
			{ID: "nohat", Project: "snake", Status: StatusApproved, ReferenceJPEG: face, Scores: FixedScores{Occluded: ptr(90), FaceCover: ptr(90), HeadCover: ptr(10)}},
			{ID: "pending", Project: "snake", Status: StatusPending},
			{ID: "kyc-rejected", Project: "snake", Status: StatusRejected},
			{ID: "detect-fails", Project: "snake", Status: StatusApproved, ReferenceJPEG: face, Scores: ok},
			{ID: "detect-fails-once", Project: "snake", Status: StatusApproved, ReferenceJPEG: face, Scores: ok},
			{ID: "storage-fails", Project: "snake", Status: StatusApproved, ReferenceJPEG: face},
			{ID: "gateway", Project: "snake", Status: StatusApproved, ReferenceJPEG: face},
			{ID: "drop", Project: "snake", Status: StatusApproved, ReferenceJPEG: face},
			{ID: "camel-ok", Project: "camel", Status: StatusApproved, ReferenceJPEG: face, Scores: FixedScores{HeadCover: ptr(75)}},
			{ID: "camel-pending", Project: "camel", Status: StatusPending},
		},
		Faults: Faults{Rules: []FaultRule{
			{Submission: "detect-fails", Code: "detection_server_error"},
			{Submission: "detect-fails-once", Code: "detection_server_error", Times: 1},
			{Submission: "storage-fails", Code: "data_processing_error"},
			{Submission: "gateway", Status: 502, Body: "<html><h1>502 Bad Gateway</h1></html>"},
			{Submission: "drop", Drop: true},
		}},
	}
}

var (
	sharedSrvOnce sync.Once
	sharedSrv     *Server
	sharedSrvErr  error
)

// testServer is built once per test binary: analysing the references is
// the slow part.
func testServer(t testing.TB) *Server {
	sharedSrvOnce.Do(func() { sharedSrv, sharedSrvErr = New(testSeed(t)) })
	if sharedSrvErr != nil {
		t.Fatal(sharedSrvErr)
	}
	return sharedSrv
}

type part struct {
	name, filename, value string
	data                  []byte
}

func post(t testing.TB, h http.Handler, key string, parts ...part) (int, map[string]any, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		if p.filename != "" {
			fw, _ := w.CreateFormFile(p.name, p.filename)
			fw.Write(p.data)
		} else {
			w.WriteField(p.name, p.value)
		}
	}
	w.Close()
	r := httptest.NewRequest(http.MethodPost, "/v3/faceauth", &buf)
	r.Header.Set("Content-Type", w.FormDataContentType())
	if key != "" {
		r.Header.Set("x-api-key", key)
	}
	return do(t, h, r)
}

func do(t testing.TB, h http.Handler, r *http.Request) (int, map[string]any, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	raw := rec.Body.String()
	var m map[string]any
	_ = json.Unmarshal([]byte(raw), &m)
	return rec.Code, m, raw
}

func TestEveryErrorCode(t *testing.T) {
	srv := testServer(t)
	face := jpegOf(t, gocvImage(t, "face.jpg"), image.Rectangle{}, 1, 0)
	img := func(b []byte) part { return part{name: "faceImage", filename: "face.jpg", data: b} }
	sub := func(id string) part { return part{name: "submissionId", value: id} }
	tests := []struct {
		name  string
		key   string
		parts []part
		code  string
	}{
		{"no key", "", []part{sub("ok"), img(face)}, "required_field_missing"},
		{"unknown key", "nope", []part{sub("ok"), img(face)}, "Invalid_projectId"},
		{"no submission id", "key-snake", []part{img(face)}, "required_field_missing"},
		{"no image", "key-snake", []part{sub("ok")}, "required_field_missing"},
		{"unknown submission", "key-snake", []part{sub("who"), img(face)}, "Invalid_submissionId"},
		{"submission of another project", "key-snake", []part{sub("camel-ok"), img(face)}, "Invalid_submissionId"},
		{"pending KYC", "key-snake", []part{sub("pending"), img(face)}, "invalid_submission_status"},
		{"rejected KYC", "key-snake", []part{sub("kyc-rejected"), img(face)}, "invalid_submission_status"},
		{"not an image", "key-snake", []part{sub("ok"), img([]byte("hello, I am text"))}, "image_converting_error"},
		{"image too small", "key-snake", []part{sub("ok"), img(blankJPEG(t, 24, 24))}, "image_processing_error"},
		{"no face", "key-snake", []part{sub("ok"), img(blankJPEG(t, 320, 240))}, "no_face"},
		{"detection fault", "key-snake", []part{sub("detect-fails"), img(face)}, "detection_server_error"},
		{"storage fault", "key-snake", []part{sub("storage-fails"), img(face)}, "data_processing_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, raw := post(t, srv, tc.key, tc.parts...)
			if status != 400 || body["error_code"] != tc.code || body["message"] != errorMessages[tc.code] {
				t.Fatalf("%d %s, want 400 %s", status, raw, tc.code)
			}
		})
	}
	t.Run("not multipart", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/v3/faceauth", strings.NewReader(`{"submissionId":"ok"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("x-api-key", "key-snake")
		if status, body, raw := do(t, srv, r); status != 400 || body["error_code"] != "invalid_data_format" {
			t.Fatalf("%d %s", status, raw)
		}
	})
	t.Run("camel style", func(t *testing.T) {
		status, body, raw := post(t, srv, "key-camel", sub("camel-pending"), img(face))
		if status != 400 || body["errorCode"] != "invalid_submission_status" || body["Message"] == nil || body["traceId"] == "" {
			t.Fatalf("%d %s", status, raw)
		}
	})
	t.Run("detection fault fires once", func(t *testing.T) {
		// A fresh server: the shared one has spent its one fault already
		// when the test runs again (go test -count=2).
		once, err := New(testSeed(t))
		if err != nil {
			t.Fatal(err)
		}
		defer once.Close()
		for i, want := range []int{400, 200} {
			if status, _, raw := post(t, once, "key-snake", sub("detect-fails-once"), img(face)); status != want {
				t.Fatalf("try %d: %d %s, want %d", i+1, status, raw, want)
			}
		}
	})
	t.Run("gateway junk", func(t *testing.T) {
		status, _, raw := post(t, srv, "key-snake", sub("gateway"), img(face))
		if status != 502 || !strings.Contains(raw, "<h1>502") {
			t.Fatalf("%d %s", status, raw)
		}
	})
	t.Run("route and method", func(t *testing.T) {
		if status, _, _ := do(t, srv, httptest.NewRequest(http.MethodGet, "/v2/faceauth", nil)); status != 404 {
			t.Fatalf("wrong path: %d", status)
		}
		if status, _, _ := do(t, srv, httptest.NewRequest(http.MethodPut, "/v3/faceauth", nil)); status != 405 {
			t.Fatalf("PUT: %d", status)
		}
	})
}

func TestEveryFailCode(t *testing.T) {
	srv := testServer(t)
	face := jpegOf(t, gocvImage(t, "face.jpg"), image.Rectangle{}, 1, 0)
	other := jpegOf(t, gocvImage(t, "distortion.jpg"), image.Rectangle{}, 1, 0)
	tests := []struct {
		sub    string
		img    []byte
		status string
		fail   string
	}{
		{"ok", face, "approved", ""},
		{"ok", other, "rejected", "face_compare_underscore"},
		{"occluded", face, "rejected", "Face_Occluded_fail"},
		{"nomask", face, "rejected", "Face_cover_fail"},
		{"nohat", face, "rejected", "Head_cover_fail"},
	}
	for _, tc := range tests {
		t.Run(tc.sub+"/"+tc.status, func(t *testing.T) {
			status, body, raw := post(t, srv, "key-snake", part{name: "submissionId", value: tc.sub},
				part{name: "faceImage", filename: "f.jpg", data: tc.img}, part{name: "userId", value: "u1"})
			if status != 200 || body["auth_status"] != tc.status || body["authentication_id"] == "" || body["create_time"] == nil {
				t.Fatalf("%d %s", status, raw)
			}
			score := body["score"].(map[string]any)
			for _, k := range []string{"face_similarity_score", "occluded_score", "face_cover_score", "head_cover_score"} {
				if _, ok := score[k]; !ok {
					t.Errorf("score %s missing: %s", k, raw)
				}
			}
			if tc.fail == "" {
				if _, has := body["fail_code"]; has {
					t.Fatalf("approved with fail codes: %s", raw)
				}
				return
			}
			fc, _ := body["fail_code"].([]any)
			rc, _ := body["rejected_comment"].([]any)
			if len(fc) != 1 || fc[0] != tc.fail || len(rc) != 1 {
				t.Fatalf("fail codes %v comments %v", fc, rc)
			}
		})
	}
	t.Run("misspelt scores, only enabled options", func(t *testing.T) {
		status, body, raw := post(t, srv, "key-camel", part{name: "submissionId", value: "camel-ok"}, part{name: "faceImage", filename: "f.jpg", data: face})
		score, _ := body["score"].(map[string]any)
		if status != 200 || body["auth_status"] != "approved" || score["head_cover_socre"] != 75.0 || len(score) != 2 {
			t.Fatalf("%d %s", status, raw)
		}
	})
}

func TestDropAndLatency(t *testing.T) {
	seed := testSeed(t)
	seed.Submissions = seed.Submissions[:1]
	seed.Faults = Faults{Latency: 300 * time.Millisecond, Rules: []FaultRule{{Method: "GET", Drop: true, Times: 1, Latency: time.Second}}}
	var waited []time.Duration
	var mu sync.Mutex
	srv, err := New(seed, WithSleep(func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waited = append(waited, d)
		mu.Unlock()
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	base, err := srv.Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/v3") {
		t.Fatalf("base URL %s", base)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/faceauth", nil)
	req.Header.Set("x-api-key", "key-snake")
	if _, err := http.DefaultTransport.RoundTrip(req); err == nil {
		t.Fatal("dropped connection gave an answer")
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("second GET: %d", resp.StatusCode)
	}
	if fmt.Sprint(waited) != "[300ms 1s 300ms]" {
		t.Fatalf("waits %v", waited)
	}
}

func TestRateIsReproducible(t *testing.T) {
	run := func() string {
		s := &Server{seed: &Seed{Faults: Faults{RandomSeed: 7, Rules: []FaultRule{{Code: "no_face", Rate: 0.3}}}}, fired: make([]int, 1)}
		s.rng = newRand(7)
		var b strings.Builder
		for i := 0; i < 40; i++ {
			if s.fault(http.MethodPost, "x") != nil {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a, b := run(), run()
	n := strings.Count(a, "x")
	if a != b || n < 4 || n > 20 {
		t.Fatalf("rate 0.3 over 40: %q / %q", a, b)
	}
}

func TestHistory(t *testing.T) {
	seed := testSeed(t)
	seed.Submissions = nil
	srv, err := New(seed)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	day := func(d, h int) time.Time { return time.Date(2025, 3, d, h, 0, 0, 0, time.UTC) }
	for i, ct := range []time.Time{day(1, 9), day(1, 10), day(2, 9), day(3, 9), day(5, 9)} {
		srv.records = append(srv.records, Record{ProjectID: "snake", AuthID: fmt.Sprintf("a%d", i), Status: "approved", CreateTime: ct, SubmissionID: "ok"})
	}
	srv.records = append(srv.records, Record{ProjectID: "camel", AuthID: "c0", Status: "rejected", CreateTime: day(1, 9), FailCodes: []string{"Head_cover_fail"}})
	get := func(key string, q url.Values) (int, string) {
		r := httptest.NewRequest(http.MethodGet, "/v3/faceauth?"+q.Encode(), nil)
		r.Header.Set("x-api-key", key)
		status, _, raw := do(t, srv, r)
		return status, raw
	}
	type page struct {
		Project string                               `json:"faceAuth_projectId"`
		Data    []map[string]any                     `json:"data"`
		Next    *struct{ AuthID, CreateTime string } `json:"nextPage_key"`
	}
	walk := func(q url.Values) []string {
		var ids []string
		for i := 0; i < 10; i++ {
			status, raw := get("key-snake", q)
			var pages []page
			if status != 200 || json.Unmarshal([]byte(raw), &pages) != nil || len(pages) != 1 || pages[0].Project != "snake" {
				t.Fatalf("%d %s", status, raw)
			}
			for _, d := range pages[0].Data {
				ids = append(ids, d["auth_id"].(string))
			}
			if pages[0].Next == nil {
				return ids
			}
			q.Set("nextKey_id", pages[0].Next.AuthID)
			q.Set("nextKey_date", pages[0].Next.CreateTime)
		}
		t.Fatal("paging does not end")
		return nil
	}
	if got := strings.Join(walk(url.Values{"count": {"2"}}), ","); got != "a0,a1,a2,a3,a4" {
		t.Fatalf("all pages: %s", got)
	}
	if got := strings.Join(walk(url.Values{"count": {"1"}, "startDate": {"2025-03-01"}, "endDate": {"2025-03-02"}}), ","); got != "a0,a1,a2" {
		t.Fatalf("dates: %s", got)
	}
	if got := strings.Join(walk(url.Values{"auth_id": {"a3"}}), ","); got != "a3" {
		t.Fatalf("auth_id: %s", got)
	}
	status, raw := get("key-camel", url.Values{})
	if status != 200 || !strings.Contains(raw, `"aurh_status":"rejected"`) || strings.Contains(raw, "faceAuth_projectId") || !strings.Contains(raw, `"occluded_threshold":false`) {
		t.Fatalf("flat shape: %s", raw)
	}
	for _, bad := range []url.Values{
		{"startDate": {"2025-03-01"}}, {"startDate": {"2025-3-1"}, "endDate": {"2025-03-02"}},
		{"startDate": {"2025-03-05"}, "endDate": {"2025-03-01"}}, {"count": {"0"}}, {"count": {"2001"}}, {"count": {"x"}},
		{"nextKey_id": {"a1"}}, {"nextKey_id": {"zz"}, "nextKey_date": {"2025-03-01T09:00:00.000Z"}},
	} {
		if status, raw := get("key-snake", bad); status != 400 || !strings.Contains(raw, `"errorCode":"invalid_data_format"`) {
			t.Errorf("%v: %d %s", bad, status, raw)
		}
	}
	for _, key := range []string{"", "wrong"} {
		if status, raw := get(key, url.Values{}); status != 400 || !strings.Contains(raw, `"errorCode":"NOT_FOUND"`) || !strings.Contains(raw, "traceId") {
			t.Errorf("key %q: %d %s", key, status, raw)
		}
	}
}

func TestRecordsAreKept(t *testing.T) {
	srv := testServer(t)
	before := len(srv.Records())
	face := jpegOf(t, gocvImage(t, "face.jpg"), image.Rectangle{}, 1, 0)
	status, body, _ := post(t, srv, "key-snake", part{name: "submissionId", value: "ok"}, part{name: "faceImage", filename: "f.jpg", data: face},
		part{name: "userId", value: "u7"}, part{name: "cf1", value: "gate-3"})
	recs := srv.Records()
	if status != 200 || len(recs) != before+1 {
		t.Fatalf("%d, %d records", status, len(recs))
	}
	r := recs[len(recs)-1]
	if r.AuthID != body["authentication_id"] || r.UserID != "u7" || r.CF[0] != "gate-3" || r.SubmissionID != "ok" || r.FaceSimilarity == nil {
		t.Fatalf("%+v", r)
	}
}
