package kiosk

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRosterOfOneSubmissionParsesQuickly (found by a red-team pass): a roster
// whose badges all name one submission id, each with its own user id, is
// parsed in time quadratic in its rows (each row looks its user id up in
// the list of the submission's user ids so far): 60000 rows (1 MB) took
// 4.7 s, the 8 MiB a roster may be minutes, at every start and every
// SIGHUP reload (run on the goroutine that also handles SIGTERM).
// Bounded input must parse in bounded time.
func TestRosterOfOneSubmissionParsesQuickly(t *testing.T) {
	if testing.Short() {
		t.Skip("a complexity guard: timed, too slow under emulation (make test runs it)")
	}
	const n = 120000 // about 2 MB, a quarter of maxRosterSize
	var b strings.Builder
	b.WriteString("badge_id,submission_id,user_id,display_name\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "b%d,S,u%d,\n", i, i)
	}
	data := []byte(b.String())
	done := make(chan error, 1)
	start := time.Now()
	var r *Roster
	go func() {
		var err error
		r, err = ParseRoster("roster.csv", data)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d rows parsed in %v", r.Len(), time.Since(start))
	case <-time.After(10 * time.Second): // linear: well under a second here
		t.Fatalf("ParseRoster of %d rows (%d bytes) naming one submission still running after 10s", n, len(data))
	}
	// What the roster binds is unchanged.
	if u, ok := r.Binds("S", "u7"); !ok || u != "u7" {
		t.Fatalf("Binds(S, u7) = %q, %v", u, ok)
	}
	if _, ok := r.Binds("S", "x"); ok {
		t.Fatal("Binds(S, x) accepted a user id the roster does not list")
	}
	if _, ok := r.Binds("T", "u7"); ok {
		t.Fatal("Binds(T, u7) accepted a user id the roster gives to S")
	}
}

// TestRosterUsersByKeyQuickly (found by a red-team pass): the user ids of each
// lockout key, which the lockouts list (GET /api/liveness/lockouts) and
// every alert a peer's failure list raises compute from the roster, had
// the same quadratic lookup as ParseRoster: a roster of one submission id
// and 60000 user ids took seconds on each call.
func TestRosterUsersByKeyQuickly(t *testing.T) {
	if testing.Short() {
		t.Skip("a complexity guard: timed, too slow under emulation (make test runs it)")
	}
	const n = 150000
	var b strings.Builder
	b.WriteString("badge_id,submission_id,user_id,display_name\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "b%d,S,u%d,\n", i, i)
	}
	fmt.Fprintf(&b, "c1,T,u1,\nc2,T,v,\nc3,T,v,\n")
	r, err := ParseRoster("roster.csv", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan map[string][]string, 1)
	go func() { done <- r.usersByKey() }()
	select {
	case m := <-done:
		if got := m[lockoutKey("S")]; len(got) != n || got[0] != "u0" {
			t.Fatalf("users of S: %d, first %q", len(got), got[0])
		}
		if got := m[lockoutKey("T")]; strings.Join(got, ",") != "u1,v" {
			t.Fatalf("users of T: %q", got)
		}
	case <-time.After(10 * time.Second): // linear: well under a second here
		t.Fatal("usersByKey of a roster of one submission and 150000 user ids still running after 10s")
	}
}

// TestRosterSubmissionsOfQuickly (found by a red-team pass): an unlock by user
// id (POST /api/liveness/unlock) looks up the user's submissions with
// SubmissionsOf, which looked each badge's submission up in the list so
// far: quadratic in the user's badges (a roster giving one user id 60000
// submissions: seconds per request).
func TestRosterSubmissionsOfQuickly(t *testing.T) {
	if testing.Short() {
		t.Skip("a complexity guard: timed, too slow under emulation (make test runs it)")
	}
	const n = 150000
	var b strings.Builder
	b.WriteString("badge_id,submission_id,user_id,display_name\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "b%d,S%d,u,\n", i, i)
	}
	b.WriteString("c1,S7,u,\n")
	r, err := ParseRoster("roster.csv", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []string, 1)
	go func() { done <- r.SubmissionsOf("u") }()
	select {
	case subs := <-done:
		if len(subs) != n || subs[0] != "S0" {
			t.Fatalf("%d submissions, first %q", len(subs), subs[0])
		}
	case <-time.After(10 * time.Second): // linear: well under a second here
		t.Fatal("SubmissionsOf a user with 150000 submissions still running after 10s")
	}
}
