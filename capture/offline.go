package capture

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sort"

	"gocv.io/x/gocv"
)

// FileResult is the outcome of BestFaceInFile.
type FileResult struct {
	// Found: a face passed every gate; Selection is then filled.
	Found     bool
	Selection Selection
	// Frame is the 0-based index of the chosen frame (0 for a still image).
	Frame int
	// Frames is how many frames were read.
	Frames int
	// Reasons lists why frames had no acceptable face, most frequent first
	// (only when !Found).
	Reasons []Reason
}

// ImageFile is the Source of one still image, whatever its extension.
func ImageFile(path string) Source { return Source{Kind: SourceImage, Index: -1, Target: path} }

// VideoFile is the Source of a video file.
func VideoFile(path string) Source { return Source{Kind: SourceVideo, Index: -1, Target: path} }

// BestFaceInFile runs the pipeline over every frame of an image or video
// file (or a folder of images; see ImageFile, VideoFile, ParseSource) as one selection window with no early stop,
// and returns the best face cropped to 960x720. an is reset first and used
// exclusively during the call. A file that cannot be opened or decoded is an
// error wrapping ErrOpen or ErrBadImage; no acceptable face is not an error
// (Found is false).
func BestFaceInFile(ctx context.Context, src Source, an *Analyzer, jpegQuality int) (FileResult, error) {
	if !src.Finite() {
		return FileResult{}, fmt.Errorf("%w: %s is not a file or folder", ErrBadSource, src)
	}
	path := src.Target
	r, err := openReader(src, DeviceSettings{}, false)
	if err != nil {
		return FileResult{}, err
	}
	defer r.close()
	frame, best := gocv.NewMat(), gocv.NewMat()
	defer frame.Close()
	defer best.Close()
	an.Reset()

	var res FileResult
	var sel Selection
	counts := map[Reason]int{}
	faces := 0
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return FileResult{}, err
		}
		if err := r.read(&frame); err != nil {
			if errors.Is(err, ErrEndOfStream) {
				break
			}
			return FileResult{}, err
		}
		res.Frames++
		a, err := an.Analyze(frame)
		if err != nil {
			return FileResult{}, fmt.Errorf("frame %d: %w", i, err)
		}
		faces = max(faces, len(a.Candidates))
		if a.Best < 0 {
			counts[a.Reason]++
			continue
		}
		c := a.Candidates[a.Best]
		if !res.Found || c.Score > sel.Score {
			res.Found, res.Frame = true, i
			sel = Selection{Face: c.Face.Box, Score: c.Score, Quality: c.Quality,
				Frame: image.Pt(frame.Cols(), frame.Rows())}
			frame.CopyTo(&best)
		}
	}
	if res.Frames == 0 {
		return FileResult{}, fmt.Errorf("%w: %s has no frames", ErrBadImage, path)
	}
	if !res.Found {
		for r := range counts {
			res.Reasons = append(res.Reasons, r)
		}
		sort.Slice(res.Reasons, func(i, j int) bool {
			a, b := res.Reasons[i], res.Reasons[j]
			if counts[a] != counts[b] {
				return counts[a] > counts[b]
			}
			return a < b
		})
		return res, nil
	}
	cr := newCropper(jpegQuality)
	defer cr.close()
	jpeg, box, err := cr.crop(best, sel.Face)
	if err != nil {
		return FileResult{}, err
	}
	sel.JPEG, sel.Crop, sel.Faces, sel.Frames = jpeg, box, faces, res.Frames
	res.Selection = sel
	return res, nil
}
