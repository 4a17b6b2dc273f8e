package kiosk

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/facegate/facegate/internal/jsonobj"
	"github.com/facegate/facegate/internal/regularfile"
)

// Limits of identity fields (docs/kiosk.md).
const (
	maxIDLen        = 128 // submission id, user id
	maxBadgeLen     = 64
	maxNameLen      = 64
	maxQRLen        = 300
	maxIdentifyBody = 4096
	maxRosterSize   = 8 << 20
)

// ValidID reports whether s is a usable submission or user id: 1..128
// characters of ASCII letters, digits, '.', '_' or '-'.
func ValidID(s string) bool { return validToken(s, maxIDLen) }

func validToken(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validName: printable UTF-8 without control characters, at most 64 runes.
func validName(s string) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxNameLen {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func inputErr(kind error, source, field, format string, args ...any) *InputError {
	return &InputError{Source: source, Field: field, Msg: fmt.Sprintf(format, args...), kind: kind}
}

// QR is a decoded badge payload: either a submission id (with an optional
// user id) or a badge id to look up in the roster.
type QR struct {
	SubmissionID string
	UserID       string
	BadgeID      string
}

// ParseQR validates a badge QR payload. The formats are
//
//	FG1:S:<submission id>[:<user id>]
//	FG1:B:<badge id>
//
// with ids of ASCII letters, digits, '.', '_' and '-' (submission and user
// id 1..128, badge id 1..64), the prefix case-sensitive, no spaces, at most
// 300 bytes in all. Errors match ErrInvalidIdentity.
func ParseQR(payload string) (QR, error) {
	const src = "qr payload"
	if len(payload) > maxQRLen {
		return QR{}, inputErr(ErrInvalidIdentity, src, "", "%d bytes is longer than %d", len(payload), maxQRLen)
	}
	rest, ok := strings.CutPrefix(payload, "FG1:")
	if !ok {
		return QR{}, inputErr(ErrInvalidIdentity, src, "", "does not start with FG1: (not a facegate badge)")
	}
	kind, rest, _ := strings.Cut(rest, ":")
	switch kind {
	case "S":
		sub, user, hasUser := strings.Cut(rest, ":")
		if !ValidID(sub) {
			return QR{}, inputErr(ErrInvalidIdentity, src, "submission id", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxIDLen)
		}
		if hasUser && !ValidID(user) {
			return QR{}, inputErr(ErrInvalidIdentity, src, "user id", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxIDLen)
		}
		return QR{SubmissionID: sub, UserID: user}, nil
	case "B":
		if !validToken(rest, maxBadgeLen) {
			return QR{}, inputErr(ErrInvalidIdentity, src, "badge id", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxBadgeLen)
		}
		return QR{BadgeID: rest}, nil
	}
	return QR{}, inputErr(ErrInvalidIdentity, src, "", "kind %q is not S (submission) or B (badge)", kind)
}

// IdentifyRequest is the JSON body of POST /api/identify and of the MQTT
// cmd/identify command: a submission id (with an optional user id) or a
// badge id resolved through the roster.
type IdentifyRequest struct {
	SubmissionID string `json:"submission_id,omitempty"`
	UserID       string `json:"user_id,omitempty"`
	BadgeID      string `json:"badge_id,omitempty"`
}

// ParseIdentifyJSON decodes and validates an identify body: one JSON object,
// at most 4 KiB, no unknown fields, exactly one of submission_id and
// badge_id. Errors match ErrInvalidIdentity.
func ParseIdentifyJSON(body []byte) (IdentifyRequest, error) {
	const src = "identify body"
	var r IdentifyRequest
	if len(body) > maxIdentifyBody {
		return r, inputErr(ErrInvalidIdentity, src, "", "%d bytes is longer than %d", len(body), maxIdentifyBody)
	}
	// jsonobj, as every other outside JSON: a key given twice would be
	// the last to us and the first to other readers.
	if err := jsonobj.Decode(body, &r, jsonobj.DisallowUnknownFields()); errors.Is(err, jsonobj.ErrTrailingData) {
		return IdentifyRequest{}, inputErr(ErrInvalidIdentity, src, "", "trailing data after the JSON object")
	} else if err != nil {
		return IdentifyRequest{}, inputErr(ErrInvalidIdentity, src, "", "not a JSON object with submission_id, user_id or badge_id: %v", err)
	}
	switch {
	case r.SubmissionID != "" && r.BadgeID != "":
		return IdentifyRequest{}, inputErr(ErrInvalidIdentity, src, "", "give submission_id or badge_id, not both")
	case r.SubmissionID == "" && r.BadgeID == "":
		return IdentifyRequest{}, inputErr(ErrInvalidIdentity, src, "", "submission_id or badge_id is required")
	case r.SubmissionID != "" && !ValidID(r.SubmissionID):
		return IdentifyRequest{}, inputErr(ErrInvalidIdentity, src, "submission_id", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxIDLen)
	case r.BadgeID != "" && !validToken(r.BadgeID, maxBadgeLen):
		return IdentifyRequest{}, inputErr(ErrInvalidIdentity, src, "badge_id", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxBadgeLen)
	case r.UserID != "" && !ValidID(r.UserID):
		return IdentifyRequest{}, inputErr(ErrInvalidIdentity, src, "user_id", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxIDLen)
	case r.BadgeID != "" && r.UserID != "":
		return IdentifyRequest{}, inputErr(ErrInvalidIdentity, src, "user_id", "comes from the roster with a badge_id; do not send both")
	}
	return r, nil
}

// RosterEntry is one worker of the roster.
type RosterEntry struct {
	BadgeID      string
	SubmissionID string
	UserID       string
	DisplayName  string
}

// Roster maps badge ids to workers. The zero value is an empty roster.
type Roster struct {
	byBadge map[string]RosterEntry
	// usersBySub and subsByUser bind user ids to submission ids, both
	// ways, for the identities that name both (see Roster.Binds).
	usersBySub, subsByUser map[string][]string
}

// Binds reports whether the roster lets an identity that names submission
// id sub claim user id user, and the user id it should carry: the roster's
// when it lists sub with user ids (user must be one of them, or empty,
// which takes the roster's when it has exactly one); otherwise user,
// unless the roster lists user under other submissions. The FaceAuth API checks the face
// against the submission only, and the site tracks people by user id: a
// claimed one must not move another person (passback, muster).
func (r *Roster) Binds(sub, user string) (string, bool) {
	if r == nil {
		return user, true
	}
	if users := r.usersBySub[sub]; len(users) > 0 {
		switch {
		case user != "":
			return user, slices.Contains(users, user)
		case len(users) == 1:
			return users[0], true
		}
		return "", true
	}
	// Listed without a user id, or not at all: any user id the roster does
	// not give to other submissions.
	_, taken := r.subsByUser[user]
	return user, user == "" || !taken
}

// Len is the number of workers.
func (r *Roster) Len() int {
	if r == nil {
		return 0
	}
	return len(r.byBadge)
}

// Lookup finds a badge id.
func (r *Roster) Lookup(badgeID string) (RosterEntry, bool) {
	if r == nil {
		return RosterEntry{}, false
	}
	e, ok := r.byBadge[badgeID]
	return e, ok
}

// SubmissionsOf is the distinct submission ids of the roster's badges of
// user id user, in badge order.
func (r *Roster) SubmissionsOf(user string) []string {
	if r == nil || user == "" {
		return nil
	}
	badges := make([]string, 0, 2)
	for b, e := range r.byBadge {
		if e.UserID == user {
			badges = append(badges, b)
		}
	}
	slices.Sort(badges)
	var subs []string
	seen := map[string]bool{} // not slices.Contains: quadratic in the user's badges
	for _, b := range badges {
		if s := r.byBadge[b].SubmissionID; !seen[s] {
			seen[s] = true
			subs = append(subs, s)
		}
	}
	return subs
}

// rosterHeader is the required first record.
var rosterHeader = []string{"badge_id", "submission_id", "user_id", "display_name"}

// LoadRoster reads a roster CSV file (see ParseRoster).
func LoadRoster(path string) (*Roster, error) {
	// Without blocking: a FIFO (or another special file) is refused, not
	// waited on (a reload runs on the goroutine that handles SIGTERM).
	f, _, err := regularfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRoster, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRosterSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrRoster, path, err)
	}
	return ParseRoster(path, data)
}

