package rt

import (
	"math"
	"slices"
)

// Budgets splits a total number of slots among the layers' caches and
// moves slots to where the routing is spread out: every
// rebalance_interval dispatches (once more than entropy_window have
// happened) it computes each layer's allocation signal over that layer's
// last entropy_window selections and splits the total in proportion,
// exactly, each layer clamped to [min_capacity, max_capacity].
type Budgets struct {
	spec   PerLayerSpec
	shape  Shape
	total  int
	caps   []int
	wins   []window
	counts []int32 // [layer][expert]: occurrences in the layer's window
	last   int64   // step of the last rebalance

	weights []float64 // scratch
	signal  []float64 // scratch
	probs   []float64 // scratch
	part    []int     // scratch: layers taking part
	share   []int     // scratch
	frac    []float64 // scratch
}

// NewBudgets returns the per-layer budgets of spec on a model of shape, for
// a policy whose cache capacity is capacity (the total is layers x
// capacity unless spec says otherwise), split equally at first. It panics
// unless 1 <= spec.EntropyWindow <= MaxWindow.
func NewBudgets(spec PerLayerSpec, shape Shape, capacity int) *Budgets {
	mustWindow("entropy window", spec.EntropyWindow)
	b := &Budgets{spec: spec, shape: shape, total: spec.TotalBudget}
	if b.total == 0 {
		b.total = shape.Layers * capacity
	}
	n := shape.Layers
	b.caps = make([]int, n)
	b.wins = make([]window, n)
	for l := range b.wins {
		b.wins[l] = newWindow(spec.EntropyWindow, shape.TopK)
	}
	b.counts = make([]int32, n*shape.Experts)
	b.weights = make([]float64, n)
	b.signal = make([]float64, n)
	b.probs = make([]float64, shape.Experts)
	b.part = make([]int, 0, n)
	b.share = make([]int, n)
	b.frac = make([]float64, n)
	ones := b.weights
	for l := range ones {
		ones[l] = 1
	}
	split(ones, b.total, spec.MinCapacity, spec.MaxCapacity, b.caps, b.frac)
	return b
}

// Record adds a selection to its layer's window.
func (b *Budgets) Record(layer int, sel []int32) {
	w := &b.wins[layer]
	row := b.counts[layer*b.shape.Experts : (layer+1)*b.shape.Experts]
	if w.count == len(w.lens) { // the oldest selection leaves
		i := w.head
		for _, e := range w.sel[i*w.topk : i*w.topk+int(w.lens[i])] {
			row[e]--
		}
	}
	w.push(sel)
	for _, e := range sel[:min(len(sel), w.topk)] {
		row[e]++
	}
}

// Due reports whether a rebalance is due at step.
func (b *Budgets) Due(step int64) bool {
	return b.spec.RebalanceInterval > 0 && step-b.last >= int64(b.spec.RebalanceInterval) && step > int64(b.spec.EntropyWindow)
}

// Rebalance computes new capacities with the signal sig. Only layers with
// history take part; the others keep their capacity.
func (b *Budgets) Rebalance(step int64, sig Allocation) {
	b.last = step
	b.part = b.part[:0]
	rest := b.total
	for l := range b.caps {
		if b.wins[l].count > 0 {
			b.part = append(b.part, l)
		} else {
			rest -= b.caps[l]
		}
	}
	if len(b.part) == 0 {
		return
	}
	sigs := b.signal[:len(b.part)]
	for j, l := range b.part {
		sigs[j] = b.layerSignal(l, sig)
	}
	// The inverse signals: the least concentrated layer gets the most.
	switch sig {
	case Variance, KL, Gini:
		m := slices.Max(sigs)
		for j := range sigs {
			sigs[j] = m - sigs[j] + 1e-8
		}
	}
	share := b.share[:len(b.part)]
	split(sigs, rest, b.spec.MinCapacity, b.spec.MaxCapacity, share, b.frac)
	for j, l := range b.part {
		b.caps[l] = share[j]
	}
}

