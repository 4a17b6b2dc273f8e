package liveness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/internal/atomicfile"
	"github.com/facegate/facegate/internal/regularfile"
)

// A site measuring the check at its own gate keeps each challenge's frames
// (audit.save_liveness_clips): <dir>/<left|right>_<UTC time>.avi, an MJPG
// clip that `facegate liveness` and `facegate liveness eval` read back as
// the camera of that challenge, and beside it the check's verdict and the
// frames' real times in a .json of the same name (ReadSavedClip reads them).
// Prefixing a clip's name with what it showed (bonafide_, print_, …)
// labels it for the evaluation.

// partSuffix marks a clip being written; a crash leaves it, pruning removes it.
const partSuffix = ".part.avi"

// clipQueue is how many frames may wait for the encoder (a second at 15
// fps): past that the encoder has fallen behind (a card that stalls) and
// the recording stops rather than hold the check back.
const clipQueue = 16

// ClipRecorder passes the frames of its source through to the check and
// hands a copy of each to an encoder goroutine. A recording that fails or
// falls behind stops, never the check: Err says why, and Finish removes
// the partial clip.
type ClipRecorder struct {
	src       Frames
	dir       string
	fps       float64
	challenge Direction
	name      string
	// ChosenDetail is the chosen face's detail the check was given
	// (Config.StartDetail), kept in the .json so that a rerun judges the
	// start the same way; 0 unknown. Set it before Finish.
	ChosenDetail float64
	// ChosenFace is the chosen face's texture the check was given
	// (Config.StartFace), kept so that a rerun judges the start's face the
	// same way; nil unknown. Set it before Finish.
	ChosenFace capture.Signature
	// ChosenBox is the chosen face's box the check started from
	// (GateFinder), kept so that a rerun starts on the same face; empty
	// unknown. Set it before Finish.
	ChosenBox image.Rectangle

	queue   chan gocv.Mat // nil until the first frame
	encoded chan error    // the encoder's result, once queue is closed
	at      []time.Duration
	mu      sync.Mutex
	err     error // the first failure; guarded by mu (the encoder sets it too)
}

// NewClipRecorder records, into dir, a challenge the given way issued at
// start, read from src at the camera's rate fps (the clip's nominal rate).
func NewClipRecorder(src Frames, dir string, fps float64, challenge Direction, start time.Time) *ClipRecorder {
	if !(fps > 0 && fps <= 240) { // NaN too
		fps = 15
	}
	name := string(challenge) + "_" + start.UTC().Format("20060102T150405.000Z")
	return &ClipRecorder{src: src, dir: dir, fps: fps, challenge: challenge, name: name}
}

// Next implements Frames.
func (r *ClipRecorder) Next(ctx context.Context, dst *gocv.Mat) (time.Duration, error) {
	at, err := r.src.Next(ctx, dst)
	if err != nil || r.Err() != nil {
		return at, err
	}
	if err := r.enqueue(*dst); err != nil {
		r.fail(err)
		return at, nil
	}
	r.at = append(r.at, at)
	return at, nil
}

func (r *ClipRecorder) enqueue(m gocv.Mat) error {
	if m.Empty() || m.Channels() != 3 {
		return fmt.Errorf("record clip: frame %dx%d with %d channels, want 3", m.Cols(), m.Rows(), m.Channels())
	}
	if r.queue == nil {
		if err := os.MkdirAll(r.dir, 0o750); err != nil {
			return fmt.Errorf("record clip: %w", err)
		}
		w, err := gocv.VideoWriterFile(r.part(), "MJPG", r.fps, m.Cols(), m.Rows(), true)
		if err == nil && !w.IsOpened() {
			err = errors.New("OpenCV cannot write it")
		}
		if err != nil {
			if w != nil {
				w.Close()
			}
			return fmt.Errorf("record clip %s: %w", r.part(), err)
		}
		r.queue, r.encoded = make(chan gocv.Mat, clipQueue), make(chan error, 1)
		go r.encode(w, image.Pt(m.Cols(), m.Rows()))
	}
	c := m.Clone()
	select {
	case r.queue <- c:
		return nil
	default:
	}
	// Full: wait at most two frame intervals, once (the recording stops
	// after that), so that a card that stalls delays the check by no more.
	wait := time.NewTimer(time.Duration(2 / r.fps * float64(time.Second)))
	defer wait.Stop()
	select {
	case r.queue <- c:
		return nil
	case <-wait.C:
		c.Close()
		return fmt.Errorf("record clip %s: the encoder fell behind (%d frames waiting)", r.part(), clipQueue)
	}
}

