package sensornoise

import (
	"math/rand/v2"
	"testing"

	"gocv.io/x/gocv"
)

// TestAddLeavesClippedPixels: the renders' noise leaves a
// clipped pixel clipped (a glare's core stays flat, as a sensor's does)
// and moves the others.
func TestAddLeavesClippedPixels(t *testing.T) {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 100, 255, 0), 16, 16, gocv.MatTypeCV8UC3)
	defer m.Close()
	Add(&m, 6, rand.New(rand.NewPCG(1, 2)).NormFloat64)
	px, err := m.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for j := 0; j < len(px); j += 3 {
		if px[j] != 255 || px[j+2] != 255 {
			t.Fatalf("pixel %d: clipped channels became %d and %d, want 255", j/3, px[j], px[j+2])
		}
		if px[j+1] != 100 {
			moved++
		}
	}
	if moved < len(px)/3/2 {
		t.Errorf("noise of 6 grey levels moved %d of %d unclipped channels, want most", moved, len(px)/3)
	}
}
