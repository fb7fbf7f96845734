package rt

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The language's blocks and keys live in one table, as its enumeration
// words do in enums.go: the parser reads from it which keys a block takes
// and the form of their values, the front ends (package sema, the Go
// builder) how a value is stored in a Spec, and the printers (the .moe
// printer, moec show) how it is read back. Adding a key to the language
// is adding its row here, with its Spec field and what it means.

// ValueKind is the form of a key's value in .moe.
type ValueKind uint8

// The value kinds.
const (
	IntKind      ValueKind = iota // INT
	NumberKind                    // NUMBER; an INT is a number too
	WordKind                      // a word of an enumeration, or "A | B" where the key allows it
	BoolKind                      // true or false
	IntListKind                   // [INT, ...]
	WordListKind                  // [WORD, ...]
)

// A Value is the value of a key. Kind says which field holds it.
type Value struct {
	Kind  ValueKind
	Int   int      // IntKind
	Num   float64  // NumberKind
	Bool  bool     // BoolKind
	Words []string // WordKind: one word, or the two of "A | B"; WordListKind: the list
	Ints  []int    // IntListKind
}

// IntValue returns the value n.
func IntValue(n int) Value { return Value{Kind: IntKind, Int: n} }

// NumberValue returns the value f.
func NumberValue(f float64) Value { return Value{Kind: NumberKind, Num: f} }

// BoolValue returns the value b.
func BoolValue(b bool) Value { return Value{Kind: BoolKind, Bool: b} }

// WordValue returns the value w, a word of an enumeration.
func WordValue(w string) Value { return Value{Kind: WordKind, Words: []string{w}} }

// PipeValue returns the composition "a | b".
func PipeValue(a, b string) Value { return Value{Kind: WordKind, Words: []string{a, b}} }

// IntListValue returns the list [ns...].
func IntListValue(ns ...int) Value { return Value{Kind: IntListKind, Ints: ns} }

// WordListValue returns the list [ws...].
func WordListValue(ws ...string) Value { return Value{Kind: WordListKind, Words: ws} }

