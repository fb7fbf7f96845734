package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Convert reads vLLM-style routing logs, one file per MoE layer, and
// writes the trace they make to dst (docs/TRACES.md describes the logs).
//
// Each log starts with a {"type":"meta",...} line and goes on with
// {"type":"route",...} lines, one per token. Route i of every log is the
// same token, so the logs are read in lockstep, after each has skipped
// its leading profiling pass (routes whose req_id is missing, null, empty
// or starts with "profile": vLLM's warm-up run on dummy data). The trace's
// layers are the logs ordered by their meta layer and numbered from 0; its
// rows go token by token, layers in order, t being the token's position
// among the routes kept.
//
// names are the file names for errors, one per log. Convert reads every
// log twice, first to check everything and count the rows the header
// announces, then to write; nothing is written when a log is wrong.
func Convert(dst io.Writer, layers []io.ReadSeeker, names []string) (Header, error) {
	if len(layers) == 0 {
		return Header{}, errors.New("convert: no layer logs")
	}
	if len(names) != len(layers) {
		return Header{}, fmt.Errorf("convert: %d names for %d layer logs", len(names), len(layers))
	}
	logs := make([]*routeLog, len(layers))
	for i := range layers {
		logs[i] = &routeLog{r: layers[i], name: names[i]}
	}
	h, err := openLogs(logs)
	if err != nil {
		return Header{}, err
	}
	var tokens int64
	if err := walkLogs(logs, &h, func(*Row) error { return nil }, &tokens); err != nil {
		return Header{}, err
	}
	h.Entries = tokens * int64(len(logs))

	if _, err := openLogs(logs); err != nil {
		return Header{}, err
	}
	w, err := NewWriter(dst, h)
	if err != nil {
		return Header{}, err
	}
	if err := walkLogs(logs, &h, func(row *Row) error { return w.Write(*row) }, &tokens); err != nil {
		return Header{}, err
	}
	return h, w.Close()
}

// routeLog is one layer's log being read.
type routeLog struct {
	r     io.ReadSeeker
	name  string
	lines lineReader
	meta  logMeta
	index int // the trace layer it becomes
	row   Row
	req   string
	tok   int64
	line  int // line of the current route
	kept  bool
}

// logMeta is a log's {"type":"meta"} line.
type logMeta struct {
	line       int
	Model      string `json:"model"`
	Layer      int    `json:"layer"`
	NumLayers  int    `json:"num_layers"` // 0: not given
	NumExperts int    `json:"num_experts"`
	TopK       int    `json:"top_k"`
}

// logLine is any line of a log; which fields count depends on Type.
type logLine struct {
	Type        string          `json:"type"`
	Model       *string         `json:"model"`
	Layer       *int            `json:"layer"`
	NumLayers   *int            `json:"num_layers"`
	NumExperts  *int            `json:"num_experts"`
	TopK        *int            `json:"top_k"`
	ReqID       json.RawMessage `json:"req_id"`
	TokenIdx    *int64          `json:"token_idx"`
	TopkIDs     []int32         `json:"topk_ids"`
	TopkWeights []float32       `json:"topk_weights"`
}

