package resolver

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/forge-ml/forge/internal/pyname"
)

// ErrInvalidMarker is wrapped by every marker parse error.
var ErrInvalidMarker = errors.New("invalid PEP 508 marker")

// MarkerVariables are the PEP 508 environment marker names, in the order the
// PEP lists them. "extra" is not one: it comes from MarkerEnv.Extras.
var MarkerVariables = []string{
	"python_version", "python_full_version", "os_name", "sys_platform",
	"platform_release", "platform_system", "platform_version", "platform_machine",
	"platform_python_implementation", "implementation_name", "implementation_version",
}

// markerAliases are the legacy spellings packaging still accepts.
var markerAliases = map[string]string{
	"os.name":                        "os_name",
	"sys.platform":                   "sys_platform",
	"platform.version":               "platform_version",
	"platform.machine":               "platform_machine",
	"platform.python_implementation": "platform_python_implementation",
	"python_implementation":          "platform_python_implementation",
}

// MarkerEnv is the environment a marker is evaluated in: the target
// interpreter's and platform's values (keys from MarkerVariables, e.g.
// "python_version": "3.12") and the extras requested for the distribution
// whose requirement carries the marker. A variable absent from Vars reads as
// "". Evaluate never modifies a MarkerEnv.
type MarkerEnv struct {
	Vars   map[string]string `json:"vars"`
	Extras []string          `json:"extras,omitempty"`
}

// WithExtras returns a copy of e with its Extras replaced; Vars is shared.
func (e MarkerEnv) WithExtras(extras ...string) MarkerEnv {
	e.Extras = extras
	return e
}

// Marker is a parsed PEP 508 environment marker. It is immutable.
type Marker struct {
	root markerNode
}

type markerNode interface {
	eval(vars map[string]string, extra string) bool
	format(top bool) string
}

type markerBool struct {
	or          bool // "or" when true, "and" otherwise
	left, right markerNode
}

type markerValue struct {
	variable bool // a variable name, else a quoted literal
	text     string
}

type markerCompare struct {
	lhs, rhs markerValue
	op       string // "==", ..., "in", "not in"
}

// ParseMarker parses a marker expression such as
// `python_version < "3.11" and (sys_platform == "linux" or extra == "dev")`.
func ParseMarker(s string) (*Marker, error) {
	p := &markerParser{src: s}
	n, err := p.parseOr()
	if err == nil {
		p.skipWS()
		if p.pos != len(p.src) {
			err = p.errorf("unexpected %q", p.src[p.pos:])
		}
	}
	if err != nil {
		return nil, err
	}
	return &Marker{root: n}, nil
}

// String is the normalised marker text: variables with their current names,
// literals double-quoted, extras normalised, parentheses only where nested.
func (m *Marker) String() string {
	if m == nil || m.root == nil {
		return ""
	}
	return m.root.format(true)
}

// Evaluate reports whether the marker holds in env. A marker that mentions
// extra is true when it holds for the distribution itself (extra == "") or for
// any one requested extra, as pip evaluates it; extra names compare
// normalised (PEP 685). A nil Marker is true.
func (m *Marker) Evaluate(env MarkerEnv) bool {
	if m == nil || m.root == nil {
		return true
	}
	if m.root.eval(env.Vars, "") {
		return true
	}
	for _, e := range env.Extras {
		if m.root.eval(env.Vars, pyname.Normalize(e)) {
			return true
		}
	}
	return false
}

func (b markerBool) eval(vars map[string]string, extra string) bool {
	if b.or {
		return b.left.eval(vars, extra) || b.right.eval(vars, extra)
	}
	return b.left.eval(vars, extra) && b.right.eval(vars, extra)
}

func (b markerBool) format(top bool) string {
	op := " and "
	if b.or {
		op = " or "
	}
	s := b.left.format(false) + op + b.right.format(false)
	if top {
		return s
	}
	return "(" + s + ")"
}

func (c markerCompare) format(bool) string {
	return c.lhs.format() + " " + c.op + " " + c.rhs.format()
}

func (v markerValue) format() string {
	if v.variable {
		return v.text
	}
	if strings.Contains(v.text, `"`) {
		return "'" + v.text + "'"
	}
	return `"` + v.text + `"`
}

func (v markerValue) value(vars map[string]string, extra string) string {
	switch {
	case !v.variable:
		return v.text
	case v.text == "extra":
		return extra
	}
	return vars[v.text]
}

func (c markerCompare) eval(vars map[string]string, extra string) bool {
	lhs, rhs := c.lhs.value(vars, extra), c.rhs.value(vars, extra)
	if (c.lhs.variable && c.lhs.text == "extra") || (c.rhs.variable && c.rhs.text == "extra") {
		lhs, rhs = pyname.Normalize(lhs), pyname.Normalize(rhs)
	}
	return compareMarkerValues(lhs, c.op, rhs)
}

