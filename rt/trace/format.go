package trace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/moepolicy/moec/rt"
)

// Header is a trace's first line.
type Header struct {
	Model   string // model_name
	Layers  int    // num_layers: rows' "l" lie in [0, Layers)
	Experts int    // num_experts: experts' ids lie in [0, Experts)
	TopK    int    // top_k: the most experts a row may list
	// Entries is num_entries, the number of rows after the header (the
	// scripts of the reference call it total_entries; both are read). A
	// Writer writes it before any row, so its caller must set it up front.
	Entries int64
	// ExpertBytes is moec's optional expert_bytes: the size of one expert's
	// weights; 0 when the file does not say.
	ExpertBytes int64
	// Timestamp is the reference scripts' optional timestamp, as written
	// (a JSON string's contents, or a number's text); "" when absent.
	Timestamp string
}

// Shape returns the shape a policy replaying the trace needs. Its
// ExpertBytes is the header's expert_bytes or, when the header has none,
// ExpertBytesOf the model name (0 when that is unknown too).
func (h Header) Shape() rt.Shape {
	b := h.ExpertBytes
	if b == 0 {
		b = ExpertBytesOf(h.Model)
	}
	return rt.Shape{Layers: h.Layers, Experts: h.Experts, TopK: h.TopK, ExpertBytes: b}
}

// Validate reports what is impossible about the header.
func (h Header) Validate() error {
	switch {
	case h.Layers < 1:
		return fmt.Errorf("num_layers %d, need at least 1", h.Layers)
	case h.Experts < 1:
		return fmt.Errorf("num_experts %d, need at least 1", h.Experts)
	case h.Layers > maxLayers:
		return fmt.Errorf("num_layers %d, at most %d supported", h.Layers, maxLayers)
	case h.Experts > maxExperts:
		return fmt.Errorf("num_experts %d, at most %d supported", h.Experts, maxExperts)
	case h.Layers*h.Experts > maxKeys:
		return fmt.Errorf("num_layers %d x num_experts %d is %d (layer, expert) pairs, at most %d supported",
			h.Layers, h.Experts, h.Layers*h.Experts, maxKeys)
	case h.TopK < 1 || h.TopK > h.Experts:
		return fmt.Errorf("top_k %d, need 1 to num_experts %d", h.TopK, h.Experts)
	case h.Entries < 0:
		return fmt.Errorf("num_entries %d is negative", h.Entries)
	case h.ExpertBytes < 0:
		return fmt.Errorf("expert_bytes %d is negative", h.ExpertBytes)
	}
	return nil
}

// The bounds of a header's shape. Whatever reads a trace sizes tables by
// its shape before the rows justify it: a replay keeps state for every
// (layer, expert) pair (about a hundred bytes each), statistics keep
// per-layer tables. These bounds keep that below about a hundred MB
// whatever a hostile header says, far above real models: the largest have
// a few hundred experts in fewer than a hundred MoE layers
// (DeepSeek-V3: 58 x 256 = 14,848 pairs).
const (
	maxLayers  = 1 << 12
	maxExperts = 1 << 16
	maxKeys    = 1 << 20 // layers x experts
)

// Row is one routing decision: the experts the router selected for token
// Token at layer Layer, in top-k order, and their router weights.
type Row struct {
	Token   int       // "t": unreliable in the reference's traces; replay ignores it
	Layer   int       // "l"
	Experts []int32   // "e": distinct ids, 1 to top_k of them
	Scores  []float32 // "s": nil when the trace has none, else one per expert
}

