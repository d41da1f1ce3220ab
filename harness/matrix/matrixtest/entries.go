// Package matrixtest turns a matrix template into Ginkgo table entries, so a `go test`
// suite sweeps the same cells as `sipnatlab matrix` and reports each one as a spec of its
// own (focus one with --focus CELL-NAME, label-filter them by axis value).
package matrixtest

import (
	"context"

	"github.com/onsi/ginkgo/v2"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/matrix"
)

// Entries loads the template at path and returns one DescribeTable entry per cell that
// opts selects (its Shard and Only; the zero Options selects all), named after the cell
// and labelled AXIS=VALUE for each axis. The entry's parameter is a Cell. It is
// called while the spec tree is built, so a template that does not load yields a single
// entry that fails with the loader's error (file, line, field) when Run is given it.
func Entries(path string, opts matrix.Options) []ginkgo.TableEntry {
	t, err := matrix.Load(path)
	var idx []int
	if err == nil {
		idx, err = t.Select(opts)
	}
	if err != nil {
		return []ginkgo.TableEntry{ginkgo.Entry(path, Cell{Err: err})}
	}
	out := make([]ginkgo.TableEntry, 0, len(idx))
	for _, i := range idx {
		c, err := t.Cell(i) // Load validated every cell
		if err != nil {
			out = append(out, ginkgo.Entry(path, Cell{Err: err}))
			continue
		}
		labels := make(ginkgo.Labels, len(t.Axes))
		for j, a := range t.Axes {
			labels[j] = a.Name + "=" + c.Values[j]
		}
		out = append(out, ginkgo.Entry(c.Name, labels, Cell{Cell: c}))
	}
	return out
}

// Cell is the parameter of an entry: a cell of the template, or the error that kept the
// template from loading.
type Cell struct {
	*matrix.Cell
	Err error
}

// Run runs the cell in simulated time and returns the result, failing the spec when the
// template did not load or the run fails.
func Run(ctx context.Context, c Cell) *harness.Result {
	if c.Err != nil {
		ginkgo.Fail(c.Err.Error(), 1)
	}
	res, err := harness.Run(ctx, c.Scenario, harness.Options{Clock: harness.Simulated})
	if err != nil {
		ginkgo.Fail(err.Error(), 1)
	}
	return res
}
