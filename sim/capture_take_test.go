package sim_test

import (
	"slices"
	"testing"
	"testing/synctest"

	"github.com/sipnatlab/sipnatlab/sim"
)

// Take hands the records over and keeps none: a run's records are not held twice.
func TestCaptureTake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, a, _ := memoryWorld(t)
		write(t, a, "203.0.113.2:5060", "REGISTER")
		c := n.Capture()
		before := c.Records()
		taken := c.Take().Records()
		if len(before) == 0 || !slices.EqualFunc(taken, before, func(x, y sim.Record) bool {
			return x.Seq == y.Seq && x.Kind == y.Kind && x.Hop == y.Hop && string(x.Data) == string(y.Data)
		}) {
			t.Fatalf("Take returned %+v, want the records %+v", taken, before)
		}
		if c.Len() != 0 || len(c.Records()) != 0 {
			t.Fatalf("after Take the capture holds %d records, want none", c.Len())
		}
		write(t, a, "203.0.113.2:5060", "OPTIONS")
		after := c.Records()
		if len(after) == 0 || after[0].Seq != taken[len(taken)-1].Seq+1 {
			t.Fatalf("records after Take %+v, want Seq to go on from %d", after, taken[len(taken)-1].Seq)
		}
		if c.Len() != len(after) {
			t.Errorf("Len %d, want %d", c.Len(), len(after))
		}
	})
}