// Error is a problem with a line of a trace or log file. Line is 0 when
// the problem concerns the whole file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// checkRow reports what is wrong with row for the header's shape; seen is
// scratch of at least h.Experts stamps and stamp a value not yet in it.
func checkRow(h *Header, row *Row, seen []uint32, stamp uint32) string {
	switch {
	case row.Token < 0:
		return fmt.Sprintf("token %d is negative", row.Token)
	case row.Layer < 0 || row.Layer >= h.Layers:
		return fmt.Sprintf("layer %d out of range [0,%d)", row.Layer, h.Layers)
	case len(row.Experts) == 0:
		return "no experts"
	case len(row.Experts) > h.TopK:
		return fmt.Sprintf("%d experts, header says top_k %d", len(row.Experts), h.TopK)
	}
	for _, e := range row.Experts {
		if e < 0 || int(e) >= h.Experts {
			return fmt.Sprintf("expert %d out of range [0,%d)", e, h.Experts)
		}
		if seen[e] == stamp {
			return fmt.Sprintf("duplicate expert %d", e)
		}
		seen[e] = stamp
	}
	if row.Scores != nil {
		if len(row.Scores) != len(row.Experts) {
			return fmt.Sprintf("%d scores for %d experts", len(row.Scores), len(row.Experts))
		}
		for _, s := range row.Scores {
			if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
				return fmt.Sprintf("score %v is not finite", s)
			}
		}
	}
	return ""
}

// rowChecker checks rows against a header without allocating: the
// duplicate check stamps a per-expert array instead of clearing a set.
type rowChecker struct {
	h     *Header
	seen  []uint32
	stamp uint32
}

func newRowChecker(h *Header) rowChecker {
	return rowChecker{h: h, seen: make([]uint32, h.Experts)}
}

func (c *rowChecker) check(row *Row) string {
	c.stamp++
	if c.stamp == 0 { // wrapped: old stamps could collide
		clear(c.seen)
		c.stamp = 1
	}
	return checkRow(c.h, row, c.seen, c.stamp)
}

// parseHeader reads a header line.
func parseHeader(line []byte) (Header, error) {
	var h Header
	var v any
	if err := json.Unmarshal(line, &v); err != nil {
		return h, fmt.Errorf("header: invalid JSON: %v", jsonMsg(err))
	}
	if _, ok := v.(map[string]any); !ok {
		return h, fmt.Errorf("header: want a JSON object, found %s", short(bytes.TrimSpace(line)))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return h, fmt.Errorf("header: invalid JSON: %v", jsonMsg(err))
	}
	raw, ok := fields["model_name"]
	if !ok {
		return h, fmt.Errorf("header: missing field %q", "model_name")
	}
	if err := json.Unmarshal(raw, &h.Model); err != nil {
		return h, fmt.Errorf("header: field %q: want a string, found %s", "model_name", short(raw))
	}
	for _, f := range []struct {
		key string
		dst *int
	}{{"num_layers", &h.Layers}, {"num_experts", &h.Experts}, {"top_k", &h.TopK}} {
		raw, ok := fields[f.key]
		if !ok {
			return h, fmt.Errorf("header: missing field %q", f.key)
		}
		n, err := parseInt(raw, 1<<31-1)
		if err != nil {
			return h, fmt.Errorf("header: field %q: %v", f.key, err)
		}
		*f.dst = int(n)
	}
	n1, ok1 := fields["num_entries"]
	n2, ok2 := fields["total_entries"]
	switch {
	case !ok1 && !ok2:
		return h, fmt.Errorf("header: missing field %q", "num_entries")
	case ok1:
		n, err := parseInt(n1, math.MaxInt64)
		if err != nil {
			return h, fmt.Errorf("header: field %q: %v", "num_entries", err)
		}
		h.Entries = n
		if ok2 {
			m, err := parseInt(n2, math.MaxInt64)
			if err != nil {
				return h, fmt.Errorf("header: field %q: %v", "total_entries", err)
			}
			if m != n {
				return h, fmt.Errorf("header: num_entries %d and total_entries %d disagree", n, m)
			}
		}
	default:
		n, err := parseInt(n2, math.MaxInt64)
		if err != nil {
			return h, fmt.Errorf("header: field %q: %v", "total_entries", err)
		}
		h.Entries = n
	}
	if raw, ok := fields["expert_bytes"]; ok && !isNull(raw) {
		n, err := parseInt(raw, math.MaxInt64)
		if err != nil {
			return h, fmt.Errorf("header: field %q: %v", "expert_bytes", err)
		}
		h.ExpertBytes = n
	}
	if raw, ok := fields["timestamp"]; ok && !isNull(raw) {
		if raw[0] == '"' {
			if err := json.Unmarshal(raw, &h.Timestamp); err != nil {
				return h, fmt.Errorf("header: field %q: %v", "timestamp", jsonMsg(err))
			}
		} else if _, err := strconv.ParseFloat(string(raw), 64); err == nil {
			h.Timestamp = string(raw)
		} else {
			return h, fmt.Errorf("header: field %q: want a string or a number, found %s", "timestamp", short(raw))
		}
	}
	if err := h.Validate(); err != nil {
		return h, fmt.Errorf("header: %v", err)
	}
	return h, nil
}

