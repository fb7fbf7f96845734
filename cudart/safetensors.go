package cudart

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/moepolicy/moec/rt"
)

// A Checkpoint is a mixture-of-experts model's safetensors files, mapped
// into memory, with every expert's three weight matrices found by the
// naming of its family:
//
//	Mixtral                      model.layers.L.block_sparse_moe.experts.E.{w1,w3,w2}.weight
//	Qwen1.5/2/3-MoE, OLMoE,      model.layers.L.mlp.experts.E.{gate_proj,up_proj,down_proj}.weight
//	DeepSeek-V2/V3
//
// (Mixtral's w1 is the gate, w3 the up and w2 the down projection.) Layers
// without experts (DeepSeek's first first_k_dense_replace layers) are
// skipped: rt.Key.Layer l is the model's layer Layout.Layers[l]. Shared
// experts, routers and every other tensor are left alone. Pack copies each
// expert's gate, up and down weights, in that order, contiguously into a
// store's arena.
//
// A safetensors file is an 8-byte little-endian header length, a JSON
// header mapping each tensor's name to its dtype, shape and data offsets,
// then the raw data. Malformed files, missing experts and experts that
// differ in dtype or shape are errors that name the file and the tensor.
type Checkpoint struct {
	Layout Layout

	files   []*stFile
	experts [][3]tensorRef // by dense index (layer index * Experts + expert): gate, up, down
}

// Layout describes the experts a Checkpoint found.
type Layout struct {
	Naming      string  // "mixtral" (block_sparse_moe.experts.E.w1) or "mlp" (mlp.experts.E.gate_proj)
	Layers      []int   // the model's layers that have experts, in order
	Experts     int     // experts per layer
	DType       string  // of every expert tensor, as safetensors writes it ("BF16")
	Gate        []int64 // the gate projection's shape (up has the same)
	Down        []int64 // the down projection's shape
	ExpertBytes int64   // gate + up + down
}

// Shape returns the shape of the checkpoint's model for routing with
// top-k experts.
func (l Layout) Shape(topK int) rt.Shape {
	return rt.Shape{Layers: len(l.Layers), Experts: l.Experts, TopK: topK, ExpertBytes: l.ExpertBytes}
}

// stFile is one mapped safetensors file.
type stFile struct {
	name    string // as given
	data    []byte // the whole file
	mapped  bool
	base    int64 // where the data starts: 8 + header length
	tensors map[string]tensorInfo
}

type tensorInfo struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// tensorRef is a tensor of a file.
type tensorRef struct {
	f    *stFile
	name string
	info *tensorInfo
}

func (r tensorRef) bytes() []byte {
	return r.f.data[r.f.base+r.info.DataOffsets[0] : r.f.base+r.info.DataOffsets[1]]
}

// dtypeSizes are the bytes per element of safetensors' dtypes.
var dtypeSizes = map[string]int64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
	"U16": 2, "I16": 2, "F16": 2, "BF16": 2,
	"U32": 4, "I32": 4, "F32": 4,
	"U64": 8, "I64": 8, "F64": 8,
}

// maxHeader bounds a header, as the safetensors library does.
const maxHeader = 100 << 20

