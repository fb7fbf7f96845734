package model

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Experts is the routed experts of a checkpoint, as a store's arena holds
// them: for each MoE layer and expert, its gate, up and down projections,
// found by the naming of its family:
//
//	Mixtral                      model.layers.L.block_sparse_moe.experts.E.{w1,w3,w2}.weight
//	Qwen1.5/2/3-MoE, OLMoE,      model.layers.L.mlp.experts.E.{gate_proj,up_proj,down_proj}.weight
//	DeepSeek-V2/V3
//
// (Mixtral's w1 is the gate, w3 the up and w2 the down projection.) Layers
// without experts (DeepSeek's first first_k_dense_replace layers) are
// skipped: layer index l is the model's layer Layers[l]. Shared experts,
// routers and every other tensor are left alone. gpt-oss, whose experts
// are fused per layer, is not read this way.
type Experts struct {
	Naming      string  // "mixtral" (block_sparse_moe.experts.E.w1) or "mlp" (mlp.experts.E.gate_proj)
	Layers      []int   // the model's layers that have experts, in order
	PerLayer    int     // experts per layer
	DType       DType   // of every expert tensor
	Gate        []int64 // the gate projection's shape (up has the same)
	Down        []int64 // the down projection's shape
	ExpertBytes int64   // gate + up + down

	ckpt    *Checkpoint
	tensors [][3]*Tensor // by layer index * PerLayer + expert: gate, up, down
}

// namings maps Experts.Naming to the names.
var namings = map[string]expertNames{"mixtral": mixtralExperts, "mlp": mlpExperts}

// Experts finds every routed expert of the checkpoint and checks that
// they agree in dtype and shape. With a config (cfg not nil), its MoE
// layers and expert count are the ones wanted, and its sizes the shapes:
// a missing expert, or an expert where the config has none, is an error.
// Without one, the layers and experts are those the names show. Errors
// name the tensor and its file.
func (c *Checkpoint) Experts(cfg *Config) (*Experts, error) {
	naming, found, err := c.findExperts()
	if err != nil {
		return nil, err
	}
	x := &Experts{Naming: naming, ckpt: c}
	names := namings[naming]
	if cfg != nil {
		if err := x.fromConfig(cfg, found, names); err != nil {
			return nil, err
		}
	} else {
		x.Layers = slices.Sorted(maps.Keys(found))
		for _, n := range found {
			x.PerLayer = max(x.PerLayer, n)
		}
	}
	// Every expert's three tensors, in order. The first missing one ends
	// the loop, which therefore runs at most once per three tensors the
	// files hold, whatever the config or the names claim.
	for _, l := range x.Layers {
		for e := range x.PerLayer {
			var ts [3]*Tensor
			for p := range 3 {
				name := names.name(l, e, p)
				t, ok := c.tensors[name]
				if !ok {
					return nil, fmt.Errorf("safetensors: missing expert (layer %d, expert %d): no tensor %q in %s", l, e, name, c.fileNames())
				}
				ts[p] = t
			}
			if err := x.add(ts, cfg); err != nil {
				return nil, err
			}
		}
	}
	for _, t := range x.tensors[0] {
		x.ExpertBytes += t.Size()
	}
	return x, nil
}

// findExperts reads every tensor name that names a routed expert and
// returns the naming and, by layer, the highest expert + 1.
func (c *Checkpoint) findExperts() (string, map[int]int, error) {
	naming, first := "", ""
	found := map[int]int{}
	fused := ""
	for _, name := range c.names {
		nm, l, e, ok, err := parseExpertName(name)
		if err != nil {
			return "", nil, fmt.Errorf("safetensors: %s: %v", c.tensors[name].file.name, err)
		}
		if !ok {
			if strings.HasPrefix(name, "model.layers.") && strings.Contains(name, ".mlp.experts.gate_up_proj") {
				fused = name
			}
			continue
		}
		if naming == "" {
			naming, first = nm, name
		} else if nm != naming {
			return "", nil, fmt.Errorf("safetensors: tensors %q and %q name experts in two ways", first, name)
		}
		found[l] = max(found[l], e+1)
	}
	switch {
	case naming == "" && fused != "":
		return "", nil, fmt.Errorf("safetensors: %s: the experts are fused per layer (tensor %q), which moec does not pack", c.fileNames(), fused)
	case naming == "":
		return "", nil, fmt.Errorf("safetensors: %s: no expert tensors (model.layers.L.mlp.experts.E.gate_proj.weight or model.layers.L.block_sparse_moe.experts.E.w1.weight)", c.fileNames())
	}
	return naming, found, nil
}

