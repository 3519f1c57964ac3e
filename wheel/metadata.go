package wheel

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Info is a parsed .dist-info/WHEEL file.
type Info struct {
	WheelVersion  string   `json:"wheel_version"`
	Generator     string   `json:"generator,omitempty"`
	RootIsPurelib bool     `json:"root_is_purelib"`
	Tags          []string `json:"tags"` // expanded, in file order, duplicates removed
	Build         string   `json:"build,omitempty"`
}

// Metadata is the part of a .dist-info/METADATA file forge uses.
type Metadata struct {
	MetadataVersion string   `json:"metadata_version,omitempty"`
	Name            string   `json:"name"`
	Version         string   `json:"version"`
	RequiresDist    []string `json:"requires_dist,omitempty"`
	ProvidesExtra   []string `json:"provides_extra,omitempty"`
	RequiresPython  string   `json:"requires_python,omitempty"`
	// Licence, as the core metadata gives it: License-Expression (SPDX,
	// metadata 2.4), the free-text License field, and the "License ::"
	// classifiers. Read, never validated: an SBOM reports what it says.
	LicenseExpression  string   `json:"license_expression,omitempty"`
	License            string   `json:"license,omitempty"`
	LicenseClassifiers []string `json:"license_classifiers,omitempty"`
}

// ParseHeaders reads RFC 822-style headers up to the first blank line: keys are
// lower-cased, values trimmed, continuation lines (leading space or tab) joined
// to the previous value with a newline. A line that is neither is an error, but
// what was read before it is returned too.
func ParseHeaders(data []byte) (map[string][]string, error) {
	h := map[string][]string{}
	var last string
	for i, line := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			break // end of headers: the rest is the description body
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == "" {
				return h, fmt.Errorf("%w: line %d: continuation line before any header", ErrMetadata, i+1)
			}
			vs := h[last]
			vs[len(vs)-1] += "\n" + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return h, fmt.Errorf("%w: line %d: %q is not a \"Key: value\" header", ErrMetadata, i+1, truncate(line, 60))
		}
		last = strings.ToLower(k)
		h[last] = append(h[last], strings.TrimSpace(v))
	}
	return h, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func single(h map[string][]string, key string) (string, error) {
	v := h[strings.ToLower(key)]
	switch len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", fmt.Errorf("%w: %s given %d times", ErrMetadata, key, len(v))
}

// ParseInfo parses a WHEEL file. Wheel-Version is required and its major
// version must be 1; Tag lines are expanded (a compressed set such as
// "py2.py3-none-any" gives two tags); Root-Is-Purelib must be true or false.
func ParseInfo(data []byte) (Info, error) {
	h, err := ParseHeaders(data)
	if err != nil {
		return Info{}, fmt.Errorf("WHEEL: %w", err)
	}
	var w Info
	if w.WheelVersion, err = single(h, "Wheel-Version"); err != nil {
		return Info{}, fmt.Errorf("WHEEL: %w", err)
	}
	if w.WheelVersion == "" {
		return Info{}, fmt.Errorf("WHEEL: %w: Wheel-Version missing", ErrMetadata)
	}
	majorS, _, _ := strings.Cut(w.WheelVersion, ".")
	if major, err := strconv.Atoi(majorS); err != nil || major != 1 {
		return Info{}, fmt.Errorf("WHEEL: %w: Wheel-Version %q unsupported, want 1.x", ErrMetadata, w.WheelVersion)
	}
	if w.Generator, err = single(h, "Generator"); err != nil {
		return Info{}, fmt.Errorf("WHEEL: %w", err)
	}
	purelib, err := single(h, "Root-Is-Purelib")
	if err != nil {
		return Info{}, fmt.Errorf("WHEEL: %w", err)
	}
	switch strings.ToLower(purelib) {
	case "true":
		w.RootIsPurelib = true
	case "false", "":
	default:
		return Info{}, fmt.Errorf("WHEEL: %w: Root-Is-Purelib %q, want true or false", ErrMetadata, purelib)
	}
	if w.Build, err = single(h, "Build"); err != nil {
		return Info{}, fmt.Errorf("WHEEL: %w", err)
	}
	if w.Build != "" && !buildRe().MatchString(w.Build) {
		return Info{}, fmt.Errorf("WHEEL: %w: Build %q must start with a digit", ErrMetadata, w.Build)
	}
	seen := map[string]bool{}
	for _, line := range h["tag"] {
		parts := strings.Split(line, "-")
		if len(parts) != 3 {
			return Info{}, fmt.Errorf("WHEEL: %w: Tag %q: want interpreter-abi-platform", ErrMetadata, line)
		}
		tags, err := ExpandTags(parts[0], parts[1], parts[2])
		if err != nil {
			return Info{}, fmt.Errorf("WHEEL: %w: %v", ErrMetadata, err)
		}
		for _, t := range tags {
			if s := t.String(); !seen[s] {
				seen[s] = true
				w.Tags = append(w.Tags, s)
			}
		}
	}
	return w, nil
}

