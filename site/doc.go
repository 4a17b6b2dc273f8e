// Package site is the site model of issue 15: the zones of a site, the door
// one gate is, the presence of every person (who is in which zone since
// when), site-wide anti-passback and occupancy checks, and the muster list
// of an evacuation.
//
// Presence is a state CRDT: per person a last-writer-wins register whose
// writes (facts) are ordered by the key (timestamp, gate, seq). Every gate
// of a site applies the decision events of every gate, its own included,
// and merges its peers' snapshots; applying the same facts in any order,
// any number of times, yields the same presence. docs/site.md says what
// consistency that gives and why it is enough for a turnstile.
//
// The package imports only the standard library, record,
// internal/atomicfile (the durable state-file write) and internal/zonerules
// (the zone rules the configuration checks too): the wire
// (MQTT topics, retained snapshots) is the mqtt package's, the
// configuration and the kiosk port are the caller's.
package site

import (
	"errors"

	"github.com/facegate/facegate/internal/zonerules"
)

// Errors of the package; callers test them with errors.Is.
var (
	// ErrOptions: the zones, the door or another option is invalid.
	ErrOptions = errors.New("site: invalid options")
	// ErrFact: an event, correction or relay result cannot be applied
	// (bad timestamp, missing person or zone).
	ErrFact = errors.New("site: invalid fact")
	// ErrSnapshot: a snapshot cannot be decoded (malformed, or invalid
	// content); nothing of it was merged.
	ErrSnapshot = errors.New("site: invalid snapshot")
	// ErrSnapshotVersion: a snapshot was written by a newer version of the
	// format; nothing of it was merged.
	ErrSnapshotVersion = errors.New("site: unsupported snapshot version")
	// ErrCorruptState: the state file failed its checksum or did not
	// decode; it was moved aside and the presence started empty.
	ErrCorruptState = errors.New("site: corrupt state file")
)

// AlertSiteState is the alert code (the <prefix>/alert mechanism) a caller
// raises when StateProblem reports a corrupt state file.
const AlertSiteState = "site_state"

// Outside is the implicit zone: never declared, the parent of every
// top-level zone, and where a person is until a fact says otherwise.
const Outside = zonerules.Outside

// Door directions (record.Event.Direction).
const (
	Entry = "entry" // a grant moves the person from From to To
	Exit  = "exit"  // the same, but never denied: From is the zone left
	Both  = "both"  // a two-way door; Destination picks the way
)

// View says which knowledge a verdict was made on (record.Event.SiteView).
type View string

const (
	// ViewSite: the gate follows the site's presence through the broker.
	ViewSite View = "site"
	// ViewLocal: the gate cannot reach the broker; the verdict rests on
	// what it knew when it lost it plus its own decisions since.
	ViewLocal View = "local"
)

// Verdict codes (Verdict.Code, record.Event.Passback for a soft verdict).
const (
	CodePassbackSameZone = "passback_same_zone"
	CodePassbackNoPath   = "passback_no_path"
	CodeOccupancyFull    = "occupancy_full"
)

// Notice kinds (Notice.Kind): the alerts and events a Change asks for.
const (
	// NoticeOccupancyReached: a zone's occupancy rose to its maximum.
	NoticeOccupancyReached = "occupancy_reached"
	// NoticeOccupancyBelow: a zone's occupancy fell below its maximum.
	NoticeOccupancyBelow = "occupancy_below"
	// NoticeClockSkew: a fact's timestamp lies more than
	// Options.MaxFuture ahead of this gate's clock; it was not applied
	// (since 2026-12-07; a later snapshot brings it once it is no longer
	// ahead), nor is a peer's daily reset that far ahead.
	NoticeClockSkew = "clock_skew"
	// NoticeResetMismatch: a peer's daily reset is not one of this gate's
	// own (another time zone or reset_at): not applied (since 2026-12-07).
	NoticeResetMismatch = "reset_mismatch"
	// NoticeEvacuationStarted and NoticeEvacuationEnded: the set of active
	// evacuations changed.
	NoticeEvacuationStarted = "evacuation_started"
	NoticeEvacuationEnded   = "evacuation_ended"
)