// layerSignal computes a layer's raw allocation signal from its window.
func (b *Budgets) layerSignal(l int, sig Allocation) float64 {
	n := b.shape.Experts
	row := b.counts[l*n : (l+1)*n]
	total := 0.0
	for _, c := range row {
		total += float64(c)
	}
	p := b.probs
	for e, c := range row {
		p[e] = float64(c) / total
	}
	switch sig {
	case Entropy:
		h := 0.0
		for _, x := range p {
			if x > 0 {
				h -= x * math.Log2(x)
			}
		}
		return h
	case TopKMass:
		slices.Sort(p)
		mass := 0.0
		for _, x := range p[max(0, n-b.shape.TopK):] {
			mass += x
		}
		return 1 - mass + 1e-8
	case Variance:
		mean := 1 / float64(n)
		v := 0.0
		for _, x := range p {
			v += (x - mean) * (x - mean)
		}
		return v / float64(n)
	case KL:
		kl := 0.0
		for _, x := range p {
			if x > 0 {
				kl += x * math.Log2(x*float64(n))
			}
		}
		return kl
	case Gini:
		slices.Sort(p)
		cum, sum := 0.0, 0.0
		for _, x := range p {
			cum += x
			sum += cum
		}
		return (float64(n) + 1 - 2*sum/cum) / float64(n)
	}
	return 1 // uniform
}

// split distributes total among len(w) parts in proportion to the weights
// w, each part clamped to [lo, hi], so that the parts add up to total
// exactly whenever the clamps allow it. It finds the level λ at which the
// clamped shares clamp(λ·w, lo, hi) add up to total (water filling, by
// bisection), then rounds: every part gets the floor of its share and the
// units left go to the largest remainders, ties to the lower index. All
// weights zero means equal shares. frac is scratch of len(w).
func split(w []float64, total, lo, hi int, out []int, frac []float64) {
	n := len(w)
	switch {
	case n == 0:
		return
	case total <= n*lo:
		for i := range out[:n] {
			out[i] = lo
		}
		return
	case total >= n*hi:
		for i := range out[:n] {
			out[i] = hi
		}
		return
	}
	wmax := 0.0
	for _, x := range w {
		wmax = max(wmax, x)
	}
	weight := func(i int) float64 {
		if wmax <= 0 {
			return 1
		}
		return max(w[i], wmax*1e-9) // a zero weight still gets a share once the others are full
	}
	share := func(i int, level float64) float64 {
		return min(max(level*weight(i), float64(lo)), float64(hi))
	}
	sum := func(level float64) float64 {
		s := 0.0
		for i := range w {
			s += share(i, level)
		}
		return s
	}
	a, b := 0.0, 1.0
	for sum(b) < float64(total) {
		b *= 2
	}
	for range 200 {
		m := (a + b) / 2
		if sum(m) < float64(total) {
			a = m
		} else {
			b = m
		}
	}
	left := total
	for i := range w {
		x := share(i, b)
		out[i] = int(math.Floor(x))
		frac[i] = x - float64(out[i])
		left -= out[i]
	}
	for ; left > 0; left-- {
		best := -1
		for i := range w {
			if out[i] < hi && (best < 0 || frac[i] > frac[best]) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		out[best]++
		frac[best] = -1
	}
	for ; left < 0; left++ { // bisection overshoot: take back from the smallest remainders
		best := -1
		for i := range w {
			if out[i] > lo && (best < 0 || frac[i] < frac[best]) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		out[best]--
		frac[best] = 2
	}
}

// Caps returns each layer's capacity. The slice is the Budgets' own.
func (b *Budgets) Caps() []int { return b.caps }

// SetTotal changes the total number of slots; the next Rebalance splits it.
func (b *Budgets) SetTotal(n int) { b.total = n }
