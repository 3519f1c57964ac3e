package probe

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/forge-ml/forge/abi"
)

// libDirs are the loader's trusted directories, searched in order under the
// probe root; the multiarch directory of the host's arch comes first.
func libDirs(arch string) []string {
	multi := abi.ArchMultiarch(arch)
	return []string{
		"/lib/" + multi, "/usr/lib/" + multi,
		"/lib64", "/usr/lib64",
		"/lib", "/usr/lib",
		"/usr/local/lib",
	}
}

// resolveInRoot follows symlinks in p (an absolute path inside root) as if
// root were "/", so absolute link targets stay inside root. It returns the
// host path of the final file.
func resolveInRoot(root, p string) (string, error) {
	if root == "" || root == "/" {
		return filepath.EvalSymlinks(p)
	}
	todo := strings.Split(strings.TrimPrefix(path.Clean("/"+p), "/"), "/")
	cur := "/"
	for hops := 0; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, name)
		host := filepath.Join(root, filepath.FromSlash(next))
		fi, err := os.Lstat(host)
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many symlinks", p)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			cur = "/"
		}
		todo = append(strings.Split(strings.Trim(target, "/"), "/"), todo...)
	}
	return filepath.Join(root, filepath.FromSlash(cur)), nil
}

// findLib returns the host path of the first library called name, for arch,
// in the loader's directories under root.
func findLib(root, arch, name string) (string, bool) {
	wantMachine, wantClass, known := abi.ArchELF(arch)
	for _, d := range libDirs(arch) {
		p, err := resolveInRoot(root, path.Join(d, name))
		if err != nil {
			continue
		}
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		m, c := f.Machine, f.Class
		f.Close()
		if known && (m != wantMachine || c != wantClass) {
			continue
		}
		return p, true
	}
	return "", false
}

// glibcBanner is the version line glibc embeds in libc.so.6. (The package's
// regular expressions are compiled on first use, not at every start-up.)
var glibcBanner = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`release version ([0-9]+\.[0-9]+)`) })

