package realstack

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	stack "github.com/forge-ml/forge/fixtures/realstack"
)

// LoaderFile is one ELF file of an environment: the sonames of its own
// DT_NEEDED that the system loader (ldd) cannot find, and those forge
// reports as missing_library for it.
type LoaderFile struct {
	Env, Path   string // Path relative to the site-packages directory
	Ldd, Forge  []string
	LddError    string
	Transitive  []string // what ldd cannot find for the file's dependencies
	ForgeReason string   // where forge's answer came from
}

func (f LoaderFile) Agree() bool { return f.LddError == "" && slicesEqual(f.Ldd, f.Forge) }

var notFoundRe = regexp.MustCompile(`^\s*(\S+) => not found`)

// LddMissing runs ldd on every ELF file under site (following symbolic
// links, as the loader does: forge may link whole directories into its
// store) and returns, per file relative to site, the direct DT_NEEDED
// sonames ldd reports "not found", and, apart, those of its dependencies.
func LddMissing(ctx context.Context, env, site string) ([]LoaderFile, error) {
	files, err := elfFiles(site)
	if err != nil {
		return nil, err
	}
	out := make([]LoaderFile, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for i, rel := range files {
		g.Go(func() error {
			p := filepath.Join(site, rel)
			lf := LoaderFile{Env: env, Path: filepath.ToSlash(rel)}
			needed, err := directNeeded(p)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			cmd := exec.CommandContext(gctx, "ldd", p)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			// ldd exits non-zero when a version or library is missing; its
			// listing is the answer either way.
			runErr := cmd.Run()
			if stdout.Len() == 0 && runErr != nil {
				lf.LddError = strings.TrimSpace(stderr.String() + " " + runErr.Error())
			}
			miss := map[string]bool{}
			for _, l := range strings.Split(stdout.String(), "\n") {
				if m := notFoundRe.FindStringSubmatch(l); m != nil {
					miss[m[1]] = true
				}
			}
			direct := map[string]bool{}
			for _, n := range needed {
				if miss[n] {
					direct[n] = true
					delete(miss, n)
				}
			}
			lf.Ldd, lf.Transitive = sortedKeys(direct), sortedKeys(miss)
			out[i] = lf
			return nil
		})
	}
	return out, g.Wait()
}

func directNeeded(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.DynString(elf.DT_NEEDED)
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, nil // not dynamic: needs nothing
	}
	return n, nil
}

// elfFiles lists the ELF files under root, relative to it, sorted,
// descending into symlinked directories once each.
func elfFiles(root string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	var walk func(dir, rel string) error
	walk = func(dir, rel string) error {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return err
		}
		if seen[real] {
			return nil
		}
		seen[real] = true
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			r := filepath.Join(rel, e.Name())
			st, err := os.Stat(p) // follows links
			if err != nil {
				continue // a dangling link is no file to load
			}
			if st.IsDir() {
				if e.Name() == "__pycache__" {
					continue
				}
				if err := walk(p, r); err != nil {
					return err
				}
				continue
			}
			if st.Mode().IsRegular() && st.Size() >= 4 && stack.IsELF(p) {
				out = append(out, r)
			}
		}
		return nil
	}
	if err := walk(root, ""); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

type finding struct {
	Code      string   `json:"code"`
	Severity  string   `json:"severity"`
	Message   string   `json:"message"`
	File      string   `json:"file"`
	Libraries []string `json:"libraries"` // of a missing_library finding
}

// missingByFile collects file → sonames from missing_library findings, and
// libcuda.so.1 from a cuda_driver finding that names a file linking it:
// forge reports the driver's library as a driver problem, not a missing
// library, and on a host without a driver ldd cannot find it either.
func missingByFile(fs []finding, into map[string]map[string]bool) {
	for _, f := range fs {
		var sonames []string
		switch {
		case f.File == "":
		case f.Code == "missing_library":
			sonames = f.Libraries
		case f.Code == "cuda_driver" && strings.Contains(f.Message, libcuda):
			sonames = []string{libcuda}
		}
		for _, soname := range sonames {
			if into[f.File] == nil {
				into[f.File] = map[string]bool{}
			}
			into[f.File][soname] = true
		}
	}
}

