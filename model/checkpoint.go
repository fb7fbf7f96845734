package model

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A Checkpoint is a model's safetensors files, mapped into memory, with
// every tensor found by name: the engine loads the skeleton (embeddings,
// attention, norms, lm_head) through Tensor, and Experts finds the routed
// experts for a store's arena.
type Checkpoint struct {
	dir     string
	files   []*file
	tensors map[string]*Tensor
	names   []string // sorted
}

// maxIndexBytes bounds a model.safetensors.index.json (DeepSeek-V3's,
// 91,000 tensors in 163 files, is 9 MB).
const maxIndexBytes = 256 << 20

// Open maps a checkpoint. paths is a folder (read through its
// model.safetensors.index.json if it has one, else every *.safetensors
// file in it), an index file, or a list of .safetensors files. Every file
// is checked whole at Open (see the package comment); a tensor in two
// files, or one the index places in a file that lacks it, is an error.
// Open reads no config.json: ReadConfig does, and Experts takes the result.
func Open(paths ...string) (*Checkpoint, error) {
	files, index, dir, err := checkpointFiles(paths)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{dir: dir, tensors: map[string]*Tensor{}}
	for _, name := range files {
		f, ts, err := openFile(name)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.files = append(c.files, f)
		for _, t := range ts {
			if u, ok := c.tensors[t.Name]; ok {
				c.Close()
				return nil, fmt.Errorf("safetensors: tensor %q is in both %s and %s", t.Name, u.file.name, f.name)
			}
			c.tensors[t.Name] = t
			c.names = append(c.names, t.Name)
		}
	}
	slices.Sort(c.names)
	for _, tensor := range slices.Sorted(maps.Keys(index)) {
		file := index[tensor]
		if t, ok := c.tensors[tensor]; !ok || t.file.name != file {
			c.Close()
			return nil, fmt.Errorf("safetensors: the index says tensor %q is in %s, which has no such tensor", tensor, file)
		}
	}
	return c, nil
}

// checkpointFiles resolves Open's arguments to files, the index's weight
// map (nil without an index) and the checkpoint's folder.
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
		slices.Sort(files)
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
	b, err := readBounded(name, maxIndexBytes)
	if err != nil {
		return nil, nil, "", fmt.Errorf("safetensors: %v", err)
	}
	var ix struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := decodeJSON(b, &ix); err != nil {
		return nil, nil, "", fmt.Errorf("safetensors: %s: bad JSON: %v", name, err)
	}
	weightMap := ix.WeightMap
	if len(weightMap) == 0 {
		return nil, nil, "", fmt.Errorf("safetensors: %s: no weight_map", name)
	}
	dir := filepath.Dir(name)
	seen := map[string]bool{}
	var files []string
	index := map[string]string{}
	for _, tensor := range slices.Sorted(maps.Keys(weightMap)) {
		file := weightMap[tensor]
		if file == "" || filepath.IsAbs(file) || slices.Contains(strings.Split(filepath.ToSlash(file), "/"), "..") {
			return nil, nil, "", fmt.Errorf("safetensors: %s: tensor %q maps to file %q, not a file beside the index", name, tensor, file)
		}
		path := filepath.Join(dir, file)
		index[tensor] = path
		if !seen[path] {
			seen[path] = true
			files = append(files, path)
		}
	}
	slices.Sort(files)
	return files, index, dir, nil
}

// Dir returns the checkpoint's folder, where its config.json is.
func (c *Checkpoint) Dir() string { return c.dir }

// Tensor returns the tensor called name.
func (c *Checkpoint) Tensor(name string) (*Tensor, bool) {
	t, ok := c.tensors[name]
	return t, ok
}

// Names returns the names of every tensor, sorted.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// fileNames lists the checkpoint's files for messages.
func (c *Checkpoint) fileNames() string {
	var ns []string
	for _, f := range c.files {
		ns = append(ns, f.name)
	}
	if len(ns) > 4 {
		return fmt.Sprintf("%s and %d more files", strings.Join(ns[:3], ", "), len(ns)-3)
	}
	return strings.Join(ns, ", ")
}

// Close unmaps the files. Tensors' Data is nil afterwards and Read an
// error; Close must not run while another goroutine reads.
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

// OpenDir reads the config.json of the checkpoint folder dir and opens
// its safetensors files: what a program that runs a checkpoint needs.
func OpenDir(dir string) (*Config, *Checkpoint, error) {
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, nil, err
	}
	ck, err := Open(dir)
	if err != nil {
		return nil, nil, err
	}
	return cfg, ck, nil
}
