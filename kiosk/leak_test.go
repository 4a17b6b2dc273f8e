package kiosk

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/leakcheck"
)

// Kiosk pages come and go for months (screens reboot, browsers reconnect
// their EventSource): every stream the kiosk serves must end with its
// client. Many rounds of clients that connect, read a little and hang up
// leave no goroutine, socket or hub slot behind. Must not run in parallel.
func TestStreamClientsComingAndGoingLeakNothing(t *testing.T) {
	k := webRig(t, nil, func(d *Deps) { d.Preview = &fakePreview{frames: [][]byte{[]byte("\xff\xd8one\xff\xd9")}} })
	srv := httptest.NewServer(k.Handler())
	t.Cleanup(srv.Close)
	tr := &http.Transport{}
	client := &http.Client{Transport: tr}

	// open connects to path, reads until want is seen, and returns the
	// response for the caller to hang up.
	open := func(path, want string) *http.Response {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			t.Fatalf("GET %s: %s (a stream slot not given back?)", path, resp.Status)
		}
		rd := bufio.NewReader(resp.Body)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				resp.Body.Close()
				t.Fatalf("GET %s: %v before %q", path, err, want)
			}
			if strings.Contains(line, want) {
				return resp
			}
		}
	}
	slotsFree := func() bool {
		k.hub.mu.Lock()
		defer k.hub.mu.Unlock()
		return len(k.hub.clients) == 0 && k.mjpegClients.Load() == 0
	}
	round := func() {
		var streams []*http.Response
		for range 4 {
			streams = append(streams, open("/events", "event: state"))
			streams = append(streams, open("/stream.mjpg", "Content-Type: image/jpeg"))
		}
		// A state change while the streams are up, then every client
		// hangs up mid-stream (closing the body closes the connection).
		k.setState(StateIdentified, msgIdentified, func(s *Status) { s.Name = "worker" })
		for _, resp := range streams {
			resp.Body.Close()
		}
		// One more change reaches only clients that are gone.
		k.setState(StateIdle, "", nil)
		// The server notices each hang-up on its own goroutine: the
		// next round needs every slot back (only 4 previews at once).
		for deadline := time.Now().Add(10 * time.Second); !slotsFree(); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("stream slots not given back 10s after every client hung up")
			}
		}
	}

	round() // warm up: the netpoller and the server's first connections
	tr.CloseIdleConnections()
	base := leakcheck.TakeSettled()

	const rounds = 50 // 400 streams; a leaked slot would refuse one after 32
	for range rounds {
		round()
	}
	tr.CloseIdleConnections()
	got := leakcheck.Check(t, base, leakcheck.Options{Goroutines: 2, FDs: 1, Wait: 15 * time.Second})
	t.Logf("%d streams opened and dropped: %v before, %v after", rounds*8, base, got)
}
