package rt

// TieredCache is the composition "A | B": a primary cache of kind A with
// two thirds of the slots and a secondary of kind B with the rest. The
// primary's victims move into the secondary (the slot is kept, only its
// tier changes); the secondary's victims leave; a hit in the secondary
// promotes the expert back into the primary. Pinned experts live in the
// primary.
type TieredCache struct {
	primary, secondary Cache
	demoted            Effects // scratch: the primary's victims on their way down
}

var _ Cache = (*TieredCache)(nil)

// tierSizes splits capacity between the tiers: the primary gets
// max(1, 2c/3), the secondary the rest (none when c is 1, where the
// reference gave each tier a slot and so held 2).
func tierSizes(capacity int) (primary, secondary int) {
	primary = max(1, 2*capacity/3)
	return primary, max(0, capacity-primary)
}

// Access looks k up in the primary, then in the secondary.
func (c *TieredCache) Access(k Key, score float32, fx *Effects) bool {
	if c.primary.Contains(k) {
		c.demoted.Reset()
		hit := c.primary.Access(k, score, &c.demoted)
		c.settle(fx)
		return hit
	}
	if c.secondary.Contains(k) {
		c.secondary.Remove(k)
		c.demoted.Reset()
		c.primary.Access(k, score, &c.demoted)
		c.settle(fx)
		if !c.primary.Contains(k) && !c.secondary.Warm(k, nil, fx) {
			fx.Evicted = append(fx.Evicted, k) // neither tier would keep it
		}
		return true
	}
	c.demoted.Reset()
	hit := c.primary.Access(k, score, &c.demoted)
	c.settle(fx)
	return hit
}

// settle moves the primary's victims into the secondary and passes on
// what the secondary evicts.
func (c *TieredCache) settle(fx *Effects) {
	for _, k := range c.demoted.Admitted {
		// The primary took k back on its own: if the secondary holds it,
		// it changes tiers, no copy needed.
		if !c.secondary.Remove(k) {
			fx.Admitted = append(fx.Admitted, k)
		}
	}
	fx.Phantom += c.demoted.Phantom
	for _, v := range c.demoted.Evicted {
		if !c.secondary.Warm(v, nil, fx) {
			fx.Evicted = append(fx.Evicted, v)
		}
	}
}

func (c *TieredCache) Contains(k Key) bool { return c.primary.Contains(k) || c.secondary.Contains(k) }

func (c *TieredCache) Warm(k Key, protect []Key, fx *Effects) bool {
	if c.Contains(k) {
		return false
	}
	c.demoted.Reset()
	ok := c.primary.Warm(k, protect, &c.demoted)
	c.settle(fx)
	return ok
}

// EvictOne evicts from the secondary first: it holds the experts the
// primary already gave up.
func (c *TieredCache) EvictOne(protect []Key, fx *Effects) bool {
	return c.secondary.EvictOne(protect, fx) || c.primary.EvictOne(protect, fx)
}

func (c *TieredCache) Remove(k Key) bool { return c.primary.Remove(k) || c.secondary.Remove(k) }
func (c *TieredCache) Len() int          { return c.primary.Len() + c.secondary.Len() }
func (c *TieredCache) Capacity() int     { return c.primary.Capacity() + c.secondary.Capacity() }

func (c *TieredCache) SetCapacity(n int, fx *Effects) {
	p, s := tierSizes(n)
	c.secondary.SetCapacity(s, fx)
	c.demoted.Reset()
	c.primary.SetCapacity(p, &c.demoted)
	c.settle(fx)
}

// Residents lists the secondary's experts, then the primary's.
func (c *TieredCache) Residents(dst []Key) []Key {
	return c.primary.Residents(c.secondary.Residents(dst))
}
