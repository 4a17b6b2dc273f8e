package main

// Adapters between the parts' APIs and the interfaces the kiosk consumes.
// They hold no business rules: translation only.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/record"
)

// faceSelector is capture.Selector as a kiosk.FaceSelector.
type faceSelector struct {
	sel *capture.Selector
}

func (f *faceSelector) SelectFace(ctx context.Context, progress func(kiosk.Progress)) (kiosk.Face, error) {
	s, err := f.sel.SelectFace(ctx, func(p capture.Progress) {
		progress(kiosk.Progress{Reason: string(p.Reason), Box: p.Box, Frame: p.Frame})
	})
	switch {
	case err == nil:
		return kiosk.Face{JPEG: s.JPEG, CapturedAt: s.CapturedAt, Faces: s.Faces, Box: s.Face,
			Frame: s.Frame, Score: s.Score, Detail: s.Detail, Signature: s.Signature}, nil
	case ctx.Err() != nil:
		// *capture.NoFaceError also matches ctx's error.
		return kiosk.Face{}, fmt.Errorf("face selection ended: %w", err)
	case errors.Is(err, capture.ErrNoFace):
		return kiosk.Face{}, fmt.Errorf("%w: %w", kiosk.ErrNoFace, err)
	}
	return kiosk.Face{}, fmt.Errorf("face selection: %w", err)
}

// previewSource is capture.Preview as a kiosk.PreviewSource.
type previewSource struct {
	preview *capture.Preview
}

func (p previewSource) NextPreview(ctx context.Context, after uint64) ([]byte, uint64, error) {
	return p.preview.Next(ctx, after)
}

// gateRelay is the gate's relay as a kiosk.Relay. What the line does is
// reported once, by the gate (gate.Options.OnRelay), for every pulse.
type gateRelay struct {
	relay *gate.PulseRelay
}

// Pulse implements kiosk.Relay: energised is the gate's own report that the
// line energised for this call; kiosk.ErrRelayFault that it may still be.
func (r gateRelay) Pulse(ctx context.Context, d time.Duration, energised func()) error {
	if ctx.Err() != nil {
		return errors.New("relay not pulsed: the daemon is stopping")
	}
	err := r.relay.PulseNotify(ctx, d, energised)
	switch {
	case errors.Is(err, gate.ErrRelayFault):
		return fmt.Errorf("%w: %w", kiosk.ErrRelayFault, err)
	case errors.Is(err, gate.ErrHalted):
		// Shutdown halts the relay before it ends the kiosk's last
		// session: that session did not fail to open, the daemon stopped.
		return fmt.Errorf("%w: %w", kiosk.ErrRelayStopping, err)
	}
	return err
}

// RelayFault implements kiosk.RelayMonitor for the self-test.
func (r gateRelay) RelayFault() bool { return r.relay.State() == gate.RelayFault }

// frameHealth is what a frame source tells about itself (capture.Camera,
// and the benchmarks' synthetic source).
type frameHealth interface {
	Health() capture.Health
}

// cameraMonitor is the camera's health as the kiosk's self-test reads it.
type cameraMonitor struct {
	source      frameHealth
	analyzer    *capture.Analyzer
	frozenAfter time.Duration
}

func (m *cameraMonitor) CameraHealth() kiosk.CameraHealth {
	h := m.source.Health()
	out := kiosk.CameraHealth{FPS: h.FPS, Frames: h.Frames, DetectorTime: m.analyzer.DetectTime()}
	switch h.State {
	case capture.StateUp:
		out.LastChange = h.LastFrame
	case capture.StateFrozen:
		// Frozen is declared frozen_after the last change.
		out.LastChange = h.Since.Add(-m.frozenAfter)
	default:
		msg := "camera down"
		if h.LastError != "" {
			msg += ": " + h.LastError
		}
		out.Err = errors.New(msg)
	}
	return out
}

// publisher fans the kiosk's output out to the broker (when MQTT is on) and
// to the daemon's own observers (the demo, tests and benchmarks).
// Every method returns quickly: the broker client only queues.
type publisher struct {
	broker *mqtt.Client // nil without MQTT
	camera *cameraMonitor
	log    *slog.Logger

	mu      sync.Mutex
	onState []func(kiosk.Status)
	onEvent []func(record.Event)
}

func (p *publisher) observeState(f func(kiosk.Status)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onState = append(p.onState, f)
}

func (p *publisher) observeEvent(f func(record.Event)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onEvent = append(p.onEvent, f)
}

func (p *publisher) PublishEvent(ev record.Event) error {
	p.mu.Lock()
	obs := p.onEvent
	p.mu.Unlock()
	for _, f := range obs {
		f(ev)
	}
	if p.broker == nil {
		return nil // MQTT off: the audit log is the record
	}
	return p.broker.PublishEvent(ev)
}

// PublishPulse queues a grant's relay result (MQTT off: the audit log is
// the record).
func (p *publisher) PublishPulse(r record.PulseResult) error {
	if p.broker == nil {
		return nil
	}
	return p.broker.PublishPulse(r)
}

func (p *publisher) PublishState(s kiosk.Status) error {
	p.mu.Lock()
	obs := p.onState
	p.mu.Unlock()
	for _, f := range obs {
		f(s)
	}
	if p.broker == nil {
		return nil
	}
	return p.broker.PublishState(string(s.State))
}

// PublishHealth publishes the self-test on the retained <prefix>/health
// and the camera's part of it on <prefix>/camera.
func (p *publisher) PublishHealth(h kiosk.Health) error {
	if p.broker == nil {
		return nil
	}
	ch := mqtt.CameraHealth{Status: mqtt.CameraOK, LastFrameAgeMS: -1}
	switch h.Checks["camera"].Status {
	case kiosk.HealthDown:
		ch.Status = mqtt.CameraLost
	case kiosk.HealthDegraded:
		ch.Status = mqtt.CameraDegraded
	}
	if p.camera != nil {
		c := p.camera.source.Health()
		ch.FPS = c.FPS
		if !c.LastFrame.IsZero() {
			ch.LastFrameAgeMS = time.Since(c.LastFrame).Milliseconds()
		}
	}
	ch.Message = h.Checks["camera"].Detail
	camErr := p.broker.PublishCameraHealth(ch)
	st := mqtt.SelfTest{Status: h.Status, Checks: map[string]mqtt.CheckInfo{}}
	for name, c := range h.Checks {
		st.Checks[name] = mqtt.CheckInfo{Status: c.Status, Detail: c.Detail, Value: c.Value, Unit: c.Unit}
	}
	if !h.At.IsZero() {
		st.TS = record.Timestamp(h.At)
	}
	return errors.Join(camErr, p.broker.PublishSelfTest(st))
}

// PublishAlert puts the alert on the retained <prefix>/alert; the kiosk has
// already logged it and counted it in /metrics.
func (p *publisher) PublishAlert(a kiosk.Alert) error {
	if p.broker == nil {
		return nil
	}
	ma := mqtt.Alert{Code: a.Code, Message: a.Message, EventID: a.EventID}
	if !a.At.IsZero() {
		ma.TS = record.Timestamp(a.At)
	}
	return p.broker.PublishAlert(ma)
}
