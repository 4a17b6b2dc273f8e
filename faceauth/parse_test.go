package faceauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func f64(v float64) *float64 { return &v }

func eqF(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func TestParseResult(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		status   string
		approved bool
		scores   Scores
		fails    []FailCode
		comments int
		created  time.Time
		wantErr  string
	}{
		{name: "approved sample (vendor doc)", body: `{"authentication_id": "a1", "auth_status": "approved", "create_time": "2023-08-08T07:04:48.633Z",
			"score": {"face_similarity_score": 99.5, "occluded_score": 99.9}}`,
			status: "approved", approved: true, scores: Scores{FaceSimilarity: f64(99.5), Occluded: f64(99.9)},
			created: time.Date(2023, 8, 8, 7, 4, 48, 633e6, time.UTC)},
		{name: "rejected sample with misspelt socre keys", body: `{"authentication_id": "a2", "auth_status": "rejected", "create_time": "2023-08-08T07:04:48.633Z",
			"score": {"face_similarity_score": 83.6, "occluded_score": 40, "face_cover_socre": 93.3, "head_cover_socre": 87},
			"fail_code": ["Face_Occluded_fail"], "rejected_comment": ["face is occluded and the confidence is higher than threshold."]}`,
			status: "rejected", scores: Scores{FaceSimilarity: f64(83.6), Occluded: f64(40), FaceCover: f64(93.3), HeadCover: f64(87)},
			fails: []FailCode{FailOccluded}, comments: 1, created: time.Date(2023, 8, 8, 7, 4, 48, 633e6, time.UTC)},
		{name: "canonical cover keys win over misspelt", body: `{"authentication_id":"a-1","auth_status":"approved","score":{"face_cover_score":1,"face_cover_socre":2,"head_cover_score":3}}`,
			status: "approved", approved: true, scores: Scores{FaceCover: f64(1), HeadCover: f64(3)}},
		{name: "every fail code, any case, unknown kept", body: `{"auth_status":"rejected","fail_code":["FACE_COMPARE_UNDERSCORE","face_occluded_fail"," Face_Cover_Fail ","head_cover_FAIL","Liveness_fail"]}`,
			status: "rejected", fails: []FailCode{FailFaceCompare, FailOccluded, FailFaceCover, FailHeadCover, "Liveness_fail"}},
		{name: "single fail code as a string", body: `{"auth_status":"rejected","fail_code":"Head_cover_fail","rejected_comment":"no hat"}`,
			status: "rejected", fails: []FailCode{FailHeadCover}, comments: 1},
		{name: "status normalised", body: `{"authentication_id":"a-1","auth_status":"  APPROVED "}`, status: "approved", approved: true},
		{name: "other status is not approved", body: `{"auth_status":"pending"}`, status: "pending"},
		{name: "approvedish is not approved", body: `{"authentication_id":"a-1","auth_status":"approved_pending"}`, status: "approved_pending"},
		{name: "numeric strings and nulls in score", body: `{"authentication_id":"a-1","auth_status":"approved","score":{"face_similarity_score":"97.5","occluded_score":null}}`,
			status: "approved", approved: true, scores: Scores{FaceSimilarity: f64(97.5)}},
		{name: "score bounds are valid", body: `{"authentication_id":"a-1","auth_status":"approved","score":{"face_similarity_score":100,"occluded_score":"0"}}`,
			status: "approved", approved: true, scores: Scores{FaceSimilarity: f64(100), Occluded: f64(0)}},
		// Malformed scores are errors, never "absent" and never a pass.
		{name: "NaN string score", body: `{"authentication_id":"a-1","auth_status":"approved","score":{"face_similarity_score":"NaN"}}`, wantErr: "face_similarity_score"},
		{name: "Infinity string score", body: `{"authentication_id":"a-1","auth_status":"approved","score":{"face_similarity_score":"Infinity"}}`, wantErr: "not a finite number"},
		{name: "-Inf string score", body: `{"authentication_id":"a-1","auth_status":"approved","score":{"occluded_score":"-inf"}}`, wantErr: "occluded_score"},
		{name: "number overflowing to infinity", body: `{"authentication_id":"a-1","auth_status":"approved","score":{"face_similarity_score":1e999}}`, wantErr: "not a finite number"},
		{name: "score above 100", body: `{"authentication_id":"a-1","auth_status":"approved","score":{"face_similarity_score":100.5}}`, wantErr: "0..100"},
		{name: "negative score", body: `{"authentication_id":"a-1","auth_status":"approved","score":{"head_cover_socre":-1}}`, wantErr: "head_cover_socre"},
		{name: "score not a number", body: `{"authentication_id":"a-1","auth_status":"approved","score":{"head_cover_score":"x"}}`, wantErr: "head_cover_score"},
		{name: "score a boolean", body: `{"authentication_id":"a-1","auth_status":"approved","score":{"face_cover_score":true}}`, wantErr: "face_cover_score"},
		{name: "malformed score in a rejection too", body: `{"auth_status":"rejected","fail_code":["face_compare_underscore"],"score":{"face_similarity_score":"NaN"}}`, wantErr: "not a finite number"},
		// Contradictions are errors.
		{name: "approved with a fail code", body: `{"authentication_id":"a-1","auth_status":"approved","fail_code":["Face_cover_fail"]}`, wantErr: "approved together with fail_code"},
		{name: "approved with a single fail code string", body: `{"authentication_id":"a-1","auth_status":"approved","fail_code":"x"}`, wantErr: "fail_code"},
		{name: "approved with error_code", body: `{"authentication_id":"a-1","auth_status":"approved","error_code":"Invalid_submissionId"}`, wantErr: "error_code"},
		{name: "approved with errorCode", body: `{"authentication_id":"a-1","auth_status":"approved","errorCode":"no_face"}`, wantErr: "error_code"},
		{name: "empty fail_code list is no contradiction", body: `{"authentication_id":"a-1","auth_status":"approved","fail_code":[],"error_code":""}`, status: "approved", approved: true},
		{name: "bad create_time is zero", body: `{"authentication_id":"a-1","auth_status":"approved","create_time":"yesterday"}`, status: "approved", approved: true},
		{name: "missing status", body: `{"authentication_id":"x"}`, wantErr: "auth_status"},
		{name: "status not a string", body: `{"auth_status":true}`, wantErr: "auth_status"},
		{name: "empty", body: ``, wantErr: "empty body"},
		{name: "array", body: `[{"authentication_id":"a-1","auth_status":"approved"}]`, wantErr: "not a JSON object"},
		{name: "truncated", body: `{"authentication_id":"a-1","auth_status":"approved","score":{`, wantErr: "not valid JSON"},
		{name: "trailing data", body: `{"authentication_id":"a-1","auth_status":"approved"} {"auth_status":"rejected"}`, wantErr: "after the JSON object"},
		{name: "html", body: `<html>502</html>`, wantErr: "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseResult([]byte(tc.body))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.status || r.Approved() != tc.approved {
				t.Errorf("status %q approved %v, want %q %v", r.Status, r.Approved(), tc.status, tc.approved)
			}
			s, w := r.Scores, tc.scores
			if !eqF(s.FaceSimilarity, w.FaceSimilarity) || !eqF(s.Occluded, w.Occluded) || !eqF(s.FaceCover, w.FaceCover) || !eqF(s.HeadCover, w.HeadCover) {
				t.Errorf("scores %+v, want %+v", s, w)
			}
			if strings.Join(fcStrings(r.FailCodes), ",") != strings.Join(fcStrings(tc.fails), ",") {
				t.Errorf("fail codes %v, want %v", r.FailCodes, tc.fails)
			}
			if len(r.Comments) != tc.comments {
				t.Errorf("comments %v", r.Comments)
			}
			if !r.CreateTime.Equal(tc.created) {
				t.Errorf("create time %v, want %v", r.CreateTime, tc.created)
			}
		})
	}
}

