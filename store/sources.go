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
	rows, err := s.db.QueryContext(ctx, `SELECT sha256, min(path) FROM wheel_files
		WHERE sha256 IN (SELECT value FROM json_each(?)) GROUP BY sha256`, jsonList(vals))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var sha, path string
		if err := rows.Scan(&sha, &path); err != nil {
			return nil, err
		}
		out[sha] = path
	}
	return out, rows.Err()
}