// openLogs rewinds the logs, reads their meta lines, checks that they
// agree, numbers the layers and returns the trace's header (without
// Entries).
func openLogs(logs []*routeLog) (Header, error) {
	for _, l := range logs {
		if _, err := l.r.Seek(0, io.SeekStart); err != nil {
			return Header{}, fmt.Errorf("%s: %w", l.name, err)
		}
		l.lines = newLineReader(l.r, l.name)
		l.kept = false
		if err := l.readMeta(); err != nil {
			return Header{}, err
		}
	}
	m0 := &logs[0].meta
	for _, l := range logs[1:] {
		m := &l.meta
		for _, d := range []struct {
			key  string
			a, b any
		}{
			{"model", m.Model, m0.Model},
			{"num_layers", m.NumLayers, m0.NumLayers},
			{"num_experts", m.NumExperts, m0.NumExperts},
			{"top_k", m.TopK, m0.TopK},
		} {
			if d.a != d.b {
				return Header{}, &Error{File: l.name, Line: m.line, Msg: fmt.Sprintf("meta says %s %s, %s:%d says %s",
					d.key, quoteAny(d.a), logs[0].name, m0.line, quoteAny(d.b))}
			}
		}
	}
	byLayer := slices.Clone(logs)
	slices.SortStableFunc(byLayer, func(a, b *routeLog) int { return a.meta.Layer - b.meta.Layer })
	layerList := make([]string, len(byLayer))
	for i, l := range byLayer {
		if i > 0 && l.meta.Layer == byLayer[i-1].meta.Layer {
			p := byLayer[i-1]
			return Header{}, &Error{File: l.name, Line: l.meta.line, Msg: fmt.Sprintf("layer %d already logged by %s:%d", l.meta.Layer, p.name, p.meta.line)}
		}
		l.index = i
		layerList[i] = strconv.Itoa(l.meta.Layer)
	}
	model := m0.Model
	whole := m0.NumLayers == len(logs) // sorted and distinct, so 0..n-1
	if !whole {
		model += " layers " + strings.Join(layerList, ",")
		if m0.NumLayers > 0 {
			model += " of " + strconv.Itoa(m0.NumLayers)
		}
	}
	return Header{Model: model, Layers: len(logs), Experts: m0.NumExperts, TopK: m0.TopK}, nil
}

func quoteAny(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

func (l *routeLog) fail(line int, format string, args ...any) error {
	return &Error{File: l.name, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// readLine reads the next non-blank line as a logLine.
func (l *routeLog) readLine() (*logLine, error) {
	for {
		b, nl, err := l.lines.next()
		if err != nil {
			return nil, err
		}
		if isBlank(b) {
			continue
		}
		var ll logLine
		if err := decodeLogLine(b, &ll); err != nil {
			msg := err.Error()
			var se *json.SyntaxError
			if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
				msg = "invalid JSON: " + jsonMsg(err)
				if !nl {
					msg = "truncated last line (no newline at end of file): " + msg
				}
			}
			return nil, l.fail(l.lines.line, "%s", msg)
		}
		return &ll, nil
	}
}

func decodeLogLine(b []byte, ll *logLine) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("want a JSON object, found %s", short(bytes.TrimSpace(b)))
	}
	err := json.Unmarshal(b, ll)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q: want %s, found %s", te.Field, te.Type, te.Value)
	}
	return err
}

// readMeta reads the first line, which must be the meta line.
func (l *routeLog) readMeta() error {
	ll, err := l.readLine()
	if err == io.EOF {
		return &Error{File: l.name, Msg: `empty file, expected a {"type":"meta"} line`}
	}
	if err != nil {
		return err
	}
	line := l.lines.line
	if ll.Type != "meta" {
		return l.fail(line, `expected a {"type":"meta"} line first, found type %q`, ll.Type)
	}
	m := logMeta{line: line}
	for _, f := range []struct {
		key string
		v   *int
		dst *int
	}{{"layer", ll.Layer, &m.Layer}, {"num_experts", ll.NumExperts, &m.NumExperts}, {"top_k", ll.TopK, &m.TopK}} {
		if f.v == nil {
			return l.fail(line, "meta: missing field %q", f.key)
		}
		*f.dst = *f.v
	}
	if ll.Model == nil {
		return l.fail(line, "meta: missing field %q", "model")
	}
	m.Model = *ll.Model
	if ll.NumLayers != nil {
		m.NumLayers = *ll.NumLayers
		if m.NumLayers < 1 {
			return l.fail(line, "meta: num_layers %d, need at least 1", m.NumLayers)
		}
	}
	switch {
	case m.Layer < 0 || (m.NumLayers > 0 && m.Layer >= m.NumLayers):
		if m.NumLayers > 0 {
			return l.fail(line, "meta: layer %d out of range [0,%d)", m.Layer, m.NumLayers)
		}
		return l.fail(line, "meta: layer %d is negative", m.Layer)
	case m.NumExperts < 1 || m.NumExperts > maxExperts:
		return l.fail(line, "meta: num_experts %d out of range [1,%d]", m.NumExperts, maxExperts)
	case m.TopK < 1 || m.TopK > m.NumExperts:
		return l.fail(line, "meta: top_k %d, need 1 to num_experts %d", m.TopK, m.NumExperts)
	}
	l.meta = m
	return nil
}

