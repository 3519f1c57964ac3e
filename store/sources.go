package store

import "context"

// WheelPaths returns, for each digest in shas that forge has hashed a wheel
// file for, the absolute path of that file as recorded then (the first by
// name when several files had that content), in one query. The path is a
// record, not a promise: the file may have moved or changed since; a
// caller that hands it on says so or checks it.
func (s *Store) WheelPaths(ctx context.Context, shas []string) (map[string]string, error) {
	vals := make([]any, len(shas))
	for i, sha := range shas {
		vals[i] = sha
	}
	return s.queryMap(ctx, `SELECT sha256, min(path) FROM wheel_files
		WHERE sha256 IN (SELECT value FROM json_each(?)) GROUP BY sha256`, jsonList(vals))
}

// queryMap runs query, whose rows are two text columns, and returns them as
// a map from the first column to the second (empty, not nil, without rows).
func (s *Store) queryMap(ctx context.Context, query string, args ...any) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}
