package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrSeed is wrapped by every seed problem (LoadSeed, ParseSeed, New).
var ErrSeed = errors.New("invalid emulator seed")

// Seed is what the emulator knows: projects (one per API key), KYC
// submissions and faults. It is read from YAML (LoadSeed) or built in code.
type Seed struct {
	Projects    []Project    `yaml:"projects"`
	Submissions []Submission `yaml:"submissions"`
	Faults      Faults       `yaml:"faults"`
	// Dir resolves relative reference_image paths ("" = working directory);
	// LoadSeed sets it to the seed file's folder.
	Dir string `yaml:"-"`
}

// Project is one FaceAuth project: its key and its dashboard policy.
type Project struct {
	ID     string `yaml:"id"`
	APIKey string `yaml:"api_key"`
	Policy Policy `yaml:"policy"`
	// ErrorStyle picks the 400 body shape: "snake" (error_code, message;
	// the default) or "camel" (errorCode, Message, traceId).
	ErrorStyle string `yaml:"error_style"`
	// HistoryShape picks the GET answer: "wrapped" (per project, paged; the
	// default) or "flat" (a bare array with the misspelt aurh_status, one
	// page only, as in the vendor's second sample).
	HistoryShape string `yaml:"history_shape"`
	// MisspeltScores answers face_cover_socre / head_cover_socre, as one
	// vendor sample does.
	MisspeltScores bool `yaml:"misspelt_scores"`
}

// Policy is which options are on and their thresholds (0..100). A score
// below its threshold rejects with that option's fail code. Only the scores
// of options that are on are returned.
type Policy struct {
	FaceSimilarity PolicyOption `yaml:"face_similarity"`
	Occlusion      PolicyOption `yaml:"occlusion"`
	FaceCover      PolicyOption `yaml:"face_cover"`
	HeadCover      PolicyOption `yaml:"head_cover"`
}

// PolicyOption is one policy switch.
type PolicyOption struct {
	Enabled   bool    `yaml:"enabled"`
	Threshold float64 `yaml:"threshold"`
}

// KYC submission statuses.
const (
	StatusApproved = "approved"
	StatusPending  = "pending"
	StatusRejected = "rejected"
)

// Submission is one worker's KYC submission.
type Submission struct {
	ID string `yaml:"id"`
	// Project is the owning project's ID; may be left out when the seed has
	// exactly one project.
	Project string `yaml:"project"`
	Status  string `yaml:"status"`
	// ReferenceImage is the KYC selfie's path (relative to Seed.Dir; $VAR and
	// ${VAR} are expanded from the environment). Required when approved,
	// unless ReferenceJPEG is set.
	ReferenceImage string `yaml:"reference_image"`
	// ReferenceJPEG is the selfie's bytes, for seeds built in code.
	ReferenceJPEG []byte `yaml:"-"`
	UserID        string `yaml:"user_id"`
	// Scores fixes scores instead of computing them.
	Scores FixedScores `yaml:"scores"`
}

// FixedScores pins scores (0..100) for a submission; nil means computed
// (similarity, occlusion) or 0 (face cover, head cover: the emulator has no
// PPE detector).
type FixedScores struct {
	FaceSimilarity *float64 `yaml:"face_similarity"`
	Occluded       *float64 `yaml:"occluded"`
	FaceCover      *float64 `yaml:"face_cover"`
	HeadCover      *float64 `yaml:"head_cover"`
}

// Faults inject latency and failures.
type Faults struct {
	// Latency delays every answer.
	Latency time.Duration `yaml:"latency"`
	// RandomSeed makes rate-based faults reproducible (0: fixed seed 1).
	RandomSeed int64 `yaml:"random_seed"`
	// Rules are tried in order; the first that fires answers the request.
	Rules []FaultRule `yaml:"errors"`
}

