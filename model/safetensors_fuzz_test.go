package model

import (
	"encoding/binary"
	"testing"
)

// FuzzSafetensors parses arbitrary file contents as a safetensors file:
// parse never panics, and the tensors of a file it accepts tile its data
// (each within the file, in name order, sized by dtype and shape).
//
//	go test ./model -run '^$' -fuzz FuzzSafetensors -fuzztime 2m
func FuzzSafetensors(f *testing.F) {
	st := func(header string, data int) []byte {
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
		return append(append(b, header...), make([]byte, data)...)
	}
	f.Add(st(`{"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[],"data_offsets":[12,16]}}`, 16))
	f.Add(st(`{"__metadata__":{"format":"pt"},"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}`, 4))
	f.Add(st(`{"x":{"dtype":"I4","shape":[3],"data_offsets":[0,2]}}`, 2))
	f.Add(st(`{}`, 0))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		fl := &file{name: "model.safetensors", data: data}
		ts, err := fl.parse()
		if err != nil {
			return
		}
		at := fl.base
		var size int64
		for i, tn := range ts {
			if i > 0 && ts[i-1].Name >= tn.Name {
				t.Fatalf("tensors %q and %q out of name order", ts[i-1].Name, tn.Name)
			}
			if tn.begin < fl.base || tn.end > int64(len(data)) || tn.begin > tn.end || int64(len(tn.Data())) != tn.Size() {
				t.Fatalf("tensor %q at [%d, %d) of %d bytes, data from %d", tn.Name, tn.begin, tn.end, len(data), fl.base)
			}
			size += tn.Size()
			at = max(at, tn.end)
		}
		if size != int64(len(data))-fl.base || (len(ts) > 0 && at != int64(len(data))) {
			t.Fatalf("tensors of %d bytes in %d bytes of data", size, int64(len(data))-fl.base)
		}
	})
}
