package sbom

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// inventory covers each way METADATA gives a licence, and none.
var inventory = &Inventory{Env: "app", Python: "3.12.1", Packages: []Package{
	{Name: "Flask_Login", Version: "0.6.3", SHA256: strings.Repeat("a1", 32), Wheel: "Flask_Login-0.6.3-py3-none-any.whl", Layer: "LOCAL", LicenseExpression: "MIT"},
	{Name: "numpy", Version: "2.1.3", SHA256: strings.Repeat("b2", 32), Wheel: "numpy-2.1.3-cp312-cp312-manylinux_2_17_x86_64.whl", Layer: "GLOBAL",
		License: "Copyright (c) 2005-2024, NumPy Developers.\nAll rights reserved.", LicenseClassifiers: []string{"License :: OSI Approved :: BSD License"}},
	{Name: "torch", Version: "2.4.0+cu121", SHA256: strings.Repeat("c3", 32), Wheel: "torch-2.4.0+cu121-cp312-cp312-linux_x86_64.whl", Layer: "base",
		LicenseClassifiers: []string{"License :: OSI Approved :: BSD License", "License :: OSI Approved :: Apache Software License"}},
	{Name: "shortfield", Version: "3.0", SHA256: strings.Repeat("e5", 32), Wheel: "shortfield-3.0-py3-none-any.whl", Layer: "LOCAL", License: "GPL-2.0-or-later"},
	{Name: "unlicensed", Version: "1.0", SHA256: strings.Repeat("d4", 32), Wheel: "unlicensed-1.0-py3-none-any.whl", Layer: "LOCAL"},
}}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (go test -update rewrites it):\n%s", p, got)
	}
}

func TestWriteCycloneDXGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCycloneDX(&buf, inventory, CycloneDXOptions{Now: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC), SerialNumber: "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79", ToolVersion: "0.1.0"}); err != nil {
		t.Fatal(err)
	}
	golden(t, "app.cdx.json", buf.Bytes())
}

func TestWriteRequirementsGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteRequirements(&buf, inventory); err != nil {
		t.Fatal(err)
	}
	golden(t, "app.requirements.txt", buf.Bytes())
}

// The CycloneDX 1.6 JSON schema (bom-1.6.schema.json), the parts forge's
// output touches: required properties, enums and patterns.
var (
	cdxSerial     = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	cdxHashSHA256 = regexp.MustCompile(`^[a-fA-F0-9]{64}$`)
	cdxTypes      = map[string]bool{"application": true, "framework": true, "library": true, "container": true, "platform": true,
		"operating-system": true, "device": true, "device-driver": true, "firmware": true, "file": true, "machine-learning-model": true, "data": true, "cryptographic-asset": true}
	cdxHashAlgs = map[string]bool{"MD5": true, "SHA-1": true, "SHA-256": true, "SHA-384": true, "SHA-512": true, "SHA3-256": true,
		"SHA3-384": true, "SHA3-512": true, "BLAKE2b-256": true, "BLAKE2b-384": true, "BLAKE2b-512": true, "BLAKE3": true}
	purlRe = regexp.MustCompile(`^pkg:pypi/[a-z0-9]([a-z0-9-]*[a-z0-9])?@[A-Za-z0-9.!%-]+$`)
)

// checkComponent holds one component to the schema; what says where it is.
func checkComponent(t *testing.T, what string, c map[string]any) {
	t.Helper()
	if typ, _ := c["type"].(string); !cdxTypes[typ] {
		t.Errorf("%s: type %v not in the schema's enum", what, c["type"])
	}
	if name, _ := c["name"].(string); name == "" {
		t.Errorf("%s: name (required) missing", what)
	}
	if purl, ok := c["purl"].(string); ok && !purlRe.MatchString(purl) {
		t.Errorf("%s: purl %q", what, purl)
	}
	hashes, _ := c["hashes"].([]any)
	for _, h := range hashes {
		h := h.(map[string]any)
		alg, _ := h["alg"].(string)
		content, _ := h["content"].(string)
		if !cdxHashAlgs[alg] || (alg == "SHA-256" && !cdxHashSHA256.MatchString(content)) {
			t.Errorf("%s: hash %v", what, h)
		}
	}
	lics, _ := c["licenses"].([]any)
	for _, l := range lics {
		l := l.(map[string]any)
		_, expr := l["expression"]
		lic, named := l["license"].(map[string]any)
		if expr == named || len(l) != 1 {
			t.Errorf("%s: a licenses entry must be one of expression or license: %v", what, l)
		}
		if named {
			if _, id := lic["id"]; id == (lic["name"] != nil) {
				t.Errorf("%s: a license has one of id or name: %v", what, lic)
			}
		}
	}
	props, _ := c["properties"].([]any)
	for _, p := range props {
		if n, _ := p.(map[string]any)["name"].(string); n == "" {
			t.Errorf("%s: property without a name: %v", what, p)
		}
	}
}

func TestCycloneDXSchema(t *testing.T) {
	for _, tc := range []struct {
		name string
		inv  *Inventory
	}{
		{"five packages", inventory},
		{"empty environment", &Inventory{Env: "empty", Python: "3.11.7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteCycloneDX(&buf, tc.inv, CycloneDXOptions{Now: time.Now(), SerialNumber: "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"}); err != nil {
				t.Fatal(err)
			}
			var bom map[string]any
			if err := json.Unmarshal(buf.Bytes(), &bom); err != nil {
				t.Fatal(err)
			}
			if bom["bomFormat"] != "CycloneDX" || bom["specVersion"] != "1.6" || bom["version"] != 1.0 {
				t.Errorf("header %v %v %v", bom["bomFormat"], bom["specVersion"], bom["version"])
			}
			if s, _ := bom["serialNumber"].(string); !cdxSerial.MatchString(s) {
				t.Errorf("serialNumber %q", s)
			}
			md := bom["metadata"].(map[string]any)
			if _, err := time.Parse(time.RFC3339, md["timestamp"].(string)); err != nil {
				t.Errorf("timestamp: %v", err)
			}
			checkComponent(t, "metadata.component", md["component"].(map[string]any))
			for _, c := range md["tools"].(map[string]any)["components"].([]any) {
				checkComponent(t, "metadata.tools", c.(map[string]any))
			}
			comps, ok := bom["components"].([]any)
			if !ok || len(comps) != len(tc.inv.Packages) {
				t.Fatalf("components %v", bom["components"])
			}
			refs := map[string]bool{}
			for i, c := range comps {
				c := c.(map[string]any)
				checkComponent(t, tc.inv.Packages[i].Name, c)
				ref := c["bom-ref"].(string)
				if refs[ref] {
					t.Errorf("bom-ref %s twice (the schema wants them unique)", ref)
				}
				refs[ref] = true
			}
		})
	}
}

func TestPURL(t *testing.T) {
	for _, tc := range []struct{ name, version, want string }{
		{"Flask_Login", "0.6.3", "pkg:pypi/flask-login@0.6.3"},
		{"zope.interface", "6.0", "pkg:pypi/zope-interface@6.0"},
		{"torch", "2.4.0+cu121", "pkg:pypi/torch@2.4.0%2Bcu121"},
	} {
		if got := PURL(tc.name, tc.version); got != tc.want {
			t.Errorf("PURL(%q, %q) = %q, want %q", tc.name, tc.version, got, tc.want)
		}
	}
}
