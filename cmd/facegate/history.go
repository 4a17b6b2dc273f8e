package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/internal/csvcell"
	"github.com/facegate/facegate/record"
)

// recordJSON is one element of `history --format json`, with the API's
// field names (auth_status normalised, whichever shape the API used).
type recordJSON struct {
	ProjectID       string         `json:"faceAuth_projectId,omitempty"`
	AuthID          string         `json:"auth_id"`
	AuthStatus      string         `json:"auth_status"`
	CreateTime      string         `json:"create_time,omitempty"`
	SubmitType      string         `json:"submit_type,omitempty"`
	KYCSubmissionID string         `json:"kyc_submission_id,omitempty"`
	DeleteCheck     bool           `json:"delete_check"`
	DeleteTime      string         `json:"delete_time,omitempty"`
	Policy          map[string]any `json:"policy,omitempty"`
	Result          map[string]any `json:"result,omitempty"`
	FailCode        []string       `json:"fail_code"`
	RejectComment   []string       `json:"reject_comment"`
}

// runHistory is `facegate history [--since D --until D] [--auth-id ID]
// [--count N] [--format table|json|csv] [--config F]`: every page.
func runHistory(ctx context.Context, a *app, args []string) int {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	since := fs.String("since", "", "first day, yyyy-mm-dd (UTC; with --until)")
	until := fs.String("until", "", "last day, yyyy-mm-dd (UTC, inclusive; with --since)")
	authID := fs.String("auth-id", "", "one authentication id")
	count := fs.Int("count", 0, "records per request, 1..2000 (default: the API's 2000); every page is fetched")
	format := fs.String("format", "table", "table, json or csv")
	cfgPath := fs.String("config", "", configFlagUsage)
	fs.Usage = func() {
		fmt.Fprintln(a.stderr, "usage: facegate history [--since D --until D] [--auth-id ID] [--count N] [--format table|json|csv] [--config F]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagMistake(a, err, argsAsk(args, "format", "json"))
	}
	asJSON := *format == "json"
	fail := func(code, class, msg string) int {
		return printError(a, asJSON, "history", &faceauth.APIError{Code: code, Class: faceauth.Class(class), Message: msg})
	}
	switch *format {
	case "table", "json", "csv":
	default:
		return fail("usage", "client", fmt.Sprintf("--format %q is not table, json or csv", *format))
	}
	if fs.NArg() > 0 {
		return fail("usage", "client", fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	q := faceauth.HistoryQuery{AuthID: *authID, PageSize: *count}
	if (*since == "") != (*until == "") {
		return fail("usage", "client", "--since and --until go together (the API takes both dates or neither)")
	}
	if *since != "" {
		var err error
		if q.Since, err = faceauth.ParseDate(*since); err != nil {
			return fail("usage", "client", "--since: "+strings.TrimPrefix(err.Error(), faceauth.ErrInvalidRequest.Error()+": "))
		}
		if q.Until, err = faceauth.ParseDate(*until); err != nil {
			return fail("usage", "client", "--until: "+strings.TrimPrefix(err.Error(), faceauth.ErrInvalidRequest.Error()+": "))
		}
		if q.Until.Before(q.Since) {
			return fail("usage", "client", "--until is before --since")
		}
	}
	if *count < 0 || *count > faceauth.MaxPageSize {
		return fail("usage", "client", fmt.Sprintf("--count must be within 1..%d", faceauth.MaxPageSize))
	}
	cfg, err := loadConfig(a, *cfgPath)
	if err != nil {
		return fail("config", "config", err.Error())
	}
	client, err := newAPIClient(cfg, 0)
	if err != nil {
		return fail("config", "config", err.Error())
	}
	// Collect first: a failure on page N prints no partial table or JSON.
	var recs []faceauth.Record
	for r, err := range client.History(ctx, q) {
		if err != nil {
			return printError(a, asJSON, "history", err)
		}
		recs = append(recs, r)
	}
	switch *format {
	case "json":
		out := make([]recordJSON, 0, len(recs))
		for _, r := range recs {
			out = append(out, toRecordJSON(r))
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	case "csv":
		writeHistoryCSV(a.stdout, recs)
	default:
		writeHistoryTable(a.stdout, recs)
	}
	return exitOK
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return record.Timestamp(t)
}

func failStrings(fcs []faceauth.FailCode) []string {
	out := make([]string, 0, len(fcs))
	for _, f := range fcs {
		out = append(out, string(f))
	}
	return out
}

func toRecordJSON(r faceauth.Record) recordJSON {
	comments := r.Comments
	if comments == nil {
		comments = []string{}
	}
	return recordJSON{
		ProjectID: r.ProjectID, AuthID: r.AuthID, AuthStatus: r.Status, CreateTime: fmtTime(r.CreateTime),
		SubmitType: r.SubmitType, KYCSubmissionID: r.KYCSubmissionID, DeleteCheck: r.Deleted,
		DeleteTime: fmtTime(r.DeleteTime), Policy: r.Policy, Result: r.Result,
		FailCode: failStrings(r.FailCodes), RejectComment: comments,
	}
}

func similarityText(r faceauth.Record) string {
	if f, ok := r.FaceSimilarity(); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return ""
}

func writeHistoryCSV(w io.Writer, recs []faceauth.Record) {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"create_time", "auth_id", "auth_status", "kyc_submission_id", "face_similarity", "fail_code", "reject_comment", "submit_type", "delete_check", "faceAuth_projectId"})
	for _, r := range recs {
		row := []string{fmtTime(r.CreateTime), r.AuthID, r.Status, r.KYCSubmissionID, similarityText(r),
			strings.Join(failStrings(r.FailCodes), ";"), strings.Join(r.Comments, "; "), r.SubmitType,
			strconv.FormatBool(r.Deleted), r.ProjectID}
		for i := range row { // the API's text: never a formula to a spreadsheet
			row[i] = csvcell.Safe(row[i])
		}
		_ = cw.Write(row)
	}
	cw.Flush()
}

func writeHistoryTable(w io.Writer, recs []faceauth.Record) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CREATE_TIME\tAUTH_ID\tSTATUS\tSUBMISSION\tSIMILARITY\tFAIL_CODES")
	for _, r := range recs {
		status := r.Status
		if r.Deleted {
			status += " (deleted)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", fmtTime(r.CreateTime), oneLine(r.AuthID), oneLine(status),
			oneLine(r.KYCSubmissionID), similarityText(r), oneLine(strings.Join(failStrings(r.FailCodes), ",")))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d record(s)\n", len(recs))
}

// oneLine keeps API text from breaking the table.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
