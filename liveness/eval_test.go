package liveness

import (
	"context"
	"encoding/csv"
	"fmt"
	"image"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/liveness/synth"
)

// The PAD evaluation (docs/liveness.md): attacks rendered from the photos
// of ../shared/testdata/faces and bona fide turns of the one real
// recording there. `make eval-liveness` runs it in full
// (FACEGATE_EVAL=full); go test runs a small version. Thresholds were not
// tuned on this set.

const sharedFaces = "../../shared/testdata/faces"
const yunetModel = "../../shared/models/face_detection_yunet_2023mar.onnx"

func sharedOrSkip(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(sharedFaces, "MANIFEST.md")); err != nil {
		t.Skipf("no developer data set at %s (%v): the evaluation needs /work/shared", sharedFaces, err)
	}
}

func fullEval() bool { return os.Getenv("FACEGATE_EVAL") == "full" }

func newFinder(t *testing.T, det string) (Finder, func()) {
	t.Helper()
	cfg := capture.AnalyzerConfig{Detector: det, AllowMultiple: true}
	if det == capture.DetectorYuNet {
		if _, err := os.Stat(yunetModel); err != nil {
			t.Skipf("no YuNet model: %v", err)
		}
		cfg.Model = yunetModel
	}
	an, err := capture.NewAnalyzer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return AnalyzerFinder{An: an}, func() { an.Close() }
}

// tally counts decisions of one presentation type.
type tally struct {
	name       string
	attack     bool
	total      int
	accepted   int // attack: APCER numerator; bona fide: accepted
	noFace     int // the face finder found nothing (not a PAD decision)
	reasons    map[Reason]int
	scoreSum   float64
	onsetsMS   []int64
	yunetLabel bool
}

func (t *tally) add(r Result) {
	if t.reasons == nil {
		t.reasons = map[Reason]int{}
	}
	if slices.Contains(r.Reasons, ReasonNoFace) {
		t.noFace++
		return
	}
	t.total++
	t.scoreSum += r.Score
	if r.Live {
		t.accepted++
		t.onsetsMS = append(t.onsetsMS, r.Cues.OnsetMS)
	}
	for _, x := range r.Reasons {
		t.reasons[x]++
	}
}

func (t *tally) String() string {
	rate := 0.0
	if t.total > 0 {
		rate = 100 * float64(t.accepted) / float64(t.total)
	}
	metric := fmt.Sprintf("APCER %5.1f %% (%d/%d accepted)", rate, t.accepted, t.total)
	if !t.attack {
		rej := t.total - t.accepted
		metric = fmt.Sprintf("BPCER %5.1f %% (%d/%d rejected)", 100-rate, rej, t.total)
		if t.total == 0 {
			metric = "BPCER   n/a (0 presentations)"
		}
	}
	var rs []string
	for r, n := range t.reasons {
		rs = append(rs, fmt.Sprintf("%s:%d", r, n))
	}
	sort.Strings(rs)
	return fmt.Sprintf("%-34s %s  no_face:%d  reasons %s", t.name, metric, t.noFace, strings.Join(rs, " "))
}

// photo is one picture of a face from expected.csv.
type photo struct {
	file string
	face image.Rectangle
}

