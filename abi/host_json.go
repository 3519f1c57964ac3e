package abi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
)

// ErrHostProfile marks a host profile document that is not a valid forge.host/v1.
var ErrHostProfile = errors.New("invalid host profile")

// hostFields is Host without its methods, so that encoding/json handles the
// known fields and MarshalJSON/UnmarshalJSON only add Extra.
type hostFields Host

// knownHostKeys are the top-level JSON names of Host's fields, worked out on
// first use (not at start-up: most commands never write a host profile).
var knownHostKeys = sync.OnceValue(func() map[string]bool {
	b, _ := json.Marshal(hostFields{Libc: &Libc{}, CPU: &CPU{}, Python: &Python{}, CUDA: &CUDA{},
		VisibleDevices: new(string), Libraries: []string{""}, Reasons: map[string]string{"": ""}, Name: "x"})
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	keys := map[string]bool{}
	for k := range m {
		keys[k] = true
	}
	return keys
})

// MarshalJSON writes the known fields and then every Extra field not shadowed
// by a known one, in key order.
func (h Host) MarshalJSON() ([]byte, error) {
	known, err := json.Marshal(hostFields(h))
	if err != nil || len(h.Extra) == 0 {
		return known, err
	}
	keys := make([]string, 0, len(h.Extra))
	for k := range h.Extra {
		if !knownHostKeys()[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return known, nil
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.Write(known[:len(known)-1]) // drop the closing brace
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		v := h.Extra[k]
		if !json.Valid(v) {
			return nil, fmt.Errorf("host profile: extra field %q is not valid JSON", k)
		}
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON reads the known fields and keeps every other top-level field
// in Extra, verbatim.
func (h *Host) UnmarshalJSON(data []byte) error {
	var f hostFields
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	f.Extra = nil
	for k, v := range all {
		if !knownHostKeys()[k] {
			if f.Extra == nil {
				f.Extra = map[string]json.RawMessage{}
			}
			f.Extra[k] = append(json.RawMessage(nil), v...)
		}
	}
	*h = Host(f)
	return nil
}

// ParseHost reads a host profile document and checks it: schema must be
// "forge.host/v1"; libc.family glibc or musl; GPU compute capabilities
// major.minor. Errors wrap ErrHostProfile and name the field.
func ParseHost(data []byte) (*Host, error) {
	var probe struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHostProfile, err)
	}
	if probe.Schema == nil {
		return nil, fmt.Errorf("%w: field \"schema\" missing, want %q", ErrHostProfile, HostSchema)
	}
	if *probe.Schema != HostSchema {
		return nil, fmt.Errorf("%w: field \"schema\" is %q, want %q", ErrHostProfile, *probe.Schema, HostSchema)
	}
	var h Host
	if err := json.Unmarshal(data, &h); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%w: field %q: %s given, want %s", ErrHostProfile, te.Field, te.Value, te.Type)
		}
		return nil, fmt.Errorf("%w: %v", ErrHostProfile, err)
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return &h, nil
}

// pythonXYRe is a Python version that names its minor release: X.Y[.Z…].
var pythonXYRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)*$`) })

// Validate checks the values ParseHost checks; errors wrap ErrHostProfile.
func (h *Host) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: field %q: %s", ErrHostProfile, field, fmt.Sprintf(format, args...))
	}
	if h.Schema != HostSchema {
		return bad("schema", "%q, want %q", h.Schema, HostSchema)
	}
	if h.Libc != nil {
		switch h.Libc.Family {
		case "glibc", "musl":
		default:
			return bad("libc.family", "%q, want glibc or musl", h.Libc.Family)
		}
		if h.Libc.Version != "" && !versionTailRe().MatchString(h.Libc.Version) {
			return bad("libc.version", "%q is not a dotted version", h.Libc.Version)
		}
	}
	if h.CPU != nil && (h.CPU.X86_64Level < 0 || h.CPU.X86_64Level > 4) {
		return bad("cpu.x86_64_level", "%d, want 0 to 4", h.CPU.X86_64Level)
	}
	if h.Python != nil && h.Python.Version != "" && !versionTailRe().MatchString(h.Python.Version) {
		return bad("python.version", "%q is not a dotted version", h.Python.Version)
	}
	if h.Python != nil && len(h.Python.Tags) == 0 && !pythonXYRe().MatchString(h.Python.Version) {
		// The tags are derived from the version (probe.DeriveTags): without
		// either, no wheel could be judged for this host.
		return bad("python.version", "%q is not X.Y[.Z], and python.tags is absent", h.Python.Version)
	}
	if h.CUDA != nil {
		if h.CUDA.DriverVersion != "" && !versionTailRe().MatchString(h.CUDA.DriverVersion) {
			return bad("cuda.driver_version", "%q is not a dotted version", h.CUDA.DriverVersion)
		}
		if h.CUDA.CUDAVersion != "" && !versionTailRe().MatchString(h.CUDA.CUDAVersion) {
			return bad("cuda.cuda_version", "%q is not a dotted version", h.CUDA.CUDAVersion)
		}
		for i, d := range h.CUDA.Devices {
			if _, _, err := ComputeCapability(d.ComputeCapability); err != nil {
				return bad(fmt.Sprintf("cuda.devices[%d].compute_capability", i), "%q, want major.minor", d.ComputeCapability)
			}
		}
	}
	return nil
}
