package external

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/idemcheck/idemcheck/faults"
)

// startCommand starts command as sh -c command would (shellCommand), in
// environment env, with stdin as its standard input and its output to
// out, in a process group of its own (faults.Start). When a direct start
// fails (the kernel would not run the program: a script without #!,
// which sh runs itself, or no permission to execute it), sh -c runs it,
// doing or saying what sh does.
func startCommand(command string, env []string, stdin string, out io.Writer) (*faults.Process, error) {
	start := func(cmd *exec.Cmd) (*faults.Process, error) {
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Stdout, cmd.Stderr = out, out
		return faults.Start(cmd)
	}
	cmd, direct := shellCommand(command, env)
	p, err := start(cmd)
	if err != nil && direct {
		cmd = exec.Command("sh", "-c", command)
		cmd.Env = env
		p, err = start(cmd)
	}
	return p, err
}

// shellCommand is the command that runs command as sh -c command would,
// in an environment env (its PATH is where programs are looked up). A
// command that is a program followed by plain words (nothing sh would
// expand, quote, split differently, redirect, assign or run as a
// builtin) is exec'd directly, with PWD set as sh sets it: that saves
// starting sh, and sh forking the program, on every attempt (about 1.3 ms
// of CPU: 5% of a psql writer's certification). Anything else goes
// through sh -c. One difference remains: a program that dies of a signal
// is reported as such, where sh reports exit status 128+n.
func shellCommand(command string, env []string) (cmd *exec.Cmd, direct bool) {
	if words, ok := plainWords(command); ok {
		if prog := lookPath(words[0], lookupEnv(env, "PATH")); prog != "" {
			cmd := &exec.Cmd{Path: prog, Args: words}
			if wd, err := os.Getwd(); err == nil {
				cmd.Env = append(env, "PWD="+wd)
			} else {
				cmd.Env = env
			}
			return cmd, true
		}
	}
	cmd = exec.Command("sh", "-c", command)
	cmd.Env = env
	return cmd, false
}

// shSpecial are the words sh does not look up on PATH when they come
// first: dash's builtins and the shell's reserved words.
var shSpecial = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`. : [ alias bg break builtin cd chdir command continue echo eval exec exit export
		false fc fg getopts hash jobs kill local printf pwd read readonly return set shift test times trap true type
		ulimit umask unalias unset wait ! { } case do done elif else esac fi for function if in select then until while`) {
		shSpecial[w] = true
	}
}

// plainWords splits command at blanks when it has only characters sh
// takes literally (letters, digits and _ . / : , + = @ % -) and its first
// word is neither an assignment nor special to sh.
func plainWords(command string) ([]string, bool) {
	words := strings.FieldsFunc(command, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(words) == 0 || strings.ContainsRune(words[0], '=') || shSpecial[words[0]] {
		return nil, false
	}
	for _, w := range words {
		for _, r := range w {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("_./:,+=@%-", r)) {
				return nil, false
			}
		}
	}
	return words, true
}

// lookPath finds the program sh would run for name: name itself when it
// has a slash, else the first executable regular file name in the
// directories of path (an empty one is the working directory). "" when
// there is none.
func lookPath(name, path string) string {
	if strings.Contains(name, "/") {
		if executable(name) {
			return name
		}
		return ""
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if !filepath.IsAbs(p) {
			p = "./" + p
		}
		if executable(p) {
			return p
		}
	}
	return ""
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// lookupEnv is the value of key in env (the last one, as exec uses).
func lookupEnv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