// FaultRule fails matching requests. Exactly one of Code, Status or Drop.
type FaultRule struct {
	// Code answers 400 with that documented error code (in the project's
	// error style).
	Code string `yaml:"code"`
	// Status answers that HTTP status with Body (gateway junk: HTML, empty,
	// truncated JSON) and ContentType (text/html when empty).
	Status      int    `yaml:"status"`
	Body        string `yaml:"body"`
	ContentType string `yaml:"content_type"`
	// Drop closes the connection without an answer.
	Drop bool `yaml:"drop"`
	// Method is POST (default) or GET.
	Method string `yaml:"method"`
	// Submission limits the rule to one submissionId (POST only).
	Submission string `yaml:"submission"`
	// Rate is the fraction (0..1] of matching requests that fail (default 1).
	Rate float64 `yaml:"rate"`
	// Times limits the rule to its first N firings (0: no limit).
	Times int `yaml:"times"`
	// Latency delays the answer of the requests this rule fires on.
	Latency time.Duration `yaml:"latency"`
}

// documented error codes and their messages (newest vendor wording).
var errorMessages = map[string]string{
	"invalid_data_format":       "Data parsing error. Please check input data.",
	"required_field_missing":    "Required field is missing",
	"Invalid_submissionId":      "Fail to find the submission data",
	"Invalid_projectId":         "Fail to find the project data",
	"invalid_submission_status": "The submission must be approved to process face authentication",
	"image_converting_error":    "Image converting error",
	"image_processing_error":    "Image processing error",
	"detection_server_error":    "Cannot finish process of detecting face",
	"no_face":                   "Face is not detected",
	"data_processing_error":     "Data processing error",
}

// LoadSeed reads and validates a seed file. Unknown keys are rejected with
// their line.
func LoadSeed(path string) (*Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSeed, err)
	}
	s, err := ParseSeed(path, data)
	if err != nil {
		return nil, err
	}
	s.Dir = filepath.Dir(path)
	return s, nil
}

// ParseSeed decodes and validates seed YAML; name is used in messages.
// Reference images are not read here (New does).
func ParseSeed(name string, data []byte) (*Seed, error) {
	var s Seed
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
		msg = strings.ReplaceAll(msg, "\n  ", "; ")
		msg = strings.ReplaceAll(msg, "not found in type", "is not a known key of")
		return nil, fmt.Errorf("%s: %w: %s", name, ErrSeed, msg)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &s, nil
}

