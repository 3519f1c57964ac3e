package wheel

// LocalHeaderLen is the fixed part of a zip local file header, for tests
// that compute member offsets.
const LocalHeaderLen = localLen
