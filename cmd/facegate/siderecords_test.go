package main

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSideRecordsNeverBlock: while a write hangs (a stuck card), adding
// records returns at once, past the queue's bound too (dropped, with an
// error in the log, and counted for a records_lost record); the queued
// ones are written in order once the disk answers, and those still queued
// when the context ends are written too.
func TestSideRecordsNeverBlock(t *testing.T) {
	var mu sync.Mutex
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logBuf.Write(p)
	}), nil))
	q := newSideRecords(log)
	var lost map[string]int
	q.lost = func(counts map[string]int, since time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if lost == nil {
			lost = map[string]int{}
		}
		for k, n := range counts {
			lost[k] += n
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.run(ctx); close(done) }()

	hung := make(chan struct{})
	var written []int
	q.add("first", func() { <-hung })
	added := make(chan struct{})
	go func() {
		for i := range sideRecordsQueued + 10 {
			q.add("exit-pressed", func() {
				mu.Lock()
				written = append(written, i)
				mu.Unlock()
			})
		}
		close(added)
	}()
	select {
	case <-added:
	case <-time.After(10 * time.Second):
		t.Fatal("adding records blocked while a write hung")
	}
	logMu.Lock()
	if !strings.Contains(logBuf.String(), "audit record not written") {
		t.Error("no error logged for the records past the bound")
	}
	logMu.Unlock()
	cancel()
	close(hung)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(written) < sideRecordsQueued-1 || !slices.IsSorted(written) {
		t.Fatalf("%d records written after the disk answered (want the %d queued, in order): %v", len(written), sideRecordsQueued-1, written)
	}
	// What could not be queued is counted, and the count recorded.
	if want := sideRecordsQueued + 10 - len(written); lost["exit-pressed"] != want {
		t.Fatalf("lost %v, want %d exit-pressed (%d written of %d)", lost, want, len(written), sideRecordsQueued+10)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
