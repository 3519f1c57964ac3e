package store

import (
	"github.com/forge-ml/forge/internal/errkind"
	"github.com/forge-ml/forge/wheel"
)

// Error kinds. Errors returned by this package wrap one of these with the
// identity of what failed: "wheel foo-1.0-py3-none-any.whl: member ../x: %w".
// They are forge's kinds (errkind), the wheel package's (which are
// errkind's too) for what a wheel can be.
var (
	ErrNotFound = errkind.NotFound
	ErrExists   = errkind.Exists
	// ErrCorrupt is an integrity failure: a wheel or a store file whose content
	// does not match what it claims (hash, size, CRC, structure). It is
	// wheel.ErrCorrupt, so that the wheel package's errors carry it.
	ErrCorrupt = wheel.ErrCorrupt
	ErrLocked  = errkind.Locked
)

// ErrInvalid is a wheel that is well-formed as a file but breaks the wheel
// format or forge's safety rules (path traversal, symlink members, duplicate
// names, missing metadata, overlapping or prepended archive data, content
// that would land outside its own package: see checkLayout). It is
// wheel.ErrInvalid, so that the wheel package's errors carry it.
var ErrInvalid = wheel.ErrInvalid