// fromConfig takes the layers, expert count and shapes from cfg, after
// checking that the tensors found are among them.
func (x *Experts) fromConfig(cfg *Config, found map[int]int, names expertNames) error {
	if cfg.family == nil || len(cfg.MoELayers) == 0 {
		return fmt.Errorf("safetensors: a config ParseConfig did not read")
	}
	l := cfg.Layer(cfg.MoELayers[0])
	if l.MoE.experts != names {
		want := "fused per layer"
		if b := l.MoE.experts.block; b != "" {
			want = "under " + b
		}
		return fmt.Errorf("safetensors: %s: the experts are named %s, but a %s config names them %s", x.ckpt.fileNames(), names.block, cfg.Type, want)
	}
	for _, n := range slices.Sorted(maps.Keys(found)) {
		if !cfg.Sparse(n) {
			return fmt.Errorf("safetensors: tensor %q: layer %d has experts, but the config makes it dense (or past num_hidden_layers %d)", names.name(n, 0, 0), n, cfg.Layers)
		}
		if e := found[n]; e > cfg.Experts {
			return fmt.Errorf("safetensors: tensor %q: expert %d, but the config says %d experts", names.name(n, e-1, 0), e-1, cfg.Experts)
		}
	}
	x.Layers = slices.Clone(cfg.MoELayers)
	x.PerLayer = cfg.Experts
	x.Gate, x.Down = l.MoE.gate, l.MoE.down
	return nil
}

// add checks one expert's tensors against the first expert's (or the
// config's shapes, which fromConfig put in x.Gate and x.Down) and keeps
// them.
func (x *Experts) add(ts [3]*Tensor, cfg *Config) error {
	ref := ts[0] // the first expert's gate: its dtype is every expert tensor's
	if len(x.tensors) == 0 {
		x.DType = ref.DType
		if cfg == nil {
			x.Gate, x.Down = slices.Clone(ts[0].Shape), slices.Clone(ts[2].Shape)
		}
	} else {
		ref = x.tensors[0][0]
	}
	want := [3][]int64{x.Gate, x.Gate, x.Down}
	for p, t := range ts {
		if t.DType != x.DType {
			return fmt.Errorf("safetensors: %s: tensor %q is %s, but %q is %s", t.File(), t.Name, t.DType, ref.Name, x.DType)
		}
		if slices.Equal(t.Shape, want[p]) {
			continue
		}
		proj := [3]string{"gate", "up", "down"}[p]
		switch {
		case cfg != nil:
			return fmt.Errorf("safetensors: %s: tensor %q has shape %v, but the config makes every expert's %s projection %v", t.File(), t.Name, t.Shape, proj, want[p])
		case p == 1: // the gate, checked just before, has the shape up lacks
			return fmt.Errorf("safetensors: %s: tensor %q has shape %v, but %q has %v", t.File(), t.Name, t.Shape, ts[0].Name, ts[0].Shape)
		}
		r := x.tensors[0][p]
		return fmt.Errorf("safetensors: %s: tensor %q has shape %v, but %q has %v (every expert's %s projection must match)", t.File(), t.Name, t.Shape, r.Name, r.Shape, proj)
	}
	x.tensors = append(x.tensors, ts)
	return nil
}

