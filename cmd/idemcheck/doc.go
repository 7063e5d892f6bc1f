// Command idemcheck proves, or refutes with a minimal counterexample, that a
// data pipeline's writes are idempotent, against a real PostgreSQL.
//
// Usage:
//
//	idemcheck lessons [NAME]              break each anti-pattern live, then show its fix
//	idemcheck certify --exec CMD | --sql FILE [--records SPEC|FILE] [--json F] [--junit F] [--report F.html|F.md] [flags]
//	idemcheck certify ... --shard I/N --seed S --json PART.json   one part of a certification, for a CI matrix
//	idemcheck merge PART.json ... [--json F] [--junit F] [--report F]   the certificate of every part
//	idemcheck replay FILE [--exec CMD | --sql FILE]
//	idemcheck doctor                      find a PostgreSQL, make a sandbox, snapshot it, report
//	idemcheck version
//
// Exit codes: 0 success, 1 a law was violated, 2 a usage or environment
// error, or a writer that fails on some batch even without faults.
package main
