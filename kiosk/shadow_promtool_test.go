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
// count.
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
    promql_expr_test:
      - expr: instance:facegate_liveness_shadow_denied:ratio_7d
        eval_time: 8d
        exp_samples:
          - labels: 'instance:facegate_liveness_shadow_denied:ratio_7d{instance="gate1"}'
            value: 0.25
`

// TestShadowRuleWithPromtool: the recording rule docs/liveness.md gives
// for a shadow trial passes Debian's promtool (check and a unit test), on
// the metric the kiosk really exports.
func TestShadowRuleWithPromtool(t *testing.T) {
	promtool := promtoolOrSkip(t)
	if m := scrape(t, newRig(t, nil).k); !strings.Contains(m, `facegate_liveness_shadow_total{decision="granted",outcome="failed"} 0`) {
		t.Fatal("the scrape lacks the series the rule reads")
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
