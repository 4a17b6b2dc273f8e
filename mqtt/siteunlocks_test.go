package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/internal/lograte"
	"github.com/facegate/facegate/mqtt/internal/mosquittotest"
	"github.com/facegate/facegate/record"
)

// listedUnlocks are the Listed unlocks a recorder got, in order.
func listedUnlocks(r *siteRecorder) []Unlock {
	var out []Unlock
	for _, c := range r.commands() {
		if u, ok := c.(Unlock); ok && u.Listed {
			out = append(out, u)
		}
	}
	return out
}

// TestVerifyListedUnlock: a listed unlock is verified as the command is,
// but an old one passes, nothing enters the replay memory, and it is
// accepted again.
func TestVerifyListedUnlock(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1763796600, 0)}
	v := newOpenVerifier(testSecret, testTopic, 30*time.Second, clk, filepath.Join(t.TempDir(), "replay.json"), writeNoSync)
	un, co := testSite+"/cmd/unlock", testSite+"/cmd/correct"
	v.AddSiteTopic(un, testSecret)
	v.AddSiteTopic(co, testSecret)
	clk.Add(time.Hour)
	key := strings.Repeat("ab", 32)
	sign := func(secret []byte, b SiteCommandBody) []byte {
		t.Helper()
		p, err := SignSiteCommand(secret, b)
		require.NoError(t, err)
		return p
	}
	old := SiteCommandBody{TS: clk.Now().Add(-15 * time.Minute).Unix(), Nonce: "nonce-listed-0001", Topic: un, SubmissionID: "sha256:" + key, By: "ops", Reason: "seen"}
	for range 2 {
		u, err := v.VerifyListedUnlock(un, sign(testSecret, old))
		require.NoError(t, err, "an unlock 15 minutes old, and again")
		require.Equal(t, Unlock{Key: key, By: "ops", Reason: "seen", Nonce: old.Nonce, Issued: time.Unix(old.TS, 0), Received: clk.Now(), Listed: true}, u)
	}
	fresh := old
	fresh.TS = clk.Now().Unix()
	_, err := v.VerifyListedUnlock(un, sign(testSecret, fresh))
	require.NoError(t, err)
	_, err = v.VerifySite(un, sign(testSecret, fresh))
	require.NoError(t, err, "the listed copy did not use the nonce up")

	otherTopic := old
	otherTopic.Topic = "facegate/plant-b/cmd/unlock"
	for name, tc := range map[string]struct {
		topic   string
		payload []byte
		want    error
	}{
		"another secret":       {un, sign([]byte("another-secret-of-16-bytes"), old), ErrBadSignature},
		"signed for another":   {un, sign(testSecret, otherTopic), ErrWrongTopic},
		"a correct":            {co, sign(testSecret, SiteCommandBody{TS: old.TS, Nonce: old.Nonce, Topic: co, UserID: "w-1", Zone: "site"}), ErrWrongTopic},
		"no unlock topic":      {testSite + "/cmd/open", sign(testSecret, old), ErrWrongTopic},
		"a correct's fields":   {un, sign(testSecret, SiteCommandBody{TS: old.TS, Nonce: old.Nonce, Topic: un, SubmissionID: old.SubmissionID, Zone: "site"}), ErrMalformed},
		"unsigned":             {un, []byte(`{"body":{"ts":1}}`), ErrUnsigned},
		"not a submission sha": {un, sign(testSecret, SiteCommandBody{TS: old.TS, Nonce: old.Nonce, Topic: un, SubmissionID: "sha256:AB"}), ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.VerifyListedUnlock(tc.topic, tc.payload)
			require.ErrorIs(t, err, tc.want)
		})
	}
}

// validUnlockList is a list of n copies of a short payload.
func validUnlockList(n int) string {
	us := make([]string, n)
	for i := range us {
		us[i] = `"{\"body\":{},\"sig\":\"00\"}"`
	}
	return `{"format":"facegate-site-unlocks","version":1,"site":"plant-a","gate":"entrance","unlocks":[` + strings.Join(us, ",") + `]}`
}

