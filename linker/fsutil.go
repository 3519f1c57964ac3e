package linker

import (
	"os"

	"github.com/forge-ml/forge/internal/atomicfile"
)

// writeFileAtomic replaces path with data: temp file, then rename, so a
// process killed at any point leaves the old file or the new one. It does not
// fsync (atomicfile.BestEffort): environment files are metadata forge can
// rebuild (doctor --fix relinks), and a flush per RECORD made every warm
// install pay one disk round-trip per package. The store, which cannot be
// rebuilt, is flushed.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return atomicfile.Write(path, data, mode, atomicfile.BestEffort)
}
