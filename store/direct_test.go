package store

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestDirectWriter: whatever the sizes of the writes, the file holds what
// was written, and after finish it reads back at any offset; on a file
// system without O_DIRECT (tmpfs) the writer stays buffered.
func TestDirectWriter(t *testing.T) {
	dirs := map[string]string{"disk": t.TempDir()}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		shm, err := os.MkdirTemp("/dev/shm", "forge-direct-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(shm) })
			dirs["tmpfs"] = shm
		}
	}
	sizes := []int{0, 100, directAlign, 256 << 10, 256<<10 + 1, 3*(256<<10) + 777, 5 << 20}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, dir := range dirs {
		for _, size := range sizes {
			t.Run(name+"/"+strconv.Itoa(size), func(t *testing.T) {
				data := make([]byte, size)
				for i := range data {
					data[i] = byte(rng.Uint32())
				}
				p := filepath.Join(dir, "f"+strconv.Itoa(size))
				f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o444)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				w := newDirectWriter(f)
				n, err := copyFull(w, bytes.NewReader(data), alignedBuf(256<<10))
				if err != nil || n != int64(size) {
					t.Fatalf("copy: %d bytes, %v", n, err)
				}
				if err := w.finish(); err != nil {
					t.Fatal(err)
				}
				if size > 7 {
					got := make([]byte, 5)
					if _, err := f.ReadAt(got, 3); err != nil && err != io.EOF {
						t.Fatalf("ReadAt at an unaligned offset after finish: %v", err)
					}
					if !bytes.Equal(got, data[3:8]) {
						t.Error("ReadAt returned other bytes")
					}
				}
				got, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Errorf("file differs from what was written (%d vs %d bytes)", len(got), len(data))
				}
			})
		}
	}
}

func TestAlignedBuf(t *testing.T) {
	for _, n := range []int{1, 4096, 256 << 10} {
		b := alignedBuf(n)
		if len(b) != n || cap(b) != n {
			t.Errorf("alignedBuf(%d): len %d cap %d", n, len(b), cap(b))
		}
		if addr := uintptr(unsafePointer(b)); addr%directAlign != 0 {
			t.Errorf("alignedBuf(%d) starts at %#x", n, addr)
		}
	}
}

// TestCopyPipelined: the file and the running sums see every byte in
// order, and a failing write stops the copy with its error.
func TestCopyPipelined(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{0, 1, 1 << 20, 3<<20 + 5, 7<<20 + 4096} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			p := filepath.Join(t.TempDir(), "f")
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w := newDirectWriter(f)
			var sum bytes.Buffer
			// iotest-like short reads: the reader hands out odd-sized pieces.
			n, err := copyPipelined(w, &sum, &chunkReader{data: data, step: 12345})
			if err != nil || n != int64(size) {
				t.Fatalf("copy: %d bytes, %v", n, err)
			}
			if err := w.finish(); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			if !bytes.Equal(got, data) || !bytes.Equal(sum.Bytes(), data) {
				t.Errorf("file %d bytes, sums %d bytes, want %d, same content", len(got), sum.Len(), size)
			}
		})
	}
	t.Run("write error", func(t *testing.T) {
		boom := errors.New("device gone")
		n, err := copyPipelined(failWriter{boom}, io.Discard, bytes.NewReader(make([]byte, 50<<20)))
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
		if n >= 50<<20 {
			t.Errorf("read all %d bytes after the first write failed", n)
		}
	})
}

type chunkReader struct {
	data []byte
	step int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.step, len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
