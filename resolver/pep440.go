package resolver

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ErrInvalidVersion is wrapped by every ParseVersion error.
var ErrInvalidVersion = errors.New("invalid PEP 440 version")

// ErrInvalidSpecifier is wrapped by every ParseSpecifierSet error.
var ErrInvalidSpecifier = errors.New("invalid PEP 440 specifier")

// versionRe is the PEP 440 appendix B regular expression; RE2 accepts it as is.
// Like the package's other regular expressions it is compiled on first use,
// not at every forge start-up.
var versionRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)^\s*v?` +
		`(?:(?P<epoch>[0-9]+)!)?` +
		`(?P<release>[0-9]+(?:\.[0-9]+)*)` +
		`(?P<pre>[-_.]?(?P<pre_l>alpha|beta|preview|pre|a|b|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?` +
		`(?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?` +
		`(?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?` +
		`(?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?` +
		`\s*$`)
})

// Version is a parsed PEP 440 version. The zero Version is "0". Versions are
// immutable values; methods never modify the receiver and are safe for
// concurrent use.
type Version struct {
	epoch   uint64
	release []uint64
	pre     string // "", "a", "b", "rc"
	preN    uint64
	hasPost bool
	post    uint64
	hasDev  bool
	dev     uint64
	local   []string // lower case, separators dropped
}

// ParseVersion parses s as a PEP 440 version, accepting every spelling the PEP
// allows ("v1.0", "1.0RC1", "1.0-1", "1!2.0.post3.dev4+ubuntu.1") and keeping
// the normalised form for String. Numeric components above 2^64-1 are refused.
func ParseVersion(s string) (Version, error) {
	m := versionRe().FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%w: %q", ErrInvalidVersion, s)
	}
	g := func(name string) string { return m[versionRe().SubexpIndex(name)] }
	var v Version
	var err error
	num := func(part string) uint64 {
		if part == "" || err != nil {
			return 0
		}
		n, e := strconv.ParseUint(part, 10, 64)
		if e != nil {
			err = fmt.Errorf("%w: %q: component %s is too large", ErrInvalidVersion, s, part)
		}
		return n
	}
	v.epoch = num(g("epoch"))
	for _, p := range strings.Split(g("release"), ".") {
		v.release = append(v.release, num(p))
	}
	if l := strings.ToLower(g("pre_l")); l != "" {
		switch l {
		case "alpha", "a":
			v.pre = "a"
		case "beta", "b":
			v.pre = "b"
		default: // c, pre, preview, rc
			v.pre = "rc"
		}
		v.preN = num(g("pre_n"))
	}
	if g("post") != "" {
		v.hasPost = true
		v.post = num(g("post_n1") + g("post_n2"))
	}
	if g("dev") != "" {
		v.hasDev = true
		v.dev = num(g("dev_n"))
	}
	if l := g("local"); l != "" {
		for _, seg := range strings.FieldsFunc(strings.ToLower(l), func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
			if isDigits(seg) {
				// packaging turns numeric local segments into ints, so
				// "+01" normalises to "+1".
				seg = strconv.FormatUint(num(seg), 10)
			}
			v.local = append(v.local, seg)
		}
	}
	if err != nil {
		return Version{}, err
	}
	return v, nil
}

// MustParseVersion is ParseVersion for constants known to be valid; it panics
// otherwise.
func MustParseVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String returns the normalised form: "1!2.0rc1.post2.dev3+abc.5".
func (v Version) String() string {
	var b strings.Builder
	if v.epoch != 0 {
		fmt.Fprintf(&b, "%d!", v.epoch)
	}
	b.WriteString(v.releaseString())
	if v.pre != "" {
		fmt.Fprintf(&b, "%s%d", v.pre, v.preN)
	}
	if v.hasPost {
		fmt.Fprintf(&b, ".post%d", v.post)
	}
	if v.hasDev {
		fmt.Fprintf(&b, ".dev%d", v.dev)
	}
	if len(v.local) > 0 {
		b.WriteString("+" + strings.Join(v.local, "."))
	}
	return b.String()
}

func (v Version) releaseString() string {
	if len(v.release) == 0 {
		return "0"
	}
	parts := make([]string, len(v.release))
	for i, n := range v.release {
		parts[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(parts, ".")
}

// MarshalText writes the normalised form, so JSON shows "1.0rc1".
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText parses any PEP 440 spelling.
func (v *Version) UnmarshalText(b []byte) error {
	p, err := ParseVersion(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// Epoch returns the epoch (0 when absent).
func (v Version) Epoch() uint64 { return v.epoch }

// Release returns a copy of the release segment.
func (v Version) Release() []uint64 {
	if len(v.release) == 0 {
		return []uint64{0}
	}
	return slices.Clone(v.release)
}

// Local returns the local label ("cu121" for "2.4.0+cu121"), "" when absent.
func (v Version) Local() string { return strings.Join(v.local, ".") }

// IsPrerelease reports a pre-release or a development release.
func (v Version) IsPrerelease() bool { return v.pre != "" || v.hasDev }

// IsPostrelease reports a post-release.
func (v Version) IsPostrelease() bool { return v.hasPost }

// IsDevrelease reports a development release.
func (v Version) IsDevrelease() bool { return v.hasDev }

// Public returns the version without its local label.
func (v Version) Public() Version {
	v.local = nil
	return v
}

// Base returns epoch and release only ("1!2.0" for "1!2.0rc1.post1+x").
func (v Version) Base() Version {
	return Version{epoch: v.epoch, release: v.release}
}

// Compare orders a and b as PEP 440 does: -1, 0 or +1. Trailing zeros of the
// release do not count (1.0 == 1.0.0); local labels sort after the public
// version, numeric segments after alphanumeric ones.
func Compare(a, b Version) int {
	if c := cmp.Compare(a.epoch, b.epoch); c != 0 {
		return c
	}
	ar, br := trimZeros(a.release), trimZeros(b.release)
	if c := slices.Compare(ar, br); c != 0 {
		return c
	}
	if c := cmp.Compare(a.preKey(), b.preKey()); c != 0 {
		return c
	}
	if a.pre != "" && b.pre != "" {
		if c := cmp.Compare(a.pre, b.pre); c != 0 {
			return c
		}
		if c := cmp.Compare(a.preN, b.preN); c != 0 {
			return c
		}
	}
	if c := compareOptional(a.hasPost, a.post, b.hasPost, b.post, -1); c != 0 {
		return c
	}
	if c := compareOptional(a.hasDev, a.dev, b.hasDev, b.dev, +1); c != 0 {
		return c
	}
	return compareLocal(a.local, b.local)
}

// preKey ranks the pre-release slot: a bare dev release (1.0.dev0) sorts
// before every pre-release of 1.0, and a version without pre-release after.
func (v Version) preKey() int {
	switch {
	case v.pre == "" && !v.hasPost && v.hasDev:
		return -1
	case v.pre == "":
		return 1
	}
	return 0
}

// compareOptional compares an optional number whose absence sorts at the
// given end (-1 before every value, +1 after).
func compareOptional(aHas bool, a uint64, bHas bool, b uint64, absent int) int {
	switch {
	case aHas && bHas:
		return cmp.Compare(a, b)
	case aHas:
		return -absent
	case bHas:
		return absent
	}
	return 0
}

func compareLocal(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		an, bn := isDigits(a[i]), isDigits(b[i])
		switch {
		case an && bn:
			x, _ := strconv.ParseUint(a[i], 10, 64)
			y, _ := strconv.ParseUint(b[i], 10, 64)
			if c := cmp.Compare(x, y); c != 0 {
				return c
			}
		case an:
			return 1
		case bn:
			return -1
		default:
			if c := cmp.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
	}
	return cmp.Compare(len(a), len(b))
}

func trimZeros(r []uint64) []uint64 {
	n := len(r)
	for n > 0 && r[n-1] == 0 {
		n--
	}
	return r[:n]
}

// Specifier is one clause of a specifier set: an operator and its operand.
type Specifier struct {
	Op       string // "==", "!=", "<", "<=", ">", ">=", "~=", "==="
	Operand  string // as written, trimmed; for "===" compared verbatim
	version  Version
	wildcard bool // "==1.*" / "!=1.*"
}

// SpecifierSet is a comma-separated conjunction of specifiers. The zero value
// matches every final release.
type SpecifierSet struct {
	specs []Specifier
}

// ParseSpecifierSet parses ">=1.21,<2" (whitespace allowed around clauses). The
// empty string is a valid, empty set. Operands are checked as packaging does:
// wildcards and local labels only with == and !=, ~= needs two release
// components, === takes any non-blank string.
func ParseSpecifierSet(s string) (SpecifierSet, error) {
	var set SpecifierSet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue // packaging skips empty clauses: ">=1,,<2"
		}
		sp, err := parseSpecifier(part)
		if err != nil {
			return SpecifierSet{}, err
		}
		set.specs = append(set.specs, sp)
	}
	return set, nil
}

var specOps = []string{"===", "~=", "==", "!=", "<=", ">=", "<", ">"}

func parseSpecifier(s string) (Specifier, error) {
	bad := func(why string) (Specifier, error) {
		return Specifier{}, fmt.Errorf("%w: %q: %s", ErrInvalidSpecifier, s, why)
	}
	var sp Specifier
	for _, op := range specOps {
		if strings.HasPrefix(s, op) {
			sp.Op = op
			break
		}
	}
	if sp.Op == "" {
		return bad("expected one of " + strings.Join(specOps, " ") + " before the version")
	}
	sp.Operand = strings.TrimSpace(s[len(sp.Op):])
	if sp.Operand == "" && sp.Op != "===" {
		return bad("missing version")
	}
	if strings.ContainsAny(sp.Operand, " \t\r\n\f\v") {
		return bad("whitespace inside the version")
	}
	if sp.Op == "===" {
		if strings.ContainsAny(sp.Operand, ";)") {
			return bad("arbitrary equality operand contains ';' or ')'")
		}
		sp.version, _ = ParseVersion(sp.Operand) // only used for pre-release detection
		return sp, nil
	}
	operand := sp.Operand
	if strings.HasSuffix(operand, ".*") {
		if sp.Op != "==" && sp.Op != "!=" {
			return bad(".* suffix can only be used with == or !=")
		}
		sp.wildcard = true
		operand = strings.TrimSuffix(operand, ".*")
	}
	v, err := ParseVersion(operand)
	if err != nil {
		return bad("not a PEP 440 version")
	}
	if sp.wildcard && (v.pre != "" || v.hasPost || v.hasDev || len(v.local) > 0) {
		return bad("a wildcard applies to a release segment only")
	}
	if len(v.local) > 0 && sp.Op != "==" && sp.Op != "!=" {
		return bad("a local version label can only be used with == or !=")
	}
	if sp.Op == "~=" && len(v.release) < 2 {
		return bad("~= needs at least two release components")
	}
	sp.version = v
	return sp, nil
}

// Specifiers returns the clauses in the order written.
func (s SpecifierSet) Specifiers() []Specifier { return slices.Clone(s.specs) }

// IsEmpty reports a set without clauses.
func (s SpecifierSet) IsEmpty() bool { return len(s.specs) == 0 }

// String joins the clauses with "," in the order written.
func (s SpecifierSet) String() string {
	parts := make([]string, len(s.specs))
	for i, sp := range s.specs {
		parts[i] = sp.String()
	}
	return strings.Join(parts, ",")
}

// String is operator and operand as written: ">=1.21".
func (sp Specifier) String() string { return sp.Op + sp.Operand }

// mentionsPrerelease is packaging's Specifier.prereleases: an inclusive
// operator whose operand is itself a pre-release opts the set into them.
func (sp Specifier) mentionsPrerelease() bool {
	switch sp.Op {
	case "==", ">=", "<=", "~=", "===":
		return sp.version.IsPrerelease()
	}
	return false
}

// Contains reports whether v satisfies every clause. With prereleases false,
// the PEP 440 default applies: pre-releases (and dev releases) match only when
// a clause names one explicitly (">=2.0b1"); an empty set then matches only
// final releases. With prereleases true they are considered like any version
// (the installed-version case: "is the 2.0rc1 we have acceptable?").
func (s SpecifierSet) Contains(v Version, prereleases bool) bool {
	if !prereleases {
		for _, sp := range s.specs {
			if sp.mentionsPrerelease() {
				prereleases = true
				break
			}
		}
	}
	if v.IsPrerelease() && !prereleases {
		return false
	}
	for _, sp := range s.specs {
		if !sp.matches(v) {
			return false
		}
	}
	return true
}

// Contains reports whether v satisfies this one clause, with the same
// pre-release rule as SpecifierSet.Contains.
func (sp Specifier) Contains(v Version, prereleases bool) bool {
	return SpecifierSet{specs: []Specifier{sp}}.Contains(v, prereleases)
}

func (sp Specifier) matches(v Version) bool {
	switch sp.Op {
	case "==":
		return sp.equal(v)
	case "!=":
		return !sp.equal(v)
	case "<=":
		return Compare(v.Public(), sp.version) <= 0
	case ">=":
		return Compare(v.Public(), sp.version) >= 0
	case "<":
		if Compare(v, sp.version) >= 0 {
			return false
		}
		// <3.0 must not admit 3.0rc1: a pre-release of the bound itself.
		if !sp.version.IsPrerelease() && v.IsPrerelease() && Compare(v.Base(), sp.version.Base()) == 0 {
			return false
		}
		return true
	case ">":
		if Compare(v, sp.version) <= 0 {
			return false
		}
		same := Compare(v.Base(), sp.version.Base()) == 0
		// >3.0 admits neither 3.0.post1 (unless the bound is a post-release)
		// nor 3.0+local.
		if same && !sp.version.hasPost && v.hasPost {
			return false
		}
		if same && len(v.local) > 0 {
			return false
		}
		return true
	case "~=":
		if Compare(v.Public(), sp.version) < 0 {
			return false
		}
		prefix := Specifier{Op: "==", wildcard: true, version: Version{epoch: sp.version.epoch, release: sp.version.release[:len(sp.version.release)-1]}}
		return prefix.equal(v)
	case "===":
		return strings.EqualFold(v.String(), sp.Operand)
	}
	return false
}

func (sp Specifier) equal(v Version) bool {
	if sp.wildcard {
		if v.epoch != sp.version.epoch {
			return false
		}
		want := sp.version.release
		for i, n := range want {
			var got uint64
			if i < len(v.release) {
				got = v.release[i]
			}
			if got != n {
				return false
			}
		}
		return true
	}
	if len(sp.version.local) == 0 {
		v = v.Public()
	}
	return Compare(v, sp.version) == 0
}
