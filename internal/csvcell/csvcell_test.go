package csvcell

import "testing"

func TestSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"Ana", "Ana"},
		{"=1+1", "'=1+1"},
		{"+31 6", "'+31 6"},
		{"-2", "'-2"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"a=1", "a=1"},
		// Leading spaces (since 2026-12-08): a spreadsheet may skip them.
		{"  =HYPERLINK(\"x\")", "'  =HYPERLINK(\"x\")"},
		{"\u00a0+1", "'\u00a0+1"},
		{" Ana", " Ana"},
		{"   ", "   "},
	}
	for _, tt := range tests {
		if got := Safe(tt.in); got != tt.want {
			t.Errorf("Safe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
