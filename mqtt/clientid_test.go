package mqtt

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/mqtt/internal/mosquittotest"
)

// Two gates with one client id (two sites whose default ids collide, or a
// copied configuration) take the broker session from each other for ever;
// the broker says nothing. The log says what to look at, naming the id.
func TestSameClientIDIsSuspectedInTheLog(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	var logs lockedBuffer
	o := testOptions(t, mq.URL())
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	a := newClient(t, o)
	o2 := o
	o2.OutboxPath = filepath.Join(t.TempDir(), "outbox-b.log")
	b := newClient(t, o2)
	runClient(t, a)
	runClient(t, b)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "does another client use this client id?") },
		20*time.Second, 20*time.Millisecond, "no hint in the log:\n%s", logs.String())
	require.Contains(t, logs.String(), "client_id="+o.ClientID)
}
