package kiosk

import (
	"bytes"
	"encoding/csv"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/facegate/facegate/internal/csvcell"
	"github.com/facegate/facegate/internal/jsonobj"
	"github.com/facegate/facegate/internal/zonerules"
	"github.com/facegate/facegate/site"
)

// SiteBoard is the site as the page, the CSV and the admin API show and
// change it (cmd/facegate adapts the site package to it). Report answers
// from the local copy; Correct and Evacuate apply locally and publish to
// the other gates. Safe from any goroutine.
type SiteBoard interface {
	// Report is the presence, occupancy and muster list now. Names are
	// filled in by the kiosk from the roster.
	Report() SiteReport
	// Correct records that a person is in another zone than recorded
	// ("left through the fire exit") and says whether every connected
	// gate got it at once. Errors wrapping ErrSiteRequest are the
	// caller's (unknown zone, bad user id).
	Correct(c SiteCorrection) (SiteCorrected, error)
	// Evacuate starts (start true) or ends the site's evacuation.
	Evacuate(start bool, by, reason string) (SiteEvacuation, error)
}

// SiteCorrected is how an applied correction reached the site.
type SiteCorrected struct {
	// Broadcast: sent to every connected gate at once (the signed
	// cmd/correct); false: the other gates get it with this gate's
	// snapshot, on their next connect or resync.
	Broadcast bool `json:"broadcast"`
	// Detail says why it was not broadcast.
	Detail string `json:"detail,omitempty"`
}

// ErrSiteRequest: a correction or evacuation request the site refused as
// malformed (unknown zone, ending an evacuation that is not running).
var ErrSiteRequest = errors.New("kiosk: invalid site request")

// SiteCorrection is POST /api/site/correct's body and the signed
// cmd/correct's payload.
type SiteCorrection struct {
	UserID string `json:"user_id"`
	Zone   string `json:"zone"`
	Reason string `json:"reason"`
	By     string `json:"by"`
}

// SiteReport is the site as this gate's copy of the presence has it
// (/site.json).
type SiteReport struct {
	Site string    `json:"site"`
	Gate string    `json:"gate"`
	At   time.Time `json:"at"`
	// View is "site", or "local" while this gate cannot reach the broker
	// (what it shows may then miss other gates' passages).
	View       string         `json:"view"`
	Zones      []SiteZone     `json:"zones"`
	Evacuation SiteEvacuation `json:"evacuation"`
	// Muster is set during an evacuation.
	Muster *SiteMuster `json:"muster,omitempty"`
}

// SiteZone is one declared zone.
type SiteZone struct {
	Name      string `json:"name"`
	Inside    string `json:"inside"`
	Hazardous bool   `json:"hazardous,omitempty"`
	// Occupancy counts the people in this zone and the zones inside it.
	Occupancy int `json:"occupancy"`
	Max       int `json:"max,omitempty"`
	// People are those recorded in this very zone.
	People []SitePerson `json:"people"`
}

// SitePerson is one person on a list.
type SitePerson struct {
	UserID string    `json:"user_id"`
	Name   string    `json:"name,omitempty"` // from this gate's roster
	Zone   string    `json:"zone"`
	Since  time.Time `json:"since,omitzero"`
	// MusteredAt is when the person checked in at an assembly point
	// during the evacuation (zero: not yet).
	MusteredAt time.Time `json:"mustered_at,omitzero"`
}

// SiteMuster is the muster list of the evacuation in progress: Present
// is everyone recorded inside the site, Missing those of them not yet
// mustered.
type SiteMuster struct {
	ID      string       `json:"id"`
	Present []SitePerson `json:"present"`
	Missing []SitePerson `json:"missing"`
}

var sitePageTemplate = template.Must(template.New("site.html").Funcs(template.FuncMap{
	"since": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("15:04")
	},
	"who": func(p SitePerson) string {
		if p.Name != "" {
			return p.Name
		}
		return p.UserID
	},
}).ParseFS(webFS, "web/site.html"))

// siteCookie carries zones.page_token for a browser on another machine.
const siteCookie = "facegate_site"

// maxSiteBody bounds the admin API's bodies.
const maxSiteBody = 2048

