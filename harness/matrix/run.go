package matrix

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sipnatlab/sipnatlab/harness"
)

// Shard selects a deterministic part of the cells, like a CI job of a parallel matrix:
// shard I of N runs the cells whose index is I-1 modulo N. The zero value is every cell.
type Shard struct{ I, N int }

// ParseShard parses "I/N" with 1 <= I <= N.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("shard %q: want I/N with 1 <= I <= N, e.g. 2/3", s)
	}
	return Shard{I: i, N: n}, nil
}

// String writes the shard as I/N; "" for every cell.
func (s Shard) String() string {
	if s.N <= 1 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

// Has reports whether cell index i belongs to the shard.
func (s Shard) Has(i int) bool { return s.N <= 1 || i%s.N == s.I-1 }

// Options tune a matrix run. The zero value runs every cell in simulated time on as many
// workers as there are CPUs.
type Options struct {
	// Run is the base of each cell's harness options. Its zero value (Clock "") means
	// simulated time; Containers and Proxies put a real proxy in every cell.
	Run harness.Options
	// Workers is how many cells run at once; 0 means runtime.GOMAXPROCS(0), or 2 with
	// real proxies (each cell starts its own container).
	Workers int
	// Shard picks the cells to run; the zero value runs all.
	Shard Shard
	// Only keeps, per axis name, the listed values; other cells are not run.
	Only map[string][]string
	// Done, when set, is called after each cell (from the workers, one at a time). The
	// cell's Result is Done's to read until it returns: then Run closes its capture
	// (sim.Log.Close, which releases its spill file).
	Done func(*Cell, *harness.Result, error)
}

// Select returns the indexes of the cells opts picks, in order, or an error naming an
// axis or value of Only the template does not have.
func (t *Template) Select(opts Options) ([]int, error) {
	keep := map[int][]string{}
	for name, vals := range opts.Only {
		ai := t.axis(name)
		if ai < 0 {
			return nil, fmt.Errorf("matrix %q: no axis %q; axes: %s", t.File, name, t.axisNames())
		}
		for _, v := range vals {
			if indexOf(t.Axes[ai].Values, v) < 0 {
				return nil, fmt.Errorf("matrix %q: axis %s has no value %q; values: %s", t.File, name, v, strings.Join(t.Axes[ai].Values, ", "))
			}
		}
		keep[ai] = vals
	}
	var out []int
	for i := range t.Len() {
		if !opts.Shard.Has(i) {
			continue
		}
		if (Rule{When: keep}).matches(t.Values(i)) {
			out = append(out, i)
		}
	}
	return out, nil
}

// only returns the selection with each axis's values in the template's order, or nil.
func (t *Template) only(sel map[string][]string) map[string][]string {
	if len(sel) == 0 {
		return nil
	}
	out := map[string][]string{}
	for name, vals := range sel {
		for _, v := range t.Axes[t.axis(name)].Values {
			if slices.Contains(vals, v) {
				out[name] = append(out[name], v)
			}
		}
	}
	return out
}

// Run runs the cells opts selects, each as its own scenario run, on a pool of workers,
// and returns their report. A cell whose run fails is in the report with its error. Run
// itself fails on a bad selection (nil report) or a cancelled ctx: it then returns the
// report of the cells that ran, the interrupted ones with their error.
func (t *Template) Run(ctx context.Context, opts Options) (*Report, error) {
	idx, err := t.Select(opts)
	if err != nil {
		return nil, err
	}
	ro := opts.Run
	real := len(ro.Containers) > 0
	switch {
	case ro.Clock == "" && real:
		ro.Clock = harness.RealTime
	case ro.Clock == "":
		ro.Clock = harness.Simulated
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
		if real {
			workers = 2
		}
	}
	rep := t.newReport(string(ro.Clock))
	rep.Shard = opts.Shard.String()
	rep.Only = t.only(opts.Only)
	results := make([]*CellResult, len(idx))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex // serialises Done
	for range min(workers, len(idx)) {
		wg.Go(func() {
			for k := range jobs {
				c := t.cells[idx[k]]
				res, err := harness.Run(ctx, c.Scenario, ro)
				r := newCellResult(c, res, err)
				results[k] = &r
				if opts.Done != nil {
					mu.Lock()
					opts.Done(c, res, err)
					mu.Unlock()
				}
				if res != nil {
					// Done has read the capture; nothing else does. An error
					// closing it loses nothing.
					_ = res.Capture.Close()
				}
			}
		})
	}
	for k := range idx {
		if ctx.Err() != nil {
			break
		}
		jobs <- k
	}
	close(jobs)
	wg.Wait()
	for _, r := range results {
		if r != nil {
			rep.Cells = append(rep.Cells, *r)
		}
	}
	rep.finish()
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("matrix %q: %d of %d cells run: %w", t.File, len(rep.Cells), len(idx), err)
	}
	return rep, nil
}
