// Package errkind holds forge's few error kinds, the sentinels that every
// package wraps and that the CLI maps to exit codes with errors.Is. It is a
// leaf: it imports no forge package, so abi and resolver, which import no
// other forge package, may use it.
//
// store re-exports these as store.ErrNotFound, store.ErrCorrupt, …; a
// package with its own, more specific text for a kind (abi's "corrupt
// wheel") declares it with Named, so that errors.Is(err, store.ErrCorrupt)
// holds for it with no mapping between packages.
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

// Named returns a sentinel whose text is text and whose kind is kind:
// errors.Is(Named(text, kind), kind) holds, and the text reads as the
// declaring package chose. Two calls return distinct values.
func Named(text string, kind error) error { return &named{text, kind} }

type named struct {
	text string
	kind error
}

func (n *named) Error() string { return n.text }

// Is makes the sentinel match its kind as well as itself.
func (n *named) Is(target error) bool { return target == n.kind }
