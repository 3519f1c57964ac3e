package abi

import (
	"encoding/json"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Evaluator gives the verdicts of many stored fingerprints (JSON, as the
// store keeps them) while decoding and checking each distinct
// verdict-relevant content once. A store holds thousands of wheels whose
// fingerprints differ only in what Check never reads (most pure wheels: a
// name, a version and py3-none-any), and forge doctor --abi asks for the
// same wheel in every environment that sees it. Decoding a fingerprint seen
// before costs a scan to its key: 0.8 µs against json.Unmarshal's 7.7 µs
// (BenchmarkEvaluatorDecode and BenchmarkPlainDecode, three typical
// fingerprints); with the checks done once per key, doctor --abi over
// 5,000 entries and 200 environments went from 311 to 43 ms.
//
// Its results are exactly those of json.Unmarshal followed by Evaluate. An
// Evaluator is not safe for concurrent use.
type Evaluator struct {
	fps      map[string]decoded
	verdicts map[verdictKey]Verdict
	buf      []byte
}

type decoded struct {
	fp  *Fingerprint
	key string
	err error
}

type verdictKey struct {
	fp     string
	host   *Host
	policy Policy
	// provided is providedLibsKey of ProvidedLibs, "" when none is given.
	provided string
	vis      string
	hasVis   bool
	// files are the ProvidedFiles whose names fp's files need, "\x00" when
	// ProvidedFiles is set but names none of them, "" when it is nil.
	files string
}

// providedLibsKey is the part of libs that Check can read for fp: one byte
// per library fp or one of its ELF members needs, whether libs names it. A
// stored fingerprint's Needed holds every member's needs; a hand-made one's
// may not (the fuzzer made one), so a member's need missing from Needed is
// marked too.
func providedLibsKey(fp *Fingerprint, libs []string) string {
	b := make([]byte, 0, len(fp.Needed)+1)
	mark := func(n string) {
		c := byte('0')
		if slices.Contains(libs, n) {
			c = '1'
		}
		b = append(b, c)
	}
	for _, n := range fp.Needed {
		mark(n)
	}
	b = append(b, '/')
	for _, e := range fp.ELFs {
		for _, n := range e.Needed {
			if !slices.Contains(fp.Needed, n) {
				mark(n)
			}
		}
	}
	return string(b)
}

// providedFilesKey is the part of files that Check can read for fp: the
// paths whose base name some member of fp needs.
func providedFilesKey(fp *Fingerprint, files []string) string {
	need := map[string]bool{}
	for _, e := range fp.ELFs {
		for _, n := range e.Needed {
			need[n] = true
		}
	}
	var b strings.Builder
	b.WriteByte(0)
	for _, f := range files {
		if need[path.Base(f)] {
			b.WriteString(f)
			b.WriteByte(0)
		}
	}
	return b.String()
}

// NewEvaluator returns an empty Evaluator.
func NewEvaluator() *Evaluator {
	return &Evaluator{fps: map[string]decoded{}, verdicts: map[verdictKey]Verdict{}}
}

// Decode returns the fingerprint stored as JSON in raw, for Check, and the
// key of its verdict-relevant content. Fingerprints whose JSON differs only
// in members Check never reads (name, build, wheel_tags, files, and version
// when there is no cuda_flavour) share one decoded value: its Name, Version,
// Build, WheelTags and Files are those of the first one decoded, so take a
// wheel's identity from elsewhere. The error is nil exactly when
// json.Unmarshal accepts raw. The caller must not modify the fingerprint.
func (ev *Evaluator) Decode(raw string) (*Fingerprint, string, error) {
	k, ok := ev.checkKey(raw)
	if !ok {
		k = append(append(ev.buf[:0], 0), raw...) // not a key checkKey makes
	}
	ev.buf = k
	if d, ok := ev.fps[string(k)]; ok {
		return d.fp, d.key, d.err
	}
	fp := new(Fingerprint)
	d := decoded{fp: fp, key: string(k), err: json.Unmarshal([]byte(raw), fp)}
	ev.fps[d.key] = d
	return fp, d.key, d.err
}

// Evaluate is Evaluate(fp, h, p, opts) for a fingerprint Decode returned
// with key. Each distinct (key, host, policy, provided libraries that fp
// needs, visible devices) is checked once; hosts are told apart by pointer,
// so the caller must not modify a host between calls. The verdict's
// Findings may be shared with other calls: do not modify them.
func (ev *Evaluator) Evaluate(key string, fp *Fingerprint, h *Host, p Policy, opts CheckOptions) Verdict {
	k := verdictKey{fp: key, host: h, policy: p}
	if len(opts.ProvidedLibs) > 0 {
		k.provided = providedLibsKey(fp, opts.ProvidedLibs)
	}
	if opts.VisibleDevices != nil {
		k.vis, k.hasVis = *opts.VisibleDevices, true
	}
	if opts.ProvidedFiles != nil {
		k.files = providedFilesKey(fp, opts.ProvidedFiles)
	}
	if v, ok := ev.verdicts[k]; ok {
		return v
	}
	v := Evaluate(fp, h, p, opts)
	ev.verdicts[k] = v
	return v
}

// fingerprintMembers numbers the JSON member names of Fingerprint.
var fingerprintMembers = sync.OnceValue(func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeFor[Fingerprint]()
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			m[name] = len(m)
		}
	}
	if len(m) > 64 {
		panic("abi: Fingerprint has more members than checkKey tracks")
	}
	return m
})

