package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/matrix"
	"github.com/sipnatlab/sipnatlab/harness/realproxy"
)

func matrixCommand() *command {
	return &command{
		name:    "matrix",
		args:    "TEMPLATE.yaml | merge SHARD.json...",
		summary: "run every cell of a matrix template, print a table of outcomes",
		help: `Runs every cell of a matrix template (a scenario with a matrix: block that
names axes to sweep, docs/scenario-format.md) and prints a table of
outcomes: one row per combination of the row axes, one column per
combination of the column axes, each cell what became of its ACK, then a
summary of which axis values lose it. Cells run in simulated time, as many
at once as there are CPUs, unless --proxy (or --config/--as) puts real
proxies in them: then in real time, each cell with its own containers on
internal Docker networks, 2 cells at once by default (--jobs). The flags of
real proxies are validate's (--proxy, --define, --image, ...); the
in-process keys of a host they replace (nat-handling, record-route) no
longer apply, so narrow their axes to what the config does with --only.

"sipnatlab matrix merge SHARD.json..." reads the --json reports of the
shards of one run (--shard 1/N ... N/N, e.g. parallel CI jobs) and prints
the report of the whole run: the same JSON the unsharded run prints.

Exit codes: 0 every cell met its expectations, 1 some did not, 2 bad input.`,
		flags: func(fs *pflag.FlagSet) func(context.Context, *env, []string) int {
			asJSON := fs.Bool("json", false, "print the JSON report (axes, every cell's facts, the summary) instead of the table")
			htmlDir := fs.String("html", "", "write `DIR`/index.html, the table, each cell linking to its ladder DIR/cells/CELL.html")
			emitDir := fs.String("emit", "", "write each selected cell as `DIR`/CELL.yaml, an ordinary scenario, and run nothing")
			shard := fs.String("shard", "", "run shard `I/N`: the cells whose index is I-1 modulo N")
			jobs := fs.Int("jobs", 0, "`N` cells at once (default: the CPUs; 2 with --proxy, each cell starting its own container)")
			only := fs.StringArray("only", nil, "keep only the cells where `AXIS=V1,V2`: the axis takes one of these values (repeatable)")
			vf := addValidateFlags(fs) // --proxy, --define, --config/--as: real proxies, as in validate
			clock := fs.String("clock", "", "the `CLOCK`: simulated (default without --proxy) or real")
			seed := fs.Uint64("seed", 0, "`N`, the seed of every cell's Call-IDs, tags and branches")
			verbose := fs.BoolP("verbose", "v", false, "print each cell as it ends, and the containers' log")
			return func(ctx context.Context, e *env, args []string) int {
				if len(args) > 0 && args[0] == "merge" {
					if fs.Changed("emit") || fs.Changed("shard") || fs.Changed("jobs") || fs.Changed("only") || fs.Changed("proxy") ||
						fs.Changed("config") || fs.Changed("as") || fs.Changed("define") || fs.Changed("clock") || fs.Changed("seed") {
						return e.usageError("merge takes --json and --html only")
					}
					return matrixMerge(e, args[1:], *asJSON, *htmlDir)
				}
				if len(args) != 1 {
					return e.usageError("give exactly one template file")
				}
				tpl, err := matrix.Load(args[0])
				if err != nil {
					return e.fail(2, err)
				}
				if *jobs < 0 {
					return e.usageError("--jobs %d: want a positive number", *jobs)
				}
				opts := matrix.Options{Workers: *jobs, Only: map[string][]string{}}
				if *shard != "" {
					if opts.Shard, err = matrix.ParseShard(*shard); err != nil {
						return e.usageError("--shard: %v", err)
					}
				}
				for _, o := range *only {
					axis, vals, ok := strings.Cut(o, "=")
					if !ok || axis == "" || vals == "" {
						return e.usageError("--only %q: want AXIS=VALUE[,VALUE...]", o)
					}
					opts.Only[axis] = append(opts.Only[axis], strings.Split(vals, ",")...)
				}
				idx, err := tpl.Select(opts)
				if err != nil {
					return e.usageError("--only: %v", err)
				}
				if *emitDir != "" {
					return emitCells(e, tpl, idx, *emitDir)
				}
				opts.Run = harness.Options{Seed: *seed}
				if *clock != "" {
					if opts.Run.Clock, err = harness.ParseClockMode(*clock); err != nil {
						return e.usageError("--clock: %v", err)
					}
				}
				if fs.Changed("proxy") || fs.Changed("config") || fs.Changed("as") || fs.Changed("define") {
					if opts.Run.Containers, err = vf.specs(); err != nil {
						return e.usageError("%v", err)
					}
					first, _ := tpl.Cell(0) // every cell has the template's hosts
					if err := checkHosts(first.Scenario, opts.Run.Containers); err != nil {
						return e.fail(2, err)
					}
					if opts.Run.Clock == harness.Simulated {
						return e.usageError("--proxy: a real proxy runs in real time only")
					}
					opts.Run.Proxies = e.irq.realProxies(realproxy.Docker{})
					if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
						os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
					}
					if !*verbose {
						tclog.SetDefault(tclog.NewNoopLogger())
					}
					fmt.Fprintf(e.stderr, "sipnatlab matrix: %d cells in real time with %s, each cell with its own containers; interrupt to stop and print the cells that ran\n", len(idx), describe(opts.Run.Containers))
				} else if opts.Run.Clock == harness.RealTime {
					fmt.Fprintf(e.stderr, "sipnatlab matrix: %d cells in real time on loopback; interrupt to stop and print the cells that ran\n", len(idx))
				}
				if *htmlDir != "" || *verbose {
					n := 0
					opts.Done = func(c *matrix.Cell, res *harness.Result, runErr error) {
						n++
						if *verbose {
							fmt.Fprintf(e.stderr, "sipnatlab matrix: %d/%d %s\n", n, len(idx), c.Name)
						}
						if *htmlDir != "" {
							if err := matrix.WriteLadder(*htmlDir, c, res, runErr); err != nil {
								fmt.Fprintf(e.stderr, "sipnatlab matrix: --html: %v\n", err)
							}
						}
					}
				}
				rep, err := tpl.Run(ctx, opts)
				if rep == nil {
					return e.fail(2, err)
				}
				code := printMatrix(e, rep, *asJSON, *htmlDir)
				if err != nil { // interrupted: the table holds the cells that ran
					fmt.Fprintf(e.stderr, "sipnatlab matrix: interrupted: %v\n", err)
					return max(code, 1)
				}
				return code
			}
		},
	}
}

