package replay

import (
	"fmt"
	"math"
	"time"

	"github.com/moepolicy/moec/rt"
)

// CostModel prices a replay's work on given hardware. Its defaults are the
// figures measured on the lent H100 (DESIGN.md, "GPU facts").
type CostModel struct {
	// PCIeGBps is the host-to-device bandwidth in GB/s (10^9 bytes per
	// second); 0 or less prices copies by CopyLatency alone.
	PCIeGBps float64
	// CopyLatency is the fixed cost of one copy, whatever its size.
	CopyLatency time.Duration
	// CPUGBps is how fast the CPU runs an expert for one token, in GB
	// (10^9 bytes) of the expert's weights per second: a token reads
	// every weight of the expert once, so the time scales with its
	// bytes. It is used where CPUExpert is 0.
	CPUGBps float64
	// CPUExpert, when above 0, is the time of one expert for one token on
	// the CPU whatever its size: a figure measured for the model at hand.
	CPUExpert time.Duration
	// GPUExpert is the time of one expert for one token on the GPU: the
	// compute that background copies can hide behind.
	GPUExpert time.Duration
	// GPUToken is the time of one token's whole forward pass on the GPU
	// outside the MoE layers' waits for the host and the copies: the
	// model's own compute, which every policy pays alike. 0, the default,
	// leaves it out, so that the modeled time is what the plans cost
	// (Calibration measures it on the engine).
	GPUToken time.Duration
	// HostLayer is the host's time for one dispatch while the GPU waits:
	// reading the router's choice, the policy's decision, starting the
	// copies and launching the experts. 0, the default, leaves it out.
	HostLayer time.Duration
}

// qwenExpertBytes is the size of one Qwen1.5-MoE expert in bf16
// (3 x 2048 x 1408 x 2 bytes, 16.5 MiB), the expert the CPU figure was
// measured on.
const qwenExpertBytes = 3 * 2048 * 1408 * 2

// DefaultCostModel returns the H100 figures: 52.5 GB/s pinned host to
// device, 2.6 µs to issue a copy, 2.1 ms on the 16 CPU cores for one
// Qwen1.5-MoE expert of 16.5 MiB (8.24 GB/s, so 42.7 ms for Mixtral's
// 336 MiB), 76 µs per expert on the GPU (Qwen1.5-MoE, one token, fp16).
func DefaultCostModel() CostModel {
	return CostModel{
		PCIeGBps:    52.5,
		CopyLatency: 2600 * time.Nanosecond,
		CPUGBps:     qwenExpertBytes / 2.1e6, // bytes per ns = GB/s
		GPUExpert:   76 * time.Microsecond,
	}
}

// Validate reports a figure no hardware has: a bandwidth that is not a
// finite number above 0, a time below 0, a CPU time of 0.
func (m CostModel) Validate() error {
	for _, b := range []struct {
		name string
		v    float64
	}{{"host-to-GPU bandwidth", m.PCIeGBps}, {"CPU rate", m.CPUGBps}} {
		if !(b.v > 0) || math.IsInf(b.v, 1) {
			return fmt.Errorf("%s %v GB/s: want a finite number above 0", b.name, b.v)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"copy latency", m.CopyLatency}, {"CPU time of an expert", m.CPUExpert}, {"GPU time of an expert", m.GPUExpert},
		{"GPU time of a token", m.GPUToken}, {"host time of a dispatch", m.HostLayer}} {
		if d.v < 0 {
			return fmt.Errorf("%s %v: want 0 or more", d.name, d.v)
		}
	}
	return nil
}

// ForPolicy returns m with the hardware figures that spec states itself,
// which describe the deployment it was written for and so take
// precedence: its schedule pcie_gbps, where written (or, for a Spec built
// in Go, other than the default), replaces PCIeGBps, and its
// cpu_expert_ms, where set, replaces CPUExpert.
func (m CostModel) ForPolicy(spec *rt.Spec) CostModel {
	s := &spec.Schedule
	if _, written := spec.KeyPos["schedule.pcie_gbps"]; written || s.PCIeGBps != rt.DefaultPCIeGBps {
		m.PCIeGBps = s.PCIeGBps
	}
	if s.CPUExpertMS > 0 {
		m.CPUExpert = ns(s.CPUExpertMS * float64(time.Millisecond))
	}
	return m
}

// Copy returns the modeled time of copying one expert of the given size:
// bytes / bandwidth + CopyLatency.
func (m CostModel) Copy(bytes int64) time.Duration {
	return time.Duration(math.Round(m.copyNS(bytes)))
}

func (m CostModel) copyNS(bytes int64) float64 {
	ns := float64(m.CopyLatency)
	if m.PCIeGBps > 0 {
		ns += float64(bytes) / m.PCIeGBps // bytes / (GB/s) = ns
	}
	return ns
}

// CPU returns the modeled time of one expert of the given size for one
// token on the CPU: CPUExpert when set, else bytes / CPUGBps (0 when
// neither is known).
func (m CostModel) CPU(bytes int64) time.Duration {
	return ns(m.cpuNS(bytes))
}

// Hardware returns the figures a policy's hybrid schedule decides with
// on the modeled machine, for experts of bytes: its bandwidth and CPU
// time of one expert (rt.Calibrated), as an engine would measure them.
func (m CostModel) Hardware(bytes int64) rt.Hardware {
	return rt.Hardware{PCIeGBps: m.PCIeGBps, CPUExpertMS: float64(m.CPU(bytes)) / float64(time.Millisecond)}
}

