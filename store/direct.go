package store

import (
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Large members are written with O_DIRECT: the data goes from the inflate
// buffer to the device without a copy into the page cache. On the machines
// this project runs on, buffered writes cost 2.4 s of system time per GB
// (the copy into freshly allocated page cache) and direct writes 0.15 s;
// the later syncfs then has little data left to flush. Small members stay
// buffered: a direct write waits for the device.
const directMin = 4 << 20

// directAlign is the alignment O_DIRECT needs for buffers, offsets and
// lengths (the logical block size is at most this on common devices).
const directAlign = 4096

// alignedBuf returns a slice of n bytes whose start is directAlign-aligned.
func alignedBuf(n int) []byte {
	b := make([]byte, n+directAlign)
	off := int(uintptr(unsafePointer(b)) & (directAlign - 1))
	if off != 0 {
		off = directAlign - off
	}
	return b[off : off+n : off+n]
}

// directWriter writes through O_DIRECT while it can: whole aligned blocks
// from an aligned buffer. The first write that is not (the tail of the
// member) turns O_DIRECT off, and so does finish. A file system without
// O_DIRECT (tmpfs) leaves the file buffered from the start.
type directWriter struct {
	f      *os.File
	direct bool
}

func newDirectWriter(f *os.File) *directWriter {
	return &directWriter{f: f, direct: setDirect(f, true) == nil}
}

func (w *directWriter) Write(p []byte) (int, error) {
	if w.direct && (len(p)%directAlign != 0 || uintptr(unsafePointer(p))%directAlign != 0) {
		if err := w.finish(); err != nil {
			return 0, err
		}
	}
	n, err := w.f.Write(p)
	if err != nil && w.direct {
		// Some file systems refuse particular direct writes (EINVAL):
		// fall back to buffered I/O for the rest of the file.
		if ferr := w.finish(); ferr == nil {
			if _, serr := w.f.Seek(int64(-n), io.SeekCurrent); serr == nil {
				return w.f.Write(p)
			}
		}
	}
	return n, err
}

// finish turns O_DIRECT off, so that the file can be read back at any
// offset (fingerprinting reads ELF headers).
func (w *directWriter) finish() error {
	if !w.direct {
		return nil
	}
	w.direct = false
	return setDirect(w.f, false)
}

func setDirect(f *os.File, on bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err != nil {
			serr = err
			return
		}
		if on {
			flags |= unix.O_DIRECT
		} else {
			flags &^= unix.O_DIRECT
		}
		_, serr = unix.FcntlInt(fd, unix.F_SETFL, flags)
	})
	if err != nil {
		return err
	}
	return serr
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
