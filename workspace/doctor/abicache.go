package doctor

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/internal/atomicfile"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// abiCacheFormat names the layout of a cache file and of its keys; change
// it whenever either changes.
const abiCacheFormat = "forge doctor-abi cache 3"

// abiCache keeps the report of every environment a ABI check made,
// for the next check that finds nothing it depends on changed. One
// environment's report is a pure function of: its record (path, parent,
// interpreter, settings), its interpreter's facts, its policy, its host
// (probed anew every time: a changed driver, GPU, libc or --host-profile
// is another key), its layers and their counters in store.ABIState (the
// linked manifest rows, and through the entries counter what they name),
// and the code of this forge (the identity of its executable). The key of
// a report hashes all of them, so a report is reused only where a new check
// would give the same one.
//
// Reports are kept per host, in $FORGE_HOME/cache/abi/<host hash>, so that
// nodes sharing a forge home with other GPUs do not evict each other's: a
// header line (format and the payload's CRC-32C), then per environment its
// name, key and report (encodeABIEnv). A file that is torn, of another
// format, or does not decode counts as empty; writing is best effort.
type abiCache struct {
	noCache bool
	keys    []string // per plan; "" when it is not kept (no host)
	names   []string // per plan: the environment's name
	files   []string // per plan: the file of its host
	stored  map[string]map[string]cachedEnv
}

type cachedEnv struct {
	key string
	env *ABIEnv
}

func openABICache(w *workspace.Workspace, state *store.ABIState, plans []abiPlan, noCache bool) *abiCache {
	c := &abiCache{noCache: noCache, keys: make([]string, len(plans)), names: make([]string, len(plans)), files: make([]string, len(plans)), stored: map[string]map[string]cachedEnv{}}
	exe, err := os.Executable()
	if err != nil {
		return c
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return c
	}
	common := newKeyWriter()
	common.str(abiCacheFormat, exe, strconv.FormatInt(fi.Size(), 10), strconv.FormatInt(fi.ModTime().UnixNano(), 10), inode(fi),
		state.Instance, strconv.FormatInt(state.Entries, 10))
	commonSum := common.sum()
	hosts := map[*abi.Host]string{}
	interps := map[*probe.Interp]string{}
	for i, p := range plans {
		if p.host == nil || p.py == nil {
			continue
		}
		hh, ih := hashOnce(hosts, p.host), hashOnce(interps, p.py)
		if hh == "" || ih == "" {
			continue
		}
		k := newKeyWriter()
		k.bytes(commonSum)
		k.str(hh, ih, p.env.Env, p.env.Python, string(p.policy))
		if r := p.row; r != nil {
			k.str("row", r.Name, r.Path, r.Parent, r.Python, r.PythonVersion)
			for _, name := range slices.Sorted(maps.Keys(r.Settings)) {
				k.str(name, r.Settings[name])
			}
		}
		k.str("layers")
		for _, l := range p.layers {
			k.str(l.key, l.label, strconv.FormatInt(state.Layers[l.key], 10))
		}
		c.keys[i], c.names[i] = hex.EncodeToString(k.sum()), p.env.Env
		c.files[i] = filepath.Join(w.Home, "cache", "abi", hh[:32])
	}
	for _, f := range c.files {
		if _, done := c.stored[f]; f != "" && !done {
			c.stored[f] = readABICache(f)
		}
	}
	return c
}

// get returns plan i's kept report, or nil.
func (c *abiCache) get(i int) *ABIEnv {
	if c.noCache || c.keys[i] == "" {
		return nil
	}
	if ce, ok := c.stored[c.files[i]][c.names[i]]; ok && ce.key == c.keys[i] {
		return ce.env
	}
	return nil
}

// save keeps the reports of the plans numbered made, with those of the
// file that still name an environment (or a GLOBAL layer).
func (c *abiCache) save(made []int, results []*ABIEnv, envs map[string]bool) {
	touched := map[string]bool{}
	for _, i := range made {
		if c.keys[i] == "" {
			continue
		}
		f := c.files[i]
		if c.stored[f] == nil {
			c.stored[f] = map[string]cachedEnv{}
		}
		c.stored[f][c.names[i]] = cachedEnv{c.keys[i], results[i]}
		touched[f] = true
	}
	for f := range touched {
		m := c.stored[f]
		for name := range m {
			if !envs[name] && !store.LayerKey(name).IsGlobal() {
				delete(m, name)
			}
		}
		writeABICache(f, m)
	}
}

