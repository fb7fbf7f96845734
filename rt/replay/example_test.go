package replay_test

import (
	"fmt"
	"os"
	"time"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/rttest"
)

func ExampleRun() {
	shape := rt.Shape{Layers: 2, Experts: 4, TopK: 2, ExpertBytes: 17_000_000}
	rows := []replay.Row{
		{Layer: 0, Experts: []int32{0, 1}},
		{Layer: 1, Experts: []int32{0, 1}},
		{Layer: 0, Experts: []int32{1, 2}},
		{Layer: 1, Experts: []int32{1, 3}},
	}
	policy, err := rttest.NewLRU(shape, 3, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := replay.Run(policy, replay.NewSliceSource(rows), replay.Options{Shape: shape, Slots: 3, Decisions: os.Stdout})
	if err != nil {
		fmt.Println(err)
		return
	}
	keys, err := replay.Accesses(replay.NewSliceSource(rows))
	if err != nil {
		fmt.Println(err)
		return
	}
	opt, err := replay.Belady(keys, 3, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("hit rate %.2f (layer 0 %.2f, layer 1 %.2f), optimum %.2f\n", r.HitRate(), r.Layers[0].HitRate(), r.Layers[1].HitRate(), opt.HitRate())
	fmt.Printf("%d loads, %d MB, %v per token\n", r.Loads, r.DemandBytes/1e6, replay.DefaultCostModel().PerToken(r).Round(time.Microsecond))
	// Output:
	// {"l":0,"hit":[false,false],"dev":["gpu","gpu"],"load":[[0,0],[0,1]],"prefetch":[],"evict":[]}
	// {"l":1,"hit":[false,false],"dev":["gpu","gpu"],"load":[[1,0],[1,1]],"prefetch":[],"evict":[[0,0]]}
	// {"l":0,"hit":[true,false],"dev":["gpu","gpu"],"load":[[0,2]],"prefetch":[],"evict":[[1,0]]}
	// {"l":1,"hit":[true,false],"dev":["gpu","gpu"],"load":[[1,3]],"prefetch":[],"evict":[[0,1]]}
	// hit rate 0.25 (layer 0 0.25, layer 1 0.25), optimum 0.25
	// 6 loads, 102 MB, 979µs per token
}
