package scripts

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// git runs git with a clean home; it fails the test on error.
func git(t *testing.T, home string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t"}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v\n%s%s", args, err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// TestCapturedClips runs captured-clips.sh against a local repository that
// stands in for github.com (git's url.insteadOf): the clip of the manifest's
// commit lands as name.ext, a clip present is kept, a wrong one fails.
func TestCapturedClips(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed: %v", err)
	}
	home, dir, dest := t.TempDir(), t.TempDir(), t.TempDir()
	work := filepath.Join(dir, "work")
	git(t, home, "init", "-q", work)
	clip := []byte("not really a video, but bytes to hash")
	if err := os.MkdirAll(filepath.Join(work, "videos"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "videos", "Real.MOV"), clip, 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, home, "-C", work, "add", ".")
	git(t, home, "-C", work, "commit", "-qm", "clip")
	commit := git(t, home, "-C", work, "rev-parse", "HEAD")
	// A later commit changes the file: the manifest's commit must be taken.
	if err := os.WriteFile(filepath.Join(work, "videos", "Real.MOV"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, home, "-C", work, "commit", "-qam", "later")
	git(t, home, "config", "--global", "url."+work+".insteadOf", "https://github.com/someone/clips")

	sum := sha256.Sum256(clip)
	manifest := filepath.Join(dir, "captured.tsv")
	// Seconds in two stretches and a crop: fields the script passes over.
	line := "someone\tprint\t" + hex.EncodeToString(sum[:]) + "\tgithub.com/someone/clips@" + commit + ":videos/Real.MOV\t1-2,3-4\t10,20,30,40\n"
	if err := os.WriteFile(manifest, []byte("# header\n"+line), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() (string, error) {
		cmd := exec.Command("sh", "captured-clips.sh")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "EVAL_CAPTURED=" + dest, "CAPTURED_MANIFEST=" + manifest}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(); err != nil {
		t.Fatalf("captured-clips.sh: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dest, "someone.mov"))
	if err != nil || string(got) != string(clip) {
		t.Fatalf("someone.mov = %q, %v; want the clip at the manifest's commit", got, err)
	}
	// Present: kept, not fetched again (the repository is gone).
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	if out, err := run(); err != nil {
		t.Fatalf("captured-clips.sh with the clip present: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dest, "someone.mov"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run()
	if err == nil || !strings.Contains(out, "someone.mov: not the clip the manifest names") {
		t.Fatalf("a wrong clip: err %v, output %q; want a failure naming it", err, out)
	}

	// A repository whose file is not the manifest's: nothing is installed.
	if err := os.Remove(filepath.Join(dest, "someone.mov")); err != nil {
		t.Fatal(err)
	}
	git(t, home, "init", "-q", work)
	if err := os.MkdirAll(filepath.Join(work, "videos"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "videos", "Real.MOV"), []byte("another clip"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, home, "-C", work, "add", ".")
	git(t, home, "-C", work, "commit", "-qm", "another")
	other := git(t, home, "-C", work, "rev-parse", "HEAD")
	if err := os.WriteFile(manifest, []byte("\n"+strings.Replace(line, commit, other, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = run()
	if err == nil || !strings.Contains(out, "someone: github.com/someone/clips@"+other+":videos/Real.MOV is not the clip") {
		t.Fatalf("a repository with another clip: err %v, output %q; want a failure naming it", err, out)
	}
	if _, err := os.Stat(filepath.Join(dest, "someone.mov")); !os.IsNotExist(err) {
		t.Fatalf("a clip that is not the manifest's was installed (%v)", err)
	}

	// No manifest: a failure, not silence.
	if err := os.Remove(manifest); err != nil {
		t.Fatal(err)
	}
	if out, err := run(); err == nil || !strings.Contains(out, "cannot read the manifest") {
		t.Fatalf("no manifest: err %v, output %q", err, out)
	}
}
