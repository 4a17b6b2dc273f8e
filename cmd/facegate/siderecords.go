package main

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// sideRecords writes, in order and on its own goroutine, the audit
// records of openings the gate made outside a session: the exit button's
// pulse and an evacuation's hold. The loops that drive the relay (the gate
// monitor's, whose events also carry the next exit press, and the site
// wire's) must not wait for a disk: a hung card held egress.
type sideRecords struct {
	ch  chan func()
	log *slog.Logger
	// lost is told, from run's goroutine once a record went through again,
	// how many records were dropped (by what) since when; nil: only logged.
	lost func(counts map[string]int, since time.Time)

	mu        sync.Mutex
	dropped   map[string]int
	droppedAt time.Time
}

// sideRecordsQueued bounds the records waiting for the disk; past it a
// record is dropped, with an error in the log.
const sideRecordsQueued = 256

func newSideRecords(log *slog.Logger) *sideRecords {
	return &sideRecords{ch: make(chan func(), sideRecordsQueued), log: log}
}

// add queues write; it never blocks. A record past the bound is dropped
// and counted: the count is recorded once the queue moves again.
func (q *sideRecords) add(what string, write func()) {
	select {
	case q.ch <- write:
	default:
		q.log.Error("audit record not written: the audit log is not keeping up", "record", what)
		q.mu.Lock()
		if q.dropped == nil {
			q.dropped, q.droppedAt = map[string]int{}, time.Now()
		}
		q.dropped[what]++
		q.mu.Unlock()
	}
}

// reportDropped hands the records dropped so far to lost.
func (q *sideRecords) reportDropped() {
	q.mu.Lock()
	counts, since := q.dropped, q.droppedAt
	q.dropped = nil
	q.mu.Unlock()
	if counts != nil && q.lost != nil {
		q.lost(counts, since)
	}
}

// sideFlushLimit bounds how long shutdown waits for the queued records.
const sideFlushLimit = 5 * time.Second

// flush waits until the records queued before it are written (true), or
// until limit passes (false). run must be running.
func (q *sideRecords) flush(limit time.Duration) bool {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	done := make(chan struct{})
	select {
	case q.ch <- func() { close(done) }:
	case <-timer.C:
		return false
	}
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// run writes the queued records until ctx is done, then those still
// queued.
func (q *sideRecords) run(ctx context.Context) {
	for {
		select {
		case w := <-q.ch:
			w()
			q.reportDropped()
		case <-ctx.Done():
			for {
				select {
				case w := <-q.ch:
					w()
				default:
					q.reportDropped()
					return
				}
			}
		}
	}
}