// inode is fi's device and inode number: a rebuilt executable is a new
// file even when its size and time match.
func inode(fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprint(st.Dev, ":", st.Ino)
	}
	return ""
}

// hashOnce returns the hash of what v points to (keyWriter.value), kept in
// m for the next plan with the same v; "" when it cannot be hashed.
func hashOnce[T comparable](m map[T]string, v T) string {
	h, ok := m[v]
	if !ok {
		k := newKeyWriter()
		if k.value(reflect.ValueOf(v)) {
			h = hex.EncodeToString(k.sum())
		}
		m[v] = h
	}
	return h
}

// keyWriter hashes a sequence of strings, each prefixed with its length,
// so that no two sequences hash alike by where their strings split.
type keyWriter struct {
	h   hash.Hash
	buf []byte // written to h in blocks: small writes cost more than the hashing
}

func newKeyWriter() *keyWriter { return &keyWriter{h: sha256.New()} }

func (k *keyWriter) str(ss ...string) {
	for _, s := range ss {
		k.buf = binary.AppendUvarint(k.buf, uint64(len(s)))
		k.buf = append(k.buf, s...)
		if len(k.buf) >= 16<<10 {
			k.h.Write(k.buf)
			k.buf = k.buf[:0]
		}
	}
}

func (k *keyWriter) bytes(b []byte) { k.str(string(b)) }

// sum is the hash of everything written.
func (k *keyWriter) sum() []byte {
	k.h.Write(k.buf)
	k.buf = k.buf[:0]
	return k.h.Sum(nil)
}

