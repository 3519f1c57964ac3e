package store

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/klauspost/compress/flate"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/wheel"
)

// copyBufs are the 256 KiB buffers members are copied through (copyFull)
// and wheel files hashed with (hashAt).
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// extract writes every member into staging in parallel, largest first, and
// returns the unpacked size.
func (s *Store) extract(ctx context.Context, p *memberPlan, staging string, fb *abi.FingerprintBuilder) (int64, error) {
	for _, d := range p.dirs {
		if err := os.Mkdir(filepath.Join(staging, filepath.FromSlash(d)), 0o755); err != nil {
			return 0, err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	workers := s.Workers
	if workers < 1 {
		workers = 1
	}
	g.SetLimit(workers)
	var mu sync.Mutex
	var total int64
	for _, f := range p.files {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			n, err := s.extractMember(f, p, staging, fb)
			mu.Lock()
			total += n
			mu.Unlock()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return total, ctx.Err()
}

// copyFull is io.CopyBuffer that fills buf before each write: inflate
// returns at most a window's worth (≤ 32 KiB) per Read, and writing that
// to the file directly cost a write(2) per 27 KiB (37,586 writes for the
// 1 GB corpus wheel, 8 s of system time here); 256 KiB writes make it 4,000.
func copyFull(dst io.Writer, src io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var m int
			m, err = src.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

type headCapture struct {
	buf [4]byte
	n   int
}

func (h *headCapture) Write(p []byte) (int, error) {
	if h.n < len(h.buf) {
		h.n += copy(h.buf[h.n:], p)
	}
	return len(p), nil
}

func (s *Store) extractMember(f *zip.File, p *memberPlan, staging string, fb *abi.FingerprintBuilder) (int64, error) {
	rec, listed := p.record[f.Name]
	mode := os.FileMode(0o444)
	if f.Mode()&0o111 != 0 {
		mode = 0o555
	}
	dst := filepath.Join(staging, filepath.FromSlash(f.Name))
	out, err := createMember(dst, mode)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	// Raw, so that the CRC-32 is computed once, with the hashes, not also
	// by archive/zip's reader; the data descriptor is checked below.
	raw, err := f.OpenRaw()
	if err != nil {
		return 0, fmt.Errorf("member %s: %v: %w", f.Name, err, ErrCorrupt)
	}
	rc := raw
	if f.Method == zip.Deflate {
		inf := inflater(raw)
		defer inf.Close()
		rc = inf
	}
	var head headCapture
	crc := crc32.NewIEEE()
	sums := []io.Writer{&head, crc}
	h := wheel.NewHash(rec.Algo)
	if h != nil {
		sums = append(sums, h)
	}
	src := io.LimitReader(rc, int64(f.UncompressedSize64)+1)
	var n int64
	var dw *directWriter
	if f.UncompressedSize64 >= directMin {
		dw = newDirectWriter(out)
		n, err = copyPipelined(dw, io.MultiWriter(sums...), src)
	} else {
		bufp := copyBufs.Get().(*[]byte)
		n, err = copyFull(io.MultiWriter(append(sums, out)...), src, *bufp)
		copyBufs.Put(bufp)
	}
	if dw != nil {
		if ferr := dw.finish(); err == nil && ferr != nil {
			err = &fs.PathError{Op: "fcntl", Path: dst, Err: ferr}
		}
	}
	if err != nil {
		if errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n, fmt.Errorf("member %s: %v (checksum or size check failed): %w", f.Name, err, ErrCorrupt)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return n, fmt.Errorf("member %s: writing: %w", f.Name, err)
		}
		return n, fmt.Errorf("member %s: %v: %w", f.Name, err, ErrCorrupt)
	}
	if uint64(n) != f.UncompressedSize64 {
		return n, fmt.Errorf("member %s: inflated to %d bytes, header says %d: %w", f.Name, n, f.UncompressedSize64, ErrCorrupt)
	}
	if crc.Sum32() != f.CRC32 {
		return n, fmt.Errorf("member %s: checksum error: CRC-32 %08x, header says %08x: %w", f.Name, crc.Sum32(), f.CRC32, ErrCorrupt)
	}
	if err := wheel.CheckDescriptor(p.src, f); err != nil {
		return n, fmt.Errorf("member %s: %v: %w", f.Name, err, ErrCorrupt)
	}
	if listed {
		if rec.Size >= 0 && rec.Size != n {
			return n, fmt.Errorf("member %s: size mismatch: %d bytes, RECORD says %d: %w", f.Name, n, rec.Size, ErrCorrupt)
		}
		if h != nil {
			if sum := h.Sum(nil); !bytes.Equal(sum, rec.Digest) {
				return n, fmt.Errorf("member %s: hash mismatch: RECORD %s, content %s: %w", f.Name, wheel.RecordDigest(rec.Algo, rec.Digest), wheel.RecordDigest(rec.Algo, sum), ErrCorrupt)
			}
		}
	}
	if abi.IsELF(head.buf[:head.n]) && !s.skipFingerprint {
		fb.AddELF(f.Name, out, n)
	}
	return n, out.Close()
}

// createMember creates a member's file with its final read-only mode: the
// permission applies to later opens, not to this descriptor, and it saves a
// chmod per member. os.OpenFile would add five system calls to the one
// that creates the file (it offers every descriptor to the network poller,
// which refuses regular files): through os.NewFile, a descriptor that is
// not non-blocking costs one.
func createMember(path string, mode os.FileMode) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC, uint32(mode.Perm()))
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC, uint32(mode.Perm()))
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// sealDirs makes every directory below root read-only, deepest first.
func sealDirs(root string, dirs []string) error {
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(filepath.Join(root, filepath.FromSlash(dirs[i])), 0o555); err != nil {
			return err
		}
	}
	return nil
}

// openZip opens an archive (wheel.Open) after checking what archive/zip
// lets pass (wheel.CheckStructure), with the faster inflater.
func openZip(f io.ReaderAt, size int64) (*zip.Reader, error) {
	zr, err := wheel.Open(f, size)
	if err != nil {
		return nil, err
	}
	if err := wheel.CheckStructure(f, size, zr.File); err != nil {
		return nil, err
	}
	zr.RegisterDecompressor(zip.Deflate, inflater)
	return zr, nil
}

// inflater replaces compress/flate, whose inflate is the largest cost of a
// cold ingest, with klauspost/compress's (same format, same errors for
// corrupt input, about half the CPU). archive/zip still checks sizes and
// CRC-32 around it. The read buffer is larger than flate's default 4 KiB so
// that a 1 GB member is not read with 250,000 pread calls; readers are
// pooled because a wheel of 10,000 small members would otherwise allocate
// 10,000 decompressors.
func inflater(r io.Reader) io.ReadCloser {
	p := inflaters.Get().(*pooledInflater)
	p.br.Reset(r)
	if p.fr == nil {
		p.fr = flate.NewReader(p.br)
	} else {
		p.fr.(flate.Resetter).Reset(p.br, nil)
	}
	return p
}

type pooledInflater struct {
	br *bufio.Reader
	fr io.ReadCloser
}

var inflaters = sync.Pool{New: func() any { return &pooledInflater{br: bufio.NewReaderSize(nil, 64<<10)} }}

func (p *pooledInflater) Read(b []byte) (int, error) { return p.fr.Read(b) }

// Close returns the reader to the pool; archive/zip calls it once.
func (p *pooledInflater) Close() error {
	err := p.fr.Close()
	p.br.Reset(nil)
	inflaters.Put(p)
	return err
}
