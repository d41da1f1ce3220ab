package matrix

import (
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/report"
)

// LadderFile is where WriteLadder puts a cell's ladder page, relative to the directory of
// the matrix page: cells/NAME.html.
func LadderFile(cellName string) string { return filepath.Join("cells", cellName+".html") }

// WriteLadder writes the HTML ladder of one cell's run (package report) to
// dir/LadderFile(name), for the matrix page to link to.
func WriteLadder(dir string, c *Cell, res *harness.Result, runErr error) error {
	path := filepath.Join(dir, LadderFile(c.Name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("matrix ladder %s: %w", c.Name, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("matrix ladder %s: %w", c.Name, err)
	}
	if err := report.WriteHTML(f, c.Scenario, res, runErr); err != nil {
		_ = f.Close()
		return fmt.Errorf("matrix ladder %s: %w", c.Name, err)
	}
	return f.Close()
}

var page = template.Must(template.New("matrix").Funcs(template.FuncMap{
	"ladder": func(c *CellResult) string { return filepath.ToSlash(LadderFile(c.Name)) },
	"class": func(c *CellResult) string {
		switch {
		case c == nil:
			return "none"
		case !c.Passed:
			return "failed"
		case c.Lost():
			return "lost"
		}
		return "ack"
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>matrix {{.R.Name}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
td{white-space:nowrap}
th{background:#f3f3f3}
td.ack{background:#e6f5e6}td.lost{background:#fff3d6}td.failed{background:#ffd6d6;font-weight:bold}
td a{color:inherit;text-decoration:none;display:block}td a:hover{text-decoration:underline}
.summary{font-size:15px;margin:1em 0;max-width:60em}
.legend{color:#666;font-size:12px}
</style></head><body>
<h1>matrix {{.R.Name}}</h1>
<p>{{.R.Template}}: {{len .R.Cells}} of {{.R.Total}} cells run{{if .R.Shard}}, shard {{.R.Shard}}{{end}}, {{.R.Clock}} time.
{{if .R.Summary.Failed}}<strong>{{.R.Summary.Failed}} cells failed their expectations.</strong>{{else}}Every cell met its expectations.{{end}}</p>
<p class="summary">{{.R.Summary.Text}}</p>
<table>
{{range $k, $a := .T.ColAxes}}<tr>{{range $.T.RowAxes}}<th></th>{{end}}{{range $.T.ColSpans $k}}<th colspan="{{.N}}">{{$a}}={{.Value}}</th>{{end}}</tr>
{{end}}<tr>{{range .T.RowAxes}}<th>{{.}}</th>{{end}}{{range .T.Cols}}<th></th>{{end}}</tr>
{{range $r, $row := .T.Rows}}<tr>{{range $k, $v := .Values}}{{with $.T.RowSpan $r $k}}<th rowspan="{{.}}">{{$v}}</th>{{end}}{{end}}{{range .Cells}}<td class="{{class .}}">{{if .}}<a href="{{ladder .}}" title="{{.Name}}&#10;{{.Outcome}}{{if .Fix}}&#10;fix: {{.Fix}}{{end}}{{range .Failed}}&#10;unmet: {{.}}{{end}}{{if .Error}}&#10;{{.Error}}{{end}}">{{.Short}}</a>{{end}}</td>{{end}}</tr>
{{end}}</table>
<p class="legend">ack: the ACK reached the callee · ✗ CLASS: what became of it · @HOST: last host that handled it · ⚑HOST: blamed · !: expectation failed. Each cell links to its ladder.</p>
</body></html>
`))

// WriteHTML writes the matrix page: the summary and the table, each cell linking to its
// ladder page (LadderFile) and marked as arrived, lost or failed.
func (r *Report) WriteHTML(w io.Writer) error {
	return page.Execute(w, struct {
		R *Report
		T Table
	}{r, r.Table()})
}
