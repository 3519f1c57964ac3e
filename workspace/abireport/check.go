package abireport

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// CheckOptions are the inputs of Check.
type CheckOptions struct {
	// Targets are wheel files (*.whl), or NAME / NAME==VERSION of store
	// entries: every entry that matches (all builds and CUDA flavours).
	Targets []string
	// Hosts are the hosts to check against, in report order. Empty means the
	// workspace's Host when set, else this machine probed with Python.
	Hosts []*abi.Host
	// Python is the interpreter the probe describes when Hosts and the
	// workspace's Host are empty: a path, "X.Y", or "" for python3 on PATH.
	Python string
	// Policy decides the verdicts; "" is abi.DefaultPolicy.
	Policy abi.Policy
}

// Summary counts verdicts.
type Summary struct {
	Accept int `json:"accept"`
	Warn   int `json:"warn"`
	Refuse int `json:"refuse"`
}

func (s *Summary) add(verdict abi.Outcome) {
	switch verdict {
	case abi.Refuse:
		s.Refuse++
	case abi.Warn:
		s.Warn++
	default:
		s.Accept++
	}
}

// Wheel is one checked wheel: what it is, what it needs (Requires, the
// fingerprint) and a verdict per host.
type Wheel struct {
	Name     string           `json:"name"`
	Version  string           `json:"version"`
	Tags     []string         `json:"tags"`
	File     string           `json:"file,omitempty"`  // the wheel file checked
	Entry    string           `json:"entry,omitempty"` // the store entry checked (sha256)
	Requires *abi.Fingerprint `json:"requires"`
	Verdicts []abi.Verdict    `json:"verdicts"`
}

// CheckReport is what Check found. Summary counts verdicts (one per
// wheel and host).
type CheckReport struct {
	Policy  abi.Policy `json:"policy"`
	Hosts   []string   `json:"hosts"`
	Wheels  []Wheel    `json:"wheels"`
	Summary Summary    `json:"summary"`
}

// Check fingerprints each target — a wheel file read on the spot
// (nothing is written to the store), or the fingerprints stored with the
// matching store entries — and decides it for each host under the policy.
// The libraries every target ships count as provided to all of them, as if
// they were installed together. A target that cannot be read fails the
// whole check: errors wrap store.ErrNotFound (no such entry),
// store.ErrCorrupt (a damaged wheel), store.ErrInvalid (not a wheel) or
// ErrUsage (a bad target or policy).
func Check(ctx context.Context, w *workspace.Workspace, o CheckOptions) (*CheckReport, error) {
	policy, err := workspace.PolicyOr(o.Policy, "")
	if err != nil {
		return nil, err
	}
	if len(o.Targets) == 0 {
		return nil, fmt.Errorf("no wheel or package to check: %w", workspace.ErrUsage)
	}
	hosts := o.Hosts
	if len(hosts) == 0 {
		h := w.Host
		if h == nil {
			if h, err = probe.Host(probe.WithPython(o.Python), probe.WithCacheDir(filepath.Join(w.Home, "cache"))); err != nil {
				return nil, err
			}
		}
		hosts = []*abi.Host{h}
	}
	var wheels []Wheel
	seen := map[string]bool{}
	for _, t := range o.Targets {
		found, err := abiTarget(ctx, w, t)
		if err != nil {
			return nil, err
		}
		for _, wh := range found {
			key := wh.Entry
			if key == "" {
				key = "file:" + wh.File
			}
			if !seen[key] {
				seen[key] = true
				wheels = append(wheels, wh)
			}
		}
	}
	fps := make([]*abi.Fingerprint, len(wheels))
	for i := range wheels {
		fps[i] = wheels[i].Requires
	}
	provided := workspace.ShippedLibs(fps...)
	rep := &CheckReport{Policy: policy, Hosts: make([]string, len(hosts)), Wheels: wheels}
	for i, h := range hosts {
		rep.Hosts[i] = workspace.HostName(h)
	}
	for i := range rep.Wheels {
		wh := &rep.Wheels[i]
		for _, h := range hosts {
			v := abi.Evaluate(wh.Requires, h, policy, provided)
			v.Host = workspace.HostName(h)
			wh.Verdicts = append(wh.Verdicts, v)
			rep.Summary.add(v.Verdict)
		}
	}
	if rep.Wheels == nil {
		rep.Wheels = []Wheel{}
	}
	return rep, nil
}

// abiTarget resolves one Check target.
func abiTarget(ctx context.Context, w *workspace.Workspace, target string) ([]Wheel, error) {
	if strings.HasSuffix(target, ".whl") {
		fp, err := abi.FingerprintWheelContext(ctx, target)
		if err != nil {
			return nil, err
		}
		// Content that does not match RECORD is refused here as install
		// refuses it (exit 4): a verdict on it would describe other bytes.
		if err := store.VerifyWheel(ctx, target); err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(target)
		if err != nil {
			abs = target
		}
		return []Wheel{{Name: fp.Name, Version: fp.Version, Tags: fp.Tags, File: abs, Requires: fp}}, nil
	}
	name, version, _ := strings.Cut(target, "==")
	name, version = strings.TrimSpace(name), strings.TrimSpace(version)
	if name == "" || strings.ContainsAny(name, "<>=!~;[ ") || (strings.Contains(target, "==") && version == "") {
		return nil, fmt.Errorf("%q: give a wheel file (*.whl), NAME or NAME==VERSION of a package in the store: %w", target, workspace.ErrUsage)
	}
	entries, err := w.Store.Find(ctx, name, version)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		what := name
		if version != "" {
			what += "==" + version
		}
		return nil, fmt.Errorf("%s is not in the store (check its wheel file instead, or install it first): %w", what, store.ErrNotFound)
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].Version != entries[j].Version {
			return entries[i].Version < entries[j].Version
		}
		return entries[i].Filename < entries[j].Filename
	})
	out := make([]Wheel, 0, len(entries))
	for _, en := range entries {
		fp := en.Fingerprint
		out = append(out, Wheel{Name: en.Name, Version: en.Version, Tags: en.Tags, Entry: en.SHA256, Requires: &fp})
	}
	return out, nil
}