func TestFailCodeKnown(t *testing.T) {
	if !ParseFailCode("HEAD_COVER_FAIL").Known() || ParseFailCode("other").Known() {
		t.Fatal("Known is wrong")
	}
	if ParseFailCode("weird_Code") != "weird_Code" {
		t.Fatal("unknown code must be kept as-is")
	}
}

func TestErrorFromResponse(t *testing.T) {
	documented := []struct {
		code  string
		class Class
	}{
		{"invalid_data_format", ClassClient},
		{"required_field_missing", ClassClient},
		{"Invalid_submissionId", ClassIdentity},
		{"Invalid_projectId", ClassConfig},
		{"invalid_submission_status", ClassIdentity},
		{"image_converting_error", ClassRecapture},
		{"image_processing_error", ClassRecapture},
		{"detection_server_error", ClassTransient},
		{"no_face", ClassRecapture},
		{"data_processing_error", ClassTransient},
		{"NOT_FOUND", ClassConfig},
	}
	for _, d := range documented {
		for _, shape := range []string{
			`{"error_code":"%s","message":"the message"}`,
			`{"errorCode":"%s","Message":"the message","traceId":"tr-1"}`,
			`{"traceId":"tr-1","errorCode":"%s","message":"the message"}`,
		} {
			body := strings.Replace(shape, "%s", d.code, 1)
			t.Run(d.code+"/"+body[:12], func(t *testing.T) {
				e := errorFromResponse(400, []byte(body))
				if e.Code != d.code || e.Class != d.class || e.Message != "the message" || e.HTTPStatus != 400 {
					t.Fatalf("got %+v, want code %s class %s", e, d.code, d.class)
				}
				if strings.Contains(body, "traceId") != (e.TraceID == "tr-1") {
					t.Errorf("trace id %q", e.TraceID)
				}
				if !errors.Is(e, ErrRejectedByAPI) || !errors.Is(e, &APIError{Code: strings.ToUpper(d.code)}) {
					t.Error("errors.Is does not match the sentinel or the code")
				}
				if e.Transient() != (d.class == ClassTransient) || !retryableCode(d.code) == (d.class == ClassTransient && d.code != "NOT_FOUND") {
					t.Error("transient/retryable disagree with the class")
				}
			})
		}
	}
	junk := []struct {
		name    string
		status  int
		body    string
		class   Class
		code    string
		message string
	}{
		{"html 502", 502, "<html><body><h1>502 Bad Gateway</h1>\n</body></html>", ClassTransient, CodeHTTPStatus, "Bad Gateway: <html><body><h1>502 Bad Gateway</h1> </body></html>"},
		{"empty 503", 503, "", ClassTransient, CodeHTTPStatus, "Service Unavailable (empty body)"},
		{"empty 400", 400, "  ", ClassClient, CodeHTTPStatus, "Bad Request (empty body)"},
		{"truncated json 400", 400, `{"error_code":"no_fa`, ClassClient, CodeHTTPStatus, `Bad Request: {"error_code":"no_fa`},
		{"401 text", 401, "Unauthorized", ClassConfig, CodeHTTPStatus, "Unauthorized: Unauthorized"},
		{"403 gateway json", 403, `{"message":"Forbidden"}`, ClassConfig, CodeHTTPStatus, "Forbidden"},
		{"404", 404, "not found", ClassConfig, CodeHTTPStatus, "Not Found: not found"},
		{"429 text", 429, "Too Many Requests", ClassTransient, CodeHTTPStatus, "Too Many Requests: Too Many Requests"},
		{"500 json without code", 500, `{"status":"boom"}`, ClassTransient, CodeHTTPStatus, "Internal Server Error: {\"status\":\"boom\"}"},
		{"unknown code on 400", 400, `{"error_code":"brand_new_code","message":"m"}`, ClassClient, "brand_new_code", "m"},
		{"unknown code on 503", 503, `{"errorCode":"OVERLOADED","message":"m"}`, ClassTransient, "OVERLOADED", "m"},
		{"302 redirect", 302, "", ClassClient, CodeHTTPStatus, "Found (empty body)"},
		{"control characters", 502, "a\x00b\x1b[31mc\r\nd", ClassTransient, CodeHTTPStatus, "Bad Gateway: a b [31mc d"},
	}
	for _, j := range junk {
		t.Run(j.name, func(t *testing.T) {
			e := errorFromResponse(j.status, []byte(j.body))
			if e.Class != j.class || e.Code != j.code || e.Message != j.message || e.HTTPStatus != j.status {
				t.Fatalf("got %+v\nwant class %s code %s message %q", e, j.class, j.code, j.message)
			}
		})
	}
	long := errorFromResponse(502, []byte(strings.Repeat("é", 5000)))
	if len(long.Message) > 260 || !utf8.ValidString(long.Message) {
		t.Fatalf("long body not clipped: %d bytes", len(long.Message))
	}
}

