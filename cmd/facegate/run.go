package main

import (
	"context"
	"fmt"
)

// runDaemon is being written in this session (TEMPORARY: replaced by its owner).
func runDaemon(_ context.Context, a *app, _ []string) int {
	fmt.Fprintln(a.stderr, "facegate: not built yet")
	return exitError
}
