package trace

import (
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strings"
	"text/tabwriter"
)

// Stats describes a trace: how skewed each layer's expert popularity is,
// how soon experts are used again, and how much one layer's choice tells
// about the next one's. docs/TRACES.md explains each figure.
type Stats struct {
	Header   Header
	Rows     int64
	Accesses int64 // experts selected, summed over rows

	// Popularity counts how often each expert was selected:
	// Popularity[layer][expert]. It is the matrix of a heatmap.
	Popularity [][]int64

	Layers   []LayerStats // one per layer, rows or not
	Affinity []Affinity   // one per pair of consecutive layers; nil above maxAffinityExperts experts
	Overall  Summary      // the layers and transitions taken together

	// ScoreRows counts rows with scores; MeanScore[i] is the mean router
	// weight of the i-th selected expert over them, MeanScoreSum the mean
	// of a row's total.
	ScoreRows    int64
	MeanScore    []float64
	MeanScoreSum float64
}

// LayerStats describes one layer's accesses.
type LayerStats struct {
	Layer    int
	Rows     int64
	Accesses int64

	// Entropy is the entropy in bits of the layer's expert popularity;
	// MaxEntropy, log2 of the number of experts, is what uniform use
	// would give.
	Entropy, MaxEntropy float64
	// Top10 is the share of accesses that went to the most popular tenth
	// of the experts (at least one expert).
	Top10 float64
	// Gini is the Gini coefficient of the per-expert counts: 0 when all
	// experts are used equally, near 1 when one takes everything.
	Gini float64

	// Reuse is the distribution of reuse distances: the number of
	// accesses at this layer between two uses of the same expert.
	Reuse Quantiles
	// Stack is the distribution of LRU stack distances: the number of
	// distinct experts used at this layer between two uses of the same
	// expert. An LRU cache of c experts for this layer hits exactly the
	// accesses whose stack distance is below c.
	Stack Quantiles
	// Cold counts first uses, which have no distance.
	Cold int64

	stack []int64 // stack[d]: accesses at stack distance d
}

// LRUHitRate returns the hit rate an LRU cache of capacity experts for
// this layer alone would have on the layer's accesses, first uses
// counting as misses.
func (l *LayerStats) LRUHitRate(capacity int) float64 {
	if l.Accesses == 0 {
		return 0
	}
	var hits int64
	for d := 0; d < capacity && d < len(l.stack); d++ {
		hits += l.stack[d]
	}
	return float64(hits) / float64(l.Accesses)
}

// Quantiles summarises a distribution of distances: how many there were
// and the 50th, 90th and 99th percentiles (nearest rank). Distances below
// exactBelow are exact; larger ones are rounded down by less than 1/64.
type Quantiles struct {
	N             int64
	P50, P90, P99 int64
}

// Affinity describes how layer From's selection predicts layer To's
// (To = From+1) for the same token.
type Affinity struct {
	From, To int
	// Pairs counts the tokens seen at both layers: a row at To paired
	// with the latest row at From of the same token.
	Pairs int64
	// Mean is the mean over the experts e selected at From of
	// max_f P(f selected at To | e selected at From).
	Mean float64
	// Top is the largest P(f at To | e at From) among experts e selected
	// at least minSupport times at From; TopFrom -> TopTo is that pair.
	Top            float64
	TopFrom, TopTo int32
	// Independent is what Mean would be if To's selection did not depend
	// on From's: the largest P(f selected at To).
	Independent float64
}

// Summary is the layers and transitions taken together: means of the
// per-layer skew figures and of the affinities over the layers and
// transitions that have data, and distances pooled over all layers.
type Summary struct {
	Entropy, MaxEntropy, Top10, Gini float64
	Reuse, Stack                     Quantiles
	Affinity, AffinityTop            float64
	Independent                      float64
}

// LRUHitRate returns the hit rate of per-layer LRU caches of capacity
// experts each, over all accesses.
func (s *Stats) LRUHitRate(capacity int) float64 {
	if s.Accesses == 0 {
		return 0
	}
	var hits float64
	for i := range s.Layers {
		hits += s.Layers[i].LRUHitRate(capacity) * float64(s.Layers[i].Accesses)
	}
	return hits / float64(s.Accesses)
}

