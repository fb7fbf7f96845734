package rt

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

// fullSpec returns a policy with every block, at its defaults.
func fullSpec() *Spec {
	s := NewSpec("p", 8)
	for _, b := range Blocks() {
		OpenBlock(s, b)
	}
	return s
}

// sampleValues returns values of k's kind that it may take: every word,
// and for the other kinds a value that differs from every default.
func sampleValues(k KeyDef) []Value {
	switch k.Kind {
	case IntKind:
		return []Value{IntValue(3), IntValue(7)}
	case NumberKind:
		return []Value{NumberValue(0.5), NumberValue(0.25)}
	case BoolKind:
		return []Value{BoolValue(false), BoolValue(true)}
	case WordKind:
		var vs []Value
		for _, w := range k.Words() {
			vs = append(vs, WordValue(w))
		}
		if k.Pipe {
			vs = append(vs, PipeValue(k.words[1], k.words[0]))
		}
		return vs
	case IntListKind:
		return []Value{IntListValue(), IntListValue(0, 3)}
	case WordListKind:
		return []Value{WordListValue(), WordListValue(k.words[len(k.words)-1], k.words[0])}
	}
	return nil
}

// TestKeyTable checks the table's shape: every key in a known block, the
// blocks' keys together and in block order, no key twice, words exactly
// for the kinds that have them, and an Unset word exactly for the keys
// that can hold no value.
func TestKeyTable(t *testing.T) {
	blocks := Blocks()
	last, seen := 0, map[string]bool{}
	for _, k := range keyTable {
		i := slices.Index(blocks, k.Block)
		if i < last {
			t.Errorf("%s: block %q out of order", k.Path(), k.Block)
		}
		last = i
		if seen[k.Path()] {
			t.Errorf("%s: twice in the table", k.Path())
		}
		seen[k.Path()] = true
		if got, ok := LookupPath(k.Path()); !ok || got.Name != k.Name {
			t.Errorf("LookupPath(%q) = %v, %v", k.Path(), got.Name, ok)
		}
		hasWords := k.Kind == WordKind || k.Kind == WordListKind
		if hasWords != (len(k.words) > 0) || hasWords != (k.What != "") {
			t.Errorf("%s: kind %d with words %v, what %q", k.Path(), k.Kind, k.words, k.What)
		}
		if k.Pipe && k.Kind != WordKind {
			t.Errorf("%s: a composition of a kind %d", k.Path(), k.Kind)
		}
	}
	for _, b := range blocks {
		if b != "adapt" && len(Keys(b)) == 0 {
			t.Errorf("block %q has no keys", b)
		}
	}
}

// TestKeyGetSet checks every key both ways: the defaults read back into a
// Spec change nothing, each sample value set reads back as itself, and a
// key that reads as holding no value has an Unset word.
func TestKeyGetSet(t *testing.T) {
	for _, k := range keyTable {
		s := fullSpec()
		v, ok := k.Get(s)
		if !ok && k.Unset == "" {
			t.Errorf("%s: holds no value by default but has no Unset word", k.Path())
		}
		if ok {
			want := s.Clone()
			if err := k.Set(s, v); err != nil {
				t.Errorf("%s: Set(default %v): %v", k.Path(), v, err)
			}
			if !reflect.DeepEqual(want, s.Clone()) {
				t.Errorf("%s: setting the default %v changed the Spec", k.Path(), v)
			}
		}
		for _, v := range sampleValues(k) {
			s := fullSpec()
			if err := k.Set(s, v); err != nil {
				t.Errorf("%s: Set(%v): %v", k.Path(), v, err)
				continue
			}
			got, ok := k.Get(s)
			want := v
			if k.Path() == "cache.eviction" && v.Words[0] == "fallback" {
				want = PipeValue("lfu", "lru") // "fallback" alone
			}
			if !ok || !got.Equal(want) {
				t.Errorf("%s: Set(%v) reads back as %v, %v", k.Path(), v, got, ok)
			}
		}
	}
}

// TestKeySetErrors checks that Set rejects what the key cannot take and
// then leaves the Spec alone, and that it opens a missing block.
func TestKeySetErrors(t *testing.T) {
	capacity, _ := LookupKey("cache", "capacity")
	eviction, _ := LookupKey("cache", "eviction")
	strategy, _ := LookupKey("prefetch", "strategy")
	metrics, _ := LookupKey("monitor", "metrics")
	for _, tc := range []struct {
		k    KeyDef
		v    Value
		want string
	}{
		{capacity, NumberValue(1.5), "cache capacity: want an integer, have a number"},
		{capacity, Value{Kind: 99}, "cache capacity: want an integer, have ?"},
		{eviction, WordValue("mru"), `unknown eviction "mru"`},
		{strategy, PipeValue("history", "none"), "prefetch strategy: want one word, have 2"},
		{eviction, Value{Kind: WordKind}, "cache eviction: want one word, have 0"},
		{metrics, WordListValue("hit_rate", "speed"), `unknown metric "speed"`},
		{KeyDef{}, IntValue(1), `unknown key "."`},
	} {
		s := NewSpec("p", 8)
		err := tc.k.Set(s, tc.v)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s.Set(%v) = %v, want %q", tc.k.Path(), tc.v, err, tc.want)
		}
		if !reflect.DeepEqual(s, NewSpec("p", 8)) {
			t.Errorf("%s.Set(%v) changed the Spec", tc.k.Path(), tc.v)
		}
	}

	cpu, _ := LookupKey("schedule", "cpu_expert_ms")
	var v Violation
	if err := cpu.Set(NewSpec("p", 8), NumberValue(0)); !errors.As(err, &v) || v.Rule != "M11" {
		t.Errorf("cpu_expert_ms = 0: %v, want a violation of M11", err)
	}

	window, _ := LookupKey("monitor", "window")
	s := NewSpec("p", 8)
	if _, ok := window.Get(s); ok {
		t.Errorf("monitor window of a Spec without a monitor holds a value")
	}
	if err := window.Set(s, IntValue(7)); err != nil || s.Monitor == nil || s.Monitor.Window != 7 || s.Monitor.LogInterval != DefaultMonitorLogInterval {
		t.Errorf("Set opened the monitor as %+v, %v", s.Monitor, err)
	}
}