// appendHeader appends h as a header line, laid out as the reference's
// recorders write it (Python's json.dumps), without the newline.
func appendHeader(b []byte, h *Header) []byte {
	b = append(b, `{"model_name": `...)
	b = appendString(b, h.Model)
	b = append(b, `, "num_layers": `...)
	b = strconv.AppendInt(b, int64(h.Layers), 10)
	b = append(b, `, "num_experts": `...)
	b = strconv.AppendInt(b, int64(h.Experts), 10)
	b = append(b, `, "top_k": `...)
	b = strconv.AppendInt(b, int64(h.TopK), 10)
	b = append(b, `, "num_entries": `...)
	b = strconv.AppendInt(b, h.Entries, 10)
	if h.ExpertBytes != 0 {
		b = append(b, `, "expert_bytes": `...)
		b = strconv.AppendInt(b, h.ExpertBytes, 10)
	}
	if h.Timestamp != "" {
		b = append(b, `, "timestamp": `...)
		if _, err := strconv.ParseFloat(h.Timestamp, 64); err == nil && json.Valid([]byte(h.Timestamp)) {
			b = append(b, h.Timestamp...)
		} else {
			b = appendString(b, h.Timestamp)
		}
	}
	return append(b, '}')
}

// appendString appends s as a JSON string, escaping only what JSON needs.
func appendString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil { // a string always encodes
		return append(b, `""`...)
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// parseInt reads a JSON integer in [0, max].
func parseInt(raw json.RawMessage, max int64) (int64, error) {
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		if _, ferr := strconv.ParseFloat(string(raw), 64); ferr == nil && !strings.ContainsAny(string(raw), ".eE") {
			return 0, fmt.Errorf("%s out of range [0,%d]", short(raw), max)
		}
		return 0, fmt.Errorf("want an integer, found %s", short(raw))
	}
	if n < 0 || n > max {
		return 0, fmt.Errorf("%d out of range [0,%d]", n, max)
	}
	return n, nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// short quotes a JSON value for a message, cut to a readable length.
func short(raw []byte) string {
	const max = 32
	if len(raw) > max {
		return string(raw[:max]) + "..."
	}
	return string(raw)
}

// jsonMsg is encoding/json's message without its "json: " prefix, so that
// messages read the same whoever found the problem.
func jsonMsg(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

// The expert sizes of the models the presets are named after: the gate,
// up and down projections of one expert in bf16 (3 x hidden x intermediate
// x 2 bytes).
const (
	mib               = 1 << 20
	mixtralBytes      = 3 * 4096 * 14336 * 2 // 336 MiB
	qwenMoEBytes      = 3 * 2048 * 1408 * 2  // 16.5 MiB
	deepseekLiteBytes = 3 * 2048 * 1408 * 2  // 16.5 MiB
	olmoeBytes        = 3 * 2048 * 1024 * 2  // 12 MiB
)

// modelBytes maps a model-name fragment (lower case) to its expert size.
var modelBytes = []struct {
	fragment string
	bytes    int64
}{
	{"mixtral-8x7b", mixtralBytes},
	{"qwen1.5-moe-a2.7b", qwenMoEBytes},
	{"deepseek-v2-lite", deepseekLiteBytes},
	{"olmoe-1b-7b", olmoeBytes},
}

// ExpertBytesOf returns the size of one expert's weights in bf16 for the
// models moec knows (Mixtral-8x7B, Qwen1.5-MoE-A2.7B, DeepSeek-V2-Lite,
// OLMoE-1B-7B), recognised by a case-insensitive fragment of the name such
// as "Qwen/Qwen1.5-MoE-A2.7B-Chat layers 0,8 of 24"; 0 for any other.
func ExpertBytesOf(model string) int64 {
	m := strings.ToLower(model)
	for _, k := range modelBytes {
		if strings.Contains(m, k.fragment) {
			return k.bytes
		}
	}
	return 0
}
