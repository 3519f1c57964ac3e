package main

import "strings"

// isCobraUsage recognises cobra's own argument and command errors, which are
// plain errors without a type. This is the only string match in forge: cobra
// offers nothing else to tell them apart.
func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires at most", "required flag", "invalid argument"} {
		if strings.HasPrefix(s, p) || strings.Contains(s, p) {
			return true
		}
	}
	return false
}
