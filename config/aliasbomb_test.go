package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// mergeBomb is a config of about 400 bytes whose merge keys (<<) nest
// levels deep, each merging the one below ten times: 10^levels mappings
// once expanded. yaml.v3's strict decoder refuses it ("excessive
// aliasing"), but only after every walker that follows aliases has run.
func mergeBomb(levels int) []byte {
	var b strings.Builder
	b.WriteString("x0: &a0 {site: a}\n")
	for i := 1; i <= levels; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 10), ",")
		fmt.Fprintf(&b, "x%d: &a%d {<<: [%s]}\n", i, i, refs)
	}
	fmt.Fprintf(&b, "<<: *a%d\n", levels)
	return []byte(b.String())
}

// TestMergeBombIsRefusedQuickly (found by a red-team pass): a config file of a
// few hundred bytes with nested merge keys must be refused in bounded
// time. bareNumberMistake walks every merge of every merged mapping again,
// so 7 levels (418 bytes) took 48 s on a dev machine, 8 levels minutes:
// `facegate config check` and a SIGHUP reload (run on the goroutine that
// also handles SIGTERM) hang on it.
func TestMergeBombIsRefusedQuickly(t *testing.T) {
	data := mergeBomb(7)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := Parse("bomb.yaml", data, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("a merge bomb loaded")
		}
		t.Logf("refused in %v: %v", time.Since(start), err)
	case <-time.After(5 * time.Second):
		t.Fatalf("Parse of a %d-byte config with nested merge keys still running after 5s", len(data))
	}
}
