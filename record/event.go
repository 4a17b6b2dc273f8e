package record

// Decision is the end state of one kiosk session.
type Decision string

// The three decisions; only DecisionGranted opens the gate.
const (
	DecisionGranted Decision = "granted"
	DecisionDenied  Decision = "denied"
	DecisionError   Decision = "error"
)

// Event is the payload of <prefix>/event: one per decision, QoS 1, never
// retained. The same JSON is printed by `facegate demo` and written to the
// audit log. Field names are a contract (docs/mqtt.md); numbers stay flat
// enough for Telegraf's JSON parser.
type Event struct {
	// EventID is unique across restarts (consumers drop duplicates by it).
	EventID string `json:"event_id"`
	// Seq increases by one per event of this gate, across restarts.
	Seq      uint64   `json:"seq"`
	TS       string   `json:"ts"` // RFC 3339 with milliseconds, UTC
	Site     string   `json:"site"`
	Gate     string   `json:"gate"`
	Decision Decision `json:"decision"`
	// Reason holds machine codes, e.g. "approved", "face_compare_underscore",
	// "head_cover_below_minimum", "stale_approval", "timeout", "api_transient".
	Reason []string `json:"reason"`
	// Message is the short text the kiosk showed the worker.
	Message string `json:"message,omitempty"`
	// Identity: SubmissionID is plain, a hash ("sha256:…") or empty, by the
	// privacy setting.
	SubmissionID   string `json:"submission_id,omitempty"`
	UserID         string `json:"user_id,omitempty"`
	IdentitySource string `json:"identity_source,omitempty"` // qr, mqtt, http, roster, fixed
	Auth           *Auth  `json:"auth,omitempty"`
	Error          *Error `json:"error,omitempty"`
	// Faces is the number of faces seen at capture (tailgating guard).
	Faces int `json:"faces,omitempty"`
	// AgeMS is the time from the chosen frame's capture to the decision.
	AgeMS     int64   `json:"age_ms"`
	LatencyMS Latency `json:"latency_ms"`
	// Relay is "pulsed" when the gate was opened for this decision, "cut"
	// when the pulse was ended early (shutdown), "fault" when the line
	// could not be driven inactive afterwards (see <prefix>/alert).
	Relay string `json:"relay,omitempty"`
	// Liveness is the presentation-attack check of the session, when one ran.
	Liveness *Liveness `json:"liveness,omitempty"`

	// The site fields (docs/site.md), set only by a gate with zones on.
	// ZoneFrom is the zone the person left, ZoneTo the zone the person is
	// in after passing (peers apply ZoneTo as is, never re-derive it).
	ZoneFrom string `json:"zone_from,omitempty"`
	ZoneTo   string `json:"zone_to,omitempty"`
	// Direction is the door's declared direction: entry, exit or both.
	Direction string `json:"direction,omitempty"`
	// SiteView is "site" when the gate checked anti-passback against the
	// site's presence, "local" when it could not reach the broker and
	// decided on its own knowledge.
	SiteView string `json:"site_view,omitempty"`
	// Passback is the anti-passback or occupancy code of a soft verdict
	// that let the person through anyway (e.g. "passback_same_zone").
	Passback string `json:"passback,omitempty"`
	// Mode is "muster" for an assembly-point kiosk (no relay; a match
	// checks the person off the muster list); empty for a gate.
	Mode string `json:"mode,omitempty"`
	// EvacuationID is the evacuation in progress when the decision was made.
	EvacuationID string `json:"evacuation_id,omitempty"`
}

// Values of Event.Direction, Event.SiteView and Event.Mode.
const (
	DirectionEntry = "entry"
	DirectionExit  = "exit"
	DirectionBoth  = "both"

	SiteViewSite  = "site"
	SiteViewLocal = "local"

	ModeMuster = "muster"
)

// Liveness is the verdict of the presentation-attack check (docs/liveness.md).
type Liveness struct {
	// Method is "passive" or "challenge".
	Method string `json:"method"`
	// Score is 0..1, higher = more likely a live person.
	Score float64 `json:"score"`
	Live  bool    `json:"live"`
	// Reasons are the check's codes ("planar_motion", "wrong_direction", …).
	Reasons []string `json:"reasons"`
	// Shadow: policy.liveness is shadow, so this verdict was recorded and
	// did not take part in the decision.
	Shadow bool `json:"shadow,omitempty"`
	// Yaw is the largest turn the asked way before the check decided, in
	// face widths as the challenge measured it (its cue yaw), when a
	// challenge ran and measured one; a check that passes stops once the
	// turn has held, so then it is not the peak. Landmarks says YuNet's
	// landmarks measured it (else tracked points, which read smaller
	// turns). A shadow trial's report reads them: how many of the site's
	// workers turn too little when asked.
	Yaw       *float64 `json:"yaw,omitempty"`
	Landmarks bool     `json:"landmarks,omitempty"`
}

// Auth is the FaceAuth result, with the API's own field names.
type Auth struct {
	AuthenticationID string   `json:"authentication_id"`
	AuthStatus       string   `json:"auth_status"`
	CreateTime       string   `json:"create_time,omitempty"`
	Score            Score    `json:"score"`
	FailCode         []string `json:"fail_code,omitempty"`
	RejectedComment  []string `json:"rejected_comment,omitempty"`
}

// Score holds the four canonical score names; absent scores are omitted.
type Score struct {
	FaceSimilarity *float64 `json:"face_similarity_score,omitempty"`
	Occluded       *float64 `json:"occluded_score,omitempty"`
	FaceCover      *float64 `json:"face_cover_score,omitempty"`
	HeadCover      *float64 `json:"head_cover_score,omitempty"`
}

// Error describes why a session ended in DecisionError (or a denial caused
// by an API error such as an unapproved KYC submission).
type Error struct {
	Code       string `json:"code"`
	Class      string `json:"class"`
	Message    string `json:"message"`
	HTTPStatus int    `json:"http_status,omitempty"`
	TraceID    string `json:"trace_id,omitempty"`
}

// Latency splits the time to decision, in milliseconds.
type Latency struct {
	Capture int64 `json:"capture"`
	API     int64 `json:"api"`
	Total   int64 `json:"total"`
}
