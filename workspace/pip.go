package workspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/store"
)

// PipInstallOptions are the inputs of PipInstall.
type PipInstallOptions struct {
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

// PipPackageReport is one package of a pip install report.
type PipPackageReport struct {
	PackageReport
	// Requested: named by the user (not only a dependency); the .dist-info
	// holds REQUESTED.
	Requested bool `json:"requested"`
	// Warnings are the findings that are not informational, as "code: message".
	Warnings []string `json:"warnings"`
}

// PipInstallReport is what PipInstall did.
type PipInstallReport struct {
	Env    string `json:"env"`
	Host   string `json:"host"`
	Policy string `json:"policy"`
	// PipRan is false when every package came from the store (the fast path).
	PipRan bool `json:"pip_ran"`
	// PipReason says why pip had to run ("" when it did not).
	PipReason  string             `json:"pip_reason,omitempty"`
	PipCommand []string           `json:"pip_command,omitempty"`
	Requested  []string           `json:"requested"` // normalised names
	Packages   []PipPackageReport `json:"packages"`
}

// Warned reports whether any package was admitted with a warn verdict.
func (r *PipInstallReport) Warned() bool {
	for _, p := range r.Packages {
		if p.Verdict == abi.Warn {
			return true
		}
	}
	return false
}

// Install is the report in Install's shape, for printing.
func (r *PipInstallReport) Install() *InstallReport {
	out := &InstallReport{Env: r.Env, Host: r.Host, Policy: r.Policy}
	for _, p := range r.Packages {
		out.Packages = append(out.Packages, p.PackageReport)
	}
	return out
}

// PipError is pip failing: its output is shown to the user verbatim.
type PipError struct {
	Command  []string
	ExitCode int
	Output   string // stdout and stderr, interleaved as pip wrote them
	Err      error
}

func (e *PipError) Error() string {
	if e.ExitCode > 0 {
		return fmt.Sprintf("pip failed (exit status %d); nothing was installed", e.ExitCode)
	}
	return fmt.Sprintf("pip could not run: %v; nothing was installed", e.Err)
}

func (e *PipError) Unwrap() error { return e.Err }

// PipInstall installs what pip would install for Args into an environment.
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
func (w *Workspace) PipInstall(ctx context.Context, o PipInstallOptions) (*PipInstallReport, error) {
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
	e, err := w.OpenEnv(ctx, o.Env)
	if err != nil {
		return nil, err
	}
	pipPy, err := w.pipInterpreter(e, o.Python)
	if err != nil {
		return nil, err
	}
	menv := MarkerEnvFor(e.Py, hostUname())
	req.activate(menv)
	policy, _, err := w.installSettings(e, InstallOptions{Policy: o.Policy, LinkMode: o.LinkMode})
	if err != nil {
		return nil, err
	}
	host, err := w.hostFor(e)
	if err != nil {
		return nil, err
	}
	rep := &PipInstallReport{Env: e.Name, Host: hostName(host), Policy: string(policy), Requested: req.requestedNames(), Packages: []PipPackageReport{}}

	// Held from the plan (or the ingest) until everything is linked, so gc
	// cannot collect an entry in between; Install takes it shared too.
	gcLock, err := w.Store.LockFile(ctx, "gc", false, w.waiting("the store (gc running)"))
	if err != nil {
		return nil, err
	}
	defer gcLock.Unlock()
	plan, reason, err := w.planFromStore(ctx, e, req, host, policy, o.GPU, menv)
	if err != nil {
		return nil, err
	}
	if reason == "" {
		w.logf("every requirement is pinned and in the store: pip not run")
		return rep, w.pipLink(ctx, o, rep, plan.deps, plan.requested, nil)
	}
	rep.PipRan, rep.PipReason = true, reason
	w.logf("running pip: %s", reason)

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
	if err := runPip(ctx, argv, dir, o.PipOutput); err != nil {
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
	return rep, w.pipIngest(ctx, e, o, rep, req, wheels, host, policy)
}

// pipIngest ingests the wheels pip produced, checks all of them before any
// is linked, and links dependencies, then the requested packages.
func (w *Workspace) pipIngest(ctx context.Context, e *Env, o PipInstallOptions, rep *PipInstallReport, req *pipRequest, wheels []string, host *abi.Host, policy abi.Policy) error {
	var cands []candidate
	fresh := map[string]bool{} // entries this run added to the store
	for _, p := range wheels {
		res, err := w.Store.Ingest(ctx, p)
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
		fresh[res.Entry.SHA256] = !res.Reused
		cands = append(cands, candidate{entry: res.Entry})
	}
	provided, err := w.providedLibs(ctx, e, cands)
	if err != nil {
		return err
	}
	requested := req.requestedSet()
	if len(req.unknown) > 0 {
		// Paths and URLs name no project: what nothing else requires was asked for.
		for _, n := range w.graphRoots(cands) {
			requested[n] = true
		}
	}
	_, mode, err := w.installSettings(e, InstallOptions{Policy: o.Policy, LinkMode: o.LinkMode})
	if err != nil {
		return err
	}
	var refused []string
	var deps, top []string
	var checked []PipPackageReport
	for _, c := range cands {
		en := c.entry
		v := abi.Evaluate(&en.Fingerprint, host, policy, abi.CheckOptions{ProvidedLibs: provided})
		pr := PackageReport{Name: en.Name, Version: en.Version, Entry: en.SHA256, Reused: !fresh[en.SHA256], ReuseKind: ReuseNone,
			Layer: layerLabel(e.Name), LinkMode: string(mode), Verdict: v.Verdict, Findings: v.Findings}
		if pr.Reused {
			pr.ReuseKind = ReuseExact
		}
		checked = append(checked, pipPackage(pr, requested[en.NormName]))
		if v.Refused() {
			refused = append(refused, fmt.Sprintf("%s %s (%s)", en.Name, en.Version, codes(v.Findings)))
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
		return fmt.Errorf("%s refused on %s under %s; nothing was linked: %w", strings.Join(refused, ", "), hostName(host), policy, abi.ErrIncompatible)
	}
	return w.pipLink(ctx, o, rep, deps, top, fresh)
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
func (w *Workspace) pipLink(ctx context.Context, o PipInstallOptions, rep *PipInstallReport, deps, top []string, fresh map[string]bool) error {
	for _, batch := range []struct {
		specs     []string
		requested bool
	}{{deps, false}, {top, true}} {
		if len(batch.specs) == 0 {
			continue
		}
		r, err := w.Install(ctx, InstallOptions{Env: o.Env, Specs: batch.specs, LinkMode: o.LinkMode, Policy: o.Policy, GPU: o.GPU, NotRequested: !batch.requested})
		if r != nil {
			rep.Host, rep.Policy = r.Host, r.Policy
			for _, p := range r.Packages {
				if isNew, ok := fresh[p.Entry]; ok {
					p.Reused = !isNew
					p.ReuseKind = ReuseNone
					if p.Reused {
						p.ReuseKind = ReuseExact
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

func pipPackage(p PackageReport, requested bool) PipPackageReport {
	if p.Findings == nil {
		p.Findings = []abi.Finding{}
	}
	out := PipPackageReport{PackageReport: p, Requested: requested, Warnings: []string{}}
	for _, f := range p.Findings {
		if f.Severity != abi.Info {
			out.Warnings = append(out.Warnings, f.Code+": "+f.Message)
		}
	}
	return out
}

func sortPipPackages(ps []PipPackageReport) {
	sort.SliceStable(ps, func(i, j int) bool { return abi.NormalizeName(ps[i].Name) < abi.NormalizeName(ps[j].Name) })
}

// runPip runs pip, capturing its output for a PipError and copying it to
// live when set.
func runPip(ctx context.Context, argv []string, dir string, live io.Writer) error {
	var buf bytes.Buffer
	var out io.Writer = &buf
	if live != nil {
		out = io.MultiWriter(&buf, live)
	}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Dir = dir
	c.Stdout, c.Stderr = out, out
	err := c.Run()
	if err == nil {
		return nil
	}
	pe := &PipError{Command: argv, Output: buf.String(), Err: err}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		pe.ExitCode = ee.ExitCode()
	}
	return pe
}

// pipInterpreter is the interpreter whose pip resolves for e.
func (w *Workspace) pipInterpreter(e *Env, python string) (string, error) {
	if python != "" {
		exe, err := probe.FindPython(python)
		if err != nil {
			return "", fmt.Errorf("--python: %v: %w", err, ErrUsage)
		}
		py, err := w.Interp(exe)
		if err != nil {
			return "", fmt.Errorf("--python %s: %v: %w", python, err, ErrUsage)
		}
		if py.XY() != e.Py.XY() || py.Implementation != e.Py.Implementation {
			return "", fmt.Errorf("--python %s is %s %s, but environment %s runs %s %s: pip would resolve for the wrong interpreter: %w",
				python, py.ImplName, py.XY(), e.Name, e.Py.ImplName, e.Py.XY(), ErrUsage)
		}
		return exe, nil
	}
	sites := append([]string{e.Venv.SitePackages()}, w.layerSites(e)...)
	for _, s := range sites {
		if _, err := os.Stat(filepath.Join(s, "pip", "__init__.py")); err == nil {
			return e.Venv.Interpreter(), nil
		}
	}
	if e.Py.Packaging != "" {
		return e.Py.Executable, nil
	}
	for _, p := range []string{e.Py.BaseExecutable, e.Py.Real} {
		if p != "" {
			return p, nil
		}
	}
	return e.Py.Executable, nil
}

// pipReq is one requirement the user named, on the command line or in a
// requirements file.
type pipReq struct {
	raw    string
	source string // "command line" or the file
	req    resolver.Requirement
	active bool // its marker holds for the environment
}

// pipRequest is pip install's arguments as forge reads them.
type pipRequest struct {
	reqs        []pipReq
	constraints []resolver.Requirement
	// unknown are requirement arguments that name no project forge can
	// read (paths, URLs, archives): pip resolves them.
	unknown []string
	// wheelArgs are the arguments for `pip wheel`.
	wheelArgs []string
	noDeps    bool
	pre       bool
	// noFastPath says why the store alone cannot serve the request.
	noFastPath string
}

// pipValueOpts are pip options that take a value as the next argument.
var pipValueOpts = map[string]bool{
	"-r": true, "--requirement": true, "-c": true, "--constraint": true, "-e": true, "--editable": true,
	"-i": true, "--index-url": true, "--extra-index-url": true, "-f": true, "--find-links": true,
	"--trusted-host": true, "--only-binary": true, "--no-binary": true, "--platform": true,
	"--python-version": true, "--implementation": true, "--abi": true, "--upgrade-strategy": true,
	"--progress-bar": true, "--src": true, "-t": true, "--target": true, "--prefix": true, "--root": true,
	"--global-option": true, "--build-option": true, "--config-settings": true, "-C": true,
	"--log": true, "--log-file": true, "--proxy": true, "--retries": true, "--timeout": true,
	"--exists-action": true, "--cert": true, "--client-cert": true, "--cache-dir": true,
	"--root-user-action": true, "--report": true, "--use-feature": true, "--use-deprecated": true,
	"--keyring-provider": true, "-w": true, "--wheel-dir": true, "--install-option": true,
}

// pipShortWithValue are the short options pip accepts glued to their value ("-rreq.txt").
var pipShortWithValue = []string{"-r", "-c", "-e", "-i", "-f", "-t", "-C", "-w"}

// pipInstallOnly are pip install options with no meaning for `pip wheel`
// into a fresh staging directory; they are dropped (with their value).
var pipInstallOnly = map[string]bool{
	"-U": true, "--upgrade": true, "--force-reinstall": true, "-I": true, "--ignore-installed": true,
	"--no-warn-script-location": true, "--no-warn-conflicts": true, "--compile": true, "--no-compile": true,
	"--break-system-packages": true, "--upgrade-strategy": true, "--root-user-action": true,
}

// pipUnsupported are pip install options forge cannot honour.
var pipUnsupported = map[string]string{
	"--user":      "forge installs into environments, not the user site",
	"-t":          "forge installs into environments (--env), not a target directory",
	"--target":    "forge installs into environments (--env), not a target directory",
	"--prefix":    "forge installs into environments (--env), not a prefix",
	"--root":      "forge installs into environments (--env), not under a root",
	"-e":          "editable installs cannot live in forge's immutable store",
	"--editable":  "editable installs cannot live in forge's immutable store",
	"--dry-run":   "forge pip install has no dry run",
	"--report":    "forge pip install prints its own report (--json)",
	"-w":          "forge chooses the staging directory",
	"--wheel-dir": "forge chooses the staging directory",
}

// parsePipArgs splits pip install's arguments into requirements, options
// and `pip wheel` arguments; dir resolves relative file names.
func parsePipArgs(args []string, dir string) (*pipRequest, error) {
	p := &pipRequest{}
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "" {
			continue
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			p.wheelArgs = append(p.wheelArgs, a)
			p.addRequirement(a, "command line")
			continue
		}
		name, value, hasValue := splitPipOption(a)
		if why, ok := pipUnsupported[name]; ok {
			return nil, fmt.Errorf("pip option %s is not supported: %s: %w", name, why, ErrUsage)
		}
		takes := pipValueOpts[name]
		if takes && !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("pip option %s needs a value: %w", name, ErrUsage)
			}
			i++
			value, hasValue = args[i], true
		}
		if pipInstallOnly[name] {
			continue // its value, if any, was consumed above
		}
		if takes {
			p.wheelArgs = append(p.wheelArgs, name, value)
		} else {
			p.wheelArgs = append(p.wheelArgs, a)
		}
		switch name {
		case "-r", "--requirement":
			p.readFile(resolvePath(dir, value), false, seen)
		case "-c", "--constraint":
			p.readFile(resolvePath(dir, value), true, seen)
		case "--no-deps":
			p.noDeps = true
		case "--pre":
			p.pre = true
		case "--require-hashes":
			p.miss("hash checking (--require-hashes) is left to pip")
		}
	}
	return p, nil
}

// splitPipOption splits "--opt=value" and "-rvalue".
func splitPipOption(a string) (name, value string, ok bool) {
	if strings.HasPrefix(a, "--") {
		if n, v, found := strings.Cut(a, "="); found {
			return n, v, true
		}
		return a, "", false
	}
	for _, s := range pipShortWithValue {
		if strings.HasPrefix(a, s) && len(a) > len(s) {
			return s, strings.TrimPrefix(strings.TrimPrefix(a, s), "="), true
		}
	}
	return a, "", false
}

func resolvePath(dir, p string) string {
	if filepath.IsAbs(p) || strings.Contains(p, "://") {
		return p
	}
	return filepath.Join(dir, p)
}

func (p *pipRequest) miss(why string) {
	if p.noFastPath == "" {
		p.noFastPath = why
	}
}

// addRequirement records one requirement as written by the user.
func (p *pipRequest) addRequirement(s, source string) {
	r, err := resolver.ParseRequirement(s)
	if err != nil {
		if strings.HasSuffix(s, ".whl") {
			if wf, werr := abi.ParseWheelFilename(filepath.Base(s)); werr == nil {
				r = resolver.Requirement{Name: wf.Name, Normalized: abi.NormalizeName(wf.Name), URL: s}
				p.reqs = append(p.reqs, pipReq{raw: s, source: source, req: r})
				p.miss(s + " is a wheel file, not a pinned requirement")
				return
			}
		}
		p.unknown = append(p.unknown, s)
		p.miss(s + " names no project forge can look up (a path or URL)")
		return
	}
	p.reqs = append(p.reqs, pipReq{raw: s, source: source, req: r})
}

var envVarRe = regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)

// commentRe is pip's comment rule: '#' at the start or after whitespace.
var commentRe = regexp.MustCompile(`(^|\s+)#.*$`)

// readFile reads a requirements (or constraints) file as pip does: line
// continuations, comments, ${VAR}, nested -r/-c relative to the file. A file
// forge cannot read is left to pip, which reports it.
func (p *pipRequest) readFile(path string, constraint bool, seen map[string]bool) {
	if strings.Contains(path, "://") {
		p.miss("requirements file " + path + " is remote")
		if !constraint {
			p.unknown = append(p.unknown, path)
		}
		return
	}
	if seen[path] {
		return
	}
	seen[path] = true
	data, err := os.ReadFile(path)
	if err != nil {
		p.miss(fmt.Sprintf("cannot read %s: %v", path, err))
		return
	}
	dir := filepath.Dir(path)
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\\\n", "")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(commentRe.ReplaceAllString(line, ""))
		line = envVarRe.ReplaceAllStringFunc(line, func(m string) string { return os.Getenv(m[2 : len(m)-1]) })
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "-") {
			p.fileOption(line, dir, seen)
			continue
		}
		if req, opts, found := cutLineOptions(line); found {
			line = req
			if strings.Contains(opts, "--hash") {
				p.miss("hash checking (--hash) is left to pip")
			}
		}
		if constraint {
			r, err := resolver.ParseRequirement(line)
			if err != nil || r.URL != "" {
				p.miss("constraint " + line + " is not a plain version constraint")
				continue
			}
			p.constraints = append(p.constraints, r)
			continue
		}
		p.addRequirement(line, path)
	}
}

// cutLineOptions splits per-requirement options ("--hash=...") off a line.
var lineOptRe = regexp.MustCompile(`\s+--?[A-Za-z]`)

func cutLineOptions(line string) (req, opts string, found bool) {
	loc := lineOptRe.FindStringIndex(line)
	if loc == nil {
		return line, "", false
	}
	return strings.TrimSpace(line[:loc[0]]), strings.TrimSpace(line[loc[0]:]), true
}

func (p *pipRequest) fileOption(line, dir string, seen map[string]bool) {
	fields := strings.Fields(line)
	name, value, hasValue := splitPipOption(fields[0])
	if !hasValue && len(fields) > 1 {
		value, hasValue = fields[1], true
	}
	switch name {
	case "-r", "--requirement", "-c", "--constraint":
		if hasValue {
			p.readFile(resolvePath(dir, value), name == "-c" || name == "--constraint", seen)
		}
	case "-e", "--editable":
		// pip fails on it too (pip wheel builds a regular wheel): say so early.
		p.miss("editable requirement " + value)
		p.unknown = append(p.unknown, value)
	case "--require-hashes":
		p.miss("hash checking (--require-hashes) is left to pip")
	case "--pre":
		p.pre = true
	case "--no-deps":
		p.noDeps = true
	}
}

// activate evaluates the requirements' markers for the environment.
func (p *pipRequest) activate(env resolver.MarkerEnv) {
	for i := range p.reqs {
		p.reqs[i].active = p.reqs[i].req.Marker.Evaluate(env)
	}
}

func (p *pipRequest) requestedSet() map[string]bool {
	out := map[string]bool{}
	for _, r := range p.reqs {
		if r.active {
			out[r.req.Normalized] = true
		}
	}
	return out
}

func (p *pipRequest) requestedNames() []string {
	out := []string{}
	for n := range p.requestedSet() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// storePlan is what the fast path links: NAME==VERSION specs.
type storePlan struct {
	requested, deps []string
}

// planned is one package chosen from the store.
type planned struct {
	entry  *store.Entry
	spec   string // NAME==VERSION as Install will look it up
	extras map[string]bool
	top    bool
}

// planFromStore decides whether the store alone serves the request: every
// active requirement pinned with == (no wildcard), an accepted build of it
// in the store, and the same for everything its Requires-Dist needs
// (markers and extras evaluated for the environment; unpinned dependencies
// take the highest version in the store that satisfies every requirement
// and constraint). reason says why not; "" means plan is complete.
func (w *Workspace) planFromStore(ctx context.Context, e *Env, req *pipRequest, host *abi.Host, policy abi.Policy, gpu string, menv resolver.MarkerEnv) (plan storePlan, reason string, err error) {
	if req.noFastPath != "" {
		return plan, req.noFastPath, nil
	}
	pyVersion, verr := resolver.ParseVersion(e.Py.Version)
	if verr != nil {
		return plan, "interpreter version " + e.Py.Version + " is not PEP 440", nil
	}
	chosen := map[string]*planned{}
	var order, work []string
	metaCache := map[string]abi.Metadata{}
	meta := func(en *store.Entry) (abi.Metadata, error) {
		if m, ok := metaCache[en.SHA256]; ok {
			return m, nil
		}
		m, err := entryMetadata(w.Store.EntryDir(en.SHA256))
		if err == nil {
			metaCache[en.SHA256] = m
		}
		return m, err
	}
	// accept picks an accepted build among the entries of one version.
	accept := func(name, version string, spec resolver.SpecifierSet) (*store.Entry, string, error) {
		ents, err := w.Store.Find(ctx, name, version)
		if err != nil {
			return nil, "", err
		}
		var fps []*abi.Fingerprint
		var keep []*store.Entry
		for _, en := range ents {
			v, err := resolver.ParseVersion(en.Version)
			if err != nil || !spec.Contains(v, true) || !pipConstraintsAllow(req.constraints, en) {
				continue
			}
			m, err := meta(en)
			if err != nil || !pipPythonAllows(m.RequiresPython, pyVersion) {
				continue
			}
			keep, fps = append(keep, en), append(fps, &en.Fingerprint)
		}
		if len(keep) == 0 {
			return nil, fmt.Sprintf("%s==%s is not in the store", name, version), nil
		}
		g := gpu
		if g == "" {
			g = "auto"
		}
		idx, _, cerr := abi.ChooseFlavour(fps, host, policy, g)
		if cerr != nil || idx < 0 || abi.Evaluate(fps[idx], host, policy, abi.CheckOptions{}).Refused() {
			return nil, fmt.Sprintf("no build of %s==%s in the store is accepted on %s", name, version, hostName(host)), nil
		}
		return keep[idx], "", nil
	}
	addExtras := func(pl *planned, extras []string) bool {
		grew := false
		for _, x := range extras {
			x = abi.NormalizeName(x)
			if !pl.extras[x] {
				pl.extras[x], grew = true, true
			}
		}
		return grew
	}

	for _, r := range req.reqs {
		if !r.active {
			continue
		}
		version, ok := pinnedVersion(r.req)
		if !ok {
			return plan, fmt.Sprintf("%s is not pinned with ==", r.raw), nil
		}
		if pl, ok := chosen[r.req.Normalized]; ok {
			v, _ := resolver.ParseVersion(pl.entry.Version)
			if !r.req.Specifier.Contains(v, true) {
				return plan, fmt.Sprintf("%s and %s disagree", r.raw, pl.spec), nil
			}
			if addExtras(pl, r.req.Extras) {
				work = append(work, r.req.Normalized)
			}
			continue
		}
		en, why, err := accept(r.req.Name, version, r.req.Specifier)
		if err != nil || why != "" {
			return plan, why, err
		}
		pl := &planned{entry: en, spec: r.req.Name + "==" + version, extras: map[string]bool{}, top: true}
		addExtras(pl, r.req.Extras)
		chosen[r.req.Normalized] = pl
		order = append(order, r.req.Normalized)
		work = append(work, r.req.Normalized)
	}
	if len(order) == 0 {
		return plan, "no requirement applies to this environment", nil
	}
	for !req.noDeps && len(work) > 0 {
		n := work[0]
		work = work[1:]
		pl := chosen[n]
		m, err := meta(pl.entry)
		if err != nil {
			return plan, fmt.Sprintf("%s %s: cannot read its metadata: %v", pl.entry.Name, pl.entry.Version, err), nil
		}
		var extras []string
		for x := range pl.extras {
			extras = append(extras, x)
		}
		sort.Strings(extras)
		env := menv.WithExtras(extras...)
		for _, raw := range m.RequiresDist {
			dep, err := resolver.ParseRequirement(raw)
			if err != nil {
				return plan, fmt.Sprintf("%s declares %q, which forge cannot read", pl.entry.Name, raw), nil
			}
			if !dep.Marker.Evaluate(env) {
				continue
			}
			if dep.URL != "" {
				return plan, fmt.Sprintf("%s requires %s by URL", pl.entry.Name, raw), nil
			}
			if have, ok := chosen[dep.Normalized]; ok {
				v, _ := resolver.ParseVersion(have.entry.Version)
				if !dep.Specifier.Contains(v, true) {
					return plan, fmt.Sprintf("%s requires %s, but %s %s was chosen", pl.entry.Name, raw, have.entry.Name, have.entry.Version), nil
				}
				if addExtras(have, dep.Extras) {
					work = append(work, dep.Normalized)
				}
				continue
			}
			en, why, err := w.bestInStore(ctx, dep, req.pre, accept)
			if err != nil || why != "" {
				return plan, why, err
			}
			public, _, _ := strings.Cut(en.Version, "+")
			np := &planned{entry: en, spec: dep.Name + "==" + public, extras: map[string]bool{}}
			addExtras(np, dep.Extras)
			chosen[dep.Normalized] = np
			order = append(order, dep.Normalized)
			work = append(work, dep.Normalized)
		}
	}
	for _, n := range order {
		if pl := chosen[n]; pl.top {
			plan.requested = append(plan.requested, pl.spec)
		} else {
			plan.deps = append(plan.deps, pl.spec)
		}
	}
	return plan, "", nil
}

// bestInStore is the highest version in the store that satisfies dep and
// has an accepted build.
func (w *Workspace) bestInStore(ctx context.Context, dep resolver.Requirement, pre bool,
	accept func(name, version string, spec resolver.SpecifierSet) (*store.Entry, string, error)) (*store.Entry, string, error) {
	ents, err := w.Store.Find(ctx, dep.Name, "")
	if err != nil {
		return nil, "", err
	}
	var versions []resolver.Version
	seen := map[string]bool{}
	for _, en := range ents {
		public, _, _ := strings.Cut(en.Version, "+")
		v, err := resolver.ParseVersion(public)
		if err != nil || seen[public] || !dep.Specifier.Contains(v, pre) {
			continue
		}
		seen[public] = true
		versions = append(versions, v)
	}
	slices.SortFunc(versions, func(a, b resolver.Version) int { return resolver.Compare(b, a) })
	for _, v := range versions {
		public := publicString(ents, v)
		en, why, err := accept(dep.Name, public, dep.Specifier)
		if err != nil {
			return nil, "", err
		}
		if why == "" {
			return en, "", nil
		}
	}
	return nil, fmt.Sprintf("no accepted build satisfying %s is in the store", dep.String()), nil
}

// publicString is the spelling of public version v as the store records it.
func publicString(ents []*store.Entry, v resolver.Version) string {
	for _, en := range ents {
		public, _, _ := strings.Cut(en.Version, "+")
		if pv, err := resolver.ParseVersion(public); err == nil && resolver.Compare(pv, v) == 0 {
			return public
		}
	}
	return v.String()
}

// pinnedVersion is the version of an exact pin: one == clause without a
// wildcard, or ===.
func pinnedVersion(r resolver.Requirement) (string, bool) {
	specs := r.Specifier.Specifiers()
	if r.URL != "" || len(specs) != 1 {
		return "", false
	}
	s := specs[0]
	if (s.Op != "==" && s.Op != "===") || strings.HasSuffix(s.Operand, ".*") {
		return "", false
	}
	return s.Operand, true
}

func pipConstraintsAllow(cs []resolver.Requirement, en *store.Entry) bool {
	v, err := resolver.ParseVersion(en.Version)
	if err != nil {
		return false
	}
	for _, c := range cs {
		if c.Normalized == en.NormName && !c.Specifier.Contains(v, true) {
			return false
		}
	}
	return true
}

func pipPythonAllows(spec string, py resolver.Version) bool {
	if strings.TrimSpace(spec) == "" {
		return true
	}
	s, err := resolver.ParseSpecifierSet(spec)
	return err == nil && s.Contains(py, true)
}

// graphRoots are the batch's projects that no other project of the batch
// requires.
func (w *Workspace) graphRoots(cands []candidate) []string {
	required := map[string]bool{}
	for _, c := range cands {
		m, err := entryMetadata(w.Store.EntryDir(c.entry.SHA256))
		if err != nil {
			continue
		}
		for _, raw := range m.RequiresDist {
			if r, err := resolver.ParseRequirement(raw); err == nil && r.Normalized != c.entry.NormName {
				required[r.Normalized] = true
			}
		}
	}
	var out []string
	for _, c := range cands {
		if !required[c.entry.NormName] {
			out = append(out, c.entry.NormName)
		}
	}
	return out
}
