// Package scratch chooses where idemcheck puts files it throws away at
// the end of a run (an ephemeral cluster's data directory, each attempt's
// batch file): in memory when the machine offers room there, since a
// certification creates and removes thousands of small files (a writer's
// temporary tables, one batch file per attempt) and on a disk each costs
// a journal update. Files made with CreateTemp are removed by whoever
// ends the process on a signal (RemoveLeft), or else by the next process
// that makes one of the same kind.
package scratch
