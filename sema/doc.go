// Package sema checks parsed .moe files and resolves each policy into an
// rt.Spec, the plain-data policy that the interpreter, the code generator
// and the replay tools consume.
//
// # Passes
//
// Check reads a file's version line, then each policy on its own, in four
// passes. A policy named as an earlier one of the same file is a structure
// error at its name, with the first as a related position (commands pick
// a policy by name), and is checked all the same:
//
//  1. Blocks and keys. Each block is read in source order; a second block of
//     the same name, or a second key in a block, is a structure error (at the
//     second one, with the first as a related position) and its values are
//     checked but not used. Every value is read with the type its key
//     demands in rt's key table, enumeration words are looked up in rt's
//     word tables, and the value lands, through the table, in a Spec that
//     started as rt.NewSpec: whatever is not written keeps its default. A
//     conditional value "D : W when m op t" puts D in the Spec and appends
//     an implicit adapt rule (window 1) whose action sets W; implicit
//     rules come block by block, in source order. A missing cache block or
//     capacity is reported here.
//  2. Adapt rules. The rules of the adapt block are read after all other
//     blocks (a rebalance needs to know whether there is a per_layer
//     block) and appended after the implicit rules, whatever the order of
//     the blocks: this is the reference's order.
//  3. Rules. rt.Spec.Check runs on the resolved policy; each violation is
//     reported at the first of its values that was written (the prefetch
//     budget before the cache capacity for rule 10, so a default budget of 4
//     above a capacity of 2 is reported at the capacity), else at the cache
//     block's or the policy's name.
//  4. Actions. Each adapt rule's actions are applied together, and each
//     conditional value's W on its own, to the resolved policy, and the
//     result is checked: every rule it breaks that the policy did not is
//     reported at the action's value, with that rule's code.
//
// # Default and valid
//
// A default is the value rt.NewSpec, rt.DefaultMonitor or rt.DefaultPerLayer
// gives a key that is not written: the reference's defaults (§3.1), plus
// allocation = uniform, pcie_gbps = 25, cpu_expert_ms unset and cooldown =
// 50. A monitor or per_layer block that is absent leaves Spec.Monitor or
// Spec.PerLayer nil; one that is present starts from those defaults.
//
// A policy is valid when it has no structure error, breaks none of the
// rules below, and every action it may take would leave it valid. Actions
// are checked against the policy as written, not against what earlier
// actions may have made of it at run time.
//
// # Cross-field rules
//
// The reference's rules that tie two values together: the prefetch budget
// must not exceed the cache capacity, whatever the strategy (rule 10), so a
// capacity below 4 needs an explicit budget; pins, duplicates counted, must
// fit the capacity (rule 3); hybrid mode needs overlap = true (rule 14);
// score eviction needs a prefetch strategy (rule 15, not looking inside a
// fallback); with memory pressure on, the headroom must not exceed the
// threshold (rule 17). moec adds: per_layer min_capacity <= max_capacity
// (M10), and every action must keep all of them true.
//
// # No cascades
//
// Check skips the Bad nodes the parser left, silently: the parser has
// reported them. A key whose value was bad, unreadable or an unknown word
// is remembered, and no rule is reported about it; a missing cache block
// or capacity makes the capacity such a key. So is a default in a block
// where the parser lost an item (or in any block, when it dropped a whole
// block): the lost text may have set it. A rule whose actions are not all
// well-formed is not validated as a whole. A rule broken about a value
// that an earlier rule was reported at is dropped, as go/types marks an
// operand invalid once reported (rt.Blamed): capacity = 0 breaks rule 1,
// and rule 10, the budget above that capacity, is not reported too.
//
// # Results
//
// Check returns the Specs of the policies that the parser read completely
// and that have no diagnostic of their own; a caller still treats any
// diagnostic in the file as failure. Diagnostics are sorted by position.
//
// # Rule codes
//
// Each diagnostic carries a code in diag.Diagnostic.Rule:
//
//	syntax     the lexer and the parser; here, a literal too large for its
//	           type ("capacity = 99999999999999999999")
//	structure  missing cache block, missing capacity, duplicate key,
//	           duplicate block, duplicate action target in one rule,
//	           duplicate policy name in one file (at the second name),
//	           unknown enumeration word or metric (with "did you mean" when
//	           a valid word is close, the list of valid words otherwise),
//	           version newer than 1.0
//	R1..R20    the reference's 20 validator rules (rule 1 allows a capacity
//	           up to 65,536); the message names the rule: "(rule 10)"
//	M1         fallback written as one side of A | B
//	M2         unknown adapt action target
//	M3         an action or conditional value of the wrong type
//	           (capacity = lru, eviction = 3, capacity = 1.5, trigger = x)
//	M4         trigger with anything but memory_pressure
//	M5         rebalance without a per_layer block
//	M6         for 0 accesses
//	M7         monitor window = 0
//	M8         monitor log_interval = 0
//	M9         per_layer entropy_window, min_capacity or max_capacity below
//	           1 (total_budget = 0 means unset, rebalance_interval = 0
//	           static)
//	M10        per_layer min_capacity > max_capacity
//	M11        schedule pcie_gbps <= 0, or cpu_expert_ms written as 0
//	M12        a window above rt.MaxWindow (65,536): freq_window,
//	           history_window, monitor window, entropy_window
//
// An action that would make an invalid policy is reported with the code of
// the rule the result breaks:
//
//	adapt action "capacity = 0" would make an invalid policy: cache capacity 0 is out of range [1, 65536] (rule 1)
package sema
