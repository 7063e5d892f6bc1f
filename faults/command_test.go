package faults_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/faults"
)

func TestKilledExternalCommandRollsBack(t *testing.T) {
	if _, err := exec.LookPath("psql"); err != nil {
		t.Fatal("psql is needed (apt-get install postgresql-client); .ci/run installs it")
	}
	f := newFixture(t)
	// The crash point is the round after the INSERT: the long sleep.
	a := f.proxy.NewAttempt(faults.Plan{{Kind: faults.CrashBefore, At: faults.AtStmt(1, 2)}})
	addr, err := a.Listen()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("sh", "-c", `psql -X -q -v ON_ERROR_STOP=1 -c 'BEGIN' -c "INSERT INTO t VALUES (1, 'ext')" -c 'SELECT pg_sleep(60)' -c 'COMMIT'; sleep 60`)
	cmd.Env = append(os.Environ(), "PGHOST="+host, "PGPORT="+port, "PGUSER="+f.sb.ConnConfig().User,
		"PGDATABASE="+f.sb.ConnConfig().Database, "PGOPTIONS=-c search_path="+f.sb.Name())
	var p *faults.Process
	started := make(chan struct{})
	a.SetBeforeCrash(func() { <-started; p.Kill() })
	p, err = faults.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	close(started)
	err = p.Wait(time.Minute)
	if !p.Killed() || errors.Is(err, faults.ErrTimeout) {
		t.Fatalf("the command should have been killed at the crash point, got %v", err)
	}
	waitGone(t, a)
	if n := f.count(); n != 0 {
		t.Errorf("%d rows after killing the writer mid-transaction", n)
	}
	ev := a.Events()
	if len(ev) == 0 || ev[len(ev)-1].Fault == nil || !strings.Contains(ev[len(ev)-1].SQL, "pg_sleep") {
		t.Errorf("timeline does not end in the faulted pg_sleep round: %v", ev)
	}
}

func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	p, err := faults.Start(exec.Command("sh", "-c", "sleep 60 & sleep 60; wait"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(200 * time.Millisecond); !errors.Is(err, faults.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}

func TestPsqlThroughTheProxy(t *testing.T) {
	if _, err := exec.LookPath("psql"); err != nil {
		t.Fatal("psql is needed (apt-get install postgresql-client); .ci/run installs it")
	}
	f := newFixture(t)
	a := f.proxy.NewAttempt(nil)
	addr, err := a.Listen()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	data := "1\tone\n2\ttwo\n3\tthree\n"
	cmd := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", `\copy t FROM STDIN`, "-c", "BEGIN; UPDATE t SET v = upper(v); COMMIT;")
	cmd.Stdin = strings.NewReader(data)
	cmd.Env = append(os.Environ(), "PGHOST="+host, "PGPORT="+port, "PGUSER="+f.sb.ConnConfig().User,
		"PGDATABASE="+f.sb.ConnConfig().Database, "PGOPTIONS=-c search_path="+f.sb.Name(), "PGSSLMODE=prefer")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql through the proxy: %v\n%s", err, out)
	}
	if n := f.count(); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
	var commits int
	for _, e := range a.Events() {
		if e.Committed {
			commits++
		}
	}
	if commits != 2 { // the \copy (autocommit) and the one Query holding BEGIN..COMMIT
		t.Errorf("%d committing rounds, want 2: %v", commits, a.Events())
	}
}