func readPhotos(t *testing.T) []photo {
	f, err := os.Open(filepath.Join(sharedFaces, "expected.csv"))
	if err != nil {
		t.Skipf("expected.csv: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []photo
	for _, rec := range recs[1:] {
		if len(rec) < 9 || rec[4] != "yes" || rec[5] == "" {
			continue
		}
		v := make([]int, 4)
		for i := range v {
			if v[i], err = strconv.Atoi(rec[5+i]); err != nil {
				t.Fatalf("expected.csv %s: %v", rec[0], err)
			}
		}
		out = append(out, photo{rec[0], image.Rect(v[0], v[1], v[0]+v[2], v[1]+v[3])})
	}
	if len(out) == 0 {
		t.Skip("expected.csv lists no frontal photo")
	}
	return out
}

// printOf cuts a head-and-shoulders picture around the face and scales it
// so that the face is faceW pixels wide: what an attacker prints or shows.
func printOf(t *testing.T, p photo, faceW int) gocv.Mat {
	img := gocv.IMRead(filepath.Join(sharedFaces, p.file), gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		t.Fatalf("cannot read %s", p.file)
	}
	g := p.face.Dx()
	r := image.Rect(p.face.Min.X-g, p.face.Min.Y-g*2/3, p.face.Max.X+g, p.face.Max.Y+g*2/3).Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	sub := img.Region(r)
	defer sub.Close()
	out := gocv.NewMat()
	s := float64(faceW) / float64(g)
	gocv.Resize(sub, &out, image.Pt(int(float64(r.Dx())*s), int(float64(r.Dy())*s)), 0, 0, gocv.InterpolationArea)
	return out
}

func background(t *testing.T) gocv.Mat {
	img := gocv.IMRead(filepath.Join(sharedFaces, "noface_coffee.png"), gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		t.Fatal("cannot read noface_coffee.png")
	}
	bg := gocv.NewMat()
	gocv.Resize(img, &bg, image.Pt(640, 480), 0, 0, gocv.InterpolationLinear)
	return bg
}

const attackFPS = 15

// attackKind renders one attack presentation: frame i of n into dst.
type attackKind struct {
	name   string
	render func(rng *rand.Rand, pic, bg gocv.Mat, dir Direction) func(i int, dst *gocv.Mat)
}

// handMotion is how an attacker moves a picture to fake the turn: towards
// the asked side, turned about its vertical axis (either way: the attacker
// does not know which way fools the check), with tremor.
func handMotion(rng *rand.Rand, dir Direction) func(i int) (yaw, pitch, roll, tx, ty float64) {
	sh := synth.NewShake(rng.Int63(), 0.6+rng.Float64(), 0.2+0.3*rng.Float64())
	peak := (10 + 25*rng.Float64()) * math.Pi / 180
	if rng.Intn(2) == 0 {
		peak = -peak
	}
	slide := dir.sign() * 40 * rng.Float64()
	start := time.Duration(200+rng.Intn(500)) * time.Millisecond
	pitch := (rng.Float64() - 0.5) * 0.3
	return func(i int) (float64, float64, float64, float64, float64) {
		sh.Step()
		at := time.Duration(i) * time.Second / attackFPS
		k := ramp(at, start, 700*time.Millisecond, 1)
		return peak * k, pitch * k, sh.Rot * math.Pi / 180, 320 + slide*k + sh.X, 240 + sh.Y
	}
}

var attackKinds = []attackKind{
	{"print, flat, moved/turned in 3-D", func(rng *rand.Rand, pic, bg gocv.Mat, dir Direction) func(int, *gocv.Mat) {
		move := handMotion(rng, dir)
		return func(i int, dst *gocv.Mat) {
			yaw, pitch, roll, tx, ty := move(i)
			m := synth.PlanePose(image.Pt(pic.Cols(), pic.Rows()), yaw, pitch, roll, 1, tx, ty, 640)
			defer m.Close()
			synth.OverBackground(pic, bg, dst, m)
		}
	}},
	{"print, bent (cylinder), turned", func(rng *rand.Rand, pic, bg gocv.Mat, dir Direction) func(int, *gocv.Mat) {
		move := handMotion(rng, dir)
		radius := float64(pic.Cols()) * (0.4 + 0.8*rng.Float64())
		if rng.Intn(2) == 0 {
			radius = -radius
		}
		return func(i int, dst *gocv.Mat) {
			yaw, _, _, tx, ty := move(i)
			synth.Bent(pic, bg, dst, radius, yaw, 1, tx, ty, 640)
		}
	}},
	{"screen still (bezel, moire, glare)", func(rng *rand.Rand, pic, bg gocv.Mat, dir Direction) func(int, *gocv.Mat) {
		move := handMotion(rng, dir)
		scr := gocv.NewMat()
		synth.Screen(pic, &scr, 12+rng.Intn(14), 3+2*rng.Float64(), 0.1+0.15*rng.Float64())
		gx, gy := 200+rng.Float64()*240, 140+rng.Float64()*200
		gdir := 2*rng.Float64() - 1
		return func(i int, dst *gocv.Mat) {
			yaw, pitch, roll, tx, ty := move(i)
			m := synth.PlanePose(image.Pt(scr.Cols(), scr.Rows()), yaw, pitch, roll, 1, tx, ty, 640)
			defer m.Close()
			synth.OverBackground(scr, bg, dst, m)
			// The reflection follows the room, not the screen: it drifts its own way.
			synth.Glare(dst, image.Pt(int(gx+gdir*(tx-320)), int(gy)), 40, 0.6)
		}
	}},
}

// TestEvaluationAttacks renders the attacks and counts what the check
// accepts (APCER per attack type).
func TestEvaluationAttacks(t *testing.T) {
	sharedOrSkip(t)
	photos := readPhotos(t)
	seeds, sizes := 1, []int{150}
	if fullEval() {
		seeds, sizes = 8, []int{130, 170}
	}
	finder, done := newFinder(t, capture.DetectorHaar)
	defer done()
	bg := background(t)
	defer bg.Close()
	n := int(DefaultConfig.Window.Seconds()*attackFPS) + 1
	for _, kind := range attackKinds {
		tl := &tally{name: kind.name, attack: true}
		for _, p := range photos {
			for _, faceW := range sizes {
				pic := printOf(t, p, faceW)
				for s := 0; s < seeds; s++ {
					for _, dir := range []Direction{Left, Right} {
						rng := rand.New(rand.NewSource(int64(s*1000 + faceW + len(p.file))))
						render := kind.render(rng, pic, bg, dir)
						mats := make([]gocv.Mat, n)
						for i := range mats {
							mats[i] = gocv.NewMat()
							render(i, &mats[i])
						}
						finder.(AnalyzerFinder).An.Reset()
						r, err := Check(context.Background(), Config{}, ModeChallenge, dir, finder, &MatFrames{Mats: mats, FPS: attackFPS})
						for i := range mats {
							mats[i].Close()
						}
						if err != nil {
							t.Fatal(err)
						}
						if r.Live {
							t.Logf("accepted: %s %s face %d seed %d %s: %+v", kind.name, p.file, faceW, s, dir, r.Cues)
						}
						tl.add(r)
					}
				}
				pic.Close()
			}
		}
		t.Log(tl)
		if tl.total == 0 {
			t.Errorf("%s: no presentation reached the check", kind.name)
		}
		if tl.accepted > 0 {
			t.Errorf("%s: %d of %d attacks accepted", kind.name, tl.accepted, tl.total)
		}
	}
}
