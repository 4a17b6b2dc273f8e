//go:build linux

package gate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/warthog618/go-gpiocdev"
)

// Consumer is the label the kernel shows for facegate's lines (gpioinfo).
const Consumer = "facegate"

// cdevDriver opens lines through the GPIO character device.
type cdevDriver struct {
	clock Clock
	chips map[string]*gpiocdev.Chip // by configured spec
}

func newCdevDriver(clock Clock) (driver, error) {
	return &cdevDriver{clock: clock, chips: map[string]*gpiocdev.Chip{}}, nil
}

// Close closes the chips; the requested lines stay held.
func (d *cdevDriver) Close() error {
	for k, c := range d.chips {
		c.Close()
		delete(d.chips, k)
	}
	return nil
}

// chip opens a chip by name (gpiochip0), path (/dev/gpiochip0 or a symlink
// to it) or label (pinctrl-bcm2711, pinctrl-rp1).
func (d *cdevDriver) chip(s lineSpec) (*gpiocdev.Chip, error) {
	if c, ok := d.chips[s.Chip]; ok {
		return c, nil
	}
	fail := func(err error) error {
		le := &LineError{Role: s.Role, Chip: s.Chip, Err: err}
		if errors.Is(err, ErrNoChip) {
			le.Have = chipList()
		}
		return le
	}
	var c *gpiocdev.Chip
	var err error
	switch {
	case strings.ContainsRune(s.Chip, '/'):
		path, perr := filepath.EvalSymlinks(s.Chip)
		if perr != nil {
			return nil, fail(ErrNoChip)
		}
		c, err = openChip(path)
	case fileExists("/dev/" + s.Chip):
		c, err = openChip(s.Chip)
	default:
		c, err = chipByLabel(s.Chip)
	}
	if err != nil {
		return nil, fail(err)
	}
	d.chips[s.Chip] = c
	return c, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func openChip(name string) (*gpiocdev.Chip, error) {
	c, err := gpiocdev.NewChip(name, gpiocdev.WithConsumer(Consumer))
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, fs.ErrPermission):
		return nil, ErrPermission
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, gpiocdev.ErrNotCharacterDevice):
		return nil, ErrNoChip
	}
	return nil, err
}

func chipByLabel(label string) (*gpiocdev.Chip, error) {
	denied := false
	for _, name := range gpiocdev.Chips() {
		c, err := openChip(name)
		if err != nil {
			denied = denied || errors.Is(err, ErrPermission)
			continue
		}
		if c.Label == label {
			return c, nil
		}
		c.Close()
	}
	if denied {
		return nil, ErrPermission
	}
	return nil, ErrNoChip
}

// chipList describes every chip: "gpiochip0 [pinctrl-bcm2711, 58 lines]".
func chipList() []string {
	have := []string{}
	for _, name := range gpiocdev.Chips() {
		c, err := gpiocdev.NewChip(name)
		if err != nil {
			have = append(have, name+" [cannot open: "+err.Error()+"]")
			continue
		}
		have = append(have, fmt.Sprintf("%s [%s, %d lines]", c.Name, c.Label, c.Lines()))
		c.Close()
	}
	return have
}

// offset resolves a line given as an offset ("17") or a name ("GPIO17").
func (d *cdevDriver) offset(c *gpiocdev.Chip, s lineSpec) (int, error) {
	off, err := strconv.Atoi(s.Line)
	if err != nil {
		off, err = c.FindLine(s.Line)
	} else if off < 0 || off >= c.Lines() {
		err = gpiocdev.ErrInvalidOffset
	}
	if err != nil {
		return 0, &LineError{Role: s.Role, Chip: s.Chip, Line: s.Line, Err: ErrNoLine, Have: lineList(c)}
	}
	return off, nil
}

// lineList names a chip's lines: "0=GPIO0", or the offset range when unnamed.
func lineList(c *gpiocdev.Chip) []string {
	have := []string{}
	for o := 0; o < c.Lines(); o++ {
		if li, err := c.LineInfo(o); err == nil && li.Name != "" {
			have = append(have, fmt.Sprintf("%d=%s", o, li.Name))
		}
	}
	if len(have) == 0 && c.Lines() > 0 {
		have = append(have, fmt.Sprintf("offsets 0-%d (no names)", c.Lines()-1))
	}
	return have
}

