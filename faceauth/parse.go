package faceauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/facegate/facegate/internal/jsonobj"
)

// Bounds of the API's text in a Result: it goes into every event, and an
// event must stay within what the outbox and the site's peers accept.
const (
	maxResultID    = 128 // authentication_id
	maxResultText  = 64  // auth_status, each fail code
	maxResultItems = 16  // fail codes, comments (each comment clipped to 200 bytes)
)

// parseResult decodes a 200 answer to POST /faceauth.
func parseResult(body []byte) (*Result, error) {
	var w struct {
		AuthenticationID json.RawMessage            `json:"authentication_id"`
		AuthStatus       json.RawMessage            `json:"auth_status"`
		CreateTime       json.RawMessage            `json:"create_time"`
		Score            map[string]json.RawMessage `json:"score"`
		FailCode         json.RawMessage            `json:"fail_code"`
		RejectedComment  json.RawMessage            `json:"rejected_comment"`
		ErrorCode        json.RawMessage            `json:"error_code"`
		ErrorCode2       json.RawMessage            `json:"errorCode"`
	}
	if err := decodeObject(body, &w); err != nil {
		return nil, err
	}
	// A 200 that carries an error code is that error, whatever else it
	// says (the caller turns the body into its *APIError).
	if code := firstString(w.ErrorCode, w.ErrorCode2); code != "" {
		return nil, fmt.Errorf("answer carries error_code %q", clip(code))
	}
	for _, raw := range []json.RawMessage{w.ErrorCode, w.ErrorCode2} {
		if _, isStr := rawString(raw); !isNull(raw) && !isStr {
			return nil, fmt.Errorf("answer carries an error_code that is not a string: %s", clip(string(raw)))
		}
	}
	status, ok := rawString(w.AuthStatus)
	if !ok || strings.TrimSpace(status) == "" {
		return nil, fmt.Errorf("auth_status is missing or not a string")
	}
	if len(status) > maxResultText {
		return nil, fmt.Errorf("auth_status is %d bytes long", len(status))
	}
	id, _ := rawString(w.AuthenticationID)
	if len(id) > maxResultID {
		return nil, fmt.Errorf("authentication_id is %d bytes long (max %d)", len(id), maxResultID)
	}
	fcs, ok := strictStrings(w.FailCode)
	if !ok {
		return nil, fmt.Errorf("fail_code is not a string or a list of strings: %s", clip(string(w.FailCode)))
	}
	if len(fcs) > maxResultItems {
		return nil, fmt.Errorf("fail_code has %d entries (max %d)", len(fcs), maxResultItems)
	}
	r := &Result{
		AuthenticationID: id,
		Status:           normaliseStatus(status),
		CreateTime:       rawTime(w.CreateTime),
	}
	for i, c := range rawStrings(w.RejectedComment) {
		if i == maxResultItems {
			break
		}
		r.Comments = append(r.Comments, clip(c))
	}
	for _, fc := range fcs {
		if len(fc) > maxResultText {
			fc = clip(fc[:maxResultText])
		}
		r.FailCodes = append(r.FailCodes, ParseFailCode(fc))
	}
	var errs []error
	score := func(keys ...string) *float64 {
		f, err := scoreOf(w.Score, keys...)
		if err != nil {
			errs = append(errs, err)
		}
		return f
	}
	r.Scores = Scores{
		FaceSimilarity: score("face_similarity_score"),
		Occluded:       score("occluded_score"),
		FaceCover:      score("face_cover_score", "face_cover_socre"),
		HeadCover:      score("head_cover_score", "head_cover_socre"),
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := r.Consistent(); err != nil {
		return nil, err
	}
	return r, nil
}

// Consistent reports a Result that contradicts itself or carries a score
// that is not a finite number in 0..100: such an answer is malformed and
// must not open a gate, whatever its auth_status says.
func (r *Result) Consistent() error {
	for _, s := range []struct {
		name string
		v    *float64
	}{
		{"face_similarity_score", r.Scores.FaceSimilarity},
		{"occluded_score", r.Scores.Occluded},
		{"face_cover_score", r.Scores.FaceCover},
		{"head_cover_score", r.Scores.HeadCover},
	} {
		if s.v != nil && !validScore(*s.v) {
			return fmt.Errorf("score %s is %v: not a finite number in 0..100", s.name, *s.v)
		}
	}
	// Every answer of the API carries its id (FACEAUTH-API.md); an
	// approval without one is not the API's (a stub or middlebox on the
	// path, api.url pointing elsewhere) and could never be traced.
	if r.Status == StatusApproved && strings.TrimSpace(r.AuthenticationID) == "" {
		return errors.New("auth_status approved without an authentication_id")
	}
	if r.Status == StatusApproved && len(r.FailCodes) > 0 {
		return fmt.Errorf("auth_status approved together with fail_code %q", clip(strings.Join(fcStrings(r.FailCodes), ",")))
	}
	return nil
}

// validScore is written so that NaN is invalid (every comparison with NaN
// is false).
func validScore(f float64) bool { return f >= 0 && f <= 100 }

func fcStrings(f []FailCode) []string {
	s := make([]string, len(f))
	for i, c := range f {
		s[i] = string(c)
	}
	return s
}

// errorFromResponse turns a non-200 answer (or a 200 that does not parse)
// into an *APIError. It never fails: unknown bodies become CodeHTTPStatus.
func errorFromResponse(status int, body []byte) *APIError {
	var w struct {
		ErrorCode  json.RawMessage `json:"error_code"`
		ErrorCode2 json.RawMessage `json:"errorCode"`
		Message    json.RawMessage `json:"message"`
		Message2   json.RawMessage `json:"Message"`
		TraceID    json.RawMessage `json:"traceId"`
		TraceID2   json.RawMessage `json:"trace_id"`
	}
	if decodeObject(body, &w) == nil {
		code := firstString(w.ErrorCode, w.ErrorCode2)
		msg := firstString(w.Message, w.Message2)
		trace := firstString(w.TraceID, w.TraceID2)
		if code != "" {
			class, known := classForCode(code)
			if !known {
				class = classForStatus(status)
				if status == http.StatusBadRequest {
					class = ClassClient
				}
			}
			return &APIError{HTTPStatus: status, Code: clip(code), Message: clip(msg), TraceID: clip(trace),
				Class: class, Err: ErrRejectedByAPI}
		}
		if msg != "" { // e.g. an API gateway's {"message":"Forbidden"}
			return &APIError{HTTPStatus: status, Code: CodeHTTPStatus, Message: clip(msg), TraceID: clip(trace),
				Class: classForStatus(status), Err: ErrBadResponse}
		}
	}
	msg := http.StatusText(status)
	if snippet := clip(string(body)); snippet != "" {
		msg += ": " + snippet
	} else {
		msg += " (empty body)"
	}
	return &APIError{HTTPStatus: status, Code: CodeHTTPStatus, Message: msg,
		Class: classForStatus(status), Err: ErrBadResponse}
}

// pageKey is nextPage_key, sent back as nextKey_id / nextKey_date.
type pageKey struct {
	AuthID     string
	CreateTime string
}

// parseHistoryPage decodes one GET /faceauth page in either shape: an array
// of {faceAuth_projectId, data, nextPage_key} objects, or a flat array of
// records. next is nil on the last page.
func parseHistoryPage(body []byte) (records []Record, next *pageKey, err error) {
	var items []map[string]json.RawMessage
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' { // one project object, unwrapped
		var one map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &one); err != nil {
			return nil, nil, fmt.Errorf("history page: %w", err)
		}
		items = []map[string]json.RawMessage{one}
	} else if len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, nil, fmt.Errorf("history page is not a JSON array")
	} else if err := json.Unmarshal(trimmed, &items); err != nil {
		return nil, nil, fmt.Errorf("history page is not a JSON array of objects: %w", err)
	}
	for i, it := range items {
		if it == nil {
			return nil, nil, fmt.Errorf("history page: item %d is not an object", i)
		}
		data, wrapped := it["data"]
		if !wrapped {
			rec, err := parseRecord(it, "")
			if err != nil {
				return nil, nil, fmt.Errorf("history page: item %d: %w", i, err)
			}
			records = append(records, rec)
			continue
		}
		project, _ := rawString(it["faceAuth_projectId"])
		var recs []map[string]json.RawMessage
		if !isNull(data) {
			if err := json.Unmarshal(data, &recs); err != nil {
				return nil, nil, fmt.Errorf("history page: project %d: data is not an array of objects: %w", i, err)
			}
		}
		for j, r := range recs {
			if r == nil {
				return nil, nil, fmt.Errorf("history page: project %d: record %d is not an object", i, j)
			}
			rec, err := parseRecord(r, project)
			if err != nil {
				return nil, nil, fmt.Errorf("history page: project %d: record %d: %w", i, j, err)
			}
			records = append(records, rec)
		}
		if raw, ok := it["nextPage_key"]; ok && !isNull(raw) {
			var k struct {
				AuthID     json.RawMessage `json:"authId"`
				CreateTime json.RawMessage `json:"createTime"`
			}
			if err := json.Unmarshal(raw, &k); err != nil {
				return nil, nil, fmt.Errorf("history page: nextPage_key: %w", err)
			}
			id, _ := rawString(k.AuthID)
			ct, _ := rawString(k.CreateTime)
			if id == "" && ct == "" {
				continue
			}
			next = &pageKey{AuthID: id, CreateTime: ct}
		}
	}
	return records, next, nil
}

