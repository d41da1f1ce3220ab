package matrix

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Table lays a report's cells out as a person reads them: one row per combination of
// the row axes, one column per combination of the column axes (Report.Columns). Both
// renderers, text and HTML, draw this one model.
type Table struct {
	RowAxes, ColAxes []string
	Cols             [][]string // each column's values of ColAxes
	Rows             []TableRow // rows with at least one cell run
}

// TableRow is one row: its values of the row axes and its cells, nil where not run.
type TableRow struct {
	Values []string
	Cells  []*CellResult
}

// Table builds the table of r.
func (r *Report) Table() Table {
	var rowAx, colAx []int
	for j, a := range r.Axes {
		if slices.Contains(r.Columns, a.Name) {
			colAx = append(colAx, j)
		} else {
			rowAx = append(rowAx, j)
		}
	}
	var t Table
	for _, j := range rowAx {
		t.RowAxes = append(t.RowAxes, r.Axes[j].Name)
	}
	for _, j := range colAx {
		t.ColAxes = append(t.ColAxes, r.Axes[j].Name)
	}
	vals := make([][]string, len(r.Axes))
	for j, a := range r.Axes {
		vals[j] = a.Values
		if only, ok := r.Only[a.Name]; ok {
			vals[j] = only
		}
	}
	t.Cols = product(colAx, vals)
	at := map[string]*CellResult{}
	key := func(vs []string) string { return strings.Join(vs, "\x00") }
	for i := range r.Cells {
		at[key(r.Cells[i].Values)] = &r.Cells[i]
	}
	for _, rv := range product(rowAx, vals) {
		row := TableRow{Values: rv, Cells: make([]*CellResult, len(t.Cols))}
		any := false
		for ci, cv := range t.Cols {
			full := make([]string, len(r.Axes))
			for k, j := range rowAx {
				full[j] = rv[k]
			}
			for k, j := range colAx {
				full[j] = cv[k]
			}
			if c, ok := at[key(full)]; ok {
				row.Cells[ci], any = c, true
			}
		}
		if any {
			t.Rows = append(t.Rows, row)
		}
	}
	return t
}

// Span is a run of equal values of one axis across neighbouring columns or rows.
type Span struct {
	Value string
	N     int
}

// spans groups entry k of keys into runs over which entries 0..k are all equal, so an
// outer axis's value is written once for what it spans.
func spans(keys [][]string, k int) []Span {
	var out []Span
	for i, key := range keys {
		if i > 0 && slices.Equal(keys[i-1][:k+1], key[:k+1]) {
			out[len(out)-1].N++
			continue
		}
		out = append(out, Span{Value: key[k], N: 1})
	}
	return out
}

// ColSpans returns the header of column axis k: its values over the columns they span.
func (t Table) ColSpans(k int) []Span { return spans(t.Cols, k) }

// RowSpan returns how many rows, from row r, row axis k's value spans; 0 when row r
// continues the span of a row above.
func (t Table) RowSpan(r, k int) int {
	keys := make([][]string, len(t.Rows))
	for i, row := range t.Rows {
		keys[i] = row.Values
	}
	if r > 0 && slices.Equal(keys[r-1][:k+1], keys[r][:k+1]) {
		return 0
	}
	n := 1
	for r+n < len(keys) && slices.Equal(keys[r][:k+1], keys[r+n][:k+1]) {
		n++
	}
	return n
}

// Short is a cell's outcome in a few words: "ack" when the ACK reached the callee,
// else "✗ CLASS @LOST-AT ⚑BLAME"; "!" in front when the cell failed its expectations.
func (c *CellResult) Short() string {
	if c == nil {
		return ""
	}
	var s string
	switch {
	case c.Error != "" && !c.Answered:
		s = "error"
	case c.ACKAtCallee:
		s = "ack"
	default:
		s = "✗ " + c.Class
		if c.ACKLostAt != "" {
			s += " @" + c.ACKLostAt
		}
		if c.Blame != "" {
			s += " ⚑" + c.Blame
		}
	}
	if !c.Passed {
		s = "! " + s
	}
	return s
}