// OpenCheckpoint maps a checkpoint and finds its experts. paths is a
// folder (read through its model.safetensors.index.json if it has one,
// else every *.safetensors file in it), an index file, or a list of
// .safetensors files. A config.json beside the first, when present, says
// which layers have experts (first_k_dense_replace and moe_layer_freq of
// DeepSeek, decoder_sparse_step and mlp_only_layers of Qwen) and how many
// (n_routed_experts, num_experts, num_local_experts), so that a missing
// layer or expert is reported; without it the layers are those found.
func OpenCheckpoint(paths ...string) (*Checkpoint, error) {
	files, index, dir, err := checkpointFiles(paths)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{}
	for _, name := range files {
		f, err := openSafetensors(name)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.files = append(c.files, f)
	}
	if err := c.find(index, dir); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// checkpointFiles resolves OpenCheckpoint's arguments to files, the
// index's weight map (nil without an index) and the folder of config.json.
func checkpointFiles(paths []string) (files []string, index map[string]string, dir string, err error) {
	if len(paths) == 0 {
		return nil, nil, "", errors.New("safetensors: no checkpoint files given")
	}
	p := paths[0]
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		if len(paths) > 1 {
			return nil, nil, "", fmt.Errorf("safetensors: %s is a folder: give one folder, or files", p)
		}
		ix := filepath.Join(p, "model.safetensors.index.json")
		if _, err := os.Stat(ix); err == nil {
			return indexFiles(ix)
		}
		files, _ := filepath.Glob(filepath.Join(p, "*.safetensors"))
		if len(files) == 0 {
			return nil, nil, "", fmt.Errorf("safetensors: %s has no *.safetensors files", p)
		}
		sort.Strings(files)
		return files, nil, p, nil
	}
	if strings.HasSuffix(p, ".json") {
		if len(paths) > 1 {
			return nil, nil, "", fmt.Errorf("safetensors: %s is an index: give it alone", p)
		}
		return indexFiles(p)
	}
	return paths, nil, filepath.Dir(p), nil
}

// indexFiles reads a model.safetensors.index.json.
func indexFiles(name string) ([]string, map[string]string, string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, nil, "", fmt.Errorf("safetensors: %v", err)
	}
	var ix struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, nil, "", fmt.Errorf("safetensors: %s: bad JSON: %v", name, err)
	}
	if len(ix.WeightMap) == 0 {
		return nil, nil, "", fmt.Errorf("safetensors: %s: no weight_map", name)
	}
	dir := filepath.Dir(name)
	seen := map[string]bool{}
	var files []string
	index := map[string]string{}
	for tensor, file := range ix.WeightMap {
		if file == "" || filepath.IsAbs(file) || strings.Contains(filepath.ToSlash(file), "../") {
			return nil, nil, "", fmt.Errorf("safetensors: %s: tensor %q maps to file %q, not a file beside the index", name, tensor, file)
		}
		path := filepath.Join(dir, file)
		index[tensor] = path
		if !seen[path] {
			seen[path] = true
			files = append(files, path)
		}
	}
	sort.Strings(files)
	return files, index, dir, nil
}

// openSafetensors maps a file and reads its header.
func openSafetensors(name string) (*stFile, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %v", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %v", err)
	}
	data, mapped, err := mapFile(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %v", name, err)
	}
	f := &stFile{name: name, data: data, mapped: mapped}
	if err := f.parse(); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// readAll reads a whole file, for systems (or files) that cannot be mapped.
func readAll(f *os.File, size int64) ([]byte, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (f *stFile) close() error {
	if f.mapped {
		f.mapped = false
		return unmapFile(f.data)
	}
	f.data = nil
	return nil
}

func (f *stFile) errorf(format string, args ...any) error {
	return fmt.Errorf("safetensors: %s: %s", f.name, fmt.Sprintf(format, args...))
}

// parse reads the header and checks every tensor's offsets and size.
func (f *stFile) parse() error {
	size := int64(len(f.data))
	if size < 8 {
		return f.errorf("%d bytes, too short for a safetensors file (an 8-byte header length first)", size)
	}
	n := binary.LittleEndian.Uint64(f.data)
	if n > uint64(size-8) {
		return f.errorf("header length %d runs past the end of the file (%d bytes)", n, size)
	}
	if n > maxHeader {
		return f.errorf("header length %d is more than the %d-byte limit", n, maxHeader)
	}
	f.base = 8 + int64(n)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(f.data[8:f.base], &raw); err != nil {
		return f.errorf("bad JSON header: %v", err)
	}
	dataLen := size - f.base
	f.tensors = make(map[string]tensorInfo, len(raw))
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		var ti tensorInfo
		if err := json.Unmarshal(msg, &ti); err != nil {
			return f.errorf("tensor %q: bad header entry: %v", name, err)
		}
		if len(ti.DataOffsets) != 2 {
			return f.errorf("tensor %q: data_offsets has %d numbers, want 2", name, len(ti.DataOffsets))
		}
		b, e := ti.DataOffsets[0], ti.DataOffsets[1]
		if b < 0 || e < b || e > dataLen {
			return f.errorf("tensor %q: data offsets [%d, %d) run past the end of the data (%d bytes)", name, b, e, dataLen)
		}
		elems := int64(1)
		for _, d := range ti.Shape {
			if d < 0 || d > 0 && elems > (1<<62)/d {
				return f.errorf("tensor %q: bad shape %v", name, ti.Shape)
			}
			elems *= d
		}
		if es, ok := dtypeSizes[ti.DType]; ok && elems*es != e-b {
			return f.errorf("tensor %q: %s of shape %v is %d bytes, but its data offsets hold %d", name, ti.DType, ti.Shape, elems*es, e-b)
		}
		f.tensors[name] = ti
	}
	return nil
}

