//go:build !linux

package gate

// Consumer is the label the kernel shows for facegate's lines (gpioinfo).
const Consumer = "facegate"

func newCdevDriver(Clock) (driver, error) { return nil, ErrUnsupported }
