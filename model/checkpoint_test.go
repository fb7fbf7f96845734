package model_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/model/modeltest"
)

// TestOpenErrors checks that malformed files get clear errors naming the
// file and the tensor.
func TestOpenErrors(t *testing.T) {
	header := modeltest.Header
	for _, tc := range []struct {
		name string
		file []byte
		err  string
	}{
		{"short", []byte{1, 2, 3}, `model.safetensors: 3 bytes, too short for a safetensors file`},
		{"header length", binary.LittleEndian.AppendUint64(nil, 1<<40), `model.safetensors: header length 1099511627776 runs past the end of the file \(8 bytes\)`},
		{"bad json", header(`{"a": [1, 2`, 0), `model.safetensors: bad JSON header: unexpected EOF`},
		{"not an object", header(`[1]`, 0), `model.safetensors: bad JSON header`},
		{"text after", header(`{} {}`, 0), `model.safetensors: bad JSON header: text after the JSON value, at byte 3`},
		{"bad entry", header(`{"x": {"dtype": 3}}`, 0), `tensor "x": bad header entry`},
		{"unknown dtype", header(`{"x": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}}`, 1), `tensor "x" has unknown dtype "Q4"`},
		{"offsets count", header(`{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}`, 4), `tensor "x": data_offsets has 1 numbers, want 2`},
		{"offsets past end", header(`{"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}`, 8), `model.safetensors: tensor "x": data offsets \[0, 16\) run past the end of the data \(8 bytes\)`},
		{"offsets reversed", header(`{"x": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}}`, 8), `data offsets \[4, 0\)`},
		{"size", header(`{"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}`, 8), `tensor "x": F32 of shape \[3\] is 12 bytes, but its data offsets hold 8`},
		{"shape", header(`{"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}}`, 8), `tensor "x": bad shape \[-1\]`},
		{"part of a byte", header(`{"x": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}`, 2), `tensor "x": F4 of shape \[3\] is not a whole number of bytes`},
		{"gap", header(`{"x": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}}`, 4), `model.safetensors: bytes \[0, 2\) of the data belong to no tensor`},
		{"tail", header(`{"x": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}`, 4), `model.safetensors: bytes \[2, 4\) of the data belong to no tensor`},
	} {
		path := writeFile(t, filepath.Join(t.TempDir(), "model.safetensors"), tc.file)
		c, err := model.Open(path)
		if err == nil {
			c.Close()
			t.Errorf("%s: opened", tc.name)
			continue
		}
		if !regexp.MustCompile(tc.err).MatchString(err.Error()) || !strings.HasPrefix(err.Error(), "safetensors: ") {
			t.Errorf("%s: error %q, want %q", tc.name, err, tc.err)
		}
	}
}

// TestTensors checks that every tensor of a checkpoint is found, with its
// dtype, shape and bytes: zero-sized ones, scalars and sub-byte dtypes
// included.
func TestTensors(t *testing.T) {
	ts := []modeltest.Tensor{
		{Name: "model.embed_tokens.weight", DType: "BF16", Shape: []int64{10, 4}},
		{Name: "empty", DType: "F32", Shape: []int64{0, 3}},
		{Name: "scalar", DType: "I64", Shape: []int64{}},
		{Name: "lm_head.weight", DType: "F32", Shape: []int64{10, 4}},
		{Name: "packed", DType: "F4", Shape: []int64{6}},
		{Name: "model.norm.weight", DType: "F16", Shape: []int64{4}},
	}
	dir := t.TempDir()
	files, _, err := modeltest.Shard(dir, ts, 2)
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"empty", "lm_head.weight", "model.embed_tokens.weight", "model.norm.weight", "packed", "scalar"}
	if !slices.Equal(c.Names(), want) || c.Dir() != dir {
		t.Errorf("names %v, dir %s", c.Names(), c.Dir())
	}
	for i, w := range ts {
		x, ok := c.Tensor(w.Name)
		if !ok {
			t.Fatalf("no tensor %q", w.Name)
		}
		got := make([]byte, x.Size())
		if err := x.Read(got); err != nil {
			t.Fatal(err)
		}
		if x.Name != w.Name || string(x.DType) != w.DType || !slices.Equal(x.Shape, w.Shape) || x.File() != files[i/3] ||
			!bytes.Equal(got, w.Bytes()) || !bytes.Equal(x.Data(), w.Bytes()) {
			t.Errorf("%s: %s %v in %s, %d bytes", w.Name, x.DType, x.Shape, x.File(), len(got))
		}
	}
	if _, ok := c.Tensor("nope"); ok {
		t.Error("found a tensor that is not there")
	}
	x, _ := c.Tensor("model.norm.weight")
	if err := x.Read(make([]byte, 3)); err == nil || !strings.Contains(err.Error(), `tensor "model.norm.weight" is 8 bytes, the destination 3`) {
		t.Errorf("Read size: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if x.Data() != nil || x.Read(make([]byte, 8)) == nil {
		t.Error("a closed checkpoint's tensor still reads")
	}
}

