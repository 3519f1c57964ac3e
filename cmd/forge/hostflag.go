package main

import (
	"path/filepath"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/probe"
)

// hostFor is the host a command checks against: the profile file when one is
// given (--host-profile), else the live machine probed with python (a path,
// "X.Y" or "" for python3 on PATH). Interpreter facts are cached under
// $FORGE_HOME/cache; NVML is asked afresh every time.
func hostFor(app *App, profile, python string) (*abi.Host, error) {
	if profile != "" {
		return probe.LoadProfile(profile)
	}
	return probe.Host(probe.WithPython(python), probe.WithCacheDir(filepath.Join(app.Home, "cache")))
}