// siteHandlers adds the site's routes to mux (Handler calls it).
func (k *Kiosk) siteHandlers(mux *http.ServeMux) {
	mux.HandleFunc("GET /site", k.siteRead(k.serveSitePage))
	mux.HandleFunc("GET /site.json", k.siteRead(k.serveSiteJSON))
	mux.HandleFunc("GET /site/muster.csv", k.siteRead(k.serveMusterCSV))
	mux.HandleFunc("POST /api/site/correct", k.siteAdmin(k.serveSiteCorrect))
	mux.HandleFunc("POST /api/site/evacuation", k.siteAdmin(k.serveSiteEvacuation))
}

// siteRead lets this machine through, and other machines with
// zones.page_token (bearer, or the cookie that ?token= sets).
func (k *Kiosk) siteRead(next func(http.ResponseWriter, *http.Request, SiteReport)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b := k.deps.SiteBoard
		if b == nil {
			http.Error(w, "the site is off (zones.enabled)", http.StatusNotFound)
			return
		}
		token := k.sitest.pageToken
		if q := r.URL.Query().Get("token"); q != "" && r.URL.Path == "/site" {
			if !tokenOK("Bearer "+q, token) {
				if wait := k.sitest.pageGuesses.take(k.now(), sitePageGuessesPerMinute); wait > 0 {
					tooMany(w, wait, "too many wrong site page tokens; try again later")
					return
				}
				k.refusals.Log(k.log, slog.LevelWarn, "site page|token", "site page refused: wrong token", "remote", r.RemoteAddr)
				http.Error(w, "wrong token", http.StatusUnauthorized)
				return
			}
			// Out of the address bar and the history at once.
			http.SetCookie(w, &http.Cookie{Name: siteCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, "/site", http.StatusSeeOther)
			return
		}
		if !fromLoopback(r) {
			c, _ := r.Cookie(siteCookie)
			ok := tokenOK(r.Header.Get("Authorization"), token) || (c != nil && tokenOK("Bearer "+c.Value, token))
			if !ok && (r.Header.Get("Authorization") != "" || c != nil) {
				// A token was offered and is wrong: a guess.
				if wait := k.sitest.pageGuesses.take(k.now(), sitePageGuessesPerMinute); wait > 0 {
					tooMany(w, wait, "too many wrong site page tokens; try again later")
					return
				}
			}
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="facegate-site"`)
				msg := "the site page is served to other machines with zones.page_token only"
				if token == "" {
					msg = "the site page is served to this machine only (set zones.page_token)"
				}
				http.Error(w, msg, http.StatusUnauthorized)
				return
			}
		}
		next(w, r, k.siteReport(b))
	}
}

// SiteReport is the site as /site.json shows it, names from the roster
// included; ok is false without a SiteBoard. The wiring publishes the
// retained MQTT views from it.
func (k *Kiosk) SiteReport() (rep SiteReport, ok bool) {
	if k.deps.SiteBoard == nil {
		return SiteReport{}, false
	}
	return k.siteReport(k.deps.SiteBoard), true
}

// siteReport is the board's report with the roster's names.
func (k *Kiosk) siteReport(b SiteBoard) SiteReport {
	rep := b.Report()
	if rep.Site == "" {
		rep.Site, rep.Gate = k.site, k.gate
	}
	names := k.settings().roster.namesByUser()
	fill := func(ps []SitePerson) {
		for i := range ps {
			if ps[i].Name == "" {
				ps[i].Name = names[ps[i].UserID]
			}
		}
	}
	for i := range rep.Zones {
		fill(rep.Zones[i].People)
	}
	if rep.Muster != nil {
		fill(rep.Muster.Present)
		fill(rep.Muster.Missing)
	}
	return rep
}

// namesByUser maps user ids to display names.
func (r *Roster) namesByUser() map[string]string {
	m := map[string]string{}
	if r == nil {
		return m
	}
	for _, e := range r.byBadge {
		if e.UserID != "" && e.DisplayName != "" {
			m[e.UserID] = e.DisplayName
		}
	}
	return m
}

func (k *Kiosk) serveSitePage(w http.ResponseWriter, r *http.Request, rep SiteReport) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	data := struct {
		SiteReport
		Title   string
		Missing int
	}{SiteReport: rep, Title: k.settings().kiosk.Title}
	if rep.Muster != nil {
		data.Missing = len(rep.Muster.Missing)
	}
	var buf bytes.Buffer
	if err := sitePageTemplate.Execute(&buf, data); err != nil {
		k.log.Warn("site page render failed", "err", err)
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(buf.Bytes())
}

func (k *Kiosk) serveSiteJSON(w http.ResponseWriter, r *http.Request, rep SiteReport) {
	writeJSON(w, http.StatusOK, rep)
}

// serveMusterCSV is the muster list as CSV: everyone recorded inside the
// site, mustered_at empty for those still missing (outside an evacuation:
// everyone inside, for a roll call).
func (k *Kiosk) serveMusterCSV(w http.ResponseWriter, r *http.Request, rep SiteReport) {
	var people []SitePerson
	if rep.Muster != nil {
		people = rep.Muster.Present
	} else {
		for _, z := range rep.Zones {
			people = append(people, z.People...)
		}
	}
	people = slices.Clone(people)
	slices.SortFunc(people, func(a, b SitePerson) int {
		// Missing first, then by zone and id: the list a marshal reads out.
		if am, bm := a.MusteredAt.IsZero(), b.MusteredAt.IsZero(); am != bm {
			if am {
				return -1
			}
			return 1
		}
		if a.Zone != b.Zone {
			if a.Zone < b.Zone {
				return -1
			}
			return 1
		}
		if a.UserID < b.UserID {
			return -1
		}
		if a.UserID > b.UserID {
			return 1
		}
		return 0
	})
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write([]string{"user_id", "name", "zone", "since", "mustered_at"})
	for _, p := range people {
		// Every text cell: user ids and zones come from peers' events too.
		_ = cw.Write([]string{csvcell.Safe(p.UserID), csvcell.Safe(p.Name), csvcell.Safe(p.Zone), rfc3339(p.Since), rfc3339(p.MusteredAt)})
	}
	cw.Flush()
	name := "muster.csv"
	// An evacuation id names the file only if it is a plain name.
	if rep.Muster != nil && zonerules.ValidName(rep.Muster.ID) {
		name = "muster-" + rep.Muster.ID + ".csv"
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// siteAdmin lets through POST requests from this machine with
// zones.admin_token, at most 30 a minute.
func (k *Kiosk) siteAdmin(next func(http.ResponseWriter, *http.Request, SiteBoard, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b := k.deps.SiteBoard
		if b == nil || k.sitest.adminToken == "" {
			writeJSON(w, http.StatusNotFound, apiAnswer{Error: "the site admin API is off (zones.enabled and zones.admin_token)"})
			return
		}
		if !fromLoopback(r) {
			k.refusals.Log(k.log, slog.LevelWarn, "site admin|remote", "site admin request refused: not from this machine", "remote", r.RemoteAddr, "path", r.URL.Path)
			writeJSON(w, http.StatusForbidden, apiAnswer{Error: "the site admin API is accepted from this machine only (docs/site.md)"})
			return
		}
		// The token first, as openGuard: requests without it must not
		// use up the marshal's window (an evacuation started over HTTP).
		if !tokenOK(r.Header.Get("Authorization"), k.sitest.adminToken) {
			if wait := k.sitest.adminGuesses.take(k.now(), siteAdminPerMinute); wait > 0 {
				tooMany(w, wait, "too many site admin requests with a missing or wrong token; try again later")
				return
			}
			k.refusals.Log(k.log, slog.LevelWarn, "site admin|token", "site admin request refused: missing or wrong token", "remote", r.RemoteAddr, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Bearer realm="facegate-site"`)
			writeJSON(w, http.StatusUnauthorized, apiAnswer{Error: "missing or wrong bearer token"})
			return
		}
		if wait := k.sitest.adminLimit.take(k.now(), siteAdminPerMinute); wait > 0 {
			tooMany(w, wait, "too many site admin requests; try again later")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSiteBody))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, apiAnswer{Error: "body larger than 2048 bytes"})
			return
		}
		next(w, r, b, body)
	}
}

