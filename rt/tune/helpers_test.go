package tune

import (
	"os"
	"testing"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/trace"
)

const sharedTrace = "../../testdata/traces/qwen15moe-gsm8k-5layer.jsonl"

// smallTrace returns a Replayer over the first rows of the shared trace:
// enough for the policies to differ, few enough to replay a grid
// quickly. Its experts weigh what the trace's model's do.
func smallTrace(t *testing.T, rows, workers int) *Replayer {
	t.Helper()
	f, err := os.Open(sharedTrace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := trace.NewReader(f, sharedTrace)
	if err != nil {
		t.Fatal(err)
	}
	all, err := replay.ReadRows(r)
	if err != nil {
		t.Fatal(err)
	}
	shape := r.Header().Shape()
	if shape.ExpertBytes == 0 {
		shape.ExpertBytes = int64(rt.DefaultExpertSizeGB * 1e9)
	}
	return &Replayer{Trace: sharedTrace, Rows: all[:rows], Shape: shape, Model: replay.DefaultCostModel(), Workers: workers}
}
