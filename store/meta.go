package store

import (
	"fmt"

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
		return wheelMeta{}, fmt.Errorf("WHEEL: %w", err)
	}
	md, err := abi.ParseMetadata(metadata)
	if err != nil {
		return wheelMeta{}, fmt.Errorf("METADATA: %w", err)
	}
	if err := abi.CheckFilenameAgainstWheel(wf, wi); err != nil {
		return wheelMeta{}, err
	}
	if abi.NormalizeName(md.Name) != abi.NormalizeName(wf.Name) {
		return wheelMeta{}, fmt.Errorf("METADATA names %q but the file name says %q", md.Name, wf.Name)
	}
	return wheelMeta{wheel: wi, meta: md}, nil
}
