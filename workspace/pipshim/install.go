package pipshim

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/internal/progress"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/wheel"
	"github.com/forge-ml/forge/workspace"
)

// InstallOptions are the inputs of Install.
type InstallOptions struct {
	Env string
	// Args are pip install's arguments, verbatim: requirements, -r and -c
	// files, index options, extras, markers.
	Args []string
	// Dir is the directory relative paths in Args are read from ("" = the
	// process's working directory); pip runs there too.
	Dir string
	// Python is the interpreter whose pip resolves; "" = the environment's
	// own when it can import pip, else its base interpreter. It must be the
	// environment's Python X.Y: pip resolves markers and tags for itself.
	Python   string
	Policy   string // as InstallOptions.Policy
	LinkMode string // as InstallOptions.LinkMode
	GPU      string // as InstallOptions.GPU
	// PipOutput, when set, receives pip's output as it runs; it is always
	// captured too, for PipError.
	PipOutput io.Writer
}

// PackageReport is one package of a pip install report.
type PackageReport struct {
	workspace.PackageReport
	// Requested: named by the user (not only a dependency); the .dist-info
	// holds REQUESTED.
	Requested bool `json:"requested"`
	// Warnings are the findings that are not informational, as "code: message".
	Warnings []string `json:"warnings"`
}

// InstallReport is what Install did.
type InstallReport struct {
	Env    string `json:"env"`
	Host   string `json:"host"`
	Policy string `json:"policy"`
	// PipRan is false when every package came from the store (the fast path).
	PipRan bool `json:"pip_ran"`
	// PipReason says why pip had to run ("" when it did not).
	PipReason  string          `json:"pip_reason,omitempty"`
	PipCommand []string        `json:"pip_command,omitempty"`
	Requested  []string        `json:"requested"` // normalised names
	Packages   []PackageReport `json:"packages"`
}

// Warned reports whether any package was admitted with a warn verdict.
func (r *InstallReport) Warned() bool { return slices.ContainsFunc(r.Packages, PackageReport.Warned) }

// Install is the report in Install's shape, for printing.
func (r *InstallReport) Install() *workspace.InstallReport {
	out := &workspace.InstallReport{Env: r.Env, Host: r.Host, Policy: r.Policy}
	for _, p := range r.Packages {
		out.Packages = append(out.Packages, p.PackageReport)
	}
	return out
}

// Install installs what pip would install for Args into an environment.
//
// When every requested requirement is pinned with == and the store already
// holds an accepted build of it and of everything it requires (markers and
// extras evaluated for the environment), pip does not run and the store
// entries are linked. Otherwise the interpreter's pip resolves the
// arguments and builds or downloads every wheel (`pip wheel`, so sdists are
// built) into a staging directory under $FORGE_HOME/tmp; forge ingests,
// checks and links them. A refused package stops everything before anything
// is linked (the error wraps abi.ErrIncompatible and the report says why);
// pip's failure is a *PipError. Dependencies that the pins do not fix take
// the highest version in the store that every requirement accepts, which
// may be older than what pip would fetch from an index. The gc lock is held
// shared from planning to the last link.
//
// The operation is recorded in the environment's history (see History).
func Install(ctx context.Context, w *workspace.Workspace, o InstallOptions) (*InstallReport, error) {
	op, err := w.BeginLayerOp(ctx, o.Env, false, "pip", append([]string{"install", "--env", o.Env}, o.Args...))
	if err != nil {
		return nil, err
	}
	rep, err := pipInstall(ctx, w, o)
	op.Done(ctx, err)
	return rep, err
}