// siteAdminPerMinute bounds the admin API (right or wrong token).
const siteAdminPerMinute = 30

// sitePageGuessesPerMinute bounds the wrong site page tokens (?token=, a
// bearer or the cookie) a minute, from every machine together: past it,
// 429 (the page token, unlike the others, was open to guessing at the
// network's speed until 2026-12-08).
const sitePageGuessesPerMinute = 30

// ParseSiteCorrection decodes a correction: user_id and zone required,
// reason and by free text. Errors wrap ErrSiteRequest.
func ParseSiteCorrection(body []byte) (SiteCorrection, error) {
	var c SiteCorrection
	if err := decodeStrict(body, &c); err != nil {
		return SiteCorrection{}, err
	}
	switch {
	case !ValidID(c.UserID):
		return SiteCorrection{}, siteErr("user_id", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxIDLen)
	case c.Zone != site.Outside && !zonerules.ValidName(c.Zone):
		return SiteCorrection{}, siteErr("zone", "%q is not a zone name", clip(c.Zone))
	case !validName(c.By):
		return SiteCorrection{}, siteErr("by", "must be printable text of at most %d characters", maxNameLen)
	case !validName(clip(c.Reason)):
		return SiteCorrection{}, siteErr("reason", "must be printable text")
	}
	return c, nil
}

