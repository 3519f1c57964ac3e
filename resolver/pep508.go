package resolver

import (
	"errors"
	"fmt"
	"strings"

	"github.com/forge-ml/forge/internal/pyname"
)

// ErrInvalidRequirement is wrapped by every ParseRequirement error.
var ErrInvalidRequirement = errors.New("invalid PEP 508 requirement")

// Requirement is one parsed PEP 508 dependency specifier, such as a
// Requires-Dist line: `scipy[dev]>=1.11,<2; python_version >= "3.10"`.
type Requirement struct {
	Name       string       // as written
	Normalized string       // PEP 503: lower case, runs of -_. become "-"
	Extras     []string     // as written, in order
	Specifier  SpecifierSet // empty for a bare name or a URL requirement
	URL        string       // after "@"; "" otherwise
	Marker     *Marker      // nil when there is none
}

// ParseRequirement parses a PEP 508 requirement. Names must start and end
// with a letter or digit; the version specifier may be parenthesised; a URL
// requirement needs whitespace before its ";".
func ParseRequirement(s string) (Requirement, error) {
	p := reqParser{src: s}
	r, err := p.parse()
	if err != nil {
		return Requirement{}, fmt.Errorf("%w: %q: %s", ErrInvalidRequirement, s, err)
	}
	return r, nil
}

// String renders the requirement in a canonical spelling.
func (r Requirement) String() string {
	var b strings.Builder
	b.WriteString(r.Name)
	if len(r.Extras) > 0 {
		b.WriteString("[" + strings.Join(r.Extras, ",") + "]")
	}
	if r.URL != "" {
		b.WriteString(" @ " + r.URL)
		if r.Marker != nil {
			b.WriteString(" ")
		}
	} else {
		b.WriteString(r.Specifier.String())
	}
	if r.Marker != nil {
		b.WriteString("; " + r.Marker.String())
	}
	return b.String()
}

type reqParser struct {
	src string
	pos int
}

func (p *reqParser) skipWS() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

func (p *reqParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// identifier reads a PEP 508 identifier: alnum ([-_.]* alnum)*.
func (p *reqParser) identifier(what string) (string, error) {
	start := p.pos
	if !isAlnum(p.peek()) {
		return "", fmt.Errorf("expected %s at offset %d", what, p.pos)
	}
	end := p.pos
	for i := p.pos; i < len(p.src); i++ {
		c := p.src[i]
		if isAlnum(c) {
			end = i + 1
		} else if c != '-' && c != '_' && c != '.' {
			break
		}
	}
	p.pos = end
	return p.src[start:end], nil
}

func (p *reqParser) parse() (Requirement, error) {
	var r Requirement
	var err error
	p.skipWS()
	if r.Name, err = p.identifier("a package name"); err != nil {
		return r, err
	}
	r.Normalized = pyname.Normalize(r.Name)
	p.skipWS()
	if p.peek() == '[' {
		if r.Extras, err = p.extras(); err != nil {
			return r, err
		}
		p.skipWS()
	}
	if p.peek() == '@' {
		p.pos++
		p.skipWS()
		start := p.pos
		for p.pos < len(p.src) && p.src[p.pos] != ' ' && p.src[p.pos] != '\t' {
			p.pos++
		}
		r.URL = p.src[start:p.pos]
		if r.URL == "" {
			return r, fmt.Errorf("expected a URL after @")
		}
		p.skipWS() // the URL ends at whitespace, so a ';' here is never part of it
	} else {
		spec := ""
		if p.peek() == '(' {
			end := strings.IndexByte(p.src[p.pos:], ')')
			if end < 0 {
				return r, fmt.Errorf("expected ')' closing the version specifier")
			}
			spec = p.src[p.pos+1 : p.pos+end]
			p.pos += end + 1
		} else {
			end := strings.IndexByte(p.src[p.pos:], ';')
			if end < 0 {
				end = len(p.src) - p.pos
			}
			spec = p.src[p.pos : p.pos+end]
			p.pos += end
		}
		if strings.TrimSpace(spec) != "" {
			if r.Specifier, err = ParseSpecifierSet(spec); err != nil {
				return r, err
			}
		}
		p.skipWS()
	}
	if p.pos == len(p.src) {
		return r, nil
	}
	if p.peek() != ';' {
		return r, fmt.Errorf("expected end or ';' at offset %d", p.pos)
	}
	p.pos++
	if r.Marker, err = ParseMarker(p.src[p.pos:]); err != nil {
		return r, err
	}
	return r, nil
}

func (p *reqParser) extras() ([]string, error) {
	p.pos++ // '['
	var extras []string
	p.skipWS()
	if p.peek() == ']' {
		p.pos++
		return extras, nil
	}
	for {
		p.skipWS()
		e, err := p.identifier("an extra name")
		if err != nil {
			return nil, err
		}
		extras = append(extras, e)
		p.skipWS()
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return extras, nil
		default:
			return nil, fmt.Errorf("expected ',' or ']' in extras at offset %d", p.pos)
		}
	}
}
