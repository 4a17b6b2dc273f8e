package liveness

import (
	"errors"
	"math"
	"testing"
)

// FuzzParseDirection: the --challenge flag and the kiosk's challenge are
// outside input; only "left" and "right" pass, everything else is
// ErrBadChallenge.
func FuzzParseDirection(f *testing.F) {
	for _, s := range []string{"left", "right", "Left", "", "up", "left "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDirection(s)
		switch s {
		case "left", "right":
			if err != nil || string(d) != s {
				t.Fatalf("ParseDirection(%q) = %q, %v", s, d, err)
			}
		default:
			if !errors.Is(err, ErrBadChallenge) || d != "" {
				t.Fatalf("ParseDirection(%q) = %q, %v; want ErrBadChallenge", s, d, err)
			}
		}
	})
}

// FuzzTrimmedQuadRMS: the bent-sheet fit never panics and never returns a
// negative or NaN residual, whatever the tracked points were.
func FuzzTrimmedQuadRMS(f *testing.F) {
	f.Add(0.0, 1.0, 2.0, 0.5, -1.0, 3.0, 0.0, 0.1)
	f.Add(1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0)
	f.Fuzz(func(t *testing.T, u0, u1, u2, u3, y0, y1, y2, y3 float64) {
		u := []float64{u0, u1, u2, u3}
		y := []float64{y0, y1, y2, y3}
		for _, v := range append(u, y...) {
			if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e6 {
				t.Skip()
			}
		}
		r := trimmedQuadRMS(u, y)
		if math.IsNaN(r) || r < 0 {
			t.Fatalf("trimmedQuadRMS(%v, %v) = %v", u, y, r)
		}
	})
}
