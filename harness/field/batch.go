package field

import (
	"slices"
	"time"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/sim"
)

// closeIdle closes the dialogs idle for longer than Options.Idle before now.
func (a *analyzer) closeIdle(now time.Time) {
	for id, d := range a.dialogs {
		idle := a.opts.Idle
		if d.ended {
			idle = a.opts.Linger
		}
		if now.Sub(d.last) > idle {
			a.batch = append(a.batch, d)
			delete(a.dialogs, id)
			delete(a.toCaller, id)
			delete(a.branches, id)
		}
	}
	if len(a.batch) >= 128 {
		a.judgeBatch()
	}
}

// finish flushes everything and judges the remaining dialogs.
func (a *analyzer) finish() {
	for _, g := range causalOrder(a.pending) {
		a.emit(g)
	}
	a.pending = nil
	ids := make([]string, 0, len(a.dialogs))
	for id := range a.dialogs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y string) int { return a.dialogs[x].recs[0].Seq - a.dialogs[y].recs[0].Seq })
	for _, id := range ids {
		a.batch = append(a.batch, a.dialogs[id])
	}
	clear(a.dialogs)
	clear(a.toCaller)
	clear(a.branches)
	a.judgeBatch()
	if a.net != nil {
		_ = a.net.Close()
	}
}

// bindingRecords returns the NAT binding records kept, in Seq order.
func (a *analyzer) bindingRecords() []sim.Record {
	var recs []sim.Record
	for _, rs := range a.bindRecs {
		recs = append(recs, rs...)
	}
	slices.SortFunc(recs, func(x, y sim.Record) int { return x.Seq - y.Seq })
	return recs
}

// judgeBatch judges the closed dialogs with the topology known now.
func (a *analyzer) judgeBatch() {
	if len(a.batch) == 0 {
		return
	}
	slices.SortFunc(a.batch, func(x, y *dialog) int { return x.recs[0].Seq - y.recs[0].Seq })
	recs := a.bindingRecords()
	seqs := map[int]bool{}
	for _, r := range recs {
		seqs[r.Seq] = true
	}
	for _, d := range a.batch {
		for _, r := range d.recs {
			if !seqs[r.Seq] {
				recs = append(recs, r)
			}
		}
	}
	slices.SortFunc(recs, func(x, y sim.Record) int { return x.Seq - y.Seq })
	res := &harness.Result{Scenario: a.topo.scenario(""), Capture: sim.LogOf(recs)}
	res.Judge()
	for _, f := range res.Calls {
		a.learnHandling(f)
		a.out.took(a.opts, f, a.callEvidence(res.Trace, f))
	}
	for _, d := range a.batch {
		keep := a.out.keptCalls < a.opts.Keep
		if keep {
			a.out.keptCalls++
			for _, r := range d.recs {
				if !a.keptSeqs[r.Seq] {
					a.keptSeqs[r.Seq] = true
					a.kept = append(a.kept, r)
				}
			}
		}
		for _, r := range d.recs {
			if r.Kind == sim.Sent && !keep {
				delete(a.evidence, r.Datagram)
			}
		}
	}
	a.batch = a.batch[:0]
}