// isProfiling reports whether a req_id marks vLLM's profiling pass.
func isProfiling(id string) bool {
	return id == "" || strings.HasPrefix(id, "profile")
}

// reqID reads a req_id: a string, or a number kept as written; "" when
// missing or null.
func reqID(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || isNull(raw) {
		return "", true
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	}
	if _, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return string(raw), true
	}
	return "", false
}

// nextRoute reads the log's next route into l.row, l.req and l.tok,
// skipping the profiling pass before the first route kept. It returns
// io.EOF at the end.
func (l *routeLog) nextRoute(chk *rowChecker) error {
	for {
		ll, err := l.readLine()
		if err != nil {
			return err
		}
		line := l.lines.line
		if ll.Type != "route" {
			if ll.Type == "meta" {
				return l.fail(line, "a second meta line")
			}
			return l.fail(line, "unknown line type %q, want \"route\"", ll.Type)
		}
		req, ok := reqID(ll.ReqID)
		if !ok {
			return l.fail(line, "field %q: want a string, found %s", "req_id", short(ll.ReqID))
		}
		if !l.kept && isProfiling(req) {
			continue
		}
		l.kept = true
		switch {
		case ll.Layer == nil:
			return l.fail(line, "missing field %q", "layer")
		case *ll.Layer != l.meta.Layer:
			return l.fail(line, "route of layer %d in the log of layer %d", *ll.Layer, l.meta.Layer)
		case ll.TokenIdx == nil:
			return l.fail(line, "missing field %q", "token_idx")
		case ll.TopkIDs == nil:
			return l.fail(line, "missing field %q", "topk_ids")
		}
		l.row = Row{Layer: l.index, Experts: ll.TopkIDs, Scores: ll.TopkWeights}
		if msg := chk.check(&l.row); msg != "" {
			msg = strings.Replace(msg, "scores for", "topk_weights for", 1)
			msg = strings.Replace(msg, "experts, header says", "topk_ids, meta says", 1)
			return l.fail(line, "%s", msg)
		}
		l.req, l.tok, l.line = req, *ll.TokenIdx, line
		return nil
	}
}

// walkLogs reads the logs in lockstep after openLogs, checking that they
// hold the same tokens, and calls emit with each row in trace order. It
// leaves the number of tokens in *tokens.
func walkLogs(logs []*routeLog, h *Header, emit func(*Row) error, tokens *int64) error {
	chks := make([]rowChecker, len(logs))
	for i := range chks {
		chks[i] = newRowChecker(h)
	}
	order := slices.Clone(logs)
	slices.SortFunc(order, func(a, b *routeLog) int { return a.index - b.index })
	got := make([]bool, len(order))
	var t int64
	for ; ; t++ {
		ended := 0
		for i, l := range order {
			err := l.nextRoute(&chks[i])
			got[i] = err == nil
			if err == io.EOF {
				ended++
				continue
			}
			if err != nil {
				return err
			}
		}
		if ended == len(order) {
			break
		}
		if ended > 0 {
			return lengthError(order, chks, got, t)
		}
		first := order[0]
		for _, l := range order[1:] {
			if l.req != first.req || l.tok != first.tok {
				return l.fail(l.line, "route %d is request %q token %d, %s:%d has request %q token %d",
					t, l.req, l.tok, first.name, first.line, first.req, first.tok)
			}
		}
		for _, l := range order {
			l.row.Token = int(t)
			if err := emit(&l.row); err != nil {
				return err
			}
		}
	}
	*tokens = t
	return nil
}

// lengthError reports logs of different lengths, counting what is left of
// each: all have t routes before the current step, got says which had
// one more.
func lengthError(logs []*routeLog, chks []rowChecker, got []bool, t int64) error {
	counts := make([]int64, len(logs))
	for i, l := range logs {
		n := t
		if got[i] {
			n++
			for {
				err := l.nextRoute(&chks[i])
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
				n++
			}
		}
		counts[i] = n
	}
	for i := 1; i < len(logs); i++ {
		if counts[i] != counts[0] {
			return &Error{File: logs[i].name, Msg: fmt.Sprintf("%d routes after the profiling pass, %s has %d",
				counts[i], logs[0].name, counts[0])}
		}
	}
	return &Error{File: logs[0].name, Msg: "logs of different lengths"} // unreachable: some count differs
}