// printMatrix prints the report (table or JSON), writes its HTML page when dir is set,
// and returns the exit code.
func printMatrix(e *env, rep *matrix.Report, asJSON bool, dir string) int {
	if asJSON {
		if err := rep.WriteJSON(e.stdout); err != nil {
			fmt.Fprintf(e.stderr, "sipnatlab matrix: %v\n", err)
			return 2
		}
	} else {
		rep.WriteText(e.stdout, e.term)
	}
	if dir != "" {
		if err := writeMatrixHTML(e.irq, rep, dir); err != nil {
			fmt.Fprintf(e.stderr, "sipnatlab matrix: --html: %v\n", err)
			return 2
		}
	}
	if !rep.Passed {
		return 1
	}
	return 0
}

func writeMatrixHTML(irq *interrupts, rep *matrix.Report, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return irq.writeFile("--html", filepath.Join(dir, "index.html"), rep.WriteHTML)
}

func emitCells(e *env, tpl *matrix.Template, idx []int, dir string) int {
	cells := make([]*matrix.Cell, 0, len(idx))
	for _, i := range idx {
		c, err := tpl.Cell(i)
		if err != nil {
			return e.fail(2, err)
		}
		cells = append(cells, c)
	}
	files, err := tpl.Emit(dir, cells)
	if err != nil {
		fmt.Fprintf(e.stderr, "sipnatlab matrix: --emit: %v\n", err)
		return 2
	}
	for _, f := range files {
		fmt.Fprintln(e.stdout, f)
	}
	return 0
}

// matrixMerge is "sipnatlab matrix merge".
func matrixMerge(e *env, files []string, asJSON bool, htmlDir string) int {
	if len(files) == 0 {
		return e.usageError("merge: give the shards' JSON reports")
	}
	var reps []*matrix.Report
	for _, f := range files {
		r, err := matrix.ReadReport(f)
		if err != nil {
			return e.fail(2, err)
		}
		reps = append(reps, r)
	}
	rep, err := matrix.Merge(reps...)
	if err != nil {
		return e.fail(2, err)
	}
	if n := rep.Expected(); len(rep.Cells) != n {
		fmt.Fprintf(e.stderr, "sipnatlab matrix merge: %d of the run's %d cells are in these reports; a shard is missing\n", len(rep.Cells), n)
		return 2
	}
	return printMatrix(e, rep, asJSON, htmlDir)
}
