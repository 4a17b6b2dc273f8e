package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/faceauth"
)

// Helpers shared by several commands. Keep this file small.

// configFlagUsage is the help text of every command's --config flag.
const configFlagUsage = "configuration file (default " + config.DefaultPath + " if it exists)"

// loadConfig loads the configuration for a command that can also run
// without a file. path is the --config value: when given, the file must
// exist; when empty, config.DefaultPath is used if it exists, otherwise the
// defaults. In every case the environment overrides apply
// (FACEGATE_API_URL, FACEGATE_API_KEY, CREDENTIALS_DIRECTORY, …) and the
// result is validated. Errors name the file and line and never hold a secret.
func loadConfig(a *app, path string) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat(config.DefaultPath); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("config %s: %w", config.DefaultPath, err)
			}
			return config.Parse("", nil, a.getenv) // defaults + environment
		}
		path = config.DefaultPath
	}
	return config.Load(path, a.getenv)
}

// newAPIClient builds the FaceAuth client from the api section; timeout > 0
// overrides api.timeout (the --timeout flag). Errors never hold the key.
func newAPIClient(cfg *config.Config, timeout time.Duration) (*faceauth.Client, error) {
	if timeout <= 0 {
		timeout = cfg.API.Timeout
	}
	c, err := faceauth.New(faceauth.Options{
		BaseURL:           cfg.API.URL,
		APIKey:            cfg.API.Key.Value(),
		Timeout:           timeout,
		CAFile:            cfg.API.CAFile,
		AllowInsecureHTTP: cfg.API.AllowInsecureHTTP,
		UserAgent:         "facegate/" + version,
	})
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