// The expert tensor names: prefix, layer, family's middle, expert, the
// projection's suffix.
var (
	mixtralProj = [3]string{"w1", "w3", "w2"}
	mlpProj     = [3]string{"gate_proj", "up_proj", "down_proj"}
	projNames   = [3]string{"gate", "up", "down"}
)

// expertName returns the name of a projection's tensor.
func expertName(naming string, layer, expert, proj int) string {
	if naming == "mixtral" {
		return fmt.Sprintf("model.layers.%d.block_sparse_moe.experts.%d.%s.weight", layer, expert, mixtralProj[proj])
	}
	return fmt.Sprintf("model.layers.%d.mlp.experts.%d.%s.weight", layer, expert, mlpProj[proj])
}

// parseExpertName recognizes an expert tensor's name.
func parseExpertName(name string) (naming string, layer, expert, proj int, ok bool) {
	rest, ok := strings.CutPrefix(name, "model.layers.")
	if !ok {
		return
	}
	i := strings.IndexByte(rest, '.')
	if i <= 0 {
		return "", 0, 0, 0, false
	}
	layer, err := strconv.Atoi(rest[:i])
	if err != nil || layer < 0 {
		return "", 0, 0, 0, false
	}
	rest = rest[i+1:]
	var projs *[3]string
	switch {
	case strings.HasPrefix(rest, "block_sparse_moe.experts."):
		naming, projs, rest = "mixtral", &mixtralProj, rest[len("block_sparse_moe.experts."):]
	case strings.HasPrefix(rest, "mlp.experts."):
		naming, projs, rest = "mlp", &mlpProj, rest[len("mlp.experts."):]
	default:
		return "", 0, 0, 0, false
	}
	i = strings.IndexByte(rest, '.')
	if i <= 0 {
		return "", 0, 0, 0, false
	}
	expert, err = strconv.Atoi(rest[:i])
	if err != nil || expert < 0 {
		return "", 0, 0, 0, false
	}
	p, ok := strings.CutSuffix(rest[i+1:], ".weight")
	if !ok {
		return "", 0, 0, 0, false
	}
	for j, s := range projs {
		if p == s {
			return naming, layer, expert, j, true
		}
	}
	return "", 0, 0, 0, false
}

// modelConfig is what config.json says about the experts.
type modelConfig struct {
	NumHiddenLayers    int   `json:"num_hidden_layers"`
	FirstKDenseReplace *int  `json:"first_k_dense_replace"`
	MoELayerFreq       *int  `json:"moe_layer_freq"`
	DecoderSparseStep  *int  `json:"decoder_sparse_step"`
	MLPOnlyLayers      []int `json:"mlp_only_layers"`
	NRoutedExperts     int   `json:"n_routed_experts"`
	NumExperts         int   `json:"num_experts"`
	NumLocalExperts    int   `json:"num_local_experts"`
}