// encode writes the queued frames until the queue is closed; after a
// failure it only closes what it receives.
func (r *ClipRecorder) encode(w *gocv.VideoWriter, size image.Point) {
	for m := range r.queue {
		if r.Err() == nil {
			if sz := image.Pt(m.Cols(), m.Rows()); sz != size {
				r.fail(fmt.Errorf("record clip: frame size changed from %v to %v", size, sz))
			} else if err := w.Write(m); err != nil {
				r.fail(fmt.Errorf("record clip %s: %w", r.part(), err))
			}
		}
		m.Close()
	}
	r.encoded <- w.Close()
}

func (r *ClipRecorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

// Err is why the recording stopped (nil while it runs).
func (r *ClipRecorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *ClipRecorder) part() string { return filepath.Join(r.dir, r.name+partSuffix) }

// stop ends the encoder and waits for it; every queued frame is closed.
func (r *ClipRecorder) stop() {
	if r.queue == nil {
		return
	}
	close(r.queue)
	if err := <-r.encoded; err != nil {
		r.fail(fmt.Errorf("record clip %s: %w", r.part(), err))
	}
	r.queue = nil
}

// errAborted stops the encoder from writing frames still queued.
var errAborted = errors.New("record clip: aborted")

// Abort drops the clip (the check it was for did not finish); frames still
// queued are closed, not encoded.
func (r *ClipRecorder) Abort() {
	r.fail(errAborted)
	r.stop()
	os.Remove(r.part())
}

// clipInfo is the .json beside a clip.
type clipInfo struct {
	Challenge Direction `json:"challenge"`
	Method    Mode      `json:"method"`
	Detector  string    `json:"detector"`
	FPS       float64   `json:"fps"`
	FrameMS   []float64 `json:"frame_ms"` // each frame's real time after the challenge
	// ChosenDetail is Config.StartDetail of the check (0 unknown);
	// cues.start_sharpness is the first frame's share of it. Clips saved
	// by the thirteenth round's daemon have chosen_sharpness instead, a
	// measure no longer used: their start is not judged. A rerun reads
	// this one; cues.chosen_detail (seventeenth round) is the verdict's
	// copy, equal when the check judged its start, 0 when it did not.
	ChosenDetail float64 `json:"chosen_detail,omitempty"`
	// ChosenFace is Config.StartFace of the check (absent unknown; clips
	// saved before the twenty-seventh round have none, and their start's
	// face is not judged).
	ChosenFace capture.Signature `json:"chosen_face,omitempty"`
	// ChosenBox is the chosen face's box, x0, y0, x1, y1 in the frame's
	// pixels (absent unknown, as in clips saved before the twenty-eighth
	// round: a rerun starts on the first frame's best face).
	ChosenBox []int    `json:"chosen_box,omitempty"`
	Live      bool     `json:"live"`
	Score     float64  `json:"score"`
	Reasons   []Reason `json:"reasons"`
	Cues      Cues     `json:"cues"`
}

// Finish waits for the encoder and, when every frame was written and reads
// back, names the clip <name>.avi beside <name>.json (res: the check's
// verdict on it). It returns the clip's path, or an error (the partial
// clip is removed).
func (r *ClipRecorder) Finish(res Result, detector string) (string, error) {
	started := r.queue != nil
	r.stop()
	err := r.Err()
	if err == nil && !started {
		err = errors.New("record clip: no frame")
	}
	if err == nil {
		err = r.publish(res, detector)
	}
	if err != nil {
		os.Remove(r.part())
		return "", err
	}
	return filepath.Join(r.dir, r.name+".avi"), nil
}

// publish makes the clip durable, writes the .json and only then gives the
// clip its name: a clip is never seen without its verdict, nor cut short
// under its name after a power cut.
func (r *ClipRecorder) publish(res Result, detector string) error {
	// OpenCV's writer reports no error (a full disk included): read it back.
	if err := verifyClip(r.part(), len(r.at)); err != nil {
		return err
	}
	f, err := os.OpenFile(r.part(), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("record clip: %w", err)
	}
	// OpenCV creates the file with the process's umask: faces are not for everyone.
	err = f.Chmod(0o640)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("record clip %s: %w", r.part(), err)
	}
	info := clipInfo{Challenge: r.challenge, Method: res.Method, Detector: detector, FPS: r.fps,
		ChosenDetail: r.ChosenDetail, ChosenFace: r.ChosenFace, Live: res.Live, Score: res.Score, Reasons: res.Reasons, Cues: res.Cues}
	if b := r.ChosenBox; !b.Empty() {
		info.ChosenBox = []int{b.Min.X, b.Min.Y, b.Max.X, b.Max.Y}
	}
	for _, at := range r.at {
		info.FrameMS = append(info.FrameMS, float64(at.Microseconds())/1000)
	}
	b, err := json.MarshalIndent(info, "", " ")
	if err != nil {
		return fmt.Errorf("record clip: %w", err)
	}
	js := filepath.Join(r.dir, r.name+".json")
	if err := atomicfile.Write(js, b, 0o640); err != nil {
		return fmt.Errorf("record clip: %w", err)
	}
	if err := os.Rename(r.part(), filepath.Join(r.dir, r.name+".avi")); err != nil {
		os.Remove(js)
		return fmt.Errorf("record clip: %w", err)
	}
	if err := atomicfile.SyncDir(r.dir); err != nil {
		return fmt.Errorf("record clip: %w", err)
	}
	return nil
}

