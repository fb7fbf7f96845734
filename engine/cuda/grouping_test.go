package cuda

import (
	"fmt"
	"slices"
	"testing"
)

// checkGrouping says whether offsets and list group the rows*topk slots
// of sel by expert as group_experts promises: list[offsets[e]:offsets[e+1]]
// is every slot s with sel[s] == e, in ascending order.
func checkGrouping(sel, offsets, list []int32, rows, topk, experts int) error {
	slots := rows * topk
	if len(offsets) != experts+1 || offsets[0] != 0 || int(offsets[experts]) != slots {
		return fmt.Errorf("offsets %v do not run from 0 to %d slots", offsets, slots)
	}
	want := make([][]int32, experts)
	for s := range slots {
		e := int(sel[s])
		if e < 0 || e >= experts {
			return fmt.Errorf("slot %d chose expert %d of %d", s, e, experts)
		}
		want[e] = append(want[e], int32(s))
	}
	for e := range experts {
		if offsets[e] > offsets[e+1] {
			return fmt.Errorf("offsets[%d] = %d > offsets[%d] = %d", e, offsets[e], e+1, offsets[e+1])
		}
		if got := list[offsets[e]:offsets[e+1]]; !slices.Equal(got, want[e]) {
			return fmt.Errorf("expert %d: slots %v, want %v", e, got, want[e])
		}
	}
	return nil
}

func TestCheckGrouping(t *testing.T) {
	// Two tokens, top-2 of 3 experts: token 0 chose 2, 0; token 1 chose 0, 1.
	sel := []int32{2, 0, 0, 1}
	if err := checkGrouping(sel, []int32{0, 2, 3, 4}, []int32{1, 2, 3, 0}, 2, 2, 3); err != nil {
		t.Error(err)
	}
	for _, bad := range []struct{ off, list []int32 }{
		{[]int32{0, 2, 3, 4}, []int32{2, 1, 3, 0}}, // out of order
		{[]int32{0, 1, 3, 4}, []int32{1, 2, 3, 0}}, // wrong counts
		{[]int32{0, 2, 3, 3}, []int32{1, 2, 3, 0}}, // a slot missing
	} {
		if checkGrouping(sel, bad.off, bad.list, 2, 2, 3) == nil {
			t.Errorf("offsets %v, list %v: accepted", bad.off, bad.list)
		}
	}
}
