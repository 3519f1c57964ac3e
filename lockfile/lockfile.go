// Package lockfile reads and writes PEP 751 lock files (pylock.toml,
// packaging.python.org "pylock.toml specification", lock-version 1.x).
//
// forge writes the packages an environment imports, one wheel each, with
// its own facts under [packages.tool.forge]. It reads files written by
// forge, pip (pip lock) and uv: only what choosing a wheel for one
// interpreter needs is interpreted; [tool] tables of other tools are
// ignored, as the specification asks.
//
// The package does no I/O beyond what its callers hand it: Parse takes
// bytes and the file's name (for messages), Select an interpreter's marker
// environment and supported tags.
package lockfile

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/wheel"
)

// Version is the lock-version forge writes. Readers accept any 1.x.
const Version = "1.0"

// Error kinds. Every error Parse and Select return is an *Error wrapping
// one of them.
var (
	// ErrInvalid: not TOML, truncated, or TOML that breaks the
	// specification (a required key missing, a duplicate package).
	ErrInvalid = errors.New("invalid lock file")
	// ErrUnsupported: a lock-version whose major version is not 1.
	ErrUnsupported = errors.New("unsupported lock-version")
	// ErrNoWheel: a package the environment needs has no wheel this
	// interpreter and platform can install (or none at all: sdist, VCS,
	// directory and archive sources are not installed by forge).
	ErrNoWheel = errors.New("no wheel for this interpreter")
)

// Error names the file (and package, when one is at fault) and the problem.
type Error struct {
	File    string // the lock file, as the caller named it
	Package string // "name version", or "" for the file as a whole
	Problem string
	Kind    error // ErrInvalid, ErrUnsupported or ErrNoWheel
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Package != "" {
		b.WriteString(": package " + e.Package)
	}
	b.WriteString(": " + e.Problem)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Kind }

// Lock is a pylock.toml file. Field order is the order keys are written,
// the specification's own (tools should write keys in a consistent order).
type Lock struct {
	LockVersion      string    `toml:"lock-version"`
	Environments     []string  `toml:"environments,omitempty,multiline"`
	RequiresPython   string    `toml:"requires-python,omitempty"`
	Extras           []string  `toml:"extras,omitempty"`
	DependencyGroups []string  `toml:"dependency-groups,omitempty"`
	DefaultGroups    []string  `toml:"default-groups,omitempty"`
	CreatedBy        string    `toml:"created-by"`
	Packages         []Package `toml:"packages"`
}

// Package is one [[packages]] entry. The source kinds forge does not
// install (vcs, directory, archive, sdist) are kept only to say so.
type Package struct {
	Name           string         `toml:"name"`
	Version        string         `toml:"version,omitempty"`
	Marker         string         `toml:"marker,omitempty"`
	RequiresPython string         `toml:"requires-python,omitempty"`
	Index          string         `toml:"index,omitempty"`
	VCS            map[string]any `toml:"vcs,omitempty"`
	Directory      map[string]any `toml:"directory,omitempty"`
	Archive        map[string]any `toml:"archive,omitempty"`
	Sdist          map[string]any `toml:"sdist,omitempty"`
	Wheels         []Wheel        `toml:"wheels,omitempty"`
	Tool           *PackageTool   `toml:"tool,omitempty"`
}

// Wheel is one [[packages.wheels]] entry.
type Wheel struct {
	Name       string            `toml:"name,omitempty"`
	UploadTime any               `toml:"upload-time,omitempty"` // a TOML datetime; read, never interpreted
	URL        string            `toml:"url,omitempty"`
	Path       string            `toml:"path,omitempty"`
	Size       int64             `toml:"size,omitempty"`
	Hashes     map[string]string `toml:"hashes,inline"`
}

// PackageTool is [packages.tool]: forge reads its own table only.
type PackageTool struct {
	Forge *ForgeFacts `toml:"forge,omitempty"`
}

// ForgeFacts are what forge knew of a locked wheel when it wrote the file.
type ForgeFacts struct {
	Layer      string   `toml:"layer"` // LOCAL, a parent environment's name, GLOBAL
	GlibcFloor string   `toml:"glibc_floor,omitempty"`
	CUDAMajor  int      `toml:"cuda_major,omitempty"`
	GPUCode    []string `toml:"gpu_code,omitempty"`
	// Verdicts: host profile name → accept, warn or refuse.
	Verdicts map[string]abi.Outcome `toml:"verdicts,omitempty,inline"`
}

