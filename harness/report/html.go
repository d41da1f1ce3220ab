package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// The HTML ladder: one self-contained page per run. Everything it needs
// (CSS, the SVG ladder, a few lines of JavaScript) is inline, so the page
// opens from a file, a CI artefact or a mail attachment with no network.

const (
	htmlGutter = 90  // left margin for the time column
	htmlColW   = 170 // width of one host column
	htmlTop    = 64  // height of the column headers
	htmlRowH   = 26  // height of a row without a Contact
	htmlOKRowH = 44  // height of a 200 OK row, which shows its Contact
)

type htmlCol struct {
	X          int
	Name, Addr string
	NAT        bool
	Private    bool
}

type htmlXlat struct {
	X, Y int
	Text string
}

type htmlRow struct {
	Note     bool // an actor's note (ACK absorbed, ACK timeout), not a datagram
	ID       int  // datagram id
	Y        int
	Time     string
	X1, X2   int
	LabelX   int
	Label    string
	Class    string // message kind for colour: invite, ok, ack, bye, register, other
	Dropped  bool
	DropX    int
	DropY    int // baseline of the drop's reason, on a line of its own
	DropText string
	Title    string // hover text
	Contact  string // Contact of a 2xx for INVITE
	// Rewritten is set when the sender changed the Contact it received.
	Rewritten     bool
	RewrittenFrom string
	Xlats         []htmlXlat
	Message       string // the full SIP message
}

type htmlHop struct {
	Host, In, Out, Resolves string
	Leads                   bool
}

type htmlCall struct {
	judge.CallFacts
	HopRows []htmlHop
}

type htmlPage struct {
	Name, File, Summary, Lesson string
	Passed                      bool
	Headline                    Headline
	Error                       string
	Note                        string
	Cols                        []htmlCol
	Width, Height               int
	Gutter                      int
	Rows                        []htmlRow
	Calls                       []htmlCall
	Expectations                []judge.ExpectationResult
}

// WriteHTML writes one self-contained HTML page for one run (res nil when
// the run could not start): a column per host and NAT with its address, an
// arrow per datagram (click or hover for the full SIP message), NAT
// translations and drops, the Contact of every 200 OK with the rewritten ones
// highlighted, then the facts, the diagnosis and the lesson.
func WriteHTML(w io.Writer, s *scenario.Scenario, res *harness.Result, runErr error) error {
	p := htmlPage{Name: s.Name, File: s.File, Summary: s.Summary, Lesson: strings.TrimSpace(s.Lesson), Headline: NewHeadline(s, res, runErr)}
	if runErr != nil {
		p.Error = runErr.Error()
	}
	if res != nil {
		p.Passed = res.Passed && runErr == nil
		p.Expectations = res.Expectations
		buildLadder(&p, res)
		for _, c := range res.Calls {
			hc := htmlCall{CallFacts: c}
			for _, h := range c.Hops {
				hc.HopRows = append(hc.HopRows, htmlHop{Host: h.Host, In: h.In, Out: h.Out, Resolves: h.Resolves, Leads: h.Leads})
			}
			p.Calls = append(p.Calls, hc)
		}
	}
	return pageTemplate.Execute(w, p)
}

