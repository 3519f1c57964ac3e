package workspace

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/probe"
)

// LoadProfiles loads host profiles from files and directories (every *.json
// in a directory, sorted by name), in argument order. A path given twice is
// loaded once; two profiles with the same name, or a directory without
// profiles, are usage errors, as is any file that is not a forge.host/v1
// profile.
func LoadProfiles(paths []string) ([]*abi.Host, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("host profile: %w: %w", err, ErrUsage)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(p, "*.json"))
		if err != nil {
			return nil, fmt.Errorf("host profiles in %s: %v: %w", p, err, ErrUsage)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("host profiles: no *.json file in directory %s: %w", p, ErrUsage)
		}
		sort.Strings(matches)
		files = append(files, matches...)
	}
	var hosts []*abi.Host
	seenPath := map[string]bool{}
	seenName := map[string]string{}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			abs = f
		}
		if seenPath[abs] {
			continue
		}
		seenPath[abs] = true
		h, err := probe.LoadProfile(f)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrUsage)
		}
		n := HostName(h)
		if prev, dup := seenName[n]; dup {
			return nil, fmt.Errorf("host profiles %s and %s are both named %q: %w", prev, f, n, ErrUsage)
		}
		seenName[n] = f
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// PolicyOr is p, else the setting s, else the default; an unknown policy is
// a usage error.
func PolicyOr(p abi.Policy, s string) (abi.Policy, error) {
	ps := string(p)
	if ps == "" {
		ps = s
	}
	if ps == "" {
		return abi.DefaultPolicy, nil
	}
	pol, err := abi.ParsePolicy(ps)
	if err != nil {
		return "", fmt.Errorf("%v: %w", err, ErrUsage)
	}
	return pol, nil
}

// HostName is how reports name h: its profile name, or "this host".
func HostName(h *abi.Host) string {
	if h.Name != "" {
		return h.Name
	}
	return "this host"
}
