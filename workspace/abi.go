package workspace

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
)

// ABICheckOptions are the inputs of ABICheck.
type ABICheckOptions struct {
	// Targets are wheel files (*.whl), or NAME / NAME==VERSION of store
	// entries: every entry that matches (all builds and CUDA flavours).
	Targets []string
	// Hosts are the hosts to check against, in report order. Empty means the
	// workspace's Host when set, else this machine probed with Python.
	Hosts []*abi.Host
	// Python is the interpreter the probe describes when Hosts and the
	// workspace's Host are empty: a path, "X.Y", or "" for python3 on PATH.
	Python string
	// Policy decides the verdicts; "" is abi.DefaultPolicy.
	Policy abi.Policy
}

// ABISummary counts verdicts.
type ABISummary struct {
	Accept int `json:"accept"`
	Warn   int `json:"warn"`
	Refuse int `json:"refuse"`
}

func (s *ABISummary) add(verdict string) {
	switch verdict {
	case abi.Refuse:
		s.Refuse++
	case abi.Warn:
		s.Warn++
	default:
		s.Accept++
	}
}

// ABIWheel is one checked wheel: what it is, what it needs (Requires, the
// fingerprint) and a verdict per host.
type ABIWheel struct {
	Name     string           `json:"name"`
	Version  string           `json:"version"`
	Tags     []string         `json:"tags"`
	File     string           `json:"file,omitempty"`  // the wheel file checked
	Entry    string           `json:"entry,omitempty"` // the store entry checked (sha256)
	Requires *abi.Fingerprint `json:"requires"`
	Verdicts []abi.Verdict    `json:"verdicts"`
}

// ABICheckReport is what ABICheck found. Summary counts verdicts (one per
// wheel and host).
type ABICheckReport struct {
	Policy  abi.Policy `json:"policy"`
	Hosts   []string   `json:"hosts"`
	Wheels  []ABIWheel `json:"wheels"`
	Summary ABISummary `json:"summary"`
}

// ABICheck fingerprints each target — a wheel file read on the spot
// (nothing is written to the store), or the fingerprints stored with the
// matching store entries — and decides it for each host under the policy.
// The libraries every target ships count as provided to all of them, as if
// they were installed together. A target that cannot be read fails the
// whole check: errors wrap store.ErrNotFound (no such entry),
// store.ErrCorrupt (a damaged wheel), store.ErrInvalid (not a wheel) or
// ErrUsage (a bad target or policy).
func (w *Workspace) ABICheck(ctx context.Context, o ABICheckOptions) (*ABICheckReport, error) {
	policy, err := PolicyOr(o.Policy, "")
	if err != nil {
		return nil, err
	}
	if len(o.Targets) == 0 {
		return nil, fmt.Errorf("no wheel or package to check: %w", ErrUsage)
	}
	hosts := o.Hosts
	if len(hosts) == 0 {
		h := w.Host
		if h == nil {
			if h, err = probe.Host(probe.WithPython(o.Python), probe.WithCacheDir(filepath.Join(w.Home, "cache"))); err != nil {
				return nil, err
			}
		}
		hosts = []*abi.Host{h}
	}
	var wheels []ABIWheel
	seen := map[string]bool{}
	for _, t := range o.Targets {
		found, err := w.abiTarget(ctx, t)
		if err != nil {
			return nil, err
		}
		for _, wh := range found {
			key := wh.Entry
			if key == "" {
				key = "file:" + wh.File
			}
			if !seen[key] {
				seen[key] = true
				wheels = append(wheels, wh)
			}
		}
	}
	fps := make([]*abi.Fingerprint, len(wheels))
	for i := range wheels {
		fps[i] = wheels[i].Requires
	}
	provided := ShippedLibs(fps...)
	rep := &ABICheckReport{Policy: policy, Hosts: make([]string, len(hosts)), Wheels: wheels}
	for i, h := range hosts {
		rep.Hosts[i] = HostName(h)
	}
	for i := range rep.Wheels {
		wh := &rep.Wheels[i]
		for _, h := range hosts {
			v := abi.Evaluate(wh.Requires, h, policy, provided)
			v.Host = HostName(h)
			wh.Verdicts = append(wh.Verdicts, v)
			rep.Summary.add(v.Verdict)
		}
	}
	if rep.Wheels == nil {
		rep.Wheels = []ABIWheel{}
	}
	return rep, nil
}

