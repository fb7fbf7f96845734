package expert

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A team is a Workspace's workers. A phase's rows are cut into chunks that
// the caller and the workers claim one at a time until none is left, so a
// worker that wakes late (waking a parked thread takes tens of
// microseconds, a hundred on a VM, against a phase of a few hundred) takes
// fewer chunks instead of holding the phase up. Which goroutine computes a
// row changes nothing in it. Between phases a worker spins a while before
// it parks, so that the next phase, or the next expert of the same layer,
// finds it awake.
type team struct {
	c call // the Run being computed: written by the caller before it posts a phase

	// state is the phase being run, posted by the caller and claimed from
	// by compare-and-swap: generation << genShift | phase << phaseShift |
	// chunks << chunksShift | next chunk. A claim that succeeds is one of
	// the current phase whatever happened between the load and the swap.
	state atomic.Uint64
	rows  atomic.Int64 // of a chunk, for the phase posted
	done  atomic.Int64 // chunks finished in the phase posted

	parked  atomic.Int32
	wake    chan struct{} // a token per parked worker to wake
	mu      sync.Mutex    // guards quit and started against stop from a cleanup
	quit    chan struct{}
	started bool
}

const (
	chunkBits   = 24
	chunksShift = chunkBits
	phaseShift  = 2 * chunkBits
	genShift    = phaseShift + 1
	chunkMask   = 1<<chunkBits - 1

	// chunkBytes is the weight bytes a chunk aims at: a few microseconds
	// of reading at a core's share of the bandwidth, so claims (an atomic
	// each) cost little and the last chunks leave no core idle for long.
	chunkBytes = 64 << 10

	// rowBlock is the rows kernels.c computes together, sharing each
	// load of x: a chunk is a multiple of it where it can be.
	rowBlock = 4

	// spin is how long a worker looks for work before it parks: longer
	// than a phase, shorter than a decode step's GPU work between layers.
	spin = 200 * time.Microsecond
)

// run runs phase ph over rows, of rowBytes bytes of weights each, with
// the caller and n-1 workers, and returns when every row is done.
func (t *team) run(n int, ph phase, rows, rowBytes int) {
	per := max(1, chunkBytes/rowBytes)
	if per >= rowBlock {
		per -= per % rowBlock
	}
	chunks := (rows + per - 1) / per
	if n < 2 || chunks < 2 {
		t.c.do(ph, 0, rows)
		return
	}
	if !t.started {
		t.start(n - 1)
	}
	t.rows.Store(int64(per))
	t.done.Store(0)
	gen := t.state.Load()>>genShift + 1
	t.state.Store(gen<<genShift | uint64(ph)<<phaseShift | uint64(chunks)<<chunksShift)
	for p := t.parked.Load(); p > 0; p-- {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
	t.help()
	for i := 0; t.done.Load() < int64(chunks); i++ {
		if i%64 == 63 {
			runtime.Gosched()
		}
	}
}

// help claims and computes chunks of the phase posted until none is left.
func (t *team) help() {
	for {
		s := t.state.Load()
		next, chunks := int(s&chunkMask), int(s>>chunksShift&chunkMask)
		if next >= chunks {
			return
		}
		per := int(t.rows.Load())
		if !t.state.CompareAndSwap(s, s+1) {
			continue
		}
		// Claimed: rows is the posted phase's (stored before state).
		rows := len(t.c.g)
		if phase(s>>phaseShift&1) == down {
			rows = len(t.c.dst)
		}
		t.c.do(phase(s>>phaseShift&1), next*per, min((next+1)*per, rows))
		t.done.Add(1)
	}
}

// work is a worker: help, spin, park.
func (t *team) work(wake, quit <-chan struct{}) {
	for {
		t.help()
		if t.await() {
			continue
		}
		t.parked.Add(1)
		if !t.pending() { // checked after counting itself parked: run's wake-up cannot be missed
			select {
			case <-wake:
			case <-quit:
				t.parked.Add(-1)
				return
			}
		}
		t.parked.Add(-1)
	}
}

// pending reports whether the phase posted has chunks left.
func (t *team) pending() bool {
	s := t.state.Load()
	return s&chunkMask < s>>chunksShift&chunkMask
}

// await spins up to spin for a chunk to claim.
func (t *team) await() bool {
	start := time.Now()
	for i := 0; ; i++ {
		if t.pending() {
			return true
		}
		if i%64 == 63 {
			if time.Since(start) > spin {
				return false
			}
			runtime.Gosched()
		}
	}
}

// start starts n workers.
func (t *team) start(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.started = true
	t.wake, t.quit = make(chan struct{}, n), make(chan struct{})
	for range n {
		go t.work(t.wake, t.quit)
	}
}

// stop ends the workers, if any run.
func (t *team) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started {
		close(t.quit)
		t.started = false
	}
}
