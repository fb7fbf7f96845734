package rt

// monitor keeps rolling windows of the monitor block's metrics over the
// last window expert accesses, and a snapshot every log_interval accesses
// (the last monitorHistory of them).
type monitor struct {
	spec     MonitorSpec
	flags    []uint8 // per access in the window: hit, transfer, cpu
	evicts   []int32 // per access in the window: evictions
	head     int
	count    int
	accesses int64
	sums     struct{ hits, transfers, cpu, evictions int64 }
	history  []MonitorSnapshot // ring
	hhead    int
	hcount   int
}

const monitorHistory = 64

const (
	flagHit uint8 = 1 << iota
	flagTransfer
	flagCPU
)

func newMonitor(spec MonitorSpec) *monitor {
	spec.Window, spec.LogInterval = mustWindow("monitor window", spec.Window), max(spec.LogInterval, 1)
	return &monitor{spec: spec, flags: make([]uint8, spec.Window), evicts: make([]int32, spec.Window),
		history: make([]MonitorSnapshot, monitorHistory)}
}

func (m *monitor) record(flags uint8, evictions int) {
	if m.count == len(m.flags) {
		old := m.flags[m.head]
		m.sums.hits -= int64(old & flagHit)
		m.sums.transfers -= int64(old&flagTransfer) >> 1
		m.sums.cpu -= int64(old&flagCPU) >> 2
		m.sums.evictions -= int64(m.evicts[m.head])
	} else {
		m.count++
	}
	m.flags[m.head], m.evicts[m.head] = flags, int32(evictions)
	m.sums.hits += int64(flags & flagHit)
	m.sums.transfers += int64(flags&flagTransfer) >> 1
	m.sums.cpu += int64(flags&flagCPU) >> 2
	m.sums.evictions += int64(evictions)
	m.head = (m.head + 1) % len(m.flags)
	m.accesses++
	if m.accesses%int64(m.spec.LogInterval) == 0 {
		m.history[m.hhead] = m.snapshot()
		m.hhead = (m.hhead + 1) % len(m.history)
		m.hcount = min(m.hcount+1, len(m.history))
	}
}

func (m *monitor) snapshot() MonitorSnapshot {
	s := MonitorSnapshot{Access: m.accesses}
	if m.count > 0 {
		n := float64(m.count)
		s.HitRate = float64(m.sums.hits) / n
		s.MissRate = 1 - s.HitRate
		s.EvictionRate = float64(m.sums.evictions) / n
		s.TransferRate = float64(m.sums.transfers) / n
		s.CPURate = float64(m.sums.cpu) / n
	}
	return s
}

func (m *monitor) stats(residentGB float64) *MonitorStats {
	st := &MonitorStats{Window: m.spec.Window, Current: m.snapshot()}
	st.Current.MemoryGB = residentGB
	start := (m.hhead - m.hcount + len(m.history)) % len(m.history)
	for j := 0; j < m.hcount; j++ {
		st.History = append(st.History, m.history[(start+j)%len(m.history)])
	}
	return st
}