const (
	// minSupport is how often an expert must be selected at a layer for
	// its transitions to count towards Affinity.Top.
	minSupport = 30
	// maxAffinityExperts bounds the experts per layer for which the
	// E x E transition counts are kept, and maxAffinityCells all of them
	// (8 bytes each): DeepSeek-V3's 57 transitions of 256 x 256 fit.
	maxAffinityExperts = 512
	maxAffinityCells   = 1 << 23
	// exactBelow is where distance histograms switch from exact counts
	// to buckets 1/64 of a power of two wide.
	exactBelow = 4096
)

// A Collector computes Stats in one pass over a trace's rows, in memory
// proportional to the shape, not to the trace: a layer's tables are made
// when its first row comes, so the layers a header declares cost little
// until rows use them.
type Collector struct {
	h    Header
	chk  rowChecker
	rows int64

	pop   [][]int64
	pos   []int64   // accesses so far, per layer
	last  [][]int64 // position+1 of each expert's last access, 0 before its first
	reuse []hist
	order [][]int32 // experts by recency, most recent first, per layer
	stack [][]int64
	cold  []int64
	lrows []int64

	prevTok  []int     // token of the latest row, per layer
	prevExp  [][]int32 // its experts
	prevOK   []bool    // whether there was one
	co       [][]int64 // per transition: co[L][e*E+f]
	from, to [][]int64 // per transition: e's uses at L, f's at L+1, in pairs
	pairs    []int64

	scoreRows int64
	scoreSum  []float64
	scoreTot  float64
}

// NewCollector returns a Collector for traces with header h.
func NewCollector(h Header) (*Collector, error) {
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("trace header: %v", err)
	}
	c := &Collector{h: h}
	c.chk = newRowChecker(&c.h)
	L, E := h.Layers, h.Experts
	c.pop = make([][]int64, L)
	c.pos = make([]int64, L)
	c.last = make([][]int64, L)
	c.reuse = make([]hist, L)
	c.order = make([][]int32, L)
	c.stack = make([][]int64, L)
	c.cold = make([]int64, L)
	c.lrows = make([]int64, L)
	c.prevTok = make([]int, L)
	c.prevExp = make([][]int32, L)
	c.prevOK = make([]bool, L)
	if E <= maxAffinityExperts && L > 1 && (L-1)*E*E <= maxAffinityCells {
		c.co = make([][]int64, L-1)
		c.from = make([][]int64, L-1)
		c.to = make([][]int64, L-1)
		c.pairs = make([]int64, L-1)
	}
	c.scoreSum = make([]float64, h.TopK)
	return c, nil
}

// Add accounts for one row. It returns an error, and ignores the row, if
// the row does not fit the header.
func (c *Collector) Add(row Row) error {
	if msg := c.chk.check(&row); msg != "" {
		return fmt.Errorf("trace row %d: %s", c.rows, msg)
	}
	c.rows++
	l := row.Layer
	c.lrows[l]++
	if c.pop[l] == nil {
		E := c.h.Experts
		c.pop[l] = make([]int64, E)
		c.last[l] = make([]int64, E)
		c.order[l] = make([]int32, 0, E)
		c.stack[l] = make([]int64, E)
		c.prevExp[l] = make([]int32, 0, c.h.TopK)
	}
	pop, last, order, stack := c.pop[l], c.last[l], c.order[l], c.stack[l]
	for _, e := range row.Experts {
		pop[e]++
		p := c.pos[l]
		if q := last[e]; q > 0 {
			c.reuse[l].add(p - q) // q is position+1: p-q accesses lie between
		}
		last[e] = p + 1
		c.pos[l] = p + 1

		// Move e to the front of the recency order; its old index is its
		// stack distance.
		i := slices.Index(order, e)
		if i < 0 {
			c.cold[l]++
			order = append(order, e)
			i = len(order) - 1
		} else {
			stack[i]++
		}
		copy(order[1:i+1], order[:i])
		order[0] = e
	}
	c.order[l] = order

	if c.co != nil && l > 0 && c.prevOK[l-1] && c.prevTok[l-1] == row.Token {
		t, E := l-1, c.h.Experts
		if c.co[t] == nil {
			c.co[t] = make([]int64, E*E)
			c.from[t] = make([]int64, E)
			c.to[t] = make([]int64, E)
		}
		co := c.co[t]
		c.pairs[t]++
		for _, e := range c.prevExp[t] {
			c.from[t][e]++
			for _, f := range row.Experts {
				co[int(e)*E+int(f)]++
			}
		}
		for _, f := range row.Experts {
			c.to[t][f]++
		}
	}
	c.prevOK[l] = true
	c.prevTok[l] = row.Token
	c.prevExp[l] = append(c.prevExp[l][:0], row.Experts...)

	if row.Scores != nil {
		c.scoreRows++
		var sum float64
		for i, s := range row.Scores {
			c.scoreSum[i] += float64(s)
			sum += float64(s)
		}
		c.scoreTot += sum
	}
	return nil
}