// abiTarget resolves one ABICheck target.
func (w *Workspace) abiTarget(ctx context.Context, target string) ([]ABIWheel, error) {
	if strings.HasSuffix(target, ".whl") {
		fp, err := abi.FingerprintWheelContext(ctx, target)
		if err != nil {
			return nil, err
		}
		// Content that does not match RECORD is refused here as install
		// refuses it (exit 4): a verdict on it would describe other bytes.
		if err := store.VerifyWheel(ctx, target); err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(target)
		if err != nil {
			abs = target
		}
		return []ABIWheel{{Name: fp.Name, Version: fp.Version, Tags: fp.Tags, File: abs, Requires: fp}}, nil
	}
	name, version, _ := strings.Cut(target, "==")
	name, version = strings.TrimSpace(name), strings.TrimSpace(version)
	if name == "" || strings.ContainsAny(name, "<>=!~;[ ") || (strings.Contains(target, "==") && version == "") {
		return nil, fmt.Errorf("%q: give a wheel file (*.whl), NAME or NAME==VERSION of a package in the store: %w", target, ErrUsage)
	}
	entries, err := w.Store.Find(ctx, name, version)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		what := name
		if version != "" {
			what += "==" + version
		}
		return nil, fmt.Errorf("%s is not in the store (check its wheel file instead, or install it first): %w", what, store.ErrNotFound)
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].Version != entries[j].Version {
			return entries[i].Version < entries[j].Version
		}
		return entries[i].Filename < entries[j].Filename
	})
	out := make([]ABIWheel, 0, len(entries))
	for _, en := range entries {
		fp := en.Fingerprint
		out = append(out, ABIWheel{Name: en.Name, Version: en.Version, Tags: en.Tags, Entry: en.SHA256, Requires: &fp})
	}
	return out, nil
}

// ABIMatrixOptions are the inputs of ABIMatrix: Env, WheelsDir or Lock (one
// of them), and the profiles to check against.
type ABIMatrixOptions struct {
	// Env: the packages the environment sees (its own layer, its parents',
	// GLOBAL; the winner of each name), from their stored fingerprints.
	Env string
	// WheelsDir: every *.whl in the directory (not its subdirectories),
	// fingerprinted from the files; they count as installed together.
	WheelsDir string
	// Lock: every wheel of every package of a PEP 751 lock file, from the
	// store entries with their sha256 (see lockMatrixItems).
	Lock string
	// Profiles are host profile files or directories of *.json (see
	// LoadProfiles).
	Profiles []string
	// Policy: "" is the environment's abi_policy (Env), else the default.
	Policy abi.Policy
}

// ABIMatrixCell is one wheel's verdict on one host. Codes are the distinct
// finding codes, in the order found.
type ABIMatrixCell struct {
	Host     string        `json:"host"`
	Verdict  string        `json:"verdict"`
	Codes    []string      `json:"codes"`
	Findings []abi.Finding `json:"findings"`
}

// ABIMatrixRow is one wheel across the profiles.
type ABIMatrixRow struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	Entry   string          `json:"entry,omitempty"` // store entry (Env)
	Layer   string          `json:"layer,omitempty"` // LOCAL, a parent's name, GLOBAL (Env; Lock, when forge wrote it)
	File    string          `json:"file,omitempty"`  // wheel file (WheelsDir), its name (Lock)
	Cells   []ABIMatrixCell `json:"cells"`
}

// ABIMatrixReport is a table of verdicts: Rows (wheels) × Profiles (hosts,
// by name, in the order loaded; every row's cells follow it).
type ABIMatrixReport struct {
	Env       string         `json:"env,omitempty"`
	WheelsDir string         `json:"wheels_dir,omitempty"`
	Lock      string         `json:"lock,omitempty"`
	Policy    abi.Policy     `json:"policy"`
	Profiles  []string       `json:"profiles"`
	Rows      []ABIMatrixRow `json:"rows"`
	Summary   ABISummary     `json:"summary"`
	// NotCheckable are the locked wheels (Lock) without a verdict.
	NotCheckable []NotCheckable `json:"not_checkable,omitempty"`
}

