package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/liveness"
)

// clipKinds are the labels a site gives its own clips (file name
// KIND_left|right[_anything].ext): bona fide people and the attack types of
// docs/liveness.md's threat model.
var clipKinds = []string{"bonafide", "print", "bent", "screen", "replay"}

// evalClip is one labelled clip of a directory.
type evalClip struct {
	File      string             `json:"file"`
	Kind      string             `json:"kind"`
	Challenge liveness.Direction `json:"challenge"`
	Live      bool               `json:"live"`
	Score     float64            `json:"score"`
	Reasons   []liveness.Reason  `json:"reasons"`
	Error     string             `json:"error,omitempty"`
}

// evalTally is one kind's count: for bona fide people the misclassified are the
// refusals (BPCER), for an attack type the acceptances (APCER).
type evalTally struct {
	Kind          string  `json:"kind"`
	Clips         int     `json:"clips"`
	Misclassified int     `json:"misclassified"`
	Unavailable   int     `json:"unavailable"`
	Rate          float64 `json:"rate"`
	Upper95       float64 `json:"upper_95"`
	Measure       string  `json:"measure"`
}

// parseClipName reads KIND_left|right[_anything].ext.
func parseClipName(name string) (kind string, dir liveness.Direction, err error) {
	parts := strings.Split(strings.TrimSuffix(name, filepath.Ext(name)), "_")
	if len(parts) < 2 {
		return "", "", fmt.Errorf("%q: not KIND_left|right[_anything].ext", name)
	}
	kind = strings.ToLower(parts[0])
	if !slices.Contains(clipKinds, kind) {
		return "", "", fmt.Errorf("%q: kind %q is not one of %s", name, parts[0], strings.Join(clipKinds, ", "))
	}
	dir, err = liveness.ParseDirection(strings.ToLower(parts[1]))
	if err != nil {
		return "", "", fmt.Errorf("%q: challenge %q is not left or right", name, parts[1])
	}
	return kind, dir, nil
}

