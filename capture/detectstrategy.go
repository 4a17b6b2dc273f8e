package capture

import (
	"errors"
	"image"
	"io/fs"
	"math"

	"gocv.io/x/gocv"
)

// chooseAuto is DetectorAuto's choice and its reason.
func chooseAuto(model string) (detector, why string) {
	if model == "" {
		return DetectorHaar, "no YuNet model path"
	}
	if err := VerifyYuNetFile(model); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return DetectorHaar, "no YuNet model installed (facegate model install yunet)"
		}
		return DetectorHaar, err.Error()
	}
	return DetectorYuNet, "installed YuNet model verified"
}

// YuNet input widths. The fine one finds faces below the 80 px gate (to
// say "come closer"). The coarse one costs ~35% less but gives landmarks
// too rough for the eye search (one eye missed) on faces narrower than
// yunetFinePx in it (183 px in a 1280 frame): it is used only when the
// previous frame's faces were at least yunetBigPx wide in it, and a frame
// whose faces came out smaller there is searched again at the fine width.
const (
	yunetCoarseWidth = 224
	yunetFineWidth   = 320
	yunetFinePx      = 32
	yunetBigPx       = 36
)

// narrowest is the width of the narrowest face.
func narrowest(faces []Face) float64 {
	m := math.Inf(1)
	for _, f := range faces {
		m = math.Min(m, float64(f.Box.Dx()))
	}
	return m
}

// Haar parameters: coarser pyramid steps (1.15, 1.2) halve the cost but miss
// faces of 100-150 px in a 1280x720 frame; the eye check removes the false
// positives 3 neighbours let through.
const (
	haarScaleStep = 1.1
	haarNeighbors = 3
)

// detectHaar runs the cascade on the equalised small grey image: near the
// tracked faces and only at their scale when there are some (a full scan
// every trackFullEvery frames still catches a second person), on the whole
// frame otherwise.
func (a *Analyzer) detectHaar(scale float64, fw, fh int) []Face {
	gocv.EqualizeHist(a.grey, &a.eq)
	// Faces down to half the minimum width are found, to say "come closer".
	minFace := max(20, int(float64(a.thresholds.MinFaceWidth)*scale/2))
	full := image.Rect(0, 0, a.eq.Cols(), a.eq.Rows())
	var rects []image.Rectangle
	tracked := false
	if len(a.track) > 0 && a.framesSinceFullScan < trackFullEvery {
		var roi image.Rectangle
		lo, hi := math.MaxInt, 0
		for _, t := range a.track {
			s := scaleRect(t, scale)
			d := max(s.Dx(), s.Dy())
			lo, hi = min(lo, d), max(hi, d)
			roi = roi.Union(s.Inset(-d / 2))
		}
		roi = roi.Intersect(full)
		minT := max(minFace, lo*3/4)
		maxT := hi * 4 / 3
		if roi.Dx() >= minT && roi.Dy() >= minT {
			sub := a.eq.Region(roi)
			rects = a.haarScan(sub, minT, maxT)
			sub.Close()
			for i := range rects {
				rects[i] = rects[i].Add(roi.Min)
			}
			tracked = len(rects) > 0
		}
	}
	if tracked {
		a.framesSinceFullScan++
	} else {
		// The periodic full scan while a face is tracked looks for a
		// second person: faces under half the tracked one's width are
		// not one (multiple_faces needs 70%), and the small scales are
		// most of a scan's cost.
		fullMin := minFace
		if len(a.track) > 0 && a.framesSinceFullScan >= trackFullEvery {
			lo := math.MaxInt
			for _, t := range a.track {
				lo = min(lo, scaleRect(t, scale).Dx())
			}
			fullMin = max(minFace, lo/2)
		}
		region := full
		a.fullScans++
		if !a.forceFull && a.fullScans < bgFullEvery {
			region = a.changedRegion(full)
		} else {
			a.fullScans = 0
		}
		if region.Dx() >= fullMin && region.Dy() >= fullMin {
			sub := a.eq.Region(region)
			rects = a.haarScan(sub, fullMin, 0)
			sub.Close()
			for i := range rects {
				rects[i] = rects[i].Add(region.Min)
			}
		}
		a.framesSinceFullScan = 0
	}
	faces := make([]Face, 0, len(rects))
	inv := 1 / scale
	for _, r := range rects {
		b := scaleRect(r, inv).Intersect(image.Rect(0, 0, fw, fh))
		faces = append(faces, Face{Box: b, Confidence: 1})
	}
	return faces
}

