package external

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// startCommand runs every command as sh -c does: the same program, with
// the same arguments, environment (PWD included), working directory,
// standard input, output and exit status, whether it starts the program
// directly or through sh.
func TestStartCommandRunsWhatShWould(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// show prints how it was started; the other programs are its variants.
	show := "#!/bin/sh\nprintf '%s|' \"$0\" \"$@\"; echo; echo \"PWD=$PWD FOO=$FOO\"; cat; exit 3\n"
	for name, text := range map[string]string{
		"show":          show,
		"bin/onpath":    show,
		"bin/echo":      "#!/bin/sh\necho not the builtin\n",
		"noshebang":     "printf 'no #! line: %s\\n' \"$1\"\n",
		"notexecutable": show,
	} {
		mode := os.FileMode(0o755)
		if name == "notexecutable" {
			mode = 0o644
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	// A PWD that is not the working directory: sh sets the right one.
	env := append(os.Environ(), "FOO=foo", "PWD=/", "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, tc := range []struct {
		command string
		direct  bool
	}{
		{"./show a b=c --x=1 -y @x %y,z+", true},
		{"./show\ta   b", true},
		{dir + "/show a", true},
		{"onpath a", true},
		{"./noshebang a", true}, // the kernel refuses it: sh runs it
		{"./notexecutable", false},
		{"missing a", false},
		{"./missing a", false},
		{"echo a", false}, // sh's builtin, not bin/echo
		{"./show 'a b'", false},
		{`./show a\ b`, false},
		{"./show *", false},
		{"./show ~", false},
		{"./show $FOO", false},
		{"FOO=bar ./show", false},
		{"./show a; ./show b", false},
		{"./show a > /dev/null", false},
		{"exec ./show", false},
		{"", false},
		{"env", true}, // not a shell: it shows the environment as it got it
	} {
		cmd, direct := shellCommand(tc.command, env)
		if direct != tc.direct {
			t.Errorf("%q: started directly %v, want %v (%v)", tc.command, direct, tc.direct, cmd.Args)
		}
		var got, want bytes.Buffer
		p, err := startCommand(tc.command, env, "the input\n", &got)
		if err != nil {
			t.Fatalf("%q: %v", tc.command, err)
		}
		gotErr := p.Wait(0)
		sh := exec.Command("sh", "-c", tc.command)
		sh.Env, sh.Stdin, sh.Stdout, sh.Stderr = env, bytes.NewBufferString("the input\n"), &want, &want
		wantErr := sh.Run()
		g, w := got.String(), want.String()
		if tc.command == "env" { // sh orders the variables its own way
			g, w = sortedLines(g), sortedLines(w)
		}
		if g != w || exitCode(gotErr) != exitCode(wantErr) {
			t.Errorf("%q:\n got %v, %q\nwant %v, %q", tc.command, gotErr, g, wantErr, w)
		}
	}
}

func sortedLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "")
}

func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
