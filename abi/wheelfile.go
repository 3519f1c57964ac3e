package abi

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/forge-ml/forge/internal/ctxio"
	"github.com/forge-ml/forge/wheel"
)

// Error kinds of FingerprintWheel: the wheel package's, under the names abi
// has always given them, so that errors.Is answers alike for either name.
var (
	// ErrWheelCorrupt: a damaged archive, or a member whose content does not
	// match its CRC-32 or declared size (wheel.ErrCorrupt).
	ErrWheelCorrupt = wheel.ErrCorrupt
	// ErrWheelInvalid: not a zip archive, a file name that is not a wheel's,
	// no .dist-info directory, or WHEEL/METADATA missing, malformed or at odds
	// with the file name, when ErrWheelMetadata is wrapped too
	// (wheel.ErrInvalid).
	ErrWheelInvalid = wheel.ErrInvalid
	// ErrWheelMetadata marks a malformed or inconsistent WHEEL or METADATA
	// file (wheel.ErrMetadata).
	ErrWheelMetadata = wheel.ErrMetadata
)

// maxMetadataSize bounds the WHEEL and METADATA files read into memory.
const maxMetadataSize = 64 << 20

// FingerprintWheel computes the fingerprint of the wheel file at path
// without a store: the same result ingest stores, from the file name, the
// WHEEL and METADATA files and every ELF member. See
// FingerprintWheelContext.
func FingerprintWheel(path string) (*Fingerprint, error) {
	return FingerprintWheelContext(context.Background(), path)
}

