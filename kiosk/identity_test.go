package kiosk

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseQR(t *testing.T) {
	long := strings.Repeat("a", 129)
	tests := []struct {
		in      string
		want    QR
		wantErr string
	}{
		{in: "FG1:S:sub-123", want: QR{SubmissionID: "sub-123"}},
		{in: "FG1:S:sub_1.x:user-9", want: QR{SubmissionID: "sub_1.x", UserID: "user-9"}},
		{in: "FG1:B:B0042", want: QR{BadgeID: "B0042"}},
		{in: "FG1:S:" + strings.Repeat("a", 128), want: QR{SubmissionID: strings.Repeat("a", 128)}},
		{in: "", wantErr: "does not start with FG1:"},
		{in: "fg1:S:x", wantErr: "does not start with FG1:"},
		{in: "https://example.com/x", wantErr: "does not start with FG1:"},
		{in: "FG1:X:abc", wantErr: `kind "X"`},
		{in: "FG1:S:", wantErr: "submission id"},
		{in: "FG1:S:a b", wantErr: "submission id"},
		{in: "FG1:S:" + long, wantErr: "submission id"},
		{in: "FG1:S:abc:", wantErr: "user id"},
		{in: "FG1:S:abc:u:v", wantErr: "user id"},
		{in: "FG1:S:abc\n", wantErr: "submission id"},
		{in: "FG1:S:ab\u00e9", wantErr: "submission id"},
		{in: "FG1:B:", wantErr: "badge id"},
		{in: "FG1:B:" + strings.Repeat("b", 65), wantErr: "badge id"},
		{in: "FG1:B:a:b", wantErr: "badge id"},
		{in: "FG1:S:" + strings.Repeat("a", 300), wantErr: "longer than 300"},
	}
	for _, tc := range tests {
		got, err := ParseQR(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalidIdentity) {
				t.Errorf("ParseQR(%q) = %+v, %v; want error with %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseQR(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseQR(f *testing.F) {
	for _, s := range []string{"FG1:S:sub-123", "FG1:S:a:b", "FG1:B:B1", "FG1:", "FG1:S:a b", "FG1:B:" + strings.Repeat("x", 70), "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		q, err := ParseQR(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidIdentity) {
				t.Fatalf("error %v does not match ErrInvalidIdentity", err)
			}
			return
		}
		if (q.BadgeID == "") == (q.SubmissionID == "") {
			t.Fatalf("exactly one of badge and submission expected: %+v", q)
		}
		if q.SubmissionID != "" && (!ValidID(q.SubmissionID) || q.UserID != "" && !ValidID(q.UserID)) {
			t.Fatalf("invalid ids accepted: %+v", q)
		}
		if q.BadgeID != "" && (!validToken(q.BadgeID, maxBadgeLen) || q.UserID != "") {
			t.Fatalf("invalid badge accepted: %+v", q)
		}
		// round trip
		re := "FG1:B:" + q.BadgeID
		if q.SubmissionID != "" {
			re = "FG1:S:" + q.SubmissionID
			if q.UserID != "" {
				re += ":" + q.UserID
			}
		}
		if re != in {
			t.Fatalf("%q parsed to %+v which prints as %q", in, q, re)
		}
	})
}

func TestParseIdentifyJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    IdentifyRequest
		wantErr string
	}{
		{in: `{"submission_id":"s1"}`, want: IdentifyRequest{SubmissionID: "s1"}},
		{in: ` {"submission_id":"s1","user_id":"u1"} `, want: IdentifyRequest{SubmissionID: "s1", UserID: "u1"}},
		{in: `{"badge_id":"B7"}`, want: IdentifyRequest{BadgeID: "B7"}},
		{in: ``, wantErr: "not a JSON object"},
		{in: `[]`, wantErr: "not a JSON object"},
		{in: `{}`, wantErr: "required"},
		{in: `{"submission_id":"s1","badge_id":"b"}`, wantErr: "not both"},
		{in: `{"badge_id":"b","user_id":"u"}`, wantErr: "user_id"},
		{in: `{"submission_id":"s1"} {}`, wantErr: "trailing"},
		{in: `{"submission_id":"s1","extra":true}`, wantErr: "unknown field"},
		{in: `{"submission_id":1}`, wantErr: "not a JSON object"},
		{in: `{"submission_id":"s/1"}`, wantErr: "submission_id"},
		{in: `{"submission_id":"s1","user_id":"u 1"}`, wantErr: "user_id"},
	}
	for _, tc := range tests {
		got, err := ParseIdentifyJSON([]byte(tc.in))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalidIdentity) {
				t.Errorf("ParseIdentifyJSON(%s) = %+v, %v; want error with %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseIdentifyJSON(%s) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseIdentifyJSON(f *testing.F) {
	for _, s := range []string{`{"submission_id":"s1"}`, `{"badge_id":"B7"}`, `{"submission_id":"s1","user_id":"u"}`, `{}`, `{"submission_id":"\u0000"}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseIdentifyJSON(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidIdentity) {
				t.Fatalf("error %v does not match ErrInvalidIdentity", err)
			}
			return
		}
		if len(in) > maxIdentifyBody {
			t.Fatal("oversized body accepted")
		}
		if (r.BadgeID == "") == (r.SubmissionID == "") {
			t.Fatalf("exactly one of badge and submission expected: %+v", r)
		}
		if r.SubmissionID != "" && !ValidID(r.SubmissionID) || r.UserID != "" && !ValidID(r.UserID) || r.BadgeID != "" && !validToken(r.BadgeID, maxBadgeLen) {
			t.Fatalf("invalid ids accepted: %+v", r)
		}
	})
}

const goodRoster = "\xef\xbb\xbfbadge_id,submission_id,user_id,display_name\n" +
	"# site office staff\n" +
	"B0001,sub-aaa,u-1,Ana Díaz\n" +
	"B0002,sub-bbb,,\"Lee, Sam\"\n"

func TestParseRoster(t *testing.T) {
	r, err := ParseRoster("roster.csv", []byte(goodRoster))
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 2 {
		t.Fatalf("%d entries", r.Len())
	}
	if e, ok := r.Lookup("B0002"); !ok || e.SubmissionID != "sub-bbb" || e.UserID != "" || e.DisplayName != "Lee, Sam" {
		t.Errorf("B0002: %+v %v", e, ok)
	}
	if _, ok := r.Lookup("B0003"); ok {
		t.Error("unknown badge found")
	}
	const hdr = "badge_id,submission_id,user_id,display_name\n"
	bad := []struct {
		name, in, want string
	}{
		{"empty", "", "roster.csv: header: missing"},
		{"wrong header", "badge,submission_id,user_id,display_name\n", "roster.csv:1: header: must be badge_id,submission_id,user_id,display_name"},
		{"short record", hdr + "B1,s1,u1,Ana\nB2,s2\n", "roster.csv:3: has 2 fields, want 4"},
		{"bad badge", hdr + "B 1,s1,,\n", `roster.csv:2: badge_id: "B 1" must be`},
		{"missing submission", hdr + "B1,,,\n", "roster.csv:2: submission_id: must be"},
		{"bad user", hdr + "B1,s1,u/1,\n", "roster.csv:2: user_id"},
		{"control in name", hdr + "B1,s1,u1,\"A\x07na\"\n", "roster.csv:2: display_name"},
		{"long name", hdr + "B1,s1,u1," + strings.Repeat("n", 65) + "\n", "roster.csv:2: display_name"},
		{"duplicate", hdr + "B1,s1,,\n\nB1,s2,,\n", `roster.csv:4: badge_id: "B1" appears twice`},
		{"bare quote", hdr + "B1,s\"1,,\n", "roster.csv:2: bare \" in non-quoted-field"},
		{"not utf8", hdr + "B1,s1,,\xff\n", "not UTF-8"},
	}
	for _, tc := range bad {
		_, err := ParseRoster("roster.csv", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrRoster) {
			t.Errorf("%s: %v; want %q", tc.name, err, tc.want)
		}
	}
}

func TestLoadRoster(t *testing.T) {
	p := filepath.Join(t.TempDir(), "roster.csv")
	if err := os.WriteFile(p, []byte(goodRoster), 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err := LoadRoster(p); err != nil || r.Len() != 2 {
		t.Fatalf("%v %v", r, err)
	}
	if _, err := LoadRoster(p + ".missing"); !errors.Is(err, ErrRoster) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParseRoster(f *testing.F) {
	f.Add([]byte(goodRoster))
	f.Add([]byte("badge_id,submission_id,user_id,display_name\nB1,s1,,\nB1,s1,,\n"))
	f.Add([]byte("badge_id,submission_id,user_id,display_name\n\"B1\",\"s\"\"1\",,x\n"))
	f.Add([]byte("a,b\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseRoster("f.csv", in)
		if err != nil {
			var ie *InputError
			if !errors.Is(err, ErrRoster) || !errors.As(err, &ie) || !strings.HasPrefix(err.Error(), "f.csv") {
				t.Fatalf("error %v is not a roster InputError naming the file", err)
			}
			return
		}
		for b, e := range r.byBadge {
			if b != e.BadgeID || !validToken(b, maxBadgeLen) || !ValidID(e.SubmissionID) ||
				e.UserID != "" && !ValidID(e.UserID) || !utf8.ValidString(e.DisplayName) || utf8.RuneCountInString(e.DisplayName) > maxNameLen {
				t.Fatalf("invalid entry accepted: %+v", e)
			}
		}
	})
}

func TestIdentifyQRAndBadges(t *testing.T) {
	cfg := testConfig(t)
	p := filepath.Join(t.TempDir(), "roster.csv")
	os.WriteFile(p, []byte(goodRoster), 0o600)
	cfg.Identity.RosterFile = p
	k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	accept(k)
	take := func() *Identity {
		k.mu.Lock()
		defer k.mu.Unlock()
		p := k.pending
		k.pending = nil
		return p
	}
	if err := k.IdentifyQR("FG1:B:B0001"); err != nil {
		t.Fatal(err)
	}
	if id := take(); id == nil || id.SubmissionID != "sub-aaa" || id.DisplayName != "Ana Díaz" || id.Source != SourceRoster {
		t.Errorf("badge: %+v", id)
	}
	if err := k.IdentifyQR("FG1:S:sub-x:u-x"); err != nil {
		t.Fatal(err)
	}
	if id := take(); id == nil || id.SubmissionID != "sub-x" || id.UserID != "u-x" || id.Source != SourceQR {
		t.Errorf("submission: %+v", id)
	}
	if err := k.IdentifyQR("FG1:B:B9999"); !errors.Is(err, ErrUnknownBadge) {
		t.Errorf("unknown badge: %v", err)
	}
	if err := k.IdentifyJSON(SourceMQTT, []byte(`{"badge_id":"B0002"}`)); err != nil {
		t.Fatal(err)
	}
	if id := take(); id == nil || id.SubmissionID != "sub-bbb" || id.Source != SourceRoster {
		t.Errorf("mqtt badge: %+v", id)
	}
	if err := k.Identify(Identity{SubmissionID: "s", Source: "carrier-pigeon"}); !errors.Is(err, ErrInvalidIdentity) {
		t.Errorf("bad source: %v", err)
	}

	cfg2 := testConfig(t)
	cfg2.Identity.QR.AllowSubmission = false
	if err := k.Reload(*cfg2); err != nil {
		t.Fatal(err)
	}
	if err := k.IdentifyQR("FG1:S:sub-x"); !errors.Is(err, ErrSourceDisabled) {
		t.Errorf("submission QR with allow_submission off: %v", err)
	}
	if err := k.IdentifyQR("FG1:B:B0001"); !errors.Is(err, ErrUnknownBadge) {
		t.Errorf("badge after reload without roster: %v", err)
	}
	cfg2.Identity.QR.Enabled = false
	k.Reload(*cfg2)
	if err := k.IdentifyQR("FG1:B:B0001"); !errors.Is(err, ErrSourceDisabled) {
		t.Errorf("qr off: %v", err)
	}
	cfg2.Identity.RosterFile = filepath.Join(t.TempDir(), "missing.csv")
	if err := k.Reload(*cfg2); err == nil {
		t.Error("reload with a missing roster succeeded")
	}
}
