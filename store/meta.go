package store

import (
	"fmt"
	"strings"

	"github.com/forge-ml/forge/wheel"
)

// wheelMeta is what ingest needs from a wheel's .dist-info.
type wheelMeta struct {
	wheel wheel.Info
	meta  wheel.Metadata
}

func parseWheelMeta(wf wheel.Filename, wheelFile, metadata []byte) (wheelMeta, error) {
	wi, err := wheel.ParseInfo(wheelFile)
	if err != nil {
		return wheelMeta{}, fmt.Errorf("malformed WHEEL: %v: %w", err, ErrInvalid)
	}
	md, err := wheel.ParseMetadata(metadata)
	if err != nil {
		return wheelMeta{}, fmt.Errorf("malformed METADATA: %v: %w", err, ErrInvalid)
	}
	if err := wheel.CheckFilename(wf, wi); err != nil {
		return wheelMeta{}, fmt.Errorf("tag mismatch between file name and WHEEL: %v: %w", err, ErrInvalid)
	}
	if wheel.NormalizeName(md.Name) != wheel.NormalizeName(wf.Name) {
		return wheelMeta{}, fmt.Errorf("name mismatch: METADATA says %q, the file name %q: %w", md.Name, wf.Name, ErrInvalid)
	}
	if !wheel.SameVersion(md.Version, wf.Version) && !wheel.SameVersion(strings.ReplaceAll(md.Version, "-", "_"), wf.Version) {
		return wheelMeta{}, fmt.Errorf("version mismatch: METADATA says %q, the file name %q: %w", md.Version, wf.Version, ErrInvalid)
	}
	return wheelMeta{wheel: wi, meta: md}, nil
}