// TestShardErrors checks the errors of several files and of indexes.
func TestShardErrors(t *testing.T) {
	ts := tinies[3].tensors()
	dir := t.TempDir()
	a := writeFile(t, filepath.Join(dir, "a.safetensors"), modeltest.Encode(ts[:5]))
	b := writeFile(t, filepath.Join(dir, "b.safetensors"), modeltest.Encode(ts[4:]))
	_, err := model.Open(a, b)
	if err == nil || !regexp.MustCompile(`tensor ".*" is in both .*a.safetensors and .*b.safetensors`).MatchString(err.Error()) {
		t.Errorf("duplicate tensor: %v", err)
	}
	writeFile(t, b, modeltest.Encode(ts[5:]))
	index := filepath.Join(dir, "model.safetensors.index.json")
	for _, tc := range []struct {
		index any // marshalled, or written as it is when a string
		args  []string
		err   string
	}{
		{map[string]any{"weight_map": map[string]string{ts[0].Name: "b.safetensors", ts[7].Name: "b.safetensors"}}, []string{index},
			`the index says tensor "model.embed_tokens.weight" is in .*b.safetensors, which has no such tensor`},
		{map[string]any{"weight_map": map[string]string{ts[0].Name: "../x.safetensors"}}, []string{dir}, `not a file beside the index`},
		{map[string]any{"weight_map": map[string]string{ts[0].Name: "/x.safetensors"}}, []string{dir}, `not a file beside the index`},
		{map[string]any{"weight_map": map[string]string{}}, []string{index}, `no weight_map`},
		{map[string]any{"weight_map": []int{1}}, []string{index}, `model.safetensors.index.json: bad JSON: cannot unmarshal array`},
		{"{", []string{index}, `model.safetensors.index.json: bad JSON`},
		{`{"weight_map": {}} trailing`, []string{index}, `model.safetensors.index.json: bad JSON: text after the JSON value`},
	} {
		raw, ok := tc.index.(string)
		if !ok {
			m, _ := json.Marshal(tc.index)
			raw = string(m)
		}
		writeFile(t, index, []byte(raw))
		if _, err := model.Open(tc.args...); err == nil || !regexp.MustCompile(tc.err).MatchString(err.Error()) {
			t.Errorf("index %s: %v, want %s", raw, err, tc.err)
		}
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{nil, `no checkpoint files given`},
		{[]string{t.TempDir()}, `has no \*.safetensors files`},
		{[]string{filepath.Join(dir, "nope.safetensors")}, `no such file`},
		{[]string{dir, a}, `is a folder: give one folder, or files`},
		{[]string{index, a}, `is an index: give it alone`},
	} {
		if _, err := model.Open(tc.args...); err == nil || !regexp.MustCompile(tc.err).MatchString(err.Error()) {
			t.Errorf("Open(%v): %v, want %s", tc.args, err, tc.err)
		}
	}
}
