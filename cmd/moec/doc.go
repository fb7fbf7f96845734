// Moec checks, formats, shows and replays MoE-PolicyLang policies: the .moe
// files that say how a Mixture-of-Experts model's expert weights move between
// host memory and a GPU.
//
// Usage:
//
//	moec <command> [arguments]
//
// The commands are:
//
//	check       report every error in .moe files
//	fmt         format .moe files
//	show        print policies resolved, with every default filled in
//	build       compile policies into Go code
//	auto        write a policy that fits a model on a GPU
//	replay      replay routing through a policy and measure it
//	tune        search a grid of policies for the best on a trace
//	sweep       measure policies over a range of cache capacities
//	trace       generate, convert and measure routing traces
//	run         generate tokens with a Hugging Face MoE checkpoint
//	tokenize    turn text into token ids and back
//	version     print moec's version
//
// Use "moec help <command>" for more information about a command.
//
// # Report every error in .moe files
//
// Usage:
//
//	moec check [-json] path...
//
// Check parses and checks the named .moe files and reports every error in
// them: syntax errors, structural errors (a missing cache block, a duplicate
// key, an unknown word) and every rule a policy breaks. A directory stands
// for every .moe file under it, and "-" for standard input. File names
// need not end in .moe.
//
// When every file is valid, check prints nothing and exits with status 0.
// Otherwise it prints each diagnostic on standard error as
//
//	file:line:column: message
//
// with the file name as given, files in the order given and the diagnostics
// of a file sorted by position, and exits with status 1. A diagnostic that
// points at a second place, such as the first of two duplicate keys, is
// followed by that place on a line that starts with a tab.
//
// A file that cannot be read is reported on standard error; the other files
// are still checked, and check exits with status 1.
//
// The flags are:
//
//	-json
//		Print the diagnostics on standard output as one JSON array, for
//		editors and other tools, instead of on standard error. Each
//		element has the fields "file", "line", "column", "end" (an
//		object with "line" and "column", left out when the end is not
//		known), "message", "rule" (what was checked: "syntax",
//		"structure", "R1" to "R20" for the reference's rules, "M1" and
//		up for moec's own; docs/LANGUAGE.md lists them) and "related"
//		(the second places, each with "file", "line", "column" and
//		"message"; left out when there are none). When every file is
//		valid the array is empty: [].
//
// # Format .moe files
//
// Usage:
//
//	moec fmt [-d] [-l] [-w] [path...]
//
// Fmt formats .moe files in moec's one canonical layout, the way gofmt
// formats Go: four spaces per level, one item per line, single spaces around
// operators, literals and comments kept as written.
//
// Without a path, or with "-", fmt formats standard input and prints the
// result on standard output. Given a file, it formats that file; given a directory,
// every .moe file under it, leaving out names that start with a period. By
// default, fmt prints the formatted text on standard output.
//
// Fmt reads syntax only: it does not check policies (moec check does). A
// file with syntax errors is left untouched; its errors are printed on
// standard error as moec check prints them, and fmt exits with status 1.
//
// The flags are:
//
//	-d
//		Do not print formatted text to standard output. If a file's
//		formatting differs from fmt's, print a unified diff of the
//		change to standard output.
//	-l
//		Do not print formatted text to standard output. If a file's
//		formatting differs from fmt's, print its name to standard
//		output.
//	-w
//		Do not print formatted text to standard output. If a file's
//		formatting differs from fmt's, overwrite it with fmt's version,
//		keeping its permissions. The new text is written to a temporary
//		file in the same directory and renamed over the old one, so an
//		error never leaves a file half written; a file that is already
//		formatted is not written at all.
//
// # Print policies resolved, with every default filled in
//
// Usage:
//
//	moec show [-json] path...
//
// Show checks the named .moe files and prints every policy in them as moec
// resolves it: every key with its value, the defaults of the keys left out
// filled in, and the adapt rules the policy runs, including the implicit
// rules that conditional values such as "capacity = 16 : 32 when hit_rate <
// 0.5" turn into. A directory stands for every .moe file under it, and
// "-" for standard input.
//
// For each policy, show prints a line with its name and where it is
// written, then one line per block, named as in .moe, with key=value pairs
// under the .moe key names. For example:
//
//	policy balanced (balanced.moe:2:1)
//	  cache      capacity=16 eviction=lfu pin=[] ttl=off expert_size_gb=1.2
//	             frequency_decay=0.9 freq_threshold=0.05 freq_window=100 score_ema_alpha=0.3
//	             memory_threshold=off memory_headroom=0.7 memory_budget_gb=16
//	  prefetch   strategy=history lookahead=1 budget=4 affinity_threshold=0.3 history_window=50
//	  schedule   mode=hybrid offload_threshold_ms=50 overlap=true priority_routing=false
//	             pcie_gbps=25 cpu_expert_ms=unset
//	  monitor    none
//	  per_layer  none
//	  adapt      cooldown=50
//	    [1] when hit_rate < 0.3 -> frequency_decay = 0.5  (implicit, balanced.moe:6:27)
//	    [2] when hit_rate < 0.4 for 100 accesses -> eviction = lru  (balanced.moe:15:9)
//
// The layout is the same for every policy:
//
//	cache      capacity, eviction (A|B for two tiers; fallback alone is
//	           lfu|lru), pin, ttl (off when not written), expert_size_gb;
//	           frequency_decay, freq_threshold, freq_window, score_ema_alpha;
//	           memory_threshold (off when not written: no memory-pressure
//	           trigger, unless an adapt rule turns it on), memory_headroom,
//	           memory_budget_gb
//	prefetch   strategy, lookahead, budget, affinity_threshold, history_window
//	schedule   mode, offload_threshold_ms, overlap, priority_routing;
//	           pcie_gbps, cpu_expert_ms (unset when not written)
//	monitor    none, or metrics, window and log_interval
//	per_layer  none, or allocation, entropy_window, min_capacity,
//	           max_capacity; rebalance_interval, total_budget (unset when
//	           not written or 0: layers x capacity)
//	adapt      cooldown, then the rules in the order they are checked:
//	           implicit rules first, in the order they are written, then
//	           the rules of the adapt block; "for N accesses" is shown
//	           when N is not 1, several actions are separated by commas,
//	           and each rule ends with where it is written
//
// Numbers are printed in their shortest exact form. Policies are separated
// by a blank line, and follow the order of the files and of the policies in
// each file.
//
// A file with errors is reported on standard error as moec check reports
// it, and show exits with status 1; the policies of the valid files are
// still shown.
//
// The flags are:
//
//	-json
//		Print the policies as one JSON array instead: for each, its
//		"name", "file", "line" and "column", then one object per block
//		named as above, with every key and its value (a number, true or
//		false, a word, "lfu|lru" for two tiers, or a list; null for a
//		key that holds no value, and null for a monitor or per_layer
//		block the policy lacks); adapt's "rules" are the rules in the
//		order they are checked, each with "metric", "op", "threshold",
//		"accesses", "actions" (each with "action" as show writes it
//		and, when it sets a key, "key" and "value"), "implicit" and
//		where it is written.
//
// # Compile policies into Go code
//
// Usage:
//
//	moec build [-o file] [-pkg name] [-policy name] policy.moe
//
// Build compiles the policies of a .moe file into one Go source file: for
// each policy some_name, a type SomeName with
//
//	func NewSomeName(shape rt.Shape) (*SomeName, error)
//
// and the rt.Policy methods Dispatch, Stats and Name, plus Source, the
// policy's text. The generated Dispatch is the policy's steps written out
// with the rt building blocks it uses, its constants folded in; every
// configuration its adapt rules can switch to is generated, and it makes
// exactly the decisions the interpreter rt.New makes from the same policy.
// The file begins with "// Code generated by moec from policy.moe. DO NOT
// EDIT." and is the same, byte for byte, for the same input.
//
// It is meant for go generate. In a module that uses the generated code:
//
//	//go:generate go run github.com/moepolicy/moec/cmd/moec@VERSION build -o policy_gen.go policy.moe
//
// with VERSION the version of github.com/moepolicy/moec that the module
// requires, so that the generator and the rt package the code imports come
// from the same release. This form leaves the module's go.mod as it is
// ("go get -tool" would add moec's own dependencies to it). Inside moec's
// module, leave out @VERSION.
//
// When the file has errors, build reports them as moec check does, exits
// with status 1 and writes nothing; an existing output file is left as it
// was.
//
// The flags are:
//
//	-o file
//		Write the Go source to file instead of standard output.
//	-pkg name
//		The Go package of the output. By default, the package of the Go
//		files already in the output's folder, else the folder's name.
//	-policy name
//		Compile only the named policy.
//
// # Write a policy that fits a model on a GPU
//
// Usage:
//
//	moec auto -config config.json|dir -vram size [-dtype format] [-context n] [-strategy name] [-json] [-o file]
//
// Auto reads a model's Hugging Face config.json and writes a policy whose
// cache holds as many experts as the GPU really has room for. It knows
// Mixtral, Qwen1.5/Qwen2-MoE, Qwen3-MoE, DeepSeek-V2/V3, OLMoE and gpt-oss
// (model_type mixtral, qwen2_moe, qwen3_moe, deepseek_v2, deepseek_v3, olmoe,
// gpt_oss).
//
// The room for experts is the GPU's memory less the weights that are not
// routed experts (embeddings, lm_head, attention, norms, routers, shared
// experts, dense layers; at 16 bits, but for the linear layers of an fp8
// checkpoint, counted in fp8), less the KV cache of one sequence of
// -context tokens (16 bits; DeepSeek's MLA caches its compressed
// kv_lora_rank + qk_rope_head_dim values), less a reserve for the CUDA
// context, activations and allocator slack (a tenth of the GPU, at least 1
// GiB). The capacity is the number of (layer, expert) slots of one expert's
// size that fit there, at most every expert of the model. The policy's
// comments show the arithmetic.
//
// A model that leaves no room for the experts one token needs in one layer
// is an error that says what would fit: a smaller -dtype, the longest
// -context that fits, the smallest GPU.
//
// The flags are:
//
//	-config file
//		The model's config.json, or the checkpoint's directory that
//		holds it.
//	-vram size
//		The GPU's memory, with a suffix: 16GiB, 24GB, 80GiB.
//	-dtype format
//		The format of the expert weights: bf16, fp16, fp8 (e4m3 plus a
//		32-bit scale per block of 128 x 128, as DeepSeek-V3 ships),
//		int4 (4 bits plus a 16-bit scale and zero point per group of
//		128 weights) or mxfp4 (4 bits plus an 8-bit exponent per block
//		of 32, as gpt-oss ships); both 4-bit formats take 4.25 bits a
//		weight. By default, the format the config's quantization_config
//		names (quant_method fp8 or mxfp4), else bf16; another
//		quant_method needs -dtype.
//	-context n
//		The tokens of context the KV cache holds (default 4096).
//	-strategy name
//		aggressive: every slot that fits, LRU, no prefetch.
//		balanced (the default): every slot, LFU (decay 0.9), and a
//		history prefetch of min(top-k, 4) experts where the slots hold
//		at least 40% of the experts. Below that the prefetch's copies
//		cost more than its hits save (on the H200, Qwen1.5-MoE decoded
//		6% faster with it at 47% of the experts, 20-40% slower at 31%
//		and 15%). Where the slots hold fewer experts than one token
//		needs (MoE layers x top-k), LRU and LFU evict each expert just
//		before its layer comes round again, so the cache is
//		frequency_threshold instead (it keeps the experts with at least
//		three quarters of an even share of the last 5 x experts
//		accesses), and where an expert's copy takes 2 ms or more the
//		schedule is hybrid (a miss runs on the CPU or is copied,
//		whichever finishes first by the figures moec run measures at
//		start). Mixtral-8x7B at 24 GiB decoded at 4.6 tok/s that way,
//		2.4 under LRU.
//		conservative: three quarters of the slots, leaving headroom, LFU
//		(decay 0.95), history prefetch of min(top-k, 6).
//		max: every slot, LFU (decay 0.9), lookahead prefetch of the
//		next two layers, min(2 x top-k, 8) experts.
//		A prefetch budget never exceeds the capacity.
//	-json
//		Print the arithmetic as one JSON object instead of the policy:
//		"config", "model" ("type", "moe_layers", "experts", "top_k",
//		"slots"), "gpu_bytes", "dtype" and "dtype_from" (-dtype,
//		quantization_config or default), "linear_dtype", "context",
//		"strategy", "expert_bytes", "other_bytes" and "other" (each
//		part's "params", "dtype" and "bytes"), "kv_bytes",
//		"reserve_bytes", "room_bytes", "fit", "capacity",
//		"prefetch_budget" and "policy", the policy's text. With -o the
//		policy also goes to the file.
//	-o file
//		Write the policy to file instead of standard output. The file
//		is replaced only when the policy is complete.
//
// Where a policy's schedule is not hybrid, its misses are copied to the GPU
// and run there (gpu_only): whether a CPU runs an expert faster than the
// copy takes depends on the host, so the policy's comments give the copy
// time at 52.5 GB/s and say how to switch to hybrid scheduling with a
// measured cpu_expert_ms.
//
// # Replay routing through a policy and measure it
//
// Usage:
//
//	moec replay [-trace file | -synthetic preset [-tokens n] [-seed n]] [-policy name] [-expert-bytes size] [-json] [-decisions file] [-opt] [-pcie-gbps rate] [-copy-latency d] [-cpu-gbps rate] [-cpu-expert d] [-gpu-expert d] [-calibration run.json] [-gpu-token d] [-host-layer d] [policy.moe]
//
// Replay runs a policy over a routing trace, the way it would run beside a
// model: one dispatch per MoE layer per token, in trace order. Every plan
// the policy makes is executed on a simulated mechanism that holds the
// experts' slots and rejects a plan that could not be carried out (more
// experts than slots, evicting what is not resident, a pinned expert
// evicted); that is reported as a bug in the policy and replay exits with
// status 1.
//
// It prints the hit rate, overall and per layer, what moved (demand and
// prefetch copies, their bytes, evictions), where experts ran, the prefetch
// accuracy, and the modeled time per token: demand copies x (expert bytes /
// bandwidth + copy latency) + CPU experts x CPU time, less the CPU time
// that runs beside the layer's demand copies (the engine runs them at
// once), + the prefetch copy time that the layer's GPU compute does not
// hide, over the tokens. A hybrid schedule decides with the bandwidth and
// CPU time below, as moec run's policy decides with the figures it
// measures, unless the policy states pcie_gbps and cpu_expert_ms (a policy
// that sets offload_threshold_ms to other than 50 keeps the reference's
// rule, with the bandwidth below). The
// hardware figures default to those measured on an H100 (PCIe Gen5 x16);
// the table says which it used.
//
// The policy file must hold one policy, or -policy must name one; "-"
// reads it from standard input. Given neither a policy nor a trace, replay
// runs the example that moec carries inside it, as README.md shows it: the
// reference's composed example policy (examples/composed_policy.moe) over
// real routing of Qwen1.5-MoE (testdata/traces/qwen15moe-gsm8k-5layer.jsonl,
// 5 MoE layers, 4,357 tokens of GSM8K), so "moec replay -opt" works
// anywhere, without a clone.
//
// The flags are:
//
//	-trace file
//		The routing trace, in moec's JSONL trace format ("moec help
//		trace"). The shape of the model comes from its header.
//	-synthetic preset
//		Replay a synthetic trace of the named preset instead: one of
//		mixtral-8x7b, qwen1.5-moe-a2.7b, deepseek-v2-lite, olmoe-1b-7b.
//	-tokens n, -seed n
//		The length and seed of a synthetic trace. It is generated
//		as it is replayed, so its length does not cost memory.
//	-policy name
//		The policy to replay, when the file has several.
//	-expert-bytes size
//		The bytes of one expert, a number with a unit in any case:
//		B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB
//		(powers of 1024), as in 17.3MB or 16.5MiB. Without it, the
//		size of the trace's model if moec knows it, else the
//		policy's expert_size_gb.
//	-json
//		Print the results as one JSON object instead of a table:
//		"policy", "trace", "shape", the policy's statistics (sections
//		"steps", "cache", "prefetch", "scheduler", "triggers", "adapt",
//		"monitor", "transfer", "layers"), "replay" with the replay's
//		own counts, "cost_model" with the hardware figures the modeled
//		time used, "modeled_ms_per_token" and, with -opt, "opt" with
//		Belady's hit rate. Two counts of evictions differ by definition:
//		cache.evictions counts as the reference does (an expert the
//		frequency-threshold cache never held, a prefetch evicted
//		within its own dispatch), replay.slots_released counts the GPU
//		slots the plans released (Plan.Evict, a miss not kept included).
//	-decisions file
//		Write every plan to file, one JSON line per dispatch in trace
//		order: {"l":L,"hit":[...],"dev":["gpu"|"cpu",...],"load":[[l,e],...],
//		"prefetch":[[l,e],...],"evict":[[l,e],...]}. The file is written
//		only when the replay succeeds.
//	-opt
//		Also compute Belady's optimum for the same slots: the hit rate of
//		a cache that always evicts the expert used furthest in the future.
//		It needs the whole future, so it holds every expert access in
//		memory, 12 bytes each, at most 2^31-2 of them.
//	-pcie-gbps rate, -copy-latency d
//		The host-to-GPU bandwidth in GB/s (10^9 bytes per second;
//		52.5 by default, pinned memory on PCIe Gen5 x16) and the
//		fixed cost of a copy (2.6us by default). A policy that
//		writes schedule pcie_gbps is priced with its own.
//	-cpu-gbps rate, -cpu-expert d
//		The time of one expert for one token on the CPU: its bytes
//		at -cpu-gbps GB/s (8.24 by default: 2.1ms for Qwen1.5-MoE's
//		16.5 MiB expert on 16 cores, 43ms for Mixtral's 336 MiB), or
//		-cpu-expert whatever its size. A policy that writes schedule
//		cpu_expert_ms is priced with its own.
//	-gpu-expert d
//		The time of one expert for one token on the GPU, which hides
//		background copies (76us by default). Times take a unit: ns,
//		us, ms or s, as in 2.6us or 2.1ms.
//	-calibration run.json
//		Price the run too, with the figures moec run -json measured
//		on the GPU under a policy (its "calibration" object): its
//		gpu_token_ms fills -gpu-token, its host_layer_ms fills
//		-host-layer, and demand copies are priced at its copy_gbps
//		with no fixed cost a copy (the rate includes it), instead of
//		the policy's pcie_gbps and the default. A flag given
//		explicitly wins over the file: -gpu-token, -host-layer,
//		-pcie-gbps (then copies are priced as without -calibration),
//		-copy-latency, -gpu-expert. Prefetch copies hide behind the
//		run's GPU time of a token spread over its MoE layers'
//		selected experts (gpu_token_ms / (MoE layers x top-k)),
//		which replaces -gpu-expert's default. Where the object has
//		pcie_gbps and cpu_expert_ms (the figures the run calibrated
//		its policy with), the policy decides with them, and CPU
//		experts are priced at its cpu_expert_ms unless the policy,
//		-cpu-expert or -cpu-gbps state one. The run must be of the
//		trace's model: the same MoE layers and expert size.
//	-gpu-token d, -host-layer d
//		The model's compute of one token on the GPU outside the
//		waits at its MoE layers, and the host's time at each MoE
//		layer of a token while the GPU waits (reading the routing,
//		the policy's decision, starting the copies). Each is added
//		to the modeled time: tokens x -gpu-token + dispatches x
//		-host-layer. 0 by default: left out. The table's "engine"
//		line, and -json's "engine", say where each figure came from.
//
// # Search a grid of policies for the best on a trace
//
// Usage:
//
//	moec tune -trace file [-capacity n | -config config.json -vram size [-dtype format] [-context n]] [-grid file|default|reference] [-objective time|hit_rate] [-top n] [-json] [-o file] [-name name] [-expert-bytes size] [-j n] [-pcie-gbps rate] [-copy-latency d] [-cpu-gbps rate] [-cpu-expert d] [-gpu-expert d]
//
// Tune replays every policy of a grid of configurations over a routing
// trace and ranks them at equal memory: each configuration against those
// of the same capacity, since a larger cache always hits more. It ranks by
// the modeled time per token of the replay's cost model (lowest first, see
// "moec help replay"), or with -objective hit_rate by hit rate (highest
// first). Ties keep grid order. The trace is read once into memory and the
// configurations are replayed in parallel, one worker per core.
//
// The capacity is the GPU's: -capacity n slots, or what -config and -vram
// make of a model and a GPU as moec auto does. Either replaces the grid's
// capacities with that one. Without them the grid's capacities are ranked
// apart, and -o needs one.
//
// A configuration sets seven values, the reference autotuner's six and the
// per-layer allocation:
//
//	capacity           cache capacity, in (layer, expert) slots
//	eviction           cache eviction (lru, lfu, score, ...)
//	lfu_decay          cache frequency_decay, used by lfu and fallback
//	prefetch_budget    prefetch budget
//	prefetch_strategy  prefetch strategy (none, history, affinity, lookahead)
//	schedule_mode      schedule mode (gpu_only, cpu_fallback, hybrid)
//	allocation         "none" for one cache shared by all layers, or a
//	                   per_layer allocation signal (uniform, entropy,
//	                   topk_mass, variance, kl, gini)
//
// A per-layer configuration splits the same number of slots among the
// layers as the flat cache of its capacity holds (total_budget =
// capacity, min_capacity = 1), so the two compare; one with fewer slots
// than the trace has layers is skipped. Everything else keeps its default.
//
// The grid is the Cartesian product of the values, keys in the order
// above, the last varying fastest, pruned as the reference prunes: an
// eviction other than lfu and fallback keeps only the first lfu_decay,
// strategy none keeps only the first prefetch_budget, and a budget above
// the capacity is dropped. A configuration that the checker rejects
// (eviction score without a prefetch strategy, say) is skipped and
// counted.
//
// A frequency_threshold configuration keeps the experts with at least three
// quarters of an even share of the last n x experts accesses, not the
// defaults' 0.05 of 100: the experts of every layer for a flat cache, of
// one layer for a per-layer one, and n the grid's freq_window_per_expert
// (5 is what moec auto writes; a longer window admits fewer experts, so a
// hybrid schedule copies fewer of those it runs on the CPU). The table's
// window column gives the window in accesses.
//
// A hybrid configuration decides with the hardware figures below (its
// pcie_gbps and cpu_expert_ms are theirs): it shares a layer's misses
// between the link and the CPU, each going to whichever would finish it
// first. Where one is so much faster that every miss of a layer goes to
// it, hybrid plans as gpu_only or cpu_fallback does; where the grid has
// that mode, those hybrid configurations are skipped rather than listed
// twice.
//
// The grids:
//
//	reference
//		The reference autotuner's: capacity 4, 8, 16, 32; eviction lru,
//		lfu; lfu_decay 0.8, 0.9, 0.95; prefetch_budget 2, 4, 8;
//		prefetch_strategy none, history; schedule_mode gpu_only, hybrid;
//		allocation none. 120 configurations after pruning.
//	default
//		The reference's grid with the frequency_threshold eviction
//		too, over windows of 5 and 40 accesses an expert
//		(freq_window_per_expert), every prefetch strategy (none,
//		history, affinity, lookahead) and every allocation (none and the
//		six signals): 3,108 configurations after pruning.
//	file
//		A JSON object with any of the eight keys, each a list of values:
//		{"capacity": [8, 16], "eviction": ["lru", "lfu"]}. A key left out
//		takes its default (allocation: none; freq_window_per_expert: 5).
//
// The table shows the top configurations of each capacity with their hit
// rate, Belady's optimal hit rate for the same slots (for context: the
// best a cache without prefetch can do; a policy that prefetches can beat
// it), and the modeled time per token.
//
// The flags are:
//
//	-trace file
//		The routing trace, in moec's JSONL trace format.
//	-capacity n
//		The cache's capacity in (layer, expert) slots: the GPU's room
//		for experts.
//	-config config.json, -vram size, -dtype format, -context n
//		The model and GPU to size the cache for: the expert slots
//		that fit, as moec auto reckons them ("moec help auto"; every
//		slot, without auto's headroom), scaled to the layers the trace
//		has when it records some of the model's. The experts weigh
//		what -dtype makes them unless -expert-bytes says otherwise.
//	-grid file|default|reference
//		The grid to search; default by default.
//	-objective time|hit_rate
//		What to rank by; time by default.
//	-top n
//		How many configurations of each capacity to show; 0 shows
//		all.
//	-json
//		Print the results as one JSON object instead of a table.
//	-o file
//		Write the winner as a formatted .moe file, with a comment naming
//		the trace and its score. The grid must have one capacity. An
//		interrupted search writes none.
//	-name name
//		The winner's policy name in -o's file; tuned by default.
//	-expert-bytes size
//		The bytes of one expert, as for replay. Without it, the size of
//		the trace's model if moec knows it, else 1.2GB.
//	-j n
//		Replay n configurations at a time; the number of cores by
//		default.
//	-pcie-gbps rate, -copy-latency d
//		The host-to-GPU bandwidth in GB/s (10^9 bytes per second;
//		52.5 by default, pinned memory on PCIe Gen5 x16) and the
//		fixed cost of a copy (2.6us by default). A policy that
//		writes schedule pcie_gbps is priced with its own.
//	-cpu-gbps rate, -cpu-expert d
//		The time of one expert for one token on the CPU: its bytes
//		at -cpu-gbps GB/s (8.24 by default: 2.1ms for Qwen1.5-MoE's
//		16.5 MiB expert on 16 cores, 43ms for Mixtral's 336 MiB), or
//		-cpu-expert whatever its size. A policy that writes schedule
//		cpu_expert_ms is priced with its own.
//	-gpu-expert d
//		The time of one expert for one token on the GPU, which hides
//		background copies (76us by default). Times take a unit: ns,
//		us, ms or s, as in 2.6us or 2.1ms.
//
// # Measure policies over a range of cache capacities
//
// Usage:
//
//	moec sweep -trace file [-capacity lo:hi:step | -config config.json -vram size [-dtype format] [-context n]] [-plot file] [-policy name] [-expert-bytes size] [-json] [-j n] [-pcie-gbps rate] [-copy-latency d] [-cpu-gbps rate] [-cpu-expert d] [-gpu-expert d] policy.moe...
//
// Sweep replays policies over a routing trace at every cache capacity of a
// range and prints their hit rates, and their modeled times per token
// (see "moec help replay": a hybrid schedule decides with the cost
// model's figures, as there), against the capacity, with Belady's optimal hit
// rate at each capacity beside them: the best a cache without prefetch
// can do with as many slots. A policy that prefetches can beat it.
//
// Every policy of every file is swept, or with -policy the one of that
// name in each file. At each capacity the policy keeps everything else it
// sets; a prefetch budget above the capacity is lowered to it, and a
// per_layer policy splits the capacity among the layers (total_budget =
// capacity). A note below the tables says where either happened, and why a
// capacity the policy cannot have (fewer slots than its pinned experts,
// say) shows as "-".
//
// The flags are:
//
//	-trace file
//		The routing trace, in moec's JSONL trace format.
//	-capacity lo:hi:step
//		The capacities: lo, lo+step, ... up to hi; "lo:hi" steps by 1,
//		and one number is one capacity. 4:64:4 by default.
//	-config config.json, -vram size, -dtype format, -context n
//		The model and GPU to size the cache for: the expert slots
//		that fit, as moec auto reckons them ("moec help auto"; every
//		slot, without auto's headroom), scaled to the layers the trace
//		has when it records some of the model's. The experts weigh
//		what -dtype makes them unless -expert-bytes says otherwise.
//		The capacities are then those around the GPU's n slots: n/8,
//		2n/8, ... up to 2n, or to every slot of the trace.
//	-plot file
//		Also draw the hit rates against the capacity, one line per
//		policy and a dashed one for Belady, and below them the modeled
//		times per token, as an SVG or PNG picture, by the file's
//		extension.
//	-policy name
//		Sweep only the policy of this name.
//	-expert-bytes size
//		The bytes of one expert, as for replay.
//	-json
//		Print the results as one JSON object instead of the tables:
//		"trace", "shape", "cost_model" (the hardware figures of the
//		modeled times), "capacities", "belady_hit_rate" (one per
//		capacity), "policies" (each with "name", "file" and "cells",
//		one per capacity with "capacity", "hit_rate" and
//		"modeled_ms_per_token", null and "skipped" with the reason
//		where the policy cannot have the capacity) and "notes".
//	-j n
//		Replay n policies at a time; the number of cores by default.
//	-pcie-gbps rate, -copy-latency d
//		The host-to-GPU bandwidth in GB/s (10^9 bytes per second;
//		52.5 by default, pinned memory on PCIe Gen5 x16) and the
//		fixed cost of a copy (2.6us by default). A policy that
//		writes schedule pcie_gbps is priced with its own.
//	-cpu-gbps rate, -cpu-expert d
//		The time of one expert for one token on the CPU: its bytes
//		at -cpu-gbps GB/s (8.24 by default: 2.1ms for Qwen1.5-MoE's
//		16.5 MiB expert on 16 cores, 43ms for Mixtral's 336 MiB), or
//		-cpu-expert whatever its size. A policy that writes schedule
//		cpu_expert_ms is priced with its own.
//	-gpu-expert d
//		The time of one expert for one token on the GPU, which hides
//		background copies (76us by default). Times take a unit: ns,
//		us, ms or s, as in 2.6us or 2.1ms.
//
// # Generate, convert and measure routing traces
//
// Usage:
//
//	moec trace gen|convert|stats [arguments]
//
// Trace works with routing traces: the JSONL files that record which
// experts a model's router selected, layer by layer, token by token, and
// that moec replay runs policies over. A trace is a header line
//
//	{"model_name": "...", "num_layers": 24, "num_experts": 60, "top_k": 4, "num_entries": 104568}
//
// then one line per layer per token, replayed in file order:
//
//	{"t":0,"l":0,"e":[33,16,24,27],"s":[0.1327,0.078,0.0689,0.0488]}
//
// (t: token, l: layer, e: the selected experts in top-k order, s: their
// router weights, or null). docs/TRACES.md describes the format in full.
//
// The subcommands are:
//
//	gen         write a synthetic trace of a known model's shape
//	convert     turn vLLM routing logs into a trace
//	stats       measure a trace: popularity, reuse, affinity
//
// Use "moec help trace <subcommand>" for more information about one.
//
// # Write a synthetic trace of a known model's shape
//
// Usage:
//
//	moec trace gen -preset name [-tokens n] [-seed n] [-o file]
//
// Gen writes a synthetic trace of a model's shape, with the popularity
// skew, temporal reuse and layer-to-layer affinity calibrated on real
// routing: presets mixtral-8x7b, qwen1.5-moe-a2.7b, deepseek-v2-lite and
// olmoe-1b-7b. The same seed gives the same trace.
//
// Without -o, gen writes the trace on standard output; with it, the file is
// replaced only once the trace is complete.
//
// # Turn vLLM routing logs into a trace
//
// Usage:
//
//	moec trace convert [-o file] layer.jsonl...
//
// Convert turns vLLM-style routing logs, one file per MoE layer (a
// {"type":"meta",...} line, then {"type":"route","req_id","token_idx",
// "layer","topk_ids","topk_weights"} lines, aligned by position across the
// files), into a trace, skipping the leading profiling pass. Nothing is
// written unless every file is valid.
//
// Without -o, convert writes the trace on standard output; with it, the
// file is replaced only once the trace is complete.
//
// # Measure a trace: popularity, reuse, affinity
//
// Usage:
//
//	moec trace stats [-plot file] [-json] file
//
// Stats prints, per layer, how skewed expert popularity is, the reuse
// distance between two uses of an expert, the LRU hit rate a cache of a
// given size would get, and how strongly one layer's experts predict the
// next layer's. With -plot it also draws expert popularity as a heatmap,
// experts across and layers down, as an SVG or PNG picture by the file's
// extension; beyond 256 experts or 128 layers, a cell sums several. The
// file "-" is standard input.
//
// With -json it prints the statistics as one JSON object instead of the
// tables: the trace's "model", "layers", "experts", "top_k", "rows" and
// "accesses"; "lru_capacities", the cache sizes of every "lru_hit_rate"
// list; "per_layer" (each with "entropy_bits", "max_entropy_bits",
// "top10_share", "gini", "reuse_distance" and "stack_distance" as "n",
// "p50", "p90" and "p99", "cold" and "lru_hit_rate"; null for a layer
// without accesses); "overall"; "affinity", one per pair of consecutive
// layers; and "scores", the mean router weights by rank.
//
// # Generate tokens with a Hugging Face MoE checkpoint
//
// Usage:
//
//	moec run -model dir [-device cpu|cuda] [-policy policy.moe[:name]|auto [-gpu-mem size] [-record-trace file]] [-route-trace file] [-prompt text | -prompt-file file | -prompt-ids ids] [-tokenizer file] [-chat] [-ids] [-n tokens] [-json] [-temperature t -top-p p -seed s] [-context n] [-kv bf16|f32]
//
// Run loads a Hugging Face Mixture-of-Experts checkpoint (a folder with
// config.json and its safetensors files, sharded or not, in fp32, fp16 or
// bf16), runs the prompt and generates tokens, then prints the generated
// token ids on one line and a summary line: prefill and decode tokens per
// second and the GPU memory the model holds.
//
//	moec run -model dir [-device cpu|cuda] [-prompt-ids 9707,11,1879] [-n 64]
//
// -prompt text gives the prompt as text instead, and -prompt-file file
// reads it from the file, or from standard input when the file is "-"
// (every byte counts, a final newline too). The text is encoded with the
// tokenizer.json in the checkpoint folder, as moec tokenize encodes it
// (with the special tokens its post-processor adds, such as Mixtral's <s>
// first); a folder without one is an error that names the path.
// -tokenizer file takes the tokenizer.json (or its .gz) in file instead,
// for a checkpoint folder without one. Then run writes the
// generated text on standard output as the tokens are generated, only
// whole UTF-8 characters (a character split between tokens waits for its
// last byte), and a newline after it (with -device cuda and no
// -temperature, the tokens are generated in one loop on the GPU, and the
// text comes when it ends); the summary line goes to standard error, so
// that standard output holds only the text. -ids prints the
// generated ids and the summary as for -prompt-ids instead of the text.
//
// -chat wraps the text prompt in the chat format of the model's family,
// as its chat template writes one user message and the start of the
// answer: ChatML for Qwen (Qwen1.5 and Qwen2 with their default system
// turn, Qwen3 without), "<s>[INST] text [/INST]" for Mixtral; generation
// stops at the end-of-turn token (<|im_end|>, </s>), which is not printed.
// When the folder has a tokenizer_config.json with a chat_template, the
// format is the one that template writes, recognised by its marks
// (<|im_start|> for ChatML, [INST]) rather than run, so that a fine-tune
// chatting in another format than its family's is prompted right; a
// template of another format is an error. The wrapped text is encoded
// without the post-processor's special tokens, since the format writes
// its own. The prompt's text in -json is the wrapped one.
//
// -device cpu runs engine/cpu, the pure-Go reference forward pass (fp32
// arithmetic), in every build; -device cuda runs the CUDA path, all
// weights resident on the GPU, in a moec built with -tags cuda
// (docs/GPU.md). The families are Qwen2-MoE (Qwen1.5-MoE), OLMoE,
// Qwen3-MoE, Mixtral and DeepSeek-V2; docs/ENGINE.md says what each
// computes.
//
// Tokens are chosen greedily (the largest logit) unless -temperature is
// given; then they are drawn from the softmax of the logits over the
// temperature, restricted by -top-p to the smallest set of most probable
// tokens whose probability reaches it, the same for the same -seed.
//
// -policy policy.moe places every routed expert by the policy (the file's
// only policy, or the one :name names): each MoE layer's top-k experts
// and router weights, rounded to 4 decimals as a trace records them, go to
// the policy, whose plan a store executes, and each expert runs from where
// the plan puts it. With -device cuda the experts stay in pinned host
// memory and the store copies them into slots on the GPU (the checkpoint's
// experts must be bf16); with -device cpu the store is in host memory
// (experts copied between the arena and the slots). Either way the tokens
// are those of the run without a policy while every expert runs on the
// GPU. An expert the plan runs on the CPU runs from the pinned arena on
// all cores, on the GPU while the GPU runs the layer's other experts. When
// the policy's schedule can send misses to the CPU (hybrid), run with
// -device cuda measures at start, on the checkpoint's experts, the
// pinned copy bandwidth and the CPU time of one expert, and the policy
// decides with them wherever it does not state pcie_gbps and
// cpu_expert_ms itself (where it sets offload_threshold_ms to other than
// 50, it keeps the reference's rule, with the measured bandwidth); the
// summary and -json give the measured figures.
// The summary adds the policy's hit rate, as moec replay prints it,
// the bytes the store moved on demand and ahead of need, on the GPU how
// long it waited at the MoE layers (the host's share, and the transfers
// the compute did not hide), and the hit rate of each MoE layer; -json
// adds a "calibration" object for moec replay -calibration. -record-trace file writes
// the routing the policy was given in moec's trace format ("moec help
// trace"): moec replay of the same policy over it counts the same hits,
// misses and copies.
//
// -policy auto runs the policy moec auto writes (its balanced strategy)
// for the model, the -gpu-mem cap and the context: it keeps as many
// experts as the cap leaves room for.
//
// -gpu-mem size (16GiB, 24GB; with -policy) caps the GPU memory: the
// skeleton (every weight but the routed experts, in bf16), the key/value
// cache of -context tokens and a workspace (a tenth of the cap, at least 1
// GiB, as moec auto reserves; it also holds the top-k slots of experts
// run without keeping) come first, and the policy's largest capacity
// (adapt rules and per-layer budgets included), one expert as the
// checkpoint stores it each, must fit in the rest, or run fails naming
// the bytes. With -device cpu the host store is
// sized the same way. The summary adds the numbers.
//
// -route-trace file forces each MoE layer's top-k experts and weights from
// a routing trace after the router ran (its time is spent all the same),
// for benchmarks on random weights, with or without -policy. A model with
// other than the trace's MoE layer count takes, at each of its MoE layers,
// the traced layer nearest in depth with a fixed permutation of the
// expert ids (docs/ENGINE.md); the trace's top_k must be the model's, and
// its rows start over when they run out.
//
// With -json, run prints one JSON object instead: {"prompt": [...],
// "generated": [...], with a text prompt "prompt_text" and "text" (the
// generated text), "prefill_tok_s": x, "decode_tok_s": y, "device":
// "cpu"|"cuda", "gpu_memory_bytes": n, ...}, and under -policy "policy":
// {"name", "hit_rate", "hits", "misses", "demand": {"copies", "bytes"},
// "prefetch": {"copies", "bytes"}, "loads", "prefetches", "evictions",
// "gpu", "cpu", "stats"} (stats as moec replay -json prints them), and
// under -gpu-mem its "memory": {"gpu_bytes", "skeleton_bytes",
// "kv_bytes", "workspace_bytes", "expert_bytes", "slots", "capacity",
// "store_slots"}. Under -policy on the GPU, "calibration" holds what moec
// replay -calibration takes from the run to predict such runs:
// {"gpu_token_ms", "host_layer_ms", "copy_gbps", "expert_bytes",
// "moe_layers", "tokens"} (docs/RUNTIME.md, "Calibrating replay from the
// engine"); it is absent on the CPU, where the GPU never waits.
//
// # Turn text into token ids and back
//
// Usage:
//
//	moec tokenize -tokenizer file [-decode | -plain] [file]
//
// Tokenize encodes text into token ids with a Hugging Face tokenizer.json,
// as the tokenizers library does, and prints them on standard output as one
// JSON array on one line:
//
//	moec tokenize -tokenizer tokenizer.json prompt.txt
//
// The text is the named file, or standard input when the file is "-" or
// left out. Every byte counts: a final newline is encoded too, and added
// tokens written in the text, such as <|im_start|>, become their ids. The
// special tokens that the tokenizer's post-processor adds come too, as
// Hugging Face's encode adds them by default (Mixtral's <s> first); -plain
// leaves them out (add_special_tokens=False), as for the text of a chat
// template.
//
// -tokenizer names the tokenizer.json, or a gzip-compressed copy whose name
// ends in .gz. The tokenizers are the byte-level BPE of Qwen1.5, Qwen2,
// Qwen3 and Llama-3, and the SentencePiece-style BPE with byte fallback of
// Mixtral and Llama-2; a file of another form is refused, naming what it
// lacks.
//
// -decode reads a JSON array of token ids instead and prints their text,
// exactly, with no newline added: special tokens are written out, and
// bytes that do not form UTF-8 become U+FFFD, as Hugging Face's decode
// writes them. So "moec tokenize -decode" gives back the text that "moec
// tokenize" read, when that is UTF-8 in Unicode's NFC form, the form
// Qwen's tokenizer normalizes text to (almost all text is in it). Mixtral's
// tokenizer normalizes more: the decoded text has the <s> that encoding
// added, and a space after each added token that text follows.
//
// A tokenizer file or input that cannot be read, a malformed tokenizer
// file or array, or an id outside the vocabulary is an error that names
// the file, with exit status 1.
//
// # Print moec's version
//
// Usage:
//
//	moec version
//
// Version prints "moec" and the version of the module moec was built
// from, as the go command recorded it: a release such as v0.1.0 after
// "go install github.com/moepolicy/moec/cmd/moec@v0.1.0", a pseudo-version
// for a build in a git checkout, or (devel) when the build recorded none.
//
// # Output files
//
// Every file a command writes (-o, -decisions, -plot, fmt -w) is checked
// before the work starts, so that a path that cannot be written fails at
// once, naming the path. It is written to a temporary file beside it and
// renamed into place once complete, so that a failed or interrupted run
// leaves an existing file as it was; the file keeps its permissions, and a
// symbolic link stays a link to the file written. A device or a named pipe
// (/dev/stdout, /dev/null) is written directly. An output may not be one of
// the command's inputs.
//
// # Exit status
//
// Every command exits with status 0 when all went well, 1 when a file has
// errors or cannot be read or written, and 2 when moec is used wrongly: an
// unknown command or flag, a missing argument, or an output file that is
// also an input. Usage errors print the command's usage line on standard
// error.
//
// An interrupt (Ctrl-C) or SIGTERM ends moec with status 130 or 143 (128 +
// the signal's number), after it removes the temporary file of any output
// not yet written in full: an output file is replaced only when it is
// complete. Tune stops at the first interrupt and prints the ranking of the
// configurations it has replayed; a second one ends it at once.
package main
