package matrix

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Summary says which axis values lose the ACK: a few conditions, each a conjunction of
// axes taking some of their values, such that every cell meeting one lost its ACK and
// together they cover every lost cell they can (Uncovered counts the rest).
type Summary struct {
	Cells      int         `json:"cells"`
	Lost       int         `json:"lost"`   // cells whose call lost the ACK, or whose run failed
	Failed     int         `json:"failed"` // cells that did not meet their expectations
	Conditions []Condition `json:"conditions"`
	Uncovered  int         `json:"uncovered"` // lost cells no condition explains
	Text       string      `json:"text"`
}

// Condition is a conjunction: every listed axis takes one of its listed values.
type Condition struct {
	Terms []Term `json:"terms"`
	Cells int    `json:"cells"` // cells of the run that meet it (all lost)
}

// Term is one axis of a Condition.
type Term struct {
	Axis   string   `json:"axis"`
	Values []string `json:"values"`
}

// maxTerms bounds the conjunctions the summary tries: beyond three axes at once a
// condition no longer reads at a glance, and the table says it better.
const maxTerms = 3

// summarize finds the shortest conjunctions of single axis values under which every cell
// run lost its ACK (an axis with one value run is left out: it tells nothing), then
// merges conditions that differ in the values of one axis only.
func summarize(r *Report) Summary {
	s := Summary{Cells: len(r.Cells), Conditions: []Condition{}}
	for _, c := range r.Cells {
		if c.Lost() {
			s.Lost++
		}
		if !c.Passed {
			s.Failed++
		}
	}
	// The values each axis took in the cells run.
	seen := make([][]string, len(r.Axes))
	for _, c := range r.Cells {
		for j, v := range c.Values {
			if j < len(seen) && !slices.Contains(seen[j], v) {
				seen[j] = append(seen[j], v)
			}
		}
	}
	var varying []int
	for j, vals := range seen {
		if len(vals) > 1 {
			varying = append(varying, j)
		}
	}
	type conj map[int]string
	var found []conj
	covered := map[int]bool{}
	implied := func(c conj) bool { // a shorter condition already found holds whenever c does
		for _, f := range found {
			sub := true
			for a, v := range f {
				if c[a] != v {
					sub = false
					break
				}
			}
			if sub {
				return true
			}
		}
		return false
	}
	if s.Lost == 1 && s.Cells == 1 {
		s.Text = "The ACK is lost in the one cell."
		return s
	}
	if s.Lost > 0 && s.Lost == s.Cells {
		s.Text = fmt.Sprintf("The ACK is lost in every one of the %d cells.", s.Cells)
		return s
	}
	for k := 1; k <= min(maxTerms, len(varying)) && len(covered) < s.Lost; k++ {
		for _, axes := range combinations(varying, k) {
			for _, vals := range product(axes, seen) {
				c := conj{}
				for i, a := range axes {
					c[a] = vals[i]
				}
				if implied(c) {
					continue
				}
				var hit []int
				all := true
				for ci, cell := range r.Cells {
					if cellMeets(cell, c) {
						if !cell.Lost() {
							all = false
							break
						}
						hit = append(hit, ci)
					}
				}
				if all && len(hit) > 0 {
					found = append(found, c)
					for _, h := range hit {
						covered[h] = true
					}
				}
			}
		}
	}
	s.Uncovered = s.Lost - len(covered)
	// Merge conditions equal but for the value of one axis, until none merge.
	conds := make([]map[int][]string, len(found))
	for i, f := range found {
		conds[i] = map[int][]string{}
		for a, v := range f {
			conds[i][a] = []string{v}
		}
	}
	for merged := true; merged; {
		merged = false
	outer:
		for i := range conds {
			for j := i + 1; j < len(conds); j++ {
				if a, ok := differIn(conds[i], conds[j]); ok {
					conds[i][a] = append(conds[i][a], conds[j][a]...)
					conds = slices.Delete(conds, j, j+1)
					merged = true
					break outer
				}
			}
		}
	}
	for _, c := range conds {
		var cond Condition
		for _, a := range slices.Sorted(maps.Keys(c)) {
			vals := c[a]
			// In the template's order.
			slices.SortFunc(vals, func(x, y string) int {
				return indexOf(r.Axes[a].Values, x) - indexOf(r.Axes[a].Values, y)
			})
			cond.Terms = append(cond.Terms, Term{Axis: r.Axes[a].Name, Values: vals})
		}
		for _, cell := range r.Cells {
			if condMeets(cell, c) {
				cond.Cells++
			}
		}
		s.Conditions = append(s.Conditions, cond)
	}
	s.Text = summaryText(s)
	return s
}

// differIn reports the one axis on which a and b differ, when they name the same axes
// and agree on all others.
func differIn(a, b map[int][]string) (int, bool) {
	if len(a) != len(b) {
		return 0, false
	}
	diff, n := -1, 0
	for k, av := range a {
		bv, ok := b[k]
		if !ok {
			return 0, false
		}
		if !slices.Equal(av, bv) {
			diff, n = k, n+1
		}
	}
	return diff, n == 1
}

func cellMeets(c CellResult, conj map[int]string) bool {
	for a, v := range conj {
		if a >= len(c.Values) || c.Values[a] != v {
			return false
		}
	}
	return true
}

func condMeets(c CellResult, cond map[int][]string) bool {
	for a, vs := range cond {
		if a >= len(c.Values) || !slices.Contains(vs, c.Values[a]) {
			return false
		}
	}
	return true
}

// combinations returns the k-element subsets of xs, in order.
func combinations(xs []int, k int) [][]int {
	if k == 0 {
		return [][]int{nil}
	}
	var out [][]int
	for i := range xs {
		for _, rest := range combinations(xs[i+1:], k-1) {
			out = append(out, append([]int{xs[i]}, rest...))
		}
	}
	return out
}

// product returns every choice of one value per axis.
func product(axes []int, values [][]string) [][]string {
	out := [][]string{nil}
	for _, a := range axes {
		var next [][]string
		for _, pre := range out {
			for _, v := range values[a] {
				next = append(next, append(slices.Clone(pre), v))
			}
		}
		out = next
	}
	return out
}

func summaryText(s Summary) string {
	if s.Lost == 0 && s.Cells == 1 {
		return "The ACK reaches the callee in the one cell."
	}
	if s.Lost == 0 {
		return fmt.Sprintf("The ACK reaches the callee in all %d cells.", s.Cells)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The ACK is lost in %d of %d cells", s.Lost, s.Cells)
	if len(s.Conditions) > 0 {
		b.WriteString(", whenever ")
		for i, c := range s.Conditions {
			if i > 0 {
				b.WriteString("; or whenever ")
			}
			b.WriteString(c.String())
		}
	}
	switch {
	case s.Uncovered > 0 && len(s.Conditions) > 0:
		fmt.Fprintf(&b, "; and in %d more under no condition on up to %d axes (see the table)", s.Uncovered, maxTerms)
	case s.Uncovered > 0:
		fmt.Fprintf(&b, ", under no condition on up to %d axes (see the table)", maxTerms)
	}
	b.WriteString(".")
	return b.String()
}

// String writes the condition as "AXIS is V" clauses joined by "and".
func (c Condition) String() string {
	var parts []string
	for _, t := range c.Terms {
		parts = append(parts, t.Axis+" is "+strings.Join(t.Values, " or "))
	}
	return strings.Join(parts, " and ")
}
