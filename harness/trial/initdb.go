package trial

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// initdbArgs are initdb's options after "-D dir", for every ephemeral
// cluster.
var initdbArgs = []string{"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"}

// templateCache is the directory that holds initdb templates; tests point
// it elsewhere. "" when the user has no cache directory: no template.
var templateCache = func() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(cache, "idemcheck")
}

// templatePrefix begins every template's name; a temporary one being
// written begins with "." and it.
const templatePrefix = "initdb-"

// templatePath is where the template for binDir's binaries would be, or
// "" when there is no cache directory or the binaries cannot be read.
//
// An ephemeral cluster's data directory is a copy of a template, when
// there is one: initdb's output for the same server binaries and options,
// kept under the user's cache directory (about 40 MB). initdb runs the
// server in bootstrap mode to create and fill every catalog, most of an
// ephemeral cluster's start (0.7 s of 1.1 s on a small VM); a copy takes
// about 50 ms. The first cluster of a set of binaries runs initdb and
// saves its result before its server first starts; every later one,
// in this process or another, copies it.
//
// A template is named by what initdb's output depends on: the binary
// directory, the size and modification time of initdb and postgres (an
// upgraded package makes another template, and the old one is removed
// by the next cluster) and initdb's arguments. It is written to a
// temporary directory and renamed into place, so a template is complete
// or absent; it is never changed after that, only removed. A cluster that
// does not start from a copy is started again from initdb's own output,
// which replaces the template. Clusters copied from one template share its
// system identifier, which only replication and backups look at.
func templatePath(binDir string) string {
	cache := templateCache()
	if cache == "" {
		return ""
	}
	abs, err := filepath.Abs(binDir)
	if err != nil {
		return ""
	}
	id := sha256.New()
	fmt.Fprintf(id, "%s\x00%s\x00", abs, strings.Join(initdbArgs, "\x00"))
	for _, name := range []string{"initdb", "postgres"} {
		st, err := os.Stat(filepath.Join(abs, name))
		if err != nil {
			return ""
		}
		fmt.Fprintf(id, "%s %d %d\x00", name, st.Size(), st.ModTime().UnixNano())
	}
	dir := sha256.Sum256([]byte(abs))
	return filepath.Join(cache, templatePrefix+hex.EncodeToString(dir[:4])+"-"+hex.EncodeToString(id.Sum(nil)[:8]))
}

// copyTemplate copies the template at tpl to a new directory data, with
// the same permissions, owned by cred (nil: by the caller).
func copyTemplate(tpl, data string, cred *syscall.Credential) error {
	if _, err := os.Stat(filepath.Join(tpl, "PG_VERSION")); err != nil {
		return err
	}
	if err := copyTree(tpl, data, cred); err != nil {
		_ = os.RemoveAll(data)
		return err
	}
	return nil
}

// saveTemplate saves the data directory initdb just made (its server never
// started) as the template tpl, unless another process saved one first.
// Failing to save costs the next cluster an initdb, nothing else, so
// errors are returned only for tests.
func saveTemplate(data, tpl string) error {
	parent := filepath.Dir(tpl)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(tpl); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(parent, "."+templatePrefix)
	if err != nil {
		return err
	}
	if err := os.Remove(tmp); err != nil { // copyTree makes it, with the data directory's mode
		return err
	}
	if err := copyTree(data, tmp, nil); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, tpl); err != nil {
		_ = os.RemoveAll(tmp) // another process saved it first
		if _, serr := os.Stat(tpl); serr == nil {
			return nil
		}
		return err
	}
	return nil
}

// tidyTemplates removes, beside the template tpl, those of the same
// binary directory's older binaries, and temporary ones that a process
// killed while it saved one left (an hour old: not being written).
func tidyTemplates(tpl string) {
	parent, name := filepath.Split(tpl)
	same := name[:strings.LastIndexByte(name, '-')+1]
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		n := e.Name()
		stale := strings.HasPrefix(n, same) && n != name
		if strings.HasPrefix(n, "."+templatePrefix) {
			info, err := e.Info()
			stale = err == nil && time.Since(info.ModTime()) > time.Hour
		}
		if stale {
			_ = os.RemoveAll(filepath.Join(parent, n))
		}
	}
}

// copyTree copies the directory src to dst (which must not exist): its
// directories and regular files with their permissions, owned by cred
// when it is not nil. Anything else (a data directory made by initdb
// holds nothing else) is an error. (os.CopyFS would not keep the
// permissions: PostgreSQL wants its data directory 0700, and a template
// readable only by its owner.)
func copyTree(src, dst string, cred *syscall.Credential) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(to, info.Mode().Perm()); err != nil {
				return err
			}
			if err := os.Chmod(to, info.Mode().Perm()); err != nil { // past the umask
				return err
			}
		case d.Type().IsRegular():
			if err := copyFile(path, to, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("trial: local: %s is neither a file nor a directory", path)
		}
		if cred != nil {
			return os.Lchown(to, int(cred.Uid), int(cred.Gid))
		}
		return nil
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, perm) // past the umask
}
