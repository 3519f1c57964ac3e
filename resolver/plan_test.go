package resolver

// Plan scenarios live in testdata/plan/*.txt, one per file, in this line
// format (blank lines and lines starting with # are ignored; the first
// comment says what the scenario shows):
//
//	python X.Y.Z                the interpreter's version (default 3.12.1)
//	env KEY=VALUE...            marker variables; may repeat
//	pre                         dependencies may take pre-releases (pip --pre)
//	no-deps                     do not follow Requires-Dist (pip --no-deps)
//	constraint REQ              a -c constraint; may repeat
//	request REQ                 a requirement the user named (active); may repeat
//	build NAME VERSION [python=SPEC] [refused=WHY] [unreadable] [requires REQ]
//	                            a build the candidates hold, listed in the
//	                            order the source returns them; "refused" makes
//	                            Admit turn it down, "unreadable" makes
//	                            Metadata fail; "requires" takes the rest of the
//	                            line as one Requires-Dist
//	  requires REQ              an indented line: a further Requires-Dist of
//	                            the previous build
//	want-requested SPEC...      the plan's requested specs, in order
//	want-deps SPEC...           the plan's dependency specs, in order
//	want-reason TEXT            the exact reason the plan is incomplete; without
//	                            it the plan must be complete

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/forge-ml/forge/wheel"
)

type fakeBuild struct {
	build      Build
	meta       BuildMetadata
	refused    string
	unreadable bool
}

// fakeCandidates is Candidates over a scenario's build lines.
type fakeCandidates struct {
	builds []*fakeBuild
}

func (f *fakeCandidates) Builds(name, version string) ([]Build, error) {
	var out []Build
	for _, b := range f.builds {
		if b.build.NormName != wheel.NormalizeName(name) {
			continue
		}
		if version == "" || b.build.Version == version || strings.HasPrefix(b.build.Version, version+"+") {
			out = append(out, b.build)
		}
	}
	return out, nil
}

func (f *fakeCandidates) find(b Build) *fakeBuild {
	for _, fb := range f.builds {
		if fb.build.ID == b.ID {
			return fb
		}
	}
	panic("planner passed a build the source never listed: " + b.ID)
}

func (f *fakeCandidates) Metadata(b Build) (BuildMetadata, error) {
	fb := f.find(b)
	if fb.unreadable {
		return BuildMetadata{}, fmt.Errorf("METADATA of %s is unreadable", b.ID)
	}
	return fb.meta, nil
}

// Admit takes the first build not refused, as a flavour choice would.
func (f *fakeCandidates) Admit(name, version string, builds []Build) (int, string) {
	var why []string
	for i, b := range builds {
		fb := f.find(b)
		if fb.refused == "" {
			return i, ""
		}
		why = append(why, fb.refused)
	}
	return -1, fmt.Sprintf("no build of %s==%s is accepted on the test host (%s)", name, version, strings.Join(why, ", "))
}

type planScenario struct {
	src                   fakeCandidates
	req                   PlanRequest
	requested, deps       []string
	reason                string
	hasRequested, hasDeps bool
}

func parsePlanScenario(t *testing.T, file string) planScenario {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sc := planScenario{req: PlanRequest{Python: "3.12.1", Env: MarkerEnv{Vars: map[string]string{}}}}
	var last *fakeBuild
	for n, line := range strings.Split(string(data), "\n") {
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s:%d: %s: %s", file, n+1, strings.TrimSpace(line), fmt.Sprintf(format, args...))
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			rest, ok := strings.CutPrefix(trimmed, "requires ")
			if !ok || last == nil {
				fail("an indented line is \"requires REQ\" after a build")
			}
			last.meta.RequiresDist = append(last.meta.RequiresDist, strings.TrimSpace(rest))
			continue
		}
		verb, rest, _ := strings.Cut(trimmed, " ")
		rest = strings.TrimSpace(rest)
		switch verb {
		case "python":
			sc.req.Python = rest
		case "env":
			for _, kv := range strings.Fields(rest) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					fail("want KEY=VALUE")
				}
				sc.req.Env.Vars[k] = v
			}
		case "pre":
			sc.req.Pre = true
		case "no-deps":
			sc.req.NoDeps = true
		case "constraint":
			r, err := ParseRequirement(rest)
			if err != nil {
				fail("%v", err)
			}
			sc.req.Constraints = append(sc.req.Constraints, r)
		case "request":
			r, err := ParseRequirement(rest)
			if err != nil {
				fail("%v", err)
			}
			sc.req.Roots = append(sc.req.Roots, PlanRoot{Raw: rest, Req: r})
		case "build":
			last = parseBuildLine(rest, len(sc.src.builds), fail)
			sc.src.builds = append(sc.src.builds, last)
		case "want-requested":
			sc.requested, sc.hasRequested = strings.Fields(rest), true
		case "want-deps":
			sc.deps, sc.hasDeps = strings.Fields(rest), true
		case "want-reason":
			sc.reason = rest
		default:
			fail("unknown verb %q", verb)
		}
	}
	if sc.reason == "" && (!sc.hasRequested || !sc.hasDeps) {
		t.Fatalf("%s: a complete plan needs want-requested and want-deps", file)
	}
	return sc
}

