// Package wheel owns the wheel format (PEP 427, the binary distribution
// format, and the PEPs it leans on): file names, build tags and PEP 825
// variant labels; compressed tag sets; the .dist-info's WHEEL, METADATA,
// RECORD and entry_points.txt files; which member names are safe to unpack;
// opening the archive and checking its zip structure; and the files an
// installed .dist-info gets from its installer (INSTALLER, REQUESTED,
// RECORD).
//
// It knows what a wheel says, not what forge decides about it: ABI
// fingerprints, rules and verdicts are abi's; content addressing, where a
// member lands in the store and which layouts a store entry may have are
// store's; placing files in an environment is linker's. It imports no
// other forge package, so each of them can import it.
package wheel
