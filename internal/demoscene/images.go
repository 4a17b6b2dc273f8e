package demoscene

import (
	"context"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
	"unicode"
)

// gocvModule is the dependency whose images/ folder holds the sample faces.
const gocvModule = "gocv.io/x/gocv"

// The sample photos, relative to ImagesDir. Both show the same man (two
// different photos).
const (
	WorkerPhoto  = "face.jpg"
	VisitorPhoto = "face-detect.jpg"
)

// ImagesDir finds the gocv module's images/ folder: in the module cache at
// the version this binary was built with, else where `go list` (run in the
// current directory, e.g. the repository) says the module is. getenv reads
// GOMODCACHE, GOPATH and HOME (os.Getenv in production).
func ImagesDir(getenv func(string) string) (string, error) {
	var tried []string
	if dir, ok := moduleCacheDir(getenv); ok {
		if usable(dir) {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", gocvModule).Output()
	if err == nil {
		dir := filepath.Join(strings.TrimSpace(string(out)), "images")
		if usable(dir) {
			return dir, nil
		}
		tried = append(tried, dir)
	} else {
		tried = append(tried, "go list -m "+gocvModule+": "+err.Error())
	}
	return "", fmt.Errorf("%w: the gocv module's images/ folder was not found (tried %s); "+
		"run from the repository after `go mod download %s`", ErrImages, strings.Join(tried, "; "), gocvModule)
}

func usable(dir string) bool {
	for _, f := range []string{WorkerPhoto, VisitorPhoto} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// moduleCacheDir is GOMODCACHE/<escaped module>@<version>/images for the
// gocv version recorded in this binary's build information.
func moduleCacheDir(getenv func(string) string) (string, bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false
	}
	version := ""
	for _, d := range bi.Deps {
		if d.Path != gocvModule {
			continue
		}
		version = d.Version
		if d.Replace != nil {
			if d.Replace.Version == "" { // a local directory replacement
				return filepath.Join(d.Replace.Path, "images"), true
			}
			version = d.Replace.Version
		}
	}
	if version == "" {
		return "", false
	}
	cache := getenv("GOMODCACHE")
	if cache == "" {
		if gp := getenv("GOPATH"); gp != "" {
			cache = filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod")
		} else if home := getenv("HOME"); home != "" {
			cache = filepath.Join(home, "go", "pkg", "mod")
		} else {
			return "", false
		}
	}
	return filepath.Join(cache, escapePath(gocvModule)+"@"+escapePath(version), "images"), true
}

// escapePath is the module cache's case encoding: an upper-case letter
// becomes '!' and its lower case.
func escapePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// visitorCrop keeps the man of face-detect.jpg and leaves out the shelf on
// the left, which the Haar cascade takes for a second face when scaled up.
var visitorCrop = image.Rect(110, 0, 400, 320)

// Demo is the scene `facegate demo` plays in a loop, 1280x720 at 10 fps,
// as a Live camera that answers the kiosk's liveness challenge: the worker
// shows their badge then their face and turns the head the asked way
// (granted); an attacker shows the worker's badge and a print of the
// worker's photo, turning the sheet as asked (denied: "Photo or screen
// detected"); a visitor shows theirs (the emulator's seed gives the
// visitor a low head-cover score: denied, "put on your hard hat"). Gaps of
// empty scene leave room for the kiosk's cooldown (3 s).
func Demo(imagesDir, workerPayload, visitorPayload string) Scene {
	worker := filepath.Join(imagesDir, WorkerPhoto)
	return Scene{
		Width: 1280, Height: 720, FPS: 10,
		Phases: []Phase{
			{Kind: Empty, Duration: 1500 * time.Millisecond},
			{Kind: Badge, Payload: workerPayload, Duration: 2 * time.Second},
			{Kind: Face, Image: worker, Duration: 4 * time.Second},
			{Kind: Empty, Duration: 3500 * time.Millisecond},
			{Kind: Badge, Payload: workerPayload, Duration: 2 * time.Second},
			{Kind: Print, Image: worker, Duration: 4 * time.Second},
			{Kind: Empty, Duration: 3500 * time.Millisecond},
			{Kind: Badge, Payload: visitorPayload, Duration: 2 * time.Second},
			{Kind: Face, Image: filepath.Join(imagesDir, VisitorPhoto), Crop: visitorCrop, Duration: 4 * time.Second},
			{Kind: Empty, Duration: 3500 * time.Millisecond},
		},
	}
}
