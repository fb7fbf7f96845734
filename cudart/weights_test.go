package cudart_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/moepolicy/moec/cudart"
	"github.com/moepolicy/moec/model/modeltest"
	"github.com/moepolicy/moec/rt"
)

// TestPack packs a tiny checkpoint's experts, the first of its three
// layers dense, into a HostStore's arena and reads each back.
func TestPack(t *testing.T) {
	var ts []modeltest.Tensor
	for l := 1; l < 3; l++ {
		for e := range 5 {
			for p, proj := range []string{"gate_proj", "up_proj", "down_proj"} {
				shape := []int64{2, 4}
				if p == 2 {
					shape = []int64{4, 2}
				}
				ts = append(ts, modeltest.Tensor{Name: fmt.Sprintf("model.layers.%d.mlp.experts.%d.%s.weight", l, e, proj), DType: "F16", Shape: shape})
			}
		}
	}
	x, err := modeltest.Open(t, ts).Experts(nil)
	if err != nil {
		t.Fatal(err)
	}
	shape := cudart.ExpertShape(x, 2)
	if shape != (rt.Shape{Layers: 2, Experts: 5, TopK: 2, ExpertBytes: 48}) {
		t.Fatalf("shape %+v", shape)
	}
	h, err := cudart.OpenHost(cudart.Options{Shape: shape, Capacity: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := cudart.Pack(x, h.Host); err != nil {
		t.Fatal(err)
	}
	for i, tensor := range ts {
		l, e, p := i/15, i/3%5, i%3
		got := h.Host(rt.Key{Layer: int32(l), Expert: int32(e)})[16*p:]
		if want := tensor.Bytes(); !bytes.Equal(got[:len(want)], want) {
			t.Errorf("%s packed wrong", tensor.Name)
		}
	}
	if err := cudart.Pack(x, func(rt.Key) []byte { return nil }); err == nil {
		t.Error("Pack into nothing: no error")
	}
}
