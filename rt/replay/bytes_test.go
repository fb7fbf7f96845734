package replay_test

import (
	"math"
	"testing"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
)

// A replay's byte totals saturate (issue 12: a header's expert_bytes of
// 2^63-1 and 3 misses reported 9223372036854775805 demand bytes; experts
// of 2^62 bytes a negative total).
func TestRunBytesSaturate(t *testing.T) {
	rows := []replay.Row{{Layer: 0, Experts: []int32{0, 1, 2}}}
	for _, size := range []int64{math.MaxInt64, 1 << 62} {
		shape := rt.Shape{Layers: 1, Experts: 4, TopK: 3, ExpertBytes: size}
		p, err := rt.New(rt.NewSpec("p", 4), shape)
		if err != nil {
			t.Fatal(err)
		}
		r, err := replay.Run(p, replay.NewSliceSource(rows), replay.Options{Shape: shape, Slots: 4})
		if err != nil {
			t.Fatal(err)
		}
		if r.Loads != 3 || r.DemandBytes != math.MaxInt64 || r.Stats.Transfer.DemandBytes != math.MaxInt64 {
			t.Errorf("%d-byte experts: %d loads, %d bytes (%d in Stats), want 3 loads, %d bytes",
				size, r.Loads, r.DemandBytes, r.Stats.Transfer.DemandBytes, int64(math.MaxInt64))
		}
	}
}