// compareMarkerValues follows packaging: when "op rhs" is a valid PEP 440
// specifier and lhs a valid version, compare as versions (pre-releases
// allowed, so python_full_version "3.13.0rc1" >= "3.12" holds); otherwise
// compare as strings.
func compareMarkerValues(lhs, op, rhs string) bool {
	if op != "in" && op != "not in" {
		if sp, err := parseSpecifier(op + rhs); err == nil {
			if v, err := ParseVersion(lhs); err == nil {
				return sp.Contains(v, true)
			}
		}
	}
	switch op {
	case "in":
		return strings.Contains(rhs, lhs)
	case "not in":
		return !strings.Contains(rhs, lhs)
	case "==", "===":
		return lhs == rhs
	case "!=":
		return lhs != rhs
	case "<":
		return lhs < rhs
	case "<=":
		return lhs <= rhs
	case ">":
		return lhs > rhs
	case ">=":
		return lhs >= rhs
	}
	return false // "~=" on non-versions is undefined
}

type markerParser struct {
	src string
	pos int
}

func (p *markerParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %q at offset %d: %s", ErrInvalidMarker, p.src, p.pos, fmt.Sprintf(format, args...))
}

func (p *markerParser) skipWS() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

// word reads the run of identifier characters at the cursor without
// consuming it.
func (p *markerParser) word() string {
	end := p.pos
	for end < len(p.src) && isMarkerWordByte(p.src[end]) {
		end++
	}
	return p.src[p.pos:end]
}

func isMarkerWordByte(c byte) bool {
	return c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// parseOr: marker_or = marker_and ("or" marker_and)*
func (p *markerParser) parseOr() (markerNode, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for {
		p.skipWS()
		if p.word() != "or" {
			return left, nil
		}
		p.pos += 2
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = markerBool{or: true, left: left, right: right}
	}
}

// parseAnd: marker_and = marker_atom ("and" marker_atom)*
func (p *markerParser) parseAnd() (markerNode, error) {
	left, err := p.parseAtom()
	if err != nil {
		return nil, err
	}
	for {
		p.skipWS()
		if p.word() != "and" {
			return left, nil
		}
		p.pos += 3
		right, err := p.parseAtom()
		if err != nil {
			return nil, err
		}
		left = markerBool{left: left, right: right}
	}
}

// parseAtom: "(" marker_or ")" | marker_var marker_op marker_var
func (p *markerParser) parseAtom() (markerNode, error) {
	p.skipWS()
	if p.pos < len(p.src) && p.src[p.pos] == '(' {
		p.pos++
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipWS()
		if p.pos >= len(p.src) || p.src[p.pos] != ')' {
			return nil, p.errorf("expected ')'")
		}
		p.pos++
		return n, nil
	}
	lhs, err := p.parseValue()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	op, err := p.parseOp()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	rhs, err := p.parseValue()
	if err != nil {
		return nil, err
	}
	c := markerCompare{lhs: lhs, op: op, rhs: rhs}
	// Normalise extra literals once, as packaging does, so String shows
	// `extra == "foo-bar"` for `extra == "Foo_Bar"`.
	if lhs.variable && lhs.text == "extra" && !rhs.variable {
		c.rhs.text = pyname.Normalize(rhs.text)
	}
	if rhs.variable && rhs.text == "extra" && !lhs.variable {
		c.lhs.text = pyname.Normalize(lhs.text)
	}
	return c, nil
}

func (p *markerParser) parseValue() (markerValue, error) {
	if p.pos < len(p.src) && (p.src[p.pos] == '"' || p.src[p.pos] == '\'') {
		q := p.src[p.pos]
		end := strings.IndexByte(p.src[p.pos+1:], q)
		if end < 0 {
			return markerValue{}, p.errorf("unterminated string")
		}
		v := markerValue{text: p.src[p.pos+1 : p.pos+1+end]}
		p.pos += end + 2
		return v, nil
	}
	w := p.word()
	name := w
	if a, ok := markerAliases[w]; ok {
		name = a
	}
	if name != "extra" && !slices.Contains(MarkerVariables, name) {
		if w == "" {
			return markerValue{}, p.errorf("expected a marker variable or quoted string")
		}
		return markerValue{}, p.errorf("unknown marker variable %q (valid: %s, extra)", w, strings.Join(MarkerVariables, ", "))
	}
	p.pos += len(w)
	return markerValue{variable: true, text: name}, nil
}

var markerOps = []string{"===", "==", "~=", "!=", "<=", ">=", "<", ">"}

func (p *markerParser) parseOp() (string, error) {
	for _, op := range markerOps {
		if strings.HasPrefix(p.src[p.pos:], op) {
			p.pos += len(op)
			return op, nil
		}
	}
	switch p.word() {
	case "in":
		p.pos += 2
		return "in", nil
	case "not":
		p.pos += 3
		p.skipWS()
		if p.word() != "in" {
			return "", p.errorf("expected 'in' after 'not'")
		}
		p.pos += 2
		return "not in", nil
	}
	return "", p.errorf("expected a marker operator, one of <=, <, !=, ==, >=, >, ~=, ===, in, not in")
}
