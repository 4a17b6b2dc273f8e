package main

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/gate/gatetest"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/liveness"
)

func TestGateRelayRefusesACancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := &gatetest.Output{}
	r := gateRelay{relay: gate.NewRelay(out, gate.RelayOptions{})}
	err := r.Pulse(ctx, 0, func() { t.Fatal("energised on a cancelled context") })
	if err == nil {
		t.Fatal("Pulse on a cancelled context succeeded")
	}
}

// TestGateRelayReportsThroughOneRoute: energised is called when the line
// energises; the gate's OnChange route shows open then closed for a good
// pulse, and only open for a line that could not be released (a fault, it
// may still be energised). No real time: the pulse ends when the fake clock
// is advanced.
func TestGateRelayReportsThroughOneRoute(t *testing.T) {
	for _, stuck := range []bool{false, true} {
		clk := gatetest.NewClock()
		out := &gatetest.Output{}
		var mu sync.Mutex
		var shown []bool
		relay := gate.NewRelay(out, gate.RelayOptions{Clock: clk, OnChange: func(on bool) {
			mu.Lock()
			shown = append(shown, on)
			mu.Unlock()
		}})
		r := gateRelay{relay: relay}
		energised := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- r.Pulse(context.Background(), 0, func() {
				if stuck {
					out.SetErr(errors.New("release relay: EIO"))
				}
				close(energised)
			})
		}()
		<-energised
		if !clk.WaitPending(1) {
			t.Fatal("the pulse armed no timer")
		}
		pulse, _ := relay.Limits()
		clk.Advance(pulse)
		err := <-done
		relay.Close() // delivers every queued change
		mu.Lock()
		got := append([]bool(nil), shown...)
		mu.Unlock()
		want := []bool{true, false}
		if stuck {
			want = []bool{true}
			if !errors.Is(err, kiosk.ErrRelayFault) {
				t.Fatalf("stuck line: Pulse = %v, want a relay fault", err)
			}
		} else if err != nil {
			t.Fatalf("Pulse = %v", err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("stuck %v: shown %v, want %v", stuck, got, want)
		}
	}
}

// stillCamera shows one frame over and over at 15 fps of frame time.
type stillCamera struct {
	frame gocv.Mat
	start time.Time
}

func (c *stillCamera) Next(ctx context.Context, after uint64, dst *gocv.Mat) (capture.FrameInfo, error) {
	if err := ctx.Err(); err != nil {
		return capture.FrameInfo{}, err
	}
	c.frame.CopyTo(dst)
	return capture.FrameInfo{Seq: after + 1, At: c.start.Add(time.Duration(after) * time.Second / 15)}, nil
}

// TestFaceSelectorPassesTheChosenFacesDetail: the kiosk's face carries
// the selection's detail and texture of the chosen face, which the
// liveness challenge's start is compared with (blurred_start,
// face_changed).
func TestFaceSelectorPassesTheChosenFacesDetail(t *testing.T) {
	photo := gocv.IMRead(filepath.Join(gocvImagesDir(t), "face.jpg"), gocv.IMReadColor)
	require.False(t, photo.Empty(), "gocv's face.jpg")
	cam := &stillCamera{frame: photo, start: time.Now()} // frames from before the selection are not taken
	defer photo.Close()
	an, err := capture.NewAnalyzer(capture.AnalyzerConfig{})
	require.NoError(t, err)
	defer an.Close()
	sel := capture.NewSelector(cam, an, capture.SelectorConfig{Window: 200 * time.Millisecond})
	defer sel.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	face, err := (&faceSelector{sel: sel}).SelectFace(ctx, func(kiosk.Progress) {})
	require.NoError(t, err)
	want := capture.FaceDetail(photo, face.Box)
	require.True(t, liveness.KnownDetail(want), "detail %v of %v", want, face.Box)
	assert.Equal(t, want, face.Detail)
	sig := capture.FaceSignature(photo, face.Box)
	require.NoError(t, sig.Valid())
	assert.Equal(t, []float32(sig), face.Signature)
}

// A pulse the halted relay refuses (shutdown halts it before the kiosk's
// last session ends) is kiosk.ErrRelayStopping: reason shutdown, not a
// relay failure.
func TestGateRelayHaltedIsStopping(t *testing.T) {
	relay := gate.NewRelay(&gatetest.Output{}, gate.RelayOptions{})
	if err := relay.Halt(); err != nil {
		t.Fatal(err)
	}
	err := gateRelay{relay: relay}.Pulse(context.Background(), 0, func() { t.Fatal("energised while halted") })
	if !errors.Is(err, kiosk.ErrRelayStopping) {
		t.Fatalf("Pulse on a halted relay: %v, want kiosk.ErrRelayStopping", err)
	}
}
