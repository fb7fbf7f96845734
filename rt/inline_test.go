package rt

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// hotInlined are the small functions the dispatch path calls once or more
// per expert; each is written to stay within the compiler's inlining
// budget, and a change that pushes one over it costs a call on every
// access without failing anything else.
var hotInlined = []string{
	"(*Ledger).Effects",
	"(*Ledger).Settle",
	"(*Ledger).Protect",
	"(*MemoryTrigger).Pressed",
	"(*TTLTrigger).Due",
	"(*LRUCache).unlink",
	"(*LRUCache).pushBack",
	"(*LRUCache).makeRoom",
	"(*LRUCache).insert",
	"(*LRUCache).Contains",
	"(*LFUCache).Contains",
	"(*ScoreCache).Contains",
	"ScoreAt",
}

// TestHotPathInlined asks the compiler which of hotInlined it can inline.
func TestHotPathInlined(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the compiler")
	}
	out, err := exec.Command("go", "build", "-gcflags=-m", "-o", os.DevNull, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	can := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if _, fn, ok := strings.Cut(line, ": can inline "); ok {
			can[strings.Fields(fn)[0]] = true
		}
	}
	for _, fn := range hotInlined {
		if !can[fn] {
			t.Errorf("%s is no longer inlined: run go build -gcflags=-m=2 ./rt to see its cost", fn)
		}
	}
}
