// Package atomicfile is forge's one way to replace a file outside the
// store: write a temporary file in the same directory, then rename it over
// the final name, so that a reader (or a process killed at any point) sees
// the old content or the new, never a part. How hard it tries to survive a
// crash of the machine is the caller's explicit choice (Durability).
//
// The store's own writes (store/ingest.go) stage, hash and verify as well,
// and do not use this package.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// TempPrefix starts the name of every temporary file Write creates, next
// to the final file. Inside an environment it is a forge work name
// (abi.IsForgeWorkName): ingest refuses wheels that ship one, and doctor
// removes strays a killed process left.
const TempPrefix = ".forge-tmp-"

// Durability says what Write guarantees after a crash of the machine (not
// just of the process, which both survive).
type Durability int

const (
	// BestEffort renames without fsync: after a power loss the file may
	// hold the old content, the new, or (on some file systems) nothing.
	// For files forge can rebuild, where a flush per write costs more than
	// the rebuild.
	BestEffort Durability = iota
	// Durable fsyncs the temporary file before the rename and the directory
	// after it: once Write returns, the new content survives a power loss.
	// For files a user asked for and files forge cannot rebuild.
	Durable
)

// Write replaces path with data, with permissions perm (not subject to
// the umask). The directory must exist. On error the temporary file is
// removed and path is unchanged. With Durable, a directory fsync that the
// file system refuses is ignored: the rename has happened, and some file
// systems cannot sync directories.
func Write(path string, data []byte, perm fs.FileMode, d Durability) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPrefix+"*")
	if err != nil {
		return err
	}
	name := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil && d == Durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
		return err
	}
	if d == Durable {
		syncDir(dir)
	}
	return nil
}

// syncDir makes a rename in dir durable, as far as the file system allows.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}