// Stats returns the statistics of the rows added so far.
func (c *Collector) Stats() *Stats {
	s := &Stats{Header: c.h, Rows: c.rows}
	s.Popularity = make([][]int64, len(c.pop))
	var pooledReuse hist
	pooledStack := make([]int64, c.h.Experts)
	var withData int
	for l := range c.pop {
		s.Popularity[l] = slices.Clone(c.pop[l])
		if s.Popularity[l] == nil { // no rows: no accesses
			s.Popularity[l] = make([]int64, c.h.Experts)
		}
		ls := LayerStats{
			Layer:      l,
			Rows:       c.lrows[l],
			Accesses:   c.pos[l],
			MaxEntropy: math.Log2(float64(c.h.Experts)),
			Cold:       c.cold[l],
			Reuse:      c.reuse[l].quantiles(),
			stack:      slices.Clone(c.stack[l]),
		}
		ls.Stack = stackQuantiles(ls.stack)
		ls.Entropy, ls.Top10, ls.Gini = skew(c.pop[l])
		s.Accesses += ls.Accesses
		if ls.Accesses > 0 {
			withData++
			s.Overall.Entropy += ls.Entropy
			s.Overall.MaxEntropy += ls.MaxEntropy
			s.Overall.Top10 += ls.Top10
			s.Overall.Gini += ls.Gini
		}
		pooledReuse.merge(&c.reuse[l])
		for d, n := range c.stack[l] {
			pooledStack[d] += n
		}
		s.Layers = append(s.Layers, ls)
	}
	if withData > 0 {
		n := float64(withData)
		s.Overall.Entropy /= n
		s.Overall.MaxEntropy /= n
		s.Overall.Top10 /= n
		s.Overall.Gini /= n
	}
	s.Overall.Reuse = pooledReuse.quantiles()
	s.Overall.Stack = stackQuantiles(pooledStack)

	if c.co != nil {
		var n float64
		for t := range c.co {
			a := c.affinity(t)
			if a.Pairs > 0 {
				n++
				s.Overall.Affinity += a.Mean
				s.Overall.AffinityTop += a.Top
				s.Overall.Independent += a.Independent
			}
			s.Affinity = append(s.Affinity, a)
		}
		if n > 0 {
			s.Overall.Affinity /= n
			s.Overall.AffinityTop /= n
			s.Overall.Independent /= n
		}
	}

	s.ScoreRows = c.scoreRows
	s.MeanScore = make([]float64, len(c.scoreSum))
	if c.scoreRows > 0 {
		for i, v := range c.scoreSum {
			s.MeanScore[i] = v / float64(c.scoreRows)
		}
		s.MeanScoreSum = c.scoreTot / float64(c.scoreRows)
	}
	return s
}

func (c *Collector) affinity(t int) Affinity {
	a := Affinity{From: t, To: t + 1, Pairs: c.pairs[t], TopFrom: -1, TopTo: -1}
	if a.Pairs == 0 {
		return a
	}
	E := c.h.Experts
	var n float64
	for e := range E {
		fe := c.from[t][e]
		if fe == 0 {
			continue
		}
		row := c.co[t][e*E : (e+1)*E]
		best := 0
		for f := range row {
			if row[f] > row[best] {
				best = f
			}
		}
		p := float64(row[best]) / float64(fe)
		a.Mean += p
		n++
		if fe >= minSupport && p > a.Top {
			a.Top, a.TopFrom, a.TopTo = p, int32(e), int32(best)
		}
	}
	a.Mean /= n
	a.Independent = float64(slices.Max(c.to[t])) / float64(a.Pairs)
	return a
}

