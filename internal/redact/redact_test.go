package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"tcp://broker.example.com:1883", "tcp://broker.example.com:1883"},
		{"tcp://gate:hunter2@broker.example.com:1883", "tcp://xxxxx@broker.example.com:1883"},
		{"ssl://gate:p%40ss@broker:8883", "ssl://xxxxx@broker:8883"},
		{"rtsp://admin:hunter2@10.0.0.7:554/stream1", "rtsp://xxxxx@10.0.0.7:554/stream1"},
		{"rtsp://token-as-user@10.0.0.7/stream1", "rtsp://xxxxx@10.0.0.7/stream1"},
		{"rtsp://10.0.0.7/stream1?channel=1&password=hunter2&Token=abc", "rtsp://10.0.0.7/stream1?channel=1&password=xxxxx&Token=xxxxx"},
		{"https://cam/snap?api_key=abc&user=bob", "https://cam/snap?api_key=xxxxx&user=bob"},
		{"https://cam/snap?pass%77ord=abc", "https://cam/snap?pass%77ord=xxxxx"},
		{"wss://u:p@broker/mqtt#frag", "wss://xxxxx@broker/mqtt#frag"},
		// Unparsable or not one URL: masked as text.
		{"tcp://gate:hunter/2@broker:1883", "tcp://xxxxx@broker:1883"},
		{"tcp://gate:12#ab@broker", "tcp://xxxxx@broker"},
		{"tcp://gate:%zz@broker", "tcp://xxxxx@broker"},
		{"rtspsrc location=rtsp://admin:hunter2@cam/s user-pw=hunter3 latency=0 ! decodebin", "rtspsrc location=rtsp://xxxxx@cam/s user-pw=xxxxx latency=0 ! decodebin"},
		{`rtspsrc user-id=admin user-pw="two words" ! decodebin`, `rtspsrc user-id=admin user-pw=xxxxx ! decodebin`},
		{"http://proxy/?url=rtsp://a:b@cam", "http://xxxxx@cam"},
		{"0", "0"},
		{"/dev/video0", "/dev/video0"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q)\n got  %q\n want %q", tc.in, got, tc.want)
		}
	}
	if got := URLs([]string{"tcp://a:b@h", "tcp://h"}); strings.Join(got, " ") != "tcp://xxxxx@h tcp://h" {
		t.Errorf("URLs: %q", got)
	}
}

// FuzzURL: a password placed in the user info of a URL inside any text never
// survives, whatever surrounds it.
func FuzzURL(f *testing.F) {
	f.Add("", "hunter2", "/stream")
	f.Add("rtspsrc location=", "p/w#x?y", " ! appsink")
	f.Add("", "12#ab", "")
	f.Add("x", "p@ss", ":@")
	f.Add("", "pw", "/?url=tcp://a:b@c")
	f.Fuzz(func(t *testing.T, prefix, pw, suffix string) {
		const user = "rtsp://user:"
		if len(pw) < 3 || strings.ContainsAny(pw, " \t\r\n\v\f\"'\u0085\u00a0") || strings.Contains(prefix+user+"@cam"+suffix+Mask, pw) {
			return
		}
		// A quote or space right before the scheme is where text ends.
		s := prefix + user + pw + "@cam" + suffix
		got := URL(s)
		if strings.Contains(got, pw) {
			t.Fatalf("URL(%q) = %q keeps the password %q", s, got, pw)
		}
	})
}