// TestKeyActions checks that the action a key's value makes sets the key
// as Set does, and reads back as the value; and that only the keys of the
// targets have actions.
func TestKeyActions(t *testing.T) {
	for _, k := range keyTable {
		target, ok := k.Target()
		if !ok {
			if _, err := k.Action(IntValue(1)); err == nil {
				t.Errorf("%s: an action without a target", k.Path())
			}
			if k.Cond {
				t.Errorf("%s: a conditional value without an action target", k.Path())
			}
			continue
		}
		if target.Key() != k.Path() {
			t.Errorf("%s: target %v sets %q", k.Path(), target, target.Key())
		}
		for _, v := range sampleValues(k) {
			a, err := k.Action(v)
			if err != nil {
				t.Errorf("%s: Action(%v): %v", k.Path(), v, err)
				continue
			}
			want := fullSpec()
			if err := k.Set(want, v); err != nil {
				t.Fatal(err)
			}
			if got := a.Apply(fullSpec()); !reflect.DeepEqual(want.Clone(), got) {
				t.Errorf("%s: %v applied differs from Set(%v)", k.Path(), a, v)
			}
			back, ok := a.Value()
			if wantV, _ := k.Get(want); !ok || !back.Equal(wantV) {
				t.Errorf("%s: %v has the value %v, want %v", k.Path(), a, back, wantV)
			}
		}
	}
}

// TestTargets checks the targets against the table: each sets a key of
// it, and the names an action may use.
func TestTargets(t *testing.T) {
	for tg := range targetTable {
		target := Target(tg)
		key := target.Key()
		if target == Rebalance {
			if key != "" {
				t.Errorf("rebalance sets %q", key)
			}
			continue
		}
		if _, ok := LookupPath(key); !ok {
			t.Errorf("%v sets %q, which is not in the key table", target, key)
		}
	}
	want := []string{"eviction", "capacity", "frequency_decay", "lfu_decay", "strategy",
		"prefetch_strategy", "budget", "prefetch_budget", "mode", "schedule_mode"}
	if got := TargetNames(); !slices.Equal(got, want) {
		t.Errorf("TargetNames() = %v, want %v", got, want)
	}
	for name, want := range map[string]Target{"lfu_decay": SetDecay, "capacity": SetCapacity, "mode": SetMode} {
		if got, ok := ParseTarget(name); !ok || got != want {
			t.Errorf("ParseTarget(%q) = %v, %v", name, got, ok)
		}
	}
	for _, name := range []string{"", "memory_threshold", "rebalance", "trigger", "pin"} {
		if got, ok := ParseTarget(name); ok {
			t.Errorf("ParseTarget(%q) = %v", name, got)
		}
	}
	if got := Target(200).Key(); got != "?" {
		t.Errorf("Target(200).Key() = %q", got)
	}
	if got, want := CondKeys(), "capacity, eviction, frequency_decay, strategy and budget"; got != want {
		t.Errorf("CondKeys() = %q, want %q", got, want)
	}
	if got := PipeKeys(); got != "eviction" {
		t.Errorf("PipeKeys() = %q", got)
	}
}

func TestBlocks(t *testing.T) {
	s := NewSpec("p", 8)
	for _, b := range Blocks() {
		optional := b == "monitor" || b == "per_layer"
		if HasBlock(s, b) == optional {
			t.Errorf("HasBlock(new Spec, %q) = %v", b, !optional)
		}
		OpenBlock(s, b)
		if !HasBlock(s, b) || !IsBlock(b) {
			t.Errorf("%q: not there after OpenBlock", b)
		}
	}
	s.Monitor.Window = 7
	OpenBlock(s, "monitor")
	if s.Monitor.Window != 7 {
		t.Errorf("OpenBlock reset an open block")
	}
	if IsBlock("bogus") || HasBlock(s, "bogus") {
		t.Errorf("bogus is a block")
	}
}

func TestValueString(t *testing.T) {
	for _, tc := range []struct {
		v    Value
		want string
	}{
		{IntValue(16), "16"},
		{NumberValue(0.9), "0.9"},
		{NumberValue(1e6), "1000000"},
		{NumberValue(1e-5), "1e-05"},
		{NumberValue(1e21), "1e+21"},
		{BoolValue(true), "true"},
		{WordValue("lfu"), "lfu"},
		{PipeValue("lfu", "lru"), "lfu | lru"},
		{IntListValue(), "[]"},
		{IntListValue(0, 1), "[0, 1]"},
		{WordListValue("hit_rate", "latency"), "[hit_rate, latency]"},
		{Value{Kind: 42}, "?"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.v, got, tc.want)
		}
	}
	if !IntListValue().Equal(Value{Kind: IntListKind, Ints: []int{}}) || IntValue(1).Equal(NumberValue(1)) {
		t.Errorf("Equal is wrong about empty lists or kinds")
	}
}
