package faceauth

import (
	"context"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DateLayout is the API's yyyy-mm-dd.
const DateLayout = "2006-01-02"

// MaxPageSize is the API's largest count.
const MaxPageSize = 2000

// maxPages stops a server that never ends its paging.
const maxPages = 100000

// History lists the records selected by q, following nextPage_key until the
// last page (GET {base}/faceauth). Each page is requested when the loop
// needs it; GETs are retried on network errors, timeouts, 429 and 502-504.
// On failure the sequence yields one (Record{}, *APIError) and ends; an
// invalid q yields an *APIError with CodeInvalidRequest before any request.
func (c *Client) History(ctx context.Context, q HistoryQuery) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		params, err := q.values()
		if err != nil {
			yield(Record{}, err)
			return
		}
		seen := map[pageKey]bool{} // a server that cycles through keys never ends
		for page := 0; page < maxPages; page++ {
			var recs []Record
			var next *pageKey
			err := c.call(ctx, c.getRequest(params), true, func(b []byte) error {
				var perr error
				recs, next, perr = parseHistoryPage(b)
				return perr
			})
			if err != nil {
				yield(Record{}, err)
				return
			}
			for _, r := range recs {
				if !yield(r, nil) {
					return
				}
			}
			if next == nil {
				return
			}
			if seen[*next] {
				yield(Record{}, &APIError{HTTPStatus: 200, Code: CodeInvalidResponse, Class: ClassTransient,
					Message: "server returned the same nextPage_key twice", Err: ErrBadResponse})
				return
			}
			seen[*next] = true
			params.Set("nextKey_id", next.AuthID)
			params.Set("nextKey_date", next.CreateTime)
		}
		yield(Record{}, &APIError{HTTPStatus: 200, Code: CodeInvalidResponse, Class: ClassTransient,
			Message: fmt.Sprintf("more than %d pages", maxPages), Err: ErrBadResponse})
	}
}

// values validates q and encodes the query parameters.
func (q HistoryQuery) values() (url.Values, error) {
	v := url.Values{}
	if id := strings.TrimSpace(q.AuthID); id != "" {
		v.Set("authId", id)
	}
	if q.Since.IsZero() != q.Until.IsZero() {
		return nil, invalidRequest("since and until must be given together (the API needs both dates or neither)")
	}
	if !q.Since.IsZero() {
		s, u := q.Since.Format(DateLayout), q.Until.Format(DateLayout)
		if u < s {
			return nil, invalidRequest(fmt.Sprintf("until %s is before since %s", u, s))
		}
		v.Set("startDate", s)
		v.Set("endDate", u)
	}
	if q.PageSize < 0 || q.PageSize > MaxPageSize {
		return nil, invalidRequest(fmt.Sprintf("page size %d is not within 1..%d", q.PageSize, MaxPageSize))
	}
	if q.PageSize > 0 {
		v.Set("count", strconv.Itoa(q.PageSize))
	}
	return v, nil
}

// ParseDate parses a yyyy-mm-dd day (as --since/--until take it) in UTC.
func ParseDate(s string) (time.Time, error) {
	t, err := time.Parse(DateLayout, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: date %q is not yyyy-mm-dd", ErrInvalidRequest, s)
	}
	return t, nil
}
