package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/flate"
)

// wheelWriter writes a wheel member by member, streaming: each member is
// compressed and hashed as it is produced, so a 1 GB wheel needs no more
// memory than a copy buffer. RECORD lines are collected as members are
// written and RECORD is written last.
type wheelWriter struct {
	final    string
	tmp      *os.File
	zw       *zip.Writer
	distInfo string
	record   bytes.Buffer
	buf      []byte
}

// corpusTime is the fixed modification time of every member: the same
// inputs give byte-identical wheels.
var corpusTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// compressLevel is zlib's default (what Python's zipfile and bdist_wheel use).
const compressLevel = 6

func newWheelWriter(path, distInfo string) (*wheelWriter, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".wheel-*")
	if err != nil {
		return nil, err
	}
	zw := zip.NewWriter(tmp)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, compressLevel)
	})
	return &wheelWriter{final: path, tmp: tmp, zw: zw, distInfo: distInfo, buf: make([]byte, 256<<10)}, nil
}

type countHash struct {
	h hash.Hash
	n int64
}

func (c *countHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// add streams src into member name.
func (w *wheelWriter) add(name string, mode os.FileMode, src io.Reader) error {
	hdr := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: corpusTime}
	hdr.SetMode(mode)
	out, err := w.zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	ch := &countHash{h: sha256.New()}
	if _, err := io.CopyBuffer(io.MultiWriter(out, ch), src, w.buf); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintf(&w.record, "%s,sha256=%s,%d\n", name, base64.RawURLEncoding.EncodeToString(ch.h.Sum(nil)), ch.n)
	return nil
}

func (w *wheelWriter) addBytes(name string, mode os.FileMode, data []byte) error {
	return w.add(name, mode, bytes.NewReader(data))
}

// close writes RECORD, finishes the archive and renames it into place.
func (w *wheelWriter) close() error {
	fmt.Fprintf(&w.record, "%s/RECORD,,\n", w.distInfo)
	hdr := &zip.FileHeader{Name: w.distInfo + "/RECORD", Method: zip.Deflate, Modified: corpusTime}
	hdr.SetMode(0o644)
	out, err := w.zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	if _, err := out.Write(w.record.Bytes()); err != nil {
		return err
	}
	if err := w.zw.Close(); err != nil {
		return err
	}
	if err := w.tmp.Close(); err != nil {
		return err
	}
	return os.Rename(w.tmp.Name(), w.final)
}

func (w *wheelWriter) abort() {
	w.tmp.Close()
	os.Remove(w.tmp.Name())
}

// distInfoFiles writes METADATA and WHEEL.
func (w *wheelWriter) distInfoFiles(name, version, tag string, purelib bool) error {
	meta := fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: forge benchmark corpus\n\nGenerated deterministically by forge's bench.\n", name, version)
	if err := w.addBytes(w.distInfo+"/METADATA", 0o644, []byte(meta)); err != nil {
		return err
	}
	wheel := fmt.Sprintf("Wheel-Version: 1.0\nGenerator: forge-bench\nRoot-Is-Purelib: %t\nTag: %s\n", purelib, tag)
	return w.addBytes(w.distInfo+"/WHEEL", 0o644, []byte(wheel))
}
