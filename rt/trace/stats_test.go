package trace

import (
	"go/parser"
	"go/token"
	"math"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func collect(t *testing.T, h Header, rows []Row) *Stats {
	t.Helper()
	c, err := NewCollector(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := c.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	return c.Stats()
}

// TestStatsOneLayer works one layer's figures out by hand: experts
// 0 1 0 2 0 of 4, top-1.
func TestStatsOneLayer(t *testing.T) {
	h := Header{Model: "m", Layers: 1, Experts: 4, TopK: 1}
	var rows []Row
	for i, e := range []int32{0, 1, 0, 2, 0} {
		rows = append(rows, Row{Token: i, Experts: []int32{e}, Scores: []float32{0.5}})
	}
	s := collect(t, h, rows)
	entropy := -(0.6*math.Log2(0.6) + 2*0.2*math.Log2(0.2))
	want := &Stats{
		Header: h, Rows: 5, Accesses: 5,
		Popularity: [][]int64{{3, 1, 1, 0}},
		Layers: []LayerStats{{
			Rows: 5, Accesses: 5, Entropy: entropy, MaxEntropy: 2,
			Top10: 0.6,  // expert 0's 3 of 5
			Gini:  0.45, // sorted 0 1 1 3: (-3*0 - 1*1 + 1*1 + 3*3) / (4*5)
			// 0 at positions 0, 2, 4: one access between each use
			Reuse: Quantiles{N: 2, P50: 1, P90: 1, P99: 1},
			// expert 1 (at 2) and expert 2 (at 4) used since the last 0
			Stack: Quantiles{N: 2, P50: 1, P90: 1, P99: 1},
			Cold:  3,
		}},
		Overall: Summary{Entropy: entropy, MaxEntropy: 2, Top10: 0.6, Gini: 0.45,
			Reuse: Quantiles{N: 2, P50: 1, P90: 1, P99: 1}, Stack: Quantiles{N: 2, P50: 1, P90: 1, P99: 1}},
		ScoreRows: 5, MeanScore: []float64{0.5}, MeanScoreSum: 0.5,
	}
	opts := cmp.Options{cmpopts.IgnoreUnexported(LayerStats{}), cmpopts.EquateApprox(0, 1e-12)}
	if diff := cmp.Diff(want, s, opts); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	for capacity, want := range map[int]float64{0: 0, 1: 0, 2: 0.4, 4: 0.4} {
		if got := s.LRUHitRate(capacity); got != want {
			t.Errorf("LRUHitRate(%d) = %v, want %v", capacity, got, want)
		}
	}
}

// affinityRows is 40 tokens of 2 layers, 2 experts, top-1, repeating
// 0->1, 0->1, 1->0, 0->0, then a layer-1 row of another token, which has
// no layer-0 row to pair with.
func affinityRows() (Header, []Row) {
	h := Header{Model: "pairs", Layers: 2, Experts: 2, TopK: 1}
	var rows []Row
	pattern := [][2]int32{{0, 1}, {0, 1}, {1, 0}, {0, 0}}
	for t := range 40 {
		p := pattern[t%4]
		rows = append(rows, Row{Token: t, Layer: 0, Experts: []int32{p[0]}}, Row{Token: t, Layer: 1, Experts: []int32{p[1]}})
	}
	rows = append(rows, Row{Token: 99, Layer: 1, Experts: []int32{1}})
	h.Entries = int64(len(rows))
	return h, rows
}

func TestStatsAffinity(t *testing.T) {
	h, rows := affinityRows()
	s := collect(t, h, rows)
	want := []Affinity{{
		From: 0, To: 1, Pairs: 40,
		Mean:    (2.0/3 + 1) / 2, // 0 -> 1 in 20 of 0's 30 uses; 1 -> 0 always
		Top:     2.0 / 3,         // expert 1 has fewer than minSupport uses
		TopFrom: 0, TopTo: 1,
		Independent: 0.5, // 0 and 1 each in 20 of 40 layer-1 rows
	}}
	if diff := cmp.Diff(want, s.Affinity, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("affinity (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]int64{{30, 10}, {20, 21}}, s.Popularity); diff != "" {
		t.Errorf("popularity (-want +got):\n%s", diff)
	}
}

func TestStatsWrite(t *testing.T) {
	h, rows := affinityRows()
	rows[0].Scores = []float32{0.75}
	var b strings.Builder
	if err := collect(t, h, rows).Write(&b); err != nil {
		t.Fatal(err)
	}
	want := `model: pairs
shape: 2 layers, 2 experts, top-1; 81 rows, 81 accesses

  layer  accesses   entropy bits  top-10%   gini  reuse p50/p90/p99  stack p50/p90/p99  lru hit @1
      0        40  0.811 / 1.000    0.750  0.250              0/3/3              0/1/1       0.475
      1        41  1.000 / 1.000    0.512  0.012              0/2/2              0/1/1       0.488
    all        81  0.905 / 1.000    0.631  0.131              0/3/3              0/1/1       0.481

  layers  pairs  affinity  top (expert -> expert)  independent
  0 -> 1     40     0.833          0.667 (0 -> 1)        0.500

scores: mean by rank 0.7500, mean sum 0.7500 (1 rows)
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestStatsNoData(t *testing.T) {
	h := Header{Model: "m", Layers: 3, Experts: 4, TopK: 2}
	s := collect(t, h, []Row{{Layer: 1, Experts: []int32{0, 1}}})
	if s.Layers[0].Accesses != 0 || s.Overall.Entropy != 1 || s.LRUHitRate(4) != 0 || s.Affinity[0].Pairs != 0 {
		t.Errorf("stats of one row at layer 1: %+v", s)
	}
	var b strings.Builder
	if err := s.Write(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "      0         0              -        -      -                  -                  -             -\n") ||
		!strings.Contains(b.String(), "  0 -> 1      0         -                       -            -\n") || strings.Contains(b.String(), "mean") {
		t.Errorf("a layer without rows is not shown as dashes:\n%s", b.String())
	}
	c, _ := NewCollector(h)
	if err := c.Add(Row{Layer: 3, Experts: []int32{0}}); err == nil || err.Error() != "trace row 0: layer 3 out of range [0,3)" {
		t.Errorf("Add of a bad row: %v", err)
	}
	if _, err := NewCollector(Header{Layers: 1, Experts: 1}); err == nil {
		t.Errorf("NewCollector accepted top_k 0")
	}
}

// TestHistBuckets checks that distances past the exact range land in
// buckets less than 1/64 below them.
func TestHistBuckets(t *testing.T) {
	for d := int64(exactBelow); d < 1<<40; d = d*9/8 + 1 {
		var h hist
		h.add(d)
		q := h.quantiles()
		if q.P50 > d || float64(d-q.P50) > float64(d)/64 || q.N != 1 {
			t.Fatalf("distance %d reported as %+v", d, q)
		}
	}
	var h hist
	for d := range int64(100) {
		h.add(d)
	}
	if q := h.quantiles(); q != (Quantiles{N: 100, P50: 49, P90: 89, P99: 98}) {
		t.Errorf("quantiles of 0..99: %+v", q)
	}
}

func TestReadStatsError(t *testing.T) {
	r, err := NewReader(strings.NewReader(hdr(2)+`{"t":0,"l":0,"e":[1]}`+"\n"), "short.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStats(r); err == nil || err.Error() != "short.jsonl: header says num_entries 2, found 1 rows" {
		t.Errorf("ReadStats: %v", err)
	}
}

// TestImports checks that the package imports only the standard library
// and rt, so that programs that replay traces link nothing of the
// compiler.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path != "github.com/moepolicy/moec/rt" && strings.Contains(strings.Split(path, "/")[0], ".") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}

func BenchmarkStats(b *testing.B) {
	_, rows, err := readAll("real", readRealTrace(b))
	if err != nil {
		b.Fatal(err)
	}
	h := Header{Model: "m", Layers: 5, Experts: 60, TopK: 4}
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		c, _ := NewCollector(h)
		for _, r := range rows {
			if err := c.Add(r); err != nil {
				b.Fatal(err)
			}
		}
		c.Stats()
		n += int64(len(rows))
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
}

// TestCollectorPerLayerSeen: a Collector makes a layer's tables when its
// first row comes, so a header that declares the most layers and pairs
// the format allows, with one row, costs the tables of one layer; and the
// affinity tables stay bounded however many layers have rows.
func TestCollectorPerLayerSeen(t *testing.T) {
	h := Header{Model: "m", Layers: maxLayers, Experts: maxKeys / maxLayers, TopK: 2, Entries: 1}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c, err := NewCollector(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add(Row{Layer: maxLayers - 1, Experts: []int32{3, 7}}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// Per layer: 5 slice headers, 5 words; one layer's tables: 256 x 28
	// bytes. Every layer's tables would take 29 MB.
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("a collector of %d x %d with one row allocated %d bytes, want less than 1 MiB", h.Layers, h.Experts, got)
	}
	if s := c.Stats(); s.Layers[maxLayers-1].Accesses != 2 || s.Layers[0].Accesses != 0 || len(s.Popularity[0]) != h.Experts {
		t.Errorf("stats: %d accesses at the last layer, %d at the first, %d experts in its popularity; want 2, 0, %d",
			s.Layers[maxLayers-1].Accesses, s.Layers[0].Accesses, len(s.Popularity[0]), h.Experts)
	}
	if c.co != nil {
		t.Errorf("%d transitions of %d x %d counts kept, more than %d cells", h.Layers-1, h.Experts, h.Experts, maxAffinityCells)
	}
}
