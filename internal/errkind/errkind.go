// Package errkind holds forge's few error kinds, the sentinels that every
// package wraps and that the CLI maps to exit codes with errors.Is. It is a
// leaf: it imports no forge package, so abi and resolver, which import no
// other forge package, may use it.
//
// store and wheel re-export these (store.ErrNotFound, wheel.ErrCorrupt,
// store.ErrCorrupt, abi.ErrWheelCorrupt are one value), so that errors.Is
// holds with no mapping between packages, and workspace.ErrUsage is Usage.
package errkind

import "errors"

var (
	// NotFound: what was named does not exist.
	NotFound = errors.New("not found")
	// Exists: the name is taken.
	Exists = errors.New("already exists")
	// Corrupt is an integrity failure: a wheel or a store file whose content
	// does not match what it claims (hash, size, CRC, structure). Exit 4.
	Corrupt = errors.New("integrity failure")
	// Locked: another process holds a lock this one needs.
	Locked = errors.New("locked by another process")
	// Usage is an invalid argument: a mistake in what the user asked for
	// (a flag, a setting value, a target), not in the world. Exit 2.
	Usage = errors.New("usage")
	// InvalidWheel is a file that is not a usable wheel: well-formed as a
	// file, but breaking the wheel format or forge's safety rules.
	InvalidWheel = errors.New("invalid wheel")
)

// With gives err the kind of kind (errors.Is(err, kind) holds) without
// adding the kind's text: "…: remove them first: already exists" reads as
// noise to a user, while exit codes still come from the kind.
func With(err, kind error) error { return kinded{err, kind} }

type kinded struct{ err, kind error }

func (k kinded) Error() string   { return k.err.Error() }
func (k kinded) Unwrap() []error { return []error{k.err, k.kind} }