// checkKey appends to ev.buf raw reduced to the members Check reads: a JSON
// object of them, in raw's order and with raw's text for each value, then
// version when the CUDA checks read it. Fingerprints with the same key
// decode to fingerprints Check cannot tell apart, and either both decode or
// neither does: what the key leaves out (layout, left-out members) is
// checked here to be valid JSON that decodes into its field, so validity
// rests on the key's values alone, which are the same text.
//
// It gives up (false) on anything but an object whose members are
// distinct, exactly spelled Fingerprint members: json.Unmarshal matches
// names regardless of case, so another spelling could set a field the key
// does not show.
func (ev *Evaluator) checkKey(raw string) ([]byte, bool) {
	k := keyBuilder{b: append(ev.buf[:0], '{'), known: fingerprintMembers()}
	i, ok := k.object(raw)
	if !ok || skipSpace(raw, i) != len(raw) {
		return k.b, false
	}
	if k.cuda && k.version != "" {
		// The CUDA checks name the version.
		k.add("version", k.version)
	}
	return append(k.b, '}'), true
}

// keyBuilder is checkKey's progress through one object.
type keyBuilder struct {
	b       []byte // the key so far
	known   map[string]int
	seen    uint64 // bit n: member n of known was read
	version string // the version member's text
	cuda    bool   // a cuda_flavour member was read
}

// object reads the object at the start of raw into the key; it returns the
// index after it.
func (k *keyBuilder) object(raw string) (int, bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return i, false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return i + 1, true
	}
	for {
		name, value, vend, ok := k.nextMember(raw, i)
		if !ok || !k.member(name, value) {
			return i, false
		}
		i = skipSpace(raw, vend)
		if i >= len(raw) {
			return i, false
		}
		if raw[i] == '}' {
			return i + 1, true
		}
		if raw[i] != ',' {
			return i, false
		}
		i = skipSpace(raw, i+1)
	}
}

// nextMember reads the member at i: its name (a Fingerprint member not seen
// before), its value's text and the index after the value.
func (k *keyBuilder) nextMember(raw string, i int) (name, value string, vend int, ok bool) {
	if i >= len(raw) || raw[i] != '"' {
		return "", "", 0, false
	}
	end, ok := scanString(raw, i)
	if !ok {
		return "", "", 0, false
	}
	name = raw[i+1 : end-1]
	n, known := k.known[name]
	if !known || k.seen&(1<<n) != 0 {
		return "", "", 0, false
	}
	k.seen |= 1 << n
	i = skipSpace(raw, end)
	if i >= len(raw) || raw[i] != ':' {
		return "", "", 0, false
	}
	i = skipSpace(raw, i+1)
	vend = skipValue(raw, i)
	return name, raw[i:vend], vend, true
}

// member adds one member to the key, or checks that one the key leaves out
// decodes into its field.
func (k *keyBuilder) member(name, value string) bool {
	switch name {
	case "name", "build":
		if !stringOrNull(value) {
			return false
		}
		if name == "name" && strings.Contains(value, "-cu") {
			// CUDAMajor reads a nvidia-*-cuNN name.
			k.add(name, value)
		}
	case "version":
		if !stringOrNull(value) {
			return false
		}
		k.version = value
	case "files":
		return intOrNull(value)
	case "wheel_tags":
		return stringsOrNull(value)
	default:
		k.cuda = k.cuda || name == "cuda_flavour"
		k.add(name, value)
	}
	return true
}

// add appends "name":value to the key.
func (k *keyBuilder) add(name, value string) {
	if len(k.b) > 1 {
		k.b = append(k.b, ',')
	}
	k.b = append(k.b, '"')
	k.b = append(k.b, name...)
	k.b = append(k.b, '"', ':')
	k.b = append(k.b, value...)
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index after the JSON string that starts at i, and
// whether it is a valid one.
func scanString(s string, i int) (int, bool) {
	for i++; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			i++
			if i >= len(s) {
				return i, false
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s) {
					return i, false
				}
				for _, h := range []byte(s[i+1 : i+5]) {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return i, false
					}
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

// skipValue returns the index where the value that starts at i ends,
// without checking it: strings and brackets are followed, anything else
// runs to the next delimiter.
func skipValue(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '"':
		end, _ := scanString(s, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(s) {
			switch s[i] {
			case '"':
				i, _ = scanString(s, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(s) && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
		i++
	}
	return i
}

// stringOrNull: a valid JSON string, or null.
func stringOrNull(v string) bool {
	if v == "null" {
		return true
	}
	end, ok := scanString(v, 0)
	return len(v) > 0 && v[0] == '"' && ok && end == len(v)
}

// intOrNull: a valid JSON number that decodes into an int (no fraction, no
// exponent, at most 18 digits), or null.
func intOrNull(v string) bool {
	if v == "null" {
		return true
	}
	if len(v) > 0 && v[0] == '-' {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 18 || len(v) > 1 && v[0] == '0' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// stringsOrNull: a JSON array of valid strings, or null.
func stringsOrNull(v string) bool {
	if v == "null" {
		return true
	}
	if len(v) == 0 || v[0] != '[' {
		return false
	}
	i := skipSpace(v, 1)
	if i < len(v) && v[i] == ']' {
		return i+1 == len(v)
	}
	for i < len(v) && v[i] == '"' {
		end, ok := scanString(v, i)
		if !ok {
			return false
		}
		i = skipSpace(v, end)
		if i < len(v) && v[i] == ']' {
			return i+1 == len(v)
		}
		if i >= len(v) || v[i] != ',' {
			return false
		}
		i = skipSpace(v, i+1)
	}
	return false
}
