package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// EnvRow is an environment's record.
type EnvRow struct {
	Name          string            `json:"name"`
	Path          string            `json:"path"`
	Parent        string            `json:"parent,omitempty"`
	Python        string            `json:"python"`
	PythonVersion string            `json:"python_version"`
	Settings      map[string]string `json:"settings"`
}

// AddEnv records a new environment; ErrExists if the name is taken.
func (s *Store) AddEnv(ctx context.Context, e EnvRow) error {
	settings, _ := json.Marshal(e.Settings)
	if e.Settings == nil {
		settings = []byte("{}")
	}
	var parent any
	if e.Parent != "" {
		parent = e.Parent
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO envs (name, path, parent, python, python_version, settings, created_at) VALUES (?,?,?,?,?,?,?)`,
		e.Name, e.Path, parent, e.Python, e.PythonVersion, string(settings), time.Now().UnixNano())
	if err != nil {
		if n, _ := s.GetEnv(ctx, e.Name); n != nil {
			return fmt.Errorf("environment %s: %w", e.Name, ErrExists)
		}
		return fmt.Errorf("environment %s: %w", e.Name, err)
	}
	return nil
}

// GetEnv returns an environment or ErrNotFound.
func (s *Store) GetEnv(ctx context.Context, name string) (*EnvRow, error) {
	envs, err := s.queryEnvs(ctx, `WHERE name = ?`, name)
	if err != nil {
		return nil, err
	}
	if len(envs) == 0 {
		return nil, fmt.Errorf("environment %s: %w", name, ErrNotFound)
	}
	return envs[0], nil
}

// ListEnvs returns every environment by name.
func (s *Store) ListEnvs(ctx context.Context) ([]*EnvRow, error) {
	return s.queryEnvs(ctx, `ORDER BY name`)
}

// Children returns the environments whose parent is name.
func (s *Store) Children(ctx context.Context, name string) ([]*EnvRow, error) {
	return s.queryEnvs(ctx, `WHERE parent = ? ORDER BY name`, name)
}

func (s *Store) queryEnvs(ctx context.Context, where string, args ...any) ([]*EnvRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, path, COALESCE(parent, ''), python, python_version, settings FROM envs `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*EnvRow
	for rows.Next() {
		var e EnvRow
		var settings string
		if err := rows.Scan(&e.Name, &e.Path, &e.Parent, &e.Python, &e.PythonVersion, &settings); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(settings), &e.Settings); err != nil {
			return nil, fmt.Errorf("environment %s: settings: %w", e.Name, ErrCorrupt)
		}
		if e.Settings == nil {
			e.Settings = map[string]string{}
		}
		out = append(out, &e)
	}
	return out, rows.Err()
}

// SetEnvSetting sets (or with value "" removes) one setting.
func (s *Store) SetEnvSetting(ctx context.Context, name, key, value string) error {
	e, err := s.GetEnv(ctx, name)
	if err != nil {
		return err
	}
	if value == "" {
		delete(e.Settings, key)
	} else {
		e.Settings[key] = value
	}
	b, _ := json.Marshal(e.Settings)
	_, err = s.db.ExecContext(ctx, `UPDATE envs SET settings = ? WHERE name = ?`, string(b), name)
	return err
}

// RemoveEnv deletes an environment's row; its manifests must be gone.
func (s *Store) RemoveEnv(ctx context.Context, name string) error {
	tx, err := s.beginEnvRemoval(ctx, name)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM envs WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("environment %s: %w", name, ErrNotFound)
	}
	return tx.Commit()
}

// beginEnvRemoval begins the transaction that removes environment name,
// failing with ErrExists when other environments layer on it. The caller
// defers tx.Rollback and commits.
func (s *Store) beginEnvRemoval(ctx context.Context, name string) (*sql.Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if err := refuseParent(ctx, tx, name); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// refuseParent fails with ErrExists when other environments layer on name.
func refuseParent(ctx context.Context, tx *sql.Tx, name string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM envs WHERE parent = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("environment %s has %d child environment(s): %w", name, n, ErrExists)
	}
	return nil
}
