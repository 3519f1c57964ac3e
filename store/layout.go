package store

import (
	"fmt"
	"strings"

	"github.com/forge-ml/forge/wheel"
)

// dataSchemes are the directories a wheel's .data directory may hold
// (PEP 427 and the install schemes pip maps them to).
var dataSchemes = map[string]bool{"scripts": true, "headers": true, "data": true, "purelib": true, "platlib": true}

// dataReserved are the names under .data/data (installed at the
// environment's root) that belong to the environment itself: lib64 is its
// link to lib in every 64-bit environment, which a wheel's lib64/ would turn
// into a directory of links (and, resolved against the caller's working
// directory, of broken ones); pyvenv.cfg is what makes it an environment.
var dataReserved = map[string]bool{"lib64": true, "pyvenv.cfg": true}

// checkLayout refuses members that would land outside what the wheel may
// own once installed: a .data directory other than the wheel's own, a
// .data scheme pip does not know, the environment's own paths under
// .data/data, project metadata (.dist-info, .egg-info) under purelib or
// platlib, where importlib.metadata would read it as another project, and
// forge's own reserved names: _forge_* in site-packages, its work files'
// names anywhere (wheel.IsForgeWorkName). distInfo is the wheel's
// .dist-info directory; names are all member names, directories included.
func checkLayout(names []string, distInfo string) error {
	dataDir := strings.TrimSuffix(distInfo, ".dist-info") + ".data"
	for _, name := range names {
		parts := strings.Split(strings.TrimSuffix(name, "/"), "/")
		for _, c := range parts {
			if wheel.IsForgeWorkName(c) {
				return fmt.Errorf("member %s: %s is reserved for forge's own work files in an environment: %w", name, c, ErrInvalid)
			}
		}
		top := parts[0]
		switch {
		case top == distInfo:
			continue
		case strings.HasSuffix(top, ".data"):
			if top != dataDir {
				return fmt.Errorf("member %s: %s is not this wheel's .data directory (%s): %w", name, top, dataDir, ErrInvalid)
			}
			if err := checkDataMember(name, parts[1:]); err != nil {
				return err
			}
		default:
			if err := checkSiteTop(name, top); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkDataMember checks a member below the wheel's .data directory; rest
// is its path below that directory.
func checkDataMember(name string, rest []string) error {
	if len(rest) == 0 {
		return nil // the .data directory itself
	}
	scheme := rest[0]
	if !dataSchemes[scheme] {
		return fmt.Errorf("member %s: unknown .data directory %q (want scripts, headers, data, purelib or platlib): %w", name, scheme, ErrInvalid)
	}
	if len(rest) < 2 {
		return nil
	}
	switch scheme {
	case "data":
		if dataReserved[rest[1]] {
			return fmt.Errorf("member %s: %s is reserved: the environment's own %s, not the wheel's: %w", name, rest[1], rest[1], ErrInvalid)
		}
	case "purelib", "platlib":
		return checkSiteTop(name, rest[1])
	case "scripts":
		if len(rest) > 2 {
			return fmt.Errorf("member %s: .data/scripts holds files only, not directories: %w", name, ErrInvalid)
		}
	}
	return nil
}

// checkSiteTop checks top, the first component of a member that is
// installed into site-packages.
func checkSiteTop(name, top string) error {
	switch {
	case strings.HasPrefix(top, wheel.ReservedSitePrefix):
		return fmt.Errorf("member %s: %s* names are reserved for forge's own files in site-packages: %w", name, wheel.ReservedSitePrefix, ErrInvalid)
	case strings.HasSuffix(top, ".dist-info"), strings.HasSuffix(top, ".egg-info"):
		return fmt.Errorf("member %s: a second .dist-info or .egg-info directory (%s) would install as another project's metadata: %w", name, top, ErrInvalid)
	}
	return nil
}
