package trace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moepolicy/moec/rt"
)

const realTrace = "../../testdata/traces/qwen15moe-gsm8k-5layer.jsonl"

// hdr is a header line for 5 layers, 60 experts, top-4 and n rows.
func hdr(n int) string {
	return fmt.Sprintf(`{"model_name": "m", "num_layers": 5, "num_experts": 60, "top_k": 4, "num_entries": %d}`+"\n", n)
}

// readAll reads every row of src, copying them, and returns the first
// error other than io.EOF.
func readAll(name string, src []byte) (Header, []Row, error) {
	r, err := NewReader(bytes.NewReader(src), name)
	if err != nil {
		return Header{}, nil, err
	}
	var rows []Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			return r.Header(), rows, nil
		}
		if err != nil {
			return r.Header(), rows, err
		}
		rows = append(rows, cloneRow(row))
	}
}

func cloneRow(r Row) Row {
	r.Experts = append([]int32(nil), r.Experts...)
	if r.Scores != nil {
		r.Scores = append([]float32{}, r.Scores...)
	}
	return r
}

func readRealTrace(t testing.TB) []byte {
	data, err := os.ReadFile(realTrace)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestReaderErrors(t *testing.T) {
	row := `{"t":0,"l":0,"e":[1,2,3,4],"s":[0.4,0.3,0.2,0.1]}` + "\n"
	tests := []struct {
		name, src, want string
	}{
		{"empty file", "", `trace.jsonl: empty file, expected a header line`},
		{"blank file", "\n  \n", `trace.jsonl: empty file, expected a header line`},
		{"expert out of range", hdr(2) + row + `{"t":0,"l":1,"e":[71,2],"s":null}` + "\n",
			`trace.jsonl:3: expert 71 out of range [0,60)`},
		{"negative expert", hdr(1) + `{"t":0,"l":1,"e":[-1]}` + "\n", `trace.jsonl:2: expert -1 out of range [0,60)`},
		{"huge expert", hdr(1) + `{"t":0,"l":1,"e":[99999999999]}` + "\n", `trace.jsonl:2: expert 99999999999 out of range [0,60)`},
		{"layer out of range", hdr(1) + `{"t":0,"l":5,"e":[1]}` + "\n", `trace.jsonl:2: layer 5 out of range [0,5)`},
		{"huge layer", hdr(1) + `{"t":0,"l":123456789012345678901,"e":[1]}` + "\n",
			`trace.jsonl:2: layer 123456789012345678901 out of range [0,5)`},
		{"scores for experts", hdr(1) + `{"t":0,"l":0,"e":[1,2,3,4],"s":[0.5,0.2,0.1]}` + "\n", `trace.jsonl:2: 3 scores for 4 experts`},
		{"empty scores", hdr(1) + `{"t":0,"l":0,"e":[1],"s":[]}` + "\n", `trace.jsonl:2: 0 scores for 1 experts`},
		{"too many experts", hdr(1) + `{"t":0,"l":0,"e":[1,2,3,4,5]}` + "\n", `trace.jsonl:2: 5 experts, header says top_k 4`},
		{"no experts", hdr(1) + `{"t":0,"l":0,"e":[]}` + "\n", `trace.jsonl:2: no experts`},
		{"duplicate expert", hdr(1) + `{"t":0,"l":0,"e":[7,3,7]}` + "\n", `trace.jsonl:2: duplicate expert 7`},
		{"negative token", hdr(1) + `{"t":-1,"l":0,"e":[7]}` + "\n", `trace.jsonl:2: token -1 is negative`},
		{"malformed JSON", hdr(2) + row + `{"t":0,"l":0,"e":[1,2}` + "\n",
			`trace.jsonl:3: invalid JSON: invalid character '}' after array element`},
		{"not an object", hdr(1) + `[1,2]` + "\n", `trace.jsonl:2: want a JSON object, found [1,2]`},
		{"missing field", hdr(1) + `{"t":0,"e":[1]}` + "\n", `trace.jsonl:2: missing field "l"`},
		{"token not a number", hdr(1) + `{"t":"x","l":0,"e":[1]}` + "\n", `trace.jsonl:2: field "t": want an integer, found "x"`},
		{"fractional layer", hdr(1) + `{"t":0,"l":1.5,"e":[1]}` + "\n", `trace.jsonl:2: field "l": want an integer, found 1.5`},
		{"fractional expert", hdr(1) + `{"t":0,"l":1,"e":[1.5]}` + "\n", `trace.jsonl:2: field "e": want an array of integers, found element 1.5`},
		{"experts null", hdr(1) + `{"t":0,"l":1,"e":null}` + "\n", `trace.jsonl:2: field "e": want an array of integers, found null`},
		{"score not a number", hdr(1) + `{"t":0,"l":1,"e":[1],"s":["x"]}` + "\n", `trace.jsonl:2: field "s": want an array of numbers or null, found element "x"`},
		{"score out of range", hdr(1) + `{"t":0,"l":1,"e":[1],"s":[1e39]}` + "\n", `trace.jsonl:2: score 1e39 out of range`},
		{"fewer rows than header", hdr(3) + row + row, `trace.jsonl: header says num_entries 3, found 2 rows`},
		{"more rows than header", hdr(1) + row + row, `trace.jsonl:3: more rows than the header's num_entries 1`},
		{"truncated last line", hdr(2) + row + `{"t":0,"l":0,"e":[1,2`,
			`trace.jsonl:3: truncated last line (no newline at end of file): invalid JSON: unexpected end of JSON input`},
		{"truncated header", `{"model_name": "m", "num_lay`,
			`trace.jsonl:1: truncated last line (no newline at end of file): header: invalid JSON: unexpected end of JSON input`},
		{"invalid last line without newline", hdr(1) + `{"t":0,"l":9,"e":[1]}`, `trace.jsonl:2: layer 9 out of range [0,5)`},
		{"header not JSON", "model qwen\n", `trace.jsonl:1: header: invalid JSON: invalid character 'm' looking for beginning of value`},
		{"header not an object", "[5, 60, 4]\n", `trace.jsonl:1: header: want a JSON object, found [5, 60, 4]`},
		{"header without model", `{"num_layers": 5, "num_experts": 60, "top_k": 4, "num_entries": 0}` + "\n",
			`trace.jsonl:1: header: missing field "model_name"`},
		{"header without layers", `{"model_name": "m", "num_experts": 60, "top_k": 4, "num_entries": 0}` + "\n",
			`trace.jsonl:1: header: missing field "num_layers"`},
		{"header without experts", `{"model_name": "m", "num_layers": 5, "top_k": 4, "num_entries": 0}` + "\n",
			`trace.jsonl:1: header: missing field "num_experts"`},
		{"header without top_k", `{"model_name": "m", "num_layers": 5, "num_experts": 60, "num_entries": 0}` + "\n",
			`trace.jsonl:1: header: missing field "top_k"`},
		{"header without entries", `{"model_name": "m", "num_layers": 5, "num_experts": 60, "top_k": 4}` + "\n",
			`trace.jsonl:1: header: missing field "num_entries"`},
		{"header model not a string", `{"model_name": 3, "num_layers": 5, "num_experts": 60, "top_k": 4, "num_entries": 0}` + "\n",
			`trace.jsonl:1: header: field "model_name": want a string, found 3`},
		{"header layers not an integer", `{"model_name": "m", "num_layers": "5", "num_experts": 60, "top_k": 4, "num_entries": 0}` + "\n",
			`trace.jsonl:1: header: field "num_layers": want an integer, found "5"`},
		{"header negative entries", `{"model_name": "m", "num_layers": 5, "num_experts": 60, "top_k": 4, "num_entries": -1}` + "\n",
			`trace.jsonl:1: header: field "num_entries": -1 out of range [0,9223372036854775807]`},
		{"header zero experts", `{"model_name": "m", "num_layers": 5, "num_experts": 0, "top_k": 4, "num_entries": 0}` + "\n",
			`trace.jsonl:1: header: num_experts 0, need at least 1`},
		{"header top_k above experts", `{"model_name": "m", "num_layers": 5, "num_experts": 8, "top_k": 9, "num_entries": 0}` + "\n",
			`trace.jsonl:1: header: top_k 9, need 1 to num_experts 8`},
		{"header too many experts", `{"model_name": "m", "num_layers": 5, "num_experts": 100000, "top_k": 9, "num_entries": 0}` + "\n",
			`trace.jsonl:1: header: num_experts 100000, at most 65536 supported`},
		// A hostile header cannot make a reader or a replay size its tables
		// without bound.
		{"header too many layers", `{"model_name": "m", "num_layers": 32767, "num_experts": 8, "top_k": 2, "num_entries": 1}` + "\n",
			`trace.jsonl:1: header: num_layers 32767, at most 4096 supported`},
		{"header too many pairs", `{"model_name": "m", "num_layers": 4096, "num_experts": 65536, "top_k": 2, "num_entries": 1}` + "\n",
			`trace.jsonl:1: header: num_layers 4096 x num_experts 65536 is 268435456 (layer, expert) pairs, at most 1048576 supported`},
		{"header more rows than the file holds", `{"model_name": "m", "num_layers": 2, "num_experts": 8, "top_k": 2, "num_entries": 100}` + "\n" +
			`{"t":0,"l":0,"e":[1,2]}` + "\n" + `{"t":0,"l":1,"e":[1,2]}` + "\n",
			`trace.jsonl:1: header says num_entries 100, more rows than a file of 135 bytes holds (a row takes at least 22)`},
		{"header entries disagree", `{"model_name": "m", "num_layers": 5, "num_experts": 8, "top_k": 2, "num_entries": 3, "total_entries": 4}` + "\n",
			`trace.jsonl:1: header: num_entries 3 and total_entries 4 disagree`},
		{"header bad timestamp", `{"model_name": "m", "num_layers": 5, "num_experts": 8, "top_k": 2, "num_entries": 0, "timestamp": [1]}` + "\n",
			`trace.jsonl:1: header: field "timestamp": want a string or a number, found [1]`},
		{"line too long", hdr(1) + `{"t":0,"l":0,"e":[1],"x":"` + strings.Repeat("a", baseMaxLine+300) + `"}` + "\n",
			fmt.Sprintf("trace.jsonl:2: line longer than %d bytes", baseMaxLine+64*4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readAll("trace.jsonl", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error\n got %s\nwant %s", got, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error %T is not an *Error", err)
			}
		})
	}
}

