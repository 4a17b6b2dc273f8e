package capture

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// rt-ops: a camera that delivers black frames (lens capped or painted
// over, the sensor dead, the IR-cut filter stuck, the light at the gate
// off). Its dark frames carry a grey level or two of sensor noise, so no
// two are identical: the frozen check never fires, the health says "up" at
// full frame rate, the kiosk's camera check is ok, and camera_down is
// never raised; every worker is told "Step into the light" and refused.
// Nothing tells the operator that the camera sees nothing.
func TestOpsBlackFramesAreNoticed(t *testing.T) {
	clock := newAutoClock()
	var n atomic.Int64
	cam, err := OpenCamera(context.Background(), CameraConfig{Source: "0", FrozenAfter: 2 * time.Second}, WithClock(clock), quiet(),
		withOpener(func() (frameReader, error) {
			return &fakeReader{clock: clock, n: &n, fill: func(i int64) float64 { return float64(1 + i%2) }}, nil // black, with noise
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	deadline := time.Now().Add(3 * time.Second)
	for n.Load() < 15*60 && time.Now().Before(deadline) { // a minute of frames in fake time
		time.Sleep(time.Millisecond)
	}
	if n.Load() < 15*20 {
		t.Fatalf("only %d frames read", n.Load())
	}
	if h := cam.Health(); h.State == StateUp && h.LastError == "" {
		t.Errorf("after %d black frames (grey level 1-2) the camera health is %q with no error (fps %.1f): a camera that sees nothing looks healthy", n.Load(), h.State, h.FPS)
	}
}