// moeLayers returns the layers the config gives experts, or nil when it
// does not say.
func (m *modelConfig) moeLayers() []int {
	if m.NumHiddenLayers <= 0 {
		return nil
	}
	var ls []int
	for l := range m.NumHiddenLayers {
		switch {
		case m.FirstKDenseReplace != nil:
			freq := 1
			if m.MoELayerFreq != nil && *m.MoELayerFreq > 0 {
				freq = *m.MoELayerFreq
			}
			if l < *m.FirstKDenseReplace || l%freq != 0 {
				continue
			}
		case m.DecoderSparseStep != nil:
			step := *m.DecoderSparseStep
			if slices.Contains(m.MLPOnlyLayers, l) || step <= 0 || (l+1)%step != 0 {
				continue
			}
		}
		ls = append(ls, l)
	}
	return ls
}

func (m *modelConfig) experts() int {
	for _, n := range []int{m.NRoutedExperts, m.NumExperts, m.NumLocalExperts} {
		if n > 0 {
			return n
		}
	}
	return 0
}

// find locates every expert's tensors and checks that they agree.
func (c *Checkpoint) find(index map[string]string, dir string) error {
	owner := map[string]*stFile{}
	for _, f := range c.files {
		for name := range f.tensors {
			if g, ok := owner[name]; ok {
				return fmt.Errorf("safetensors: tensor %q is in both %s and %s", name, g.name, f.name)
			}
			owner[name] = f
		}
	}
	for tensor, file := range index {
		if f, ok := owner[tensor]; !ok || f.name != file {
			return fmt.Errorf("safetensors: the index says tensor %q is in %s, which has no such tensor", tensor, file)
		}
	}
	// Which family, which layers, how many experts.
	names := make([]string, 0, len(owner))
	for name := range owner {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic messages
	naming := ""
	var first string
	layers := map[int]int{} // layer: highest expert + 1
	for _, name := range names {
		nm, l, e, _, ok := parseExpertName(name)
		if !ok {
			continue
		}
		if naming != "" && nm != naming {
			return fmt.Errorf("safetensors: tensors %q and %q name experts in two ways", first, name)
		}
		naming, first = nm, name
		layers[l] = max(layers[l], e+1)
	}
	if naming == "" {
		return fmt.Errorf("safetensors: %s: no expert tensors (model.layers.L.mlp.experts.E.gate_proj.weight or model.layers.L.block_sparse_moe.experts.E.w1.weight)", c.names())
	}
	var cfg modelConfig
	cfgName := filepath.Join(dir, "config.json")
	if b, err := os.ReadFile(cfgName); err == nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			return fmt.Errorf("safetensors: %s: bad JSON: %v", cfgName, err)
		}
	}
	var found []int
	for l := range layers {
		found = append(found, l)
	}
	sort.Ints(found)
	want := cfg.moeLayers()
	if want != nil {
		for _, l := range found {
			if !slices.Contains(want, l) {
				return fmt.Errorf("safetensors: tensor %q: layer %d has experts, but %s makes it dense (or past num_hidden_layers %d)",
					expertName(naming, l, 0, 0), l, cfgName, cfg.NumHiddenLayers)
			}
		}
	} else {
		want = found
	}
	experts := cfg.experts()
	if experts == 0 {
		for _, n := range layers {
			experts = max(experts, n)
		}
	} else {
		for _, l := range found {
			if n := layers[l]; n > experts {
				return fmt.Errorf("safetensors: tensor %q: expert %d, but %s says %d experts", expertName(naming, l, n-1, 0), n-1, cfgName, experts)
			}
		}
	}
	c.Layout = Layout{Naming: naming, Layers: want, Experts: experts}
	c.experts = make([][3]tensorRef, len(want)*experts)
	var ref *tensorRef // the first expert's gate, the reference for dtype and shapes
	for li, l := range want {
		for e := range experts {
			for p := range 3 {
				name := expertName(naming, l, e, p)
				f, ok := owner[name]
				if !ok {
					return fmt.Errorf("safetensors: missing expert (layer %d, expert %d): no tensor %q in %s", l, e, name, c.names())
				}
				ti := f.tensors[name]
				r := tensorRef{f: f, name: name, info: &ti}
				if _, ok := dtypeSizes[ti.DType]; !ok {
					return fmt.Errorf("safetensors: %s: tensor %q has unknown dtype %q", f.name, name, ti.DType)
				}
				if ref == nil {
					ref = &r
					c.Layout.DType = ti.DType
				} else if ti.DType != c.Layout.DType {
					return fmt.Errorf("safetensors: %s: tensor %q is %s, but %q is %s", f.name, name, ti.DType, ref.name, c.Layout.DType)
				}
				c.experts[li*experts+e][p] = r
			}
			if err := c.checkShapes(li*experts + e); err != nil {
				return err
			}
		}
	}
	x := c.experts[0]
	c.Layout.Gate = slices.Clone(x[0].info.Shape)
	c.Layout.Down = slices.Clone(x[2].info.Shape)
	for _, r := range x {
		c.Layout.ExpertBytes += r.info.DataOffsets[1] - r.info.DataOffsets[0]
	}
	return nil
}