// buildLadder lays the ladder of res out on the page: a column per host and NAT, an
// arrow per datagram row, a mark and a line of words per note row.
func buildLadder(p *htmlPage, res *harness.Result) {
	l := NewLadder(res)
	colX := func(i int) int {
		if i < 0 {
			return 0
		}
		return htmlGutter + htmlColW*i + htmlColW/2
	}
	for i, c := range l.Columns {
		p.Cols = append(p.Cols, htmlCol{X: colX(i), Name: c.Name, Addr: c.Addr.String(), NAT: c.IsNAT, Private: c.Private})
	}
	p.Gutter = htmlGutter
	p.Width = htmlGutter + htmlColW*max(len(l.Columns), 1) + 20
	y := htmlTop
	for _, lr := range l.Rows {
		t := fmt.Sprintf("%.3f", lr.At.Seconds())
		if lr.IsNote() {
			// The host's mark on the first line, the words across the ladder below.
			p.Rows = append(p.Rows, htmlRow{Note: true, Y: y + htmlRowH, Time: t, X1: colX(lr.From), LabelX: htmlGutter, Label: lr.NoteText()})
			y += htmlRowH + 18
			continue
		}
		d := lr.D
		r := htmlRow{ID: d.ID, Time: t, X1: colX(lr.From), Label: lr.Label, Class: lr.Class, Message: string(d.Sent.Data)}
		if d.Msg != nil {
			r.Message = d.Msg.String()
		}
		if lr.To >= 0 && lr.To != lr.From {
			r.X2 = colX(lr.To)
		} else {
			// Dropped by the sender's own routing: a short arrow towards the
			// destination's column, or the next column.
			r.X2 = r.X1 + lr.Toward*htmlColW/2
		}
		if r.Dropped = lr.Dropped; r.Dropped {
			r.DropX, r.DropText = r.X2, lr.DropText()
		}
		r.LabelX = (r.X1 + r.X2) / 2
		r.Y = y + htmlRowH
		y += htmlRowH
		for _, x := range lr.Xlat {
			r.Xlats = append(r.Xlats, htmlXlat{X: colX(l.Column(x.Hop)), Y: r.Y, Text: fmt.Sprintf("%s: %s -> %s becomes %s -> %s (%s)", x.Hop, x.Src, x.Dst, x.XSrc, x.XDst, x.Reason)})
		}
		r.Title = fmt.Sprintf("%s  %s -> %s", firstLine(r.Message), d.Sent.Src, d.Sent.Dst)
		if lr.Class == "ok" {
			y += htmlOKRowH - htmlRowH
			r.Contact = lr.Contact
			r.Rewritten, r.RewrittenFrom = lr.RewrittenFrom != "", lr.RewrittenFrom
		}
		if r.Dropped {
			r.DropY = y + 14
			y += 18
		}
		p.Rows = append(p.Rows, r)
	}
	p.Height = y + 30
	if len(res.Calls) > 1 {
		p.Note = fmt.Sprintf("%d calls: the ladder shows every datagram of all of them.", len(res.Calls))
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"add":  func(a, b int) int { return a + b },
	"sub":  func(a, b int) int { return a - b },
	"yes":  yesNo,
	"none": orNone,
	"ms":   ms,
}).Parse(pageHTML + headlineHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sipnatlab: {{.Name}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #1d1d1f; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
.summary { margin: 0 0 8px; color: #444; }
.verdict { display: inline-block; padding: 2px 8px; border-radius: 4px; font-weight: bold; color: #fff; }
.pass { background: #2e7d32; } .fail { background: #c62828; }
.layout { display: flex; gap: 16px; align-items: flex-start; }
.ladder { flex: none; border: 1px solid #ddd; border-radius: 6px; background: #fcfcfc; }
#panel { position: sticky; top: 8px; flex: 1; min-width: 280px; max-width: 560px; }
#panel pre { white-space: pre-wrap; word-break: break-all; background: #f4f4f4; padding: 8px; border-radius: 4px; font-size: 12px; max-height: 80vh; overflow: auto; }
svg text { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
.colname { font-weight: bold; font-size: 13px; }
.coladdr { fill: #555; }
.lifeline { stroke: #bbb; stroke-width: 1; }
.nat .lifeline { stroke: #8e24aa; stroke-dasharray: 4 3; }
.nat .colname { fill: #8e24aa; }
.time { fill: #777; }
.arrow { cursor: pointer; }
.arrow line { stroke: #333; stroke-width: 1.6; }
.arrow:hover line, .arrow.sel line { stroke-width: 3.5; }
.arrow .lbl { fill: #111; }
.invite line { stroke: #1565c0; } .ok line { stroke: #2e7d32; } .ack line { stroke: #ef6c00; }
.bye line { stroke: #6d4c41; } .register line { stroke: #777; } .response line { stroke: #555; }
.dropped line { stroke: #c62828; stroke-dasharray: 6 3; }
.dropx { stroke: #c62828; stroke-width: 3; }
.droptext { fill: #c62828; font-size: 11px; paint-order: stroke; stroke: #fcfcfc; stroke-width: 4px; }
.contact rect { fill: #fff59d; }
.contact.rewritten rect { fill: #ffab40; }
.contact text { font-size: 11px; }
.contact.rewritten text { font-weight: bold; }
.xlat { fill: #8e24aa; }
.note text { fill: #c62828; font-weight: bold; paint-order: stroke; stroke: #fcfcfc; stroke-width: 4px; }
.note circle { fill: #c62828; }
table { border-collapse: collapse; margin: 6px 0 12px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; font-size: 13px; }
th { background: #f4f4f4; }
.bad { color: #c62828; } .good { color: #2e7d32; }
code { background: #f4f4f4; padding: 0 3px; border-radius: 3px; }
.diagnosis { background: #fff3e0; border-left: 4px solid #ef6c00; padding: 6px 10px; max-width: 1100px; }
.lesson { background: #e8f5e9; border-left: 4px solid #2e7d32; padding: 6px 10px; max-width: 1100px; }
.legend span { margin-right: 14px; }
</style>
</head>
<body>
<h1>{{.Name}} <span class="verdict {{if .Passed}}pass">PASS{{else}}fail">FAIL{{end}}</span></h1>
{{template "headline" .Headline}}
<p class="summary">{{.Summary}} <code>{{.File}}</code></p>
{{if .Error}}<p class="bad">error: {{.Error}}</p>{{end}}
{{if .Note}}<p>{{.Note}}</p>{{end}}
<p class="legend"><span>click or hover an arrow for the full SIP message</span>
<span style="background:#fff59d">Contact of a 200 OK</span>
<span style="background:#ffab40"><b>Contact rewritten by the sender</b></span>
<span class="bad">- - -X dropped</span>
<span class="xlat">&#9670; NAT translation</span></p>
<div class="layout">
<div class="ladder">
<svg width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="ladder diagram of {{.Name}}">
<defs>
<marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker>
</defs>
<text x="8" y="20" class="time">time s</text>
{{range .Cols}}<g class="col{{if .NAT}} nat{{end}}">
<text x="{{.X}}" y="20" text-anchor="middle" class="colname">{{.Name}}</text>
<text x="{{.X}}" y="36" text-anchor="middle" class="coladdr">{{.Addr}}{{if .Private}} (private){{end}}</text>
<line x1="{{.X}}" y1="44" x2="{{.X}}" y2="{{$.Height}}" class="lifeline"/>
</g>
{{end}}
{{range .Rows}}{{if .Note}}<g class="note">
<text x="8" y="{{.Y}}" class="time">{{.Time}}</text>
<circle cx="{{.X1}}" cy="{{sub .Y 4}}" r="6"/>
<text x="{{.LabelX}}" y="{{add .Y 16}}">{{.Label}}</text>
</g>
{{else}}<g class="arrow {{.Class}}{{if .Dropped}} dropped{{end}}" data-datagram="{{.ID}}" id="dg{{.ID}}">
<title>{{.Title}}{{if .DropText}}
{{.DropText}}{{end}}{{range .Xlats}}
{{.Text}}{{end}}</title>
<text x="8" y="{{.Y}}" class="time">{{.Time}}</text>
<line x1="{{.X1}}" y1="{{.Y}}" x2="{{.X2}}" y2="{{.Y}}"{{if not .Dropped}} marker-end="url(#head)"{{end}}/>
<line x1="{{.X1}}" y1="{{.Y}}" x2="{{.X2}}" y2="{{.Y}}" stroke="transparent" stroke-width="12" style="stroke:transparent"/>
<text x="{{.LabelX}}" y="{{sub .Y 5}}" text-anchor="middle" class="lbl">{{.Label}}</text>
{{range .Xlats}}<path class="xlat" d="M{{.X}},{{sub .Y 7}} l7,7 l-7,7 l-7,-7 z"><title>{{.Text}}</title></path>{{end}}
{{if .Dropped}}<path class="dropx" d="M{{sub .DropX 6}},{{sub .Y 6}} l12,12 m0,-12 l-12,12"/>
<text x="{{$.Gutter}}" y="{{.DropY}}" class="droptext">{{.DropText}}</text>{{end}}
{{if .Contact}}<g class="contact{{if .Rewritten}} rewritten{{end}}">
<rect x="{{sub .LabelX 150}}" y="{{add .Y 3}}" width="300" height="15" rx="3"/>
<text x="{{.LabelX}}" y="{{add .Y 14}}" text-anchor="middle">Contact: {{.Contact}}{{if .Rewritten}} (rewritten){{end}}</text>
{{if .Rewritten}}<title>rewritten by the sender from {{.RewrittenFrom}}</title>{{end}}
</g>{{end}}
</g>
{{end}}{{end}}
</svg>
</div>
<div id="panel">
<p><b>SIP message</b> <span id="which">(click an arrow)</span></p>
<pre id="msg"></pre>
</div>
</div>

{{range .Calls}}
<h2>Call {{.From}} &rarr; {{.To}}</h2>
<table>
<tr><th>hop</th><th>Contact received</th><th>Contact sent</th><th>where it leads</th></tr>
{{range .HopRows}}<tr><td>{{.Host}}</td><td><code>{{.In}}</code></td><td><code>{{.Out}}</code>{{if and .In (ne .In .Out)}} <b>(rewritten)</b>{{end}}</td><td class="{{if .Leads}}good{{else}}bad{{end}}">{{.Resolves}}</td></tr>
{{end}}</table>
<table>
<tr><th>answered</th><td>{{yes .Answered}}</td><th>ACK at callee</th><td class="{{if .ACKAtCallee}}good{{else}}bad{{end}}">{{yes .ACKAtCallee}}{{if .ACKDelay}} ({{ms .ACKDelay}}){{end}}</td></tr>
<tr><th>200 OK retransmissions</th><td>{{.OKRetransmissions}}</td><th>callee BYE</th><td>{{yes .CalleeBYE}}{{if .CalleeBYEAfter}} (after {{ms .CalleeBYEAfter}}){{end}}</td></tr>
<tr><th>Contact at caller</th><td><code>{{.ContactAtCaller}}</code></td><th>class</th><td>{{.Class}}</td></tr>
<tr><th>ACK lost at</th><td class="bad">{{none .ACKLostAt}}</td><th>blame</th><td class="bad">{{none .Blame}}</td></tr>
</table>
<p class="diagnosis"><b>Diagnosis.</b> {{.Diagnosis}}</p>
{{end}}
{{if .Expectations}}<h2>Expectations</h2>
<table><tr><th>key</th><th>want</th><th>got</th><th></th></tr>
{{range .Expectations}}<tr><td>{{.Key}}</td><td>{{.Want}}</td><td>{{.Got}}</td><td class="{{if .OK}}good">ok{{else}}bad">FAIL{{end}}</td></tr>
{{end}}</table>{{end}}
{{if .Lesson}}<h2>Lesson</h2><p class="lesson">{{.Lesson}}</p>{{end}}

<div hidden id="messages">
{{range .Rows}}{{if not .Note}}<pre id="m{{.ID}}">{{.Message}}</pre>
{{end}}{{end}}</div>
<script>
document.querySelectorAll(".arrow").forEach(function (g) {
  function show() {
    var m = document.getElementById("m" + g.dataset.datagram);
    document.getElementById("msg").textContent = m ? m.textContent : "";
    document.getElementById("which").textContent = "datagram " + g.dataset.datagram + ": " + g.querySelector("title").textContent;
  }
  g.addEventListener("mouseenter", show);
  g.addEventListener("click", function () {
    document.querySelectorAll(".arrow.sel").forEach(function (o) { o.classList.remove("sel"); });
    g.classList.add("sel");
    show();
  });
});
</script>
</body>
</html>
`
