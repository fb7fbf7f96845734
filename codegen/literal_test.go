package codegen

import (
	"reflect"
	"testing"

	"github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/sema"
)

// everyKey writes every key of every block.
const everyKey = `policy every_key {
    cache {
        capacity = 16 eviction = lfu | lru pin = [1] frequency_decay = 0.9 freq_threshold = 0.1
        freq_window = 50 score_ema_alpha = 0.5 memory_threshold = 0.9 memory_headroom = 0.6
        memory_budget_gb = 8 expert_size_gb = 2 ttl = 100
    }
    prefetch { strategy = history lookahead = 2 budget = 2 affinity_threshold = 0.4 history_window = 30 }
    schedule { mode = hybrid offload_threshold_ms = 20 overlap = true priority_routing = true pcie_gbps = 16 cpu_expert_ms = 5 }
    monitor { metrics = [hit_rate] window = 50 log_interval = 10 }
    per_layer { allocation = entropy entropy_window = 100 min_capacity = 1 max_capacity = 8 rebalance_interval = 10 total_budget = 32 }
    adapt { cooldown = 10 }
}
`

// TestFieldKeys checks that fieldKeys, which asks rt's key table, names
// a key for every field of the blocks that a policy writing every key
// sets to something other than its default, each as the front end records
// it in Spec.KeyPos, and the key of the fields two keys share.
func TestFieldKeys(t *testing.T) {
	f, diags := parser.ParseFile("every.moe", []byte(everyKey))
	specs, more := sema.Check(f)
	if len(diags)+len(more) > 0 || len(specs) != 1 {
		t.Fatal(diags, more)
	}
	keys := fieldKeys(specs[0])
	written := specs[0].KeyPos
	blocks := map[string]reflect.Type{
		"Cache": reflect.TypeFor[rt.CacheSpec](), "Prefetch": reflect.TypeFor[rt.PrefetchSpec](),
		"Schedule": reflect.TypeFor[rt.ScheduleSpec](), "Monitor": reflect.TypeFor[rt.MonitorSpec](),
		"PerLayer": reflect.TypeFor[rt.PerLayerSpec](),
	}
	def := rt.NewSpec("every_key", specs[0].Cache.Capacity)
	def.Monitor, def.PerLayer = rt.DefaultMonitor(), rt.DefaultPerLayer()
	sv, dv := reflect.ValueOf(specs[0]).Elem(), reflect.ValueOf(def).Elem()
	want := map[string]bool{"Adapt.Cooldown": true}
	for block, typ := range blocks {
		got, d := reflect.Indirect(sv.FieldByName(block)), reflect.Indirect(dv.FieldByName(block))
		for i := range typ.NumField() {
			if !reflect.DeepEqual(got.Field(i).Interface(), d.Field(i).Interface()) {
				want[block+"."+typ.Field(i).Name] = true
			}
		}
	}
	for field := range want {
		key, ok := keys[field]
		switch {
		case !ok:
			t.Errorf("fieldKeys has no key for %s", field)
		case written[key] == (rt.Pos{}):
			t.Errorf("fieldKeys gives %s the key %q, which the front end does not record", field, key)
		}
	}
	for field := range keys {
		if !want[field] {
			t.Errorf("fieldKeys names %s, which is not a field of a block", field)
		}
	}
	for field, key := range map[string]string{
		"Cache.Primary": "cache.eviction", "Cache.TTLSet": "cache.ttl",
		"Cache.MemoryPressure": "cache.memory_threshold", "Cache.Decay": "cache.frequency_decay",
	} {
		if keys[field] != key {
			t.Errorf("fieldKeys gives %s the key %q, want %q", field, keys[field], key)
		}
	}
}
