package wheel

import (
	"errors"

	"github.com/forge-ml/forge/internal/errkind"
)

// Error kinds. abi and store use these same values as their wheel error
// kinds (abi.ErrWheelCorrupt, store.ErrCorrupt, ...), so errors.Is answers
// the same whichever package's name a caller tests against. ErrCorrupt and
// ErrInvalid are forge's kinds (internal/errkind).
var (
	// ErrCorrupt is an integrity failure: an archive, or a member, whose
	// content does not match what it claims (structure, CRC-32, size, hash).
	ErrCorrupt = errkind.Corrupt
	// ErrInvalid is a file that is not a usable wheel: not a zip archive, a
	// name that is not a wheel's, a member name or layout that breaks the
	// format or forge's safety rules, missing or malformed metadata.
	ErrInvalid = errkind.InvalidWheel
	// ErrMetadata marks a malformed or inconsistent WHEEL or METADATA file.
	ErrMetadata = errors.New("invalid wheel metadata")
)
