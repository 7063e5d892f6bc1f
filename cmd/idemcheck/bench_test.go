package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkCertifyCommand measures the time to a certificate of a psql
// writer, testdata/upsert_tx.sh (every law, 100 checks, seed 1, the
// server shared by the package's tests): at the default parallelism (one
// trial per CPU for --exec) and, in the same run, with one trial at a time
// and with two per CPU (the default of in-process writers). It reports
// s/certificate and how many times faster the default is: x-parallel-1
// and x-2-per-cpu (below 1: two per CPU would be the faster default).
// About four minutes on 2 cores.
func BenchmarkCertifyCommand(b *testing.B) {
	if _, err := exec.LookPath("psql"); err != nil {
		b.Skip("psql is needed (apt-get install postgresql-client)")
	}
	seconds := func(parallel int) float64 {
		dir := b.TempDir()
		cmd := exec.Command(binary, "certify", "--exec", "./testdata/upsert_tx.sh", "--setup-sql", "testdata/setup.sql",
			"--checks", "100", "--seed", "1", "--parallel", strconv.Itoa(parallel),
			"--json", filepath.Join(dir, "cert.json"), "--scenario-dir", dir)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("certify --parallel %d: %v\n%s", parallel, err, out)
		}
		took := time.Since(start).Seconds()
		b.Logf("--parallel %d: %.1f s", parallel, took)
		return took
	}
	var def, one, two float64
	for b.Loop() {
		def = seconds(0)
		one = seconds(1)
		two = seconds(2 * runtime.GOMAXPROCS(0))
	}
	b.ReportMetric(def, "s/certificate")
	b.ReportMetric(one/def, "x-parallel-1")
	b.ReportMetric(two/def, "x-2-per-cpu")
}