// String returns v as .moe writes it: 16, 0.9, lfu | lru, [0, 1].
func (v Value) String() string {
	switch v.Kind {
	case IntKind:
		return strconv.Itoa(v.Int)
	case NumberKind:
		return FormatNumber(v.Num)
	case BoolKind:
		return strconv.FormatBool(v.Bool)
	case WordKind:
		return strings.Join(v.Words, " | ")
	case IntListKind:
		parts := make([]string, len(v.Ints))
		for i, n := range v.Ints {
			parts[i] = strconv.Itoa(n)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case WordListKind:
		return "[" + strings.Join(v.Words, ", ") + "]"
	}
	return "?"
}

// Equal reports whether v and w are the same value; an empty list equals
// a nil one.
func (v Value) Equal(w Value) bool {
	return v.Kind == w.Kind && v.Int == w.Int && v.Num == w.Num && v.Bool == w.Bool &&
		slices.Equal(v.Words, w.Words) && slices.Equal(v.Ints, w.Ints)
}

// FormatNumber formats f in its shortest exact form, without an exponent
// unless it is very large or very small, as .moe and moec show write
// numbers.
func FormatNumber(f float64) string {
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e21) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// A KeyDef is one row of the key table: a key of a block, the form of its
// value, and how the value is stored in and read from a Spec.
type KeyDef struct {
	Block string    // "cache"
	Name  string    // "capacity"
	Kind  ValueKind // the form of the value
	Cond  bool      // may take a conditional value "D : W when ..."
	Pipe  bool      // may be a composition "A | B"
	What  string    // what the value's words name, in messages ("prefetch strategy"); "" without words

	// Group and Unset lay out a one-line-per-concern summary of a block
	// (moec show): a block's keys go on one line per Group, in table
	// order, and a key that holds no value (ttl not written) is shown as
	// Unset ("off", "unset").
	Group int
	Unset string

	words []string                  // the words the value may use
	get   func(*Spec) (Value, bool) // called only when the Spec has the block
	set   func(*Spec, Value) error  // called with a value of the key's kind and words
}

// Path returns the key as Spec.KeyPos and Violation.Fields name it:
// "cache.capacity".
func (k KeyDef) Path() string { return k.Block + "." + k.Name }

// Words returns the words the key's value may use, for WordKind and
// WordListKind keys.
func (k KeyDef) Words() []string { return slices.Clone(k.words) }

// Get returns the value the key holds in s, and false when it holds none:
// s has no such block (no monitor), or the key is off (ttl, memory
// pressure) or unset (cpu_expert_ms, total_budget written as 0).
func (k KeyDef) Get(s *Spec) (Value, bool) {
	if k.get == nil || !HasBlock(s, k.Block) {
		return Value{}, false
	}
	return k.get(s)
}

// Set stores v as the key's value in s, giving s the key's block (at its
// defaults) if it has none, exactly as writing "key = v" in .moe does. It
// returns an error, and changes nothing, for a value of another kind or
// with a word the key does not take; for cpu_expert_ms written as 0, which
// would read back as unset, it stores the value and returns the
// Violation of rule M11.
func (k KeyDef) Set(s *Spec, v Value) error {
	if err := k.check(v); err != nil {
		return err
	}
	OpenBlock(s, k.Block)
	return k.set(s, v)
}

// check reports whether v is of the key's kind and uses its words.
func (k KeyDef) check(v Value) error {
	if k.set == nil {
		return fmt.Errorf("unknown key %q", k.Path())
	}
	if v.Kind != k.Kind {
		return fmt.Errorf("%s %s: want %s, have %s", k.Block, k.Name, word(kindNames[:], int(k.Kind)), word(kindNames[:], int(v.Kind)))
	}
	if v.Kind == WordKind && !(len(v.Words) == 1 || len(v.Words) == 2 && k.Pipe) {
		return fmt.Errorf("%s %s: want one word, have %d", k.Block, k.Name, len(v.Words))
	}
	for _, w := range v.Words {
		if !slices.Contains(k.words, w) {
			return fmt.Errorf("unknown %s %q", k.What, w)
		}
	}
	return nil
}

var kindNames = [...]string{IntKind: "an integer", NumberKind: "a number", WordKind: "a word", BoolKind: "true or false",
	IntListKind: "a list of integers", WordListKind: "a list of words"}

// Target returns the target of the adapt action "NAME = VALUE" that sets
// the key, if there is one.
func (k KeyDef) Target() (Target, bool) {
	for t, info := range targetTable {
		if !info.command && info.key == k.Path() {
			return Target(t), true
		}
	}
	return 0, false
}

// Action returns the adapt action that sets the key to v: what a
// conditional value's W or an action "NAME = VALUE" does.
func (k KeyDef) Action(v Value) (Action, error) {
	t, ok := k.Target()
	if !ok {
		return Action{}, fmt.Errorf("%s %s cannot be set by an adapt action", k.Block, k.Name)
	}
	if err := k.check(v); err != nil {
		return Action{}, err
	}
	a := Action{Target: t}
	switch t {
	case SetEviction:
		a.Eviction, a.Primary, a.Second = parseTiers(v.Words)
	case SetCapacity, SetBudget:
		a.Int = v.Int
	case SetDecay:
		a.Float = v.Num
	case SetStrategy:
		a.Strategy, _ = ParsePrefetchStrategy(v.Words[0])
	case SetMode:
		a.Mode, _ = ParseScheduleMode(v.Words[0])
	}
	return a, nil
}

// Value returns the value an action "NAME = VALUE" gives its key; false
// for the commands trigger and rebalance.
func (a Action) Value() (Value, bool) {
	switch a.Target {
	case SetEviction:
		if a.Eviction == Fallback {
			return PipeValue(a.Primary.String(), a.Second.String()), true
		}
		return WordValue(a.Eviction.String()), true
	case SetCapacity, SetBudget:
		return IntValue(a.Int), true
	case SetDecay:
		return NumberValue(a.Float), true
	case SetStrategy:
		return WordValue(a.Strategy.String()), true
	case SetMode:
		return WordValue(a.Mode.String()), true
	}
	return Value{}, false
}

// parseTiers returns the eviction that checked words spell: one order, or
// Fallback with its two tiers. "fallback" alone is lfu | lru, as in the
// reference.
func parseTiers(words []string) (e, primary, secondary Eviction) {
	e, _ = ParseEviction(words[0])
	switch {
	case len(words) == 2:
		primary = e
		secondary, _ = ParseEviction(words[1])
		return Fallback, primary, secondary
	case e == Fallback:
		return Fallback, LFU, LRU
	}
	return e, 0, 0
}

// keyTable is the key table, block by block in the order of blockTable,
// each block's keys in the order of the grammar (parser/doc.go) except
// that ttl comes before expert_size_gb, so that each Group reads in
// table order.
var keyTable = [...]KeyDef{
	cond(intKey("cache", "capacity", 0, func(s *Spec) *int { return &s.Cache.Capacity })),
	{Block: "cache", Name: "eviction", Kind: WordKind, Cond: true, Pipe: true, What: "eviction", words: evictionWords[:],
		get: func(s *Spec) (Value, bool) {
			c := &s.Cache
			return Action{Target: SetEviction, Eviction: c.Eviction, Primary: c.Primary, Second: c.Secondary}.Value()
		},
		set: func(s *Spec, v Value) error {
			c := &s.Cache
			c.Eviction, c.Primary, c.Secondary = parseTiers(v.Words)
			return nil
		}},
	{Block: "cache", Name: "pin", Kind: IntListKind,
		get: func(s *Spec) (Value, bool) { return IntListValue(slices.Clone(s.Cache.Pin)...), true },
		set: func(s *Spec, v Value) error { s.Cache.Pin = append(make([]int, 0, len(v.Ints)), v.Ints...); return nil }},
	cond(floatKey("cache", "frequency_decay", 1, func(s *Spec) *float64 { return &s.Cache.Decay })),
	floatKey("cache", "freq_threshold", 1, func(s *Spec) *float64 { return &s.Cache.FreqThreshold }),
	intKey("cache", "freq_window", 1, func(s *Spec) *int { return &s.Cache.FreqWindow }),
	floatKey("cache", "score_ema_alpha", 1, func(s *Spec) *float64 { return &s.Cache.ScoreAlpha }),
	{Block: "cache", Name: "memory_threshold", Kind: NumberKind, Group: 2, Unset: "off",
		get: func(s *Spec) (Value, bool) { return NumberValue(s.Cache.MemoryThreshold), s.Cache.MemoryPressure },
		set: func(s *Spec, v Value) error {
			s.Cache.MemoryPressure, s.Cache.MemoryThreshold = true, v.Num
			return nil
		}},
	floatKey("cache", "memory_headroom", 2, func(s *Spec) *float64 { return &s.Cache.MemoryHeadroom }),
	floatKey("cache", "memory_budget_gb", 2, func(s *Spec) *float64 { return &s.Cache.MemoryBudgetGB }),
	{Block: "cache", Name: "ttl", Kind: IntKind, Unset: "off",
		get: func(s *Spec) (Value, bool) { return IntValue(s.Cache.TTL), s.Cache.TTLSet },
		set: func(s *Spec, v Value) error {
			s.Cache.TTLSet, s.Cache.TTL = true, v.Int
			return nil
		}},
	floatKey("cache", "expert_size_gb", 0, func(s *Spec) *float64 { return &s.Cache.ExpertSizeGB }),

	cond(wordKey("prefetch", "strategy", "prefetch strategy", strategyWords[:], func(s *Spec) *PrefetchStrategy { return &s.Prefetch.Strategy })),
	intKey("prefetch", "lookahead", 0, func(s *Spec) *int { return &s.Prefetch.Lookahead }),
	cond(intKey("prefetch", "budget", 0, func(s *Spec) *int { return &s.Prefetch.Budget })),
	floatKey("prefetch", "affinity_threshold", 0, func(s *Spec) *float64 { return &s.Prefetch.AffinityThreshold }),
	intKey("prefetch", "history_window", 0, func(s *Spec) *int { return &s.Prefetch.HistoryWindow }),

	wordKey("schedule", "mode", "schedule mode", modeWords[:], func(s *Spec) *ScheduleMode { return &s.Schedule.Mode }),
	floatKey("schedule", "offload_threshold_ms", 0, func(s *Spec) *float64 { return &s.Schedule.OffloadThresholdMS }),
	boolKey("schedule", "overlap", func(s *Spec) *bool { return &s.Schedule.Overlap }),
	boolKey("schedule", "priority_routing", func(s *Spec) *bool { return &s.Schedule.PriorityRouting }),
	floatKey("schedule", "pcie_gbps", 1, func(s *Spec) *float64 { return &s.Schedule.PCIeGBps }),
	{Block: "schedule", Name: "cpu_expert_ms", Kind: NumberKind, Group: 1, Unset: "unset",
		get: func(s *Spec) (Value, bool) { return NumberValue(s.Schedule.CPUExpertMS), s.Schedule.CPUExpertMS != 0 },
		set: func(s *Spec, v Value) error {
			s.Schedule.CPUExpertMS = v.Num
			if v.Num == 0 {
				// Check cannot tell 0 from unset; this is where 0 is written.
				return Violation{Rule: "M11", Fields: []string{"schedule.cpu_expert_ms"},
					Msg: "schedule cpu_expert_ms 0 must be above 0 when written (rule M11)"}
			}
			return nil
		}},

	{Block: "monitor", Name: "metrics", Kind: WordListKind, What: "metric", words: metricWords[:],
		get: func(s *Spec) (Value, bool) {
			words := make([]string, len(s.Monitor.Metrics))
			for i, m := range s.Monitor.Metrics {
				words[i] = m.String()
			}
			return WordListValue(words...), true
		},
		set: func(s *Spec, v Value) error {
			s.Monitor.Metrics = make([]Metric, len(v.Words))
			for i, w := range v.Words {
				s.Monitor.Metrics[i], _ = ParseMetric(w)
			}
			return nil
		}},
	intKey("monitor", "window", 0, func(s *Spec) *int { return &s.Monitor.Window }),
	intKey("monitor", "log_interval", 0, func(s *Spec) *int { return &s.Monitor.LogInterval }),

	wordKey("per_layer", "allocation", "allocation signal", allocationWords[:], func(s *Spec) *Allocation { return &s.PerLayer.Allocation }),
	intKey("per_layer", "entropy_window", 0, func(s *Spec) *int { return &s.PerLayer.EntropyWindow }),
	intKey("per_layer", "min_capacity", 0, func(s *Spec) *int { return &s.PerLayer.MinCapacity }),
	intKey("per_layer", "max_capacity", 0, func(s *Spec) *int { return &s.PerLayer.MaxCapacity }),
	intKey("per_layer", "rebalance_interval", 1, func(s *Spec) *int { return &s.PerLayer.RebalanceInterval }),
	{Block: "per_layer", Name: "total_budget", Kind: IntKind, Group: 1, Unset: "unset",
		get: func(s *Spec) (Value, bool) { return IntValue(s.PerLayer.TotalBudget), s.PerLayer.TotalBudget != 0 },
		set: func(s *Spec, v Value) error { s.PerLayer.TotalBudget = v.Int; return nil }},

	intKey("adapt", "cooldown", 0, func(s *Spec) *int { return &s.Adapt.Cooldown }),
}

// cond returns k, which may take a conditional value.
func cond(k KeyDef) KeyDef {
	k.Cond = true
	return k
}

func intKey(block, name string, group int, field func(*Spec) *int) KeyDef {
	return KeyDef{Block: block, Name: name, Kind: IntKind, Group: group,
		get: func(s *Spec) (Value, bool) { return IntValue(*field(s)), true },
		set: func(s *Spec, v Value) error { *field(s) = v.Int; return nil }}
}

func floatKey(block, name string, group int, field func(*Spec) *float64) KeyDef {
	return KeyDef{Block: block, Name: name, Kind: NumberKind, Group: group,
		get: func(s *Spec) (Value, bool) { return NumberValue(*field(s)), true },
		set: func(s *Spec, v Value) error { *field(s) = v.Num; return nil }}
}

func boolKey(block, name string, field func(*Spec) *bool) KeyDef {
	return KeyDef{Block: block, Name: name, Kind: BoolKind,
		get: func(s *Spec) (Value, bool) { return BoolValue(*field(s)), true },
		set: func(s *Spec, v Value) error { *field(s) = v.Bool; return nil }}
}

func wordKey[T ~uint8](block, name, what string, words []string, field func(*Spec) *T) KeyDef {
	return KeyDef{Block: block, Name: name, Kind: WordKind, What: what, words: words,
		get: func(s *Spec) (Value, bool) { return WordValue(word(words, int(*field(s)))), true },
		set: func(s *Spec, v Value) error { *field(s), _ = lookup[T](words, v.Words[0]); return nil }}
}

// blockTable lists the blocks in the order they are written.
var blockTable = [...]struct {
	name string
	has  func(*Spec) bool // nil: every Spec has the block
	open func(*Spec)      // gives a Spec that lacks the block its defaults
}{
	{name: "cache"},
	{name: "prefetch"},
	{name: "schedule"},
	{name: "monitor", has: func(s *Spec) bool { return s.Monitor != nil }, open: func(s *Spec) { s.Monitor = DefaultMonitor() }},
	{name: "per_layer", has: func(s *Spec) bool { return s.PerLayer != nil }, open: func(s *Spec) { s.PerLayer = DefaultPerLayer() }},
	{name: "adapt"},
}

// Blocks returns the names of the blocks, in the order they are written.
func Blocks() []string {
	names := make([]string, len(blockTable))
	for i, b := range blockTable {
		names[i] = b.name
	}
	return names
}

// IsBlock reports whether name is a block.
func IsBlock(name string) bool { return slices.Contains(Blocks(), name) }

// HasBlock reports whether s has the block called name: every Spec has
// cache, prefetch, schedule and adapt; monitor and per_layer only when
// written.
func HasBlock(s *Spec, name string) bool {
	for _, b := range blockTable {
		if b.name == name {
			return b.has == nil || b.has(s)
		}
	}
	return false
}

// OpenBlock gives s the block called name, as writing it in .moe does: a
// monitor or per_layer block that s lacks starts from its defaults
// (DefaultMonitor, DefaultPerLayer); any other block is always there.
func OpenBlock(s *Spec, name string) {
	for _, b := range blockTable {
		if b.name == name && b.has != nil && !b.has(s) {
			b.open(s)
		}
	}
}

// Keys returns the keys of block, in table order.
func Keys(block string) []KeyDef {
	var keys []KeyDef
	for _, k := range keyTable {
		if k.Block == block {
			keys = append(keys, k)
		}
	}
	return keys
}

// LookupKey returns the key called name in block.
func LookupKey(block, name string) (KeyDef, bool) {
	for _, k := range keyTable {
		if k.Block == block && k.Name == name {
			return k, true
		}
	}
	return KeyDef{}, false
}

// LookupPath returns the key that path names, as Spec.KeyPos does:
// "cache.capacity".
func LookupPath(path string) (KeyDef, bool) {
	block, name, _ := strings.Cut(path, ".")
	return LookupKey(block, name)
}

// CondKeys lists the keys that take a conditional value, as messages
// name them: "capacity, eviction, frequency_decay, strategy and budget".
func CondKeys() string { return listKeys(func(k KeyDef) bool { return k.Cond }) }

// PipeKeys lists the keys that may be a composition "A | B", as messages
// name them: "eviction".
func PipeKeys() string { return listKeys(func(k KeyDef) bool { return k.Pipe }) }

func listKeys(match func(KeyDef) bool) string {
	var names []string
	for _, k := range keyTable {
		if match(k) {
			names = append(names, k.Name)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// targetInfo says what an adapt action target sets.
type targetInfo struct {
	key     string // the key it sets, as a KeyPos key; "" for Rebalance
	alias   string // the reference's IR name for it, also accepted in actions
	command bool   // written "trigger memory_pressure" or "rebalance SIGNAL", not "NAME = VALUE"
}

// name returns the name of the key the target sets.
func (t targetInfo) name() string {
	_, name, _ := strings.Cut(t.key, ".")
	return name
}

var targetTable = [...]targetInfo{
	SetEviction:           {key: "cache.eviction"},
	SetCapacity:           {key: "cache.capacity"},
	SetDecay:              {key: "cache.frequency_decay", alias: "lfu_decay"},
	SetStrategy:           {key: "prefetch.strategy", alias: "prefetch_strategy"},
	SetBudget:             {key: "prefetch.budget", alias: "prefetch_budget"},
	SetMode:               {key: "schedule.mode", alias: "schedule_mode"},
	TriggerMemoryPressure: {key: "cache.memory_threshold", command: true},
	Rebalance:             {command: true},
}

// Key returns the value a target sets, as a Spec.KeyPos key
// ("cache.capacity"), or "" for Rebalance, which sets none.
func (t Target) Key() string {
	if int(t) < len(targetTable) {
		return targetTable[t].key
	}
	return "?"
}

// ParseTarget returns the target of the adapt action "name = VALUE", name
// being the key's name or the reference's name for it ("lfu_decay").
func ParseTarget(name string) (Target, bool) {
	for t, info := range targetTable {
		if !info.command && name != "" && (name == info.name() || name == info.alias) {
			return Target(t), true
		}
	}
	return 0, false
}

// TargetNames returns the names ParseTarget accepts, in target order, each
// key's name before the reference's name for it.
func TargetNames() []string {
	var names []string
	for _, info := range targetTable {
		if info.command {
			continue
		}
		names = append(names, info.name())
		if info.alias != "" {
			names = append(names, info.alias)
		}
	}
	return names
}