// skew returns the entropy in bits, the top-10% share and the Gini
// coefficient of counts.
func skew(counts []int64) (entropy, top10, gini float64) {
	var total int64
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		return 0, 0, 0
	}
	sorted := slices.Clone(counts)
	slices.Sort(sorted)
	k := max(1, (len(sorted)+9)/10)
	var top, weighted int64
	for i, n := range sorted {
		if n > 0 {
			p := float64(n) / float64(total)
			entropy -= p * math.Log2(p)
		}
		if i >= len(sorted)-k {
			top += n
		}
		weighted += int64(2*(i+1)-len(sorted)-1) * n
	}
	top10 = float64(top) / float64(total)
	gini = float64(weighted) / (float64(len(sorted)) * float64(total))
	return entropy, top10, gini
}

// hist counts distances, exactly below exactBelow and in buckets 1/64 of
// a power of two wide above.
type hist struct {
	n     int64
	exact []int64
	log   []int64
}

const subBuckets = 64

func (h *hist) add(d int64) {
	h.n++
	if d < exactBelow {
		if h.exact == nil {
			h.exact = make([]int64, exactBelow)
		}
		h.exact[d]++
		return
	}
	if h.log == nil {
		h.log = make([]int64, 64*subBuckets)
	}
	h.log[logBucket(d)]++
}

// logBucket is the bucket of d >= exactBelow: its power of two and the
// six bits after the leading one.
func logBucket(d int64) int {
	e := bits.Len64(uint64(d)) - 1
	sub := int(d>>(e-6)) & (subBuckets - 1)
	return e*subBuckets + sub
}

// bucketLow is the smallest distance in bucket i.
func bucketLow(i int) int64 {
	e, sub := i/subBuckets, i%subBuckets
	return int64(subBuckets+sub) << (e - 6)
}

func (h *hist) merge(o *hist) {
	h.n += o.n
	if o.exact != nil {
		if h.exact == nil {
			h.exact = make([]int64, exactBelow)
		}
		for i, v := range o.exact {
			h.exact[i] += v
		}
	}
	if o.log != nil {
		if h.log == nil {
			h.log = make([]int64, 64*subBuckets)
		}
		for i, v := range o.log {
			h.log[i] += v
		}
	}
}

func (h *hist) quantiles() Quantiles {
	q := newQuantiler(h.n)
	for d, n := range h.exact {
		q.add(int64(d), n)
	}
	for i, n := range h.log {
		if n > 0 {
			q.add(bucketLow(i), n)
		}
	}
	return q.q
}

// stackQuantiles returns the quantiles of exact counts: counts[d] values
// equal to d.
func stackQuantiles(counts []int64) Quantiles {
	var n int64
	for _, c := range counts {
		n += c
	}
	q := newQuantiler(n)
	for d, c := range counts {
		q.add(int64(d), c)
	}
	return q.q
}

// A quantiler finds nearest-rank percentiles in counts visited in
// increasing order of value.
type quantiler struct {
	q     Quantiles
	ranks [3]int64
	cum   int64
	next  int
}

func newQuantiler(n int64) *quantiler {
	// nearest rank of percentile p among n values: ceil(p*n/100)
	r := func(p int64) int64 { return max(1, (n*p+99)/100) }
	q := &quantiler{q: Quantiles{N: n}, ranks: [3]int64{r(50), r(90), r(99)}}
	if n == 0 {
		q.next = 3
	}
	return q
}

func (q *quantiler) add(v, n int64) {
	q.cum += n
	for q.next < 3 && q.cum >= q.ranks[q.next] {
		switch q.next {
		case 0:
			q.q.P50 = v
		case 1:
			q.q.P90 = v
		default:
			q.q.P99 = v
		}
		q.next++
	}
}

// ReadStats reads the rest of r and returns its statistics.
func ReadStats(r *Reader) (*Stats, error) {
	c, err := NewCollector(r.Header())
	if err != nil {
		return nil, err
	}
	for {
		row, err := r.Next()
		if err == io.EOF {
			return c.Stats(), nil
		}
		if err != nil {
			return nil, err
		}
		if err := c.Add(row); err != nil {
			return nil, err
		}
	}
}

