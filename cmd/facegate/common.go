package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/kiosk/config"
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
