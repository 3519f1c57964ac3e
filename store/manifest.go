package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// A ManifestState is where a manifest row is in its life. A row is "linking" from BeginLinks until every link of
// its entry exists (FinishLinks makes it "linked"); "unlinking" from the
// start of an uninstall until the row goes; "relinking" while doctor --fix
// replaces the links of an installed package. Each names what an
// interrupted command meant, so that recovery finishes that and nothing
// else: a "linking" row is rolled back (the install never completed), an
// "unlinking" one removed, a "relinking" one linked again.
type ManifestState string

// The manifest states.
const (
	StateLinking   ManifestState = "linking"
	StateLinked    ManifestState = "linked"
	StateUnlinking ManifestState = "unlinking"
	StateRelinking ManifestState = "relinking"
)

// Manifest is one entry linked into one layer. Refcounts of entries equal
// the number of manifest rows that name them; every function here keeps that
// true inside one transaction.
type Manifest struct {
	Layer     string        `json:"layer"`
	NormName  string        `json:"norm_name"`
	Entry     string        `json:"entry"`
	LinkMode  string        `json:"link_mode"`
	State     ManifestState `json:"state"`
	Requested bool          `json:"requested"`
}

// Link is a path of a layer (relative to its root) owned by an entry.
type Link struct {
	Path string `json:"path"`
	Kind string `json:"kind"` // linker.LinkKind's spelling: "link", "file" or "dir"
}

// BeginLink records that entry is about to be linked into layer (state
// "linking") and counts the reference. A crash before FinishLink leaves a
// row that doctor recognises and rolls back.
func (s *Store) BeginLink(ctx context.Context, m Manifest) error {
	return s.BeginLinks(ctx, []Manifest{m})
}