const wrappedPage = `[
  {
    "faceAuth_projectId": "sampleProjectId1",
    "data": [
      {
        "policy": {"faceSimilarity_threshold": 85, "occluded_threshold": false, "faceCover_threshold": 0,
                   "headCover_threshold": 0, "liveness_threshold": 0, "activeLiveness_threshold": 0},
        "auth_id": "sampleId1", "auth_status": "rejected", "create_time": "2025-10-02T02:15:17.554Z",
        "submit_type": "form", "kyc_submission_id": "sampleKycId1", "delete_check": false,
        "result": {"active_liveness_score": 97.78668212890625, "face_similarity": 100, "detectOccluded": true},
        "reject_comment": ["face is occluded and the confidence is higher than threshold."],
        "fail_code": ["Face_Occluded_fail"]
      },
      {
        "auth_id": "sampleId2", "auth_status": "Approved", "create_time": "2025-10-02T02:15:17.554Z",
        "delete_check": true, "delete_time": "2025-10-09T03:18:18.046Z", "result": {"face_similarity": 91}
      }
    ],
    "nextPage_key": {"authId": "sampleId2", "createTime": "2025-10-02T02:15:17.554Z"}
  }
]`

const flatPage = `[
  {
    "auth_id" : "sampleId1",
    "aurh_status" : "approved",
    "create_time" : "2023-08-18T15:00:00.000Z",
    "submit_type" : "sampleType",
    "kyc_submission_id" : "sampleKycId1",
    "policy" : {"faceSimilarity_threshold" : 70, "occluded_threshold" : false, "faceCover_threshold" : 0, "headCover_threshold" : 50},
    "delete_check": true,
    "delete_time": "2023-09-04T02:19:01.399Z",
    "result": {"active_liveness_score": 97.78668212890625, "face_similarity": 100, "detectOccluded": true}
  }
]`