// requestErr turns a failed line request into a LineError.
func requestErr(c *gpiocdev.Chip, off int, s lineSpec, err error) error {
	le := &LineError{Role: s.Role, Chip: s.Chip, Line: s.Line, Err: err}
	switch {
	case errors.Is(err, syscall.EBUSY):
		le.Err = ErrBusy
		if li, ierr := c.LineInfo(off); ierr == nil {
			le.Consumer = li.Consumer
		}
	case errors.Is(err, fs.ErrPermission):
		le.Err = ErrPermission
	}
	return le
}

func lineOptions(s lineSpec) []gpiocdev.LineReqOption {
	opts := []gpiocdev.LineReqOption{gpiocdev.WithConsumer(Consumer)}
	if s.ActiveLow {
		opts = append(opts, gpiocdev.AsActiveLow)
	}
	switch s.Bias {
	case "disabled":
		opts = append(opts, gpiocdev.WithBiasDisabled)
	case "pull-up":
		opts = append(opts, gpiocdev.WithPullUp)
	case "pull-down":
		opts = append(opts, gpiocdev.WithPullDown)
	}
	return opts
}

// Output requests the line as an output at its inactive level.
func (d *cdevDriver) Output(s lineSpec) (Output, func() error, error) {
	c, err := d.chip(s)
	if err != nil {
		return nil, nil, err
	}
	off, err := d.offset(c, s)
	if err != nil {
		return nil, nil, err
	}
	opts := append(lineOptions(s), gpiocdev.AsOutput(0))
	switch s.Drive {
	case "open-drain":
		opts = append(opts, gpiocdev.AsOpenDrain)
	case "open-source":
		opts = append(opts, gpiocdev.AsOpenSource)
	}
	l, err := c.RequestLine(off, opts...)
	if err != nil {
		return nil, nil, requestErr(c, off, s, err)
	}
	return cdevOutput{l}, l.Close, nil
}

type cdevOutput struct{ l *gpiocdev.Line }

func (o cdevOutput) Set(active bool) error {
	v := 0
	if active {
		v = 1
	}
	return o.l.SetValue(v)
}

// Input requests the line as an input with edge events, debounced by the
// kernel where it can (uAPI v2, Linux 5.10+), in software otherwise.
func (d *cdevDriver) Input(s lineSpec) (Input, error) {
	c, err := d.chip(s)
	if err != nil {
		return nil, err
	}
	off, err := d.offset(c, s)
	if err != nil {
		return nil, err
	}
	in := &cdevInput{edges: make(chan Edge, edgeBuffer)}
	// Called from go-gpiocdev's watcher goroutine, the only sender on edges;
	// it must not block and must not Close the line.
	handler := func(e gpiocdev.LineEvent) {
		pushEdge(in.edges, Edge{Active: e.Type == gpiocdev.LineEventRisingEdge, Time: d.clock.Now()})
	}
	opts := append(lineOptions(s), gpiocdev.AsInput, gpiocdev.WithBothEdges, gpiocdev.WithEventHandler(handler))
	softDebounce := false
	if s.Debounce > 0 {
		in.l, err = c.RequestLine(off, append(opts, gpiocdev.WithDebounce(s.Debounce))...)
		var uapiErr gpiocdev.ErrUapiIncompatibility
		if errors.As(err, &uapiErr) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
			softDebounce = true
		}
	}
	if s.Debounce == 0 || softDebounce {
		in.l, err = c.RequestLine(off, opts...)
	}
	if err != nil {
		return nil, requestErr(c, off, s, err)
	}
	if softDebounce {
		return Debounce(in, s.Debounce, d.clock), nil
	}
	return in, nil
}

type cdevInput struct {
	l     *gpiocdev.Line
	edges chan Edge
}

func (i *cdevInput) Active() (bool, error) {
	v, err := i.l.Value()
	return v == 1, err
}

func (i *cdevInput) Edges() <-chan Edge { return i.edges }

// Close releases the line (which waits for the event handler), then closes Edges.
func (i *cdevInput) Close() error {
	err := i.l.Close()
	if !errors.Is(err, gpiocdev.ErrClosed) {
		close(i.edges)
	}
	return err
}
