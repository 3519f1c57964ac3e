// Package pyname holds the one spelling rule for Python project names
// (PEP 503) and its escaped form in wheel and .dist-info names (PEP 427).
// It is a leaf, importing no forge package, so that abi and resolver (which
// import no other forge package) share it.
package pyname

import (
	"regexp"
	"strings"
	"sync"
)

// separators is PEP 503's run of separators, replaced as one.
var separators = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[-_.]+`) })

// Normalize is the PEP 503 normalised form of a project name: lower case,
// each run of '-', '_' and '.' one '-'. It is packaging's
// canonicalize_name (resolver's TestNormalizeNameMatchesPackaging checks it
// against real packaging).
func Normalize(name string) string {
	return strings.ToLower(separators().ReplaceAllString(name, "-"))
}

// DistInfo is the escaped name used in "name-version.dist-info" and wheel
// file names (PEP 427): as Normalize, with '_' for each run.
func DistInfo(name string) string {
	return strings.ToLower(separators().ReplaceAllString(name, "_"))
}
