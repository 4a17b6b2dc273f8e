package liveness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// A site measuring the check at its own gate keeps each challenge's frames
// (audit.save_liveness_clips): <dir>/<left|right>_<UTC time>.avi, an MJPG
// clip that `facegate liveness` and `facegate liveness eval` read back as
// the camera of that challenge, and beside it the check's verdict and the
// frames' real times in a .json of the same name. Prefixing a clip's name
// with what it showed (bonafide_, print_, …) labels it for the evaluation.

// partSuffix marks a clip being written; a crash leaves it, pruning removes it.
const partSuffix = ".part.avi"

// ClipRecorder passes the frames of its source through to the check and writes
// each to a clip. A write that fails stops the recording, never the check:
// Err says why, and Finish removes the partial clip.
type ClipRecorder struct {
	src       Frames
	dir       string
	fps       float64
	challenge Direction
	name      string
	w         *gocv.VideoWriter
	size      image.Point
	at        []time.Duration
	err       error
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
	if err != nil || r.err != nil {
		return at, err
	}
	if r.err = r.write(*dst); r.err == nil {
		r.at = append(r.at, at)
	}
	return at, nil
}

func (r *ClipRecorder) write(m gocv.Mat) error {
	sz := image.Pt(m.Cols(), m.Rows())
	if m.Empty() || m.Channels() != 3 {
		return fmt.Errorf("record clip: frame %v with %d channels, want 3", sz, m.Channels())
	}
	if r.w == nil {
		if err := os.MkdirAll(r.dir, 0o750); err != nil {
			return fmt.Errorf("record clip: %w", err)
		}
		w, err := gocv.VideoWriterFile(r.part(), "MJPG", r.fps, sz.X, sz.Y, true)
		if err != nil {
			return fmt.Errorf("record clip %s: %w", r.part(), err)
		}
		if !w.IsOpened() {
			w.Close()
			return fmt.Errorf("record clip %s: OpenCV cannot write it", r.part())
		}
		r.w, r.size = w, sz
	}
	if sz != r.size {
		return fmt.Errorf("record clip: frame size changed from %v to %v", r.size, sz)
	}
	if err := r.w.Write(m); err != nil {
		return fmt.Errorf("record clip %s: %w", r.part(), err)
	}
	return nil
}

func (r *ClipRecorder) part() string { return filepath.Join(r.dir, r.name+partSuffix) }

// Abort drops the clip (the check it was for did not finish).
func (r *ClipRecorder) Abort() {
	if r.w != nil {
		r.w.Close()
		r.w = nil
	}
	os.Remove(r.part())
}

// Err is why the recording stopped (nil while it runs).
func (r *ClipRecorder) Err() error { return r.err }

// clipInfo is the .json beside a clip.
type clipInfo struct {
	Challenge Direction `json:"challenge"`
	Method    Mode      `json:"method"`
	Detector  string    `json:"detector"`
	FPS       float64   `json:"fps"`
	FrameMS   []float64 `json:"frame_ms"` // each frame's real time after the challenge
	Live      bool      `json:"live"`
	Score     float64   `json:"score"`
	Reasons   []Reason  `json:"reasons"`
	Cues      Cues      `json:"cues"`
}

// Finish closes the clip and, when every frame was written, names it
// <name>.avi beside <name>.json (res: the check's verdict on it). It
// returns the clip's path, or an error (the partial clip is removed).
func (r *ClipRecorder) Finish(res Result, detector string) (string, error) {
	if r.w == nil {
		if r.err == nil {
			r.err = errors.New("record clip: no frame")
		}
		os.Remove(r.part())
		return "", r.err
	}
	closeErr := r.w.Close()
	r.w = nil
	if r.err == nil && closeErr != nil {
		r.err = fmt.Errorf("record clip %s: %w", r.part(), closeErr)
	}
	if r.err == nil {
		r.err = r.publish(res, detector)
	}
	if r.err != nil {
		os.Remove(r.part())
		return "", r.err
	}
	return filepath.Join(r.dir, r.name+".avi"), nil
}

// publish writes the .json (temporary file, then rename) and renames the
// clip: a clip is never seen without its verdict.
func (r *ClipRecorder) publish(res Result, detector string) error {
	if st, err := os.Stat(r.part()); err != nil || st.Size() == 0 {
		return fmt.Errorf("record clip %s: nothing written (%v)", r.part(), err)
	}
	// OpenCV's writer reports no error (a full disk included): read it back.
	if err := verifyClip(r.part(), len(r.at)); err != nil {
		return err
	}
	// OpenCV creates the file with the process's umask: faces are not for everyone.
	if err := os.Chmod(r.part(), 0o640); err != nil {
		return fmt.Errorf("record clip: %w", err)
	}
	info := clipInfo{Challenge: r.challenge, Method: res.Method, Detector: detector, FPS: r.fps,
		Live: res.Live, Score: res.Score, Reasons: res.Reasons, Cues: res.Cues}
	for _, at := range r.at {
		info.FrameMS = append(info.FrameMS, float64(at.Microseconds())/1000)
	}
	b, err := json.MarshalIndent(info, "", " ")
	if err != nil {
		return fmt.Errorf("record clip: %w", err)
	}
	js := filepath.Join(r.dir, r.name+".json")
	if err := writeFileAtomic(js, b); err != nil {
		return fmt.Errorf("record clip: %w", err)
	}
	if err := os.Rename(r.part(), filepath.Join(r.dir, r.name+".avi")); err != nil {
		os.Remove(js)
		return fmt.Errorf("record clip: %w", err)
	}
	return nil
}

// verifyClip checks that every one of the frames written decodes (the
// header's frame count survives a file cut short).
func verifyClip(path string, frames int) error {
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
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

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// PruneClips deletes the recorded clips (and their .json) in dir older than
// keep, and clips left half-written by a crash more than an hour ago. It
// returns how many files it deleted.
func PruneClips(dir string, now time.Time, keep time.Duration) (int, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list liveness clips: %w", err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		limit := keep
		switch {
		case e.IsDir():
			continue
		case strings.HasSuffix(name, partSuffix), strings.HasSuffix(name, ".json.tmp"):
			limit = time.Hour
		case strings.HasSuffix(name, ".avi"), strings.HasSuffix(name, ".json"):
		default:
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if now.Sub(info.ModTime()) > limit && os.Remove(filepath.Join(dir, name)) == nil {
			n++
		}
	}
	return n, nil
}