// verifyClip checks that every one of the frames written decodes (the
// header's frame count survives a file cut short).
func verifyClip(path string, frames int) error {
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		if vc != nil {
			vc.Close()
		}
		return fmt.Errorf("record clip %s: unreadable: %w", path, err)
	}
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	n := 0
	for vc.Read(&m) && !m.Empty() {
		n++
	}
	if n != frames {
		return fmt.Errorf("record clip %s: %d frames readable of %d written (disk full?)", path, n, frames)
	}
	return nil
}

// SavedClip is what the daemon saved beside a clip for a rerun.
type SavedClip struct {
	Times []time.Duration // each frame's real time after the challenge
	// ChosenDetail is Config.StartDetail of the check (0 unknown).
	ChosenDetail float64
	// ChosenFace is Config.StartFace of the check (nil unknown).
	ChosenFace capture.Signature
	// ChosenBox is the face the check started from (GateFinder; empty
	// unknown).
	ChosenBox image.Rectangle
}

// ReadSavedClip reads the .json saved beside a clip the daemon named
// <left|right>_<time>: the .json of the same name, or, for a clip labelled
// by a KIND_ prefix, of the name without it. ok is false when there is
// none (any other clip plays at its nominal rate, its start unjudged).
func ReadSavedClip(clip string) (saved SavedClip, ok bool, err error) {
	dir, base := filepath.Split(clip)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	for _, name := range []string{stem, stem[strings.Index(stem, "_")+1:]} {
		if !strings.HasPrefix(name, string(Left)+"_") && !strings.HasPrefix(name, string(Right)+"_") {
			continue
		}
		b, err := readSidecar(filepath.Join(dir, name+".json"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return SavedClip{}, false, fmt.Errorf("saved clip %s: %w", clip, err)
		}
		var info clipInfo
		if err := json.Unmarshal(b, &info); err != nil {
			return SavedClip{}, false, fmt.Errorf("saved clip %s: %s.json: %w", clip, name, err)
		}
		for i, ms := range info.FrameMS {
			t := time.Duration(ms * float64(time.Millisecond))
			if !(ms >= 0 && ms < 3.6e6) || (i > 0 && t < saved.Times[i-1]) {
				return SavedClip{}, false, fmt.Errorf("saved clip %s: %s.json: frame_ms[%d] = %v is not a time after the previous one", clip, name, i, ms)
			}
			saved.Times = append(saved.Times, t)
		}
		if v := info.ChosenDetail; v != 0 && !KnownDetail(v) {
			return SavedClip{}, false, fmt.Errorf("saved clip %s: %s.json: chosen_detail = %v is not a face's detail (0 unknown, else %g to %g)", clip, name, v, minDetail, maxDetail)
		}
		if info.ChosenFace != nil {
			if err := info.ChosenFace.Valid(); err != nil {
				return SavedClip{}, false, fmt.Errorf("saved clip %s: %s.json: chosen_face: %w", clip, name, err)
			}
		}
		if b := info.ChosenBox; b != nil {
			if len(b) != 4 || b[0] >= b[2] || b[1] >= b[3] || slices.ContainsFunc(b, func(v int) bool { return v < -maxClipSide || v > maxClipSide }) {
				return SavedClip{}, false, fmt.Errorf("saved clip %s: %s.json: chosen_box = %v is not a box (x0, y0, x1, y1 with x0 < x1 and y0 < y1, within ±%d px)", clip, name, b, maxClipSide)
			}
			saved.ChosenBox = image.Rect(b[0], b[1], b[2], b[3])
		}
		saved.ChosenDetail, saved.ChosenFace = info.ChosenDetail, info.ChosenFace
		return saved, true, nil
	}
	return SavedClip{}, false, nil
}

// maxClipSide bounds a saved box's coordinates: no camera's frame is
// larger.
const maxClipSide = 1 << 16

// PruneClips deletes the recorded clips (and their .json) in dir older than
// keep or dated more than a day ahead of now (a clock that was wrong),
// then the oldest until they take at most maxBytes (0: no limit), and what
// a crash left half-written more than an hour ago. It returns how many
// files it deleted.
func PruneClips(dir string, now time.Time, keep time.Duration, maxBytes int64) (int, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list liveness clips: %w", err)
	}
	type kept struct {
		name string
		mod  time.Time
		size int64
	}
	var clips []kept
	var total int64
	n := 0
	remove := func(name string) {
		if os.Remove(filepath.Join(dir, name)) == nil {
			n++
		}
	}
	for _, e := range entries {
		name := e.Name()
		leftover := strings.HasSuffix(name, partSuffix) || (strings.HasPrefix(name, ".") && strings.Contains(name, ".json.tmp"))
		if e.IsDir() || !(leftover || strings.HasSuffix(name, ".avi") || strings.HasSuffix(name, ".json")) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		age := now.Sub(info.ModTime())
		switch {
		case leftover:
			if age > time.Hour || age < -24*time.Hour {
				remove(name)
			}
		case age > keep || age < -24*time.Hour:
			remove(name)
		default:
			clips = append(clips, kept{name, info.ModTime(), info.Size()})
			total += info.Size()
		}
	}
	if maxBytes > 0 && total > maxBytes {
		sort.Slice(clips, func(i, j int) bool { return clips[i].mod.Before(clips[j].mod) })
		for _, c := range clips {
			if total <= maxBytes {
				break
			}
			remove(c.name)
			total -= c.size
		}
	}
	return n, nil
}

// maxSidecar bounds a saved clip's .json (a window's frame times and a
// face signature take a few kB).
const maxSidecar = 4 << 20

// readSidecar reads a saved clip's .json: a regular file of at most
// maxSidecar bytes, opened without blocking (a FIFO under that name would
// hang the read, /dev/zero behind a symlink would never end).
func readSidecar(path string) ([]byte, error) {
	return regularfile.Read(path, maxSidecar)
}
