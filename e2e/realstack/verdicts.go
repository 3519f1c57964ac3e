package realstack

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/forge-ml/forge/internal/pyname"
)

// Expectation is one cell of testdata/verdicts.txt after defaults ("*")
// and overrides are applied.
type Expectation struct {
	Wheel, Profile, Verdict string
	Must, MustNot           []string // finding codes
	Line                    int      // where in verdicts.txt it was decided
}

// ParseExpectations reads verdicts.txt for the given profile names. Lines
// apply in order; a later line for the same wheel and profile replaces an
// earlier one ("*" stands for every profile; a comma-separated list for
// each one named).
func ParseExpectations(path string, profiles []string) (map[[2]string]Expectation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[[2]string]Expectation{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 4 {
			return nil, fmt.Errorf("%s:%d: want 4 fields (wheel profile verdict codes), have %d", path, n, len(fs))
		}
		switch fs[2] {
		case "accept", "warn", "refuse":
		default:
			return nil, fmt.Errorf("%s:%d: verdict %q is not accept, warn or refuse", path, n, fs[2])
		}
		e := Expectation{Wheel: pyname.Normalize(fs[0]), Verdict: fs[2], Line: n}
		if fs[3] != "-" {
			for _, c := range strings.Split(fs[3], ",") {
				if m, ok := strings.CutPrefix(c, "!"); ok {
					e.MustNot = append(e.MustNot, m)
				} else {
					e.Must = append(e.Must, c)
				}
			}
		}
		targets := strings.Split(fs[1], ",")
		if fs[1] == "*" {
			targets = profiles
		}
		for _, p := range targets {
			if !contains(profiles, p) {
				return nil, fmt.Errorf("%s:%d: no profile %q", path, n, p)
			}
		}
		for _, p := range targets {
			e.Profile = p
			out[[2]string{e.Wheel, p}] = e
		}
	}
	return out, sc.Err()
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// ProfileNames lists the *.json host profiles in dir by file name.
func ProfileNames(dir string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range m {
		out = append(out, strings.TrimSuffix(filepath.Base(p), ".json"))
	}
	sort.Strings(out)
	return out, nil
}

// Got is forge's verdict for one wheel on one host.
type Got struct {
	Verdict  string
	Codes    []string
	Messages []string
}

// CheckReport is the part of `forge abi check --json` these oracles read
// (a stable JSON contract: per wheel name, version, verdicts with findings).
type CheckReport struct {
	Wheels []struct {
		Name     string `json:"name"`
		Verdicts []struct {
			Host     string    `json:"host"`
			Verdict  string    `json:"verdict"`
			Findings []finding `json:"findings"`
		} `json:"verdicts"`
	} `json:"wheels"`
}

// ThisMachine is the host name given to this machine's profile in
// ForgeCheck: the loader oracle compares with ldd run here.
const ThisMachine = "this-machine"

// ForgeCheck runs `forge abi check --json` once on all wheels together (as
// pip installs torch with its nvidia-*-cu12 requirements) against every
// profile in profilesDir plus this machine (`forge probe --json --python
// PY`, named ThisMachine): fingerprinting the 3.5 GB corpus is most of the
// cost, so every oracle shares one run. Exit status 3 (some verdict is
// refuse) is an answer, not an error.
func ForgeCheck(ctx context.Context, forge, work, profilesDir, python string, wheels []string) (*CheckReport, error) {
	home := filepath.Join(work, "check-home")
	dir := filepath.Join(work, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	names, err := ProfileNames(profilesDir)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(profilesDir, n+".json"))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, n+".json"), data, 0o644); err != nil {
			return nil, err
		}
	}
	probed, err := forgeJSON(ctx, forge, home, "probe", "--json", "--python", python)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(probed, &doc); err != nil {
		return nil, fmt.Errorf("forge probe --json: %v", err)
	}
	doc["name"] = ThisMachine
	data, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, ThisMachine+".json"), data, 0o644); err != nil {
		return nil, err
	}
	out, err := forgeJSON(ctx, forge, home, append([]string{"abi", "check", "--json", "--host-profile", dir}, wheels...)...)
	if err != nil {
		return nil, err
	}
	var rep CheckReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, fmt.Errorf("forge abi check --json: %v: %.300s", err, out)
	}
	return &rep, nil
}

// Verdicts is wheel name × host → verdict of a ForgeCheck report.
func (rep *CheckReport) Verdicts() map[[2]string]Got {
	got := map[[2]string]Got{}
	for _, w := range rep.Wheels {
		for _, v := range w.Verdicts {
			g := Got{Verdict: v.Verdict}
			for _, f := range v.Findings {
				g.Codes = append(g.Codes, f.Code)
				g.Messages = append(g.Messages, f.Severity+" "+f.Code+": "+f.Message)
			}
			// forge names a wheel as its file does (nvidia_cublas_cu12);
			// verdicts.txt as PyPI does: compare normalised names.
			got[[2]string{pyname.Normalize(w.Name), v.Host}] = g
		}
	}
	return got
}

// Missing is file → sonames of the missing_library findings for host.
func (rep *CheckReport) Missing(host string) map[string]map[string]bool {
	got := map[string]map[string]bool{}
	for _, w := range rep.Wheels {
		for _, v := range w.Verdicts {
			if v.Host == host {
				missingByFile(v.Findings, got)
			}
		}
	}
	return got
}

// VerdictResult is one wheel × profile comparison.
type VerdictResult struct {
	Expectation
	Got   Got
	Found bool // forge reported this wheel × host at all
	Why   []string
}

func (r VerdictResult) Agree() bool { return len(r.Why) == 0 }

// CompareVerdicts judges every expected cell; a cell forge did not report is
// a disagreement.
func CompareVerdicts(want map[[2]string]Expectation, got map[[2]string]Got) []VerdictResult {
	var out []VerdictResult
	for k, e := range want {
		g, ok := got[k]
		r := VerdictResult{Expectation: e, Got: g, Found: ok}
		switch {
		case !ok:
			r.Why = append(r.Why, "forge reported no verdict")
		default:
			if g.Verdict != e.Verdict {
				r.Why = append(r.Why, fmt.Sprintf("verdict %s, want %s", g.Verdict, e.Verdict))
			}
			for _, c := range e.Must {
				if !contains(g.Codes, c) {
					r.Why = append(r.Why, "no "+c)
				}
			}
			for _, c := range e.MustNot {
				if contains(g.Codes, c) {
					r.Why = append(r.Why, "has "+c)
				}
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Wheel != out[j].Wheel {
			return out[i].Wheel < out[j].Wheel
		}
		return out[i].Profile < out[j].Profile
	})
	return out
}

// VerdictTable is one line per disagreeing cell: what was expected (and
// from which line of verdicts.txt), what forge said, and forge's findings.
func VerdictTable(rs []VerdictResult) string {
	var b strings.Builder
	for _, r := range rs {
		if r.Agree() {
			continue
		}
		fmt.Fprintf(&b, "%-26s %-30s want %-6s (verdicts.txt:%d) got %-6s: %s\n", r.Wheel, r.Profile, r.Verdict, r.Line, r.Got.Verdict, strings.Join(r.Why, "; "))
		for _, m := range r.Got.Messages {
			fmt.Fprintf(&b, "      %.220s\n", m)
		}
	}
	return b.String()
}
