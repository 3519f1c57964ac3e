package probe

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/forge-ml/forge/abi"
)

// ErrProfile means a host profile document is not a usable forge.host/v1
// profile; the error names the file and what is wrong. It is
// abi.ErrHostProfile: one parser (abi.ParseHost) validates every profile.
var ErrProfile = abi.ErrHostProfile

// LoadProfile reads a forge.host/v1 host profile. Unknown fields are kept (by
// abi.Host's JSON methods); a missing python.tags is derived from python, libc
// and arch with DeriveTags. A profile without a name is named after its file.
func LoadProfile(path string) (*abi.Host, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseProfile(b, path)
}

// ParseProfile is LoadProfile for a document already read; source names it
// in errors.
func ParseProfile(b []byte, source string) (*abi.Host, error) {
	// One parser validates every profile, whoever reads it: abi.ParseHost
	// (schema, libc family, versions, compute capabilities, ISA level, a
	// python version tags can be derived from).
	parsed, err := abi.ParseHost(b)
	if err != nil {
		return nil, fmt.Errorf("host profile %s: %w", source, err)
	}
	h := *parsed
	if h.Name == "" && source != "" {
		base := filepath.Base(source)
		h.Name = base[:len(base)-len(filepath.Ext(base))]
	}
	if h.Python != nil && len(h.Python.Tags) == 0 {
		arch := h.Arch
		if arch == "" {
			arch = "x86_64"
		}
		h.Python.Tags = DeriveTags(h.Python, h.Libc, arch)
	}
	return &h, nil
}

// SaveProfile writes h to path atomically: a temporary file in the same
// directory, fsynced, renamed over path, then the directory fsynced. A
// reader sees the old document or the new one, never a part.
func SaveProfile(path string, h *abi.Host) error {
	if h.Schema == "" {
		h.Schema = abi.HostSchema
	}
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return fmt.Errorf("host profile %s: %w", path, err)
	}
	if err := writeFileAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("host profile %s: %w", path, err)
	}
	return nil
}
