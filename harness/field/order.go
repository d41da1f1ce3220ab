package field

import (
	"slices"
	"time"

	"github.com/sipnatlab/sipnatlab/sim"
)

// flushPending turns the datagrams first seen more than a window before now into records.
func (a *analyzer) flushPending(now time.Time) {
	n := 0
	for _, g := range a.pending {
		if now.Sub(g.first) <= a.opts.Window {
			break
		}
		n++
	}
	if n == 0 {
		return
	}
	for _, g := range causalOrder(a.pending[:n]) {
		a.emit(g)
	}
	a.pending = slices.Delete(a.pending, 0, n)
}

// causalOrder orders datagrams first seen within a window of each other so that
// each file's own order holds: clocks of several vantage points agree only so far
// (and a simulated run stamps a whole exchange with one instant), but one file
// records in the order things happened where it was taken. Ties, and files that
// contradict each other, keep the order of first sighting.
func causalOrder(gs []*group) []*group {
	n := len(gs)
	if n < 2 {
		return gs
	}
	succ := make([][]int, n)
	indeg := make([]int, n)
	byFile := map[int][]int{}
	for i, g := range gs {
		for f := range g.pos {
			byFile[f] = append(byFile[f], i)
		}
	}
	for f, list := range byFile {
		slices.SortFunc(list, func(x, y int) int { return gs[x].pos[f] - gs[y].pos[f] })
		for k := 1; k < len(list); k++ {
			succ[list[k-1]] = append(succ[list[k-1]], list[k])
			indeg[list[k]]++
		}
	}
	out := make([]*group, 0, n)
	done := make([]bool, n)
	ready := []int{} // kept sorted: the earliest first-seen index first
	for i := range gs {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	for len(out) < n {
		if len(ready) == 0 { // files contradict each other: take the earliest left
			for i := range gs {
				if !done[i] {
					ready = append(ready, i)
					break
				}
			}
		}
		i := ready[0]
		ready = ready[1:]
		if done[i] {
			continue
		}
		done[i] = true
		out = append(out, gs[i])
		for _, j := range succ[i] {
			if indeg[j]--; indeg[j] == 0 && !done[j] {
				k, _ := slices.BinarySearch(ready, j)
				ready = slices.Insert(ready, k, j)
			}
		}
	}
	return out
}

// stage orders the copies of one datagram along its way through NATs: 0 from a
// private source, 1 between public addresses, 2 to a private destination.
func stage(p pair) int {
	n := 0
	if !sim.IsPrivate(p.src.Addr()) {
		n++
	}
	if sim.IsPrivate(p.dst.Addr()) {
		n++
	}
	return n
}
