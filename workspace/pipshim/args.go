package pipshim

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/wheel"
	"github.com/forge-ml/forge/workspace"
)

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
			return nil, fmt.Errorf("pip option %s is not supported: %s: %w", name, why, workspace.ErrUsage)
		}
		takes := pipValueOpts[name]
		if takes && !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("pip option %s needs a value: %w", name, workspace.ErrUsage)
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
			if wf, werr := wheel.ParseFilename(filepath.Base(s)); werr == nil {
				r = resolver.Requirement{Name: wf.Name, Normalized: wheel.NormalizeName(wf.Name), URL: s}
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

// Regular expressions of requirements files, compiled on first use (not at
// every forge start-up).
var envVarRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`) })

// commentRe is pip's comment rule: '#' at the start or after whitespace.
var commentRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(^|\s+)#.*$`) })

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
		line = strings.TrimSpace(commentRe().ReplaceAllString(line, ""))
		line = envVarRe().ReplaceAllStringFunc(line, func(m string) string { return os.Getenv(m[2 : len(m)-1]) })
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
var lineOptRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\s+--?[A-Za-z]`) })

func cutLineOptions(line string) (req, opts string, found bool) {
	loc := lineOptRe().FindStringIndex(line)
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
