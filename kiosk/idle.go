package kiosk

import (
	"context"
	"errors"
	"time"
)

// waitForIdentity blocks in idle until an identity arrives (or, with a
// fixed identity, until an acceptable face is in view: the returned
// selection is then already running). nil when ctx ended first. The fixed
// identity is read again after every Reload: a removed or changed one never
// starts a session under its old submission id.
func (k *Kiosk) waitForIdentity(ctx context.Context) (*Identity, *selection) {
	id, sel := k.watchForIdentity(ctx)
	if id == nil {
		<-ctx.Done() // draining: no session starts before Run ends
	}
	return id, sel
}

// watchForIdentity is waitForIdentity; nil also when Drain was called.
func (k *Kiosk) watchForIdentity(ctx context.Context) (*Identity, *selection) {
	retry, waited := time.Duration(0), false
	// camDown: the camera failure of this run of them was logged; the
	// next ones (every 5 s while it lasts) are at debug level.
	camDown := false
	for {
		fixed := k.settings().identity.Fixed
		if fixed.SubmissionID == "" {
			select {
			case <-ctx.Done():
				return nil, nil
			case <-k.drainCh:
				return nil, nil
			case <-k.wake:
				// A wake whose identity was already claimed is stale.
				if id := k.claim(nil); id != nil {
					return id, nil
				}
			case <-k.reloaded:
				retry = 0
				k.setState(StateIdle, k.idleMessage(), nil)
			}
			continue
		}
		fid := &Identity{SubmissionID: fixed.SubmissionID, UserID: fixed.UserID, DisplayName: fixed.DisplayName, Source: SourceFixed}
		// stillFixed: the configuration still names fid (a Reload may have
		// revoked it since this iteration began).
		stillFixed := func() bool { return k.settings().identity.Fixed == fixed }
		if retry > 0 {
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, nil
			case <-k.drainCh:
				t.Stop()
				return nil, nil
			case <-k.wake:
				t.Stop()
				if id := k.claim(nil); id != nil {
					return id, nil
				}
				continue
			case <-k.reloaded:
				t.Stop()
				retry = 0
				k.setState(StateIdle, k.idleMessage(), nil)
				continue
			case <-t.C:
			}
			retry, waited = 0, true
		}
		p := k.settings().policy
		if wait := k.attempts.wait(fid.SubmissionID, k.now(), p.Attempts.Max, p.Attempts.Per); wait > 0 {
			// A single-user kiosk would otherwise deny "rate_limited" after
			// every cooldown while the worker stands there.
			k.setState(StateIdle, coaching[ReasonRateLimited], nil)
			retry = wait
			continue
		}
		if waited {
			k.setState(StateIdle, msgIdleFixed, nil)
			waited = false
		}
		sel := k.startSelection(ctx)
		// take returns fid with its selection unless an explicit identity
		// came first or fid was revoked (then nil, nil: look again).
		take := func() (*Identity, *selection, bool) {
			if !stillFixed() {
				sel.stop()
				k.setState(StateIdle, k.idleMessage(), nil)
				return nil, nil, false
			}
			if id := k.claim(fid); id != fid {
				sel.stop()
				return id, nil, true
			}
			return fid, sel, true
		}
		lastMsg, lastBox := msgIdleFixed, (*Box)(nil)
		for watching := true; watching; {
			select {
			case <-ctx.Done():
				sel.stop()
				return nil, nil
			case <-k.drainCh:
				sel.stop()
				return nil, nil
			case <-k.wake:
				if id := k.claim(nil); id != nil {
					sel.stop()
					return id, nil
				}
			case <-k.reloaded:
				if !stillFixed() {
					sel.stop()
					k.setState(StateIdle, k.idleMessage(), nil)
					watching = false
				}
			case <-sel.notify:
				if camDown { // frames again
					k.log.Info("camera works again while waiting for a face")
					camDown = false
				}
				p, capturing, _ := sel.progress()
				if capturing {
					if id, sel, ok := take(); ok {
						return id, sel
					}
					watching = false
					continue
				}
				b, msg := box(p), coachCapture(p.Reason)
				if msg == lastMsg && equalBox(b, lastBox) {
					continue
				}
				lastMsg, lastBox = msg, b
				k.updateStatus(func(s *Status) { s.Box, s.Message = b, msg })
			case <-sel.done:
				if sel.err == nil {
					if id, sel, ok := take(); ok {
						return id, sel
					}
					watching = false
					continue
				}
				if !errors.Is(sel.err, ErrNoFace) {
					if !camDown {
						k.log.Warn("camera failed while waiting for a face (logged again once it has worked)", "err", sel.err)
					} else {
						k.log.Debug("camera failed while waiting for a face", "err", sel.err)
					}
					camDown = true
					k.setState(StateIdle, coaching[ReasonCameraError], nil)
					retry = 2 * time.Second
				} else {
					if camDown {
						k.log.Info("camera works again while waiting for a face")
					}
					camDown = false
					retry = 200 * time.Millisecond // no spinning on a selector that gives up at once
				}
				watching = false
			}
		}
	}
}

// claim takes the pending identity (or, when none is pending, fallback)
// and marks the kiosk busy in the same step, so that no second identity
// slips in between. While draining it claims nothing (a pending identity
// is left for Run's shutdown path).
func (k *Kiosk) claim(fallback *Identity) *Identity {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.draining {
		return nil
	}
	id := k.pending
	k.pending = nil
	if id == nil {
		id = fallback
	}
	if id != nil {
		k.inSession = true
		k.sessionDone = make(chan struct{})
	}
	return id
}
