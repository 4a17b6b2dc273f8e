package kiosk

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestHealthCheckLabelsAreDocumented: docs/kiosk.md's metrics table
// gives facegate_health_check's label as `check` = camera, detector, api,
// broker, relay, disk, audit. With a broker the self-test also exports
// check="outbox" (the outbox_filling check), which an operator's alert rule
// written from the table (one rule per documented check) misses: the
// check whose failure refuses every decision's record.
func TestHealthCheckLabelsAreDocumented(t *testing.T) {
	k := webRig(t, nil, func(d *Deps) {
		d.Camera = &fakeCamera{h: CameraHealth{FPS: 15, Frames: 1, DetectorTime: 40 * time.Millisecond, LastChange: time.Now()}}
		d.Broker = &fakeBroker{connected: true}
	})
	k.setHealth(k.selfTest(context.Background()))
	srv := httptest.NewServer(k.MetricsHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "kiosk.md"))
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, l := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(l, "| `facegate_health_check`") {
			row = l
		}
	}
	if row == "" {
		t.Fatal("docs/kiosk.md has no facegate_health_check row")
	}
	documented := strings.Split(strings.TrimSpace(strings.SplitN(strings.Split(row, "`check` =")[1], "|", 2)[0]), ", ")
	re := regexp.MustCompile(`(?m)^facegate_health_check\{check="([a-z_]+)"\}`)
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		found := false
		for _, d := range documented {
			if d == m[1] {
				found = true
			}
		}
		if !found {
			t.Errorf("/metrics exports facegate_health_check{check=%q}; docs/kiosk.md lists %v", m[1], documented)
		}
	}
}
