package reproduce

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/lockfile"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/workspace"
)

// LockOptions are the inputs of Lock.
type LockOptions struct {
	Env string
	// Profiles: host profile files or directories (LoadProfiles); with
	// them, each package records its verdict on each profile.
	Profiles []string
	// Policy decides those verdicts: "" is the environment's abi_policy,
	// else the default.
	Policy abi.Policy
}

// Lock describes an environment as a PEP 751 lock: the winning copy of
// every name its interpreter imports (LOCAL over parents over GLOBAL),
// each with the wheel the store unpacked (file name, sha256, size) and,
// when forge hashed that file at a path that still holds a file of that
// size, the path. forge's facts go under [packages.tool.forge]. It reads
// only: nothing in the store or the environment changes. Errors:
// store.ErrNotFound (no such environment), ErrUsage (profiles, policy).
func Lock(ctx context.Context, w *workspace.Workspace, o LockOptions) (*lockfile.Lock, error) {
	e, err := w.OpenEnv(ctx, o.Env)
	if err != nil {
		return nil, err
	}
	policy, err := workspace.PolicyOr(o.Policy, e.Settings["abi_policy"])
	if err != nil {
		return nil, err
	}
	var hosts []*abi.Host
	if len(o.Profiles) > 0 {
		if hosts, err = workspace.LoadProfiles(o.Profiles); err != nil {
			return nil, err
		}
	}
	items, provided, err := w.Winners(ctx, e)
	if err != nil {
		return nil, err
	}
	shas := make([]string, len(items))
	for i, it := range items {
		shas[i] = it.Entry.SHA256
	}
	paths, err := w.Store.WheelPaths(ctx, shas)
	if err != nil {
		return nil, err
	}
	l := &lockfile.Lock{
		LockVersion:    lockfile.Version,
		Environments:   []string{EnvironmentMarker(e.Py)},
		RequiresPython: "==" + e.Py.XY() + ".*",
		CreatedBy:      "forge",
		Packages:       make([]lockfile.Package, 0, len(items)),
	}
	for _, it := range items {
		en := it.Entry
		wh := lockfile.Wheel{Name: en.Filename, Size: en.WheelSize, Hashes: map[string]string{"sha256": en.SHA256}}
		// A recorded path is handed on only while a file of the wheel's
		// size is there: a lock must not point at what is gone.
		if p := paths[en.SHA256]; p != "" {
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Size() == en.WheelSize {
				wh.Path = p
			}
		}
		facts := &lockfile.ForgeFacts{Layer: it.Layer, GlibcFloor: en.Fingerprint.GlibcFloor}
		facts.CUDAMajor, _ = en.Fingerprint.CUDAMajor()
		for _, g := range en.Fingerprint.GPUCode {
			facts.GPUCode = append(facts.GPUCode, g.String())
		}
		for _, h := range hosts {
			if facts.Verdicts == nil {
				facts.Verdicts = map[string]abi.Outcome{}
			}
			facts.Verdicts[workspace.HostName(h)] = abi.Evaluate(&en.Fingerprint, h, policy, provided).Verdict
		}
		l.Packages = append(l.Packages, lockfile.Package{
			Name: en.Name, Version: en.Version, Wheels: []lockfile.Wheel{wh},
			Tool: &lockfile.PackageTool{Forge: facts},
		})
	}
	return l, nil
}

// EnvironmentMarker is the PEP 508 marker that holds for py and for the
// interpreters a lock of its environment fits: the same implementation and
// Python X.Y on the same OS and machine (wheels are built for an X.Y, so a
// patch release does not change what installs).
func EnvironmentMarker(py *probe.Interp) string {
	env := workspace.MarkerEnvFor(py, workspace.Uname{}).Vars
	return fmt.Sprintf("implementation_name == %q and python_version == %q and sys_platform == %q and platform_machine == %q",
		env["implementation_name"], env["python_version"], env["sys_platform"], env["platform_machine"])
}

// LockTarget is what a lock file is read for when py installs it: its
// marker environment and the wheel tags it supports on this host's glibc
// (the one py reports).
func LockTarget(py *probe.Interp) lockfile.Target {
	glibc, _ := strings.CutPrefix(py.Libc, "glibc ")
	if !strings.HasPrefix(py.Libc, "glibc ") {
		glibc = ""
	}
	return lockfile.Target{Env: workspace.MarkerEnvFor(py, workspace.HostUname()), Tags: probe.SysTags(py, glibc)}
}
