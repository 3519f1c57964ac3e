package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Snapshot is a restore point of one environment's own layer: the packages
// its manifest rows held (state "linked") and its settings. Its entries are
// kept by gc for as long as the snapshot exists.
type Snapshot struct {
	ID       int64             `json:"-"`
	Env      string            `json:"env"`
	Name     string            `json:"name"`
	Auto     bool              `json:"auto"`
	Created  time.Time         `json:"created"`
	Settings map[string]string `json:"settings"`
	Entries  []SnapshotEntry   `json:"entries"`
}

// SnapshotEntry is one package of a snapshot: what its manifest row held,
// with the entry's name and version so that a report can name an entry the
// store no longer has.
type SnapshotEntry struct {
	NormName  string `json:"norm_name"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	Entry     string `json:"entry"`
	LinkMode  string `json:"link_mode"`
	Requested bool   `json:"requested"`
}

// CreateSnapshot records a snapshot of env's layer as it is now, in one
// transaction: the settings of its row and its manifest rows in state
// "linked" (the caller holds the layer's lock and has refused rows in any
// other state). ErrExists when env already has a snapshot of that name.
// The entries it names are referenced when it commits (their manifest rows
// are), so gc cannot have collected one in between.
func (s *Store) CreateSnapshot(ctx context.Context, env, name string, auto bool, now time.Time) (*Snapshot, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var settings string
	err = tx.QueryRowContext(ctx, `SELECT settings FROM envs WHERE name = ?`, env).Scan(&settings)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("environment %s: %w", env, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM snapshots WHERE env = ? AND name = ?`, env, name).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, fmt.Errorf("environment %s already has a snapshot %s (forge snapshot rm %s %s removes it): %w", env, name, env, name, ErrExists)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO snapshots (env, name, auto, settings, created_at) VALUES (?,?,?,?,?)`,
		env, name, auto, settings, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("environment %s: snapshot %s: %w", env, name, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO snapshot_entries (snapshot, norm_name, entry, name, version, link_mode, requested)
		SELECT ?, m.norm_name, m.entry, e.name, e.version, m.link_mode, m.requested
		FROM manifests m JOIN entries e ON e.sha256 = m.entry WHERE m.layer = ? AND m.state = 'linked'`, id, env); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return s.snapshotByID(ctx, id)
}

// Snapshots returns env's snapshots, oldest first, with their entries.
func (s *Store) Snapshots(ctx context.Context, env string) ([]*Snapshot, error) {
	return s.querySnapshots(ctx, `WHERE env = ? ORDER BY created_at, id`, env)
}

// SnapshotNamed returns env's snapshot called name, or ErrNotFound.
func (s *Store) SnapshotNamed(ctx context.Context, env, name string) (*Snapshot, error) {
	out, err := s.querySnapshots(ctx, `WHERE env = ? AND name = ?`, env, name)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("environment %s has no snapshot %s (forge snapshots %s lists them): %w", env, name, env, ErrNotFound)
	}
	return out[0], nil
}

func (s *Store) snapshotByID(ctx context.Context, id int64) (*Snapshot, error) {
	out, err := s.querySnapshots(ctx, `WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("snapshot %d: %w", id, ErrNotFound)
	}
	return out[0], nil
}

func (s *Store) querySnapshots(ctx context.Context, where string, args ...any) ([]*Snapshot, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, env, name, auto, settings, created_at FROM snapshots `+where, args...)
	if err != nil {
		return nil, err
	}
	var out []*Snapshot
	byID := map[int64]*Snapshot{}
	for rows.Next() {
		var sn Snapshot
		var settings string
		var created int64
		if err := rows.Scan(&sn.ID, &sn.Env, &sn.Name, &sn.Auto, &settings, &created); err != nil {
			rows.Close()
			return nil, err
		}
		if err := json.Unmarshal([]byte(settings), &sn.Settings); err != nil {
			rows.Close()
			return nil, fmt.Errorf("environment %s: snapshot %s: settings: %w", sn.Env, sn.Name, ErrCorrupt)
		}
		if sn.Settings == nil {
			sn.Settings = map[string]string{}
		}
		sn.Created = time.Unix(0, created).UTC()
		sn.Entries = []SnapshotEntry{}
		out = append(out, &sn)
		byID[sn.ID] = &sn
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]any, 0, len(out))
	for _, sn := range out {
		ids = append(ids, sn.ID)
	}
	er, err := s.db.QueryContext(ctx, `SELECT snapshot, norm_name, entry, name, version, link_mode, requested FROM snapshot_entries
		WHERE snapshot IN (SELECT value FROM json_each(?)) ORDER BY snapshot, norm_name`, jsonList(ids))
	if err != nil {
		return nil, err
	}
	defer er.Close()
	for er.Next() {
		var id int64
		var e SnapshotEntry
		if err := er.Scan(&id, &e.NormName, &e.Entry, &e.Name, &e.Version, &e.LinkMode, &e.Requested); err != nil {
			return nil, err
		}
		if sn := byID[id]; sn != nil {
			sn.Entries = append(sn.Entries, e)
		}
	}
	return out, er.Err()
}