// parseExpertName recognizes an expert tensor's name and returns its
// naming, layer, expert and projection. A name of the form with a layer
// or expert number beyond moec's limits (maxLayers, maxExperts) is an
// error: no real model has one, and a forged one must not size anything.
func parseExpertName(name string) (naming string, layer, expert int, ok bool, err error) {
	rest, ok := strings.CutPrefix(name, "model.layers.")
	if !ok {
		return "", 0, 0, false, nil
	}
	ls, rest, _ := strings.Cut(rest, ".")
	var block expertNames
	switch {
	case strings.HasPrefix(rest, "block_sparse_moe.experts."):
		naming, block, rest = "mixtral", mixtralExperts, rest[len("block_sparse_moe.experts."):]
	case strings.HasPrefix(rest, "mlp.experts."):
		naming, block, rest = "mlp", mlpExperts, rest[len("mlp.experts."):]
	default:
		return "", 0, 0, false, nil
	}
	es, rest, _ := strings.Cut(rest, ".")
	p, isWeight := strings.CutSuffix(rest, ".weight")
	if !isWeight || !slices.Contains(block.proj[:], p) {
		return "", 0, 0, false, nil
	}
	layer, ok = number(ls)
	if !ok {
		return "", 0, 0, false, nil
	}
	expert, ok = number(es)
	if !ok {
		return "", 0, 0, false, nil
	}
	if layer >= maxLayers || expert >= maxExperts {
		return "", 0, 0, false, fmt.Errorf("tensor %q: layer %s, expert %s: more than moec's limits of %d layers and %d experts", name, ls, es, maxLayers, maxExperts)
	}
	return naming, layer, expert, true, nil
}

// number reads a decimal number as the models write them: digits, no
// sign, no leading zero. One too big for an int is returned as maxInt
// (beyond every limit).
func number(s string) (int, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return int(^uint(0) >> 1), true
	}
	return n, true
}

// Pack copies expert e of layer index l, gate, up and down in that order,
// into dst, which must be ExpertBytes long.
func (x *Experts) Pack(l, e int, dst []byte) error {
	if l < 0 || l >= len(x.Layers) || e < 0 || e >= x.PerLayer {
		return fmt.Errorf("safetensors: expert (%d, %d) is outside the checkpoint (%d MoE layers, %d experts)", l, e, len(x.Layers), x.PerLayer)
	}
	if int64(len(dst)) != x.ExpertBytes {
		return fmt.Errorf("safetensors: expert (%d, %d) needs %d bytes, the destination has %d", l, e, x.ExpertBytes, len(dst))
	}
	o := int64(0)
	for _, t := range x.tensors[l*x.PerLayer+e] {
		if err := t.Read(dst[o : o+t.Size()]); err != nil {
			return err
		}
		o += t.Size()
	}
	return nil
}

// Unpack is Pack's inverse, widened: it sets gate, up and down to the
// projections of an expert that Pack wrote into src, as float32 (the
// conversion Checkpoint.Float32 makes). src must be ExpertBytes long and
// each destination as long as its projection.
func (x *Experts) Unpack(src []byte, gate, up, down []float32) error {
	if int64(len(src)) != x.ExpertBytes {
		return fmt.Errorf("model: an expert of %d bytes to unpack, want %d", len(src), x.ExpertBytes)
	}
	bits, _ := x.DType.Bits()
	per := int64(bits / 8) // widen refuses every dtype but F32, F16 and BF16
	o := int64(0)
	for i, dst := range [3][]float32{gate, up, down} {
		shape := x.Gate
		if i == 2 {
			shape = x.Down
		}
		n := elems(shape)
		if int64(len(dst)) != n {
			return fmt.Errorf("model: unpacking an expert's %s projection of %d elements into %d", [3]string{"gate", "up", "down"}[i], n, len(dst))
		}
		if err := widen(dst, src[o:o+n*per], x.DType); err != nil {
			return fmt.Errorf("model: an expert's weights %v", err)
		}
		o += n * per
	}
	return nil
}

// elems returns the number of elements of a tensor of the given shape.
func elems(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}
