package trace

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// vllmMeta is a meta line of a log of layer l of a 24-layer model with
// 8 experts, top-2.
func vllmMeta(l int) string {
	return fmt.Sprintf(`{"type":"meta","model":"Qwen/Qwen1.5-MoE-A2.7B","layer":%d,"num_layers":24,"num_experts":8,"top_k":2}`+"\n", l)
}

func vllmRoute(req string, tok, l int, ids string, weights string) string {
	return fmt.Sprintf(`{"type":"route","req_id":%s,"token_idx":%d,"layer":%d,"topk_ids":%s,"topk_weights":%s}`+"\n", req, tok, l, ids, weights)
}

// vllmLog is a log of layer l: a meta line, a profiling pass of n routes
// of every kind the converter skips, then routes of two requests
// interleaved as a batch would give them.
func vllmLog(l, n int) string {
	var b strings.Builder
	b.WriteString(vllmMeta(l))
	profiling := []string{`"profile"`, `""`, `null`, `"profile_run_3"`}
	for i := range n {
		b.WriteString(vllmRoute(profiling[i%len(profiling)], i, l, "[0,1]", "[0.5,0.5]"))
	}
	b.WriteString(`{"type":"route","token_idx":9,"layer":` + fmt.Sprint(l) + `,"topk_ids":[1,0]}` + "\n") // no req_id
	b.WriteString(vllmRoute(`"cmpl-a"`, 0, l, fmt.Sprintf("[%d,%d]", l%8, (l+1)%8), "[0.61237,0.3876]"))
	b.WriteString(vllmRoute(`"cmpl-b"`, 0, l, fmt.Sprintf("[%d,%d]", (l+2)%8, (l+3)%8), "null"))
	b.WriteString("\n")
	b.WriteString(vllmRoute(`"cmpl-a"`, 1, l, fmt.Sprintf("[%d]", (l+4)%8), "[1.0]"))
	return b.String()
}

func convert(names []string, logs []string) (string, Header, error) {
	rs := make([]io.ReadSeeker, len(logs))
	for i, s := range logs {
		rs[i] = strings.NewReader(s)
	}
	var out bytes.Buffer
	h, err := Convert(&out, rs, names)
	return out.String(), h, err
}

func TestConvert(t *testing.T) {
	// Given out of order, with profiling passes of different lengths.
	out, h, err := convert([]string{"l12.jsonl", "l0.jsonl", "l8.jsonl"}, []string{vllmLog(12, 3), vllmLog(0, 5), vllmLog(8, 0)})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model_name": "Qwen/Qwen1.5-MoE-A2.7B layers 0,8,12 of 24", "num_layers": 3, "num_experts": 8, "top_k": 2, "num_entries": 9}
{"t":0,"l":0,"e":[0,1],"s":[0.6124,0.3876]}
{"t":0,"l":1,"e":[0,1],"s":[0.6124,0.3876]}
{"t":0,"l":2,"e":[4,5],"s":[0.6124,0.3876]}
{"t":1,"l":0,"e":[2,3],"s":null}
{"t":1,"l":1,"e":[2,3],"s":null}
{"t":1,"l":2,"e":[6,7],"s":null}
{"t":2,"l":0,"e":[4],"s":[1.0]}
{"t":2,"l":1,"e":[4],"s":[1.0]}
{"t":2,"l":2,"e":[0],"s":[1.0]}
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
	if h.Entries != 9 || h.Layers != 3 {
		t.Errorf("header %+v, want 3 layers and 9 entries", h)
	}
	if _, _, err := readAll("out", []byte(out)); err != nil {
		t.Errorf("the converted trace does not read back: %v", err)
	}
}