// FingerprintWheelContext is FingerprintWheel with a context that stops the
// member reads. Members whose first four bytes are ELF magic are streamed
// into temporary files (never held whole in memory) and read there, in
// parallel (one goroutine per CPU); the temporary files are removed before
// it returns. Only ELF members are read in full, so the CRC-32 of the other
// members is not verified: forge install (ingest) verifies every byte.
// Errors wrap ErrWheelCorrupt or ErrWheelInvalid and name the wheel.
// Malformed ELF or fatbin data is not an error: it is a Problem finding.
func FingerprintWheelContext(ctx context.Context, wheelPath string) (*Fingerprint, error) {
	base := path.Base(strings.ReplaceAll(wheelPath, `\`, "/"))
	wf, err := wheel.ParseFilename(base)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrWheelInvalid)
	}
	f, err := os.Open(wheelPath)
	if err != nil {
		return nil, fmt.Errorf("wheel %s: %w", base, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("wheel %s: %w", base, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("wheel %s: not a regular file: %w", base, ErrWheelInvalid)
	}
	zr, err := wheel.Open(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("wheel %s: %w", base, err)
	}
	distInfo, err := findDistInfo(zr, wf)
	if err != nil {
		return nil, fmt.Errorf("wheel %s: %w", base, err)
	}
	wheelRaw, err := readSmallMember(zr, distInfo+"/WHEEL")
	if err != nil {
		return nil, fmt.Errorf("wheel %s: %w", base, err)
	}
	metaRaw, err := readSmallMember(zr, distInfo+"/METADATA")
	if err != nil {
		return nil, fmt.Errorf("wheel %s: %w", base, err)
	}
	info, err := wheel.ParseInfo(wheelRaw)
	if err != nil {
		return nil, fmt.Errorf("wheel %s: %w (%w)", base, err, ErrWheelInvalid)
	}
	md, err := wheel.ParseMetadata(metaRaw)
	if err != nil {
		return nil, fmt.Errorf("wheel %s: %w (%w)", base, err, ErrWheelInvalid)
	}
	if err := wheel.CheckFilename(wf, info); err != nil {
		return nil, fmt.Errorf("wheel %s: %w (%w)", base, err, ErrWheelInvalid)
	}
	if wheel.NormalizeName(md.Name) != wheel.NormalizeName(wf.Name) {
		return nil, fmt.Errorf("wheel %s: METADATA names %q, the file name %q: %w (%w)", base, md.Name, wf.Name, ErrWheelMetadata, ErrWheelInvalid)
	}

	b := NewFingerprintBuilder(wf)
	b.SetWheelFile(info.Tags)
	b.SetMetadata(metaRaw)
	if wf.Variant != "" {
		raw, err := readSmallMember(zr, distInfo+"/"+wheel.VariantFile)
		if err != nil && !errors.Is(err, ErrWheelInvalid) {
			return nil, fmt.Errorf("wheel %s: %w", base, err)
		}
		b.SetVariantJSON(raw)
	}

	tmp, err := os.MkdirTemp("", "forge-fingerprint-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	files := 0
	for _, zf := range zr.File {
		if strings.HasSuffix(zf.Name, "/") || zf.Mode().IsDir() {
			continue
		}
		files++
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := addMember(gctx, b, zf, tmp); err != nil {
				return fmt.Errorf("wheel %s: member %s: %w", base, zf.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fp := b.Finish(files)
	return &fp, nil
}

// findDistInfo returns the wheel's "name-version.dist-info" directory: the
// one top-level .dist-info directory whose name matches the file name's.
func findDistInfo(zr *zip.Reader, wf wheel.Filename) (string, error) {
	want := wheel.DistInfoName(wf.Name)
	seen := map[string]bool{}
	var match []string
	for _, zf := range zr.File {
		top, _, _ := strings.Cut(zf.Name, "/")
		if !strings.HasSuffix(top, ".dist-info") || seen[top] {
			continue
		}
		seen[top] = true
		name, _, _ := strings.Cut(strings.TrimSuffix(top, ".dist-info"), "-")
		if wheel.DistInfoName(name) == want {
			match = append(match, top)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("no %s-*.dist-info directory: %w", want, ErrWheelInvalid)
	case 1:
		return match[0], nil
	}
	return "", fmt.Errorf("%d .dist-info directories (%s): %w", len(match), strings.Join(match, ", "), ErrWheelInvalid)
}

func readSmallMember(zr *zip.Reader, name string) ([]byte, error) {
	for _, zf := range zr.File {
		if zf.Name != name {
			continue
		}
		if zf.UncompressedSize64 > maxMetadataSize {
			return nil, fmt.Errorf("%s larger than %d MiB: %w", name, maxMetadataSize>>20, ErrWheelInvalid)
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", name, err, ErrWheelCorrupt)
		}
		defer rc.Close()
		data, err := io.ReadAll(io.LimitReader(rc, maxMetadataSize+1))
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", name, err, ErrWheelCorrupt)
		}
		return data, nil
	}
	return nil, fmt.Errorf("missing %s: %w", name, ErrWheelInvalid)
}

var memberBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// addMember reads the first bytes of one member and, when they are ELF
// magic, copies the member into a temporary file under dir and fingerprints
// it there: debug/elf wants random access, and a large member must not be
// held in memory.
func addMember(ctx context.Context, b *FingerprintBuilder, zf *zip.File, dir string) error {
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("%v: %w", err, ErrWheelCorrupt)
	}
	defer rc.Close()
	var head [4]byte
	n, err := io.ReadFull(rc, head[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%v: %w", err, ErrWheelCorrupt)
	}
	if !IsELF(head[:n]) {
		return nil
	}
	tmp, err := os.CreateTemp(dir, "member-*")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	bufp := memberBufs.Get().(*[]byte)
	defer memberBufs.Put(bufp)
	src := io.MultiReader(bytes.NewReader(head[:n]), ctxio.Reader(ctx, rc))
	written, err := io.CopyBuffer(tmp, io.LimitReader(src, int64(zf.UncompressedSize64)+1), *bufp)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("writing a temporary copy: %w", err)
		}
		return fmt.Errorf("%v (checksum or size check failed): %w", err, ErrWheelCorrupt)
	}
	if uint64(written) != zf.UncompressedSize64 {
		return fmt.Errorf("inflated to %d bytes, header says %d: %w", written, zf.UncompressedSize64, ErrWheelCorrupt)
	}
	b.AddELF(zf.Name, tmp, written)
	return nil
}
