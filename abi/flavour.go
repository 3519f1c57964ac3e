package abi

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrNoFlavour means no candidate matches a --gpu choice.
var ErrNoFlavour = errors.New("no matching CUDA flavour")

// flavourOf is a candidate's flavour: "12.1", or "cpu" for a CPU build (an
// explicit +cpu, or a wheel with no CUDA dependency at all).
func flavourOf(fp *Fingerprint) string {
	if fp.CUDAFlavour != "" {
		return fp.CUDAFlavour
	}
	if n, _ := fp.CUDAMajor(); n > 0 {
		return fmt.Sprintf("%d", n)
	}
	return "cpu"
}

// ParseGPU checks a --gpu value: "auto", "cpu" or "cuXYZ" for a CUDA
// major forge knows (cu118, cu121, cu128, cu130). It returns the value in
// lower case.
func ParseGPU(s string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	switch v {
	case "", "auto":
		return "auto", nil
	case "cpu":
		return v, nil
	}
	if m := cuFlavourRe().FindStringSubmatch(v); m != nil {
		if major, _ := strconv.Atoi(m[1]); major >= 9 && major <= MajorOf(newestToolkit()) {
			return v, nil
		}
	}
	return "", fmt.Errorf("--gpu %q: want auto, cpu or cuXYZ for a CUDA version (cu118, cu121, cu124, cu128, …); forge knows CUDA up to %s", s, newestToolkit())
}

// newestToolkit is the newest CUDA toolkit in MinDriverForToolkit.
func newestToolkit() string { return MinDriverForToolkit[len(MinDriverForToolkit)-1].Toolkit }

// ChooseFlavour picks among builds of one version in several CUDA flavours
// (torch 2.4.0+cu118, +cu121, +cpu). gpu is "auto", "cpu" or "cuXYZ".
//
// auto: the highest CUDA flavour whose verdict under p is not refuse, whose
// CUDA version the driver supports, and whose GPU code covers every visible GPU
// (by cubin or JIT-able PTX); failing that, the highest such flavour that needs
// CUDA minor-version compatibility; else the CPU build; else an error.
// A pin picks that flavour; it is an error (wrapping ErrIncompatible) when the
// pinned build is refused, with index still set. The reason says why, for the
// user. Candidates are not modified.
func ChooseFlavour(cands []*Fingerprint, h *Host, p Policy, gpu string) (index int, reason string, err error) {
	if len(cands) == 0 {
		return -1, "", fmt.Errorf("%w: no candidates", ErrNoFlavour)
	}
	gpu = strings.ToLower(strings.TrimSpace(gpu))
	verdicts := make([]Verdict, len(cands))
	for i, fp := range cands {
		verdicts[i] = Evaluate(fp, h, p, CheckOptions{})
	}
	if gpu != "auto" && gpu != "" {
		for i, fp := range cands {
			if FlavourTag(flavourOf(fp)) != gpu {
				continue
			}
			if verdicts[i].Refused() {
				return i, "", fmt.Errorf("%s %s pinned by --gpu %s: %w: %s", fp.Name, fp.Version, gpu, ErrIncompatible, firstMessage(verdicts[i]))
			}
			return i, fmt.Sprintf("--gpu %s pins %s", gpu, fp.Version), nil
		}
		var have []string
		for _, fp := range cands {
			have = append(have, FlavourTag(flavourOf(fp)))
		}
		return -1, "", fmt.Errorf("%w: --gpu %s, candidates are %s", ErrNoFlavour, gpu, strings.Join(have, ", "))
	}
	// Tier 0: the driver supports the flavour's CUDA version outright.
	// Tier 1: it runs through CUDA minor-version compatibility (accepted, but a risk).
	best, bestTier, cpu := -1, 2, -1
	var skipped []string
	for i, fp := range cands {
		fl := flavourOf(fp)
		if fl == "cpu" {
			if cpu < 0 && !verdicts[i].Refused() {
				cpu = i
			}
			continue
		}
		if why := gpuUnfit(fp, h, verdicts[i]); why != "" {
			skipped = append(skipped, fp.Version+": "+why)
			continue
		}
		tier := 0
		if slices.ContainsFunc(verdicts[i].Findings, func(f Finding) bool { return f.Code == CodeCUDAMinorCompat }) {
			tier = 1
		}
		if tier < bestTier || (tier == bestTier && CompareVersions(fl, flavourOf(cands[best])) > 0) {
			best, bestTier = i, tier
		}
	}
	if best >= 0 {
		how := "highest CUDA flavour the driver (%s) supports whose GPU code covers every visible GPU"
		if bestTier == 1 {
			how = "highest CUDA flavour that runs on the driver (%s) through minor-version compatibility and covers every visible GPU"
		}
		return best, fmt.Sprintf("%s: "+how, cands[best].Version, h.CUDA.DriverVersion), nil
	}
	why := "host has no NVIDIA driver"
	if h.CUDA != nil {
		why = strings.Join(skipped, "; ")
	}
	if cpu >= 0 {
		return cpu, fmt.Sprintf("%s: CPU build, no CUDA flavour fits (%s)", cands[cpu].Version, why), nil
	}
	return -1, "", fmt.Errorf("%w: no CUDA flavour fits (%s) and no CPU build is accepted", ErrNoFlavour, why)
}

// gpuUnfit says why a CUDA build does not fit the host under auto, "" if it does.
func gpuUnfit(fp *Fingerprint, h *Host, v Verdict) string {
	if h.CUDA == nil {
		return "no NVIDIA driver"
	}
	if v.Refused() {
		return "refused: " + firstMessage(v)
	}
	for _, f := range v.Findings {
		switch f.Code {
		case CodeCUDADriver, CodeGPUArch, CodeNoGPU:
			return f.Message
		}
	}
	return ""
}

func firstMessage(v Verdict) string {
	for _, s := range []Severity{Incompatible, Risk} {
		for _, f := range v.Findings {
			if f.Severity == s {
				return f.Message
			}
		}
	}
	return string(v.Verdict)
}
