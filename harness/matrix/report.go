package matrix

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/report"
)

// Report is the result of a matrix run, and the JSON document of `sipnatlab matrix
// --json`. It holds no timings, so the shards of a simulated run merge into exactly the
// report of the whole run.
type Report struct {
	// SchemaVersion is the shape's version (schema/matrix.schema.json); WriteJSON sets it.
	SchemaVersion int          `json:"schema_version"`
	Template      string       `json:"template"` // the template file
	Name          string       `json:"name"`     // the template's scenario name
	Clock         string       `json:"clock"`    // simulated or real
	Axes          []AxisReport `json:"axes"`
	Columns       []string     `json:"columns"`     // axes laid out as table columns
	Total         int          `json:"total_cells"` // cells of the template, run or not
	Shard         string       `json:"shard,omitempty"`
	// Only is the selection of --only: per axis, the values kept.
	Only    map[string][]string `json:"only,omitempty"`
	Passed  bool                `json:"passed"` // every cell run met its expectations
	Cells   []CellResult        `json:"cells"`  // by index
	Summary Summary             `json:"summary"`
}

// AxisReport is one axis as the template declares it.
type AxisReport struct {
	Name   string   `json:"name"`
	Paths  []string `json:"paths"`
	Values []string `json:"values"`
}

// CellResult is one cell's outcome: the facts of its first call and its expectations.
type CellResult struct {
	Index       int      `json:"index"`
	Name        string   `json:"name"`
	Values      []string `json:"values"` // one per axis
	Passed      bool     `json:"passed"` // ran, and met every expectation
	Error       string   `json:"error,omitempty"`
	Answered    bool     `json:"answered"`
	ACKAtCallee bool     `json:"ack_at_callee"`
	ACKLostAt   string   `json:"ack_lost_at"`
	Blame       string   `json:"blame"`
	Class       string   `json:"diagnosis_class"`
	CalleeBYE   bool     `json:"callee_bye"`
	// Outcome is what became of the call in words, as run's verdict line says it: "call
	// dropped: ACK lost at alice, blame proxy-b"; Fix the change that makes the ACK arrive.
	Outcome string `json:"outcome"`
	Fix     string `json:"fix"`
	// Failed lists the expectations the cell did not meet: "ack-at-callee want false, got true".
	Failed []string `json:"failed_expectations"`
}

// Lost reports whether the call of the cell lost its ACK (or the run failed): what the
// summary explains.
func (c CellResult) Lost() bool { return c.Error != "" || !c.ACKAtCallee }

func newCellResult(c *Cell, res *harness.Result, err error) CellResult {
	h := report.NewHeadline(c.Scenario, res, err)
	r := CellResult{Index: c.Index, Name: c.Name, Values: c.Values, Passed: h.Passed, Error: h.Error,
		Outcome: h.Outcome, Fix: h.Fix, Failed: append([]string{}, h.Unmet...)}
	if res != nil && len(res.Calls) > 0 {
		f := res.Calls[0]
		r.Answered, r.ACKAtCallee, r.ACKLostAt, r.Blame = f.Answered, f.ACKAtCallee, f.ACKLostAt, f.Blame
		r.Class, r.CalleeBYE = string(f.Class), f.CalleeBYE
	} else if r.Error == "" {
		r.Error = h.Outcome
	}
	return r
}

func (t *Template) newReport(clock string) *Report {
	r := &Report{Template: t.File, Name: t.Name, Clock: clock, Total: t.Len(), Columns: []string{}, Cells: []CellResult{}}
	for _, a := range t.Axes {
		ar := AxisReport{Name: a.Name, Values: a.Values}
		for _, p := range a.Paths {
			ar.Paths = append(ar.Paths, p.String())
		}
		r.Axes = append(r.Axes, ar)
	}
	for _, c := range t.Columns {
		r.Columns = append(r.Columns, t.Axes[c].Name)
	}
	return r
}

// finish sorts the cells and derives Passed and the summary.
func (r *Report) finish() {
	slices.SortFunc(r.Cells, func(a, b CellResult) int { return a.Index - b.Index })
	r.Passed = true
	for _, c := range r.Cells {
		r.Passed = r.Passed && c.Passed
	}
	r.Summary = summarize(r)
}

// SchemaVersion is the version of the report's JSON shape, its "schema_version": raised
// only by a change that breaks a reader (schema/matrix.schema.json).
const SchemaVersion = 1

// WriteJSON writes r, indented, with the current SchemaVersion.
func (r *Report) WriteJSON(w io.Writer) error {
	r.SchemaVersion = SchemaVersion
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadReport reads a report that WriteJSON wrote.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read matrix report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read matrix report %q: %w", path, err)
	}
	if r.Name == "" || len(r.Axes) == 0 {
		return nil, fmt.Errorf("read matrix report %q: not a matrix report (no name or axes)", path)
	}
	if r.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("read matrix report %q: schema_version %d; this sipnatlab reads %d", path, r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// ErrMerge is wrapped by Merge's errors: reports of different templates, or a cell twice.
var ErrMerge = errors.New("merge matrix reports")

// Merge combines the reports of the shards of one matrix run into the report of the
// whole run. The reports must come from the same template, clock and selection, and hold
// no cell twice; the merged report holds the cells of all of them.
func Merge(reports ...*Report) (*Report, error) {
	if len(reports) == 0 {
		return nil, fmt.Errorf("%w: no reports", ErrMerge)
	}
	first := reports[0]
	out := *first
	out.Shard, out.Cells = "", nil
	seen := map[int]string{}
	for _, r := range reports {
		if err := sameRun(first, r); err != nil {
			return nil, err
		}
		for _, c := range r.Cells {
			if sh, dup := seen[c.Index]; dup {
				return nil, fmt.Errorf("%w: cell %s is in shard %q and in shard %q", ErrMerge, c.Name, sh, r.Shard)
			}
			seen[c.Index] = r.Shard
			out.Cells = append(out.Cells, c)
		}
	}
	if out.Cells == nil {
		out.Cells = []CellResult{}
	}
	out.finish()
	return &out, nil
}

// sameRun checks that b is a shard of the run a is a shard of.
func sameRun(a, b *Report) error {
	aj, _ := json.Marshal(Report{Template: a.Template, Name: a.Name, Clock: a.Clock, Axes: a.Axes, Columns: a.Columns, Total: a.Total, Only: a.Only})
	bj, _ := json.Marshal(Report{Template: b.Template, Name: b.Name, Clock: b.Clock, Axes: b.Axes, Columns: b.Columns, Total: b.Total, Only: b.Only})
	if string(aj) != string(bj) {
		return fmt.Errorf("%w: %s (shard %q) and %s (shard %q) are not shards of one run: template, clock, axes or --only differ", ErrMerge, a.Name, a.Shard, b.Name, b.Shard)
	}
	return nil
}

// Expected returns how many cells the whole run (every shard) holds: Total, narrowed by Only.
func (r *Report) Expected() int {
	n := 1
	for _, a := range r.Axes {
		if vals, ok := r.Only[a.Name]; ok {
			n *= len(vals)
		} else {
			n *= len(a.Values)
		}
	}
	return n
}
