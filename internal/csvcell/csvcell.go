// Package csvcell keeps text from outside (names, the API's comments) from
// being read as a formula by the spreadsheet a CSV export is opened in.
package csvcell

// Safe returns s with a leading quote when a spreadsheet would take it
// for a formula (it starts with '=', '+', '-', '@', a tab or a carriage
// return); other text as it is.
func Safe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}