// TestReaderSticky checks that Next keeps returning its first error.
func TestReaderSticky(t *testing.T) {
	src := hdr(3) + `{"t":0,"l":7,"e":[1]}` + "\n" + `{"t":0,"l":0,"e":[1]}` + "\n"
	r, err := NewReader(strings.NewReader(src), "x.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || err1 != err2 {
		t.Errorf("errors %v then %v, want the same error twice", err1, err2)
	}
}

func TestReaderRows(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []Row
	}{
		{"the recorders' layout", hdr(1) + `{"t":3,"l":2,"e":[33,16,24,27],"s":[0.1327,0.078,0.0689,0.0488]}` + "\n",
			[]Row{{Token: 3, Layer: 2, Experts: []int32{33, 16, 24, 27}, Scores: []float32{0.1327, 0.078, 0.0689, 0.0488}}}},
		{"null scores", hdr(1) + `{"t":0,"l":0,"e":[1,2],"s":null}` + "\n", []Row{{Experts: []int32{1, 2}}}},
		{"no scores", hdr(1) + `{"t":0,"l":0,"e":[1,2]}` + "\n", []Row{{Experts: []int32{1, 2}}}},
		{"spaces and key order", hdr(1) + ` { "e" : [ 5 , 6 ] , "s" : [ 1 , 0.5 ] , "l" : 4 , "t" : 9 } ` + "\n",
			[]Row{{Token: 9, Layer: 4, Experts: []int32{5, 6}, Scores: []float32{1, 0.5}}}},
		{"exponents and unknown keys", hdr(1) + `{"t":1,"l":0,"e":[5],"s":[2.5e-1],"note":"x"}` + "\n",
			[]Row{{Token: 1, Experts: []int32{5}, Scores: []float32{0.25}}}},
		{"blank lines and CRLF", hdr(2) + "\r\n" + `{"t":0,"l":0,"e":[1]}` + "\r\n\n" + `{"t":0,"l":1,"e":[2]}` + "\r\n\r\n",
			[]Row{{Experts: []int32{1}}, {Layer: 1, Experts: []int32{2}}}},
		{"last line without newline", hdr(1) + `{"t":0,"l":0,"e":[1]}`, []Row{{Experts: []int32{1}}}},
		{"fewer experts than top_k", hdr(1) + `{"t":0,"l":0,"e":[59]}` + "\n", []Row{{Experts: []int32{59}}}},
		{"total_entries and timestamp", `{"model_name": "m", "num_layers": 5, "num_experts": 60, "top_k": 4, "total_entries": 1, "timestamp": "2025-01-01T00:00:00"}` + "\n" +
			`{"t":0,"l":0,"e":[1]}` + "\n", []Row{{Experts: []int32{1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rows, err := readAll("x.jsonl", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, rows); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHeader(t *testing.T) {
	src := `{"model_name": "Qwen/Qwen1.5-MoE-A2.7B-Chat layers 0,8 of 24", "num_layers": 2, "num_experts": 60, "top_k": 4, "total_entries": 0, "timestamp": 1718000000.5}` + "\n"
	h, _, err := readAll("x.jsonl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Model: "Qwen/Qwen1.5-MoE-A2.7B-Chat layers 0,8 of 24", Layers: 2, Experts: 60, TopK: 4, Timestamp: "1718000000.5"}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if got, want := h.Shape(), (rt.Shape{Layers: 2, Experts: 60, TopK: 4, ExpertBytes: 17301504}); got != want {
		t.Errorf("Shape() = %+v, want %+v", got, want)
	}
	h.ExpertBytes = 1000
	if got := h.Shape().ExpertBytes; got != 1000 {
		t.Errorf("Shape().ExpertBytes = %d with expert_bytes 1000", got)
	}
}

func TestExpertBytesOf(t *testing.T) {
	for model, want := range map[string]int64{
		"mistralai/Mixtral-8x7B-Instruct-v0.1": 336 << 20,
		"Qwen/Qwen1.5-MoE-A2.7B-Chat":          33 << 19,
		"deepseek-ai/DeepSeek-V2-Lite-Chat":    33 << 19,
		"allenai/OLMoE-1B-7B-0924":             12 << 20,
		"google/switch-base-8":                 0,
	} {
		if got := ExpertBytesOf(model); got != want {
			t.Errorf("ExpertBytesOf(%q) = %d, want %d", model, got, want)
		}
	}
}

// TestScanFloat checks the hand-written decimal scanner against
// strconv.ParseFloat on every 4-decimal score and on random decimals of
// every length it accepts.
func TestScanFloat(t *testing.T) {
	check := func(s string) {
		t.Helper()
		got, n, ok := scanFloat([]byte(s), 0)
		want, err := strconv.ParseFloat(s, 32)
		if !ok || err != nil || n != len(s) || got != float32(want) {
			t.Fatalf("scanFloat(%q) = %v, %d, %v; ParseFloat = %v, %v", s, got, n, ok, float32(want), err)
		}
	}
	for i := range 20001 {
		check(strconv.FormatFloat(float64(i)/1e4, 'f', -1, 64))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		intDigits := 1 + rng.IntN(7)
		fracDigits := rng.IntN(min(8, maxDigits-intDigits) + 1)
		var b strings.Builder
		if rng.IntN(4) == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(byte('1' + rng.IntN(9)))
		for range intDigits - 1 {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		if fracDigits > 0 {
			b.WriteByte('.')
			for range fracDigits {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
		}
		check(b.String())
	}
	for _, s := range []string{"1e5", "01", "1.", "-", "0.123456789", "1234567890123456"} {
		if _, _, ok := scanFloat([]byte(s), 0); ok {
			t.Errorf("scanFloat(%q) accepted it, want it left to encoding/json", s)
		}
	}
}

// TestReaderAllocs checks that reading allocates nothing per row.
func TestReaderAllocs(t *testing.T) {
	data := readRealTrace(t)
	allocs := testing.AllocsPerRun(5, func() {
		r, err := NewReader(bytes.NewReader(data), "x")
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	})
	// NewReader's buffers and the header's decoding: a few dozen, for
	// 21,785 rows.
	if allocs > 100 {
		t.Errorf("%v allocations to read the trace, want a constant few (none per row)", allocs)
	}
}

// FuzzReader checks that no input makes the Reader panic, that every
// error names the file and a line that exists, that every row it returns
// fits the header, and that the hand-written scanner and encoding/json
// read every row alike.
func FuzzReader(f *testing.F) {
	f.Add([]byte(hdr(2) + `{"t":0,"l":0,"e":[1,2,3,4],"s":[0.4,0.3,0.2,0.1]}` + "\n" + `{"t":0,"l":1,"e":[5],"s":null}`))
	f.Add([]byte(hdr(1) + ` { "e" : [ 5 , 6 ] , "s" : [ 1 , 0.5e0 ] , "l" : 4 , "t" : 9 } ` + "\n"))
	f.Add([]byte(hdr(1) + `{"t":0,"l":0,"e":[1,2}` + "\n"))
	f.Add([]byte(hdr(1) + `{"t":0,"l":0,"e":[1,1]}`))
	f.Add([]byte(`{"model_name": "m", "num_layers": 1, "num_experts": 2, "top_k": 2, "total_entries": 1}` + "\n" + `{"t":0,"l":0,"e":[1,0],"s":[-0,1E2]}`))
	f.Add([]byte(""))
	data := readRealTrace(f)
	f.Add(data[:bytes.IndexByte(data, '\n')+600])
	f.Fuzz(func(t *testing.T, src []byte) {
		lines := bytes.Split(src, []byte("\n"))
		r, err := NewReader(bytes.NewReader(src), "fuzz.jsonl")
		if err != nil {
			checkError(t, err, len(lines))
			return
		}
		h := r.Header()
		if err := h.Validate(); err != nil {
			t.Fatalf("accepted a header that does not validate: %v", err)
		}
		seen := make([]uint32, h.Experts)
		var n int64
		for {
			row, err := r.Next()
			if err == io.EOF {
				if n != h.Entries {
					t.Fatalf("clean end after %d rows, header says %d", n, h.Entries)
				}
				return
			}
			if err != nil {
				checkError(t, err, len(lines))
				return
			}
			n++
			if msg := checkRow(&h, &row, seen, uint32(n)); msg != "" {
				t.Fatalf("row at line %d: %s", r.Line(), msg)
			}
			// The same line through encoding/json must give the same row.
			row = cloneRow(row)
			slow := &Reader{h: h, experts: make([]int32, 0, 1), scores: make([]float32, 0, 1)}
			var want Row
			line := bytes.TrimSuffix(lines[r.Line()-1], []byte("\r"))
			if msg, _ := slow.decode(line, &want); msg != "" {
				t.Fatalf("line %d %q: read as %+v, but encoding/json says %s", r.Line(), line, row, msg)
			}
			if diff := cmp.Diff(want, row); diff != "" {
				t.Fatalf("line %d %q (-encoding/json +scanner):\n%s", r.Line(), line, diff)
			}
		}
	})
}

func checkError(t *testing.T, err error, lines int) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, want an *Error", err, err)
	}
	if e.File != "fuzz.jsonl" || e.Line < 0 || e.Line > lines || e.Msg == "" {
		t.Fatalf("error %q: want fuzz.jsonl and a line in [0,%d]", err, lines)
	}
}

// BenchmarkReader reads the real trace from memory.
func BenchmarkReader(b *testing.B) {
	data := readRealTrace(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var rows int64
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), "x")
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows++
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReaderEncodingJSON reads the real trace's rows through the
// encoding/json path that the Reader keeps for unusual layouts, to show
// what the hand-written scanner saves.
func BenchmarkReaderEncodingJSON(b *testing.B) {
	data := readRealTrace(b)
	r, err := NewReader(bytes.NewReader(data), "x")
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))[1:]
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var rows int64
	for b.Loop() {
		for _, line := range lines {
			var row Row
			if msg, _ := r.decode(line, &row); msg != "" {
				b.Fatal(msg)
			}
			rows++
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

func TestReaderAll(t *testing.T) {
	src := hdr(3) + `{"t":0,"l":0,"e":[1]}` + "\n" + `{"t":0,"l":1,"e":[2]}` + "\n" + `{"t":0,"l":9,"e":[3]}` + "\n"
	r, err := NewReader(strings.NewReader(src), "all.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for row, err := range r.All() {
		if err != nil {
			got = append(got, err.Error())
			continue
		}
		got = append(got, fmt.Sprint(row.Layer, row.Experts))
	}
	want := []string{"0 [1]", "1 [2]", "all.jsonl:4: layer 9 out of range [0,5)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("All (-want +got):\n%s", diff)
	}
	r, _ = NewReader(strings.NewReader(hdr(1)+`{"t":0,"l":0,"e":[1]}`+"\n"), "ok.jsonl")
	n := 0
	for _, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("All yielded %d rows, want 1", n)
	}
}

// TestReaderShortestRows: a file of the shortest rows holds as many rows
// as its header says, so the reader's check of num_entries against the
// file's size never refuses a valid trace.
func TestReaderShortestRows(t *testing.T) {
	const n = 1000
	row := `{"t":0,"l":0,"e":[0]}`
	if len(row)+1 != minRowBytes {
		t.Fatalf("the shortest row %s takes %d bytes with its newline, minRowBytes is %d", row, len(row)+1, minRowBytes)
	}
	src := `{"model_name":"m","num_layers":1,"num_experts":1,"top_k":1,"num_entries":1000}` + "\n" +
		strings.Repeat(row+"\n", n-1) + row // no newline at the end
	_, rows, err := readAll("t.jsonl", []byte(src))
	if err != nil || len(rows) != n {
		t.Errorf("%d rows, %v; want %d", len(rows), err, n)
	}
}