// FileName is the wheel's file name: name, else the last element of path,
// else of url (the specification derives it so).
func (w Wheel) FileName() string {
	switch {
	case w.Name != "":
		return w.Name
	case w.Path != "":
		return path.Base(strings.ReplaceAll(w.Path, `\`, "/"))
	case w.URL != "":
		u := w.URL
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			u = u[:i]
		}
		return path.Base(u)
	}
	return ""
}

// SHA256 is the wheel's sha256 hash in lower case, "" when it has none.
func (w Wheel) SHA256() string { return strings.ToLower(w.Hashes["sha256"]) }

// Marshal writes l as TOML: keys in the specification's order, packages as
// given (callers sort them), each wheel's hashes as an inline table.
func Marshal(l *Lock) ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(false)
	if err := enc.Encode(l); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Parse reads a lock file's bytes; file names it in errors. It checks what
// the specification requires of every reader: a lock-version of major 1,
// created-by, a name for every package, hashes for every wheel and a way to
// know each wheel's file name; and that no package appears twice with the
// same version and marker.
func Parse(file string, data []byte) (*Lock, error) {
	var l Lock
	if err := toml.Unmarshal(data, &l); err != nil {
		return nil, &Error{File: file, Problem: tomlProblem(err), Kind: ErrInvalid}
	}
	if err := l.validate(file); err != nil {
		return nil, err
	}
	return &l, nil
}

// tomlProblem says where TOML decoding stopped; a truncated file usually
// stops at its end.
func tomlProblem(err error) string {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		return fmt.Sprintf("not valid TOML (truncated, or not a lock file?): line %d, column %d: %s", row, col, de.Error())
	}
	return fmt.Sprintf("not a pylock.toml file: %v", err)
}

func (l *Lock) validate(file string) error {
	bad := func(pkg, format string, args ...any) error {
		return &Error{File: file, Package: pkg, Problem: fmt.Sprintf(format, args...), Kind: ErrInvalid}
	}
	if l.LockVersion == "" {
		return bad("", "lock-version is missing (is this a pylock.toml file, or was it cut short?)")
	}
	major, _, _ := strings.Cut(l.LockVersion, ".")
	if n, err := strconv.Atoi(major); err != nil || n != 1 {
		return &Error{File: file, Problem: fmt.Sprintf("lock-version %q is not supported: forge reads lock-version 1.x", l.LockVersion), Kind: ErrUnsupported}
	}
	if l.CreatedBy == "" {
		return bad("", "created-by is missing (the specification requires it)")
	}
	for _, e := range l.Environments {
		if _, err := resolver.ParseMarker(e); err != nil {
			return bad("", "environments: %v", err)
		}
	}
	seen := map[string]int{}
	for i := range l.Packages {
		p := &l.Packages[i]
		id := p.ID()
		if p.Name == "" {
			return bad(fmt.Sprintf("#%d", i+1), "name is missing")
		}
		if !wheel.ValidProjectName(p.Name) {
			return bad(id, "name %q is not a project name", p.Name)
		}
		if p.Marker != "" {
			if _, err := resolver.ParseMarker(p.Marker); err != nil {
				return bad(id, "marker: %v", err)
			}
		}
		key := wheel.NormalizeName(p.Name) + "\x00" + p.Version + "\x00" + p.Marker
		if j, dup := seen[key]; dup {
			return bad(id, "listed twice (packages #%d and #%d) with the same version and marker", j+1, i+1)
		}
		seen[key] = i
		for k, w := range p.Wheels {
			if len(w.Hashes) == 0 {
				return bad(id, "wheel #%d has no hashes (the specification requires them)", k+1)
			}
			if sha, ok := w.Hashes["sha256"]; ok && !isHex(sha, 64) {
				return bad(id, "wheel #%d: sha256 %q is not 64 hex digits", k+1, sha)
			}
			name := w.FileName()
			if name == "" {
				return bad(id, "wheel #%d has no name, path or url", k+1)
			}
			if _, err := wheel.ParseFilename(name); err != nil {
				return bad(id, "wheel #%d: %v", k+1, err)
			}
		}
	}
	return nil
}

// ID is "name version" (or the name alone) for messages.
func (p *Package) ID() string {
	if p.Version == "" {
		return p.Name
	}
	return p.Name + " " + p.Version
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
