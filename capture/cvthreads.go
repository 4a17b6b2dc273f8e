package capture

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include "cvthreads.h"
*/
import "C"

// DefaultOpenCVThreads is the worker thread count the daemon gives OpenCV.
// One thread costs the least CPU per analysed frame: with Debian's TBB
// build, two workers on this 2-core machine spent 10-25% more CPU time
// (spinning and handing work over) for 30-40% less wall time, and the
// analysis of one frame (25-40 ms) already fits between two frames at
// 15 fps. The camera reader, the HTTP page and MQTT run beside it.
const DefaultOpenCVThreads = 1

// SetOpenCVThreads sets how many threads OpenCV's parallel loops use in
// this process (cv::setNumThreads); 0 lets OpenCV use every core. It is
// process-wide: call it once at start, before the first frame.
func SetOpenCVThreads(n int) {
	if n < 0 {
		n = 0
	}
	C.fg_set_num_threads(C.int(n))
}

// OpenCVThreads is OpenCV's current thread count (cv::getNumThreads).
func OpenCVThreads() int { return int(C.fg_get_num_threads()) }
