package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/liveness"
)

// livenessResult is the --json output (scripts depend on its keys).
type livenessResult struct {
	Live      bool               `json:"live"`
	Score     float64            `json:"score"`
	Reasons   []liveness.Reason  `json:"reasons"`
	Method    liveness.Mode      `json:"method"`
	Challenge liveness.Direction `json:"challenge"`
	Detector  string             `json:"detector"`
	Cues      liveness.Cues      `json:"cues"`
}

// runLiveness is `facegate liveness --video F --challenge left|right
// [--json] [--detector haar|yunet] [--model F]`: the clip is the camera
// during one challenge issued at its first frame. Exit 0 live, 1 not live,
// 2 error.
func runLiveness(ctx context.Context, a *app, args []string) int {
	if len(args) > 0 && args[0] == "eval" {
		return runLivenessEval(ctx, a, args[1:])
	}
	if len(args) > 0 && args[0] == "report" {
		return runLivenessReport(ctx, a, args[1:])
	}
	fs := flag.NewFlagSet("liveness", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	videoPath := fs.String("video", "", "video file: the camera from the moment the challenge was shown")
	challenge := fs.String("challenge", "", `"left" or "right": the person's own side (in an unmirrored image the nose moves towards the image's right for "left")`)
	asJSON, detector, model := livenessFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(a.stderr, "usage: facegate liveness --video F --challenge left|right [--json] [--detector haar|yunet] [--model F]")
		fmt.Fprintln(a.stderr, "       facegate liveness eval --dir D [--json] [--detector haar|yunet] [--model F]   (facegate liveness eval -h)")
		fmt.Fprintln(a.stderr, "       facegate liveness report [--config F | --audit PATH] [--since D] [--until D] [--json]   (facegate liveness report -h)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(a.stderr, "facegate liveness: "+format+"\n", args...)
		return exitError
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if *videoPath == "" {
		return fail("--video is required")
	}
	dir, err := liveness.ParseDirection(*challenge)
	if err != nil {
		return fail("--challenge %q is not left or right", *challenge)
	}
	det, msg := livenessDetector(fs, *detector, *model)
	if msg != "" {
		return fail("%s", msg)
	}
	if _, err := os.Stat(*videoPath); err != nil {
		return fail("cannot read %s: %v", *videoPath, err)
	}
	an, err := capture.NewAnalyzer(capture.AnalyzerConfig{Detector: det, Model: *model, AllowMultiple: true})
	if err != nil {
		return fail("%v", err)
	}
	defer an.Close()
	res, err := checkClip(ctx, an, det, *videoPath, dir)
	if err != nil {
		return fail("%v", err)
	}
	code := exitOK
	if !res.Live {
		code = exitNegative
	}
	if *asJSON {
		return printJSON(a, "liveness", livenessResult{Live: res.Live, Score: res.Score, Reasons: res.Reasons,
			Method: res.Method, Challenge: dir, Detector: det, Cues: res.Cues}, code)
	}
	verdict := "live"
	if !res.Live {
		verdict = "NOT live"
	}
	reasons := make([]string, len(res.Reasons))
	for i, r := range res.Reasons {
		reasons[i] = string(r)
	}
	why := ""
	if len(reasons) > 0 {
		why = " (" + strings.Join(reasons, ", ") + ")"
	}
	c := res.Cues
	fmt.Fprintf(a.stdout, "%s%s: score %.2f; %d frames, %d points, yaw %.3f (against %.3f), onset %d ms, parallax %.4f (direct %.4f; %.0f %% found again: %.4f), nose lead %.4f, non-developable %.4f (direct %.4f), blur mismatch %.2f\n",
		verdict, why, res.Score, c.Frames, c.Points, c.Yaw, c.YawAgainst, c.OnsetMS, c.Parallax, c.DirectParallax, 100*c.FoundShare, c.FoundParallax, c.NoseLead, c.NonDevelopable, c.DirectNonDevelopable, c.BlurMismatch)
	return code
}

// livenessFlags are the options both liveness commands take.
func livenessFlags(fs *flag.FlagSet) (asJSON *bool, detector, model *string) {
	asJSON = fs.Bool("json", false, "print one JSON object on stdout")
	detector = fs.String("detector", capture.DetectorHaar, "haar or yunet (YuNet's landmarks drive the turn measurement)")
	model = fs.String("model", "", "YuNet ONNX model (with --detector yunet)")
	return asJSON, detector, model
}

// livenessDetector resolves --detector and --model (a model alone means
// yunet); the message says what is wrong, "" when nothing is.
func livenessDetector(fs *flag.FlagSet, detector, model string) (string, string) {
	det := detector
	if model != "" && det == capture.DetectorHaar && !flagSet(fs, "detector") {
		det = capture.DetectorYuNet
	}
	switch det {
	case capture.DetectorHaar:
		if model != "" {
			return "", "--model is YuNet's model: with --detector haar it would be ignored (drop --detector haar, or --model)"
		}
	case capture.DetectorYuNet:
		if model == "" {
			return "", "--detector yunet needs --model (the YuNet ONNX file, see docs/capture.md)"
		}
	default:
		return "", fmt.Sprintf("--detector %q is not haar or yunet", det)
	}
	return det, ""
}

// checkClip runs one challenge over a clip whose first frame is where the
// challenge was issued; a clip the daemon saved plays at its frames' real
// times, starts on the face the capture chose and judges its start against
// it (audit.save_liveness_clips).
func checkClip(ctx context.Context, an *capture.Analyzer, det, path string, dir liveness.Direction) (liveness.Result, error) {
	an.Reset()
	saved, timed, err := liveness.ReadSavedClip(path)
	if err != nil {
		return liveness.Result{}, err
	}
	v, err := liveness.OpenVideo(path)
	if err != nil {
		return liveness.Result{}, err
	}
	defer v.Close()
	if timed && len(saved.Times) > 0 {
		v.SetTimes(saved.Times)
	}
	cfg := liveness.Config{StartDetail: saved.ChosenDetail, StartFace: saved.ChosenFace}
	yunet := det == capture.DetectorYuNet
	var finder liveness.Finder = liveness.AnalyzerFinder{An: an, YuNet: yunet}
	if !saved.ChosenBox.Empty() {
		finder = liveness.GateFinder(an, yunet, saved.ChosenBox)
	}
	return liveness.Check(ctx, cfg, liveness.ModeChallenge, dir, finder, v)
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
