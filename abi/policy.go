package abi

import (
	"fmt"
	"strings"
)

// Policy says what a verdict does with findings: strict_abi refuses
// incompatible and risk findings, warn_abi (the default) refuses
// incompatible ones and warns on risks, allow_abi warns on incompatible ones
// and accepts risks (recorded).
type Policy string

const (
	StrictABI Policy = "strict_abi" // incompatible → refuse, risk → refuse
	WarnABI   Policy = "warn_abi"   // incompatible → refuse, risk → warn (default)
	AllowABI  Policy = "allow_abi"  // incompatible → warn, risk → accept (recorded)
)

// DefaultPolicy applies when neither --abi-policy nor the environment sets one.
const DefaultPolicy = WarnABI

// Policies lists the valid policies in order of strictness.
var Policies = []Policy{StrictABI, WarnABI, AllowABI}

// An Outcome is what a verdict decides: Accept, Warn or Refuse.
type Outcome string

// The outcomes, in order of severity.
const (
	Accept Outcome = "accept"
	Warn   Outcome = "warn"
	Refuse Outcome = "refuse"
)

// ParsePolicy validates a policy name; the error lists the valid values.
func ParsePolicy(s string) (Policy, error) {
	for _, p := range Policies {
		if string(p) == s {
			return p, nil
		}
	}
	names := make([]string, len(Policies))
	for i, p := range Policies {
		names[i] = string(p)
	}
	return "", fmt.Errorf("abi policy %q: want one of %s", s, strings.Join(names, ", "))
}

// Verdict is the decision for one wheel on one host under one policy.
// Findings are all of them, including those the policy accepts.
type Verdict struct {
	Host     string    `json:"host"`
	Policy   Policy    `json:"policy"`
	Verdict  Outcome   `json:"verdict"`
	Findings []Finding `json:"findings"`
}

// FindingCodes are the distinct codes of fs that can change a verdict (not
// Info), in the order found; never nil. Reports list them per wheel and
// host.
func FindingCodes(fs []Finding) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, f := range fs {
		if f.Severity != Info && !seen[f.Code] {
			seen[f.Code] = true
			out = append(out, f.Code)
		}
	}
	return out
}

// Refused reports whether the verdict is refuse.
func (v Verdict) Refused() bool { return v.Verdict == Refuse }

// Decide maps findings to a verdict under policy p. An unknown policy is read
// as DefaultPolicy. Info findings never change the verdict.
func Decide(host string, p Policy, findings []Finding) Verdict {
	if _, err := ParsePolicy(string(p)); err != nil {
		p = DefaultPolicy
	}
	v := Verdict{Host: host, Policy: p, Verdict: Accept, Findings: append([]Finding{}, findings...)}
	rank := map[Outcome]int{Accept: 0, Warn: 1, Refuse: 2}
	for _, f := range findings {
		out := outcome(p, f.Severity)
		if rank[out] > rank[v.Verdict] {
			v.Verdict = out
		}
	}
	return v
}

func outcome(p Policy, s Severity) Outcome {
	switch s {
	case Incompatible:
		if p == AllowABI {
			return Warn
		}
		return Refuse
	case Risk:
		switch p {
		case StrictABI:
			return Refuse
		case WarnABI:
			return Warn
		}
	}
	return Accept
}

// Evaluate checks fp against h and decides under p: Check followed by Decide,
// with the host's name.
func Evaluate(fp *Fingerprint, h *Host, p Policy, opts CheckOptions) Verdict {
	return Decide(h.Name, p, Check(fp, h, opts))
}
