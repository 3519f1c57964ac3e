package store

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

// checkMemberName refuses names that could escape the entry directory or that
// no filesystem would store faithfully: empty, absolute, "..", backslashes,
// drive letters, NUL, control characters, non-UTF-8, overlong paths.
func checkMemberName(name string) error {
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

// foldName is the key under which two member names collide on a
// case-insensitive or normalising filesystem.
func foldName(name string) string {
	return strings.ToLower(norm.NFC.String(name))
}
