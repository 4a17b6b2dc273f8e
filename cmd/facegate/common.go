package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/faceauth"
)

// Helpers shared by several commands. Keep this file small.

// newAPIClient builds the FaceAuth client from the api section; timeout > 0
// overrides api.timeout (the --timeout flag). Errors never hold the key.
func newAPIClient(cfg *config.Config, timeout time.Duration) (*faceauth.Client, error) {
	c, err := faceauth.New(apiOptions(cfg, timeout, nil))
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	return c, nil
}

// errorJSON is `--json` output on failure.
type errorJSON struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	HTTPStatus int    `json:"http_status"`
	Class      string `json:"class"`
	TraceID    string `json:"trace_id"`
}

// printError reports err on stderr (and as {"error": …} on stdout with
// --json) and returns exitError. The faceauth and config packages never put
// the API key in an error, so printing err is safe.
func printError(a *app, asJSON bool, cmd string, err error) int {
	body := errorBody{Code: "error", Class: string(faceauth.ClassOf(err)), Message: err.Error()}
	var ae *faceauth.APIError
	if errors.As(err, &ae) {
		body = errorBody{Code: ae.Code, Message: ae.Message, HTTPStatus: ae.HTTPStatus, Class: string(ae.Class), TraceID: ae.TraceID}
	}
	if asJSON {
		writeJSONLine(a.stdout, errorJSON{Error: body})
	}
	msg := body.Message
	if body.Code != "usage" && body.Code != "config" && body.Code != "image_file" {
		msg = err.Error()
	}
	fmt.Fprintf(a.stderr, "facegate %s: %s\n", cmd, msg)
	if hint := classHint(faceauth.Class(body.Class)); hint != "" {
		fmt.Fprintf(a.stderr, "  (%s error: %s)\n", body.Class, hint)
	}
	return exitError
}

func classHint(c faceauth.Class) string {
	switch c {
	case faceauth.ClassIdentity:
		return "the worker's KYC submission is unknown or not approved"
	case faceauth.ClassConfig:
		return "check api.url and the API key (FACEGATE_API_KEY, api.key.file, credential facegate-api-key)"
	case faceauth.ClassRecapture:
		return "the image was not usable; take another picture"
	case faceauth.ClassTransient:
		return "temporary; try again"
	case faceauth.ClassClient:
		return "the request was malformed"
	}
	return ""
}

func writeJSONLine(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// flagMistake answers fs.Parse's error: exit 0 for -h; else exitError,
// and with JSON output asked for, also the usage error as one JSON object
// on stdout (the flag package has printed it on stderr), as the command's
// other usage errors: a script reading stdout gets the argument's name.
func flagMistake(a *app, err error, asJSON bool) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if asJSON {
		writeJSONLine(a.stdout, errorJSON{Error: errorBody{Code: "usage", Class: "client", Message: err.Error()}})
	}
	return exitError
}

// argsAsk reports whether the command line (before "--") sets flag name
// to value: -name value, --name=value; for a bool flag (value "true")
// also -name alone. Read before parsing, which may fail before it.
func argsAsk(args []string, name, value string) bool {
	for i, arg := range args {
		if arg == "--" {
			return false
		}
		f := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		k, v, hasValue := strings.Cut(f, "=")
		if k != name {
			continue
		}
		switch {
		case value == "true" && hasValue: // a bool flag: -json=1, --json=t as the flag package reads them
			if b, err := strconv.ParseBool(v); err == nil && b {
				return true
			}
		case hasValue:
			if v == value {
				return true
			}
		case value == "true" || i+1 < len(args) && args[i+1] == value:
			return true
		}
	}
	return false
}
