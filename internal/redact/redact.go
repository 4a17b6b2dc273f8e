// Package redact makes URLs and connection strings safe to print: a broker
// URL (tcp://user:pw@host), a camera stream (rtsp://user:pw@cam/…?token=…) or
// a GStreamer pipeline carrying one keeps its shape and loses its secrets.
// Every log line and every `config check` output that shows a URL goes
// through URL.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces a password or a secret query value.
const Mask = "xxxxx"

// URL returns s with its secrets masked: the whole user info (some brokers
// take a token as the user name, so the name goes too, as url.URL.Redacted
// would keep it) and the value of every query parameter whose name suggests
// a secret (password, token, key, …).
// A string that is not one absolute URL (a typo, a GStreamer pipeline) is
// masked as text: any "scheme://…@" loses everything before the '@', and
// secret-looking name=value pairs lose their value.
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" || u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
		return loose(s)
	}
	if u.User != nil {
		u.User = url.User(Mask)
	}
	u.RawQuery = maskQuery(u.RawQuery)
	head := (&url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host}).String()
	out := u.String()
	if !strings.HasPrefix(out, head) {
		return Text(s)
	}
	rest := out[len(head):]
	if strings.Contains(rest, "@") {
		// A password with an unescaped '#', '?' or '/' can end up in the
		// path, query or fragment: mask as text, up to the last '@'.
		return Text(s)
	}
	return head + Text(rest)
}

// loose masks a string that is not one well-formed absolute URL. A
// GStreamer pipeline (it holds '!') is text. Anything else is one URL
// mistyped (the URLs refused by validation are the ones quoted in error
// messages): when it starts like a URL ("scheme:", "scheme://", "//") and
// holds an '@', everything between that start and the last '@' goes,
// spaces and quotes included.
func loose(s string) string {
	if !strings.Contains(s, "!") {
		if at := strings.LastIndex(s, "@"); at >= 0 {
			if head := looseStart.FindString(s[:at]); head != "" {
				return head + Mask + Text(s[at:])
			}
		}
	}
	return Text(s)
}

// looseStart is how a URL, even a mistyped one, begins.
var looseStart = regexp.MustCompile(`^\s*(//|[A-Za-z][A-Za-z0-9+.-]*:/{0,2})`)

// URLs is URL over a list.
func URLs(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = URL(s)
	}
	return out
}

// secretName matches the names of query parameters and pipeline
// properties that carry a secret.
var secretName = regexp.MustCompile(`(?i)pass|pw|token|secret|key|auth|sig|cred|session`)

func maskQuery(q string) string {
	if q == "" {
		return q
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		name, _, found := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if found && secretName.MatchString(name) {
			parts[i] = p[:strings.Index(p, "=")+1] + Mask
		}
	}
	return strings.Join(parts, "&")
}

var (
	// userInfo is "scheme://" then anything up to the last '@' before a
	// space, quote or the end: passwords may hold '/', ':', '?' or '@'.
	userInfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^\s"']*@`)
	// quotedUserInfo is the same inside a quoted value (a pipeline's
	// location="rtsp://…"): there the user info may hold spaces.
	quotedUserInfo = regexp.MustCompile(`"([A-Za-z][A-Za-z0-9+.-]*://)[^"]*@|'([A-Za-z][A-Za-z0-9+.-]*://)[^']*@`)
	// pair is name=value (a query parameter or a GStreamer property such as
	// rtspsrc's user-pw=…); the value ends at '&', a space or a quote.
	pair = regexp.MustCompile(`([A-Za-z0-9_.-]+)=("[^"]*"|'[^']*'|[^\s&"'#;]*)`)
)

// Text masks the secrets of every URL inside free text (a pipeline, an
// unparsable URL, an error message).
func Text(s string) string {
	s = quotedUserInfo.ReplaceAllStringFunc(s, func(m string) string {
		q := m[:1]
		scheme := m[1 : strings.Index(m, "://")+3]
		return q + scheme + Mask + "@"
	})
	s = userInfo.ReplaceAllString(s, "${1}"+Mask+"@")
	return pair.ReplaceAllStringFunc(s, func(m string) string {
		name, _, _ := strings.Cut(m, "=")
		if secretName.MatchString(name) {
			return name + "=" + Mask
		}
		return m
	})
}