// lruCapacities are the cache sizes, as fractions of the experts per
// layer, whose LRU hit rates Write prints.
var lruCapacities = [...]int{8, 4, 2}

// LRUCapacities returns the cache sizes whose LRU hit rates Write
// prints: an eighth, a quarter and half of the experts per layer, at
// least 1, distinct, increasing.
func (s *Stats) LRUCapacities() []int {
	var caps []int
	for _, f := range lruCapacities {
		if c := max(1, s.Header.Experts/f); !slices.Contains(caps, c) {
			caps = append(caps, c)
		}
	}
	return caps
}

// Write prints s as the tables of `moec trace stats`.
func (s *Stats) Write(w io.Writer) error {
	h := s.Header
	var b strings.Builder
	fmt.Fprintf(&b, "model: %s\n", h.Model)
	fmt.Fprintf(&b, "shape: %d layers, %d experts, top-%d; %d rows, %d accesses\n\n", h.Layers, h.Experts, h.TopK, s.Rows, s.Accesses)
	caps := s.LRUCapacities()
	hitRates := func(rate func(int) float64) string {
		parts := make([]string, len(caps))
		for i, c := range caps {
			parts[i] = fmt.Sprintf("%.3f", rate(c))
		}
		return strings.Join(parts, "/")
	}
	capNames := make([]string, len(caps))
	for i, c := range caps {
		capNames[i] = fmt.Sprint(c)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "layer\taccesses\tentropy bits\ttop-10%%\tgini\treuse p50/p90/p99\tstack p50/p90/p99\tlru hit @%s\t\n", strings.Join(capNames, "/"))
	for i := range s.Layers {
		l := &s.Layers[i]
		if l.Accesses == 0 {
			fmt.Fprintf(tw, "%d\t0\t-\t-\t-\t-\t-\t-\t\n", l.Layer)
			continue
		}
		fmt.Fprintf(tw, "%d\t%d\t%.3f / %.3f\t%.3f\t%.3f\t%s\t%s\t%s\t\n", l.Layer, l.Accesses,
			l.Entropy, l.MaxEntropy, l.Top10, l.Gini, l.Reuse, l.Stack, hitRates(l.LRUHitRate))
	}
	o := &s.Overall
	fmt.Fprintf(tw, "all\t%d\t%.3f / %.3f\t%.3f\t%.3f\t%s\t%s\t%s\t\n", s.Accesses,
		o.Entropy, o.MaxEntropy, o.Top10, o.Gini, o.Reuse, o.Stack, hitRates(s.LRUHitRate))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Affinity) > 0 {
		b.WriteString("\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "layers\tpairs\taffinity\ttop (expert -> expert)\tindependent\t\n")
		for _, a := range s.Affinity {
			if a.Pairs == 0 {
				fmt.Fprintf(tw, "%d -> %d\t0\t-\t-\t-\t\n", a.From, a.To)
				continue
			}
			top := "-"
			if a.TopFrom >= 0 {
				top = fmt.Sprintf("%.3f (%d -> %d)", a.Top, a.TopFrom, a.TopTo)
			}
			fmt.Fprintf(tw, "%d -> %d\t%d\t%.3f\t%s\t%.3f\t\n", a.From, a.To, a.Pairs, a.Mean, top, a.Independent)
		}
		if len(s.Affinity) > 1 && slices.ContainsFunc(s.Affinity, func(a Affinity) bool { return a.Pairs > 0 }) {
			fmt.Fprintf(tw, "mean\t\t%.3f\t%.3f\t%.3f\t\n", o.Affinity, o.AffinityTop, o.Independent)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if s.ScoreRows > 0 {
		b.WriteString("\nscores: mean by rank")
		for _, m := range s.MeanScore {
			fmt.Fprintf(&b, " %.4f", m)
		}
		fmt.Fprintf(&b, ", mean sum %.4f (%d rows)\n", s.MeanScoreSum, s.ScoreRows)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// String prints the quantiles as p50/p90/p99, or "-" with no data.
func (q Quantiles) String() string {
	if q.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d/%d", q.P50, q.P90, q.P99)
}
