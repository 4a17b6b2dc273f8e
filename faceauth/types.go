package faceauth

import (
	"strings"
	"time"
)

// Request is one authentication: the worker's KYC submission and a face.
type Request struct {
	// SubmissionID is the worker's approved KYC submission (required).
	SubmissionID string
	// UserID and CF1..CF3 are optional and sent only when not empty.
	UserID        string
	CF1, CF2, CF3 string
	// Image is the JPEG to compare (required; 960x720 recommended).
	Image []byte
}

// Status values of Result.Status and Record.Status (lower-cased by the parser).
const (
	StatusApproved = "approved"
	StatusRejected = "rejected"
)

// Result is a 200 answer to POST /faceauth. A rejection is a Result, not an
// error.
type Result struct {
	AuthenticationID string
	// Status is auth_status, trimmed and lower-cased. Anything but
	// "approved" is not an approval.
	Status string
	// CreateTime is zero when the API sent none or one that does not parse.
	CreateTime time.Time
	Scores     Scores
	// FailCodes are canonical constants when known (case-insensitive match),
	// otherwise the API's string as-is.
	FailCodes []FailCode
	// Comments is rejected_comment.
	Comments []string
}

// Approved reports whether the API approved the face. Only this opens a gate.
func (r *Result) Approved() bool { return r != nil && r.Status == StatusApproved }

// Scores holds the scores of the options the project uses; nil means the API
// did not send that score. All are 0..100, higher meaning "more like the
// reference" / "less occluded" / "more covered".
type Scores struct {
	FaceSimilarity *float64 // face_similarity_score
	Occluded       *float64 // occluded_score
	FaceCover      *float64 // face_cover_score (or the misspelt face_cover_socre)
	HeadCover      *float64 // head_cover_score (or the misspelt head_cover_socre)
}

// FailCode is one reason for a rejection.
type FailCode string

// The documented fail codes, in the API's spelling.
const (
	FailFaceCompare FailCode = "face_compare_underscore" // similarity below threshold
	FailOccluded    FailCode = "Face_Occluded_fail"      // face obscured
	FailFaceCover   FailCode = "Face_cover_fail"         // no PPE on the face
	FailHeadCover   FailCode = "Head_cover_fail"         // no PPE on the head
)

var knownFailCodes = []FailCode{FailFaceCompare, FailOccluded, FailFaceCover, FailHeadCover}

// ParseFailCode returns the canonical constant for s (case-insensitive,
// surrounding space ignored), or s unchanged when it is not documented.
func ParseFailCode(s string) FailCode {
	t := strings.TrimSpace(s)
	for _, k := range knownFailCodes {
		if strings.EqualFold(t, string(k)) {
			return k
		}
	}
	return FailCode(s)
}

// Known reports whether f is one of the documented fail codes.
func (f FailCode) Known() bool {
	for _, k := range knownFailCodes {
		if f == k {
			return true
		}
	}
	return false
}

// HistoryQuery selects history records. The zero value lists everything.
type HistoryQuery struct {
	// AuthID selects one record.
	AuthID string
	// Since and Until bound the create date (UTC calendar days, inclusive).
	// Both or neither; only the date part is sent.
	Since, Until time.Time
	// PageSize is the API's count: records per request, 1..2000; 0 lets the
	// server choose (2000). History always follows every page.
	PageSize int
}

// Record is one history entry (GET /faceauth), from either response shape.
type Record struct {
	// ProjectID is faceAuth_projectId; empty for the flat response shape.
	ProjectID string
	AuthID    string
	// Status is auth_status (or the misspelt aurh_status), lower-cased.
	Status          string
	CreateTime      time.Time
	SubmitType      string
	KYCSubmissionID string
	Deleted         bool
	DeleteTime      time.Time
	// Policy and Result are kept as the API sent them (their value types are
	// inconsistent: occluded_threshold is a boolean where the others are
	// numbers).
	Policy    map[string]any
	Result    map[string]any
	FailCodes []FailCode
	// Comments is reject_comment.
	Comments []string
}

// FaceSimilarity is result.face_similarity when it is a number.
func (r Record) FaceSimilarity() (float64, bool) {
	f, ok := r.Result["face_similarity"].(float64)
	return f, ok
}
