package main

import (
	"io"

	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/workspace"
)

// openWorkspace opens the forge home named by the global flags; profile,
// when not empty, is a host profile that stands in for this machine.
func openWorkspace(app *App, profile string) (*workspace.Workspace, error) {
	ws, err := workspace.Open(app.Home)
	if err != nil {
		return nil, err
	}
	ws.Version, ws.ExitCode = version, exitCode
	if !app.Quiet {
		ws.Log = app.Stderr
	} else {
		ws.Log = io.Discard
	}
	if profile != "" {
		h, err := probe.LoadProfile(profile)
		if err != nil {
			ws.Close()
			return nil, usageError{err}
		}
		ws.Host = h
	}
	return ws, nil
}
