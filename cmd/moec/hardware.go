package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/moepolicy/moec/rt/replay"
)

// The hardware figures of the cost model, the flags of every command that
// models time: replay, tune and sweep.

// hardwareUsage is the part of the usage line that names the flags.
const hardwareUsage = "[-pcie-gbps rate] [-copy-latency d] [-cpu-gbps rate] [-cpu-expert d] [-gpu-expert d]"

// hardwareHelp describes the flags, in the commands' long texts.
const hardwareHelp = `	-pcie-gbps rate, -copy-latency d
		The host-to-GPU bandwidth in GB/s (10^9 bytes per second;
		52.5 by default, pinned memory on PCIe Gen5 x16) and the
		fixed cost of a copy (2.6us by default). A policy that
		writes schedule pcie_gbps is priced with its own.
	-cpu-gbps rate, -cpu-expert d
		The time of one expert for one token on the CPU: its bytes
		at -cpu-gbps GB/s (8.24 by default: 2.1ms for Qwen1.5-MoE's
		16.5 MiB expert on 16 cores, 43ms for Mixtral's 336 MiB), or
		-cpu-expert whatever its size. A policy that writes schedule
		cpu_expert_ms is priced with its own.
	-gpu-expert d
		The time of one expert for one token on the GPU, which hides
		background copies (76us by default). Times take a unit: ns,
		us, ms or s, as in 2.6us or 2.1ms.`

// hardwareFlags registers the cost model's flags on fs and returns the
// model they set, with the defaults where they are not given. Each flag
// refuses a figure no hardware has, naming itself and the form it wants.
func hardwareFlags(fs *flag.FlagSet) *replay.CostModel {
	m := replay.DefaultCostModel()
	fs.Var(rateFlag{&m.PCIeGBps}, "pcie-gbps", "host-to-GPU bandwidth, GB/s")
	fs.Var(durationFlag{&m.CopyLatency, 0}, "copy-latency", "fixed cost of one copy")
	fs.Var(rateFlag{&m.CPUGBps}, "cpu-gbps", "GB of an expert's weights the CPU runs per second")
	fs.Var(durationFlag{&m.CPUExpert, 1}, "cpu-expert", "one expert, one token, on the CPU")
	fs.Var(durationFlag{&m.GPUExpert, 0}, "gpu-expert", "one expert, one token, on the GPU")
	return &m
}

// rateFlag is a flag of GB/s: a finite number above 0.
type rateFlag struct{ p *float64 }

func (f rateFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.FormatFloat(*f.p, 'g', -1, 64)
}

func (f rateFlag) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(v > 0) || math.IsInf(v, 1) {
		return fmt.Errorf("want a number of GB/s above 0, as in 52.5")
	}
	*f.p = v
	return nil
}

// durationFlag is a flag of a time with its unit, at least min.
type durationFlag struct {
	p   *time.Duration
	min time.Duration
}

func (f durationFlag) String() string {
	if f.p == nil {
		return ""
	}
	return f.p.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	switch {
	case err != nil:
		if _, ferr := strconv.ParseFloat(strings.TrimSpace(s), 64); ferr == nil {
			return fmt.Errorf("a time needs a unit: ns, us, ms or s, as in %sms", strings.TrimSpace(s))
		}
		return fmt.Errorf("want a time with a unit: ns, us, ms or s, as in 2.6us or 2.1ms")
	case d < f.min && f.min > 0:
		return fmt.Errorf("want a time above 0")
	case d < 0:
		return fmt.Errorf("want a time of 0 or more")
	}
	*f.p = d
	return nil
}

// hardwareText describes the figures m prices a replay with, for experts
// of the given bytes, marking those a policy stated (where m differs from
// flags, the model of the flags): "PCIe 52.5 GB/s + 2.6µs a copy
// (0.332 ms an expert); an expert takes 2.100 ms on the CPU, 0.076 ms on
// the GPU".
func hardwareText(m, flags replay.CostModel, bytes int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "PCIe %s GB/s", strconv.FormatFloat(m.PCIeGBps, 'g', -1, 64))
	if m.PCIeGBps != flags.PCIeGBps {
		b.WriteString(" (the policy's pcie_gbps)")
	}
	fmt.Fprintf(&b, " + %v a copy (%.3f ms an expert); an expert takes %.3f ms on the CPU", m.CopyLatency, ms(m.Copy(bytes)), ms(m.CPU(bytes)))
	if m.CPUExpert != flags.CPUExpert {
		b.WriteString(" (the policy's cpu_expert_ms)")
	}
	fmt.Fprintf(&b, ", %.3f ms on the GPU", ms(m.GPUExpert))
	return b.String()
}
