package store

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrNetworkFS: the forge home is on a network file system, where SQLite's
// write-ahead log is unsafe (see checkHomeFS).
var ErrNetworkFS = errors.New("forge home on a network file system")

// AllowNetworkFSEnv, set to 1, lets forge use a home on a network file
// system with SQLite's rollback journal instead of its write-ahead log.
const AllowNetworkFSEnv = "FORGE_ALLOW_NETWORK_FS"

// networkFS names the statfs f_type magic numbers (linux/magic.h and the
// file systems' own sources) of network and cluster file systems, where
// several machines may open forge.db at once. FUSE (0x65735546) is not
// listed: sshfs and GlusterFS use it, but so do many local file systems.
var networkFS = map[int64]string{
	0x6969:     "NFS",
	0x517b:     "SMB",
	0xff534d42: "CIFS",
	0xfe534d42: "SMB2",
	0x0bd00bd0: "Lustre",
	0x00c36400: "CephFS",
	0x47504653: "GPFS",
	0x5346414f: "AFS",
	0x6b414653: "kAFS",
	0x01021997: "9P",
	0x564c:     "NCP",
	0x73757245: "Coda",
	0x19830326: "BeeGFS",
}

// Option configures Open.
type Option func(*openOptions)

type openOptions struct {
	fsType func(path string) (int64, error) // statfs f_type of path
	getenv func(string) string
}

// WithFSType replaces statfs as the source of the home's file-system type
// (tests stand in for NFS, which they cannot mount).
func WithFSType(f func(path string) (int64, error)) Option {
	return func(o *openOptions) { o.fsType = f }
}

// WithGetenv replaces os.Getenv as the source of FORGE_ALLOW_NETWORK_FS.
func WithGetenv(f func(string) string) Option { return func(o *openOptions) { o.getenv = f } }

// checkHomeFS returns the journal mode forge.db may use in home.
//
// SQLite's WAL mode keeps its index in a memory-mapped -shm file, which
// processes on different machines do not share: two hosts writing one
// forge.db over NFS or Lustre can corrupt it, and SQLite cannot tell. So a
// home on a network file system is refused (ErrNetworkFS) unless
// FORGE_ALLOW_NETWORK_FS=1, which opens the database with the rollback
// journal (journal_mode=DELETE, synchronous=FULL): slower, and as safe as
// the file system's POSIX locks, which SQLite then relies on. A type that
// cannot be read is taken as local: refusing every home on an error would
// be worse than not knowing.
func checkHomeFS(home string, o openOptions) (journal string, err error) {
	t, err := o.fsType(home)
	if err != nil {
		return "WAL", nil
	}
	name, network := networkFS[t]
	if !network {
		return "WAL", nil
	}
	if v := strings.TrimSpace(o.getenv(AllowNetworkFSEnv)); v == "1" || strings.EqualFold(v, "true") {
		return "DELETE", nil
	}
	return "", fmt.Errorf("%s is on %s (statfs type %#x): SQLite's write-ahead log is not safe there, and two machines using forge.db at once could corrupt it. "+
		"Put the forge home on a local disk (--home or FORGE_HOME), or set %s=1 to use this one with SQLite's rollback journal (slower; safe as long as the file system's locks work): %w",
		home, name, t, AllowNetworkFSEnv, ErrNetworkFS)
}

func defaultOpenOptions() openOptions {
	return openOptions{fsType: statfsType, getenv: os.Getenv}
}
