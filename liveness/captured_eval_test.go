package liveness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
)

// Real camera clips from public repositories (testdata/captured.tsv): people
// turning their heads on purpose in front of a webcam or phone, and screens
// showing a face filmed by a camera. No registry here serves them: `make
// captured-clips` fetches them from GitHub on request into
// $FACEGATE_EVAL_CAPTURED, and the full evaluation uses the ones present
// (it never fetches anything).

// Kinds of captured clip.
const (
	clipTurns  = "turns"         // bona fide: a person turning the head on purpose
	clipStill  = "screen-still"  // attack: a photo on a phone, tablet or monitor
	clipReplay = "screen-replay" // attack: a video of the person played on a screen
	clipPrint  = "print"         // attack: a printed photo
)

// capturedClip is one line of testdata/captured.tsv.
type capturedClip struct {
	name   string
	kind   string
	sha256 string
	source string // github.com/owner/repo@commit:path
	// spans: the seconds of an attack clip where a challenge may start, as
	// the attack is the only face the finder can take there (the whole clip
	// when there are none).
	spans []span
	// crop: the camera's picture within each frame, where the clip is a
	// screen recording of an app showing it (empty: the whole frame).
	crop image.Rectangle
}

// span is a stretch of a clip, in seconds.
type span struct{ from, to float64 }

// spansText is how the evaluation's log names the stretches: as the
// manifest writes them, or the whole clip.
func spansText(spans []span) string {
	if len(spans) == 0 {
		return "the whole clip"
	}
	var parts []string
	for _, sp := range spans {
		parts = append(parts, fmt.Sprintf("%g-%g s", sp.from, sp.to))
	}
	return strings.Join(parts, ", ")
}

// file is the clip's name in the captured folder: its name and the
// source's extension.
func (c capturedClip) file() string {
	return c.name + strings.ToLower(path.Ext(c.source))
}

var sourcePattern = regexp.MustCompile(`^github\.com/[^/@:]+/[^/@:]+@[0-9a-f]{40}:[^\t]+\.[A-Za-z0-9]+$`)

// parseCaptured reads the manifest: name, kind, sha256, source and, for
// attacks, the seconds a-b where a challenge may start ("-" for all; a-b,c-d
// for several stretches, in order and apart) and, optionally, the camera's
// picture x,y,w,h within a screen recording.
func parseCaptured(text string) ([]capturedClip, error) {
	var out []capturedClip
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 && len(f) != 6 {
			return nil, fmt.Errorf("testdata/captured.tsv:%d: want 5 or 6 tab-separated fields (name, kind, sha256, source, seconds[, crop]), got %d", i+1, len(f))
		}
		c := capturedClip{name: f[0], kind: f[1], sha256: f[2], source: f[3]}
		switch {
		case c.name == "" || strings.ContainsAny(c.name, "/\\. ") || seen[c.name]:
			return nil, fmt.Errorf("testdata/captured.tsv:%d: name %q: want a unique name without / \\ . or space", i+1, c.name)
		case !slices.Contains([]string{clipTurns, clipStill, clipReplay, clipPrint}, c.kind):
			return nil, fmt.Errorf("testdata/captured.tsv:%d: kind %q: want turns, screen-still, screen-replay or print", i+1, c.kind)
		case len(c.sha256) != 64 || strings.Trim(c.sha256, "0123456789abcdef") != "":
			return nil, fmt.Errorf("testdata/captured.tsv:%d: sha256 %q: want 64 lowercase hex digits", i+1, c.sha256)
		case !sourcePattern.MatchString(c.source):
			return nil, fmt.Errorf("testdata/captured.tsv:%d: source %q: want github.com/owner/repo@commit:path (a 40-digit commit, a path with an extension)", i+1, c.source)
		}
		if f[4] != "-" {
			spans, err := parseSpans(f[4])
			if err != nil {
				return nil, fmt.Errorf("testdata/captured.tsv:%d: seconds %q: %w", i+1, f[4], err)
			}
			c.spans = spans
		}
		if len(f) == 6 {
			crop, ok := parseCrop(f[5])
			if !ok {
				return nil, fmt.Errorf("testdata/captured.tsv:%d: crop %q: want x,y,w,h in pixels (x, y >= 0; w, h > 0)", i+1, f[5])
			}
			c.crop = crop
		}
		seen[c.name] = true
		out = append(out, c)
	}
	return out, nil
}