func parseBuildLine(rest string, n int, fail func(string, ...any)) *fakeBuild {
	head, req, hasReq := strings.Cut(rest, " requires ")
	f := strings.Fields(head)
	if len(f) < 2 {
		fail("want build NAME VERSION")
	}
	fb := &fakeBuild{build: Build{Name: f[0], NormName: wheel.NormalizeName(f[0]), Version: f[1], ID: fmt.Sprintf("sha256:%02d", n)}}
	for _, kv := range f[2:] {
		switch k, v, _ := strings.Cut(kv, "="); k {
		case "python":
			fb.meta.RequiresPython = v
		case "refused":
			fb.refused = v
		case "unreadable":
			fb.unreadable = true
		default:
			fail("unknown build attribute %q", kv)
		}
	}
	if hasReq {
		fb.meta.RequiresDist = append(fb.meta.RequiresDist, strings.TrimSpace(req))
	}
	return fb
}

func TestPlanScenarios(t *testing.T) {
	runScenarios(t, "testdata/plan", 10, func(t *testing.T, file string) {
		sc := parsePlanScenario(t, file)
		plan, reason, err := PlanInstall(&sc.src, sc.req)
		if err != nil {
			t.Fatalf("PlanInstall: %v", err)
		}
		if reason != sc.reason {
			t.Errorf("reason\n got %q\nwant %q", reason, sc.reason)
		}
		if sc.reason != "" {
			if len(plan.Requested)+len(plan.Deps) != 0 {
				t.Errorf("incomplete plan has specs: %+v", plan)
			}
			return
		}
		if !slices.Equal(plan.Requested, sc.requested) {
			t.Errorf("requested %q, want %q", plan.Requested, sc.requested)
		}
		if !slices.Equal(plan.Deps, sc.deps) {
			t.Errorf("deps %q, want %q", plan.Deps, sc.deps)
		}
	})
}

// errCandidates fails every call: its error must come back as PlanInstall's
// error, not as a reason.
type errCandidates struct{}

func (errCandidates) Builds(string, string) ([]Build, error) {
	return nil, fmt.Errorf("database is locked")
}
func (errCandidates) Metadata(Build) (BuildMetadata, error) { return BuildMetadata{}, nil }
func (errCandidates) Admit(string, string, []Build) (int, string) {
	return 0, ""
}

func TestPlanInstallSourceError(t *testing.T) {
	r, _ := ParseRequirement("app==1.0")
	_, reason, err := PlanInstall(errCandidates{}, PlanRequest{Python: "3.12.1", Roots: []PlanRoot{{Raw: "app==1.0", Req: r}}})
	if err == nil || err.Error() != "database is locked" || reason != "" {
		t.Errorf("PlanInstall = %q, %v; want the source's error", reason, err)
	}
}

func TestGraphRoots(t *testing.T) {
	batch := []Node{
		{Normalized: "app", RequiresDist: []string{"lib>=1", "App[extra]", "not a requirement!"}},
		{Normalized: "lib", RequiresDist: []string{"core"}},
		{Normalized: "core"},
		{Normalized: "tool", RequiresDist: []string{"tool[cli]"}}, // requiring itself does not count
	}
	if got, want := GraphRoots(batch), []string{"app", "tool"}; !slices.Equal(got, want) {
		t.Errorf("GraphRoots = %q, want %q", got, want)
	}
}
