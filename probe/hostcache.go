package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/forge-ml/forge/abi"
)

// hostLibs is the slow half of a host probe: the C library and libstdc++
// versions (read from their ELF files) and the sonames in the library
// directories (a listing of /usr/lib/<arch>-linux-gnu and the others). It
// took a third of a warm install of one wheel, so with WithCacheDir it is
// kept on disk under a name derived from the identity of everything it read.
type hostLibs struct {
	Libc      *abi.Libc         `json:"libc"`
	Libraries []string          `json:"libraries"`
	Reasons   map[string]string `json:"reasons,omitempty"`
}

// probeLibs returns the C library and the library list, from the cache
// when cacheDir is set and nothing they depend on changed.
func probeLibs(cfg config, arch string, reasons map[string]string) (*abi.Libc, []string) {
	fresh := func() hostLibs {
		r := map[string]string{}
		hl := hostLibs{Libc: probeLibc(context.Background(), cfg.root, arch, r), Libraries: probeLibraries(cfg.root, arch)}
		if len(r) > 0 {
			hl.Reasons = r
		}
		return hl
	}
	var hl hostLibs
	if cfg.cacheDir == "" || (cfg.root != "" && cfg.root != "/") {
		hl = fresh()
	} else {
		file := filepath.Join(cfg.cacheDir, "host-libs-"+libsKey(arch, libDirs(arch))+".json")
		b, err := os.ReadFile(file)
		if err != nil || json.Unmarshal(b, &hl) != nil || (hl.Libc == nil && hl.Reasons["libc"] == "") {
			hl = fresh()
			writeFileAtomic(file, mustJSON(hl)) // a cache: failing to write it is not an error
		}
	}
	for k, v := range hl.Reasons {
		reasons[k] = v
	}
	return hl.Libc, hl.Libraries
}

// libsKey digests the identity of what probeLibc and probeLibraries read:
// every library directory (its modification time changes when a name in
// it is added, removed or re-pointed) and every candidate C library,
// libstdc++ and musl loader in them (device, inode, size, modification and
// change times of the file a name leads to).
func libsKey(arch string, dirs []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "host-libs v1 %s\n", arch)
	id := func(p string) {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			fmt.Fprintf(h, "%s -\n", p)
			return
		}
		fmt.Fprintf(h, "%s %d %d %d %d.%d %d.%d\n", p, st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
	}
	for _, d := range dirs {
		id(d)
		for _, name := range []string{"libc.so.6", "libstdc++.so.6", "ld-musl-" + arch + ".so.1"} {
			id(filepath.Join(d, name))
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