// Calibrate calibrates p, where it takes calibration (rt.Calibrated), as
// the engine would before a run: with m's figures for experts of bytes
// (Hardware), each that a run measured (a figure of measured above 0)
// winning, so that a replay decides as that run did.
func (m CostModel) Calibrate(p rt.Policy, bytes int64, measured rt.Hardware) {
	c, ok := p.(rt.Calibrated)
	if !ok {
		return
	}
	hw := m.Hardware(bytes)
	if measured.PCIeGBps > 0 {
		hw.PCIeGBps = measured.PCIeGBps
	}
	if measured.CPUExpertMS > 0 {
		hw.CPUExpertMS = measured.CPUExpertMS
	}
	c.Calibrate(hw)
}

func (m CostModel) cpuNS(bytes int64) float64 {
	switch {
	case m.CPUExpert > 0:
		return float64(m.CPUExpert)
	case m.CPUGBps > 0:
		return float64(bytes) / m.CPUGBps
	}
	return 0
}

// Cost is a replay's modeled time, by part.
type Cost struct {
	Tokens int64 // Result.Tokens
	// Demand is the time of the demand copies, which a dispatch waits
	// for: Loads x Copy(ExpertBytes).
	Demand time.Duration
	// CPU is the time of the experts run on the CPU: CPU x
	// CPU(ExpertBytes).
	CPU time.Duration
	// Beside is the part of CPU that ran while the dispatches waited for
	// their demand copies: per dispatch, the lesser of the two.
	Beside time.Duration
	// Exposed is the part of the prefetch copies' time that the
	// dispatch's GPU compute does not hide; Hidden is the rest.
	Exposed, Hidden time.Duration
	// Compute is the model's own GPU compute: Tokens x GPUToken.
	Compute time.Duration
	// Host is the host's share of the dispatches: Dispatches x HostLayer.
	Host time.Duration
	// Total is Demand + CPU - Beside + Exposed + Compute + Host; PerToken
	// is Total / Tokens (0 when no token was replayed).
	Total, PerToken time.Duration
}

// PerToken returns the modeled time per token of r: Cost(r).PerToken.
func (m CostModel) PerToken(r *Result) time.Duration { return m.Cost(r).PerToken }

// Cost models the time r's plans cost, and with GPUToken and HostLayer
// the time of the whole run that made them, under these assumptions:
//
//   - Every entry of Load and Prefetch is a copy, even one a mechanism could
//     skip (an expert evicted and loaded again by the same plan).
//   - Every copy moves Shape.ExpertBytes and costs Copy(ExpertBytes), which
//     is CopyLatency alone when the size is unknown (0); copies do not share
//     the link with anything else (no contention between a dispatch's
//     copies and a later dispatch's).
//   - A dispatch waits for its demand copies (Plan.Load) in full.
//   - Experts run on the CPU cost CPU(ExpertBytes) each, one after
//     another, while the dispatch's demand copies cross the link (as the
//     engine's host loop runs them): a dispatch waits for the longer of
//     the two, and the shorter is Beside. They overlap no GPU compute and
//     no background copy.
//   - A dispatch's background copies (Plan.Prefetch, which includes the
//     copies of CPU misses) run after its demand copies, during the
//     compute of its own experts run on the GPU (GPUExpert each), and
//     nothing later: per dispatch, max(0, prefetches x Copy(ExpertBytes) -
//     GPU experts x GPUExpert) is exposed.
//   - The model's GPU compute is GPUToken a token, whatever the plans
//     (0 by default: then only what the plans cost is counted); the
//     experts' compute (GPU x GPUExpert) is not counted apart from it, so
//     an expert run on the CPU costs its CPU time in full, not that less
//     GPUExpert: the model overcharges CPU execution by the GPU time it
//     saves (76 of 2,100 µs with the defaults for Qwen1.5-MoE).
//   - Each dispatch costs HostLayer of the host's time during which the
//     GPU waits (0 by default), besides its copies.
//   - Prefetch copy time not hidden by its own dispatch is exposed, even
//     where the next dispatch's compute could have hidden it: a
//     conservative bound.
//   - Tokens are Result.Tokens: the most dispatches any layer had.
func (m CostModel) Cost(r *Result) Cost {
	cp, cpu := m.copyNS(r.Shape.ExpertBytes), m.cpuNS(r.Shape.ExpertBytes)
	gpu := float64(m.GPUExpert)
	var exposed, hidden, beside float64
	for _, o := range r.Overlap {
		pre := float64(o.Prefetches) * cp
		ex := max(0, pre-float64(o.GPU)*gpu)
		exposed += ex * float64(o.Dispatches)
		hidden += (pre - ex) * float64(o.Dispatches)
		beside += min(float64(o.Loads)*cp, float64(o.CPU)*cpu) * float64(o.Dispatches)
	}
	compute := float64(r.Tokens) * float64(m.GPUToken)
	host := float64(r.Dispatches) * float64(m.HostLayer)
	c := Cost{
		Tokens:  r.Tokens,
		Demand:  ns(float64(r.Loads) * cp),
		CPU:     ns(float64(r.CPU) * cpu),
		Beside:  ns(beside),
		Exposed: ns(exposed),
		Hidden:  ns(hidden),
		Compute: ns(compute),
		Host:    ns(host),
	}
	c.Total = c.Demand + c.CPU - c.Beside + c.Exposed + c.Compute + c.Host
	if r.Tokens > 0 {
		c.PerToken = ns((float64(r.Loads)*cp + float64(r.CPU)*cpu - beside + exposed + compute + host) / float64(r.Tokens))
	}
	return c
}

// ns rounds a float number of nanoseconds to a Duration, saturating.
func ns(x float64) time.Duration {
	if x >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(math.Round(x))
}
