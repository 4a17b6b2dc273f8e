// Package sensornoise adds a camera sensor's noise to a frame, for the
// tests and evaluations that render what a webcam would film.
package sensornoise

import (
	"math"

	"gocv.io/x/gocv"
)

// Add adds grey noise of standard deviation sigma to m (8-bit), the same
// on each channel of a pixel, drawn from normal (a standard normal: a
// rand.Rand's NormFloat64). A channel at 255 stays: it is clipped, and a
// sensor clips after its noise (a glare's core is flat); one at 0 does
// get noise (a sensor's black level has an offset).
func Add(m *gocv.Mat, sigma float64, normal func() float64) {
	px, err := m.DataPtrUint8()
	if err != nil {
		panic(err)
	}
	ch := m.Channels()
	for j := 0; j+ch <= len(px); j += ch {
		n := sigma * normal()
		for c := range ch {
			if px[j+c] < 255 {
				px[j+c] = uint8(max(0, min(255, math.Round(float64(px[j+c])+n))))
			}
		}
	}
}
