package capture

import "testing"

func TestSetOpenCVThreads(t *testing.T) {
	before := OpenCVThreads()
	defer SetOpenCVThreads(before)
	SetOpenCVThreads(1)
	if got := OpenCVThreads(); got != 1 {
		t.Fatalf("after SetOpenCVThreads(1): %d threads", got)
	}
	SetOpenCVThreads(-3) // treated as 0: OpenCV's default
	if got := OpenCVThreads(); got < 1 {
		t.Fatalf("after SetOpenCVThreads(0): %d threads", got)
	}
}
