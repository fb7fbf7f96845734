package model

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Elems returns the number of elements of w, 0 for a weight the layer
// does not have. ParseConfig bounds a model's parameters (maxParams), so
// the product of a Config's dimensions does not overflow.
func (w Weight) Elems() int64 {
	if !w.Present() {
		return 0
	}
	return elems(w.Shape)
}

// tensorOf returns the tensor that holds w, checking that it has the
// shape the config gives w.
func (c *Checkpoint) tensorOf(w Weight) (*Tensor, error) {
	if !w.Present() {
		return nil, fmt.Errorf("model: reading a weight the layer does not have")
	}
	t, ok := c.Tensor(w.Name)
	if !ok {
		return nil, fmt.Errorf("model: %s has no tensor %q", c.fileNames(), w.Name)
	}
	if !slices.Equal(t.Shape, w.Shape) {
		return nil, fmt.Errorf("model: %s: tensor %q has shape %v, but config.json makes it %v", t.File(), t.Name, t.Shape, w.Shape)
	}
	return t, nil
}

// Float32 returns the elements of weight w as float32, widening F16 and
// BF16 exactly. It fails, naming the tensor, when the checkpoint lacks w,
// when w's shape is not the config's, or when its dtype is not a float
// this function widens.
func (c *Checkpoint) Float32(w Weight) ([]float32, error) {
	t, err := c.tensorOf(w)
	if err != nil {
		return nil, err
	}
	b := make([]byte, t.Size())
	if err := t.Read(b); err != nil {
		return nil, err
	}
	out := make([]float32, w.Elems())
	if err := widen(out, b, t.DType); err != nil {
		return nil, fmt.Errorf("model: %s: tensor %q %v", t.File(), t.Name, err)
	}
	return out, nil
}

// widen sets dst to the little-endian elements of b, of dtype dt, as
// float32: F32 as stored, F16 and BF16 widened exactly. b holds
// len(dst) elements. It is the one conversion of weights to float32.
func widen(dst []float32, b []byte, dt DType) error {
	switch dt {
	case "F32":
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case "BF16":
		for i := range dst {
			dst[i] = BF16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case "F16":
		for i := range dst {
			dst[i] = HalfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	default:
		return fmt.Errorf("is %s; moec reads F32, F16 and BF16 weights", dt)
	}
	return nil
}

// BFloat16 returns weight w as little-endian bfloat16 bytes: a BF16
// tensor as it is stored, F32 and F16 rounded to the nearest bfloat16
// (ties to even, as torch rounds).
func (c *Checkpoint) BFloat16(w Weight) ([]byte, error) {
	t, err := c.tensorOf(w)
	if err != nil {
		return nil, err
	}
	if t.DType == "BF16" {
		b := make([]byte, t.Size())
		return b, t.Read(b)
	}
	f, err := c.Float32(w)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 2*len(f))
	for i, v := range f {
		binary.LittleEndian.PutUint16(b[2*i:], Float32ToBF16(v))
	}
	return b, nil
}

// BF16ToFloat32 widens a bfloat16 number exactly: its bits are the top
// half of the float32's.
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// HalfToFloat32 widens an IEEE 754 half-precision number exactly.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // inf, nan
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: mant x 2^-24, exact in float32.
	v := float32(mant) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// Float32ToBF16 rounds f to the nearest bfloat16, ties to even, keeping
// NaNs NaN.
func Float32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7f800000 == 0x7f800000 && u&0x7fffff != 0 {
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}
