package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/kiosk"
)

// cropBox is a rectangle as {x, y, w, h} in source pixels.
type cropBox struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

func toBox(r image.Rectangle) *cropBox { return &cropBox{r.Min.X, r.Min.Y, r.Dx(), r.Dy()} }

// cropResult is the --json output (scripts depend on its keys).
type cropResult struct {
	Found   bool             `json:"found"`
	Frame   *int             `json:"frame,omitempty"` // video only
	Face    *cropBox         `json:"face,omitempty"`
	Crop    *cropBox         `json:"crop,omitempty"`
	Score   *float64         `json:"score,omitempty"`
	Quality *capture.Quality `json:"quality,omitempty"`
	Faces   int              `json:"faces"`
	Frames  int              `json:"frames"`
	Out     string           `json:"out,omitempty"`
	Reasons []string         `json:"reasons,omitempty"`
}

// runCrop is `facegate crop (--image F | --video F) [--out F] [--json]
// [--detector auto|haar|yunet] [--model F]`: exit 0 face chosen, 1 none, 2 error.
func runCrop(ctx context.Context, a *app, args []string) int {
	fs := flag.NewFlagSet("crop", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	imagePath := fs.String("image", "", "still image to crop")
	videoPath := fs.String("video", "", "video file: every frame is part of one selection window")
	out := fs.String("out", "", "where to write the 960x720 JPEG (default <input name>.crop.jpg in the current folder)")
	asJSON := fs.Bool("json", false, "print one JSON object on stdout")
	detector := fs.String("detector", "", "auto, haar or yunet (default: capture.detector from the config, else auto)")
	model := fs.String("model", "", "YuNet ONNX model (with --detector yunet)")
	cfgPath := fs.String("config", "", "config file for the capture section (default "+config.DefaultPath+" if it exists)")
	maxPixels := fs.Int("max-pixels", capture.DefaultMaxPixels, "refuse an image or video frame larger than this many pixels (read from the header, before decoding)")
	fs.Usage = func() {
		fmt.Fprintln(a.stderr, "usage: facegate crop (--image F | --video F) [--out F] [--json] [--detector auto|haar|yunet] [--model F] [--max-pixels N]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(a.stderr, "facegate crop: "+format+"\n", args...)
		return exitError
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if (*imagePath == "") == (*videoPath == "") {
		return fail("give exactly one of --image or --video")
	}
	if *maxPixels < 1 {
		return fail("--max-pixels %d must be at least 1", *maxPixels)
	}
	cfg, err := loadConfig(a, *cfgPath)
	if err != nil {
		return fail("%v", err)
	}
	capture.SetOpenCVThreads(cfg.Capture.OpenCVThreads)
	acfg := analyzerOptions(cfg)
	acfg.AllowMultiple = true // a file: the best of several faces, reported in "faces"
	if *detector != "" {
		acfg.Detector = *detector
	}
	if *model != "" {
		acfg.Model = *model
		if *detector == "" {
			acfg.Detector = capture.DetectorYuNet
		}
	}
	switch acfg.Detector {
	case capture.DetectorAuto, capture.DetectorHaar, capture.DetectorYuNet:
	default:
		return fail("--detector %q is not auto, haar or yunet", acfg.Detector)
	}
	if acfg.Detector == capture.DetectorYuNet {
		if _, err := os.Stat(acfg.Model); acfg.Model == "" || err != nil {
			return fail("--detector yunet needs --model (the YuNet ONNX file) or an installed model (facegate model install yunet), not %q", acfg.Model)
		}
	}
	src, input := capture.ImageFile(*imagePath), *imagePath
	if *videoPath != "" {
		src, input = capture.VideoFile(*videoPath), *videoPath
	}
	src.MaxPixels = *maxPixels
	if _, err := os.Stat(input); err != nil {
		return fail("cannot read %s: %v", input, err)
	}
	an, err := capture.NewAnalyzer(acfg)
	if err != nil {
		return fail("%v", err)
	}
	// The work runs apart so that SIGINT/SIGTERM (ctx) ends the command at
	// once even while OpenCV is inside one long call, which no context
	// reaches. The analyzer is then closed when that call returns (under
	// it, it would crash), or by the process's exit.
	type outcome struct {
		res capture.FileResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := capture.BestFaceInFile(ctx, src, an, cfg.Capture.JPEGQuality)
		done <- outcome{res, err}
	}()
	var res capture.FileResult
	select {
	case o := <-done:
		an.Close()
		if o.err != nil {
			if ctx.Err() != nil {
				return fail("interrupted")
			}
			return fail("%v", o.err)
		}
		res = o.res
	case <-ctx.Done():
		go func() { <-done; an.Close() }()
		return fail("interrupted")
	}
	jr := cropResult{Found: res.Found, Frames: res.Frames}
	if !res.Found {
		for _, r := range res.Reasons {
			jr.Reasons = append(jr.Reasons, string(r))
		}
		if *asJSON {
			return printJSON(a, "crop", jr, exitNegative)
		}
		fmt.Fprintf(a.stdout, "no acceptable face in %d frame(s): %s\n", res.Frames, reasonText(res.Reasons))
		return exitNegative
	}
	sel := res.Selection
	dst := *out
	if dst == "" {
		base := filepath.Base(input)
		dst = strings.TrimSuffix(base, filepath.Ext(base)) + ".crop.jpg"
	}
	if err := os.WriteFile(dst, sel.JPEG, 0o640); err != nil {
		return fail("write %s: %v", dst, err)
	}
	jr.Face, jr.Crop, jr.Score, jr.Quality = toBox(sel.Face), toBox(sel.Crop), &sel.Score, &sel.Quality
	jr.Faces, jr.Out = sel.Faces, dst
	if *videoPath != "" {
		jr.Frame = &res.Frame
	}
	if *asJSON {
		return printJSON(a, "crop", jr, exitOK)
	}
	where := ""
	if *videoPath != "" {
		where = fmt.Sprintf(" in frame %d of %d", res.Frame, res.Frames)
	}
	fmt.Fprintf(a.stdout, "face %d,%d %dx%d%s, score %.3f; crop %d,%d %dx%d → %s (960x720)\n",
		sel.Face.Min.X, sel.Face.Min.Y, sel.Face.Dx(), sel.Face.Dy(), where, sel.Score,
		sel.Crop.Min.X, sel.Crop.Min.Y, sel.Crop.Dx(), sel.Crop.Dy(), dst)
	return exitOK
}

// printJSON prints v as one line of JSON and returns code; cmd names the
// command in an error ("crop", "liveness eval").
func printJSON(a *app, cmd string, v any, code int) int {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate %s: %v\n", cmd, err)
		return exitError
	}
	fmt.Fprintln(a.stdout, string(b))
	return code
}

func reasonText(rs []capture.Reason) string {
	if len(rs) == 0 {
		return "no frames"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		msg, ok := kiosk.Coach(string(r))
		if !ok {
			msg = "Look at the camera" // the screen's fallback
		}
		parts[i] = fmt.Sprintf("%s (%s)", r, msg)
	}
	return strings.Join(parts, ", ")
}
