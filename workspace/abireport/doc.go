// Package abireport holds forge's ABI reports: abi check (wheel files or
// store entries against hosts), abi matrix (an environment, a directory of
// wheels or a lock file against every host profile given) and its JUnit
// output. It reads only: the verdicts come from abi, the packages an
// environment sees from workspace's Winners, a lock's wheels from the
// store. The commands print what it returns.
package abireport