// checkShapes checks that expert i's gate and up have one shape, and that
// its shapes are the first expert's.
func (c *Checkpoint) checkShapes(i int) error {
	x, ref := &c.experts[i], &c.experts[0]
	if !slices.Equal(x[0].info.Shape, x[1].info.Shape) {
		return fmt.Errorf("safetensors: %s: tensor %q has shape %v, but %q has %v", x[1].f.name, x[1].name, x[1].info.Shape, x[0].name, x[0].info.Shape)
	}
	for p := range 3 {
		if !slices.Equal(x[p].info.Shape, ref[p].info.Shape) {
			return fmt.Errorf("safetensors: %s: tensor %q has shape %v, but %q has %v (every expert's %s projection must match)",
				x[p].f.name, x[p].name, x[p].info.Shape, ref[p].name, ref[p].info.Shape, projNames[p])
		}
	}
	return nil
}

// names lists the checkpoint's files for messages.
func (c *Checkpoint) names() string {
	var ns []string
	for _, f := range c.files {
		ns = append(ns, f.name)
	}
	if len(ns) > 4 {
		return fmt.Sprintf("%s and %d more files", strings.Join(ns[:3], ", "), len(ns)-3)
	}
	return strings.Join(ns, ", ")
}

// PackExpert copies expert k's gate, up and down weights, in that order,
// into dst, which must be Layout.ExpertBytes long.
func (c *Checkpoint) PackExpert(k rt.Key, dst []byte) error {
	l := c.Layout
	if k.Layer < 0 || int(k.Layer) >= len(l.Layers) || k.Expert < 0 || int(k.Expert) >= l.Experts {
		return fmt.Errorf("safetensors: expert %v is outside the checkpoint (%d MoE layers, %d experts)", k, len(l.Layers), l.Experts)
	}
	if int64(len(dst)) != l.ExpertBytes {
		return fmt.Errorf("safetensors: expert %v needs %d bytes, the destination has %d", k, l.ExpertBytes, len(dst))
	}
	if c.files == nil {
		return errors.New("safetensors: checkpoint is closed")
	}
	o := 0
	for _, r := range c.experts[int(k.Layer)*l.Experts+int(k.Expert)] {
		o += copy(dst[o:], r.bytes())
	}
	return nil
}

// Pack copies every expert into the slices host returns (a store's Host),
// using every core, and returns the first error.
func (c *Checkpoint) Pack(host func(rt.Key) []byte) error {
	l := c.Layout
	n := len(l.Layers) * l.Experts
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
		errs []error
	)
	work := func() {
		defer wg.Done()
		for {
			mu.Lock()
			i := next
			next++
			stop := len(errs) > 0
			mu.Unlock()
			if i >= n || stop {
				return
			}
			k := rt.Key{Layer: int32(i / l.Experts), Expert: int32(i % l.Experts)}
			if err := c.PackExpert(k, host(k)); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}
	}
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go work()
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// Close unmaps the files.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.files {
		if err := f.close(); err != nil {
			errs = append(errs, fmt.Errorf("safetensors: %s: %v", f.name, err))
		}
	}
	c.files = nil
	return errors.Join(errs...)
}
