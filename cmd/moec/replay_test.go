package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// TestReplaySyntheticStreams measures the memory replay -synthetic
// allocates: the trace is generated as it is replayed, so 40 times the
// tokens (64,000 more dispatches, 7 MB of rows if they were kept) take
// about the same memory. The runtime's count of allocated bytes is
// deterministic enough: the margin is a tenth of what keeping the rows
// would cost.
func TestReplaySyntheticStreams(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "lru.moe")
	if err := os.WriteFile(policy, []byte("policy lru { cache { capacity = 64 } }\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	alloc := func(tokens int) uint64 {
		var before, after runtime.MemStats
		var stdout, stderr bytes.Buffer
		runtime.ReadMemStats(&before)
		status := run([]string{"replay", "-synthetic", "olmoe-1b-7b", "-tokens", strconv.Itoa(tokens), policy}, nil, &stdout, &stderr)
		runtime.ReadMemStats(&after)
		if status != exitOK {
			t.Fatalf("replay of %d tokens: status %d\n%s", tokens, status, stderr.Bytes())
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	alloc(100) // warm up what the first call initializes once
	short, long := alloc(100), alloc(4000)
	if long > short+700<<10 {
		t.Errorf("replay -synthetic allocated %d bytes for 100 tokens, %d for 4000: memory grows with the tokens", short, long)
	}
	t.Logf("100 tokens: %d bytes allocated; 4000 tokens: %d", short, long)
}
