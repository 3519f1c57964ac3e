package wheel

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/forge-ml/forge/internal/pyname"
)

// Tag is one (interpreter, abi, platform) triple of PEP 425.
type Tag struct {
	Interpreter string `json:"interpreter"`
	ABI         string `json:"abi"`
	Platform    string `json:"platform"`
}

func (t Tag) String() string { return t.Interpreter + "-" + t.ABI + "-" + t.Platform }

// ParseTag parses "cp312-cp312-manylinux_2_17_x86_64" (a single, expanded tag).
func ParseTag(s string) (Tag, error) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Tag{}, fmt.Errorf("tag %q: want interpreter-abi-platform", s)
	}
	if strings.Contains(s, ".") {
		return Tag{}, fmt.Errorf("tag %q: compressed tag set where a single tag was expected", s)
	}
	return Tag{parts[0], parts[1], parts[2]}, nil
}

// ExpandTags expands a compressed tag set ("py2.py3-none-any") into its tags,
// in the order the components are written.
func ExpandTags(interp, abiTag, plat string) ([]Tag, error) {
	var out []Tag
	for _, i := range strings.Split(interp, ".") {
		for _, a := range strings.Split(abiTag, ".") {
			for _, p := range strings.Split(plat, ".") {
				if i == "" || a == "" || p == "" {
					return nil, fmt.Errorf("tag set %s-%s-%s: empty component", interp, abiTag, plat)
				}
				out = append(out, Tag{i, a, p})
			}
		}
	}
	return out, nil
}

// CompressTags writes expanded tags ("cp312-cp312-linux_x86_64") as the tag
// part of a wheel file name: each component's distinct values, in order,
// joined with dots; "py3-none-any" for none. The set it names is the
// product of those values: it holds every tag given, and only those when
// they are such a product, as the tags of one file name are. A string that
// is not a tag is skipped.
func CompressTags(tags []string) string {
	var parts [3][]string
	seen := [3]map[string]bool{{}, {}, {}}
	for _, t := range tags {
		f := strings.SplitN(t, "-", 3)
		if len(f) != 3 {
			continue
		}
		for i, v := range f {
			if !seen[i][v] {
				seen[i][v] = true
				parts[i] = append(parts[i], v)
			}
		}
	}
	if len(parts[0]) == 0 {
		return "py3-none-any"
	}
	return strings.Join(parts[0], ".") + "-" + strings.Join(parts[1], ".") + "-" + strings.Join(parts[2], ".")
}

// Filename is a parsed wheel file name (PEP 427 / binary distribution format).
type Filename struct {
	Name    string `json:"name"`    // as written in the file name
	Version string `json:"version"` // as written, "+" local part included
	Build   string `json:"build,omitempty"`
	Tags    []Tag  `json:"tags"`
	// Variant is the PEP 825 (draft) variant label, "" for a non-variant
	// wheel: "torch-2.9.0-cp313-cp313-linux_x86_64-cu128.whl".
	Variant string `json:"variant,omitempty"`
}

// The package's regular expressions are compiled on first use
// (sync.OnceValue), not at start-up, where every forge process, whatever it
// was asked to do, paid for all of them.
var (
	nameRe    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?$`) })
	versionRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_.!+]+$`) })
	buildRe   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9][A-Za-z0-9_.]*$`) })
	// projectRe is PEP 508's name, ASCII only: Unicode letters that
	// lower-case to ASCII (a Kelvin sign to k) would otherwise normalise to
	// another project's name.
	variantRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-z_.]+$`) })
	projectRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$`)
	})
)

// ValidProjectName reports whether name is a project name as PEP 508
// defines it (ASCII letters and digits, with '.', '_' and '-' inside).
func ValidProjectName(name string) bool { return projectRe().MatchString(name) }

// ParseFilename parses "name-version(-build)?-py-abi-plat(-variant)?.whl".
// With six components the third tells a build tag (it starts with a digit,
// as PEP 427 requires) from a python tag, which never does; then the last
// is a PEP 825 variant label.
func ParseFilename(file string) (Filename, error) {
	base := file
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	if !strings.HasSuffix(base, ".whl") {
		return Filename{}, fmt.Errorf("wheel filename %q: does not end in .whl", base)
	}
	parts := strings.Split(strings.TrimSuffix(base, ".whl"), "-")
	if len(parts) < 5 || len(parts) > 7 {
		return Filename{}, fmt.Errorf("wheel filename %q: want name-version[-build]-python-abi-platform[-variant].whl", base)
	}
	w := Filename{Name: parts[0], Version: parts[1]}
	if !nameRe().MatchString(w.Name) {
		return Filename{}, fmt.Errorf("wheel filename %q: invalid project name %q", base, w.Name)
	}
	if !versionRe().MatchString(w.Version) {
		return Filename{}, fmt.Errorf("wheel filename %q: invalid version %q", base, w.Version)
	}
	hasBuild := len(parts) == 7 || len(parts) == 6 && parts[2] != "" && parts[2][0] >= '0' && parts[2][0] <= '9'
	if hasBuild {
		w.Build = parts[2]
		if !buildRe().MatchString(w.Build) {
			return Filename{}, fmt.Errorf("wheel filename %q: build tag %q must start with a digit", base, w.Build)
		}
	}
	n := len(parts)
	if len(parts) == 7 || len(parts) == 6 && !hasBuild {
		w.Variant = parts[n-1]
		if !variantRe().MatchString(w.Variant) {
			return Filename{}, fmt.Errorf("wheel filename %q: variant label %q: want lower-case letters, digits, _ and . (PEP 825)", base, w.Variant)
		}
		n--
	}
	tags, err := ExpandTags(parts[n-3], parts[n-2], parts[n-1])
	if err != nil {
		return Filename{}, fmt.Errorf("wheel filename %q: %w", base, err)
	}
	w.Tags = tags
	return w, nil
}

// NormalizeName is the PEP 503 normalised form of a project name
// (pyname.Normalize: forge's one name normaliser, in a leaf package so that
// resolver shares it without importing wheel; resolver's
// TestNormalizeNameMatchesPackaging pins it to packaging's canonicalize_name).
func NormalizeName(name string) string { return pyname.Normalize(name) }

// DistInfoName is the escaped name used in "name-version.dist-info" (PEP 427;
// pyname.DistInfo).
func DistInfoName(name string) string { return pyname.DistInfo(name) }

// SameVersion compares a .dist-info version with a file name version, which
// may differ only by the escaping of "-" and case.
func SameVersion(a, b string) bool {
	n := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "-", "_")) }
	return n(a) == n(b)
}
