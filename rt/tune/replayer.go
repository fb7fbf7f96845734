package tune

import (
	"errors"
	"time"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
)

// A Replayer replays policies over one trace held in memory, Workers at
// a time, each replay over its own source.
type Replayer struct {
	Trace string       // the trace's name, for reports
	Rows  []replay.Row // the trace, in replay order

	// Shape is the model's, with the size of one expert that Model
	// prices copies and CPU time by. A policy that states its own
	// hardware figures is priced by them (CostModel.ForPolicy).
	Shape rt.Shape
	Model replay.CostModel

	// Workers is how many replays run at a time; less than 1 counts as 1.
	Workers int

	// Progress, when not nil, is called once the number of replays is
	// known, and returns a function that is called, from the goroutine
	// that called Tune or Sweep, with the number of replays finished.
	Progress func(total int64) func(done int64)

	// Stop, when not nil, ends the work early once it is closed: the
	// replays running stop, those not started are skipped. Tune then
	// ranks the configurations that finished (Report.Interrupted), and
	// Sweep returns ErrStopped.
	Stop <-chan struct{}
}

// ErrStopped is the error of a replay that Replayer.Stop ended.
var ErrStopped = errors.New("stopped")

// stopped reports whether Stop is closed.
func (r *Replayer) stopped() bool {
	select {
	case <-r.Stop:
		return true
	default:
		return false
	}
}

// stopCheckRows is how many rows a replay runs between two looks at
// Stop: a few microseconds of work.
const stopCheckRows = 1024

// stoppable is a Source that ends with ErrStopped once r.Stop is closed.
type stoppable struct {
	replay.Source
	r *Replayer
	n int
}

func (s *stoppable) Next() (int, []int32, []float32, error) {
	if s.n++; s.n%stopCheckRows == 0 && s.r.stopped() {
		return 0, nil, nil, ErrStopped
	}
	return s.Source.Next()
}

// An outcome is what came of replaying one policy.
type outcome struct {
	res  *replay.Result
	cost replay.Cost
	err  error
}

// replayAll replays every policy and returns the outcomes in the order of
// specs.
func (r *Replayer) replayAll(specs []*rt.Spec) []outcome {
	var done func(int64)
	if r.Progress != nil {
		done = r.Progress(int64(len(specs)))
	}
	out := make([]outcome, len(specs))
	next := make(chan int)
	finished := make(chan int)
	for range max(1, min(r.Workers, len(specs))) {
		go func() {
			for i := range next {
				if r.stopped() {
					out[i] = outcome{err: ErrStopped}
				} else {
					out[i] = r.replayOne(specs[i])
				}
				finished <- i
			}
		}()
	}
	go func() {
		for i := range specs {
			next <- i
		}
		close(next)
	}()
	for n := range len(specs) {
		<-finished
		if done != nil {
			done(int64(n + 1))
		}
	}
	return out
}

// replayOne replays one policy over the rows.
func (r *Replayer) replayOne(spec *rt.Spec) outcome {
	p, err := rt.New(spec, r.Shape)
	if err != nil {
		return outcome{err: err}
	}
	// Calibrated with the cost model's figures, as moec replay does when
	// no run's are given: a hybrid schedule decides as on the modeled
	// machine, and the cost below prices what it decided.
	model := r.Model.ForPolicy(spec)
	model.Calibrate(p, r.Shape.ExpertBytes, rt.Hardware{})
	var src replay.Source = replay.NewSliceSource(r.Rows)
	if r.Stop != nil {
		src = &stoppable{Source: src, r: r}
	}
	res, err := replay.Run(p, src, replay.Options{
		Shape:  r.Shape,
		Slots:  spec.MaxSlots(r.Shape),
		Pinned: replay.PinnedKeys(r.Shape.Layers, spec.Cache.Pin),
	})
	if err != nil {
		return outcome{err: err}
	}
	return outcome{res: res, cost: model.Cost(res)}
}

// accesses returns every selected expert of the trace in order, for
// Belady.
func (r *Replayer) accesses() ([]rt.Key, error) {
	return replay.Accesses(replay.NewSliceSource(r.Rows))
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
