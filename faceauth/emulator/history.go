package emulator

import (
	"net/http"
	"sort"
	"strconv"
	"time"
)

// Record is one authentication the emulator answered with 200.
type Record struct {
	ProjectID    string
	AuthID       string
	SubmissionID string
	UserID       string
	CF           [3]string
	Status       string // approved or rejected
	CreateTime   time.Time
	Policy       Policy
	// FaceSimilarity and Occluded are set when the option was on.
	FaceSimilarity *float64
	Occluded       *bool
	FailCodes      []string
	Comments       []string
}

const dateLayout = "2006-01-02"

// history answers GET {base}/faceauth: the project's records, oldest first,
// filtered by authId and dates, count per page, paged by nextKey_id and
// nextKey_date.
func (s *Server) history(w *statusRecorder, r *http.Request) {
	key := r.Header.Get("x-api-key")
	p := s.projects[key]
	if key == "" || p == nil {
		w.code = "NOT_FOUND"
		writeJSON(w, http.StatusBadRequest, map[string]any{"traceId": s.newID(), "errorCode": "NOT_FOUND", "message": "faceAuth_project not found"})
		return
	}
	if rule := s.fault(http.MethodGet, ""); rule != nil {
		s.applyFault(w, r, rule, p)
		return
	}
	bad := func(msg string) {
		w.code = "invalid_data_format"
		writeJSON(w, http.StatusBadRequest, map[string]any{"traceId": s.newID(), "errorCode": "invalid_data_format", "message": msg})
	}
	q := r.URL.Query()
	authID := q.Get("authId")
	if authID == "" {
		authID = q.Get("auth_id")
	}
	start, end := q.Get("startDate"), q.Get("endDate")
	var from, to time.Time
	if (start == "") != (end == "") {
		bad("startDate and endDate must be given together")
		return
	}
	if start != "" {
		var err1, err2 error
		from, err1 = time.Parse(dateLayout, start)
		to, err2 = time.Parse(dateLayout, end)
		if err1 != nil || err2 != nil {
			bad("startDate and endDate must be yyyy-mm-dd")
			return
		}
		if to.Before(from) {
			bad("endDate is before startDate")
			return
		}
		to = to.Add(24 * time.Hour) // inclusive
	}
	count := 2000
	if c := q.Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 || n > 2000 {
			bad("count must be 1..2000")
			return
		}
		count = n
	}
	nextID, nextDate := q.Get("nextKey_id"), q.Get("nextKey_date")
	if (nextID == "") != (nextDate == "") {
		bad("nextKey_id and nextKey_date must be given together")
		return
	}

	s.mu.Lock()
	var sel []Record
	for _, rec := range s.records {
		if rec.ProjectID != p.ID || (authID != "" && rec.AuthID != authID) {
			continue
		}
		if !from.IsZero() && (rec.CreateTime.Before(from) || !rec.CreateTime.Before(to)) {
			continue
		}
		sel = append(sel, rec)
	}
	s.mu.Unlock()
	sort.SliceStable(sel, func(i, j int) bool { return sel[i].CreateTime.Before(sel[j].CreateTime) })
	if nextID != "" {
		i := 0
		for ; i < len(sel); i++ {
			if sel[i].AuthID == nextID && sel[i].CreateTime.Format(timeLayout) == nextDate {
				break
			}
		}
		if i == len(sel) {
			bad("nextKey_id and nextKey_date match no record")
			return
		}
		sel = sel[i+1:]
	}
	more := len(sel) > count
	if more {
		sel = sel[:count]
	}
	w.code = "history"
	if p.HistoryShape == "flat" {
		out := make([]map[string]any, 0, len(sel))
		for _, rec := range sel {
			m := recordJSON(rec)
			m["aurh_status"] = m["auth_status"]
			delete(m, "auth_status")
			out = append(out, m)
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	data := make([]map[string]any, 0, len(sel))
	for _, rec := range sel {
		data = append(data, recordJSON(rec))
	}
	page := map[string]any{"faceAuth_projectId": p.ID, "data": data}
	if more {
		last := sel[len(sel)-1]
		page["nextPage_key"] = map[string]any{"authId": last.AuthID, "createTime": last.CreateTime.Format(timeLayout)}
	}
	writeJSON(w, http.StatusOK, []any{page})
}

const timeLayout = "2006-01-02T15:04:05.000Z"

func recordJSON(rec Record) map[string]any {
	threshold := func(o PolicyOption) float64 {
		if o.Enabled {
			return o.Threshold
		}
		return 0
	}
	result := map[string]any{}
	if rec.FaceSimilarity != nil {
		result["face_similarity"] = *rec.FaceSimilarity
	}
	if rec.Occluded != nil {
		result["detectOccluded"] = *rec.Occluded
	}
	failCodes, comments := rec.FailCodes, rec.Comments
	if failCodes == nil {
		failCodes = []string{}
	}
	if comments == nil {
		comments = []string{}
	}
	return map[string]any{
		"auth_id":           rec.AuthID,
		"auth_status":       rec.Status,
		"create_time":       rec.CreateTime.Format(timeLayout),
		"submit_type":       "form",
		"kyc_submission_id": rec.SubmissionID,
		"delete_check":      false,
		"policy": map[string]any{
			"faceSimilarity_threshold": threshold(rec.Policy.FaceSimilarity),
			"occluded_threshold":       rec.Policy.Occlusion.Enabled, // a boolean, as the API sends it
			"faceCover_threshold":      threshold(rec.Policy.FaceCover),
			"headCover_threshold":      threshold(rec.Policy.HeadCover),
			"liveness_threshold":       0,
			"activeLiveness_threshold": 0,
		},
		"result":         result,
		"fail_code":      failCodes,
		"reject_comment": comments,
	}
}