func TestParseHistoryPage(t *testing.T) {
	recs, next, err := parseHistoryPage([]byte(wrappedPage))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || next == nil || next.AuthID != "sampleId2" || next.CreateTime != "2025-10-02T02:15:17.554Z" {
		t.Fatalf("recs %d next %+v", len(recs), next)
	}
	r := recs[0]
	if r.ProjectID != "sampleProjectId1" || r.AuthID != "sampleId1" || r.Status != "rejected" || r.KYCSubmissionID != "sampleKycId1" ||
		r.SubmitType != "form" || r.Deleted || len(r.FailCodes) != 1 || r.FailCodes[0] != FailOccluded || len(r.Comments) != 1 {
		t.Errorf("record 0: %+v", r)
	}
	if sim, ok := r.FaceSimilarity(); !ok || sim != 100 {
		t.Errorf("similarity %v %v", sim, ok)
	}
	if b, ok := r.Policy["occluded_threshold"].(bool); !ok || b {
		t.Errorf("occluded_threshold must stay a boolean: %#v", r.Policy["occluded_threshold"])
	}
	if recs[1].Status != "approved" || !recs[1].Deleted || recs[1].DeleteTime.IsZero() {
		t.Errorf("record 1: %+v", recs[1])
	}

	recs, next, err = parseHistoryPage([]byte(flatPage))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || next != nil || recs[0].Status != "approved" || recs[0].ProjectID != "" || !recs[0].Deleted {
		t.Fatalf("flat: %+v next %+v", recs, next)
	}

	for body, want := range map[string]int{
		`[]`: 0, `[{"faceAuth_projectId":"p","data":[]}]`: 0, `[{"faceAuth_projectId":"p","data":null}]`: 0,
		`{"faceAuth_projectId":"p","data":[{"auth_id":"x"}]}`:                            1,
		`[{"faceAuth_projectId":"p","data":[{"auth_id":"x"}],"nextPage_key":null}]`:      1,
		`[{"faceAuth_projectId":"p","data":[{"auth_id":"x"}],"nextPage_key":{}}]`:        1,
		`[{"data":[{"auth_id":"a"}]},{"data":[{"auth_id":"b"}]},{"auth_id":"c"}]`:        3,
		`[{"faceAuth_projectId":"p","data":[{"auth_id":"x","auth_status":"APPROVED"}]}]`: 1,
	} {
		recs, next, err := parseHistoryPage([]byte(body))
		if err != nil || len(recs) != want || next != nil {
			t.Errorf("%s: %d recs, next %v, err %v", body, len(recs), next, err)
		}
	}
	for _, bad := range []string{``, `null`, `{`, `[1]`, `[null]`, `[{"data":{}}]`, `[{"data":[1]}]`, `[{"data":[{"authentication_id":"a-1","auth_status":"approved"}]}]`,
		`[{"auth_id":5}]`, `[{"data":[{"auth_id":"x","policy":[]}]}]`, `[{"data":[],"nextPage_key":"k"}]`, `<html></html>`} {
		if _, _, err := parseHistoryPage([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParseResult(f *testing.F) {
	for _, s := range []string{
		`{"authentication_id":"a","auth_status":"approved","create_time":"2023-08-08T07:04:48.633Z","score":{"face_similarity_score":99.5}}`,
		`{"auth_status":"rejected","score":{"face_cover_socre":93.3,"head_cover_socre":87},"fail_code":["Face_Occluded_fail"],"rejected_comment":["x"]}`,
		`{"auth_status":"APPROVED","fail_code":"x","score":{"occluded_score":"1e400"}}`, `{"authentication_id":"a-1","auth_status":"approved","score":{"face_similarity_score":"NaN"}}`, `{"authentication_id":"a-1","auth_status":"approved","error_code":"no_face"}`, ``, `[]`, `{"auth_status":`, `<html>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseResult(body)
		if err != nil {
			if r != nil {
				t.Fatal("result with error")
			}
			return
		}
		if r.Status != strings.ToLower(strings.TrimSpace(r.Status)) || r.Status == "" {
			t.Fatalf("status not normalised: %q", r.Status)
		}
		if r.Approved() != (r.Status == StatusApproved) {
			t.Fatal("Approved disagrees with Status")
		}
		// What parses is safe to act on and to record: consistent, every
		// score finite in 0..100 (so JSON-encodable), no approval with a
		// fail code.
		if err := r.Consistent(); err != nil {
			t.Fatalf("parsed result is inconsistent: %v", err)
		}
		for _, v := range []*float64{r.Scores.FaceSimilarity, r.Scores.Occluded, r.Scores.FaceCover, r.Scores.HeadCover} {
			if v != nil && (math.IsNaN(*v) || *v < 0 || *v > 100) {
				t.Fatalf("score %v passed the parser", *v)
			}
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("parsed result cannot be encoded: %v", err)
		}
	})
}

func FuzzErrorFromResponse(f *testing.F) {
	for _, s := range []string{`{"error_code":"no_face","message":"m"}`, `{"errorCode":"NOT_FOUND","Message":"m","traceId":"t"}`,
		`<html>502</html>`, ``, `{"message":"Forbidden"}`, `{"error_code":5}`} {
		f.Add(400, []byte(s))
		f.Add(502, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := errorFromResponse(status, body)
		if e == nil || e.Code == "" || e.Err == nil {
			t.Fatalf("incomplete error %+v", e)
		}
		switch e.Class {
		case ClassIdentity, ClassConfig, ClassRecapture, ClassTransient, ClassClient:
		default:
			t.Fatalf("class %q", e.Class)
		}
		if len(e.Message) > 300 || !utf8.ValidString(e.Message) {
			t.Fatalf("message not clipped: %q", e.Message)
		}
		_ = e.Error()
	})
}

func FuzzParseHistoryPage(f *testing.F) {
	for _, s := range []string{wrappedPage, flatPage, `[]`, `{"data":[]}`, `[{"data":[{"auth_id":"x"}],"nextPage_key":{"authId":"x","createTime":"t"}}]`, `[null]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, next, err := parseHistoryPage(body)
		if err != nil {
			if recs != nil || next != nil {
				t.Fatal("partial result with an error")
			}
			return
		}
		for _, r := range recs {
			if r.AuthID == "" {
				t.Fatal("record without auth_id")
			}
			if r.Status != strings.ToLower(strings.TrimSpace(r.Status)) {
				t.Fatalf("status not normalised: %q", r.Status)
			}
		}
		if next != nil && next.AuthID == "" && next.CreateTime == "" {
			t.Fatal("empty next key")
		}
	})
}

func TestClassOf(t *testing.T) {
	_, optErr := New(Options{})
	for err, want := range map[error]Class{
		&APIError{Class: ClassRecapture}:                           ClassRecapture,
		fmt.Errorf("wrapped: %w", &APIError{Class: ClassIdentity}): ClassIdentity,
		optErr:                       ClassConfig,
		errors.New("something else"): ClassTransient,
	} {
		if got := ClassOf(err); got != want {
			t.Errorf("ClassOf(%v) = %s, want %s", err, got, want)
		}
	}
}
