package rt

import (
	"math"
	"testing"
)

func TestBytes(t *testing.T) {
	for _, tt := range []struct{ copies, size, want int64 }{
		{0, 0, 0},
		{3, 0, 0},
		{0, math.MaxInt64, 0},
		{3, 1000, 3000},
		{1, math.MaxInt64, math.MaxInt64},
		{3, math.MaxInt64, math.MaxInt64},         // issue 12: 9223372036854775805
		{1, 1 << 62, 1 << 62},                     //
		{2, 1 << 62, math.MaxInt64},               // issue 12: a negative total
		{3, 1 << 62, math.MaxInt64},               //
		{math.MaxInt64, 1, math.MaxInt64},         //
		{math.MaxInt64 / 2, 2, math.MaxInt64 - 1}, // the largest that fits
	} {
		if got := Bytes(tt.copies, tt.size); got != tt.want {
			t.Errorf("Bytes(%d, %d) = %d, want %d", tt.copies, tt.size, got, tt.want)
		}
	}
}

// The byte totals of Stats saturate, interpreted and on the one-loop path
// of generated LRU code alike, at the values of issue 12: experts of
// 2^63-1 bytes and 3 misses reported 9223372036854775805 demand bytes.
func TestTransferBytesSaturate(t *testing.T) {
	for _, size := range []int64{math.MaxInt64, 1 << 62} {
		shape := Shape{Layers: 1, Experts: 8, TopK: 3, ExpertBytes: size}
		s := NewSpec("p", 4)
		s.Schedule.Mode = CPUFallback // every miss a background copy: Prefetch bytes
		for _, spec := range []*Spec{NewSpec("p", 4), s} {
			p, err := New(spec, shape)
			if err != nil {
				t.Fatal(err)
			}
			var plan Plan
			p.Dispatch(0, []int32{0, 1, 2}, nil, &plan)
			got := p.Stats().Transfer
			if got.DemandBytes+got.PrefetchBytes != math.MaxInt64 || got.DemandBytes < 0 || got.PrefetchBytes < 0 {
				t.Errorf("%d-byte experts, %s: 3 copies move %+v, want %d in all", size, spec.Schedule.Mode, got, int64(math.MaxInt64))
			}
		}
		l := NewLedger(shape, nil)
		var plan Plan
		l.Begin(0, []int32{0, 1, 2}, nil, &plan)
		l.DemandLRU(NewLRUCache(shape, 4, nil), &plan)
		if got := l.Stats("p").Transfer.DemandBytes; got != math.MaxInt64 {
			t.Errorf("%d-byte experts, DemandLRU: 3 loads move %d bytes, want %d", size, got, int64(math.MaxInt64))
		}
	}
}