// runLivenessEval is `facegate liveness eval --dir D [--json] [--detector
// haar|yunet] [--model F]`: every clip of D, named by what it shows and the
// challenge it answers, through the same check as `facegate liveness`, with
// BPCER and APCER per kind. Exit 0 every clip checked, 2 a bad name, an
// unreadable clip or bad flags.
func runLivenessEval(ctx context.Context, a *app, args []string) int {
	fs := flag.NewFlagSet("liveness eval", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	dirPath := fs.String("dir", "", "folder of clips named KIND_left|right[_anything].ext, KIND one of "+strings.Join(clipKinds, ", "))
	asJSON, detector, model := livenessFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(a.stderr, "usage: facegate liveness eval --dir D [--json] [--detector haar|yunet] [--model F]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(a.stderr, "facegate liveness eval: "+format+"\n", args...)
		return exitError
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if *dirPath == "" {
		return fail("--dir is required")
	}
	det, msg := livenessDetector(fs, *detector, *model)
	if msg != "" {
		return fail("%s", msg)
	}
	entries, err := os.ReadDir(*dirPath)
	if err != nil {
		return fail("%v", err)
	}
	var clips []evalClip
	var bad []string
	for _, e := range entries {
		// A saved clip's verdict (audit.save_liveness_clips) sits beside it.
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		// Regular files only: a FIFO would block OpenCV's open for ever.
		if st, err := os.Stat(filepath.Join(*dirPath, e.Name())); err != nil || !st.Mode().IsRegular() {
			bad = append(bad, fmt.Sprintf("%q: not a regular file", e.Name()))
			continue
		}
		if strings.HasSuffix(e.Name(), ".part.avi") {
			bad = append(bad, fmt.Sprintf("%q: a clip still being written, or left by a crash", e.Name()))
			continue
		}
		kind, dir, err := parseClipName(e.Name())
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		clips = append(clips, evalClip{File: e.Name(), Kind: kind, Challenge: dir})
	}
	// Every name is checked before any clip is: a site's hour of clips is not
	// run to find a typo at the end.
	if len(bad) > 0 {
		return fail("%d file(s) cannot be evaluated (clips are named KIND_left|right[_anything].ext):\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
	if len(clips) == 0 {
		return fail("no clip in %s", *dirPath)
	}
	an, err := capture.NewAnalyzer(capture.AnalyzerConfig{Detector: det, Model: *model, AllowMultiple: true})
	if err != nil {
		return fail("%v", err)
	}
	defer an.Close()
	errs := 0
	for i := range clips {
		c := &clips[i]
		res, err := checkClip(ctx, an, det, filepath.Join(*dirPath, c.File), c.Challenge)
		if ctx.Err() != nil {
			return fail("%v", ctx.Err())
		}
		if err != nil {
			c.Error = err.Error()
			errs++
			fmt.Fprintf(a.stderr, "facegate liveness eval: %q: %v\n", c.File, err)
			continue
		}
		c.Live, c.Score, c.Reasons = res.Live, res.Score, res.Reasons
	}
	tallies := tallyClips(clips)
	code := exitOK
	if errs > 0 {
		code = exitError
	}
	if *asJSON {
		return printJSON(a, "liveness eval", struct {
			Detector string      `json:"detector"`
			Clips    []evalClip  `json:"clips"`
			Kinds    []evalTally `json:"kinds"`
		}{det, clips, tallies}, code)
	}
	for _, c := range clips {
		verdict := "live"
		switch {
		case c.Error != "":
			verdict = "error: " + c.Error
		case !c.Live:
			verdict = "NOT live"
		}
		fmt.Fprintf(a.stdout, "%-42q %-8s %-5s %s %v\n", c.File, c.Kind, c.Challenge, verdict, c.Reasons)
	}
	for _, t := range tallies {
		fmt.Fprintf(a.stdout, "%-8s %s %5.1f %% (%d / %d; one-sided 95 %% upper bound %.1f %%; %d could not run)\n",
			t.Kind, t.Measure, 100*t.Rate, t.Misclassified, t.Clips, 100*t.Upper95, t.Unavailable)
	}
	return code
}

// tallyClips counts per kind in clipKinds' order (bona fide first); clips
// that could not be read are left out of the counts.
func tallyClips(clips []evalClip) []evalTally {
	by := map[string]*evalTally{}
	for _, c := range clips {
		if c.Error != "" {
			continue
		}
		t := by[c.Kind]
		if t == nil {
			t = &evalTally{Kind: c.Kind, Measure: "APCER"}
			if c.Kind == "bonafide" {
				t.Measure = "BPCER"
			}
			by[c.Kind] = t
		}
		t.Clips++
		refused := !c.Live
		if (c.Kind == "bonafide") == refused {
			t.Misclassified++
		}
		if unavailable(c.Reasons) {
			t.Unavailable++
		}
	}
	var out []evalTally
	for _, k := range clipKinds {
		if t := by[k]; t != nil {
			t.Rate = float64(t.Misclassified) / float64(t.Clips)
			t.Upper95 = upper95(t.Misclassified, t.Clips)
			out = append(out, *t)
		}
	}
	return out
}

func unavailable(rs []liveness.Reason) bool {
	for _, r := range rs {
		if r.Unavailable() {
			return true
		}
	}
	return false
}

// upper95 is the one-sided 95 % Clopper-Pearson upper bound of a rate of
// k in n: the p at which k or fewer in n has a chance of 5 %.
func upper95(k, n int) float64 {
	if n <= 0 || k >= n {
		return 1
	}
	lo, hi := float64(k)/float64(n), 1.0
	for range 60 {
		mid := (lo + hi) / 2
		if binomCDF(k, n, mid) > 0.05 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// binomCDF is P(X <= k) for X ~ Binomial(n, p), 0 < p < 1.
func binomCDF(k, n int, p float64) float64 {
	sum := 0.0
	lgn, _ := math.Lgamma(float64(n + 1))
	for i := 0; i <= k; i++ {
		lgi, _ := math.Lgamma(float64(i + 1))
		lgr, _ := math.Lgamma(float64(n - i + 1))
		sum += math.Exp(lgn - lgi - lgr + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return sum
}
