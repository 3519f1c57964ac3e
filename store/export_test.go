package store

// SetSkipFingerprint turns ELF fingerprinting off or on, to measure its cost
// (BenchmarkIngestFingerprint). Entries ingested without it lack ELF facts.
func SetSkipFingerprint(s *Store, skip bool) { s.skipFingerprint = skip }