func TestParseUnlockList(t *testing.T) {
	_, err := parseUnlockList([]byte(validUnlockList(MaxListedUnlocks)))
	require.NoError(t, err)
	big := `"` + strings.Repeat("a", MaxOpenPayload+1) + `"`
	for name, in := range map[string]string{
		"too many":        validUnlockList(MaxListedUnlocks + 1),
		"none":            validUnlockList(0),
		"null":            strings.Replace(validUnlockList(1), `[`+`"{\"body\":{},\"sig\":\"00\"}"]`, `null`, 1),
		"format":          strings.Replace(validUnlockList(1), "facegate-site-unlocks", "facegate-liveness-failures", 1),
		"version":         strings.Replace(validUnlockList(1), `"version":1`, `"version":2`, 1),
		"no gate":         strings.Replace(validUnlockList(1), `"gate":"entrance"`, `"gate":""`, 1),
		"long site":       strings.Replace(validUnlockList(1), `"site":"plant-a"`, `"site":"`+strings.Repeat("s", 129)+`"`, 1),
		"unknown field":   strings.Replace(validUnlockList(1), `"version":1`, `"version":1,"x":1`, 1),
		"an object":       strings.Replace(validUnlockList(1), `"{\"body\":{},\"sig\":\"00\"}"`, `{"body":{}}`, 1),
		"empty unlock":    strings.Replace(validUnlockList(1), `"{\"body\":{},\"sig\":\"00\"}"`, `""`, 1),
		"a large unlock":  strings.Replace(validUnlockList(1), `"{\"body\":{},\"sig\":\"00\"}"`, big, 1),
		"trailing data":   validUnlockList(1) + "{}",
		"too many bytes":  validUnlockList(1) + strings.Repeat(" ", maxUnlockListBytes),
		"not json at all": "unlock everyone",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseUnlockList([]byte(in))
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func FuzzParseUnlockList(f *testing.F) {
	f.Add([]byte(validUnlockList(1)))
	f.Add([]byte(validUnlockList(3)))
	f.Add([]byte(`{"format":"facegate-site-unlocks","version":1,"site":"s","gate":"g","unlocks":["\u0000"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseUnlockList(b)
		if err != nil {
			return
		}
		if len(l.Unlocks) == 0 || len(l.Unlocks) > MaxListedUnlocks || l.Site == "" || l.Gate == "" {
			t.Fatalf("accepted %+v", l)
		}
		again, err := parseUnlockList(encodeUnlockList(l.Site, l.Gate, func() (u [][]byte) {
			for _, s := range l.Unlocks {
				u = append(u, []byte(s))
			}
			return u
		}()))
		if err != nil || !slicesEqual(again.Unlocks, l.Unlocks) {
			t.Fatalf("re-encoded: %v, %q vs %q", err, again.Unlocks, l.Unlocks)
		}
	})
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSiteMosquittoUnlockListReachesALateGate: a gate's signed unlocks,
// sent live or only signed (broker away), reach a gate that starts later
// from the retained list, however old, verified one by one; the sender
// ignores its own list, a gate without the site commands and one with
// ids omitted publish none, and an empty list is deleted at the broker.
func TestSiteMosquittoUnlockListReachesALateGate(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	withCmds := func(o *Options) {
		o.Open = OpenOptions{Enabled: true, Secret: testSecret, ReplayPath: filepath.Join(t.TempDir(), "replay.json")}
		o.Zones.Commands = true
		o.Zones.SnapshotWindow = 5 * time.Second
	}
	a := newSiteGate(t, mq.URL(), "entrance", withCmds)
	require.Eventually(t, a.c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	time.Sleep(1100 * time.Millisecond) // after the replay memory's first start
	key1, key2 := strings.Repeat("0f", 32), strings.Repeat("1e", 32)
	live, err := a.c.PublishUnlock(t.Context(), Unlock{Key: key1, By: "ops", Reason: "seen"})
	require.NoError(t, err)
	require.NotEmpty(t, live.Signed)
	// An unlock a gate signed while the broker was away (15 minutes ago).
	away := newSiteGate(t, "tcp://127.0.0.1:1", "zone-e-door", withCmds)
	old := time.Now().Add(-15 * time.Minute)
	signedOnly, err := away.c.PublishUnlock(t.Context(), Unlock{Key: key2, By: "ops", Issued: old})
	require.ErrorIs(t, err, ErrNotConnected)
	require.NotEmpty(t, signedOnly.Signed, "signed all the same, for the list")
	require.Equal(t, time.Unix(old.Unix(), 0), signedOnly.Issued)
	// A forged copy: the signature of the first, another key.
	var env struct {
		Body json.RawMessage `json:"body"`
		Sig  string          `json:"sig"`
	}
	require.NoError(t, json.Unmarshal(live.Signed, &env))
	forged := fmt.Appendf(nil, `{"body":%s,"sig":%q}`, strings.Replace(string(env.Body), key1, key2, 1), env.Sig)
	a.src.setUnlocks(live.Signed, forged, signedOnly.Signed)
	a.c.SiteChanged()
	require.Eventually(t, func() bool { return a.c.retained.get(a.c.site.topics.UnlockList) != nil }, 5*time.Second, 5*time.Millisecond, "a's list published")

	b := newSiteGate(t, mq.URL(), "exit", withCmds)
	off := newSiteGate(t, mq.URL(), "zone-b-door", func(o *Options) { o.Zones.SnapshotWindow = 5 * time.Second })
	require.Eventually(t, func() bool { return len(listedUnlocks(b.h)) == 2 }, 10*time.Second, 5*time.Millisecond, "b has both unlocks")
	got := listedUnlocks(b.h)
	require.Equal(t, []string{key1, key2}, []string{got[0].Key, got[1].Key})
	require.Equal(t, live.Nonce, got[0].Nonce)
	require.Equal(t, live.Issued, got[0].Issued)
	require.Equal(t, signedOnly.Issued, got[1].Issued, "15 minutes old, yet given")
	require.Eventually(t, func() bool { return off.h.snapshot("entrance") != "" }, 5*time.Second, 5*time.Millisecond, "off read the site state")
	time.Sleep(100 * time.Millisecond)
	require.Empty(t, off.h.commands(), "a gate without the site commands cannot verify them")
	off.src.setUnlocks(live.Signed)
	off.c.SiteChanged()
	time.Sleep(300 * time.Millisecond) // six snapshot intervals: it would have published by now
	require.Equal(t, []byte{}, off.c.retained.get(off.c.site.topics.UnlockList), "nor publishes any")
	require.Empty(t, listedUnlocks(a.h), "the sender ignores its own list")

	// A gate with ids omitted publishes none, and deletes one it had.
	o := newSiteGate(t, mq.URL(), "zone-c-door", func(o *Options) { withCmds(o); o.SubmissionID = record.PrivacyOmit })
	o.src.setUnlocks(live.Signed)
	o.c.SiteChanged()
	time.Sleep(300 * time.Millisecond) // six snapshot intervals: it would have published by now
	require.Equal(t, []byte{}, o.c.retained.get(o.c.site.topics.UnlockList))

	// No unlock left: the list is deleted at the broker.
	rec := newRecorder()
	topic := testSite + "/entrance/site/unlocks"
	observe(t, mq.URL(), topic, rec)
	require.Eventually(t, func() bool { return rec.get(topic) != "" }, 5*time.Second, 5*time.Millisecond, "the retained list")
	a.src.setUnlocks()
	a.c.SiteChanged()
	require.Eventually(t, func() bool { return rec.get(topic) == "" }, 5*time.Second, 5*time.Millisecond, "a's list deleted")
	late := newSiteGate(t, mq.URL(), "zone-d-door", withCmds)
	require.Eventually(t, func() bool { return late.h.snapshot("entrance") != "" }, 5*time.Second, 5*time.Millisecond, "late read the site state")
	time.Sleep(100 * time.Millisecond)
	require.Empty(t, listedUnlocks(late.h), "no list left at the broker")
}

// unlockListGate is gate entrance of plant-a with the site commands on,
// without a broker, and its handler.
func unlockListGate(tb testing.TB) (*Client, *siteRecorder) {
	h := &siteRecorder{}
	s := newSiteLink(SiteOptions{Enabled: true, Topic: testSite, Handler: h, Commands: true, Queue: 1}, testSite+"/entrance")
	c := &Client{opts: Options{Site: "plant-a"}, log: quietLogger(), clock: SystemClock{}, site: s, done: make(chan struct{}), refusals: lograte.New(time.Minute, nil)}
	c.verifier, _, _ = newFuzzVerifier(tb)
	c.verifier.AddSiteTopic(s.topics.CmdUnlock, testSecret)
	return c, h
}

// signedUnlocks are n unlocks signed for plant-a, each of its own key.
func signedUnlocks(tb testing.TB, n int) [][]byte {
	var unlocks [][]byte
	for i := range n {
		p, err := SignSiteCommand(testSecret, SiteCommandBody{TS: time.Now().Unix(), Nonce: fmt.Sprintf("nonce-%016d", i), Topic: testSite + "/cmd/unlock",
			SubmissionID: "sha256:" + fmt.Sprintf("%064x", i), By: "site-office", Reason: strings.Repeat("r", MaxOpenReasonBytes)})
		require.NoError(tb, err)
		unlocks = append(unlocks, p)
	}
	return unlocks
}

// TestUnlockListRouting: a list is taken from a peer's topic only when it
// names that gate and this site; its own list and a forged command are
// not handed on; encoding keeps the newest MaxListedUnlocks.
func TestUnlockListRouting(t *testing.T) {
	c, h := unlockListGate(t)
	two := signedUnlocks(t, 2)
	forged := append([]byte(nil), two[1]...)
	forged[len(forged)-3] ^= 1 // the signature's last hex digits
	for _, m := range []inbound{
		{topic: testSite + "/exit/site/unlocks", payload: encodeUnlockList("plant-a", "other", two), retained: true}, // another gate's
		{topic: testSite + "/exit/site/unlocks", payload: encodeUnlockList("plant-b", "exit", two), retained: true},  // another site's
		{topic: testSite + "/entrance/site/unlocks", payload: encodeUnlockList("plant-a", "entrance", two), retained: true},
		{topic: testSite + "/a/b/site/unlocks", payload: encodeUnlockList("plant-a", "b", two), retained: true}, // not one level
		{topic: testSite + "/exit/site/unlocks", payload: nil, retained: true},                                  // a deleted list
	} {
		c.handleSite(m)
	}
	require.Empty(t, h.commands())
	c.handleSite(inbound{topic: testSite + "/exit/site/unlocks", payload: encodeUnlockList("plant-a", "exit", [][]byte{two[0], forged}), retained: true})
	require.Len(t, h.commands(), 1, "the forged one alone is refused")

	many := signedUnlocks(t, MaxListedUnlocks+3)
	l, err := parseUnlockList(encodeUnlockList("plant-a", "exit", many))
	require.NoError(t, err)
	require.Len(t, l.Unlocks, MaxListedUnlocks)
	require.Equal(t, string(many[3]), l.Unlocks[0], "the newest are kept")
}

// BenchmarkUnlockListResync: what one peer's full unlock list (256 signed
// commands) costs a gate at each resync, verified and handed on.
func BenchmarkUnlockListResync(b *testing.B) {
	c, h := unlockListGate(b)
	list := inbound{topic: testSite + "/exit/site/unlocks", payload: encodeUnlockList("plant-a", "exit", signedUnlocks(b, MaxListedUnlocks)), retained: true}
	b.SetBytes(int64(len(list.payload)))
	b.ReportAllocs()
	for b.Loop() {
		h.mu.Lock()
		h.cmds = h.cmds[:0]
		h.mu.Unlock()
		c.handleSite(list)
	}
	require.Len(b, h.commands(), MaxListedUnlocks)
}

// pendingToken never completes: the PUBACK is lost.
type pendingToken struct{ doneToken }

func (pendingToken) Done() <-chan struct{} { return make(chan struct{}) }

// lostAckPaho takes every publish and never acknowledges it.
type lostAckPaho struct{ fakePaho }

func (f *lostAckPaho) Publish(topic string, _ byte, _ bool, _ any) paho.Token {
	f.do("publish " + topic)
	return pendingToken{}
}

// TestPublishUnlockLostAck: a publish whose PUBACK is lost (the broker may
// deliver it all the same) returns the command it sent, signed once: the
// list carries the same nonce, so no gate applies the unlock twice.
func TestPublishUnlockLostAck(t *testing.T) {
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.Prefix, o.Site, o.Gate = testSite+"/entrance", "plant-a", "entrance"
	o.AckTimeout = 50 * time.Millisecond
	o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: &siteRecorder{}, Commands: true, Secret: []byte(strings.Repeat("k", 32))}
	c := newClient(t, o)
	f := &lostAckPaho{fakePaho{fail: func(string, int) error { return nil }}}
	var cli paho.Client = f
	c.live.Store(&cli)
	c.connected.Store(true)
	u, err := c.PublishUnlock(t.Context(), Unlock{Key: strings.Repeat("ab", 32), By: "ops"})
	require.Error(t, err)
	require.Equal(t, 1, f.count("publish "+testSite+"/cmd/unlock"))
	require.NotEmpty(t, u.Signed, "the command sent, for the list")
	l, err := c.verifier.VerifyListedUnlock(testSite+"/cmd/unlock", u.Signed)
	require.NoError(t, err)
	require.Equal(t, u.Nonce, l.Nonce)
}

// countingHandler counts the log records at or above Warn.
type countingHandler struct {
	mu    sync.Mutex
	warns int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.mu.Lock()
		h.warns++
		h.mu.Unlock()
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// TestForgedUnlockListLogsOnce: a list of forged commands is one warning,
// not one a command.
func TestForgedUnlockListLogsOnce(t *testing.T) {
	c, h := unlockListGate(t)
	logs := &countingHandler{}
	c.log = slog.New(logs)
	forged := signedUnlocks(t, 50)
	for i := range forged {
		forged[i] = append([]byte(nil), forged[i]...)
		forged[i][len(forged[i])-3] ^= 1
	}
	c.handleSite(inbound{topic: testSite + "/exit/site/unlocks", payload: encodeUnlockList("plant-a", "exit", forged), retained: true})
	require.Empty(t, h.commands())
	require.Equal(t, 1, logs.warns)
}
