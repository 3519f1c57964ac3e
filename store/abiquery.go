package store

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
)

// The ABI re-check of every environment (forge doctor --abi) reads every
// linked manifest row and every entry it names: thousands of rows, where
// the driver's per-row and per-column cost (a cgo-free SQLite, through
// database/sql) was most of the command's time. These queries therefore
// have SQLite join each table's rows into one value, split here; a value
// that holds a separator itself is noticed (the record or field count is
// off) and the rows are read one by one instead.

// Separators of the aggregated queries: ASCII unit and record separators,
// which forge never writes into a name, a version or a digest, and which
// JSON (tags, fingerprint) always escapes.
const (
	fieldSep  = "\x1f"
	recordSep = "\x1e"
)

// ABIEntry is what an ABI re-check reads of a store entry: its identity and
// its fingerprint, left as the stored JSON so that the caller decodes only
// what it needs (see abi.Evaluator).
type ABIEntry struct {
	SHA256   string
	Name     string
	NormName string
	Version  string
	// Fingerprint is the stored abi.Fingerprint JSON.
	Fingerprint string
}

// LinkedManifests returns the manifest rows in state "linked", in no
// particular order (ordering by layer would read the table through its
// index, one seek per row). With layers, only those layers' rows.
func (s *Store) LinkedManifests(ctx context.Context, layers ...string) ([]Manifest, error) {
	where := `WHERE state = 'linked'`
	args := make([]any, len(layers))
	if len(layers) > 0 {
		where += ` AND layer IN (?` + strings.Repeat(`,?`, len(layers)-1) + `)`
		for i, l := range layers {
			args[i] = l
		}
	}
	var out []Manifest
	if s.aggregate(ctx, `layer||char(31)||norm_name||char(31)||entry`, `manifests `+where, args, 3, func(f []string) {
		out = append(out, Manifest{Layer: f[0], NormName: f[1], Entry: f[2], State: StateLinked})
	}) {
		return out, nil
	}
	out = out[:0]
	rows, err := s.db.QueryContext(ctx, `SELECT layer, norm_name, entry FROM manifests `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		m := Manifest{State: StateLinked}
		if err := rows.Scan(&m.Layer, &m.NormName, &m.Entry); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// maxParams bounds the digests of one IN list (SQLite allows 32,766
// parameters; fewer keep each statement small).
const maxParams = 500

// ABIEntries returns the entries with these digests, or every referenced
// entry (refs > 0) when shas is nil, in no particular order. A digest
// without a row is left out, and so is a row whose tags are not a JSON list
// of strings: Get fails on both, and an ABI re-check skips what Get cannot
// read (doctor reports it).
func (s *Store) ABIEntries(ctx context.Context, shas []string) ([]ABIEntry, error) {
	if shas == nil {
		return s.abiEntries(ctx, `WHERE refs > 0`, nil)
	}
	var out []ABIEntry
	for len(shas) > 0 {
		n := min(len(shas), maxParams)
		args := make([]any, n)
		for i, sha := range shas[:n] {
			args[i] = sha
		}
		es, err := s.abiEntries(ctx, `WHERE sha256 IN (?`+strings.Repeat(`,?`, n-1)+`)`, args)
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
		shas = shas[n:]
	}
	return out, nil
}

func (s *Store) abiEntries(ctx context.Context, where string, args []any) ([]ABIEntry, error) {
	tagsOK := map[string]bool{}
	var out []ABIEntry
	add := func(sha, name, norm, version, tags, fp string) {
		ok, seen := tagsOK[tags]
		if !seen {
			var t []string
			ok = json.Unmarshal([]byte(tags), &t) == nil
			tagsOK[tags] = ok
		}
		if ok {
			out = append(out, ABIEntry{SHA256: sha, Name: name, NormName: norm, Version: version, Fingerprint: fp})
		}
	}
	if s.aggregate(ctx, `sha256||char(31)||name||char(31)||norm_name||char(31)||version||char(31)||tags||char(31)||fingerprint`,
		`entries `+where, args, 6, func(f []string) { add(f[0], f[1], f[2], f[3], f[4], f[5]) }) {
		return out, nil
	}
	out = out[:0]
	rows, err := s.db.QueryContext(ctx, `SELECT sha256, name, norm_name, version, tags, fingerprint FROM entries `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var f [6]string
		if err := rows.Scan(&f[0], &f[1], &f[2], &f[3], &f[4], &f[5]); err != nil {
			return nil, err
		}
		add(f[0], f[1], f[2], f[3], f[4], f[5])
	}
	return out, rows.Err()
}

// aggregate reads the rows of "SELECT expr FROM from" as one value, expr
// joining fields with fieldSep, and calls fn with each row's fields (which
// share one string). It returns false, having called fn for some rows or
// none, when a field holds a separator or the query fails (a value over
// SQLite's length limit): the caller must then read the rows one by one,
// which reports any error that remains.
func (s *Store) aggregate(ctx context.Context, expr, from string, args []any, fields int, fn func([]string)) bool {
	var n int
	var all string
	if err := s.db.QueryRowContext(ctx, `SELECT count(*), COALESCE(group_concat(`+expr+`, char(30)), '') FROM `+from, args...).Scan(&n, &all); err != nil {
		return false
	}
	if n == 0 {
		return true
	}
	if strings.Count(all, recordSep) != n-1 || strings.Count(all, fieldSep) != n*(fields-1) {
		return false
	}
	f := make([]string, fields)
	for rec := range strings.SplitSeq(all, recordSep) {
		for i := 0; i < fields-1; i++ {
			var ok bool
			if f[i], rec, ok = strings.Cut(rec, fieldSep); !ok {
				return false
			}
		}
		if strings.Contains(rec, fieldSep) {
			return false
		}
		f[fields-1] = rec
		fn(f)
	}
	return true
}

// ABIState is what of the database an ABI re-check of one environment
// depends on besides the environments' own records, as counters that
// triggers advance (migration 2): two reads that give the same counters for
// a set of layers saw the same linked manifest rows in them, and the same
// entries they name.
type ABIState struct {
	// Instance is this database's random identity.
	Instance string
	// Entries counts changes to what a check reads of an entry.
	Entries int64
	// Layers counts, per layer, changes to its manifest rows in state
	// "linked"; a layer that never had one is absent (0).
	Layers map[string]int64
}

// Equal reports whether two states are the same.
func (a *ABIState) Equal(b *ABIState) bool {
	return a.Instance == b.Instance && a.Entries == b.Entries && maps.Equal(a.Layers, b.Layers)
}

// ABIState reads the counters.
func (s *Store) ABIState(ctx context.Context) (*ABIState, error) {
	st := &ABIState{Layers: map[string]int64{}}
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT value FROM meta WHERE key = 'instance'),
		(SELECT value FROM meta WHERE key = 'abi_entries')`).Scan(&st.Instance, &st.Entries)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT layer, gen FROM abi_layers`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var l string
		var gen int64
		if err := rows.Scan(&l, &gen); err != nil {
			return nil, err
		}
		st.Layers[l] = gen
	}
	return st, rows.Err()
}

// LinkedGlobalLayers returns the GLOBAL layers ("GLOBAL/X.Y") that have a
// manifest row in state "linked", sorted.
func (s *Store) LinkedGlobalLayers(ctx context.Context) ([]string, error) {
	// The primary key (layer, norm_name) bounds the scan to GLOBAL's rows.
	return queryStrings(ctx, s.db, `SELECT DISTINCT layer FROM manifests
		WHERE layer >= 'GLOBAL/' AND layer < 'GLOBAL0' AND state = 'linked' ORDER BY layer`)
}
