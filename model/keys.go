package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// decodeObject reads data as exactly one JSON object, numbers kept as
// written.
func decodeObject(name string, data []byte) (map[string]any, error) {
	var keys map[string]any
	if err := decodeJSON(data, &keys); err != nil {
		if t, ok := err.(trailingError); ok {
			return nil, fmt.Errorf("%s: text after the JSON object, at byte %d", name, t.offset)
		}
		return nil, fmt.Errorf("%s: not a JSON object: %v", name, err)
	}
	if keys == nil {
		return nil, fmt.Errorf("%s: not a JSON object: null", name)
	}
	return keys, nil
}

// decodeJSON decodes data, one JSON value, into v. Text after the value
// is an error: a file that says more than one thing is not a config.
func decodeJSON(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	off := d.InputOffset()
	if _, err := d.Token(); err != io.EOF {
		rest := data[off:]
		off += int64(len(rest) - len(bytes.TrimLeft(rest, " \t\r\n")))
		return trailingError{off}
	}
	return nil
}

// trailingError is decodeJSON's error for text after the value.
type trailingError struct{ offset int64 }

func (e trailingError) Error() string {
	return fmt.Sprintf("text after the JSON value, at byte %d", e.offset)
}

// readBounded reads a file of at most limit bytes: a config or an index,
// which a forged one must not make moec read for long.
func readBounded(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes: not a config.json or an index", name, limit)
	}
	return b, nil
}

// A reader reads the keys of a config.json, or of an object inside it
// (rope_scaling). The first error sticks; a getter that fails returns a
// value that is safe to compute with (the default, or the least value
// allowed), so that a family's reader can read on and the caller checks
// once, before anything uses the values.
type reader struct {
	file string // the file's name, for errors
	typ  string // model_type, for "qwen2_moe config lacks ..."
	path string // "" at the top, "rope_scaling." inside
	keys map[string]any
	err  *error // shared with the readers of inner objects
}

func newReader(file, typ string, keys map[string]any) *reader {
	return &reader{file: file, typ: typ, keys: keys, err: new(error)}
}

// fail records the first error.
func (r *reader) fail(format string, args ...any) {
	if *r.err == nil {
		*r.err = fmt.Errorf("%s: %s", r.file, fmt.Sprintf(format, args...))
	}
}

func (r *reader) lacks(key string) {
	r.fail("%s config lacks %q", r.typ, r.path+key)
}

func (r *reader) bad(key string, v any, want string) {
	b, _ := json.Marshal(v)
	r.fail("%q is %s, want %s", r.path+key, b, want)
}

// get returns the value at key; a null counts as missing, as transformers
// reads it (the class's default applies).
func (r *reader) get(key string) (any, bool) {
	v, ok := r.keys[key]
	return v, ok && v != nil
}

// has reports whether key is present and not null.
func (r *reader) has(key string) bool {
	_, ok := r.get(key)
	return ok
}

// int returns the integer at key, between lo and hi; a missing key is an
// error.
func (r *reader) int(key string, lo, hi int) int {
	v, ok := r.get(key)
	if !ok {
		r.lacks(key)
		return lo
	}
	return r.toInt(key, v, lo, hi)
}

// optInt returns the integer at key, between lo and hi, or def when the
// key is missing.
func (r *reader) optInt(key string, def, lo, hi int) int {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	return r.toInt(key, v, lo, hi)
}

// toInt accepts a JSON number with no fractional part (4096 or 4096.0, as
// Python may write an int it computed as a float).
func (r *reader) toInt(key string, v any, lo, hi int) int {
	if n, ok := v.(json.Number); ok {
		i, err := n.Int64()
		if err != nil {
			if f, ferr := n.Float64(); ferr == nil && f == math.Trunc(f) && math.Abs(f) < 1<<62 {
				i, err = int64(f), nil
			}
		}
		if err == nil && i >= int64(lo) && i <= int64(hi) {
			return int(i)
		}
		if err == nil && i > int64(hi) {
			r.fail("%q is %s, more than moec's limit of %d", r.path+key, n, hi)
			return lo
		}
	}
	switch lo {
	case 0:
		r.bad(key, v, "an integer >= 0")
	case 1:
		r.bad(key, v, "a positive integer")
	default:
		r.bad(key, v, fmt.Sprintf("an integer >= %d", lo))
	}
	return lo
}

// float returns the number at key, or def when it is missing. Numbers
// must be finite and positive unless zero is allowed.
func (r *reader) float(key string, def float64, zero bool) float64 {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	if n, ok := v.(json.Number); ok {
		if f, err := n.Float64(); err == nil && (f > 0 || zero && f == 0) {
			return f
		}
	}
	if zero {
		r.bad(key, v, "a number >= 0")
	} else {
		r.bad(key, v, "a positive number")
	}
	return def
}

func (r *reader) bool(key string, def bool) bool {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		r.bad(key, v, "true or false")
		return def
	}
	return b
}

func (r *reader) string(key, def string) string {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		r.bad(key, v, "a string")
		return def
	}
	return s
}

// intSet returns the set of integers listed at key, each between 0 and
// hi. Its size is bounded by the file's.
func (r *reader) intSet(key string, hi int) map[int]bool {
	set := map[int]bool{}
	v, ok := r.get(key)
	if !ok {
		return set
	}
	list, ok := v.([]any)
	if !ok {
		r.bad(key, v, "a list of layer numbers")
		return set
	}
	for _, x := range list {
		set[r.toInt(key, x, 0, hi)] = true
	}
	return set
}

// strings returns the list of strings at key, nil when it is missing.
func (r *reader) strings(key string) []string {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		r.bad(key, v, "a list of strings")
		return nil
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			r.bad(key, v, "a list of strings")
			return nil
		}
		out[i] = s
	}
	return out
}

// object returns a reader of the object at key, nil when it is missing.
func (r *reader) object(key string) *reader {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.bad(key, v, "an object")
		return nil
	}
	return &reader{file: r.file, typ: r.typ, path: r.path + key + ".", keys: m, err: r.err}
}
