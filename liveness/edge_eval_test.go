package liveness

import (
	"fmt"
	"image"
	"math"
	"math/rand"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
)

// A measurement, not a cue the check uses: does a long straight edge (the
// border of a print or a phone) move with the face? docs/liveness.md
// reports what it finds on the rendered attacks and on the real recording.
// Runs with FACEGATE_EVAL=full only.

// segment is a line segment in frame pixels.
type segment struct{ a, b pt }

// longEdges finds straight edges at least minLen long in the band around
// face (grown by band face widths, the face itself left out).
func longEdges(frame gocv.Mat, face image.Rectangle, band, minLen float64) []segment {
	fw := float64(face.Dx())
	m := int(band * fw)
	r := image.Rect(face.Min.X-m, face.Min.Y-m, face.Max.X+m, face.Max.Y+m).Intersect(image.Rect(0, 0, frame.Cols(), frame.Rows()))
	sub := frame.Region(r)
	defer sub.Close()
	gray, edges, lines := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer gray.Close()
	defer edges.Close()
	defer lines.Close()
	gocv.CvtColor(sub, &gray, gocv.ColorBGRToGray)
	gocv.Canny(gray, &edges, 50, 150)
	// Blank the face (and a margin): its own features are not the frame.
	inner := face.Inset(-int(0.1 * fw)).Sub(r.Min).Intersect(image.Rect(0, 0, edges.Cols(), edges.Rows()))
	if !inner.Empty() {
		z := edges.Region(inner)
		z.SetTo(gocv.NewScalar(0, 0, 0, 0))
		z.Close()
	}
	gocv.HoughLinesPWithParams(edges, &lines, 1, math.Pi/180, 30, float32(minLen*fw), 4)
	var out []segment
	for i := 0; i < lines.Rows(); i++ {
		v := lines.GetVeciAt(i, 0)
		out = append(out, segment{pt{float64(v[0] + int32(r.Min.X)), float64(v[1] + int32(r.Min.Y))}, pt{float64(v[2] + int32(r.Min.X)), float64(v[3] + int32(r.Min.Y))}})
	}
	return out
}

// distToSegment is the distance of p to the line through s (clamped to s).
func distToSegment(p pt, s segment) float64 {
	dx, dy := s.b.X-s.a.X, s.b.Y-s.a.Y
	l2 := dx*dx + dy*dy
	t := 0.0
	if l2 > 0 {
		t = math.Max(0, math.Min(1, ((p.X-s.a.X)*dx+(p.Y-s.a.Y)*dy)/l2))
	}
	return math.Hypot(p.X-s.a.X-t*dx, p.Y-s.a.Y-t*dy)
}

// edgeVerdict: "moves" when a long edge of frame 0 is found again in frame
// j where the face's motion (shift and scale of its box) carries it, and
// not where it was; "still" when edges exist but none does; "no edge" when
// no long edge is near the face; "undecided" when the face hardly moved or
// was not found.
func edgeVerdict(finder Finder, mats []gocv.Mat) string {
	f0, _, ok, err := finder.Face(mats[0])
	if err != nil || !ok {
		return "undecided"
	}
	fw := float64(f0.Dx())
	e0 := longEdges(mats[0], f0, 1.5, 0.8)
	if len(e0) == 0 {
		return "no edge"
	}
	c0 := pt{float64(f0.Min.X+f0.Max.X) / 2, float64(f0.Min.Y+f0.Max.Y) / 2}
	decided := false
	for j := len(mats) / 2; j < len(mats); j += 4 {
		fj, _, ok, err := finder.Face(mats[j])
		if err != nil || !ok {
			continue
		}
		cj := pt{float64(fj.Min.X+fj.Max.X) / 2, float64(fj.Min.Y+fj.Max.Y) / 2}
		s := float64(fj.Dx()) / fw
		if math.Hypot(cj.X-c0.X, cj.Y-c0.Y) < 0.05*fw {
			continue // the face hardly moved: a static edge would match too
		}
		decided = true
		ej := longEdges(mats[j], fj, 1.5, 0.6)
		carry := func(p pt) pt { return pt{cj.X + s*(p.X-c0.X), cj.Y + s*(p.Y-c0.Y)} }
		for _, a := range e0 {
			pa, pb := carry(a.a), carry(a.b)
			for _, b := range ej {
				moved := distToSegment(pa, b) < 0.08*fw && distToSegment(pb, b) < 0.08*fw
				stayed := distToSegment(a.a, b) < 0.04*fw && distToSegment(a.b, b) < 0.04*fw
				if moved && !stayed {
					return "moves"
				}
			}
		}
	}
	if !decided {
		return "undecided"
	}
	return "still"
}

func TestEdgeCueMeasurement(t *testing.T) {
	sharedOrSkip(t)
	if !fullEval() {
		t.Skip("a measurement: FACEGATE_EVAL=full")
	}
	count := map[string]map[string]int{}
	add := func(set, v string) {
		if count[set] == nil {
			count[set] = map[string]int{}
		}
		count[set][v]++
	}
	finder, done := newFinder(t, capture.DetectorHaar)
	defer done()
	bg := background(t)
	defer bg.Close()
	n := int(DefaultConfig.Window.Seconds()*attackFPS) + 1
	for _, kind := range attackKinds {
		for _, p := range readPhotos(t) {
			pic, face := printOf(t, p, 150)
			for _, dir := range []Direction{Left, Right} {
				rng := rand.New(rand.NewSource(int64(150 + len(p.file))))
				render := kind.render(rng, pic, face, bg, dir)
				mats := make([]gocv.Mat, n)
				for i := range mats {
					mats[i] = gocv.NewMat()
					render(i, &mats[i])
				}
				finder.(AnalyzerFinder).An.Reset()
				add(kind.name, edgeVerdict(finder, mats))
				closeAll(mats)
			}
			pic.Close()
		}
	}
	yaw, fps := franckYaw(t, math.MaxInt)
	v, err := OpenVideo(filepath.Join(sharedFaces, "franck_talking_head.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	win := int(DefaultConfig.Window.Seconds()*fps) + 1
	for _, e := range turnEvents(yaw, fps) {
		mats := readWindow(t, v, e.start, win)
		finder.(AnalyzerFinder).An.Reset()
		add("bona fide turn (real recording)", edgeVerdict(finder, mats))
		closeAll(mats)
	}
	for set, c := range count {
		t.Log(fmt.Sprintf("edge cue, %-40s moves %d  still %d  no edge %d  undecided %d", set, c["moves"], c["still"], c["no edge"], c["undecided"]))
	}
	// The false alarm the cue must never raise: a real person's window.
	if n := count["bona fide turn (real recording)"]["moves"]; n > 0 {
		t.Errorf("the edge cue fired on %d real windows", n)
	}
}
