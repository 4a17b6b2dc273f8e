// cv::setNumThreads is not wrapped by gocv 0.32.
#include <opencv2/core.hpp>
#include "cvthreads.h"

void fg_set_num_threads(int n) { cv::setNumThreads(n); }
int fg_get_num_threads(void) { return cv::getNumThreads(); }