func pipInstall(ctx context.Context, w *workspace.Workspace, o InstallOptions) (*InstallReport, error) {
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	req, err := parsePipArgs(o.Args, dir)
	if err != nil {
		return nil, err
	}
	e, err := w.OpenUsableEnv(ctx, o.Env)
	if err != nil {
		return nil, err
	}
	pipPy, err := w.PipInterpreter(e, o.Python)
	if err != nil {
		return nil, err
	}
	menv := workspace.MarkerEnvFor(e.Py, workspace.HostUname())
	req.activate(menv)
	policy, _, err := w.InstallSettings(e, workspace.InstallOptions{Policy: o.Policy, LinkMode: o.LinkMode})
	if err != nil {
		return nil, err
	}
	prog := progress.From(ctx)
	st := prog.Phase("probe")
	host, err := w.HostFor(e)
	st.Done("")
	if err != nil {
		return nil, err
	}
	rep := &InstallReport{Env: e.Name, Host: workspace.HostName(host), Policy: string(policy), Requested: req.requestedNames(), Packages: []PackageReport{}}

	// Held from the plan (or the ingest) until everything is linked, so gc
	// cannot collect an entry in between; Install takes it shared too.
	gcLock, err := w.Store.LockGC(ctx, false, w.Waiting("the store (gc running)"))
	if err != nil {
		return nil, err
	}
	defer gcLock.Unlock()
	st = prog.Phase("resolve")
	plan, reason, err := planFromStore(ctx, w, e, req, host, policy, o.GPU, menv)
	st.Done("from the store")
	if err != nil {
		return nil, err
	}
	if reason == "" {
		w.Logf("every requirement is pinned and in the store: pip not run")
		return rep, pipLink(ctx, w, o, rep, plan.deps, plan.requested, nil)
	}
	rep.PipRan, rep.PipReason = true, reason
	w.Logf("running pip: %s", reason)

	tmp := filepath.Join(w.Home, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	staging, err := os.MkdirTemp(tmp, "pip-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(staging)
	argv := append([]string{pipPy, "-m", "pip", "wheel", "--disable-pip-version-check", "--wheel-dir", staging}, req.wheelArgs...)
	rep.PipCommand = argv
	st = prog.Phase("pip")
	err = workspace.RunPip(ctx, argv, dir, o.PipOutput)
	st.Done("")
	if err != nil {
		return rep, err
	}
	wheels, err := filepath.Glob(filepath.Join(staging, "*.whl"))
	if err != nil {
		return rep, err
	}
	if len(wheels) == 0 {
		return rep, fmt.Errorf("pip produced no wheels in %s", staging)
	}
	sort.Strings(wheels)
	return rep, pipIngest(ctx, w, e, o, rep, req, wheels, host, policy)
}

// pipIngest ingests the wheels pip produced, checks all of them before any
// is linked, and links dependencies, then the requested packages.
func pipIngest(ctx context.Context, w *workspace.Workspace, e *workspace.Env, o InstallOptions, rep *InstallReport, req *pipRequest, wheels []string, host *abi.Host, policy abi.Policy) error {
	var cands []*store.Entry
	fresh := map[string]bool{} // entries this run added to the store
	prog := progress.From(ctx)
	st := prog.Phase("ingest")
	var ingested []*store.IngestResult
	for _, p := range wheels {
		res, err := w.Store.Ingest(ctx, p)
		if err != nil {
			st.Done("failed")
			return fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
		fresh[res.Entry.SHA256] = !res.Reused
		cands = append(cands, res.Entry)
		ingested = append(ingested, res)
	}
	st.Done(workspace.IngestSummary(ingested))
	st = prog.Phase("abi check")
	defer func() { st.Done(workspace.CountOf(len(cands), "package")) }()
	provided, err := w.ProvidedLibs(ctx, e, cands)
	if err != nil {
		return err
	}
	requested := req.requestedSet()
	if len(req.unknown) > 0 {
		// Paths and URLs name no project: what nothing else requires was asked for.
		for _, n := range graphRoots(w, cands) {
			requested[n] = true
		}
	}
	_, mode, err := w.InstallSettings(e, workspace.InstallOptions{Policy: o.Policy, LinkMode: o.LinkMode})
	if err != nil {
		return err
	}
	var refused []string
	var deps, top []string
	var checked []PackageReport
	for _, en := range cands {
		v := abi.Evaluate(&en.Fingerprint, host, policy, provided)
		pr := workspace.PackageReport{Name: en.Name, Version: en.Version, Entry: en.SHA256, Reused: !fresh[en.SHA256], ReuseKind: workspace.ReuseNone,
			Layer: workspace.LayerLabel(e.Name), LinkMode: string(mode), Verdict: v.Verdict, Findings: v.Findings}
		if pr.Reused {
			pr.ReuseKind = workspace.ReuseExact
		}
		checked = append(checked, pipPackage(pr, requested[en.NormName]))
		if v.Refused() {
			refused = append(refused, fmt.Sprintf("%s %s (%s)", en.Name, en.Version, workspace.Codes(v.Findings)))
		}
		if requested[en.NormName] {
			top = append(top, wheelOf(wheels, en))
		} else {
			deps = append(deps, wheelOf(wheels, en))
		}
	}
	if len(refused) > 0 {
		rep.Packages = checked
		sortPipPackages(rep.Packages)
		return fmt.Errorf("%s refused on %s under %s; nothing was linked: %w", strings.Join(refused, ", "), workspace.HostName(host), policy, abi.ErrIncompatible)
	}
	st.Done(workspace.CountOf(len(cands), "package"))
	return pipLink(ctx, w, o, rep, deps, top, fresh)
}

func wheelOf(wheels []string, en *store.Entry) string {
	for _, p := range wheels {
		if filepath.Base(p) == en.Filename {
			return p
		}
	}
	return filepath.Join(filepath.Dir(wheels[0]), en.Filename)
}

// pipLink installs deps (not requested) and then top (requested); specs are
// wheel files or NAME==VERSION. fresh, when not nil, says which entries this
// run ingested, since the wheels were ingested before Install saw them.
func pipLink(ctx context.Context, w *workspace.Workspace, o InstallOptions, rep *InstallReport, deps, top []string, fresh map[string]bool) error {
	for _, batch := range []struct {
		specs     []string
		requested bool
	}{{deps, false}, {top, true}} {
		if len(batch.specs) == 0 {
			continue
		}
		r, err := w.InstallUnrecorded(ctx, workspace.InstallOptions{Env: o.Env, Specs: batch.specs, LinkMode: o.LinkMode, Policy: o.Policy, GPU: o.GPU, NotRequested: !batch.requested})
		if r != nil {
			rep.Host, rep.Policy = r.Host, r.Policy
			for _, p := range r.Packages {
				if isNew, ok := fresh[p.Entry]; ok {
					p.Reused = !isNew
					p.ReuseKind = workspace.ReuseNone
					if p.Reused {
						p.ReuseKind = workspace.ReuseExact
					}
				}
				rep.Packages = append(rep.Packages, pipPackage(p, batch.requested))
			}
		}
		if err != nil {
			sortPipPackages(rep.Packages)
			return err
		}
	}
	sortPipPackages(rep.Packages)
	return nil
}

func pipPackage(p workspace.PackageReport, requested bool) PackageReport {
	if p.Findings == nil {
		p.Findings = []abi.Finding{}
	}
	out := PackageReport{PackageReport: p, Requested: requested, Warnings: []string{}}
	for _, f := range p.Findings {
		if f.Severity != abi.Info {
			out.Warnings = append(out.Warnings, f.Code+": "+f.Message)
		}
	}
	return out
}

func sortPipPackages(ps []PackageReport) {
	sort.SliceStable(ps, func(i, j int) bool { return wheel.NormalizeName(ps[i].Name) < wheel.NormalizeName(ps[j].Name) })
}
