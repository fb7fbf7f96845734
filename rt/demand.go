package rt

// DemandLRU runs the current dispatch's selected experts through the LRU
// cache c and fills plan, for a policy that only ever loads what a layer
// needs: it prefetches in none of its states, has no triggers and no
// monitor, and runs every miss on the GPU. It makes the decisions that
// Access, Account and Settle make expert by expert, in one loop and
// without Effects: every eviction releases a slot (no background copy of
// this plan can be undone, no expert is marked prefetched) and every miss
// is a Load. Generated code calls it for such policies; the interpreter
// takes the step-by-step path, and the differential tests hold the two to
// the same plans.
func (l *Ledger) DemandLRU(c *LRUCache, plan *Plan) {
	hits, loads := l.n.Hits, len(plan.Load) // the counters are kept in place: fewer registers to spill
	hit, device := plan.Hit[:len(l.experts)], plan.Device[:len(l.experts)]
	// The cache's keys are a run of the ledger's (one layer's, or all).
	slots := l.slot[l.x.of(Key{Layer: c.x.base}):]
	for i, e := range l.experts {
		k := Key{Layer: l.layer, Expert: e}
		j := c.x.of(k)
		nd := &c.node[j]
		s := &slots[j]
		if s.stamp == l.step {
			// Selected twice: this plan loads it already, and the layer
			// needs it, so a release after the layer is undone (as
			// Ledger.copy does).
			plan.Evict = removeKey(plan.Evict, k)
		}
		if nd.pinned || nd.in {
			if nd.in {
				c.unlink(nd)
				c.pushBack(j, nd)
			}
			l.n.Hits++
			hit[i], device[i] = true, GPU
			continue
		}
		if v := c.makeRoom(); v >= 0 {
			plan.Evict = append(plan.Evict, c.node[v].key)
			l.n.Evictions++
		}
		hit[i], device[i] = false, GPU
		if s.stamp != l.step {
			s.stamp, s.inLoad = l.step, true
			plan.Load = append(plan.Load, k)
		}
		if !c.insert(j, nd) {
			plan.Evict = append(plan.Evict, k) // freed after the layer
		}
	}
	hits = l.n.Hits - hits
	misses := int64(len(l.experts)) - hits
	l.n.Loads += int64(len(plan.Load) - loads)
	l.n.Misses += misses
	l.n.GPU += hits + misses
	l.n.Transfers += misses
	l.layerHits[l.layer] += hits
	l.layerMisses[l.layer] += misses
}