// parseSpans reads a-b[,c-d...]: stretches with 0 <= a < b < c < d.
func parseSpans(text string) ([]span, error) {
	var out []span
	for _, part := range strings.Split(text, ",") {
		a, b, ok := strings.Cut(part, "-")
		from, err1 := strconv.ParseFloat(a, 64)
		to, err2 := strconv.ParseFloat(b, 64)
		switch {
		case !ok || err1 != nil || err2 != nil || math.IsNaN(from) || math.IsInf(to, 0) || from < 0 || !(to > from):
			return nil, fmt.Errorf("want a-b with 0 <= a < b, several separated by commas, or -")
		case len(out) > 0 && !(from > out[len(out)-1].to):
			return nil, fmt.Errorf("%s starts before the stretch ahead of it ends: want them in order and apart", part)
		}
		out = append(out, span{from, to})
	}
	return out, nil
}

// parseCrop reads x,y,w,h (pixels; x, y >= 0, w, h > 0).
func parseCrop(text string) (image.Rectangle, bool) {
	f := strings.Split(text, ",")
	if len(f) != 4 {
		return image.Rectangle{}, false
	}
	var v [4]int
	for i, s := range f {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || (i >= 2 && n == 0) {
			return image.Rectangle{}, false
		}
		v[i] = n
	}
	return image.Rect(v[0], v[1], v[0]+v[2], v[1]+v[3]), true
}

