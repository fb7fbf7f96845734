package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/moepolicy/moec/rt"
)

var showCommand = &command{
	name:      "show",
	usageLine: "[-json] path...",
	short:     "print policies resolved, with every default filled in",
	long: `Show checks the named .moe files and prints every policy in them as moec
resolves it: every key with its value, the defaults of the keys left out
filled in, and the adapt rules the policy runs, including the implicit
rules that conditional values such as "capacity = 16 : 32 when hit_rate <
0.5" turn into. A directory stands for every .moe file under it, and
"-" for standard input.

For each policy, show prints a line with its name and where it is
written, then one line per block, named as in .moe, with key=value pairs
under the .moe key names. For example:

	policy balanced (balanced.moe:2:1)
	  cache      capacity=16 eviction=lfu pin=[] ttl=off expert_size_gb=1.2
	             frequency_decay=0.9 freq_threshold=0.05 freq_window=100 score_ema_alpha=0.3
	             memory_threshold=off memory_headroom=0.7 memory_budget_gb=16
	  prefetch   strategy=history lookahead=1 budget=4 affinity_threshold=0.3 history_window=50
	  schedule   mode=hybrid offload_threshold_ms=50 overlap=true priority_routing=false
	             pcie_gbps=25 cpu_expert_ms=unset
	  monitor    none
	  per_layer  none
	  adapt      cooldown=50
	    [1] when hit_rate < 0.3 -> frequency_decay = 0.5  (implicit, balanced.moe:6:27)
	    [2] when hit_rate < 0.4 for 100 accesses -> eviction = lru  (balanced.moe:15:9)

The layout is the same for every policy:

	cache      capacity, eviction (A|B for two tiers; fallback alone is
	           lfu|lru), pin, ttl (off when not written), expert_size_gb;
	           frequency_decay, freq_threshold, freq_window, score_ema_alpha;
	           memory_threshold (off when not written: no memory-pressure
	           trigger, unless an adapt rule turns it on), memory_headroom,
	           memory_budget_gb
	prefetch   strategy, lookahead, budget, affinity_threshold, history_window
	schedule   mode, offload_threshold_ms, overlap, priority_routing;
	           pcie_gbps, cpu_expert_ms (unset when not written)
	monitor    none, or metrics, window and log_interval
	per_layer  none, or allocation, entropy_window, min_capacity,
	           max_capacity; rebalance_interval, total_budget (unset when
	           not written or 0: layers x capacity)
	adapt      cooldown, then the rules in the order they are checked:
	           implicit rules first, in the order they are written, then
	           the rules of the adapt block; "for N accesses" is shown
	           when N is not 1, several actions are separated by commas,
	           and each rule ends with where it is written

Numbers are printed in their shortest exact form. Policies are separated
by a blank line, and follow the order of the files and of the policies in
each file.

A file with errors is reported on standard error as moec check reports
it, and show exits with status 1; the policies of the valid files are
still shown.

The flags are:

	-json
		Print the policies as one JSON array instead: for each, its
		"name", "file", "line" and "column", then one object per block
		named as above, with every key and its value (a number, true or
		false, a word, "lfu|lru" for two tiers, or a list; null for a
		key that holds no value, and null for a monitor or per_layer
		block the policy lacks); adapt's "rules" are the rules in the
		order they are checked, each with "metric", "op", "threshold",
		"accesses", "actions" (each with "action" as show writes it
		and, when it sets a key, "key" and "value"), "implicit" and
		where it is written.`,
	run: runShow,
}

func runShow(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	jsonOut := fs.Bool("json", false, "print the policies as JSON")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		return e.usageError(c)
	}
	status := exitOK
	first := true
	all := []jsonObject{}
	e.eachFile(fs.Args(), &status, func(name string) {
		src, err := e.readInput(name)
		if err != nil {
			e.errorf("%v", err)
			status = exitError
			return
		}
		specs, diags := checkSource(inputName(name), src)
		if len(diags) > 0 {
			e.printDiagnostics(diags)
			status = exitError
			return
		}
		if *jsonOut {
			for _, s := range specs {
				all = append(all, specJSON(s))
			}
			return
		}
		var b bytes.Buffer
		for _, s := range specs {
			if !first {
				b.WriteByte('\n')
			}
			first = false
			writeSpec(&b, s)
		}
		if !e.writeAll(e.stdout, b.Bytes()) {
			status = exitError
		}
	})
	if *jsonOut {
		if st := e.printJSON(all); st != exitOK {
			return st
		}
	}
	return status
}

// writeSpec writes the layout that "moec help show" describes: every key
// of rt's key table, block by block, one line per group of keys.
func writeSpec(b *bytes.Buffer, s *rt.Spec) {
	fmt.Fprintf(b, "policy %s (%s)\n", s.Name, s.Pos)
	for _, block := range rt.Blocks() {
		if !rt.HasBlock(s, block) {
			section(b, block, []string{"none"})
			continue
		}
		var groups [][]string
		for _, k := range rt.Keys(block) {
			for len(groups) <= k.Group {
				groups = append(groups, nil)
			}
			groups[k.Group] = append(groups[k.Group], k.Name+"="+showValue(k, s))
		}
		section(b, block, groups...)
	}
	for i, r := range s.Adapt.Rules {
		fmt.Fprintf(b, "    [%d] %s  (", i+1, ruleText(r))
		if r.Implicit {
			b.WriteString("implicit, ")
		}
		fmt.Fprintf(b, "%s)\n", r.Pos)
	}
}

// showValue returns k's value in s as .moe writes it but without spaces
// ("lfu|lru", "[0,1]"), so that spaces separate the pairs of a line, or
// k's Unset word when it holds no value.
func showValue(k rt.KeyDef, s *rt.Spec) string {
	v, ok := k.Get(s)
	if !ok {
		return k.Unset
	}
	return strings.ReplaceAll(v.String(), " ", "")
}

// sectionWidth is the width of the block names' column.
const sectionWidth = 11

// section writes one block: its name, then the first group of key=value
// pairs on the same line and each further group on a line of its own,
// aligned under the first.
func section(b *bytes.Buffer, name string, groups ...[]string) {
	for i, g := range groups {
		label := ""
		if i == 0 {
			label = name
		}
		fmt.Fprintf(b, "  %-*s%s\n", sectionWidth, label, strings.Join(g, " "))
	}
}

// ruleText returns "when COND [for N accesses] -> ACTION, ACTION".
func ruleText(r rt.Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "when %s %s %s", r.Cond.Metric, r.Cond.Op, num(r.Cond.Threshold))
	if r.Window != 1 {
		fmt.Fprintf(&b, " for %d accesses", r.Window)
	}
	b.WriteString(" ->")
	for i, a := range r.Actions {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		b.WriteString(actionText(a))
	}
	return b.String()
}

// actionText returns the action as written in .moe, resolved: a switch to
// "fallback" shows its two tiers, as the cache line does.
func actionText(a rt.Action) string {
	v, ok := a.Value()
	k, known := rt.LookupPath(a.Target.Key())
	if !ok || !known {
		return a.String()
	}
	return k.Name + " = " + v.String()
}

// num formats a number as .moe and show write it.
func num(f float64) string { return rt.FormatNumber(f) }
