//go:build unix

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitFor is how long TestInterrupt waits for moec to start writing
// before it gives up: a bound on a hang, not a measure of speed.
const waitFor = time.Minute

// TestInterrupt sends signals to moec running as a process, in the
// middle of its work: each time, the temporary file it was writing is
// removed, nothing else is left, moec says it was interrupted and exits
// with 128 + the signal's number. It used to leave hidden temporary files
// of any size behind (118 MB from replay -decisions, 37 MB from trace gen
// -o).
//
// The work is either long (a trace of 10^8 tokens) or waits on a named
// pipe that nobody writes, so the signal always arrives mid-work.
func TestInterrupt(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		temp   string // the temporary file to wait for
		signal syscall.Signal
		status int
	}{
		{"gen", []string{"trace", "gen", "-preset", "mixtral-8x7b", "-tokens", "100000000", "-o", "huge.jsonl"}, ".huge.jsonl.tmp*", syscall.SIGINT, 130},
		{"gen-term", []string{"trace", "gen", "-preset", "mixtral-8x7b", "-tokens", "100000000", "-o", "huge.jsonl"}, ".huge.jsonl.tmp*", syscall.SIGTERM, 143},
		{"replay", []string{"replay", "-trace", "pipe", "-decisions", "d.jsonl", "p.moe"}, ".d.jsonl.tmp*", syscall.SIGINT, 130},
		{"tune", []string{"tune", "-trace", "pipe", "-capacity", "16", "-o", "best.moe"}, ".best.moe.tmp*", syscall.SIGINT, 130},
		{"stats", []string{"trace", "stats", "-plot", "heat.svg", "pipe"}, ".heat.svg.tmp*", syscall.SIGINT, 130},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "p.moe"), []byte("policy p {\n    cache {\n        capacity = 4\n    }\n}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			before := listDir(t, dir)

			var stdout, stderr bytes.Buffer
			cmd := exec.Command(exe, tc.args...)
			cmd.Args[0] = "moec" // testscript.Main runs moec's main for this name
			cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			deadline := time.Now().Add(waitFor)
			for {
				if m, _ := filepath.Glob(filepath.Join(dir, tc.temp)); len(m) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no %s after %v; stderr:\n%s", tc.temp, waitFor, &stderr)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := cmd.Process.Signal(tc.signal); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tc.status {
				t.Errorf("moec %s: %v, want exit status %d", strings.Join(tc.args, " "), err, tc.status)
			}
			if got, want := stderr.String(), "moec: interrupted\n"; got != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
			}
			if after := listDir(t, dir); after != before {
				t.Errorf("files before: %s; after: %s", before, after)
			}
		})
	}
}

// listDir returns the names in dir, hidden ones included.
func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}