// readCaptured parses the committed manifest.
func readCaptured(t *testing.T) []capturedClip {
	t.Helper()
	b, err := os.ReadFile("testdata/captured.tsv")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := parseCaptured(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// capturedClips are the clips of the manifest present (and intact) in
// $FACEGATE_EVAL_CAPTURED, in the full evaluation only.
func capturedClips(t *testing.T) []capturedClip {
	t.Helper()
	if !fullEval() {
		return nil
	}
	all := readCaptured(t)
	dir := os.Getenv("FACEGATE_EVAL_CAPTURED")
	var out []capturedClip
	for _, c := range all {
		p := filepath.Join(dir, c.file())
		sum, err := fileSHA256(p)
		switch {
		case err != nil:
			t.Logf("captured clip %s left out: %v (docs/liveness.md, \"Real camera clips\", says how to get it; FACEGATE_EVAL_CAPTURED=%q)", c.name, err, dir)
			continue
		case sum != c.sha256:
			t.Errorf("captured clip %s: %s has sha256 %s, the manifest says %s", c.name, p, sum, c.sha256)
			continue
		}
		out = append(out, c)
	}
	return out
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func TestParseCaptured(t *testing.T) {
	const sum = "25d69348e293069e01edc5d6bacbd52816a014c183291a31e6c259b31176722a"
	good := "# comment\nzubair\tturns\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:videos/real.mov\t-\n" +
		"zubair-phone\tscreen-replay\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:videos/fake.mp4\t2.5-10.5\n"
	cs, err := parseCaptured(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].file() != "zubair.mov" || !slices.Equal(cs[1].spans, []span{{2.5, 10.5}}) || cs[0].spans != nil {
		t.Fatalf("parsed %+v", cs)
	}
	if got := spansText(cs[1].spans); got != "2.5-10.5 s" {
		t.Errorf("spansText = %q", got)
	}
	if got := spansText(nil); got != "the whole clip" {
		t.Errorf("spansText(nil) = %q", got)
	}
	several, err := parseCaptured("a\tprint\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t1-2.5,4-6")
	if err != nil || !slices.Equal(several[0].spans, []span{{1, 2.5}, {4, 6}}) || !several[0].crop.Empty() {
		t.Fatalf("several stretches: %+v, %v", several, err)
	}
	inApp, err := parseCaptured("a\tprint\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t-\t760,314,388,386")
	if err != nil || inApp[0].crop != image.Rect(760, 314, 1148, 700) {
		t.Fatalf("crop: %+v, %v", inApp, err)
	}
	for _, tc := range []struct{ line, want string }{
		{"a\tturns\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4", "want 5 or 6 tab-separated fields"},
		{"a\tturns\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t-\t1,2,3,4\tx", "want 5 or 6 tab-separated fields"},
		{"a\tprint\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t-\t1,2,3", `crop "1,2,3"`},
		{"a\tprint\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t-\t1,2,0,4", `crop "1,2,0,4"`},
		{"a\tprint\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t-\t-1,2,3,4", `crop "-1,2,3,4"`},
		{"a\tprint\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t-\t1,2,3,4,5", `crop "1,2,3,4,5"`},
		{"a/b\tturns\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t-", `name "a/b"`},
		{"a\tmask\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t-", `kind "mask"`},
		{"a\tturns\tABC\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t-", `sha256 "ABC"`},
		{"a\tturns\t" + sum + "\thttps://x/p.mp4\t-", "want github.com/owner/repo@commit:path"},
		{"a\tturns\t" + sum + "\tgithub.com/a/b@08f1212:p.mp4\t-", "a 40-digit commit"},
		{"a\tturns\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:videos/clip\t-", "a path with an extension"},
		{"a\tprint\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t5-2", `seconds "5-2"`},
		{"a\tprint\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\tNaN-2", `seconds "NaN-2"`},
		{"a\tprint\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t0-Inf", `seconds "0-Inf"`},
		{"a\tprint\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t1-2,", `seconds "1-2,"`},
		{"a\tprint\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t4-6,1-2", "1-2 starts before the stretch ahead of it ends"},
		{"a\tprint\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t1-3,3-4", "3-4 starts before"},
		{"a\tturns\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:p.mp4\t-\na\tturns\t" + sum + "\tgithub.com/a/b@08f1212b8e5bd16cb69ec23c79e001f528fb20ac:q.mp4\t-", "captured.tsv:2: name \"a\""},
	} {
		if _, err := parseCaptured(tc.line); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.line, err, tc.want)
		}
	}
}

// clipReader reads windows of a short clip by decoding it from the start
// (some files, such as WebM from a browser, cannot seek or say their frame
// rate; fps is then 15, the rate VideoFrames assumes).
type clipReader struct {
	path string
	crop image.Rectangle // the part of each frame to return (empty: all of it)
	v    *VideoFrames
	next int // index of the frame the next read returns
}

func (r *clipReader) close() {
	if r.v != nil {
		r.v.Close()
		r.v = nil
	}
}

// window returns up to n frames from frame start (the caller closes them).
func (r *clipReader) window(t *testing.T, start, n int) []gocv.Mat {
	t.Helper()
	if r.v == nil || start < r.next {
		r.close()
		v, err := OpenVideo(r.path)
		if err != nil {
			t.Fatal(err)
		}
		r.v, r.next = v, 0
	}
	skip := gocv.NewMat()
	defer skip.Close()
	for ; r.next < start; r.next++ {
		if _, err := r.v.Next(context.Background(), &skip); err != nil {
			return nil
		}
	}
	var out []gocv.Mat
	for len(out) < n {
		m := gocv.NewMat()
		if _, err := r.v.Next(context.Background(), &m); err != nil {
			m.Close()
			break
		}
		r.next++
		m, err := cropped(m, r.crop)
		if err != nil {
			m.Close()
			closeAll(out)
			t.Fatalf("%s: %v", r.path, err)
		}
		out = append(out, m)
	}
	return out
}

// cropped returns a copy of crop of m and closes m, or m itself when crop
// is empty or not within it (the error says which; the caller closes m).
func cropped(m gocv.Mat, crop image.Rectangle) (gocv.Mat, error) {
	if crop.Empty() {
		return m, nil
	}
	if !crop.In(image.Rect(0, 0, m.Cols(), m.Rows())) {
		return m, fmt.Errorf("crop %v is not within the %dx%d frame", crop, m.Cols(), m.Rows())
	}
	region := m.Region(crop)
	out := region.Clone()
	region.Close()
	m.Close()
	return out, nil
}

// capturedStep is how often a challenge window starts in a captured attack
// clip (seconds): the windows overlap, each one is an attempt starting at
// another moment of the same presentation.
const capturedStep = 0.5

// TestEvaluationCaptured: phones and prints showing a face, filmed by a
// real camera (testdata/captured.tsv; full evaluation only, with the clips
// present in $FACEGATE_EVAL_CAPTURED). Every window is checked with both
// challenge directions and both detectors.
func TestEvaluationCaptured(t *testing.T) {
	sharedOrSkip(t)
	if !fullEval() {
		t.Skip("captured clips are only in the full evaluation (make eval-liveness)")
	}
	var attacks []capturedClip
	for _, c := range capturedClips(t) {
		if c.kind != clipTurns {
			attacks = append(attacks, c)
		}
	}
	if len(attacks) == 0 {
		t.Skipf("no captured attack clip in FACEGATE_EVAL_CAPTURED=%q (docs/liveness.md, \"Real camera clips\")", os.Getenv("FACEGATE_EVAL_CAPTURED"))
	}
	// The targets of the issue: 0 % for a photo on a screen or a print,
	// 5 % for a replay that does not answer (its face does not turn, turns
	// the other way, or turns late). A replay that turns the asked way in
	// time answers the challenge, which the threat model accepts (1 in 2):
	// counted, with no target.
	targets := map[string]float64{clipStill: 0, clipPrint: 0, clipReplay + ", " + answerNot: 0.05}
	labels := map[string][]float64{}
	for _, c := range attacks {
		labels[c.name], _ = labelYawsIn(t, filepath.Join(os.Getenv("FACEGATE_EVAL_CAPTURED"), c.file()), c.crop, math.MaxInt)
	}
	for _, det := range []string{capture.DetectorHaar, capture.DetectorYuNet} {
		finder, done := newFinder(t, det)
		tallies := map[string]*tally{}
		add := func(name string, r Result) {
			if tallies[name] == nil {
				tallies[name] = &tally{name: name, attack: true}
			}
			tallies[name].add(r)
		}
		for _, c := range attacks {
			evaluateCapturedAttack(t, c, det, finder, labels[c.name], func(answer string, accepted bool, r Result) {
				kind := c.kind
				if c.kind == clipReplay {
					kind += ", " + answer
				}
				add("captured "+kind+" ("+det+")", r)
				add("captured ("+det+", "+c.name+")", r)
				if c.kind == clipReplay && answer != answerAsked {
					add("captured "+clipReplay+", "+answerNot+" ("+det+")", r)
				}
				if accepted {
					add("captured "+kind+" ("+det+", starts on an accepted face)", r)
				}
			})
		}
		done()
		logTallies(t, tallies)
		for kind, target := range targets {
			name := "captured " + kind + " (" + det + ")"
			if tl := tallies[name]; tl != nil && float64(tl.accepted) > target*float64(tl.total) {
				t.Errorf("%s: %d of %d attacks accepted, above the target APCER %.0f %%", name, tl.accepted, tl.total, 100*target)
			}
		}
	}
}

func TestCropped(t *testing.T) {
	m := gocv.NewMatWithSize(100, 200, gocv.MatTypeCV8UC3)
	m.SetUCharAt(20, 3*30, 7) // blue at (30, 20)
	out, err := cropped(m, image.Rect(30, 20, 90, 60))
	defer out.Close()
	if err != nil || out.Cols() != 60 || out.Rows() != 40 || out.GetUCharAt(0, 0) != 7 {
		t.Fatalf("cropped: %dx%d, first pixel %d, %v", out.Cols(), out.Rows(), out.GetUCharAt(0, 0), err)
	}
	whole := gocv.NewMatWithSize(100, 200, gocv.MatTypeCV8UC3)
	defer whole.Close()
	if same, err := cropped(whole, image.Rectangle{}); err != nil || same.Ptr() != whole.Ptr() {
		t.Errorf("no crop: got another Mat or %v", err)
	}
	if same, err := cropped(whole, image.Rect(150, 0, 250, 50)); err == nil || same.Ptr() != whole.Ptr() || !strings.Contains(err.Error(), "not within the 200x100 frame") {
		t.Errorf("a crop out of the frame: %v", err)
	}
}

// What the face shown by an attack does in a window, by the label (YuNet's
// landmark yaw, as for the recordings) against the check's own amplitude
// and deadline.
const (
	answerNone  = "its face does not turn"
	answerWrong = "its face turns the other way"
	answerLate  = "its face turns the asked way late"
	answerAsked = "its face turns the asked way in time"
	// answerNot is any of the first three: a wrong answer, the issue's
	// one class of "wrong-answer replays".
	answerNot = "a wrong answer (no turn, the other way, or late)"
)

// replayAnswer classifies a window of label yaws for challenge dir, the
// first yaw at the challenge and deadline frames after it the latest start
// of the turn. As in the check, the turn starts where the run of yaws of at
// least a third of the amplitude that first reaches the amplitude begins.
func replayAnswer(yaw []float64, dir Direction, deadline int) string {
	a := DefaultConfig.MinAmplitude
	base := math.NaN()
	turn := make([]float64, len(yaw)) // towards dir, from the first face seen
	var other float64
	reach := -1
	for i, y := range yaw {
		turn[i] = math.NaN()
		switch {
		case math.IsNaN(y):
		case math.IsNaN(base):
			base, turn[i] = y, 0
		default:
			turn[i] = (y - base) * dir.sign()
			other = math.Max(other, -turn[i])
			if reach < 0 && turn[i] >= a {
				reach = i
			}
		}
	}
	switch {
	case reach >= 0:
		onset := reach
		for onset > 0 && turn[onset-1] >= a/3 { // NaN ends the run
			onset--
		}
		if onset > deadline {
			return answerLate
		}
		return answerAsked
	case other >= a:
		return answerWrong
	}
	return answerNone
}

// evaluateCapturedAttack checks the windows of one attack clip that start
// within its seconds, asking both ways; add gets whether the first frame's
// face would have been accepted by the capture (as at a gate) and the result.
func evaluateCapturedAttack(t *testing.T, c capturedClip, det string, finder Finder, label []float64, add func(answer string, accepted bool, r Result)) {
	p := filepath.Join(os.Getenv("FACEGATE_EVAL_CAPTURED"), c.file())
	v, err := OpenVideo(p)
	if err != nil {
		t.Fatal(err)
	}
	fps := v.FPS()
	v.Close()
	reader := &clipReader{path: p, crop: c.crop}
	defer reader.close()
	win := int(DefaultConfig.Window.Seconds()*fps) + 1
	an := finder.(AnalyzerFinder).An
	spans := c.spans
	if len(spans) == 0 {
		spans = []span{{0, 0}} // to 0: the whole clip
	}
	windows := 0
	for _, sp := range spans {
		from, to := int(math.Round(sp.from*fps)), int(math.Round(sp.to*fps))
		for k := 0; ; k++ {
			start := from + int(math.Round(float64(k)*capturedStep*fps))
			if to > 0 && start > to {
				break
			}
			l := min(leadFrames(fps, start), start-from) // only where the attack is the face
			all := reader.window(t, start-l, l+win)
			if len(all) < l+win {
				closeAll(all)
				break
			}
			lead, mats := all[:l], all[l:]
			windows++
			accepted := acceptedAtStart(t, an, mats[0])
			// The capture chose its face in the frames before, and the
			// check starts on it as a gate's does (none: it accepts none,
			// and the check starts on the best face, its start not judged).
			chosen := chosenStart(t, an, lead, fps)
			for _, dir := range []Direction{Left, Right} {
				an.Reset()
				r, err := Check(context.Background(), chosen.cfg, ModeChallenge, dir, chosen.finder(finder), &MatFrames{Mats: mats, FPS: fps})
				if err != nil {
					t.Fatal(err)
				}
				answer := replayAnswer(label[min(start, len(label)):min(start+win, len(label))], dir, int(DefaultConfig.Deadline.Seconds()*fps))
				add(answer, accepted, r)
				if r.Live {
					t.Logf("%s accepted captured %s %s at %.1f s (asked %s, %s): %+v", det, c.kind, c.name, float64(start)/fps, dir, answer, r.Cues)
				}
			}
			closeAll(all)
		}
	}
	if windows == 0 {
		t.Errorf("captured %s %s: no window of %.1f s starts within its seconds (%d frames at %.1f fps)", c.kind, c.name, DefaultConfig.Window.Seconds(), win, fps)
	}
	t.Logf("captured %s %s: %d windows of %.1f s, one every %.1f s, starting within %s", c.kind, c.name, windows, DefaultConfig.Window.Seconds(), capturedStep, spansText(c.spans))
}

func TestReplayAnswer(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		yaw  []float64
		dir  Direction
		want string
	}{
		{"still", []float64{0.01, 0.02, 0.0, 0.01}, Left, answerNone},
		{"turns left (nose to the image's right)", []float64{0.0, 0.02, 0.05}, Left, answerAsked},
		{"turns left, asked right", []float64{0.0, 0.02, 0.05}, Right, answerWrong},
		{"from the first face seen", []float64{nan, 0.10, 0.08, 0.06}, Right, answerAsked},
		{"no face", []float64{nan, nan}, Left, answerNone},
		{"both ways: the asked one counts", []float64{0, -0.05, 0.05}, Left, answerAsked},
		{"starts after the deadline", []float64{0, 0, 0, 0, 0.02, 0.04}, Left, answerLate},
		{"starts by the deadline, reaches later", []float64{0, 0, 0, 0.015, 0.02, 0.03, 0.04}, Left, answerAsked},
		{"a blip before the deadline is not the start", []float64{0, 0.015, 0, 0, 0.02, 0.04}, Left, answerLate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := replayAnswer(tc.yaw, tc.dir, 3); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// The committed manifest parses (the clips themselves are not needed).
func TestCapturedManifestParses(t *testing.T) {
	if cs := readCaptured(t); len(cs) == 0 {
		t.Fatal("testdata/captured.tsv lists no clip")
	}
}
