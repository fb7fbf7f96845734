package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestTuneInterrupted checks what tune does when an interrupt stops its
// search: it prints the ranking of what it replayed (here nothing: the
// interrupt came first; rt/tune's TestTuneStop checks a search stopped
// halfway), says on stderr that it was interrupted, writes no -o file and
// exits with 130. It used to lose every finished result without a word.
func TestTuneInterrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	trace := filepath.Join(dir, "t.jsonl")
	var stderr strings.Builder
	if st := run([]string{"trace", "gen", "-preset", "olmoe-1b-7b", "-tokens", "3", "-o", trace}, nil, &stderr, &stderr); st != exitOK {
		t.Fatalf("trace gen: %d\n%s", st, &stderr)
	}
	best := filepath.Join(dir, "best.moe")
	var stdout strings.Builder
	stderr.Reset()
	e := newEnv(nil, &stdout, &stderr)
	e.interrupt.signal(syscall.SIGINT)
	if st := e.run([]string{"tune", "-trace", trace, "-grid", "reference", "-capacity", "16", "-o", best}); st != exitInterrupted {
		t.Errorf("exit status %d, want %d", st, exitInterrupted)
	}
	if want := "moec tune: interrupted after 0 configurations: the ranking is of those\n"; stderr.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", &stderr, want)
	}
	if !strings.Contains(stdout.String(), "32 configurations, 0 replayed before the interrupt, 0 skipped\n") ||
		!strings.HasSuffix(stdout.String(), "ms/token\n") {
		t.Errorf("stdout:\n%s", &stdout)
	}
	if _, err := os.Stat(best); !os.IsNotExist(err) {
		t.Errorf("-o file: %v, want none", err)
	}
	noTemps(t, dir)
}
