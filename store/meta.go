package store

import (
	"fmt"
	"strings"

	"github.com/forge-ml/forge/abi"
)

// wheelMeta is what ingest needs from a wheel's .dist-info.
type wheelMeta struct {
	wheel abi.WheelInfo
	meta  abi.Metadata
}

func parseWheelMeta(wf abi.WheelFilename, wheelFile, metadata []byte) (wheelMeta, error) {
	wi, err := abi.ParseWheelFile(wheelFile)
	if err != nil {
		return wheelMeta{}, fmt.Errorf("malformed WHEEL: %v: %w", err, ErrInvalid)
	}
	md, err := abi.ParseMetadata(metadata)
	if err != nil {
		return wheelMeta{}, fmt.Errorf("malformed METADATA: %v: %w", err, ErrInvalid)
	}
	if err := abi.CheckFilenameAgainstWheel(wf, wi); err != nil {
		return wheelMeta{}, fmt.Errorf("tag mismatch between file name and WHEEL: %v: %w", err, ErrInvalid)
	}
	if abi.NormalizeName(md.Name) != abi.NormalizeName(wf.Name) {
		return wheelMeta{}, fmt.Errorf("name mismatch: METADATA says %q, the file name %q: %w", md.Name, wf.Name, ErrInvalid)
	}
	if !sameVersion(md.Version, wf.Version) && !sameVersion(strings.ReplaceAll(md.Version, "-", "_"), wf.Version) {
		return wheelMeta{}, fmt.Errorf("version mismatch: METADATA says %q, the file name %q: %w", md.Version, wf.Version, ErrInvalid)
	}
	return wheelMeta{wheel: wi, meta: md}, nil
}
