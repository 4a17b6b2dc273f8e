package main

import (
	"context"
	"testing"

	"github.com/facegate/facegate/internal/cdp"
)

// browser is the headless Chromium of the kiosk page's end-to-end tests
// (internal/cdp), with this package's lower-case names.
type browser struct{ b *cdp.Browser }

// startBrowser runs headless chromium (or skips the test without it).
func startBrowser(t *testing.T, ctx context.Context) *browser {
	t.Helper()
	return &browser{cdp.Start(t, ctx)}
}

func (b *browser) navigate(ctx context.Context, url string) error { return b.b.Navigate(ctx, url) }

func (b *browser) eval(ctx context.Context, expr string, out any) error {
	return b.b.Eval(ctx, expr, out)
}

func (b *browser) screenshot(ctx context.Context, path string) error {
	return b.b.Screenshot(ctx, path)
}