func parseRecord(m map[string]json.RawMessage, project string) (Record, error) {
	id, ok := rawString(m["auth_id"])
	if !ok || id == "" {
		return Record{}, fmt.Errorf("auth_id is missing or not a string")
	}
	status, _ := rawString(m["auth_status"])
	if status == "" {
		status, _ = rawString(m["aurh_status"])
	}
	r := Record{
		ProjectID:  project,
		AuthID:     id,
		Status:     normaliseStatus(status),
		CreateTime: rawTime(m["create_time"]),
		DeleteTime: rawTime(m["delete_time"]),
		Comments:   rawStrings(m["reject_comment"]),
	}
	if r.Comments == nil {
		r.Comments = rawStrings(m["rejected_comment"])
	}
	r.SubmitType, _ = rawString(m["submit_type"])
	r.KYCSubmissionID, _ = rawString(m["kyc_submission_id"])
	_ = json.Unmarshal(m["delete_check"], &r.Deleted)
	for _, fc := range rawStrings(m["fail_code"]) {
		r.FailCodes = append(r.FailCodes, ParseFailCode(fc))
	}
	for key, dst := range map[string]*map[string]any{"policy": &r.Policy, "result": &r.Result} {
		if raw, ok := m[key]; ok && !isNull(raw) {
			if err := json.Unmarshal(raw, dst); err != nil {
				return Record{}, fmt.Errorf("%s is not an object", key)
			}
		}
	}
	return r, nil
}

