package store

// SetSkipFingerprint turns ELF fingerprinting off or on, to measure its cost
// (BenchmarkIngestFingerprint). Entries ingested without it lack ELF facts.
func SetSkipFingerprint(s *Store, skip bool) { s.skipFingerprint = skip }

// Migrations is the schema's history, to build a database of an older version.
var Migrations = migrations

// SetWholeWheelMax sets the size up to which a wheel is read into memory
// before it is unpacked (-1: none is), and returns the previous value.
func SetWholeWheelMax(n int64) int64 {
	old := wholeWheelMax
	wholeWheelMax = n
	return old
}

// UnreferencedQuery is the query behind Unreferenced, for its plan.
const UnreferencedQuery = unreferencedQuery
