package linker

import (
	"os"
	"path/filepath"
)

// writeFileAtomic replaces path with data: temp file, then rename, so a
// process killed at any point leaves the old file or the new one. It does not
// fsync: environment files are metadata forge can rebuild (doctor --fix
// relinks), and a flush per RECORD made every warm install pay one disk
// round-trip per package. The store, which cannot be rebuilt, is flushed.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".forge-tmp-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return err
	}
	return os.Rename(name, path)
}
