package main

import (
	"context"
	"fmt"
)

// runEmulator is being written in this session (TEMPORARY: replaced by its owner).
func runEmulator(_ context.Context, a *app, _ []string) int {
	fmt.Fprintln(a.stderr, "facegate: not built yet")
	return exitError
}
