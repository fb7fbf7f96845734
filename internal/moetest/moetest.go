// Package moetest holds test support shared by moec's packages.
package moetest

import (
	"fmt"
	"strings"
)

// BigFile returns about size bytes of valid policies that use every block,
// for benchmarks of the front end.
func BigFile(size int) []byte {
	var b strings.Builder
	b.WriteString("version 1.0\n\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, `# policy %d
policy p%d {
    cache {
        capacity = %d : %d when hit_rate < 0.4
        eviction = lfu | lru
        pin = [0, 1]
        frequency_decay = 0.9
        memory_threshold = 0.75
        memory_headroom = 0.4
        ttl = 200
    }
    prefetch {
        strategy = lookahead
        lookahead = 2
        budget = 4
        history_window = 40
    }
    schedule {
        mode = hybrid
        offload_threshold_ms = 40
        pcie_gbps = 52.5
    }
    monitor {
        metrics = [hit_rate, latency, miss_rate]
        window = 100
    }
    adapt {
        cooldown = 20
        when hit_rate < 0.3 for 100 accesses { eviction = lru }
        when eviction_rate > 0.5 {
            capacity = 48
            budget = 8
        }
    }
}

`, i, i, 24+i%8, 32+i%8)
	}
	return []byte(b.String())
}
