package capture

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWhyDeviceFails(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "video0")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "usb-Logitech_Webcam-video-index0")
	if err := os.Symlink(filepath.Join(dir, "video9"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "video7"), "no such device (unplugged?"},
		{dangling, "no such device (unplugged?"}, // a by-id link whose camera went
		{plain, "not a device node"},
		{"/dev/null", "not a camera OpenCV can capture from"},
	} {
		if got := whyDeviceFails(tc.path); !strings.Contains(got, tc.want) {
			t.Errorf("whyDeviceFails(%s) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// The open error of a camera that is not there says so, for the log and
// the health's LastError.
func TestOpenMissingDeviceSaysWhy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "video3")
	src := Source{Kind: SourceDevice, Index: -1, Target: path}
	r, err := openReader(src, DeviceSettings{}, false)
	if err == nil {
		r.close()
		t.Fatal("opened a device that does not exist")
	}
	if !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), "no such device") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err %v, want ErrOpen naming %s and saying it does not exist", err, path)
	}
}