// GlibcVersion reads the glibc version of the libc.so.6 at path: the release
// banner glibc embeds in .rodata, else the highest GLIBC_x.y it defines in
// .gnu.version_d (which lags the release when a release adds no symbol).
func GlibcVersion(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if s := f.Section(".rodata"); s != nil {
		if m := glibcBanner().FindSubmatch(readSection(s, 8<<20)); m != nil {
			return string(m[1]), nil
		}
	}
	v, err := highestVersionDef(f, "GLIBC_")
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

func readSection(s *elf.Section, limit int64) []byte {
	b, err := io.ReadAll(io.LimitReader(s.Open(), limit))
	if err != nil {
		return nil
	}
	return b
}

// LibstdcxxVersion is the highest GLIBCXX_ version the libstdc++.so.6 at
// path defines ("3.4.30").
func LibstdcxxVersion(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	v, err := highestVersionDef(f, "GLIBCXX_")
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

var errNoVersionDef = errors.New("no matching version definition")

// highestVersionDef is the highest numeric version among the definitions
// named prefix+"x.y[.z]" (GLIBC_PRIVATE, GLIBC_ABI_DT_RELR and the like are
// not versions and are skipped).
func highestVersionDef(f *elf.File, prefix string) (string, error) {
	defs, err := f.DynamicVersions()
	if err != nil {
		return "", err
	}
	best, bestKey := "", []int(nil)
	for _, d := range defs {
		v, ok := strings.CutPrefix(d.Name, prefix)
		if !ok {
			continue
		}
		key, ok := versionKey(v)
		if !ok {
			continue
		}
		if bestKey == nil || compareKeys(key, bestKey) > 0 {
			best, bestKey = v, key
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w %sx.y", errNoVersionDef, prefix)
	}
	return best, nil
}

func versionKey(v string) ([]int, bool) {
	parts := strings.Split(v, ".")
	key := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		key[i] = n
	}
	return key, len(key) > 0
}

func compareKeys(a, b []int) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

// probeLibc finds the C library under root: glibc (libc.so.6) with its
// version, else musl (ld-musl-<arch>.so.1). reasons gets "libc" and
// "libstdcxx" entries for what could not be determined.
func probeLibc(ctx context.Context, root, arch string, reasons map[string]string) *abi.Libc {
	var lc *abi.Libc
	if p, ok := findLib(root, arch, "libc.so.6"); ok {
		v, err := GlibcVersion(p)
		if err != nil {
			reasons["libc"] = fmt.Sprintf("glibc version unreadable: %v", err)
		}
		lc = &abi.Libc{Family: "glibc", Version: v}
	} else if p, ok := findMusl(root, arch); ok {
		lc = &abi.Libc{Family: "musl"}
		if root == "" || root == "/" {
			lc.Version = muslLoaderVersion(ctx, p)
		}
		if lc.Version == "" {
			reasons["libc"] = "musl found (" + filepath.Base(p) + ") but its version could not be read"
		}
	} else {
		reasons["libc"] = fmt.Sprintf("neither libc.so.6 nor ld-musl-%s.so.1 found under %s", arch, rootName(root))
		return nil
	}
	if p, ok := findLib(root, arch, "libstdc++.so.6"); ok {
		v, err := LibstdcxxVersion(p)
		if err != nil {
			reasons["libstdcxx"] = fmt.Sprintf("libstdc++ version unreadable: %v", err)
		}
		lc.Libstdcxx = v
	} else {
		reasons["libstdcxx"] = "libstdc++.so.6 not found"
	}
	return lc
}

func rootName(root string) string {
	if root == "" {
		return "/"
	}
	return root
}

func findMusl(root, arch string) (string, bool) {
	name := "ld-musl-" + arch + ".so.1"
	for _, d := range []string{"/lib", "/usr/lib", "/usr/local/musl/lib"} {
		if p, err := resolveInRoot(root, path.Join(d, name)); err == nil {
			return p, true
		}
	}
	return "", false
}

var muslVersionRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^Version ([0-9]+\.[0-9]+(?:\.[0-9]+)?)`) })

// muslLoaderVersion runs the musl loader, which prints its version on stderr
// (this is how packaging's _musllinux finds it).
func muslLoaderVersion(ctx context.Context, loader string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, loader)
	cmd.Stderr = &stderr
	_ = cmd.Run() // exits 1 without arguments
	return ParseMuslVersion(stderr.String())
}

// ParseMuslVersion reads the loader's banner ("musl libc (x86_64)\nVersion
// 1.2.4\n...") as packaging does: the first line starts with "musl", the
// second names the version. It returns "" when the text is not such a banner.
func ParseMuslVersion(banner string) string {
	var lines []string
	for _, l := range strings.Split(banner, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "musl") {
		return ""
	}
	m := muslVersionRe().FindStringSubmatch(lines[1])
	if m == nil {
		return ""
	}
	return m[1]
}

// muslVersionOf is the musl major.minor of the executable's program
// interpreter when that is ld-musl, else "".
func muslVersionOf(exe string) string {
	f, err := elf.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p.Open(), 4096))
		if err != nil {
			return ""
		}
		ld := string(bytes.TrimRight(b, "\x00"))
		if !strings.Contains(ld, "musl") {
			return ""
		}
		v := muslLoaderVersion(context.Background(), ld)
		if maj, min, ok := majorMinor(v); ok {
			return fmt.Sprintf("%d.%d", maj, min)
		}
	}
	return ""
}

var sonameRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^lib.+\.so(\.[0-9]+)*$`) })

// probeLibraries lists the shared-library file names in the loader's
// directories under root (sorted, unique), so the ABI engine can tell a
// DT_NEEDED library the host provides from one it lacks.
func probeLibraries(root, arch string) []string {
	seen := map[string]bool{}
	for _, d := range libDirs(arch) {
		dir, err := resolveInRoot(root, d)
		if err != nil {
			continue
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() || !sonameRe().MatchString(e.Name()) || strings.HasSuffix(e.Name(), ".so") {
				continue
			}
			seen[e.Name()] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
