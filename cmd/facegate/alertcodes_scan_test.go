package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/facegate/facegate/mqtt"
)

// TestEveryAlertCodeInTheSourceIsKnown: the list above is kept by hand (it missed camera_down, api_down, clock_skew and reset_mismatch); every operator alert code the code
// raises (an Alert* constant of kiosk or site, a gate input's code, a code
// written as a literal at an alert call) is in mqtt.AlertCodes, the list
// Home Assistant's alert event entity announces and that
// TestAlertCodesDocumented holds docs/mqtt.md to: a code missing there
// reaches Home Assistant as "other" and has no explanation in the docs.
func TestEveryAlertCodeInTheSourceIsKnown(t *testing.T) {
	constant := regexp.MustCompile(`\bAlert[A-Z][A-Za-z]*\s*=\s*"([a-z_]+)"`)
	literal := regexp.MustCompile(`(?:\.alert\(|RaiseAlert\(|noticeAlert\(|Alert\{Code:\s*)"([a-z_]+)"`)
	input := regexp.MustCompile(`:\s*\{"([a-z_]+)",\s*"`)
	raised := map[string]string{}
	for _, dir := range []string{"kiosk", "site", "mqtt", "cmd/facegate"} {
		files, err := filepath.Glob(filepath.Join("..", "..", dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src := string(b)
			for _, re := range []*regexp.Regexp{constant, literal} {
				for _, m := range re.FindAllStringSubmatch(src, -1) {
					raised[m[1]] = f
				}
			}
			if strings.HasSuffix(f, "inputs.go") {
				for _, m := range input.FindAllStringSubmatch(src, -1) {
					raised[m[1]] = f
				}
			}
		}
	}
	if len(raised) < 20 {
		t.Fatalf("found only %d alert codes in the code: the patterns are out of date", len(raised))
	}
	var missing []string
	for c, f := range raised {
		if !slices.Contains(mqtt.AlertCodes, c) {
			missing = append(missing, c+" ("+strings.TrimPrefix(f, "../../")+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("alert codes raised but not in mqtt.AlertCodes: %s", strings.Join(missing, ", "))
	}
}