// ParseMetadata parses a METADATA (or PKG-INFO) file's headers; the body after
// the first blank line is ignored. Name and Version are required.
func ParseMetadata(data []byte) (Metadata, error) {
	h, err := ParseHeaders(data)
	if err != nil {
		return Metadata{}, fmt.Errorf("METADATA: %w", err)
	}
	var m Metadata
	for _, f := range []struct {
		key string
		dst *string
	}{{"Metadata-Version", &m.MetadataVersion}, {"Name", &m.Name}, {"Version", &m.Version}, {"Requires-Python", &m.RequiresPython}} {
		if *f.dst, err = single(h, f.key); err != nil {
			return Metadata{}, fmt.Errorf("METADATA: %w", err)
		}
	}
	if m.Name == "" {
		return Metadata{}, fmt.Errorf("METADATA: %w: Name missing", ErrMetadata)
	}
	if !ValidProjectName(m.Name) {
		return Metadata{}, fmt.Errorf("METADATA: %w: Name %+q is not a project name (PEP 508: ASCII letters and digits, with '.', '_' and '-' inside)", ErrMetadata, m.Name)
	}
	if m.Version == "" {
		return Metadata{}, fmt.Errorf("METADATA: %w: Version missing", ErrMetadata)
	}
	m.RequiresDist = h["requires-dist"]
	m.ProvidesExtra = h["provides-extra"]
	// First of each, should a wheel repeat them: a licence is reported,
	// not enforced, so a repeat is no reason to refuse the wheel.
	if v := h["license-expression"]; len(v) > 0 {
		m.LicenseExpression = v[0]
	}
	if v := h["license"]; len(v) > 0 {
		m.License = v[0]
	}
	for _, c := range h["classifier"] {
		if strings.HasPrefix(c, "License ::") {
			m.LicenseClassifiers = append(m.LicenseClassifiers, c)
		}
	}
	return m, nil
}

// CheckFilename reports whether a wheel's file name agrees with its
// WHEEL file: the same set of tags, and the same build tag when the WHEEL file
// has one.
func CheckFilename(w Filename, info Info) error {
	var fromName []string
	for _, t := range w.Tags {
		fromName = append(fromName, t.String())
	}
	a, b := setOf(fromName), setOf(info.Tags)
	if !equalSets(a, b) {
		return fmt.Errorf("%w: file name tags %s differ from WHEEL tags %s", ErrMetadata,
			strings.Join(slices.Sorted(maps.Keys(a)), ","), strings.Join(slices.Sorted(maps.Keys(b)), ","))
	}
	if info.Build != "" && info.Build != w.Build {
		return fmt.Errorf("%w: file name build tag %q differs from WHEEL Build %q", ErrMetadata, w.Build, info.Build)
	}
	return nil
}

func setOf(v []string) map[string]bool {
	m := make(map[string]bool, len(v))
	for _, s := range v {
		m[s] = true
	}
	return m
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
