// Package sbom writes what an environment holds for other tools: a
// CycloneDX 1.6 JSON bill of materials and a hash-pinned pip requirements
// file. It does no I/O of its own: callers give an Inventory and a writer.
package sbom

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/forge-ml/forge/wheel"
)

// Inventory is what an environment imports.
type Inventory struct {
	Env      string
	Python   string // "3.12.1"
	Packages []Package
}

// Package is one installed wheel.
type Package struct {
	Name    string
	Version string
	SHA256  string // of the wheel file
	Wheel   string // its file name
	Layer   string // LOCAL, a parent environment's name, GLOBAL
	// Licence as METADATA gives it (see wheel.Metadata).
	LicenseExpression  string
	License            string
	LicenseClassifiers []string
}

// PURL is the package URL of a PyPI package: pkg:pypi/NAME@VERSION, the
// name normalised as the purl spec's pypi type asks (lower case, '-').
func PURL(name, version string) string {
	return "pkg:pypi/" + wheel.NormalizeName(name) + "@" + purlEscape(version)
}

// purlEscape percent-encodes what a purl version may not hold as is; a
// PEP 440 version only ever has '+' (a local version) among them.
func purlEscape(s string) string { return strings.ReplaceAll(s, "+", "%2B") }

// ---- CycloneDX 1.6 ----

// The structs carry the fields forge fills, named as the CycloneDX 1.6
// JSON schema names them (github.com/CycloneDX/cyclonedx-go is not served
// by the module proxy here; TestCycloneDXSchema holds these to the
// schema's required fields and patterns).
type cdxBOM struct {
	BOMFormat    string         `json:"bomFormat"`
	SpecVersion  string         `json:"specVersion"`
	SerialNumber string         `json:"serialNumber,omitempty"`
	Version      int            `json:"version"`
	Metadata     cdxMetadata    `json:"metadata"`
	Components   []cdxComponent `json:"components"`
}

type cdxMetadata struct {
	Timestamp string       `json:"timestamp"`
	Tools     cdxTools     `json:"tools"`
	Component cdxComponent `json:"component"`
}

type cdxTools struct {
	Components []cdxComponent `json:"components"`
}

type cdxComponent struct {
	BOMRef     string        `json:"bom-ref,omitempty"`
	Type       string        `json:"type"`
	Name       string        `json:"name"`
	Version    string        `json:"version,omitempty"`
	PURL       string        `json:"purl,omitempty"`
	Hashes     []cdxHash     `json:"hashes,omitempty"`
	Licenses   []cdxLicense  `json:"licenses,omitempty"`
	Properties []cdxProperty `json:"properties,omitempty"`
}

type cdxHash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

// cdxLicense is one entry of a licenses array: either an SPDX expression
// or a licence named by its text, never both (the schema's oneOf).
type cdxLicense struct {
	Expression string          `json:"expression,omitempty"`
	License    *cdxLicenseName `json:"license,omitempty"`
}

type cdxLicenseName struct {
	Name string `json:"name"`
}

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CycloneDXOptions are what the BOM says of itself.
type CycloneDXOptions struct {
	// Now stamps metadata.timestamp (tests fix it).
	Now time.Time
	// SerialNumber: "urn:uuid:…"; "" leaves it out.
	SerialNumber string
	// ToolVersion is forge's version.
	ToolVersion string
}

// WriteCycloneDX writes inv as a CycloneDX 1.6 JSON BOM: the environment
// as metadata.component (an application), each package as a library with
// its purl, the wheel's SHA-256, its licence (License-Expression as an
// expression; else the licence classifiers, else the License field's first
// line, as names) and forge:layer and forge:wheel properties.
func WriteCycloneDX(w io.Writer, inv *Inventory, o CycloneDXOptions) error {
	bom := cdxBOM{
		BOMFormat: "CycloneDX", SpecVersion: "1.6", SerialNumber: o.SerialNumber, Version: 1,
		Metadata: cdxMetadata{
			Timestamp: o.Now.UTC().Format(time.RFC3339),
			Tools:     cdxTools{Components: []cdxComponent{{Type: "application", Name: "forge", Version: o.ToolVersion}}},
			Component: cdxComponent{BOMRef: "env:" + inv.Env, Type: "application", Name: inv.Env,
				Properties: []cdxProperty{{"forge:python", inv.Python}}},
		},
		Components: make([]cdxComponent, 0, len(inv.Packages)),
	}
	for _, p := range inv.Packages {
		purl := PURL(p.Name, p.Version)
		bom.Components = append(bom.Components, cdxComponent{
			BOMRef: purl, Type: "library", Name: p.Name, Version: p.Version, PURL: purl,
			Hashes:     []cdxHash{{Alg: "SHA-256", Content: p.SHA256}},
			Licenses:   licenses(p),
			Properties: []cdxProperty{{"forge:layer", p.Layer}, {"forge:wheel", p.Wheel}},
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(bom)
}

func licenses(p Package) []cdxLicense {
	if p.LicenseExpression != "" {
		return []cdxLicense{{Expression: p.LicenseExpression}}
	}
	// Classifiers before the License field: they name a licence, where
	// the field is free text, often the whole licence (numpy's).
	var out []cdxLicense
	for _, c := range p.LicenseClassifiers {
		parts := strings.Split(c, "::")
		if name := strings.TrimSpace(parts[len(parts)-1]); name != "" && name != "License" {
			out = append(out, cdxLicense{License: &cdxLicenseName{Name: name}})
		}
	}
	if len(out) > 0 {
		return out
	}
	if text := strings.TrimSpace(p.License); text != "" {
		first, _, _ := strings.Cut(text, "\n")
		if len(first) > 100 {
			first = first[:100] + "…"
		}
		return []cdxLicense{{License: &cdxLicenseName{Name: first}}}
	}
	return nil
}

// ---- requirements ----

// WriteRequirements writes inv as a pip requirements file that pip
// install --require-hashes accepts: one NAME==VERSION per package with the
// sha256 of the wheel forge installed.
func WriteRequirements(w io.Writer, inv *Inventory) error {
	if _, err := fmt.Fprintf(w, "# forge export %s --format requirements: the packages environment %s imports (Python %s),\n# pinned to the wheels forge installed.\n", inv.Env, inv.Env, inv.Python); err != nil {
		return err
	}
	for _, p := range inv.Packages {
		if _, err := fmt.Fprintf(w, "%s==%s \\\n    --hash=sha256:%s\n", wheel.NormalizeName(p.Name), p.Version, p.SHA256); err != nil {
			return err
		}
	}
	return nil
}