// WriteText writes the table, the failed cells and the summary; color marks lost and
// failed cells with ANSI colours.
func (r *Report) WriteText(w io.Writer, color bool) {
	t := r.Table()
	paint := func(code, s string) string {
		if !color || code == "" {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	fmt.Fprintf(w, "matrix %s (%s): %d of %d cells run", r.Name, r.Template, len(r.Cells), r.Total)
	if r.Shard != "" {
		fmt.Fprintf(w, ", shard %s", r.Shard)
	}
	fmt.Fprintf(w, ", %s time\n\n", r.Clock)

	// Column widths: the row-axis columns, then one per table column.
	nrow := len(t.RowAxes)
	width := make([]int, nrow+len(t.Cols))
	head := make([][]string, len(t.ColAxes)+1) // one header line per column axis, then the row-axis names
	for i := range head {
		head[i] = make([]string, len(width))
	}
	for k, a := range t.RowAxes {
		head[len(t.ColAxes)][k] = a
	}
	// An outer axis's value is written once for the columns (rows) it spans.
	for ci, cv := range t.Cols {
		for k, a := range t.ColAxes {
			if ci == 0 || !slices.Equal(t.Cols[ci-1][:k+1], cv[:k+1]) {
				head[k][nrow+ci] = a + "=" + cv[k]
			}
		}
	}
	body := make([][]string, len(t.Rows))
	codes := make([][]string, len(t.Rows))
	for ri, row := range t.Rows {
		body[ri] = make([]string, len(width))
		codes[ri] = make([]string, len(width))
		for k, v := range row.Values {
			if ri == 0 || !slices.Equal(t.Rows[ri-1].Values[:k+1], row.Values[:k+1]) {
				body[ri][k] = v
			}
		}
		for ci, c := range row.Cells {
			body[ri][nrow+ci] = c.Short()
			switch {
			case c == nil:
			case !c.Passed:
				codes[ri][nrow+ci] = "1;31"
			case c.Lost():
				codes[ri][nrow+ci] = "33"
			default:
				codes[ri][nrow+ci] = "32"
			}
		}
	}
	for _, line := range slices.Concat(head, body) {
		for i, s := range line {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	// join lays out one line: cells padded to their column, fill between columns, and
	// mid where the row axes end.
	join := func(cells []string, fill, mid string, cell func(i int, s string) string) string {
		var b strings.Builder
		for i, s := range cells {
			if i > 0 {
				b.WriteString(fill + fill)
				if i == nrow {
					b.WriteString(mid)
				}
			}
			b.WriteString(cell(i, s) + strings.Repeat(fill, width[i]-utf8.RuneCountInString(s)))
		}
		return b.String()
	}
	write := func(line, code []string) {
		fmt.Fprintln(w, strings.TrimRight(join(line, " ", "│ ", func(i int, s string) string {
			if code == nil {
				return s
			}
			return paint(code[i], s)
		}), " "))
	}
	for _, h := range head {
		write(h, nil)
	}
	fmt.Fprintln(w, join(make([]string, len(width)), "─", "┼─", func(int, string) string { return "" }))
	for ri := range body {
		write(body[ri], codes[ri])
	}
	fmt.Fprintln(w, "\nack: the ACK reached the callee · ✗ CLASS: what became of it · @HOST: last host that handled it · ⚑HOST: blamed · !: expectation failed")

	if r.Summary.Failed > 0 {
		fmt.Fprintf(w, "\n%s\n", paint("1;31", fmt.Sprintf("%d of %d cells failed their expectations:", r.Summary.Failed, len(r.Cells))))
		for _, c := range r.Cells {
			if c.Passed {
				continue
			}
			why := strings.Join(c.Failed, "; ")
			if c.Error != "" {
				why = strings.TrimSpace(why + " " + c.Error)
			}
			fmt.Fprintf(w, "  %s: %s\n", c.Name, why)
		}
	}
	fmt.Fprintf(w, "\n%s\n", r.Summary.Text)
}
