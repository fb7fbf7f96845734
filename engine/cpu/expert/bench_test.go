package expert

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/moepolicy/moec/engine/cpu"
)

// Run is bound by the host's read bandwidth, so the benchmarks measure it
// in the same run and report each expert's time against bytes / bandwidth
// (x-bound: 1 is the bound, issue 15 aims at 1.5 or less; read-GB/s is the
// bandwidth measured just before).
//
//	go test ./engine/cpu/expert -run '^$' -bench . -benchmem

// spill is the bytes a benchmark reads across before it reads a byte
// again: far above any host's last-level cache (a 16-core Zen 4 or
// Sapphire Rapids has 32 to 64 MB), so that every byte comes from memory,
// as each expert of a decode step does.
const spill = 1 << 30

var readBuf struct {
	once sync.Once
	b    []byte
}

// readBandwidth returns the host's read bandwidth in GB/s: every core
// sums its share of a buffer of spill bytes with the widest loads the CPU
// has (STREAM's read side), best of three passes. Each benchmark measures
// it just before it runs, as a shared VM's bandwidth drifts within a run.
func readBandwidth() float64 {
	readBuf.once.Do(func() {
		readBuf.b = make([]byte, spill)
		for i := range readBuf.b {
			readBuf.b[i] = byte(i * 7)
		}
	})
	buf := readBuf.b
	ps := cpuPaths()
	p := ps[len(ps)-1]
	n := runtime.GOMAXPROCS(0)
	sums := make([]uint64, n)
	best := time.Duration(1 << 62)
	for range 3 {
		var wg sync.WaitGroup
		start := time.Now()
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				part := buf[len(buf)*i/n/64*64 : len(buf)*(i+1)/n/64*64]
				sums[i] += readSum(p, part)
			}()
		}
		wg.Wait()
		best = min(best, time.Since(start))
	}
	return float64(spill) / float64(best.Nanoseconds())
}

// BenchmarkReadBandwidth reports readBandwidth.
func BenchmarkReadBandwidth(b *testing.B) {
	gbps := readBandwidth()
	for range b.N {
	}
	b.ReportMetric(gbps, "GB/s")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cores")
}

// shapes are the experts benchmarked, in bf16 as their checkpoints store
// them.
var shapes = []struct {
	name          string
	hidden, inter int
}{
	{"qwen1.5-moe", 2048, 1408}, // 17.3 MB
	{"mixtral", 4096, 14336},    // 352 MB
}

// BenchmarkExpert runs one expert for one token with each path this CPU
// runs, and, as the baseline, what the engine did before package expert:
// model.Experts.Unpack then engine/cpu's MLP.Apply on one core. Each
// iteration takes the next of enough copies of the expert to span spill
// bytes.
func BenchmarkExpert(b *testing.B) {
	for _, s := range shapes {
		rng := rand.New(rand.NewPCG(7, 8))
		one, x := packed(b, rng, "BF16", s.hidden, s.inter)
		copies := make([][]byte, max(2, (spill+len(one)-1)/len(one)))
		for i := range copies {
			copies[i] = append([]byte(nil), one...)
		}
		in, out := randomVector(rng, s.hidden), make([]float32, s.hidden)
		report := func(b *testing.B, bw float64) {
			per := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(len(one))/per/1e9, "GB/s")
			b.ReportMetric(per/(float64(len(one))/bw/1e9), "x-bound")
			b.ReportMetric(bw, "read-GB/s")
		}
		ws := NewWorkspace(0)
		for _, p := range ws.paths {
			b.Run(fmt.Sprintf("%s/%s", s.name, p), func(b *testing.B) {
				ws.path = p
				b.SetBytes(int64(len(one)))
				bw := readBandwidth()
				for i := 0; b.Loop(); i++ {
					if err := Run(out, in, copies[i%len(copies)], "BF16", s.hidden, s.inter, ws); err != nil {
						b.Fatal(err)
					}
				}
				report(b, bw)
			})
		}
		ws.Close()
		b.Run(s.name+"/unpack+apply", func(b *testing.B) {
			m := cpu.MLP{Inter: s.inter, Gate: make([]float32, s.inter*s.hidden), Up: make([]float32, s.inter*s.hidden), Down: make([]float32, s.hidden*s.inter)}
			g, u := make([]float32, s.inter), make([]float32, s.inter)
			b.SetBytes(int64(len(one)))
			bw := readBandwidth()
			for i := 0; b.Loop(); i++ {
				if err := x.Unpack(copies[i%len(copies)], m.Gate, m.Up, m.Down); err != nil {
					b.Fatal(err)
				}
				m.Apply(out, in, g, u)
			}
			report(b, bw)
		})
	}
}
