package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/record"
)

// maxImageFile bounds what `auth --image` reads into memory.
const maxImageFile = 20 << 20

// authJSON is `auth --json` on success, with the API's own field names.
type authJSON struct {
	AuthenticationID string             `json:"authentication_id"`
	AuthStatus       string             `json:"auth_status"`
	CreateTime       string             `json:"create_time,omitempty"`
	Score            map[string]float64 `json:"score"`
	FailCode         []string           `json:"fail_code"`
	RejectedComment  []string           `json:"rejected_comment"`
}

// runAuth is `facegate auth --submission-id ID --image F [--user-id U]
// [--cf1 X --cf2 Y --cf3 Z] [--timeout D] [--json] [--config F]`:
// exit 0 approved, 1 rejected (or any status but approved), 2 error.
func runAuth(ctx context.Context, a *app, args []string) int {
	fs := flag.NewFlagSet("auth", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	var req faceauth.Request
	fs.StringVar(&req.SubmissionID, "submission-id", "", "the worker's approved KYC submission id (required)")
	imagePath := fs.String("image", "", "JPEG face image to send (required)")
	fs.StringVar(&req.UserID, "user-id", "", "your own user id (optional)")
	fs.StringVar(&req.CF1, "cf1", "", "custom field 1 (optional)")
	fs.StringVar(&req.CF2, "cf2", "", "custom field 2 (optional)")
	fs.StringVar(&req.CF3, "cf3", "", "custom field 3 (optional)")
	timeout := fs.Duration("timeout", 0, "timeout of each request (default api.timeout, 15s)")
	asJSON := fs.Bool("json", false, "print one JSON object on stdout")
	cfgPath := fs.String("config", "", configFlagUsage)
	fs.Usage = func() {
		fmt.Fprintln(a.stderr, "usage: facegate auth --submission-id ID --image F [--user-id U] [--cf1 X --cf2 Y --cf3 Z] [--timeout D] [--json] [--config F]")
		fmt.Fprintln(a.stderr, "exit status: 0 approved, 1 rejected or not approved, 2 error")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagMistake(a, err, argsAsk(args, "json", "true"))
	}
	fail := func(code, class, msg string) int {
		return printError(a, *asJSON, "auth", &faceauth.APIError{Code: code, Class: faceauth.Class(class), Message: msg})
	}
	switch {
	case fs.NArg() > 0:
		return fail("usage", "client", fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case strings.TrimSpace(req.SubmissionID) == "":
		return fail("usage", "client", "--submission-id is required")
	case *imagePath == "":
		return fail("usage", "client", "--image is required")
	case *timeout < 0:
		return fail("usage", "client", "--timeout must be positive")
	}
	img, err := readImage(*imagePath)
	if err != nil {
		return fail("image_file", "client", err.Error())
	}
	req.Image = img
	cfg, err := loadConfig(a, *cfgPath)
	if err != nil {
		return fail("config", "config", err.Error())
	}
	client, err := newAPIClient(cfg, *timeout)
	if err != nil {
		return fail("config", "config", err.Error())
	}
	res, err := client.Authenticate(ctx, req)
	if err != nil {
		return printError(a, *asJSON, "auth", err)
	}
	if *asJSON {
		writeJSONLine(a.stdout, resultJSON(res))
	} else {
		printResult(a.stdout, res)
	}
	if res.Approved() {
		return exitOK
	}
	return exitNegative
}

func readImage(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxImageFile+1))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	if len(b) > maxImageFile {
		return nil, fmt.Errorf("image %s is larger than %d MiB", path, maxImageFile>>20)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("image %s is empty", path)
	}
	return b, nil
}

func resultJSON(r *faceauth.Result) authJSON {
	out := authJSON{
		AuthenticationID: r.AuthenticationID,
		AuthStatus:       r.Status,
		Score:            map[string]float64{},
		FailCode:         []string{},
		RejectedComment:  []string{},
	}
	if !r.CreateTime.IsZero() {
		out.CreateTime = record.Timestamp(r.CreateTime)
	}
	for _, s := range scoreList(r.Scores) {
		out.Score[s.name] = s.value
	}
	for _, f := range r.FailCodes {
		out.FailCode = append(out.FailCode, string(f))
	}
	out.RejectedComment = append(out.RejectedComment, r.Comments...)
	return out
}

type namedScore struct {
	name  string
	value float64
}

// scoreList gives the present scores under their canonical API names.
func scoreList(s faceauth.Scores) []namedScore {
	var out []namedScore
	for _, p := range []struct {
		name string
		v    *float64
	}{{"face_similarity_score", s.FaceSimilarity}, {"occluded_score", s.Occluded},
		{"face_cover_score", s.FaceCover}, {"head_cover_score", s.HeadCover}} {
		if p.v != nil {
			out = append(out, namedScore{p.name, *p.v})
		}
	}
	return out
}

func printResult(w io.Writer, r *faceauth.Result) {
	// The API's strings are printed on one line each (as history's table):
	// a newline or a terminal escape in them must not print a verdict.
	fmt.Fprintf(w, "%s\n", oneLine(strings.ToUpper(r.Status)))
	fmt.Fprintf(w, "  authentication_id      %s\n", oneLine(r.AuthenticationID))
	if !r.CreateTime.IsZero() {
		fmt.Fprintf(w, "  create_time            %s\n", r.CreateTime.UTC().Format(time.RFC3339Nano))
	}
	for _, s := range scoreList(r.Scores) {
		fmt.Fprintf(w, "  %-22s %s\n", s.name, strconv.FormatFloat(s.value, 'f', -1, 64))
	}
	for i, f := range r.FailCodes {
		comment := ""
		if i < len(r.Comments) {
			comment = " (" + r.Comments[i] + ")"
		}
		fmt.Fprintf(w, "  fail_code              %s\n", oneLine(string(f)+comment))
	}
}
