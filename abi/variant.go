package abi

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/forge-ml/forge/wheel"
)

// PEP 825 (draft) wheel variants: a label in the file name
// ("…-linux_x86_64-cu128.whl") and, in .dist-info/variant.json, the
// properties it stands for: {"variants": {label: {namespace: {feature:
// [values]}}}}. forge reads the claims of the "nvidia" namespace — CUDA
// version bounds and SM architectures — and holds them against what the
// wheel's files carry: a variant that claims sm_90 but carries no sm_90
// code would be picked for an H100 and fail there.

// Finding codes of variant checks.
const (
	CodeVariantMetadata = "variant_metadata" // variant.json missing or unreadable
	CodeVariantClaim    = "variant_claim"    // a claim the files contradict
)

// SetVariantJSON records the claims of the wheel's variant label from the
// content of .dist-info/variant.json (nil when the wheel has none). A
// variant wheel without usable metadata gets a risk Problem; a non-variant
// wheel's variant.json is ignored.
func (b *FingerprintBuilder) SetVariantJSON(raw []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	label := b.fp.Variant
	if label == "" {
		return
	}
	bad := func(format string, args ...any) {
		b.fp.Problems = append(b.fp.Problems, Finding{Code: CodeVariantMetadata, Severity: Risk,
			Message: fmt.Sprintf("variant %s: ", label) + fmt.Sprintf(format, args...)})
	}
	if raw == nil {
		bad("the wheel has no .dist-info/%s, so what the label stands for is unknown", wheel.VariantFile)
		return
	}
	props, ok, err := wheel.VariantProperties(raw, label)
	if err != nil {
		bad("%s: %v", wheel.VariantFile, err)
		return
	}
	if !ok {
		bad("%s has no entry for the label", wheel.VariantFile)
		return
	}
	b.fp.VariantClaims = props
}

// parseArchClaim reads an nvidia :: sm_arch value: "90", "9.0", "sm_90",
// "90a", "sm_90a", "compute_90", "90_real", "90_virtual".
func parseArchClaim(v string) (sm int, archSpecific bool, ok bool) {
	v = strings.ToLower(strings.TrimSpace(v))
	v = strings.TrimPrefix(strings.TrimPrefix(v, "sm_"), "compute_")
	v = strings.TrimSuffix(strings.TrimSuffix(v, "_real"), "_virtual")
	if strings.HasSuffix(v, "a") {
		archSpecific, v = true, strings.TrimSuffix(v, "a")
	}
	if major, minor, found := strings.Cut(v, "."); found {
		v = major + minor
	}
	n, err := strconv.Atoi(v)
	return n, archSpecific, err == nil && n > 0 && n < 10000
}

// variant checks the nvidia namespace's claims against the fingerprint.
func (c *checker) variant() {
	nv := c.fp.VariantClaims["nvidia"]
	if len(nv) == 0 {
		return
	}
	features := make([]string, 0, len(nv))
	for f := range nv {
		features = append(features, f)
	}
	sort.Strings(features)
	for _, f := range features {
		for _, v := range nv[f] {
			switch {
			case f == "sm_arch":
				c.archClaim(v)
			case strings.HasPrefix(f, "cuda"):
				c.cudaClaim(f, v)
			}
		}
	}
}

func (c *checker) archClaim(v string) {
	sm, a, ok := parseArchClaim(v)
	if !ok {
		c.add(CodeVariantClaim, Risk, "", "variant %s claims nvidia :: sm_arch :: %s, which is not an architecture", c.fp.Variant, v)
		return
	}
	for _, g := range c.fp.GPUCode {
		if g.SM == sm && (g.Kind == KindCubin || g.Kind == KindPTX) && (!a || g.ArchSpecific) {
			return
		}
	}
	has := "no GPU code"
	if len(c.fp.GPUCode) > 0 {
		has = codeList(c.fp.GPUCode)
	}
	name := fmt.Sprintf("sm_%d", sm)
	if a {
		name += "a"
	}
	c.add(CodeVariantClaim, Risk, "", "variant %s claims nvidia :: sm_arch :: %s, but no file carries %s code; it has %s", c.fp.Variant, v, name, has)
}

func (c *checker) cudaClaim(feature, v string) {
	need, src := c.fp.CUDAMajor()
	claimed := MajorOf(strings.TrimSpace(v))
	if need == 0 || claimed == 0 {
		return
	}
	lower := !strings.Contains(feature, "upper")
	if lower && claimed > need || !lower && claimed < need || feature == "cuda" && claimed != need {
		c.add(CodeVariantClaim, Risk, "", "variant %s claims nvidia :: %s :: %s, but its code needs CUDA %d (%s)", c.fp.Variant, feature, v, need, src)
	}
}
