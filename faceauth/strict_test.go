package faceauth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// authenticateBody runs one Authenticate against a 127.0.0.1 server that
// answers 200 with body.
func authenticateBody(t *testing.T, body string) (*Result, error) {
	t.Helper()
	srv, _ := counting(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	})
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, func(o *Options) { o.MaxAttempts = 1 })
	return c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
}

// TestAmbiguousKeysAreNotAnApproval: encoding/json matches struct
// keys case-insensitively and lets the last duplicate win, so an answer
// whose auth_status (or fail_code) is given twice is read by this client
// differently from any other reader (the vendor's own history, a proxy's
// log, a JavaScript consumer): a rejection with Head_cover_fail followed by
// "AUTH_STATUS":"approved" opens the gate. An answer that names the
// verdict twice contradicts itself and must be refused like "approved with
// a fail code".
func TestAmbiguousKeysAreNotAnApproval(t *testing.T) {
	for name, body := range map[string]string{
		"case-variant status overrides a rejection": `{"authentication_id":"a","auth_status":"rejected","fail_code":["Head_cover_fail"],"rejected_comment":["Protection equipment is not found on Head"],"AUTH_STATUS":"approved","Fail_Code":[]}`,
		"duplicate status, last one approved":       `{"authentication_id":"a","auth_status":"rejected","fail_code":[],"auth_status":"approved"}`,
		"duplicate fail_code, last one empty":       `{"authentication_id":"a","auth_status":"approved","fail_code":["Face_cover_fail"],"fail_code":[]}`,
		"duplicate score key, last one passes":      `{"authentication_id":"a","auth_status":"approved","score":{"head_cover_score":3,"head_cover_score":99}}`,
	} {
		t.Run(name, func(t *testing.T) {
			res, err := authenticateBody(t, body)
			if err == nil {
				t.Fatalf("ambiguous answer %s accepted: status %q approved=%v fail codes %v", body, res.Status, res.Approved(), res.FailCodes)
			}
			if ae := asAPIError(t, err); ae.Code != CodeInvalidResponse {
				t.Fatalf("code %s, want %s", ae.Code, CodeInvalidResponse)
			}
		})
	}
}

// TestTrailingDataIsRefused: decodeObject promises "body has data
// after the JSON object" for trailing data, but json.Decoder.More is false
// when the next byte is '}' or ']', so anything after such a byte passes.
func TestTrailingDataIsRefused(t *testing.T) {
	for _, body := range []string{
		`{"authentication_id":"a-1","auth_status":"approved"}}`,
		`{"authentication_id":"a-1","auth_status":"approved"}]`,
		`{"authentication_id":"a-1","auth_status":"approved"}],{"auth_status":"rejected","fail_code":["face_compare_underscore"]}`,
	} {
		res, err := authenticateBody(t, body)
		if err == nil {
			t.Errorf("body with trailing data %q accepted: approved=%v", body, res.Approved())
		}
	}
}

// TestGarbledFailOrErrorCodeIsNotAnApproval: the contract says an
// approval with a non-empty fail_code, or a 200 carrying an error code, is
// not an approval; rawStrings and firstString silently drop a fail_code or
// error_code that is not a string (or list of strings), so these answers
// become clean approvals.
func TestGarbledFailOrErrorCodeIsNotAnApproval(t *testing.T) {
	for _, body := range []string{
		`{"authentication_id":"a-1","auth_status":"approved","fail_code":{"code":"Head_cover_fail"}}`,
		`{"authentication_id":"a-1","auth_status":"approved","fail_code":[["Head_cover_fail"]]}`,
		`{"authentication_id":"a-1","auth_status":"approved","fail_code":[{"code":"Face_cover_fail"}]}`,
		`{"authentication_id":"a-1","auth_status":"approved","fail_code":3}`,
		`{"authentication_id":"a-1","auth_status":"approved","error_code":400}`,
		`{"authentication_id":"a-1","auth_status":"approved","error_code":["Invalid_submissionId"]}`,
	} {
		res, err := authenticateBody(t, body)
		if err == nil {
			t.Errorf("%s accepted: approved=%v fail codes %v", body, res.Approved(), res.FailCodes)
		}
	}
}

// strictKeys walks one JSON object and reports whether it is exactly one
// object followed by nothing but space, with no key repeated (compared
// case-insensitively, as encoding/json matches struct fields) at its top
// level or inside its "score" object.
func strictKeys(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	var walk func(depth int, inScore bool) bool
	walk = func(depth int, check bool) bool {
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return false
			}
			key, _ := tok.(string)
			if check {
				k := strings.ToLower(key)
				if seen[k] {
					return false
				}
				seen[k] = true
			}
			if !skipValue(dec, depth == 0 && strings.EqualFold(key, "score"), walk) {
				return false
			}
		}
		_, err := dec.Token() // '}'
		return err == nil
	}
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return false
	}
	if !walk(0, true) {
		return false
	}
	return len(bytes.TrimSpace(body[dec.InputOffset():])) == 0
}

// skipValue consumes one value; an object that is the score object is
// walked with key checks.
func skipValue(dec *json.Decoder, score bool, walk func(int, bool) bool) bool {
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	switch tok {
	case json.Delim('{'):
		if score {
			return walk(1, true)
		}
		for dec.More() {
			if _, err := dec.Token(); err != nil {
				return false
			}
			if !skipValue(dec, false, walk) {
				return false
			}
		}
		_, err := dec.Token()
		return err == nil
	case json.Delim('['):
		for dec.More() {
			if !skipValue(dec, false, walk) {
				return false
			}
		}
		_, err := dec.Token()
		return err == nil
	}
	return true
}

// FuzzApprovalIsUnambiguous: an answer parseResult approves is one
// that any JSON reader reads the same way (exactly one object, no repeated
// key), whose fail_code and error_code are absent, null or empty, and
// whose free text is bounded enough to be recorded (every event stays
// under the peers' 64 KiB). FuzzParseResult checks none of these.
func FuzzApprovalIsUnambiguous(f *testing.F) {
	for _, s := range []string{
		`{"authentication_id":"a-1","auth_status":"approved","score":{"face_similarity_score":99}}`,
		`{"auth_status":"rejected","AUTH_STATUS":"approved"}`,
		`{"authentication_id":"a-1","auth_status":"approved","score":{"head_cover_score":3,"head_cover_score":99}}`,
		`{"authentication_id":"a-1","auth_status":"approved"}]`,
		`{"authentication_id":"a-1","auth_status":"approved","fail_code":{"c":"x"}}`,
		`{"authentication_id":"a-1","auth_status":"approved","error_code":400}`,
		`{"auth_status":"approved","authentication_id":"` + strings.Repeat("a", 70<<10) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseResult(body)
		if err != nil || !r.Approved() {
			return
		}
		if !strictKeys(body) {
			t.Fatalf("approved an answer with repeated keys or trailing data: %q", body)
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) == nil {
			for _, k := range []string{"fail_code", "error_code", "errorCode"} {
				v := bytes.TrimSpace(m[k])
				if len(v) > 0 && string(v) != "null" && string(v) != "[]" && string(v) != `""` {
					t.Fatalf("approved an answer with %s %s", k, v)
				}
			}
		}
		size := len(r.AuthenticationID) + len(r.Status)
		for _, c := range r.Comments {
			size += len(c)
		}
		if size > 8<<10 {
			t.Fatalf("approved an answer with %d bytes of free text", size)
		}
	})
}
