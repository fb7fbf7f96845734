package replay_test

import (
	"bytes"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/trace"
)

const sharedTrace = "../../testdata/traces/qwen15moe-gsm8k-5layer.jsonl"

func newReader(t *testing.T, name string, data []byte) *trace.Reader {
	t.Helper()
	r, err := trace.NewReader(bytes.NewReader(data), name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReadRows checks that the rows read into memory are the rows a
// replay streams from the file, each holding its own slices.
func TestReadRows(t *testing.T) {
	data, err := os.ReadFile(sharedTrace)
	if err != nil {
		t.Fatal(err)
	}
	r := newReader(t, sharedTrace, data)
	rows, err := replay.ReadRows(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(rows)) != r.Header().Entries {
		t.Fatalf("%d rows, the header says %d", len(rows), r.Header().Entries)
	}
	want, err := replay.Accesses(replay.TraceSource{R: newReader(t, sharedTrace, data)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := replay.Accesses(replay.NewSliceSource(rows))
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(got, want) {
		t.Errorf("the rows in memory select other experts than the file")
	}
	if rows[0].Scores == nil {
		t.Errorf("the scores were not read")
	}
}

// TestReadRowsErrors checks that a trace that lies about its length, even
// by 2^63-1 rows, or has a bad row, is an error naming the file. The trace
// is a stream, whose length the reader cannot check against the header as
// it checks a file's.
func TestReadRowsErrors(t *testing.T) {
	const header = `{"model_name": "m", "num_layers": 2, "num_experts": 6, "top_k": 2, "num_entries": %s}` + "\n"
	for _, tc := range []struct{ entries, rows, err string }{
		{"9223372036854775807", `{"t":0,"l":0,"e":[1,3]}`, "t.jsonl: header says num_entries 9223372036854775807, found 1 rows"},
		{"2", `{"t":0,"l":0,"e":[1,3]}` + "\n" + `{"t":0,"l":1,"e":[1,9]}`, "t.jsonl:3: "},
	} {
		stream := struct{ io.Reader }{strings.NewReader(strings.Replace(header, "%s", tc.entries, 1) + tc.rows + "\n")}
		r, err := trace.NewReader(stream, "t.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		rows, err := replay.ReadRows(r)
		if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("num_entries %s: %d rows, error %v, want %q", tc.entries, len(rows), err, tc.err)
		}
	}
}

// TestGenSource checks that a synthetic trace replayed as it is generated
// is the one that `moec trace gen` writes and a reader reads back.
func TestGenSource(t *testing.T) {
	cfg, err := trace.Preset("mixtral-8x7b")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tokens = 50
	g, err := trace.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var rows []replay.Row
	src := replay.GenSource{G: g}
	for {
		layer, experts, scores, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, replay.Row{Layer: layer, Experts: slices.Clone(experts), Scores: slices.Clone(scores)})
	}
	var file bytes.Buffer
	w, err := trace.NewWriter(&file, cfg.Header())
	if err == nil {
		err = trace.Generate(cfg, w.Write)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	read, err := replay.ReadRows(newReader(t, "gen.jsonl", file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 50*32 || len(read) != len(rows) {
		t.Fatalf("%d rows generated, %d read back, want %d", len(rows), len(read), 50*32)
	}
	for i := range rows {
		if rows[i].Layer != read[i].Layer || !cmp.Equal(rows[i].Experts, read[i].Experts) {
			t.Fatalf("row %d: generated %+v, read back %+v", i, rows[i], read[i])
		}
	}
	cfg.Tokens = -1
	if _, err := trace.NewGenerator(cfg); err == nil || !strings.HasPrefix(err.Error(), "synthetic trace: -1 tokens") {
		t.Errorf("a synthetic trace of -1 tokens: %v", err)
	}
}
