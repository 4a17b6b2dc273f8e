package kiosk

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// coachingSection returns the table rows of docs/kiosk.md's "Coaching
// messages" section, and the whole document.
func coachingSection(t *testing.T) (rows [][2]string, doc string) {
	t.Helper()
	sec, doc := kioskDocSection(t, "Coaching messages")
	for _, l := range strings.Split(sec, "\n") {
		cells := strings.Split(strings.Trim(l, " |"), " | ")
		if !strings.HasPrefix(l, "|") || len(cells) != 2 || strings.HasPrefix(cells[0], "---") || cells[0] == "code" {
			continue
		}
		rows = append(rows, [2]string{cells[0], cells[1]})
	}
	return rows, doc
}

// kioskDocSection returns the section of docs/kiosk.md under the level-2
// heading named, up to the next one, and the whole document.
func kioskDocSection(t *testing.T, heading string) (sec, doc string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "kiosk.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc = string(b)
	i := strings.Index(doc, "\n## "+heading)
	if i < 0 {
		t.Fatalf("docs/kiosk.md has no section %s", heading)
	}
	sec = doc[i+4:]
	if j := strings.Index(sec, "\n## "); j >= 0 {
		sec = sec[:j]
	}
	return sec, doc
}

var backticked = regexp.MustCompile("`([A-Za-z_*]+)`")

// TestCoachingIsDocumented: every code the screen explains (the coaching
// map: the reasons of decisions, fail codes, API error codes) is named in
// docs/kiosk.md, and the message its Coaching messages table gives for a
// code is the one the screen shows.
func TestCoachingIsDocumented(t *testing.T) {
	rows, doc := coachingSection(t)
	named := map[string]bool{}
	for _, m := range backticked.FindAllStringSubmatch(doc, -1) {
		named[strings.ToLower(m[1])] = true
	}
	var missing []string
	for code := range coaching {
		switch {
		case named[code]:
		case strings.HasSuffix(code, suffixBelowMinimum) && named["*"+suffixBelowMinimum]:
		case strings.HasSuffix(code, suffixMissing) && named["*"+suffixMissing]:
		case strings.HasPrefix(code, ReasonAPIPrefix) && strings.Contains(doc, "("+strings.TrimPrefix(code, ReasonAPIPrefix)+")"):
		default:
			missing = append(missing, code)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/kiosk.md does not name the reason codes %s", strings.Join(missing, ", "))
	}

	// The table's message for each code it names (rows that qualify a
	// code, "when …", are about a liveness detail and are skipped).
	own := map[string]bool{} // codes with a row of their own
	for _, r := range rows {
		for _, m := range backticked.FindAllStringSubmatch(r[0], -1) {
			own[strings.ToLower(m[1])] = true
		}
	}
	failCode := map[string]string{"face_similarity": "face_compare_underscore", "occluded": "face_occluded_fail", "face_cover": "face_cover_fail", "head_cover": "head_cover_fail"}
	for _, r := range rows {
		if strings.Contains(r[0], " when ") || strings.Contains(r[0], "(also") {
			continue
		}
		for _, m := range backticked.FindAllStringSubmatch(r[0], -1) {
			code := strings.ToLower(m[1])
			if suffix, ok := strings.CutPrefix(code, "*"); ok && r[1] == "as the matching fail code" {
				for score, fc := range failCode {
					if own[score+suffix] {
						continue
					}
					if got := coaching[score+suffix]; got != coaching[fc] {
						t.Errorf("docs/kiosk.md: %s shows %q, as %s does; the screen shows %q", score+suffix, coaching[fc], fc, got)
					}
				}
				continue
			}
			got, ok := coaching[code]
			if !ok {
				continue // a code of another table (capture.Reasons are checked in cmd/facegate)
			}
			if got != r[1] {
				t.Errorf("docs/kiosk.md: %s shows %q; the screen shows %q", code, r[1], got)
			}
		}
	}
}
