package parser

// The grammar's tables: which blocks exist and which keys each takes, with
// the form of its value. The parser knows them so that it can read like the
// grammar, reject an unknown key where it is written, and resynchronise at
// the next key after an error. Whether an enum word means anything is not
// decided here but in package sema.

// valueKind is the form of a key's value.
type valueKind int

const (
	intValue  valueKind = iota // INT
	numValue                   // NUMBER (an INT is a number too)
	enumValue                  // a word [a-z_]+
	boolValue                  // true or false
	intList                    // [INT, ...]
	nameList                   // [NAME, ...]
)

// keySpec says how a key's value is written.
type keySpec struct {
	name string
	kind valueKind
	cond bool // may be a conditional value "D : W when ..."
	pipe bool // may be a composition "A | B"
}

var blockNames = []string{"cache", "prefetch", "schedule", "monitor", "adapt", "per_layer"}

var blockKeys = map[string][]keySpec{
	"cache": {
		{name: "capacity", kind: intValue, cond: true},
		{name: "eviction", kind: enumValue, cond: true, pipe: true},
		{name: "pin", kind: intList},
		{name: "frequency_decay", kind: numValue, cond: true},
		{name: "freq_threshold", kind: numValue},
		{name: "freq_window", kind: intValue},
		{name: "score_ema_alpha", kind: numValue},
		{name: "memory_threshold", kind: numValue},
		{name: "memory_headroom", kind: numValue},
		{name: "memory_budget_gb", kind: numValue},
		{name: "expert_size_gb", kind: numValue},
		{name: "ttl", kind: intValue},
	},
	"prefetch": {
		{name: "strategy", kind: enumValue, cond: true},
		{name: "lookahead", kind: intValue},
		{name: "budget", kind: intValue, cond: true},
		{name: "affinity_threshold", kind: numValue},
		{name: "history_window", kind: intValue},
	},
	"schedule": {
		{name: "mode", kind: enumValue},
		{name: "offload_threshold_ms", kind: numValue},
		{name: "overlap", kind: boolValue},
		{name: "priority_routing", kind: boolValue},
		{name: "pcie_gbps", kind: numValue},
		{name: "cpu_expert_ms", kind: numValue},
	},
	"monitor": {
		{name: "metrics", kind: nameList},
		{name: "window", kind: intValue},
		{name: "log_interval", kind: intValue},
	},
	"adapt": {
		{name: "cooldown", kind: intValue},
	},
	"per_layer": {
		{name: "allocation", kind: enumValue},
		{name: "entropy_window", kind: intValue},
		{name: "min_capacity", kind: intValue},
		{name: "max_capacity", kind: intValue},
		{name: "rebalance_interval", kind: intValue},
		{name: "total_budget", kind: intValue},
	},
}

func isBlockName(s string) bool {
	for _, b := range blockNames {
		if b == s {
			return true
		}
	}
	return false
}

// lookupKey returns the spec of key in block.
func lookupKey(block, key string) (keySpec, bool) {
	for _, k := range blockKeys[block] {
		if k.name == key {
			return k, true
		}
	}
	return keySpec{}, false
}

// keyNames returns the keys of block, in table order.
func keyNames(block string) []string {
	var names []string
	for _, k := range blockKeys[block] {
		names = append(names, k.name)
	}
	if block == "adapt" {
		names = append(names, "when")
	}
	return names
}

// blockOfKey returns the block that takes key, if any.
func blockOfKey(key string) string {
	for _, b := range blockNames {
		if _, ok := lookupKey(b, key); ok {
			return b
		}
	}
	return ""
}
