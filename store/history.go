package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// History statuses. A row is written "running" before its operation
// changes anything and completed once, to "ok" or "failed"; one still
// "running" after its process ended is an operation that did not finish.
const (
	HistoryRunning = "running"
	HistoryOK      = "ok"
	HistoryFailed  = "failed"
)

// HistoryChange is one package (or setting) an operation changed: Old is
// empty for an addition, New for a removal.
type HistoryChange struct {
	Name       string `json:"name"`
	OldVersion string `json:"old_version,omitempty"`
	OldDigest  string `json:"old_digest,omitempty"`
	NewVersion string `json:"new_version,omitempty"`
	NewDigest  string `json:"new_digest,omitempty"`
}

// HistoryChanges are what an operation changed, by kind.
type HistoryChanges struct {
	Added   []HistoryChange `json:"added"`
	Removed []HistoryChange `json:"removed"`
	Changed []HistoryChange `json:"changed"`
}

// HistoryEntry is one operation of an environment's history.
type HistoryEntry struct {
	ID           int64          `json:"id"`
	Env          string         `json:"env"`
	Started      time.Time      `json:"started"`
	Finished     *time.Time     `json:"finished"`
	ForgeVersion string         `json:"forge_version"`
	Command      string         `json:"command"`
	PID          int            `json:"pid"`
	Status       string         `json:"status"`
	ExitCode     *int           `json:"exit_code"`
	Error        string         `json:"error,omitempty"`
	Changes      HistoryChanges `json:"changes"`
}

// BeginHistory appends a "running" row for an operation on env and returns
// its id. The row exists before the operation changes anything.
func (s *Store) BeginHistory(ctx context.Context, env, command, forgeVersion string, pid int, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO history (env, started_at, forge_version, command, pid, status)
		SELECT name, ?, ?, ?, ?, 'running' FROM envs WHERE name = ?`, now.UnixNano(), forgeVersion, command, pid, env)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, fmt.Errorf("environment %s: %w", env, ErrNotFound)
	}
	return res.LastInsertId()
}

// FinishHistory completes a running row, once: a row already finished
// (or gone with its environment) is left as it is and ErrNotFound returned.
func (s *Store) FinishHistory(ctx context.Context, id int64, status string, exitCode int, errText string, changes HistoryChanges, now time.Time) error {
	b, err := json.Marshal(changes)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE history SET finished_at = ?, status = ?, exit_code = ?, error = ?, changes = ?
		WHERE id = ? AND finished_at IS NULL`, now.UnixNano(), status, exitCode, errText, string(b), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("history row %d: not running: %w", id, ErrNotFound)
	}
	return nil
}

// History returns env's operations, oldest first.
func (s *Store) History(ctx context.Context, env string) ([]HistoryEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, env, started_at, finished_at, forge_version, command, pid, status, exit_code, error, changes
		FROM history WHERE env = ? ORDER BY id`, env)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []HistoryEntry{}
	for rows.Next() {
		var h HistoryEntry
		var started int64
		var finished, code sql.NullInt64
		var changes string
		if err := rows.Scan(&h.ID, &h.Env, &started, &finished, &h.ForgeVersion, &h.Command, &h.PID, &h.Status, &code, &h.Error, &changes); err != nil {
			return nil, err
		}
		h.Started = time.Unix(0, started).UTC()
		if finished.Valid {
			t := time.Unix(0, finished.Int64).UTC()
			h.Finished = &t
		}
		if code.Valid {
			c := int(code.Int64)
			h.ExitCode = &c
		}
		if err := json.Unmarshal([]byte(changes), &h.Changes); err != nil {
			return nil, fmt.Errorf("environment %s: history row %d: changes: %w", env, h.ID, ErrCorrupt)
		}
		for _, l := range []*[]HistoryChange{&h.Changes.Added, &h.Changes.Removed, &h.Changes.Changed} {
			if *l == nil {
				*l = []HistoryChange{}
			}
		}
		out = append(out, h)
	}
	return out, rows.Err()
}
