package trace

import (
	"bytes"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRoundTripReal reads the real trace, writes it and reads it again:
// the rows are identical, and so are the bytes, since the Writer lays
// rows out as the recorders did.
func TestRoundTripReal(t *testing.T) {
	data := readRealTrace(t)
	h, rows, err := readAll("real.jsonl", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 21785 || h.Layers != 5 || h.Experts != 60 || h.TopK != 4 {
		t.Fatalf("read %d rows of %d layers, %d experts, top-%d; want 21785 of 5, 60, top-4", len(rows), h.Layers, h.Experts, h.TopK)
	}
	var out bytes.Buffer
	w, err := NewWriter(&out, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h2, rows2, err := readAll("out.jsonl", out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h, h2); diff != "" {
		t.Errorf("header (-read +reread):\n%s", diff)
	}
	if diff := cmp.Diff(rows, rows2); diff != "" {
		t.Errorf("rows (-read +reread):\n%s", diff)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Errorf("written trace differs from the original")
	}
}

func TestWriterLayout(t *testing.T) {
	h := Header{Model: `Qwen "x" <y>`, Layers: 2, Experts: 8, TopK: 2, Entries: 3, ExpertBytes: 17301504, Timestamp: "2025-01-01"}
	var out bytes.Buffer
	w, err := NewWriter(&out, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []Row{
		{Token: 0, Layer: 0, Experts: []int32{3, 1}, Scores: []float32{0.61237, 0.3876}},
		{Token: 0, Layer: 1, Experts: []int32{7}},
		{Token: 1, Layer: 0, Experts: []int32{0, 2}, Scores: []float32{1, 0.00001}},
	} {
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := `{"model_name": "Qwen \"x\" <y>", "num_layers": 2, "num_experts": 8, "top_k": 2, "num_entries": 3, "expert_bytes": 17301504, "timestamp": "2025-01-01"}
{"t":0,"l":0,"e":[3,1],"s":[0.6124,0.3876]}
{"t":0,"l":1,"e":[7],"s":null}
{"t":1,"l":0,"e":[0,2],"s":[1.0,0.0]}
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	h2, _, err := readAll("x", out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h, h2); diff != "" {
		t.Errorf("header read back (-want +got):\n%s", diff)
	}
}

func TestWriterErrors(t *testing.T) {
	h := Header{Model: "m", Layers: 2, Experts: 8, TopK: 2, Entries: 2}
	ok := Row{Experts: []int32{1}}
	tests := []struct {
		name string
		h    Header
		rows []Row
		want string // from NewWriter, Write or Close, whichever fails first
	}{
		{"bad header", Header{Layers: 2, Experts: 8, TopK: 9}, nil, "trace header: top_k 9, need 1 to num_experts 8"},
		{"negative entries", Header{Layers: 2, Experts: 8, TopK: 2, Entries: -1}, nil, "trace header: num_entries -1 is negative"},
		{"expert out of range", h, []Row{{Experts: []int32{8}}}, "trace row 0: expert 8 out of range [0,8)"},
		{"layer out of range", h, []Row{ok, {Layer: 2, Experts: []int32{1}}}, "trace row 1: layer 2 out of range [0,2)"},
		{"too many experts", h, []Row{{Experts: []int32{1, 2, 3}}}, "trace row 0: 3 experts, header says top_k 2"},
		{"duplicate expert", h, []Row{{Experts: []int32{1, 1}}}, "trace row 0: duplicate expert 1"},
		{"scores for experts", h, []Row{{Experts: []int32{1, 2}, Scores: []float32{1}}}, "trace row 0: 1 scores for 2 experts"},
		{"score not finite", h, []Row{{Experts: []int32{1}, Scores: []float32{float32(math.NaN())}}}, "trace row 0: score NaN is not finite"},
		{"more rows than entries", h, []Row{ok, ok, ok}, "trace row 2: more rows than the header's num_entries 2"},
		{"fewer rows than entries", h, []Row{ok}, "trace: header says num_entries 2, wrote 1 rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := func() error {
				w, err := NewWriter(io.Discard, tt.h)
				if err != nil {
					return err
				}
				for _, row := range tt.rows {
					if err := w.Write(row); err != nil {
						return err
					}
				}
				return w.Close()
			}()
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// TestWriterAllocs checks that Write allocates nothing.
func TestWriterAllocs(t *testing.T) {
	h := Header{Model: "m", Layers: 1, Experts: 8, TopK: 2, Entries: 1 << 40}
	w, err := NewWriter(io.Discard, h)
	if err != nil {
		t.Fatal(err)
	}
	row := Row{Experts: []int32{3, 1}, Scores: []float32{0.6, 0.4}}
	if allocs := testing.AllocsPerRun(1000, func() { _ = w.Write(row) }); allocs != 0 {
		t.Errorf("Write allocates %v times per row, want 0", allocs)
	}
}

func BenchmarkWriter(b *testing.B) {
	_, rows, err := readAll("real", readRealTrace(b))
	if err != nil {
		b.Fatal(err)
	}
	h := Header{Model: "m", Layers: 5, Experts: 60, TopK: 4, Entries: math.MaxInt64}
	w, err := NewWriter(io.Discard, h)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		for _, row := range rows {
			if err := w.Write(row); err != nil {
				b.Fatal(err)
			}
		}
		n += int64(len(rows))
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
}

func TestAppendScore(t *testing.T) {
	for _, tt := range []struct {
		in   float32
		want string
	}{{0.078, "0.078"}, {0.1327, "0.1327"}, {1, "1.0"}, {0, "0.0"}, {-0.00001, "0.0"}, {0.99996, "1.0"}, {0.12345, "0.1235"}, {12.5, "12.5"}} {
		if got := string(appendScore(nil, tt.in)); got != tt.want {
			t.Errorf("appendScore(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := string(appendString(nil, "a\"b\\c\n<&>")); !strings.Contains(got, `<&>`) || got != `"a\"b\\c\n<&>"` {
		t.Errorf("appendString = %s", got)
	}
}

// TestRoundScore checks that RoundScore is what a score reads back as
// after a Writer wrote it.
func TestRoundScore(t *testing.T) {
	scores := []float32{0, 1, 0.5, 0.12345, 0.99995, 0.00004999, 0.2037449, 1e-9, 0.33333334, 0.6666667}
	for i := range 200 {
		scores = append(scores, float32(i)*0.0049999)
	}
	var out bytes.Buffer
	w, err := NewWriter(&out, Header{Layers: 1, Experts: 1, TopK: 1, Entries: int64(len(scores))})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scores {
		if err := w.Write(Row{Experts: []int32{0}, Scores: []float32{s}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, rows, err := readAll("scores.jsonl", out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if got, want := r.Scores[0], RoundScore(scores[i]); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("score %v reads back as %v, RoundScore gives %v", scores[i], got, want)
		}
	}
}