// decodeObject requires body to be exactly one JSON object: no data after
// it, no key given twice (also in another letter case, also in the score
// map) in any of its objects: encoding/json keeps the last, other readers
// may keep the first, so such an answer says two things.
func decodeObject(body []byte, v any) error {
	err := jsonobj.Decode(body, v, jsonobj.FoldAllKeys())
	var rk *jsonobj.RepeatedKeyError
	switch {
	case err == nil:
		return nil
	case len(bytes.TrimSpace(body)) == 0:
		return fmt.Errorf("empty body")
	case errors.Is(err, jsonobj.ErrNotObject):
		return fmt.Errorf("body is not a JSON object")
	case errors.Is(err, jsonobj.ErrTrailingData):
		return fmt.Errorf("body has data after the JSON object")
	case errors.As(err, &rk):
		return fmt.Errorf("body gives key %q more than once", clip(rk.Key))
	}
	return fmt.Errorf("body is not valid JSON: %w", err)
}

// strictStrings is rawStrings that reports (ok false) anything but null,
// a string, or an array of strings.
func strictStrings(raw json.RawMessage) ([]string, bool) {
	if isNull(raw) {
		return nil, true
	}
	if s, ok := rawString(raw); ok {
		return []string{s}, true
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := rawString(it)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func normaliseStatus(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// rawString decodes a JSON string; ok is false for anything else.
func rawString(raw json.RawMessage) (string, bool) {
	if isNull(raw) {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func firstString(raws ...json.RawMessage) string {
	for _, r := range raws {
		if s, ok := rawString(r); ok && s != "" {
			return s
		}
	}
	return ""
}

// rawStrings accepts an array of strings or a single string; other element
// types are skipped.
func rawStrings(raw json.RawMessage) []string {
	if isNull(raw) {
		return nil
	}
	if s, ok := rawString(raw); ok {
		return []string{s}
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	var out []string
	for _, it := range items {
		if s, ok := rawString(it); ok {
			out = append(out, s)
		}
	}
	return out
}

func rawTime(raw json.RawMessage) time.Time {
	s, ok := rawString(raw)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// scoreOf returns the first of keys that is present and not null: a number
// or a numeric string, finite and within 0..100. Anything else there ("NaN",
// "Infinity", 1e999, "x", true, -1, 101) is an error: a malformed score must
// never read as "absent" or pass a minimum.
func scoreOf(m map[string]json.RawMessage, keys ...string) (*float64, error) {
	for _, k := range keys {
		raw, ok := m[k]
		if !ok || isNull(raw) {
			continue
		}
		var f float64
		var err error
		if s, isStr := rawString(raw); isStr {
			f, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
		} else {
			err = json.Unmarshal(raw, &f)
		}
		if err != nil || !validScore(f) {
			return nil, fmt.Errorf("score %s is %s: not a finite number in 0..100", k, clip(string(raw)))
		}
		return &f, nil
	}
	return nil, nil
}

// clip makes outside text safe for one log line or error message: valid
// UTF-8, no control characters, spaces collapsed, at most 200 bytes.
func clip(s string) string {
	const max = 200
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, "?") {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