// RemoveSnapshot deletes env's snapshot called name (ErrNotFound when there
// is none); its entries become collectable unless something else keeps
// them. A snapshot an interrupted rollback is restoring is refused with
// ErrLocked: doctor --fix needs it to finish.
func (s *Store) RemoveSnapshot(ctx context.Context, env, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `SELECT id FROM snapshots WHERE env = ? AND name = ?`, env, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("environment %s has no snapshot %s (forge snapshots %s lists them): %w", env, name, env, ErrNotFound)
	}
	if err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rollbacks WHERE snapshot = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("environment %s: snapshot %s: an interrupted rollback is restoring it (forge doctor --fix finishes it): %w", env, name, ErrLocked)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM snapshots WHERE id = ?`, id); err != nil {
		return err
	}
	return tx.Commit()
}

// PruneAutoSnapshots deletes env's automatic snapshots but the newest keep,
// never one an interrupted rollback is restoring, and returns the names
// deleted, oldest first. Snapshots taken by hand are never pruned.
func (s *Store) PruneAutoSnapshots(ctx context.Context, env string, keep int) ([]string, error) {
	if keep < 0 {
		keep = 0
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, name FROM snapshots WHERE env = ? AND auto
		AND id NOT IN (SELECT snapshot FROM rollbacks) ORDER BY created_at DESC, id DESC`, env)
	if err != nil {
		return nil, err
	}
	var ids []any
	var names []string
	for i := 0; rows.Next(); i++ {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return nil, err
		}
		if i >= keep {
			ids = append(ids, id)
			names = append([]string{name}, names...)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM snapshots WHERE id IN (SELECT value FROM json_each(?))`, jsonList(ids)); err != nil {
		return nil, err
	}
	return names, tx.Commit()
}

// SetEnvSettings replaces every setting of an environment (a rollback
// restores a snapshot's).
func (s *Store) SetEnvSettings(ctx context.Context, name string, settings map[string]string) error {
	if settings == nil {
		settings = map[string]string{}
	}
	b, _ := json.Marshal(settings)
	res, err := s.db.ExecContext(ctx, `UPDATE envs SET settings = ? WHERE name = ?`, string(b), name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("environment %s: %w", name, ErrNotFound)
	}
	return nil
}

// PendingRollback is a rollback that began changing an environment and has
// not finished (its process died, or its undo failed).
type PendingRollback struct {
	Env      string    `json:"env"`
	Snapshot string    `json:"snapshot"`
	Started  time.Time `json:"started"`
}

// BeginRollback records, before any file changes, that env is being rolled
// back to its snapshot called name. ErrLocked when one already is.
func (s *Store) BeginRollback(ctx context.Context, env, name string, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rollbacks WHERE env = ?`, env).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("environment %s: a rollback was interrupted (forge doctor --fix finishes it): %w", env, ErrLocked)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO rollbacks (env, snapshot, started_at)
		SELECT env, id, ? FROM snapshots WHERE env = ? AND name = ?`, now.UnixNano(), env, name)
	if err != nil {
		return err
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("environment %s has no snapshot %s: %w", env, name, ErrNotFound)
	}
	return tx.Commit()
}

// EndRollback drops env's record of a rollback in progress.
func (s *Store) EndRollback(ctx context.Context, env string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM rollbacks WHERE env = ?`, env)
	return err
}

// PendingRollbacks lists the rollbacks in progress or interrupted, by environment.
func (s *Store) PendingRollbacks(ctx context.Context) ([]PendingRollback, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.env, s.name, r.started_at FROM rollbacks r JOIN snapshots s ON s.id = r.snapshot ORDER BY r.env`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PendingRollback
	for rows.Next() {
		var p PendingRollback
		var started int64
		if err := rows.Scan(&p.Env, &p.Snapshot, &started); err != nil {
			return nil, err
		}
		p.Started = time.Unix(0, started).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// LayerPackages returns a layer's manifest rows in state "linked" with their
// entries' names and versions, by name: what a snapshot of it would hold.
func (s *Store) LayerPackages(ctx context.Context, layer string) ([]SnapshotEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT m.norm_name, m.entry, e.name, e.version, m.link_mode, m.requested
		FROM manifests m JOIN entries e ON e.sha256 = m.entry WHERE m.layer = ? AND m.state = 'linked' ORDER BY m.norm_name`, layer)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []SnapshotEntry{}
	for rows.Next() {
		var e SnapshotEntry
		if err := rows.Scan(&e.NormName, &e.Entry, &e.Name, &e.Version, &e.LinkMode, &e.Requested); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