// value hashes v: every exported field of a struct, slices and arrays
// element by element, maps in key order, nil apart from empty. (JSON of a
// probed host, 50 KB with its library and tag lists, took a millisecond.)
// It returns false for a kind it does not know, such as a map whose keys
// are not strings.
func (k *keyWriter) value(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			k.str("nil")
			return true
		}
		k.str("*")
		return k.value(v.Elem())
	case reflect.Struct:
		t := v.Type()
		k.str(t.String())
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				k.str(t.Field(i).Name)
				if !k.value(v.Field(i)) {
					return false
				}
			}
		}
		return true
	case reflect.Slice:
		if v.IsNil() {
			k.str("nil")
			return true
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			k.str(string(v.Bytes()))
			return true
		}
		fallthrough
	case reflect.Array:
		k.str("[" + strconv.Itoa(v.Len()))
		for i := range v.Len() {
			if !k.value(v.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return false
		}
		if v.IsNil() {
			k.str("nil")
			return true
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		k.str("{" + strconv.Itoa(len(keys)))
		for _, key := range keys {
			k.str(key.String())
			if !k.value(v.MapIndex(key)) {
				return false
			}
		}
		return true
	case reflect.String:
		k.str(v.String())
	case reflect.Bool:
		k.str(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		k.str(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		k.str(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		k.str(strconv.FormatFloat(v.Float(), 'g', -1, 64))
	default:
		return false
	}
	return true
}

// crc32c is made on first use: making the table costs about 0.15 ms, and
// package initialisation is on the path of every forge command.
var crc32c = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// readABICache returns the reports in file f by environment name; empty
// when the file is missing or damaged.
func readABICache(f string) map[string]cachedEnv {
	b, err := os.ReadFile(f)
	if err != nil {
		return nil
	}
	head, payload, ok := bytes.Cut(b, []byte("\n"))
	if !ok || string(head) != fmt.Sprintf("%s %08x", abiCacheFormat, crc32.Checksum(payload, crc32c())) {
		return nil
	}
	m, ok := decodeABICache(string(payload))
	if !ok {
		return nil
	}
	return m
}

// writeABICache replaces file f at once (a reader sees the old file or the
// new one). BestEffort: a cache whose checksum fails after a power loss is
// ignored and recomputed. Failing to write it is not an error. 0o600 is the
// mode it always had.
func writeABICache(f string, m map[string]cachedEnv) {
	payload := encodeABICache(m)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		return
	}
	data := fmt.Appendf(nil, "%s %08x\n", abiCacheFormat, crc32.Checksum(payload, crc32c()))
	atomicfile.Write(f, append(data, payload...), 0o600, atomicfile.BestEffort)
}

// encodeABICache writes the reports of m, by name, as unsigned varints
// (counts) and length-prefixed strings, every field in declaration order.
// Decoding it costs one copy of the payload: each string of the reports is
// a slice of that copy. (gob, for reports of 5,000 packages, took 4 ms to
// decode: a third of a check that reused them all.)
// TestABICacheCodecFields fails when a field is added to the report's
// types and not here.
func encodeABICache(m map[string]cachedEnv) []byte {
	size := 16
	for name, ce := range m {
		e := ce.env
		size += 64 + len(name) + len(ce.key) + len(e.Env) + len(e.Python) + len(e.Host) + len(e.Policy) + len(e.Verdict) + len(e.Error)
		for _, p := range e.Packages {
			size += 16 + len(p.Name) + len(p.Version) + len(p.Entry) + len(p.Layer) + len(p.Verdict)
			for _, f := range p.Findings {
				size += 16 + len(f.Code) + len(f.Severity) + len(f.Message) + len(f.File)
				for _, l := range f.Libraries {
					size += 2 + len(l)
				}
			}
		}
	}
	b := make([]byte, 0, size)
	num := func(n int) { b = binary.AppendUvarint(b, uint64(n)) }
	str := func(ss ...string) {
		for _, s := range ss {
			num(len(s))
			b = append(b, s...)
		}
	}
	num(len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		ce := m[name]
		e := ce.env
		str(name, ce.key, e.Env, e.Python, e.Host, e.Policy, string(e.Verdict), e.Error)
		num(len(e.Packages))
		for _, p := range e.Packages {
			str(p.Name, p.Version, p.Entry, p.Layer, string(p.Verdict))
			num(len(p.Findings))
			for _, f := range p.Findings {
				str(f.Code, string(f.Severity), f.Message, f.File)
				num(len(f.Libraries))
				str(f.Libraries...)
			}
		}
	}
	return b
}

// decodeABICache reads what encodeABICache wrote; false when the payload
// is not exactly what it writes for some reports.
func decodeABICache(payload string) (map[string]cachedEnv, bool) {
	bad := false
	num := func() int {
		var n uint64
		for i := 0; i < len(payload) && i < binary.MaxVarintLen64; i++ {
			c := payload[i]
			n |= uint64(c&0x7f) << (7 * i)
			if c < 0x80 {
				if n > uint64(len(payload)) || c == 0 && i > 0 {
					break // every count is of something still to read; no padded varints
				}
				payload = payload[i+1:]
				return int(n)
			}
		}
		bad = true
		return 0
	}
	str := func() string {
		n := num()
		if bad || n > len(payload) {
			bad = true
			return ""
		}
		s := payload[:n]
		payload = payload[n:]
		return s
	}
	n := num()
	m := make(map[string]cachedEnv, n)
	prev := ""
	for i := range n {
		name, key := str(), str()
		if i > 0 && name <= prev {
			return nil, false // names are written sorted, each once
		}
		prev = name
		e := &ABIEnv{Env: str(), Python: str(), Host: str(), Policy: str(), Verdict: abi.Outcome(str()), Error: str()}
		e.Packages = make([]ABIPackage, 0, num())
		for range cap(e.Packages) {
			p := ABIPackage{Name: str(), Version: str(), Entry: str(), Layer: str(), Verdict: abi.Outcome(str())}
			p.Findings = make([]abi.Finding, 0, num())
			for range cap(p.Findings) {
				f := abi.Finding{Code: str(), Severity: abi.Severity(str()), Message: str(), File: str()}
				if nl := num(); nl > 0 && !bad {
					f.Libraries = make([]string, 0, min(nl, len(payload)))
					for range nl {
						f.Libraries = append(f.Libraries, str())
					}
				}
				p.Findings = append(p.Findings, f)
			}
			e.Packages = append(e.Packages, p)
		}
		if bad {
			return nil, false
		}
		m[name] = cachedEnv{key, e}
	}
	return m, !bad && payload == ""
}