// SiteEvacuationRequest is POST /api/site/evacuation's body.
type SiteEvacuationRequest struct {
	// Action is start or end.
	Action string `json:"action"`
	Reason string `json:"reason"`
	By     string `json:"by"`
}

// ParseSiteEvacuation decodes an evacuation request. Errors wrap
// ErrSiteRequest.
func ParseSiteEvacuation(body []byte) (SiteEvacuationRequest, error) {
	var e SiteEvacuationRequest
	if err := decodeStrict(body, &e); err != nil {
		return SiteEvacuationRequest{}, err
	}
	switch {
	case e.Action != "start" && e.Action != "end":
		return SiteEvacuationRequest{}, siteErr("action", "%q is not start or end", clip(e.Action))
	case !validName(e.By):
		return SiteEvacuationRequest{}, siteErr("by", "must be printable text of at most %d characters", maxNameLen)
	case !validName(clip(e.Reason)):
		return SiteEvacuationRequest{}, siteErr("reason", "must be printable text")
	}
	return e, nil
}

// decodeStrict decodes a site request: one JSON object of the documented
// fields (jsonobj.Decode).
func decodeStrict(body []byte, v any) error {
	if err := jsonobj.Decode(body, v, jsonobj.DisallowUnknownFields()); err != nil {
		return siteErr("", "not a JSON object of the documented fields: %v", err)
	}
	return nil
}

func siteErr(field, format string, args ...any) error {
	return inputErr(ErrSiteRequest, "site request", field, format, args...)
}

func (k *Kiosk) serveSiteCorrect(w http.ResponseWriter, r *http.Request, b SiteBoard, body []byte) {
	c, err := ParseSiteCorrection(body)
	var done SiteCorrected
	if err == nil {
		done, err = b.Correct(c)
	}
	if err != nil {
		k.answerSite(w, err)
		return
	}
	k.log.Info("site record corrected", "user_id", c.UserID, "zone", c.Zone, "by", c.By, "reason", clip(c.Reason),
		"broadcast", done.Broadcast, "detail", done.Detail)
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
		SiteCorrected
	}{"corrected", done})
}

func (k *Kiosk) serveSiteEvacuation(w http.ResponseWriter, r *http.Request, b SiteBoard, body []byte) {
	e, err := ParseSiteEvacuation(body)
	var st SiteEvacuation
	if err == nil {
		st, err = b.Evacuate(e.Action == "start", e.By, e.Reason)
	}
	if err != nil {
		k.answerSite(w, err)
		return
	}
	k.log.Warn("site evacuation changed over HTTP", "action", e.Action, "id", st.ID, "by", e.By, "reason", clip(e.Reason))
	writeJSON(w, http.StatusOK, st)
}

func (k *Kiosk) answerSite(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrSiteRequest) {
		writeJSON(w, http.StatusBadRequest, apiAnswer{Error: err.Error()})
		return
	}
	k.log.Error("site request failed", "err", err)
	writeJSON(w, http.StatusInternalServerError, apiAnswer{Error: err.Error()})
}
