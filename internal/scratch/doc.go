// Package scratch chooses where idemcheck puts files it throws away at
// the end of a run (an ephemeral cluster's data directory, each attempt's
// batch file): in memory when the machine offers room there, since a
// certification creates and removes thousands of small files (a writer's
// temporary tables, one batch file per attempt) and on a disk each costs
// a journal update.
package scratch
