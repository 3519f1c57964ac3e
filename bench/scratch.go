package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

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

// settleLimit is the cost of creating a file above which the file system
// is still busy skipping recently freed inodes (about 40 µs when quiet on
// these VMs, 500 µs and more right after mass deletions).
const settleLimit = 150 * time.Microsecond

// settle waits, up to maxWait, until creating a file in a new scratch
// directory costs less than settleLimit, and returns the last cost
// measured. Other activity on the machine (a test suite, an earlier run
// removing its scratch) leaves the allocator slow for minutes; measuring
// then would time the machine's history rather than the tools.
func (b *bench) settle(maxWait time.Duration) time.Duration {
	deadline := time.Now().Add(maxWait)
	for i := 0; ; i++ {
		dir := filepath.Join(b.work, fmt.Sprintf("settle-%d", i))
		cost := createCost(dir, 500)
		b.discard(dir)
		if cost < settleLimit || time.Now().After(deadline) {
			return cost
		}
		logf("file system busy (%v per file created): waiting", cost.Round(time.Microsecond))
		time.Sleep(20 * time.Second)
	}
}

// createCost is the mean time to create an empty file in a new directory.
func createCost(dir string, n int) time.Duration {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%d", i)))
		if err != nil {
			return 0
		}
		f.Close()
	}
	return time.Since(t0) / time.Duration(n)
}
