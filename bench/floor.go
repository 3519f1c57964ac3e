package main

import (
	"archive/zip"
	"crypto/sha256"
	"io"
	"os"
	"sort"
	"sync"

	"github.com/klauspost/compress/flate"
	"golang.org/x/sync/errgroup"
)

// floor inflates and SHA-256-hashes every member of the wheels in parallel
// (largest first, one worker per CPU), writing nothing: the least work any
// verifying installer must do. It uses the fastest inflate available to Go
// (klauspost/compress), so forge cannot beat it by switching libraries.
func floor(wheels []string, workers int) (int64, error) {
	var files []*zip.File
	for _, w := range wheels {
		f, err := os.Open(w)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		zr, err := zip.NewReader(f, st.Size())
		if err != nil {
			return 0, err
		}
		zr.RegisterDecompressor(zip.Deflate, newInflater)
		files = append(files, zr.File...)
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].UncompressedSize64 > files[j].UncompressedSize64 })
	var g errgroup.Group
	g.SetLimit(workers)
	var mu sync.Mutex
	var total int64
	for _, f := range files {
		g.Go(func() error {
			rc, err := f.Open()
			if err != nil {
				return err
			}
			defer rc.Close()
			bp := bufs.Get().(*[]byte)
			defer bufs.Put(bp)
			h := sha256.New()
			n, err := io.CopyBuffer(h, rc, *bp)
			h.Sum(nil)
			mu.Lock()
			total += n
			mu.Unlock()
			return err
		})
	}
	return total, g.Wait()
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func newInflater(r io.Reader) io.ReadCloser { return flate.NewReader(r) }