// matrixItem is one row's input.
type matrixItem struct {
	row   ABIMatrixRow
	fp    *abi.Fingerprint
	entry *store.Entry // the store entry, when the row is one (Env, lock files)
}

// ABIMatrix decides every wheel of an environment, a directory or a lock file for every
// host profile given, under one policy. Each profile describes its target
// host entirely (its Python, libc, GPUs), whatever the environment's own
// interpreter is. Errors: ErrUsage (options, profiles, policy),
// store.ErrNotFound (no such environment, an empty directory, no lock
// file), lockfile's (a malformed lock), store.ErrCorrupt (a locked wheel's
// file that is not what the lock says), and those of FingerprintWheel as
// ABICheck maps them. Locked wheels it cannot check are in NotCheckable,
// not an error: the caller decides.
func (w *Workspace) ABIMatrix(ctx context.Context, o ABIMatrixOptions) (*ABIMatrixReport, error) {
	switch {
	case countSet(o.Env, o.WheelsDir, o.Lock) != 1:
		return nil, fmt.Errorf("give one of an environment, a directory of wheels or a lock file: %w", ErrUsage)
	case len(o.Profiles) == 0:
		return nil, fmt.Errorf("no host profiles to check against: %w", ErrUsage)
	}
	hosts, err := LoadProfiles(o.Profiles)
	if err != nil {
		return nil, err
	}
	rep := &ABIMatrixReport{Env: o.Env, Rows: []ABIMatrixRow{}}
	var items []matrixItem
	var provided abi.CheckOptions
	switch {
	case o.Env != "":
		items, provided, rep.Policy, err = w.envMatrixItems(ctx, o.Env, o.Policy)
	case o.Lock != "":
		if rep.Policy, err = PolicyOr(o.Policy, ""); err == nil {
			rep.Lock, _ = filepath.Abs(o.Lock)
			items, provided, rep.NotCheckable, err = w.lockMatrixItems(ctx, o.Lock)
		}
	default:
		if rep.Policy, err = PolicyOr(o.Policy, ""); err == nil {
			rep.WheelsDir, _ = filepath.Abs(o.WheelsDir)
			items, provided, err = dirMatrixItems(ctx, o.WheelsDir)
		}
	}
	if err != nil {
		return nil, err
	}
	for _, h := range hosts {
		rep.Profiles = append(rep.Profiles, HostName(h))
	}
	for _, it := range items {
		row := it.row
		for _, h := range hosts {
			v := abi.Evaluate(it.fp, h, rep.Policy, provided)
			row.Cells = append(row.Cells, ABIMatrixCell{Host: HostName(h), Verdict: v.Verdict, Codes: findingCodes(v.Findings), Findings: v.Findings})
			rep.Summary.add(v.Verdict)
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

func findingCodes(fs []abi.Finding) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, f := range fs {
		if f.Severity == abi.Info || seen[f.Code] {
			continue
		}
		seen[f.Code] = true
		out = append(out, f.Code)
	}
	return out
}

// envMatrixItems are the packages env sees, nearest layer winning, sorted
// by name; provided are the libraries all its layers ship.
func (w *Workspace) envMatrixItems(ctx context.Context, name string, p abi.Policy) ([]matrixItem, abi.CheckOptions, abi.Policy, error) {
	e, err := w.OpenEnv(ctx, name)
	if err != nil {
		return nil, abi.CheckOptions{}, "", err
	}
	policy, err := PolicyOr(p, e.Settings["abi_policy"])
	if err != nil {
		return nil, abi.CheckOptions{}, "", err
	}
	wins, provided, err := w.Winners(ctx, e)
	items := make([]matrixItem, len(wins))
	for i, win := range wins {
		en := win.Entry
		items[i] = matrixItem{row: ABIMatrixRow{Name: en.Name, Version: en.Version, Entry: en.SHA256, Layer: win.Layer}, fp: &en.Fingerprint, entry: en}
	}
	return items, provided, policy, err
}

// dirMatrixItems fingerprints every *.whl in dir, in parallel, sorted by
// file name.
func dirMatrixItems(ctx context.Context, dir string) ([]matrixItem, abi.CheckOptions, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, abi.CheckOptions{}, fmt.Errorf("wheels directory: %w", err)
	}
	var paths []string
	for _, de := range ents {
		if strings.HasSuffix(de.Name(), ".whl") && de.Type().IsRegular() {
			paths = append(paths, filepath.Join(dir, de.Name()))
		}
	}
	if len(paths) == 0 {
		return nil, abi.CheckOptions{}, fmt.Errorf("no *.whl file in %s: %w", dir, store.ErrNotFound)
	}
	sort.Strings(paths)
	items := make([]matrixItem, len(paths))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i, p := range paths {
		g.Go(func() error {
			fp, err := abi.FingerprintWheelContext(gctx, p)
			if err != nil {
				return err
			}
			if err := store.VerifyWheel(gctx, p); err != nil { // as ABICheck
				return err
			}
			abs, _ := filepath.Abs(p)
			items[i] = matrixItem{row: ABIMatrixRow{Name: fp.Name, Version: fp.Version, File: abs}, fp: fp}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, abi.CheckOptions{}, err
	}
	fps := make([]*abi.Fingerprint, len(items))
	for i := range items {
		fps[i] = items[i].fp
	}
	return items, ShippedLibs(fps...), nil
}

// ---- JUnit ----

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// Failures is the number of cells a CI run fails on: refused ones, and
// warned ones too when enforce (--enforce).
func (r *ABIMatrixReport) Failures(enforce bool) int {
	if enforce {
		return r.Summary.Refuse + r.Summary.Warn
	}
	return r.Summary.Refuse
}

// WriteJUnit writes the matrix as JUnit XML: one testsuite per profile,
// one testcase per wheel. A refused cell (a warned one too, when enforce)
// is a <failure> whose text lists the findings; a warned cell otherwise
// carries them in <system-out>.
func (r *ABIMatrixReport) WriteJUnit(out io.Writer, enforce bool) error {
	doc := junitSuites{Name: "forge abi matrix"}
	for pi, prof := range r.Profiles {
		s := junitSuite{Name: prof, Properties: []junitProperty{{"policy", string(r.Policy)}}}
		if r.Env != "" {
			s.Properties = append(s.Properties, junitProperty{"env", r.Env})
		}
		if r.Lock != "" {
			s.Properties = append(s.Properties, junitProperty{"lock", r.Lock})
		}
		for _, row := range r.Rows {
			if pi >= len(row.Cells) {
				continue
			}
			cell := row.Cells[pi]
			c := junitCase{Name: row.Name + " " + row.Version, Classname: "forge.abi." + prof}
			if row.Layer != "" {
				c.Name += " [" + row.Layer + "]"
			}
			if r.Lock != "" {
				c.Name += " " + row.File // a locked package may have a wheel per platform
			}
			var text strings.Builder
			for _, f := range cell.Findings {
				fmt.Fprintf(&text, "%s %s: %s\n", f.Severity, f.Code, f.Message)
			}
			switch {
			case cell.Verdict == abi.Refuse || (enforce && cell.Verdict == abi.Warn):
				c.Failure = &junitFailure{Type: cell.Verdict, Text: text.String(),
					Message: fmt.Sprintf("%s on %s under %s: %s", cell.Verdict, prof, r.Policy, strings.Join(cell.Codes, ", "))}
				s.Failures++
			case cell.Verdict == abi.Warn:
				c.SystemOut = fmt.Sprintf("warn on %s under %s\n%s", prof, r.Policy, text.String())
			}
			s.Cases = append(s.Cases, c)
			s.Tests++
		}
		for _, nc := range r.NotCheckable {
			s.Cases = append(s.Cases, junitCase{Name: nc.Name + " " + nc.Version + " " + nc.Wheel, Classname: "forge.abi." + prof,
				Failure: &junitFailure{Type: "not_checkable", Message: "not checkable: " + nc.Reason}})
			s.Tests++
			s.Failures++
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Suites = append(doc.Suites, s)
	}
	if _, err := io.WriteString(out, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(out)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(out, "\n")
	return err
}