// ParseRoster parses a roster: UTF-8 CSV, the header
// badge_id,submission_id,user_id,display_name, then one worker per record;
// lines starting with '#' are comments. badge_id and submission_id are
// required; user_id is optional; display_name is optional printable text of
// at most 64 characters. A duplicate badge id is an error. Errors are
// *InputError naming the file, line and field, and match ErrRoster.
func ParseRoster(name string, data []byte) (*Roster, error) {
	if len(data) > maxRosterSize {
		return nil, inputErr(ErrRoster, name, "", "larger than %d bytes", maxRosterSize)
	}
	if !utf8.Valid(data) {
		return nil, inputErr(ErrRoster, name, "", "not UTF-8 text")
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // spreadsheet BOM
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comment = '#'
	cr.FieldsPerRecord = len(rosterHeader)
	cr.ReuseRecord = true
	r := &Roster{byBadge: map[string]RosterEntry{}, usersBySub: map[string][]string{}, subsByUser: map[string][]string{}}
	bound := map[[2]string]bool{} // (submission id, user id) pairs listed
	first := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				e := inputErr(ErrRoster, name, "", "%v", pe.Err)
				e.Line = pe.Line
				if pe.Err == csv.ErrFieldCount {
					e.Msg = fmt.Sprintf("has %d fields, want %d (%s)", len(rec), len(rosterHeader), strings.Join(rosterHeader, ","))
				}
				return nil, e
			}
			return nil, inputErr(ErrRoster, name, "", "%v", err)
		}
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			for i, h := range rosterHeader {
				if strings.TrimSpace(rec[i]) != h {
					e := inputErr(ErrRoster, name, "header", "must be %s", strings.Join(rosterHeader, ","))
					e.Line = line
					return nil, e
				}
			}
			continue
		}
		ent := RosterEntry{BadgeID: rec[0], SubmissionID: rec[1], UserID: rec[2], DisplayName: rec[3]}
		fail := func(field, format string, args ...any) error {
			e := inputErr(ErrRoster, name, field, format, args...)
			e.Line = line
			return e
		}
		switch {
		case !validToken(ent.BadgeID, maxBadgeLen):
			return nil, fail("badge_id", "%q must be 1-%d characters of letters, digits, '.', '_' or '-'", clip(ent.BadgeID), maxBadgeLen)
		case !ValidID(ent.SubmissionID):
			return nil, fail("submission_id", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxIDLen)
		case ent.UserID != "" && !ValidID(ent.UserID):
			return nil, fail("user_id", "must be empty or 1-%d characters of letters, digits, '.', '_' or '-'", maxIDLen)
		case !validName(ent.DisplayName):
			return nil, fail("display_name", "must be printable text of at most %d characters", maxNameLen)
		}
		if _, dup := r.byBadge[ent.BadgeID]; dup {
			return nil, fail("badge_id", "%q appears twice", ent.BadgeID)
		}
		r.byBadge[ent.BadgeID] = ent
		users := r.usersBySub[ent.SubmissionID]
		// A set beside the lists: looking each row's user id up in its
		// submission's list made a roster of one submission quadratic
		// (minutes for 8 MiB; found by a red-team pass).
		if pair := [2]string{ent.SubmissionID, ent.UserID}; ent.UserID != "" && !bound[pair] {
			bound[pair] = true
			users = append(users, ent.UserID)
			r.subsByUser[ent.UserID] = append(r.subsByUser[ent.UserID], ent.SubmissionID)
		}
		r.usersBySub[ent.SubmissionID] = users
	}
	if first {
		return nil, inputErr(ErrRoster, name, "header", "missing: the file is empty (want %s)", strings.Join(rosterHeader, ","))
	}
	return r, nil
}

// clip shortens outside text quoted in an error or a log line to about 40
// bytes, never splitting a UTF-8 character (a split one is invalid text).
func clip(s string) string { return clipTo(s, 40) }

// clipTo is s cut to at most n bytes plus "…", never splitting a UTF-8
// character.
func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