// The learnt empty scene: Haar's full scans search only where the frame
// differs from it, plus a margin. A person walking into view changes the
// part of the frame they cover; a wall, a poster or a shelf behind the gate
// (the textured part that costs a Haar scan the most) is not searched
// again. Every bgFullEvery-th full scan, and the forced recheck of an
// unchanged scene, search the whole frame: a face missed while its
// surroundings were learnt is found there.
const (
	bgBlock       = 8   // detection pixels per block of the difference
	bgChange      = 10  // mean absolute grey difference of a changed block
	bgMargin      = 24  // detection pixels around the changed blocks (the smallest face)
	bgMaxShare    = 0.6 // a larger changed region is searched whole
	bgEmptyFrames = 3   // analysed frames without a candidate before the scene is learnt
	bgFullEvery   = 8   // full scans between unrestricted ones
)

// learnEmptyScene keeps the grey frame as the empty scene once
// bgEmptyFrames analysed frames in a row had no candidate.
func (a *Analyzer) learnEmptyScene(empty bool) {
	if !empty {
		a.emptyRun = 0
		return
	}
	a.emptyRun++
	if a.emptyRun >= bgEmptyFrames {
		a.grey.CopyTo(&a.bg)
		a.haveBg = true
	}
}

// changedRegion is the part of the detection image that differs from the
// learnt empty scene (grown by bgMargin), empty when nothing changed, full
// when no scene is learnt or most of it changed (light, camera moved).
func (a *Analyzer) changedRegion(full image.Rectangle) image.Rectangle {
	if !a.haveBg || a.bg.Cols() != a.grey.Cols() || a.bg.Rows() != a.grey.Rows() {
		return full
	}
	gocv.AbsDiff(a.grey, a.bg, &a.bgDiff)
	bw, bh := max(1, full.Dx()/bgBlock), max(1, full.Dy()/bgBlock)
	gocv.Resize(a.bgDiff, &a.bgBlocks, image.Pt(bw, bh), 0, 0, gocv.InterpolationArea)
	means := a.bgBlocks.ToBytes()
	if len(means) != bw*bh {
		return full
	}
	var r image.Rectangle
	for y := 0; y < bh; y++ {
		for x := 0; x < bw; x++ {
			if means[y*bw+x] >= bgChange {
				r = r.Union(image.Rect(x*full.Dx()/bw, y*full.Dy()/bh, (x+1)*full.Dx()/bw, (y+1)*full.Dy()/bh))
			}
		}
	}
	if r.Empty() {
		return r
	}
	r = r.Inset(-bgMargin).Intersect(full)
	if float64(r.Dx()*r.Dy()) > bgMaxShare*float64(full.Dx()*full.Dy()) {
		return full
	}
	return r
}

// The frontal-face cascade's window is 24x24. One DetectMultiScale call
// slides it 2 px at a time on scales below 2 and 1 px above, so faces of
// 48 px and more cost 4x the windows of the smaller ones, for a little
// more recall (the composed-face test: 327 of 333 faces found by one call
// are found by the octave scan).
const (
	haarWindow = 24
	haarLevels = 4
	// haarGroupEps is OpenCV's own (GROUP_EPS in DetectMultiScale).
	haarGroupEps = 0.2
)

// haarScan finds faces from minSize to maxSize (0: no limit) pixels wide
// in img, one octave of sizes at a time on img halved per octave, so that
// every size is searched at the 2 px stride: on 1280x720 frames it costs
// 55-65% of one DetectMultiScale call over all sizes.
func (a *Analyzer) haarScan(img gocv.Mat, minSize, maxSize int) []image.Rectangle {
	var rects []image.Rectangle
	src := img
	f := 1 // src is img divided by f
	for level := 0; ; level++ {
		lo := max(haarWindow, (minSize+f-1)/f)
		last := level == haarLevels || min(src.Cols(), src.Rows()) < 4*haarWindow
		hi := 2*haarWindow - 1
		if last {
			hi = 0
		}
		if maxSize > 0 {
			if lo > maxSize/f {
				break
			}
			if hi == 0 || maxSize/f < hi {
				hi = maxSize / f
			}
		}
		if hi == 0 || lo <= hi {
			// Raw windows (no grouping): grouped below over all levels
			// together, so a face near an octave boundary keeps the
			// neighbours from both sides, as in one DetectMultiScale call.
			found := a.face.DetectMultiScaleWithParams(src, haarScaleStep, 0, 0,
				image.Pt(lo, lo), image.Pt(hi, hi))
			for _, r := range found {
				rects = append(rects, image.Rect(r.Min.X*f, r.Min.Y*f, r.Max.X*f, r.Max.Y*f))
			}
		}
		if last || (maxSize > 0 && hi == maxSize/f) {
			break
		}
		next := &a.levels[level]
		gocv.Resize(src, next, image.Pt(src.Cols()/2, src.Rows()/2), 0, 0, gocv.InterpolationArea)
		src = *next
		f *= 2
	}
	if len(rects) == 0 {
		return nil
	}
	return gocv.GroupRectangles(rects, haarNeighbors, haarGroupEps)
}
