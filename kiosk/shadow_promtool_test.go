package kiosk

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// docBlock returns the fenced code between <!-- name --> and <!-- /name -->
// in a file of docs/.
func docBlock(t *testing.T, file, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", file))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, "<!-- "+name+" -->"), strings.Index(s, "<!-- /"+name+" -->")
	if i < 0 || j < i {
		t.Fatalf("docs/%s has no block %s", file, name)
	}
	block := s[i:j]
	block = block[strings.Index(block, "\n```")+4:]
	block = block[strings.Index(block, "\n")+1:]
	return block[:strings.LastIndex(block, "```")]
}

// shadowRuleTest feeds a week and a day of one gate's counters: per hour
// 3 live and 1 failed check of granted sessions, none that could not run,
// and 7 check errors and 5 failed checks of denied sessions that must not
// count; and its turns in shadow, per hour 10 by landmarks (2 up to 0.01,
// 5 up to 0.07, all up to 0.15: the tenth is halfway through the first
// bucket, a value that is exact in floating point), with enforced ones
// that must not count.
const shadowRuleTest = `rule_files: [rules.yml]
evaluation_interval: 1h
tests:
  - interval: 1h
    input_series:
      - series: 'facegate_liveness_shadow_total{instance="gate1",outcome="live",decision="granted"}'
        values: '0+3x200'
      - series: 'facegate_liveness_shadow_total{instance="gate1",outcome="failed",decision="granted"}'
        values: '0+1x200'
      - series: 'facegate_liveness_shadow_total{instance="gate1",outcome="unavailable",decision="granted"}'
        values: '0x200'
      - series: 'facegate_liveness_shadow_total{instance="gate1",outcome="error",decision="granted"}'
        values: '0+7x200'
      - series: 'facegate_liveness_shadow_total{instance="gate1",outcome="failed",decision="denied"}'
        values: '0+5x200'
      - series: 'facegate_liveness_turn_face_widths_bucket{instance="gate1",measure="landmarks",mode="shadow",le="0.01"}'
        values: '0+2x200'
      - series: 'facegate_liveness_turn_face_widths_bucket{instance="gate1",measure="landmarks",mode="shadow",le="0.07"}'
        values: '0+5x200'
      - series: 'facegate_liveness_turn_face_widths_bucket{instance="gate1",measure="landmarks",mode="shadow",le="0.15"}'
        values: '0+10x200'
      - series: 'facegate_liveness_turn_face_widths_bucket{instance="gate1",measure="landmarks",mode="shadow",le="+Inf"}'
        values: '0+10x200'
      - series: 'facegate_liveness_turn_face_widths_bucket{instance="gate1",measure="landmarks",mode="challenge",le="0.02"}'
        values: '0+50x200'
      - series: 'facegate_liveness_turn_face_widths_bucket{instance="gate1",measure="landmarks",mode="challenge",le="+Inf"}'
        values: '0+50x200'
    promql_expr_test:
      - expr: instance:facegate_liveness_shadow_denied:ratio_7d
        eval_time: 8d
        exp_samples:
          - labels: 'instance:facegate_liveness_shadow_denied:ratio_7d{instance="gate1"}'
            value: 0.25
      - expr: instance_measure:facegate_liveness_turn_face_widths:p10_7d
        eval_time: 8d
        exp_samples:
          - labels: 'instance_measure:facegate_liveness_turn_face_widths:p10_7d{instance="gate1",measure="landmarks"}'
            value: 0.005
`

// TestShadowRuleWithPromtool: the recording rules docs/liveness.md gives
// for a shadow trial pass Debian's promtool (check and a unit test), on
// the metric the kiosk really exports.
func TestShadowRuleWithPromtool(t *testing.T) {
	promtool := promtoolOrSkip(t)
	m := scrape(t, newRig(t, nil).k)
	for _, s := range []string{`facegate_liveness_shadow_total{decision="granted",outcome="failed"} 0`,
		`facegate_liveness_turn_face_widths_bucket{measure="landmarks",mode="shadow",le="0.01"} 0`} {
		if !strings.Contains(m, s) {
			t.Fatalf("the scrape lacks the series the rules read: %s", s)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(docBlock(t, "liveness.md", "shadow-rule")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "test.yml"), []byte(shadowRuleTest), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", "rules.yml"}, {"test", "rules", "test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// promtoolOrSkip is Debian's promtool (make deps installs it); without it
// the test skips, or fails in CI (CI=true).
func promtoolOrSkip(t *testing.T) string {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (Debian package prometheus; make deps installs it)")
		}
		t.Skip("promtool is not installed (Debian package prometheus; make deps installs it)")
	}
	return promtool
}
