package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Scratch trees are never deleted while the benchmark measures. On ext4
// without a journal (the machines this project runs on), the inode allocator
// skips inodes freed in the last one to six minutes, checking each one it
// passes: right after a tree of 5,000 files is deleted, creating a file in
// the same block group costs about 500 µs instead of 40 µs. Deleting the
// previous step's tree would make every step pay for the one before, forge
// (whose cold and warm installs are mostly file creation) more than pip
// (mostly interpreter time). discard moves a tree into work/trash instead,
// and removeScratch deletes everything once the figures are taken.
func (b *bench) discard(path string) {
	if _, err := os.Lstat(path); err != nil {
		return
	}
	b.trashed++
	dst := filepath.Join(b.work, "trash", fmt.Sprint(b.trashed))
	if err := os.Rename(path, dst); err != nil {
		rmTree(path)
	}
}

// removeScratch deletes the scratch tree and any left by earlier runs.
func (b *bench) removeScratch() {
	rmTree(b.work)
	old, _ := filepath.Glob(filepath.Join(b.o.cache, "work-old-*"))
	for _, o := range old {
		rmTree(o)
	}
}

// fsTopDirFl is FS_TOPDIR_FL of <linux/fs.h> (chattr +T), which x/sys/unix does
// not define.
const fsTopDirFl = 0x00020000

// setTopDir marks dir as the top of a directory hierarchy (chattr +T), so
// that ext4's Orlov allocator places each scratch tree below it (a forge
// home, a pip venv) in a block group of its own rather than beside the
// parent, away from groups full of recently freed inodes. Both tools get
// the same treatment; it reports whether the flag took.
func setTopDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return false
	}
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsTopDirFl)); err != nil {
		return false
	}
	flags, err = unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	return err == nil && flags&fsTopDirFl != 0
}
