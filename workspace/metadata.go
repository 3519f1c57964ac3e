package workspace

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/forge-ml/forge/wheel"
)

// EntryMetadata reads the METADATA of an unpacked entry.
func EntryMetadata(dir string) (wheel.Metadata, error) {
	di, err := FindDistInfo(dir)
	if err != nil {
		return wheel.Metadata{}, err
	}
	b, err := os.ReadFile(filepath.Join(dir, di, "METADATA"))
	if err != nil {
		return wheel.Metadata{}, err
	}
	return wheel.ParseMetadata(b)
}

// ForeignMetadata reads the METADATA of an installed .dist-info that forge
// did not install (INSTALLER is not "forge"). ok is false for forge's own,
// and for one without a readable METADATA naming a project: pip skips those
// too.
func ForeignMetadata(distInfo string) (md wheel.Metadata, ok bool) {
	if installer, err := os.ReadFile(filepath.Join(distInfo, "INSTALLER")); err == nil && strings.TrimSpace(string(installer)) == wheel.Installer {
		return md, false
	}
	data, err := os.ReadFile(filepath.Join(distInfo, "METADATA"))
	if err != nil {
		return md, false
	}
	md, err = wheel.ParseMetadata(data)
	return md, err == nil && md.Name != ""
}
