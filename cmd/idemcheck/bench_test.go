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
// server shared by the package's tests): at the default parallelism (two
// trials per CPU) and, in the same run, with one trial at a time and with
// one per CPU. It reports s/certificate and cpu-s/certificate
// (idemcheck's CPU and that of the writer processes it started; the
// server's is not counted), how many times faster the default is
// (x-parallel-1, x-1-per-cpu: below 1, one per CPU was faster) and how
// many times more CPU one per CPU took (x-1-per-cpu-cpu). One to four
// minutes on 2 cores, depending on the machine.
func BenchmarkCertifyCommand(b *testing.B) {
	if _, err := exec.LookPath("psql"); err != nil {
		b.Skip("psql is needed (apt-get install postgresql-client)")
	}
	type cost struct{ seconds, cpu float64 }
	certify := func(parallel int) cost {
		dir := b.TempDir()
		cmd := exec.Command(binary, "certify", "--exec", "./testdata/upsert_tx.sh", "--setup-sql", "testdata/setup.sql",
			"--checks", "100", "--seed", "1", "--parallel", strconv.Itoa(parallel),
			"--json", filepath.Join(dir, "cert.json"), "--scenario-dir", dir)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("certify --parallel %d: %v\n%s", parallel, err, out)
		}
		c := cost{time.Since(start).Seconds(), (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()}
		b.Logf("--parallel %d: %.1f s, %.1f CPU-s", parallel, c.seconds, c.cpu)
		return c
	}
	var def, one, perCPU cost
	for b.Loop() {
		def = certify(0)
		one = certify(1)
		perCPU = certify(runtime.GOMAXPROCS(0))
	}
	b.ReportMetric(def.seconds, "s/certificate")
	b.ReportMetric(def.cpu, "cpu-s/certificate")
	b.ReportMetric(one.seconds/def.seconds, "x-parallel-1")
	b.ReportMetric(perCPU.seconds/def.seconds, "x-1-per-cpu")
	b.ReportMetric(perCPU.cpu/def.cpu, "x-1-per-cpu-cpu")
}