func TestConvertWholeModel(t *testing.T) {
	meta := func(l int) string {
		return fmt.Sprintf(`{"type":"meta","model":"tiny","layer":%d,"num_layers":2,"num_experts":4,"top_k":1}`+"\n", l)
	}
	out, _, err := convert([]string{"a", "b"}, []string{
		meta(0) + vllmRoute(`"r"`, 0, 0, "[3]", "[0.9]"),
		meta(1) + vllmRoute(`"r"`, 0, 1, "[2]", "[0.8]"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model_name": "tiny", "num_layers": 2, "num_experts": 4, "top_k": 1, "num_entries": 2}
{"t":0,"l":0,"e":[3],"s":[0.9]}
{"t":0,"l":1,"e":[2],"s":[0.8]}
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
}

func TestConvertErrors(t *testing.T) {
	meta0, meta8 := vllmMeta(0), vllmMeta(8)
	r0 := vllmRoute(`"a"`, 0, 0, "[1,2]", "[0.6,0.4]")
	r8 := vllmRoute(`"a"`, 0, 8, "[1,2]", "[0.6,0.4]")
	tests := []struct {
		name    string
		l0, l8  string
		want    string
		noNames bool
	}{
		{name: "different lengths", l0: meta0 + r0 + r0, l8: meta8 + r8,
			want: "l8.jsonl: 1 routes after the profiling pass, l0.jsonl has 2"},
		{name: "different lengths, first shorter", l0: meta0 + vllmRoute(`"profile"`, 0, 0, "[1]", "null") + r0, l8: meta8 + r8 + r8 + r8,
			want: "l8.jsonl: 3 routes after the profiling pass, l0.jsonl has 1"},
		{name: "meta mismatch", l0: meta0, l8: strings.Replace(meta8, `"num_experts":8`, `"num_experts":16`, 1),
			want: "l8.jsonl:1: meta says num_experts 16, l0.jsonl:1 says 8"},
		{name: "model mismatch", l0: meta0, l8: strings.Replace(meta8, `Qwen/`, ``, 1),
			want: `l8.jsonl:1: meta says model "Qwen1.5-MoE-A2.7B", l0.jsonl:1 says "Qwen/Qwen1.5-MoE-A2.7B"`},
		{name: "same layer twice", l0: meta0, l8: meta0, want: "l8.jsonl:1: layer 0 already logged by l0.jsonl:1"},
		{name: "empty log", l0: meta0, l8: "", want: `l8.jsonl: empty file, expected a {"type":"meta"} line`},
		{name: "route first", l0: r0, l8: meta8, want: `l0.jsonl:1: expected a {"type":"meta"} line first, found type "route"`},
		{name: "meta without top_k", l0: strings.Replace(meta0, `,"top_k":2`, ``, 1), l8: meta8, want: `l0.jsonl:1: meta: missing field "top_k"`},
		{name: "meta without model", l0: strings.Replace(meta0, `"model":"Qwen/Qwen1.5-MoE-A2.7B",`, ``, 1), l8: meta8,
			want: `l0.jsonl:1: meta: missing field "model"`},
		{name: "meta layer out of range", l0: meta0, l8: strings.Replace(meta8, `"layer":8`, `"layer":24`, 1),
			want: "l8.jsonl:1: meta: layer 24 out of range [0,24)"},
		{name: "meta top_k above experts", l0: strings.Replace(meta0, `"top_k":2`, `"top_k":9`, 1), l8: meta8,
			want: "l0.jsonl:1: meta: top_k 9, need 1 to num_experts 8"},
		{name: "bad JSON", l0: meta0 + r0 + `{"type":"route",` + "\n", l8: meta8 + r8 + r8,
			want: "l0.jsonl:3: invalid JSON: unexpected end of JSON input"},
		{name: "truncated last line", l0: meta0 + r0 + `{"type":"route","req_id":"a"`, l8: meta8 + r8 + r8,
			want: "l0.jsonl:3: truncated last line (no newline at end of file): invalid JSON: unexpected end of JSON input"},
		{name: "wrong field type", l0: meta0 + vllmRoute(`"a"`, 0, 0, `["x"]`, "null"), l8: meta8 + r8,
			want: `l0.jsonl:2: field "topk_ids": want int32, found string`},
		{name: "not an object", l0: meta0 + "[1]\n", l8: meta8 + r8, want: `l0.jsonl:2: want a JSON object, found [1]`},
		{name: "expert out of range", l0: meta0 + vllmRoute(`"a"`, 0, 0, "[1,8]", "null"), l8: meta8 + r8,
			want: "l0.jsonl:2: expert 8 out of range [0,8)"},
		{name: "too many experts", l0: meta0 + vllmRoute(`"a"`, 0, 0, "[1,2,3]", "null"), l8: meta8 + r8,
			want: "l0.jsonl:2: 3 topk_ids, meta says top_k 2"},
		{name: "weights for ids", l0: meta0 + vllmRoute(`"a"`, 0, 0, "[1,2]", "[1.0]"), l8: meta8 + r8,
			want: "l0.jsonl:2: 1 topk_weights for 2 experts"},
		{name: "duplicate expert", l0: meta0 + vllmRoute(`"a"`, 0, 0, "[2,2]", "null"), l8: meta8 + r8,
			want: "l0.jsonl:2: duplicate expert 2"},
		{name: "route of another layer", l0: meta0 + r8, l8: meta8 + r8, want: "l0.jsonl:2: route of layer 8 in the log of layer 0"},
		{name: "missing token_idx", l0: meta0 + `{"type":"route","req_id":"a","layer":0,"topk_ids":[1]}` + "\n", l8: meta8 + r8,
			want: `l0.jsonl:2: missing field "token_idx"`},
		{name: "missing topk_ids", l0: meta0 + `{"type":"route","req_id":"a","layer":0,"token_idx":0}` + "\n", l8: meta8 + r8,
			want: `l0.jsonl:2: missing field "topk_ids"`},
		{name: "bad req_id", l0: meta0 + `{"type":"route","req_id":[1],"layer":0,"token_idx":0,"topk_ids":[1]}` + "\n", l8: meta8 + r8,
			want: `l0.jsonl:2: field "req_id": want a string, found [1]`},
		{name: "misaligned", l0: meta0 + r0 + vllmRoute(`"b"`, 0, 0, "[1]", "null"), l8: meta8 + r8 + vllmRoute(`"a"`, 1, 8, "[1]", "null"),
			want: `l8.jsonl:3: route 1 is request "a" token 1, l0.jsonl:3 has request "b" token 0`},
		{name: "second meta", l0: meta0 + r0 + meta0, l8: meta8 + r8 + r8, want: "l0.jsonl:3: a second meta line"},
		{name: "unknown type", l0: meta0 + `{"type":"stats"}` + "\n", l8: meta8 + r8, want: `l0.jsonl:2: unknown line type "stats", want "route"`},
		{name: "names", l0: meta0, l8: meta8, noNames: true, want: "convert: 1 names for 2 layer logs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names := []string{"l0.jsonl", "l8.jsonl"}
			if tt.noNames {
				names = names[:1]
			}
			out, _, err := convert(names, []string{tt.l0, tt.l8})
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v\nwant %s", err, tt.want)
			}
			if out != "" {
				t.Errorf("wrote %q despite the error", out)
			}
		})
	}
	if _, _, err := convert(nil, nil); err == nil || err.Error() != "convert: no layer logs" {
		t.Errorf("no logs: error %v", err)
	}
}

// TestConvertProfilingOnlyLeading checks that a profiling id after the
// first kept route is kept: only the leading pass is skipped.
func TestConvertProfilingOnlyLeading(t *testing.T) {
	meta := `{"type":"meta","model":"m","layer":0,"num_experts":4,"top_k":1}` + "\n"
	out, h, err := convert([]string{"a"}, []string{meta +
		vllmRoute(`"profile"`, 0, 0, "[0]", "null") +
		vllmRoute(`7`, 0, 0, "[1]", "null") +
		vllmRoute(`""`, 0, 0, "[2]", "null")})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model_name": "m layers 0", "num_layers": 1, "num_experts": 4, "top_k": 1, "num_entries": 2}
{"t":0,"l":0,"e":[1],"s":null}
{"t":1,"l":0,"e":[2],"s":null}
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
	if h.Model != "m layers 0" {
		t.Errorf("model %q", h.Model)
	}
}
