package abi

import (
	"io"
	"sync"
)

// Fingerprint is what a wheel needs from a host, as data. It is computed once,
// at ingest, and stored with the store entry as JSON.
//
// CONTRACT (shared with store/ and resolver/): fields may be added; existing
// JSON names must not change.
type Fingerprint struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Build   string `json:"build,omitempty"`
	// Tags are the expanded tags of the file name; WheelTags those of the WHEEL file.
	Tags      []string `json:"tags"`
	WheelTags []string `json:"wheel_tags,omitempty"`
	Files     int      `json:"files"`
	ELFs      []ELF    `json:"elfs,omitempty"`
	// Problems are findings about malformed content found while reading (never a panic).
	Problems []Finding `json:"problems,omitempty"`
}

// ELF is what one ELF member of a wheel needs.
type ELF struct {
	Path string `json:"path"`
}

// Severity of a finding.
type Severity string

const (
	Incompatible Severity = "incompatible"
	Risk         Severity = "risk"
	Info         Severity = "info"
)

// Finding is one result of an ABI check: a stable Code, a Severity and a
// message naming what is required and what the host has.
type Finding struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	File     string   `json:"file,omitempty"`
}

// FingerprintBuilder accumulates a fingerprint while ingest reads a wheel.
// AddELF may be called concurrently from several goroutines.
type FingerprintBuilder struct {
	mu sync.Mutex
	fp Fingerprint
}

// NewFingerprintBuilder starts a fingerprint for the wheel whose file name is given.
func NewFingerprintBuilder(w WheelFilename) *FingerprintBuilder {
	b := &FingerprintBuilder{}
	b.fp.Name, b.fp.Version, b.fp.Build = w.Name, w.Version, w.Build
	for _, t := range w.Tags {
		b.fp.Tags = append(b.fp.Tags, t.String())
	}
	return b
}

// IsELF reports whether the first bytes of a member are an ELF header.
func IsELF(head []byte) bool {
	return len(head) >= 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F'
}

// AddELF reads one ELF member (path inside the wheel) from r. Malformed data
// becomes a Problem finding, never a panic or an error.
func (b *FingerprintBuilder) AddELF(path string, r io.ReaderAt, size int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fp.ELFs = append(b.fp.ELFs, ELF{Path: path})
}

// SetWheelFile records the parsed WHEEL file's Tag lines.
func (b *FingerprintBuilder) SetWheelFile(tags []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fp.WheelTags = append([]string(nil), tags...)
}

// SetMetadata records the METADATA file's content (Requires-Dist etc.).
func (b *FingerprintBuilder) SetMetadata(metadata []byte) {}

// Finish returns the fingerprint; files is the number of members.
func (b *FingerprintBuilder) Finish(files int) Fingerprint {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fp.Files = files
	return b.fp
}