const libcuda = "libcuda.so.1"

// ForgeMissingDoctor runs `forge doctor --abi --json --env ENV` (this
// machine, the environment's layers) and returns file → sonames forge
// reports missing for the packages of the environment's LOCAL layer.
func ForgeMissingDoctor(ctx context.Context, forge, home, env string) (map[string]map[string]bool, error) {
	out, err := forgeJSON(ctx, forge, home, "doctor", "--abi", "--no-cache", "--json", "--env", env)
	if err != nil {
		return nil, err
	}
	var rep struct {
		Envs []struct {
			Env      string `json:"env"`
			Error    string `json:"error"`
			Packages []struct {
				Name     string    `json:"name"`
				Layer    string    `json:"layer"`
				Findings []finding `json:"findings"`
			} `json:"packages"`
		} `json:"envs"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, fmt.Errorf("forge doctor --abi --json: %v: %.300s", err, out)
	}
	got := map[string]map[string]bool{}
	for _, e := range rep.Envs {
		if e.Env != env {
			continue
		}
		if e.Error != "" {
			return nil, fmt.Errorf("forge doctor --abi: env %s: %s", env, e.Error)
		}
		for _, p := range e.Packages {
			if p.Layer == "LOCAL" {
				missingByFile(p.Findings, got)
			}
		}
	}
	return got, nil
}

// forgeJSON runs forge and returns stdout; exit 3 (refused or warned under
// --enforce) is an answer.
func forgeJSON(ctx context.Context, forge, home string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, forge, args...)
	cmd.Env = ForgeEnv(home)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 3) {
		return nil, fmt.Errorf("forge %s: %v: %s", strings.Join(args[:2], " "), err, lastLines(errb.String(), 5))
	}
	return out.Bytes(), nil
}

// ForgeEnv is the environment forge runs with in the end-to-end suites: the
// user's pip and Python settings removed, so only the arguments count, and
// FORGE_HOME set to home.
func ForgeEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYTHON") || strings.HasPrefix(kv, "PIP_") || strings.HasPrefix(kv, "VIRTUAL_ENV=") || strings.HasPrefix(kv, "FORGE_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "FORGE_HOME="+home, "NO_COLOR=1", "PIP_CONFIG_FILE=/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1", "PYTHONDONTWRITEBYTECODE=1")
}

// Run runs a command with the forge environment and returns its stdout.
func Run(ctx context.Context, home string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = ForgeEnv(home)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, lastLines(errb.String(), 8))
	}
	return out.String(), nil
}

// Judge pairs ldd's answer for each file with forge's.
func Judge(files []LoaderFile, forge map[string]map[string]bool, reason string) []LoaderFile {
	for i := range files {
		files[i].Forge = sortedKeys(forge[files[i].Path])
		files[i].ForgeReason = reason
	}
	return files
}

// LoaderFigures counts agreement: per file, and per (file, soname) pair.
type LoaderFigures struct {
	Files, FilesAgree          int
	LddPairs, ForgePairs, Both int
}

func CountLoader(fs []LoaderFile) LoaderFigures {
	var f LoaderFigures
	for _, x := range fs {
		f.Files++
		if x.Agree() {
			f.FilesAgree++
		}
		f.LddPairs += len(x.Ldd)
		f.ForgePairs += len(x.Forge)
		f.Both += len(x.Ldd) - len(setDiff(x.Ldd, x.Forge))
	}
	return f
}

// LoaderTable lists the files where ldd and forge disagree.
func LoaderTable(fs []LoaderFile) string {
	var b strings.Builder
	for _, x := range fs {
		if x.Agree() {
			continue
		}
		fmt.Fprintf(&b, "%-8s %-60s", x.Env, x.Path)
		if x.LddError != "" {
			fmt.Fprintf(&b, " ldd failed: %.200s\n", x.LddError)
			continue
		}
		if d := setDiff(x.Ldd, x.Forge); len(d) > 0 {
			fmt.Fprintf(&b, " ldd not found, forge silent: %s;", strings.Join(d, " "))
		}
		if d := setDiff(x.Forge, x.Ldd); len(d) > 0 {
			fmt.Fprintf(&b, " forge missing, ldd found: %s;", strings.Join(d, " "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// LoaderScenario is what TestLoaderAgreesWithLdd and cmd/agree run: a
// forge-made base (nvidia-*) + child (torch) pair and a pip-made venv with
// everything, each judged file by file.
type LoaderScenario struct {
	Forge, Python, WheelsDir, Work string
	Wheels                         []string
	// Check returns ForgeCheck's report, whose ThisMachine verdicts judge
	// the pip-made environment; called only once that environment is built,
	// so the check and the installs can run at the same time.
	Check func() (*CheckReport, error)
}

// Run builds the environments and returns the per-file results of the
// forge-made environments and of the pip-made one.
func (s LoaderScenario) Run(ctx context.Context) (forgeFiles, pipFiles []LoaderFile, err error) {
	home := filepath.Join(s.Work, "home")
	torch := WheelNamed(s.Wheels, "torch")
	var nvidia []string
	for _, w := range s.Wheels {
		if w != torch {
			nvidia = append(nvidia, w)
		}
	}
	var wg sync.WaitGroup
	var pipErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		pipFiles, pipErr = s.pipEnv(ctx, home)
	}()
	forgeFiles, err = s.forgeEnvs(ctx, home, nvidia, torch)
	wg.Wait()
	if err == nil {
		err = pipErr
	}
	return forgeFiles, pipFiles, err
}

func (s LoaderScenario) forgeEnvs(ctx context.Context, home string, nvidia []string, torch string) ([]LoaderFile, error) {
	steps := [][]string{
		{s.Forge, "create", "base", "--python", s.Python},
		append([]string{s.Forge, "install", "--env", "base", "--abi-policy", "allow_abi"}, nvidia...),
		{s.Forge, "create", "child", "--parent", "base"},
		{s.Forge, "install", "--env", "child", "--abi-policy", "allow_abi", torch},
	}
	for _, st := range steps {
		if _, err := Run(ctx, home, st...); err != nil {
			return nil, err
		}
	}
	var all []LoaderFile
	for _, env := range []string{"base", "child"} {
		site, err := Run(ctx, home, s.Forge, "run", "--env", env, "--", "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
		if err != nil {
			return nil, err
		}
		files, err := LddMissing(ctx, env, strings.TrimSpace(site))
		if err != nil {
			return nil, err
		}
		forge, err := ForgeMissingDoctor(ctx, s.Forge, home, env)
		if err != nil {
			return nil, err
		}
		all = append(all, Judge(files, forge, "forge doctor --abi --env "+env)...)
	}
	return all, nil
}

// pipEnv is the reference: a plain venv where pip installs torch and, by
// its Requires-Dist, every nvidia-*-cu12 wheel from the corpus.
func (s LoaderScenario) pipEnv(ctx context.Context, home string) ([]LoaderFile, error) {
	venv := filepath.Join(s.Work, "pipvenv")
	if _, err := Run(ctx, home, s.Python, "-m", "venv", venv); err != nil {
		return nil, err
	}
	py := filepath.Join(venv, "bin", "python")
	site, err := Run(ctx, home, py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
	if err != nil {
		return nil, err
	}
	site = strings.TrimSpace(site)
	// torch and nccl are Debian trixie builds (manylinux_2_38); a host with
	// an older glibc makes pip refuse them. Naming the platform (with
	// --target, which pip requires then) installs them anyway: ldd is the
	// judge here, and it reports what an old glibc lacks on its own lines.
	if _, err := Run(ctx, home, py, "-m", "pip", "install", "--no-index", "--find-links", s.WheelsDir,
		"--only-binary=:all:", "--platform", "manylinux_2_38_x86_64", "--platform", "manylinux2014_x86_64",
		"--python-version", "3.13", "--implementation", "cp", "--abi", "cp313", "--target", site, "torch"); err != nil {
		return nil, err
	}
	files, err := LddMissing(ctx, "pip", site)
	if err != nil {
		return nil, err
	}
	check, err := s.Check()
	if err != nil {
		return nil, err
	}
	return Judge(files, check.Missing(ThisMachine), "forge abi check (all wheels, this machine)"), nil
}
