package gate_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/gate/gatetest"
)

// gateHandler is a slog.Handler that, on the exit pulse's failure, tells
// the test and waits for it: the failure's event is then emitted after
// the test closed the gate.
type gateHandler struct {
	entered chan struct{}
	proceed chan struct{}
	once    *sync.Once
}

func (h gateHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h gateHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "exit button pulse failed" {
		h.once.Do(func() { close(h.entered) })
		<-h.proceed
	}
	return nil
}
func (h gateHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h gateHandler) WithGroup(string) slog.Handler      { return h }

// An exit pulse that fails while the gate closes must not send its event
// on the monitor's closed Events channel (a panic that kills the daemon
// at shutdown). Each round has an even chance of the panic when the
// send is racing the monitor's quit.
func TestExitPulseFailureAfterCloseDoesNotPanic(t *testing.T) {
	for round := 0; round < 20; round++ {
		h := gateHandler{entered: make(chan struct{}), proceed: make(chan struct{}), once: &sync.Once{}}
		g, err := gate.Open(simConfig(), gate.Options{Clock: gatetest.NewClock(), Logger: slog.New(h)})
		if err != nil {
			t.Fatal(err)
		}
		g.Sim().FailOutput("relay", errors.New("line lost"))
		g.Sim().SetInput("exit_button", true)
		select {
		case <-h.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the exit pulse did not fail")
		}
		g.Sim().FailOutput("relay", nil)
		_ = g.Close() // the monitor stops and closes Events
		for range g.Events() {
		}
		close(h.proceed) // the failed pulse's goroutine emits now
		time.Sleep(time.Millisecond)
	}
}