// Validate checks the seed without reading images; errors wrap ErrSeed and
// name the field.
func (s *Seed) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrSeed, field, fmt.Sprintf(format, args...))
	}
	if len(s.Projects) == 0 {
		return bad("projects", "at least one project is needed")
	}
	ids, keys := map[string]bool{}, map[string]bool{}
	for i, p := range s.Projects {
		f := fmt.Sprintf("projects[%d]", i)
		if strings.TrimSpace(p.ID) == "" {
			return bad(f+".id", "must not be empty")
		}
		if ids[p.ID] {
			return bad(f+".id", "%q is used twice", p.ID)
		}
		ids[p.ID] = true
		if strings.TrimSpace(p.APIKey) != p.APIKey || p.APIKey == "" {
			return bad(f+".api_key", "must not be empty or have surrounding spaces")
		}
		if keys[p.APIKey] {
			return bad(f+".api_key", "is used by another project")
		}
		keys[p.APIKey] = true
		for name, o := range map[string]PolicyOption{"face_similarity": p.Policy.FaceSimilarity, "occlusion": p.Policy.Occlusion,
			"face_cover": p.Policy.FaceCover, "head_cover": p.Policy.HeadCover} {
			if o.Threshold < 0 || o.Threshold > 100 {
				return bad(f+".policy."+name+".threshold", "%g is not within 0..100", o.Threshold)
			}
		}
		switch p.ErrorStyle {
		case "", "snake", "camel":
		default:
			return bad(f+".error_style", "%q is not snake or camel", p.ErrorStyle)
		}
		switch p.HistoryShape {
		case "", "wrapped", "flat":
		default:
			return bad(f+".history_shape", "%q is not wrapped or flat", p.HistoryShape)
		}
	}
	subs := map[string]bool{}
	for i, sub := range s.Submissions {
		f := fmt.Sprintf("submissions[%d]", i)
		if strings.TrimSpace(sub.ID) == "" {
			return bad(f+".id", "must not be empty")
		}
		if subs[sub.ID] {
			return bad(f+".id", "%q is used twice", sub.ID)
		}
		subs[sub.ID] = true
		if sub.Project == "" && len(s.Projects) != 1 {
			return bad(f+".project", "must name a project when the seed has several")
		}
		if sub.Project != "" && !ids[sub.Project] {
			return bad(f+".project", "%q is not a project of this seed", sub.Project)
		}
		switch sub.Status {
		case StatusApproved:
			if sub.ReferenceImage == "" && len(sub.ReferenceJPEG) == 0 {
				return bad(f+".reference_image", "an approved submission needs a reference face image")
			}
		case StatusPending, StatusRejected:
		default:
			return bad(f+".status", "%q is not approved, pending or rejected", sub.Status)
		}
		for name, v := range map[string]*float64{"face_similarity": sub.Scores.FaceSimilarity, "occluded": sub.Scores.Occluded,
			"face_cover": sub.Scores.FaceCover, "head_cover": sub.Scores.HeadCover} {
			if v != nil && (*v < 0 || *v > 100) {
				return bad(f+".scores."+name, "%g is not within 0..100", *v)
			}
		}
	}
	if s.Faults.Latency < 0 || s.Faults.Latency > time.Minute {
		return bad("faults.latency", "%s is not within 0..1m", s.Faults.Latency)
	}
	for i, r := range s.Faults.Rules {
		f := fmt.Sprintf("faults.errors[%d]", i)
		kinds := 0
		if r.Code != "" {
			kinds++
			if _, ok := errorMessages[r.Code]; !ok {
				return bad(f+".code", "%q is not a documented error code", r.Code)
			}
		}
		if r.Status != 0 {
			kinds++
			if r.Status < 100 || r.Status > 599 || r.Status == http.StatusOK {
				return bad(f+".status", "%d is not an HTTP error status", r.Status)
			}
		}
		if r.Drop {
			kinds++
		}
		if kinds != 1 {
			return bad(f, "needs exactly one of code, status or drop")
		}
		if r.Body != "" && r.Status == 0 {
			return bad(f+".body", "only goes with status")
		}
		switch strings.ToUpper(r.Method) {
		case "", "POST", "GET":
		default:
			return bad(f+".method", "%q is not POST or GET", r.Method)
		}
		if r.Submission != "" && strings.EqualFold(r.Method, "GET") {
			return bad(f+".submission", "only applies to POST")
		}
		if r.Rate < 0 || r.Rate > 1 {
			return bad(f+".rate", "%g is not within 0..1", r.Rate)
		}
		if r.Times < 0 {
			return bad(f+".times", "must not be negative")
		}
		if r.Latency < 0 || r.Latency > time.Minute {
			return bad(f+".latency", "%s is not within 0..1m", r.Latency)
		}
	}
	return nil
}

// referenceBytes returns the submission's selfie, read from disk if needed.
func (s *Seed) referenceBytes(sub Submission) ([]byte, error) {
	if len(sub.ReferenceJPEG) > 0 {
		return sub.ReferenceJPEG, nil
	}
	var unset []string
	p := os.Expand(sub.ReferenceImage, func(k string) string {
		v, ok := os.LookupEnv(k)
		if !ok || v == "" {
			unset = append(unset, k)
		}
		return v
	})
	if len(unset) > 0 {
		return nil, fmt.Errorf("%w: submission %q: reference_image uses $%s, which is not set", ErrSeed, sub.ID, unset[0])
	}
	if !filepath.IsAbs(p) && s.Dir != "" {
		p = filepath.Join(s.Dir, p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%w: submission %q: reference image: %w", ErrSeed, sub.ID, err)
	}
	return b, nil
}
