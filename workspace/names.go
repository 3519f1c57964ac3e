package workspace

import "strings"

// How messages name things: a store entry by the first 12 hex digits of
// its sha256, an interpreter by X.Y.

// Short is sha cut to 12 hex digits.
func Short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// PyXY is the X.Y of a Python version ("3.12.1" → "3.12").
func PyXY(version string) string {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return version
	}
	return parts[0] + "." + parts[1]
}