// BeginLinks is BeginLink for several entries in one transaction.
func (s *Store) BeginLinks(ctx context.Context, ms []Manifest) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	p := s.prepTx(ctx, tx)
	now := time.Now().UnixNano()
	// One statement inserts the rows whose entries exist (the common case:
	// all of them, with the same layer, mode and request); otherwise, or
	// on a conflict, one statement per row names the row at fault.
	if !insertManifests(p, ms, now) {
		if err := insertManifestRows(p, ms, now); err != nil {
			return err
		}
	}
	// Entries grouped by how often the batch names them: one statement per
	// distinct count (almost always just 1).
	times := map[string]int{}
	for _, m := range ms {
		times[m.Entry]++
	}
	byCount := map[int][]any{}
	for e, n := range times {
		byCount[n] = append(byCount[n], e)
	}
	for n, entries := range byCount {
		if _, err := p.exec(`UPDATE entries SET refs = refs + ? WHERE sha256 IN (SELECT value FROM json_each(?))`, n, jsonList(entries)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// jsonList encodes strings as a JSON array, for json_each.
func jsonList(vals []any) string {
	b, _ := json.Marshal(vals)
	return string(b)
}

// insertManifests inserts ms in one statement when they share layer, link
// mode and request flag, and reports whether every row went in. On false
// nothing was inserted (SQLite undoes a failed statement alone).
func insertManifests(p *prepTx, ms []Manifest, now int64) bool {
	if len(ms) == 0 {
		return true
	}
	rows := make([]any, len(ms))
	for i, m := range ms {
		if m.Layer != ms[0].Layer || m.LinkMode != ms[0].LinkMode || m.Requested != ms[0].Requested {
			return false
		}
		rows[i] = []string{m.NormName, m.Entry}
	}
	res, err := p.exec(`INSERT INTO manifests (layer, norm_name, entry, link_mode, state, requested, created_at)
		SELECT ?, json_extract(j.value, '$[0]'), e.sha256, ?, 'linking', ?, ?
		FROM json_each(?) j JOIN entries e ON e.sha256 = json_extract(j.value, '$[1]')`,
		ms[0].Layer, ms[0].LinkMode, ms[0].Requested, now, jsonList(rows))
	if err != nil {
		return false
	}
	if n, _ := res.RowsAffected(); n != int64(len(ms)) {
		// An entry was collected meanwhile: take the rows out again, so
		// that the per-row path reports which.
		p.exec(`DELETE FROM manifests WHERE layer = ? AND state = 'linking' AND created_at = ? AND norm_name IN (SELECT json_extract(value, '$[0]') FROM json_each(?))`,
			ms[0].Layer, now, jsonList(rows))
		return false
	}
	return true
}

// insertManifestRows inserts ms one statement per row.
func insertManifestRows(p *prepTx, ms []Manifest, now int64) error {
	for _, m := range ms {
		res, err := p.exec(`INSERT INTO manifests (layer, norm_name, entry, link_mode, state, requested, created_at)
			SELECT ?, ?, sha256, ?, 'linking', ?, ? FROM entries WHERE sha256 = ?`,
			m.Layer, m.NormName, m.LinkMode, m.Requested, now, m.Entry)
		if err != nil {
			return fmt.Errorf("layer %s: %s: %w", m.Layer, m.NormName, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("entry %s: %w (collected while linking?)", m.Entry, ErrNotFound)
		}
	}
	return nil
}

// Split mirrors linker.Split: a link owned by some entry replaced by links
// to its children.
type Split struct {
	Path     string
	Children []string
}

// Linked is what linking one entry produced, for FinishLinks.
type Linked struct {
	Entry  string
	Links  []Link
	Splits []Split
}

// FinishLink records the paths the entry owns in the layer, moves ownership
// for splits, and marks the manifest linked. It returns the entries whose
// paths changed by a split (their RECORD must be rewritten).
func (s *Store) FinishLink(ctx context.Context, layer, entry string, links []Link, splits []Split) ([]string, error) {
	return s.FinishLinks(ctx, layer, []Linked{{Entry: entry, Links: links, Splits: splits}})
}

// FinishLinks is FinishLink for several entries in one transaction, applied
// in order.
func (s *Store) FinishLinks(ctx context.Context, layer string, done []Linked) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	changed := map[string]bool{}
	p := s.prepTx(ctx, tx)
	if hasSplits(done) {
		for _, d := range done {
			if err := finishOne(p, layer, d, changed); err != nil {
				return nil, err
			}
		}
	} else if err := finishBatch(p, layer, done); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	var out []string
	for e := range changed {
		out = append(out, e)
	}
	sort.Strings(out)
	return out, nil
}

// insertLinks records [path, entry, kind] triples of a layer in one
// statement (one pass over one JSON array).
func insertLinks(p *prepTx, layer string, links []any) error {
	if len(links) == 0 {
		return nil
	}
	_, err := p.exec(`INSERT OR IGNORE INTO links (layer, path, entry, kind)
		SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?)`,
		layer, jsonList(links))
	return err
}

func hasSplits(done []Linked) bool {
	for _, d := range done {
		if len(d.Splits) > 0 {
			return true
		}
	}
	return false
}

// finishBatch is finishOne for packages that split nothing, so that no
// package's rows depend on another's: every link in one statement and
// every manifest in another (a warm install of 200 packages made 400).
func finishBatch(p *prepTx, layer string, done []Linked) error {
	var links, manifests []any
	for _, d := range done {
		manifests = append(manifests, d.Entry)
		for _, l := range d.Links {
			links = append(links, []string{l.Path, d.Entry, l.Kind})
		}
	}
	if err := insertLinks(p, layer, links); err != nil {
		return err
	}
	res, err := p.exec(`UPDATE manifests SET state = 'linked' WHERE layer = ? AND entry IN (SELECT value FROM json_each(?))`, layer, jsonList(manifests))
	if err != nil {
		return err
	}
	want := map[any]bool{}
	for _, m := range manifests {
		want[m] = true
	}
	if n, _ := res.RowsAffected(); n != int64(len(want)) {
		return fmt.Errorf("layer %s: %d of %d manifests to mark linked: %w", layer, n, len(want), ErrNotFound)
	}
	return nil
}

func finishOne(p *prepTx, layer string, d Linked, changed map[string]bool) error {
	for _, sp := range d.Splits {
		rows, err := p.query(`SELECT entry, kind FROM links WHERE layer = ? AND path = ?`, layer, sp.Path)
		if err != nil {
			return err
		}
		type owner struct{ entry, kind string }
		var owners []owner
		for rows.Next() {
			var o owner
			if err := rows.Scan(&o.entry, &o.kind); err != nil {
				rows.Close()
				return err
			}
			owners = append(owners, o)
		}
		rows.Close()
		for _, o := range owners {
			if _, err := p.exec(`DELETE FROM links WHERE layer = ? AND path = ? AND entry = ?`, layer, sp.Path, o.entry); err != nil {
				return err
			}
			for _, c := range sp.Children {
				if _, err := p.exec(`INSERT OR IGNORE INTO links (layer, path, entry, kind) VALUES (?,?,?,?)`, layer, c, o.entry, o.kind); err != nil {
					return err
				}
			}
			if o.entry != d.Entry {
				changed[o.entry] = true
			}
		}
	}
	// The links of one entry in one statement.
	links := make([]any, len(d.Links))
	for i, l := range d.Links {
		links[i] = []string{l.Path, d.Entry, l.Kind}
	}
	if err := insertLinks(p, layer, links); err != nil {
		return err
	}
	res, err := p.exec(`UPDATE manifests SET state = 'linked' WHERE layer = ? AND entry = ?`, layer, d.Entry)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("layer %s: manifest for %s: %w", layer, d.Entry, ErrNotFound)
	}
	return nil
}

// Manifests returns the manifest rows of a layer, by name.
func (s *Store) Manifests(ctx context.Context, layer string) ([]Manifest, error) {
	return s.queryManifests(ctx, `WHERE layer = ? ORDER BY norm_name`, layer)
}

// AllManifests returns every manifest row.
func (s *Store) AllManifests(ctx context.Context) ([]Manifest, error) {
	return s.queryManifests(ctx, `ORDER BY layer, norm_name`)
}

func (s *Store) queryManifests(ctx context.Context, where string, args ...any) ([]Manifest, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT layer, norm_name, entry, link_mode, state, requested FROM manifests `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Manifest
	for rows.Next() {
		var m Manifest
		if err := rows.Scan(&m.Layer, &m.NormName, &m.Entry, &m.LinkMode, &m.State, &m.Requested); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ManifestFor returns the row for a project in a layer, or ErrNotFound.
func (s *Store) ManifestFor(ctx context.Context, layer, normName string) (*Manifest, error) {
	ms, err := s.queryManifests(ctx, `WHERE layer = ? AND norm_name = ?`, layer, normName)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%s in layer %s: %w", normName, layer, ErrNotFound)
	}
	return &ms[0], nil
}

// Links returns the paths an entry owns in a layer.
func (s *Store) Links(ctx context.Context, layer, entry string) ([]Link, error) {
	return s.queryLinks(ctx, `SELECT path, kind FROM links WHERE layer = ? AND entry = ? ORDER BY path`, layer, entry)
}

func (s *Store) queryLinks(ctx context.Context, query string, args ...any) ([]Link, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Link
	for rows.Next() {
		var l Link
		if err := rows.Scan(&l.Path, &l.Kind); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// PathOwners returns the entries owning a path of a layer.
func (s *Store) PathOwners(ctx context.Context, layer, path string) ([]string, error) {
	return queryStrings(ctx, s.db, `SELECT entry FROM links WHERE layer = ? AND path = ?`, layer, path)
}

// ExclusiveLinks returns the paths of entry in layer that no other entry
// also owns: what unlinking the entry may remove.
func (s *Store) ExclusiveLinks(ctx context.Context, layer, entry string) ([]Link, error) {
	return s.queryLinks(ctx, `SELECT l.path, l.kind FROM links l WHERE l.layer = ? AND l.entry = ?
		AND NOT EXISTS (SELECT 1 FROM links o WHERE o.layer = l.layer AND o.path = l.path AND o.entry != l.entry) ORDER BY l.path`, layer, entry)
}

// RemoveManifest deletes the row of a project in a layer with its links and
// drops the entry's refcount, in one transaction.
func (s *Store) RemoveManifest(ctx context.Context, layer, normName string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var entry string
	err = tx.QueryRowContext(ctx, `SELECT entry FROM manifests WHERE layer = ? AND norm_name = ?`, layer, normName).Scan(&entry)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s in layer %s: %w", normName, layer, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM links WHERE layer = ? AND entry = ?`, layer, entry); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM manifests WHERE layer = ? AND norm_name = ?`, layer, normName); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE entries SET refs = refs - 1 WHERE sha256 = ?`, entry); err != nil {
		return err
	}
	return tx.Commit()
}

// SetManifestState marks a row, e.g. "unlinking" before its links are
// removed, so that a crash in between is recognisable.
func (s *Store) SetManifestState(ctx context.Context, layer, normName string, state ManifestState) error {
	_, err := s.db.ExecContext(ctx, `UPDATE manifests SET state = ? WHERE layer = ? AND norm_name = ?`, string(state), layer, normName)
	return err
}

// ClearLinkRows deletes every links row of an entry in a layer and keeps its
// manifest row (and so the refcount): a relink records the paths again.
func (s *Store) ClearLinkRows(ctx context.Context, layer, entry string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM links WHERE layer = ? AND entry = ?`, layer, entry)
	return err
}

// HasManifest reports whether a layer has a manifest row (in any state) for
// an entry, read now: doctor checks a finding again against rows committed
// after its snapshot.
func (s *Store) HasManifest(ctx context.Context, layer, entry string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM manifests WHERE layer = ? AND entry = ?`, layer, entry).Scan(&n)
	return n > 0, err
}
