package wheel

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits on wheel members; beyond them a wheel is refused as hostile.
const (
	maxPathLen      = 1024
	maxComponentLen = 255
)

// CheckMemberName refuses names that could escape the entry directory or that
// no filesystem would store faithfully: empty, absolute, "..", backslashes,
// drive letters, NUL, control characters, non-UTF-8, overlong paths.
func CheckMemberName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty member name")
	case !utf8.ValidString(name):
		return fmt.Errorf("member name %q is not UTF-8", name)
	case len(name) > maxPathLen:
		return fmt.Errorf("member name of %d bytes is too long (limit %d)", len(name), maxPathLen)
	case strings.ContainsRune(name, '\\'):
		return fmt.Errorf("member %q: backslash in path", name)
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("member %q: absolute path", name)
	case len(name) >= 2 && name[1] == ':':
		return fmt.Errorf("member %q: drive-letter (absolute path)", name)
	}
	if strings.ContainsRune(name, 0) {
		return fmt.Errorf("member %q: NUL byte in name", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("member %q: control character in path", name)
		}
	}
	for _, c := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		switch {
		case c == "..":
			return fmt.Errorf("member %q: path traversal (..)", name)
		case c == "." || c == "":
			return fmt.Errorf("member %q: empty or '.' path component", name)
		case len(c) > maxComponentLen:
			return fmt.Errorf("member %q: path component too long (limit %d bytes)", name[:64]+"…", maxComponentLen)
		}
	}
	if path.Clean(name) != strings.TrimSuffix(name, "/") {
		return fmt.Errorf("member %q: path is not clean", name)
	}
	return nil
}

// FoldName is the key under which two member names collide on a
// case-insensitive or normalising filesystem.
func FoldName(name string) string {
	return strings.ToLower(norm.NFC.String(name))
}

// ReservedSitePrefix begins the names forge writes into an environment's
// site-packages itself (the layering .pth files); refreshing the layering
// replaces or deletes them, so no wheel may ship one.
const ReservedSitePrefix = "_forge_"

// IsForgeWorkName reports whether a path component is one of the names forge
// gives its own work files inside an environment, at any depth: the
// marker of a directory it shares between packages (".forge-shared"), the
// directory a split is staged in ("DIR.forge-split", removed before each
// split) and the copy a file is written to before its rename
// (".NAME.forge-tmp", ".forge-tmp-*"; doctor removes stray ones). A wheel
// shipping one would have it overwritten or deleted.
func IsForgeWorkName(c string) bool {
	return c == ".forge-shared" || strings.HasSuffix(c, ".forge-split") ||
		strings.HasSuffix(c, ".forge-tmp") || strings.HasPrefix(c, ".forge-tmp-")
}
