// Package csvcell keeps text from outside (names, the API's comments) from
// being read as a formula by the spreadsheet a CSV export is opened in.
package csvcell

import "strings"

// Safe returns s with a leading quote when a spreadsheet would take it
// for a formula: it starts with '=', '+', '-', '@', a tab or a carriage
// return, also after spaces (a spreadsheet may skip them when it reads
// the cell); other text as it is.
func Safe(s string) string {
	t := strings.TrimLeft(s, " \u00a0")
	if t != "" && strings.ContainsRune("=+-@\t\r", rune(t[0])) {
		return "'" + s
	}
	return s
}
