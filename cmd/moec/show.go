package main

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/moepolicy/moec/rt"
)

var showCommand = &command{
	name:      "show",
	usageLine: "path...",
	short:     "print policies resolved, with every default filled in",
	long: `Show checks the named .moe files and prints every policy in them as moec
resolves it: every key with its value, the defaults of the keys left out
filled in, and the adapt rules the policy runs, including the implicit
rules that conditional values such as "capacity = 16 : 32 when hit_rate <
0.5" turn into. A directory stands for every .moe file under it.

For each policy, show prints a line with its name and where it is
written, then one line per block, named as in .moe, with key=value pairs
under the .moe key names. For example:

	policy balanced (balanced.moe:2:1)
	  cache      capacity=16 eviction=lfu pin=[] ttl=off expert_size_gb=1.2
	             frequency_decay=0.9 freq_threshold=0.05 freq_window=100 score_ema_alpha=0.3
	             memory_pressure=off
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
	           memory_pressure: off, or on followed by memory_threshold,
	           memory_headroom and memory_budget_gb
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
still shown.`,
	run: runShow,
}

func runShow(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		return e.usageError(c)
	}
	status := exitOK
	first := true
	e.eachFile(fs.Args(), &status, func(name string) {
		src, err := readRegular(name)
		if err != nil {
			e.errorf("%v", err)
			status = exitError
			return
		}
		specs, diags := checkSource(name, src)
		if len(diags) > 0 {
			e.printDiagnostics(diags)
			status = exitError
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
	return status
}

// writeSpec writes the layout that "moec help show" describes.
func writeSpec(b *bytes.Buffer, s *rt.Spec) {
	fmt.Fprintf(b, "policy %s (%s)\n", s.Name, s.Pos)

	c := &s.Cache
	eviction := c.Eviction.String()
	if c.Eviction == rt.Fallback {
		eviction = c.Primary.String() + "|" + c.Secondary.String()
	}
	memory := []string{"memory_pressure=off"}
	if c.MemoryPressure {
		memory = []string{
			"memory_pressure=on",
			"memory_threshold=" + num(c.MemoryThreshold),
			"memory_headroom=" + num(c.MemoryHeadroom),
			"memory_budget_gb=" + num(c.MemoryBudgetGB),
		}
	}
	ttl := "ttl=off"
	if c.TTLSet {
		ttl = "ttl=" + strconv.Itoa(c.TTL)
	}
	section(b, "cache",
		[]string{
			"capacity=" + strconv.Itoa(c.Capacity),
			"eviction=" + eviction,
			"pin=" + intList(c.Pin),
			ttl,
			"expert_size_gb=" + num(c.ExpertSizeGB),
		},
		[]string{
			"frequency_decay=" + num(c.Decay),
			"freq_threshold=" + num(c.FreqThreshold),
			"freq_window=" + strconv.Itoa(c.FreqWindow),
			"score_ema_alpha=" + num(c.ScoreAlpha),
		},
		memory,
	)

	p := &s.Prefetch
	section(b, "prefetch", []string{
		"strategy=" + p.Strategy.String(),
		"lookahead=" + strconv.Itoa(p.Lookahead),
		"budget=" + strconv.Itoa(p.Budget),
		"affinity_threshold=" + num(p.AffinityThreshold),
		"history_window=" + strconv.Itoa(p.HistoryWindow),
	})

	sc := &s.Schedule
	cpu := "unset"
	if sc.CPUExpertMS > 0 {
		cpu = num(sc.CPUExpertMS)
	}
	section(b, "schedule",
		[]string{
			"mode=" + sc.Mode.String(),
			"offload_threshold_ms=" + num(sc.OffloadThresholdMS),
			"overlap=" + strconv.FormatBool(sc.Overlap),
			"priority_routing=" + strconv.FormatBool(sc.PriorityRouting),
		},
		[]string{
			"pcie_gbps=" + num(sc.PCIeGBps),
			"cpu_expert_ms=" + cpu,
		},
	)

	if mon := s.Monitor; mon == nil {
		section(b, "monitor", []string{"none"})
	} else {
		names := make([]string, len(mon.Metrics))
		for i, m := range mon.Metrics {
			names[i] = m.String()
		}
		section(b, "monitor", []string{
			"metrics=[" + strings.Join(names, ",") + "]",
			"window=" + strconv.Itoa(mon.Window),
			"log_interval=" + strconv.Itoa(mon.LogInterval),
		})
	}

	if pl := s.PerLayer; pl == nil {
		section(b, "per_layer", []string{"none"})
	} else {
		total := "unset"
		if pl.TotalBudget > 0 {
			total = strconv.Itoa(pl.TotalBudget)
		}
		section(b, "per_layer",
			[]string{
				"allocation=" + pl.Allocation.String(),
				"entropy_window=" + strconv.Itoa(pl.EntropyWindow),
				"min_capacity=" + strconv.Itoa(pl.MinCapacity),
				"max_capacity=" + strconv.Itoa(pl.MaxCapacity),
			},
			[]string{
				"rebalance_interval=" + strconv.Itoa(pl.RebalanceInterval),
				"total_budget=" + total,
			},
		)
	}

	section(b, "adapt", []string{"cooldown=" + strconv.Itoa(s.Adapt.Cooldown)})
	for i, r := range s.Adapt.Rules {
		fmt.Fprintf(b, "    [%d] %s  (", i+1, ruleText(r))
		if r.Implicit {
			b.WriteString("implicit, ")
		}
		fmt.Fprintf(b, "%s)\n", r.Pos)
	}
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
	switch {
	case a.Target == rt.SetEviction && a.Eviction == rt.Fallback:
		return "eviction = " + a.Primary.String() + " | " + a.Second.String()
	case a.Target == rt.SetDecay:
		return "frequency_decay = " + num(a.Float)
	}
	return a.String()
}

// num formats a number in its shortest exact form, without an exponent
// unless it is very large or very small.
func num(f float64) string {
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e21) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// intList formats a list of integers as in .moe, without spaces.
func intList(list []int) string {
	parts := make([]string, len(list))
	for i, n := range list {
		parts[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
