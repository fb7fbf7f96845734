// Package parser reads .moe files into syntax trees.
//
// It is a hand-written recursive-descent parser with one token of
// lookahead. Each parseX method carries the production it reads as a
// comment. The parser knows the grammar's tables (the blocks and the keys
// each takes, with the form of their values) so that it can reject an
// unknown key where it is written; whether a word means anything (is "mru"
// an eviction order?) is left to package sema.
//
// Errors do not stop the parse. After an error the parser resumes at an
// anchor — the next key of the block, the next block, the next policy, or
// the "}" that closes the construct — leaves a Bad node for what it
// skipped, and drops a second error on the same line, which is nearly
// always a consequence of the first. Every loop consumes a token or ends,
// so the parser terminates on any input, and it never panics.
//
// # Grammar
//
// The grammar of the reference implementation (MoE-PolicyLang 1.0), with
// moec's extensions marked (+). {x} is zero or more, [x] optional, ";" is
// ignored everywhere, comments run from "#" to the end of the line. Block
// names and keys are keywords only where the grammar expects them: a policy
// may be called "cache".
//
//	file       = [ "version" NUMBER ] policy { policy } .
//	policy     = "policy" NAME "{" block { block } "}" .
//	block      = cache | prefetch | schedule | monitor | adapt | per_layer .
//
//	cache      = "cache" "{" cache_item { cache_item } "}" .
//	cache_item = "capacity" "=" INT [ ":" INT cond ]
//	           | "eviction" "=" WORD [ "|" WORD | ":" WORD cond ]
//	           | "pin" "=" int_list
//	           | "frequency_decay" "=" NUMBER [ ":" NUMBER cond ]
//	           | "freq_threshold" "=" NUMBER
//	           | "freq_window" "=" INT
//	           | "score_ema_alpha" "=" NUMBER
//	           | "memory_threshold" "=" NUMBER
//	           | "memory_headroom" "=" NUMBER
//	           | "memory_budget_gb" "=" NUMBER
//	           | "expert_size_gb" "=" NUMBER
//	           | "ttl" "=" INT .
//
//	prefetch   = "prefetch" "{" pf_item { pf_item } "}" .
//	pf_item    = "strategy" "=" WORD [ ":" WORD cond ]
//	           | "lookahead" "=" INT
//	           | "budget" "=" INT [ ":" INT cond ]
//	           | "affinity_threshold" "=" NUMBER
//	           | "history_window" "=" INT .
//
//	schedule   = "schedule" "{" sc_item { sc_item } "}" .
//	sc_item    = "mode" "=" WORD
//	           | "offload_threshold_ms" "=" NUMBER
//	           | "overlap" "=" BOOL
//	           | "priority_routing" "=" BOOL
//	           | "pcie_gbps" "=" NUMBER          (+)
//	           | "cpu_expert_ms" "=" NUMBER .    (+)
//
//	monitor    = "monitor" "{" mon_item { mon_item } "}" .
//	mon_item   = "metrics" "=" name_list | "window" "=" INT | "log_interval" "=" INT .
//
//	adapt      = "adapt" "{" adapt_item { adapt_item } "}" .
//	adapt_item = rule
//	           | "cooldown" "=" INT .            (+)
//	rule       = cond [ "for" INT "accesses" ] "{" action { action } "}" .   (+ several actions)
//	action     = NAME "=" ( WORD | NUMBER )
//	           | "trigger" WORD
//	           | "rebalance" WORD .
//
//	per_layer  = "per_layer" "{" pl_item { pl_item } "}" .
//	pl_item    = "allocation" "=" WORD
//	           | "entropy_window" "=" INT
//	           | "min_capacity" "=" INT
//	           | "max_capacity" "=" INT
//	           | "rebalance_interval" "=" INT
//	           | "total_budget" "=" INT .
//
//	cond       = "when" NAME CMP NUMBER .
//	int_list   = "[" [ INT { "," INT } ] "]" .
//	name_list  = "[" [ NAME { "," NAME } ] "]" .
//
// Tokens:
//
//	NAME   = letter { letter | digit } .       letter = "A"…"Z" | "a"…"z" | "_"
//	WORD   = ( "a"…"z" | "_" ) { "a"…"z" | "_" } .
//	BOOL   = "true" | "false" .
//	INT    = digit { digit } .
//	NUMBER = INT | INT "." [ INT ] [ exp ] | "." INT [ exp ] | INT exp .
//	exp    = ( "e" | "E" ) [ "+" | "-" ] INT .
//	CMP    = "<" | ">" | "<=" | ">=" | "!=" .
//
// Where the grammar says NUMBER, an INT is a number too; where it says
// INT, a NUMBER is an error ("capacity = 16.0"). There are no strings, no
// signs and no "==".
package parser
