// Package policy builds MoE expert-offloading policies in Go: the same
// rt.Spec a .moe file resolves to, checked by the same rules.
//
// A policy is New's name plus one option per block, each block taking
// options for its keys, named after the .moe keys:
//
//	spec, err := policy.New("balanced",
//		policy.Cache(16, policy.Eviction(rt.LFU), policy.Decay(0.9)),
//		policy.Prefetch(rt.History, policy.Budget(4)),
//		policy.Schedule(rt.Hybrid),
//		policy.Adapt(
//			policy.When(rt.HitRate, rt.LT, 0.4).For(100).Then(policy.SetEviction(rt.LRU)),
//		),
//	)
//
// is the policy
//
//	policy balanced {
//	    cache { capacity = 16  eviction = lfu  frequency_decay = 0.9 }
//	    prefetch { strategy = history  budget = 4 }
//	    schedule { mode = hybrid }
//	    adapt { when hit_rate < 0.4 for 100 accesses { eviction = lru } }
//	}
//
// Enumerations are rt's own types (rt.LFU, rt.History, rt.Hybrid,
// rt.Entropy, rt.HitRate, rt.LT), and adapt actions are rt.Actions made
// by SetEviction, SetCapacity, SetDecay, SetStrategy, SetBudget, SetMode,
// TriggerMemoryPressure and Rebalance.
//
// # The language, key by key
//
// The cache block's capacity and the prefetch block's strategy and the
// schedule block's mode are the arguments of Cache, Prefetch and
// Schedule; every other key is an option of its block. "eviction = A | B"
// is Tiers(A, B). Key sets any key of rt's key table by its .moe name,
// Key("ttl", rt.IntValue(200)) being TTL(200): the options named after
// keys are shorthands for it, and every key, a new one too, has it. A conditional value "capacity = 8 : 16 when hit_rate <
// 0.5" is the block's plain value plus a method of the condition:
//
//	policy.Cache(8, policy.When(rt.HitRate, rt.LT, 0.5).Capacity(16))
//
// Capacity, Eviction, Decay, Strategy and Budget have such methods, as
// the keys that take a conditional value in .moe do. Each becomes an
// implicit adapt rule (window 1), in the order the options are given,
// block by block, and all of them come before the rules of the Adapt
// block, as sema orders them.
//
// # Defaults and validity
//
// The Spec starts as rt.NewSpec; a Monitor or PerLayer block starts from
// rt.DefaultMonitor or rt.DefaultPerLayer; what no option sets keeps its
// default, exactly as a key that is not written in .moe. New then runs
// rt.Spec.Check, the rules implemented once for every front end, and
// checks each adapt rule and conditional value by applying its actions
// and checking the result, as sema does. An invalid policy gives an
// *Error holding every violation with its rule code; sema's structure
// errors (a missing cache block, a duplicate block, a duplicate key, a
// value outside its enumeration, a monitor-only metric in a condition, a
// duplicate action target in a rule) carry the code "structure".
//
// A Spec built in Go has no positions: Pos is zero, KeyPos nil, Source
// empty, and so are the Pos of its rules and actions.
//
// # Back to .moe
//
// Format writes a Spec, built here or resolved by sema, as the .moe file
// that resolves to it, in the layout of moec fmt: moec auto and moec tune
// write their policies with it.
package policy
