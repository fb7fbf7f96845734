package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// writeOutput writes data to path through an output and commits it.
func writeOutput(t *testing.T, path, data string) error {
	t.Helper()
	o, err := openOutput(path, newInterrupt())
	if err != nil {
		return err
	}
	defer o.Abort()
	if _, err := io.WriteString(o, data); err != nil {
		return err
	}
	return o.Commit()
}

// noTemps fails if dir holds a temporary file of an output.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) > 0 {
		t.Errorf("temporary files left: %v", names)
	}
}

func readString(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOutputKeepsMode checks that replacing a file keeps its permissions
// (a 0600 file became 0644) and that a new file gets 0644 less the umask.
func TestOutputKeepsMode(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(dir, "private.moe")
	if err := os.WriteFile(private, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(private, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeOutput(t, private, "new"); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(private)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Errorf("replaced file has mode %#o, want 0600", got)
	}
	if got := readString(t, private); got != "new" {
		t.Errorf("replaced file holds %q, want %q", got, "new")
	}

	fresh := filepath.Join(dir, "new.moe")
	if err := writeOutput(t, fresh, "x"); err != nil {
		t.Fatal(err)
	}
	if info, err = os.Stat(fresh); err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != newFileMode {
		t.Errorf("new file has mode %#o, want %#o", got, newFileMode)
	}
	noTemps(t, dir)
}

// TestOutputThroughSymlink checks that writing to a symbolic link
// replaces the file it points to and keeps the link (it used to replace
// the link with a file), also when the file does not exist yet.
func TestOutputThroughSymlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	dir := t.TempDir()
	real := filepath.Join(dir, "real.moe")
	if err := os.WriteFile(real, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.moe")
	if err := os.Symlink("real.moe", link); err != nil {
		t.Fatal(err)
	}
	if err := writeOutput(t, link, "new"); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link.moe is no longer a symbolic link (%v)", err)
	}
	if got := readString(t, real); got != "new" {
		t.Errorf("the link's target holds %q, want %q", got, "new")
	}

	// A link to a file not yet written, in another folder.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.moe")
	if err := os.Symlink(filepath.Join("sub", "later.moe"), dangling); err != nil {
		t.Fatal(err)
	}
	if err := writeOutput(t, dangling, "later"); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, filepath.Join(dir, "sub", "later.moe")); got != "later" {
		t.Errorf("the dangling link's target holds %q, want %q", got, "later")
	}
	noTemps(t, dir)
	noTemps(t, filepath.Join(dir, "sub"))
}

// TestOutputErrors checks that every failure names the path as given,
// never the temporary file, and leaves nothing behind.
func TestOutputErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nonexistent", "b.moe")
	_, err := openOutput(missing, newInterrupt())
	if want := "open " + missing + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("a missing folder: got %v, want %s", err, want)
	}
	_, err = openOutput(dir, newInterrupt())
	if want := "open " + dir + ": is a directory"; err == nil || err.Error() != want {
		t.Errorf("a directory: got %v, want %s", err, want)
	}
	if runtime.GOOS == "linux" {
		o, err := openOutput("/dev/full", newInterrupt())
		if err != nil {
			t.Fatal(err)
		}
		_, err = o.Write([]byte("x"))
		o.Abort()
		if !errors.Is(err, syscall.ENOSPC) || !strings.HasPrefix(err.Error(), "write /dev/full: ") {
			t.Errorf("a full device: got %v", err)
		}
	}
	noTemps(t, dir)
}

// TestOutputAbort checks that an aborted output leaves the old file as
// it was and no temporary file.
func TestOutputAbort(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "out.moe")
	if err := os.WriteFile(name, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := openOutput(name, newInterrupt())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Write([]byte("half")); err != nil {
		t.Fatal(err)
	}
	o.Abort()
	if got := readString(t, name); got != "old" {
		t.Errorf("after Abort the file holds %q, want %q", got, "old")
	}
	noTemps(t, dir)
}

// failingWriter is a standard output that cannot be written: a full
// disk or a closed pipe.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// TestStdoutWriteError checks that a command whose standard output cannot
// be written says so and exits with status 1: sweep and tune's table
// ignored the error and exited 0 (sweep > /dev/full; tune > file on a
// full disk left an empty file).
func TestStdoutWriteError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	policy := filepath.Join(dir, "p.moe")
	if err := os.WriteFile(policy, []byte("policy p {\n    cache {\n        capacity = 4\n    }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(dir, "t.jsonl")
	var stderr strings.Builder
	if st := run([]string{"trace", "gen", "-preset", "olmoe-1b-7b", "-tokens", "3", "-o", trace}, nil, io.Discard, &stderr); st != exitOK {
		t.Fatalf("trace gen: %d\n%s", st, &stderr)
	}
	for _, args := range [][]string{
		{"sweep", "-trace", trace, "-capacity", "4:8:4", policy},
		{"tune", "-trace", trace, "-grid", "reference", "-top", "1"},
		{"replay", "-trace", trace, policy},
		{"trace", "stats", trace},
		{"show", policy},
		{"check", "-json", policy},
		{"help"},
	} {
		var stderr strings.Builder
		if st := run(args, nil, failingWriter{}, &stderr); st != exitError {
			t.Errorf("moec %s: exit status %d, want %d", strings.Join(args, " "), st, exitError)
		}
		if got := stderr.String(); !strings.Contains(got, "no space left on device") {
			t.Errorf("moec %s: stderr does not report the failed write:\n%s", strings.Join(args, " "), got)
		}
	}
}
