package tune

import (
	"errors"
	"testing"
)

// TestTuneStop checks that closing Stop ends the search early and that
// Tune then ranks the configurations that finished, says so, and leaves
// out those that did not: an interrupted moec tune prints them.
func TestTuneStop(t *testing.T) {
	r := smallTrace(t, 200, 1)
	stop := make(chan struct{})
	r.Stop = stop
	r.Progress = func(int64) func(int64) {
		return func(done int64) {
			if done == 1 {
				close(stop)
			}
		}
	}
	rep, err := r.Tune(ReferenceGrid(), HitRate, 0)
	if err != nil {
		t.Fatal(err)
	}
	valid := rep.Configurations
	for _, s := range rep.Skipped {
		valid -= s.Count
	}
	if !rep.Interrupted || rep.Replayed < 1 || rep.Replayed >= valid || len(rep.Results) != rep.Replayed {
		t.Fatalf("interrupted %v, %d replayed of %d valid, %d results", rep.Interrupted, rep.Replayed, valid, len(rep.Results))
	}
	for i, res := range rep.Results {
		if res.Rank != i+1 || res.Hits+res.Misses == 0 {
			t.Errorf("result %d: rank %d, %d accesses", i, res.Rank, res.Hits+res.Misses)
		}
	}

	// Stopped before it starts: nothing ranked, no error.
	r.Progress = nil
	rep, err = r.Tune(ReferenceGrid(), HitRate, 0)
	if err != nil || !rep.Interrupted || rep.Replayed != 0 || len(rep.Results) != 0 {
		t.Fatalf("stopped before the start: %v, %+v", err, rep)
	}
	if _, err := r.Sweep([]Policy{{Name: "p", Spec: ReferenceGrid().Expand()[0].Spec("p")}}, []int{4}); !errors.Is(err, ErrStopped) {
		t.Errorf("Sweep after Stop: got %v, want ErrStopped", err)
	}
}
