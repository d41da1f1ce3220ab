package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/spf13/pflag"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/sipnatlab/sipnatlab/harness/container"
	"github.com/sipnatlab/sipnatlab/harness/lint"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

func lintCommand() *command {
	return &command{
		name:    "lint",
		args:    "CONFIG...",
		summary: "flag the NAT pitfalls in Kamailio or OpenSIPS scripts",
		help: `Reads Kamailio or OpenSIPS routing scripts and flags the NAT pitfalls that
lose the ACK for a NATed callee's 200 OK, or every call to a NATed phone,
and what the engine would refuse:

  missing-reply-contact-fix        NAT is handled on requests, but no reply
                                   route ever fixes a reply's Contact
  unconditional-reply-contact-fix  a reply route fixes the Contact of every
                                   reply, also of replies relayed by a proxy
  nat-test-reply-contact-fix       a reply route fixes the Contact whenever
                                   nat_uac_test() is true: also for a reply a
                                   proxy relayed with a private Contact
  missing-force-rport              a script that handles NAT or registers
                                   never calls force_rport(): replies to a
                                   phone's Via port die at its NAT
  register-not-fixed               save() with nothing that stores where a
                                   NATed phone is reached (fix_nated_register)
  opensips-3x-rejects              OpenSIPS 1.x/2.x syntax or settings that
                                   OpenSIPS 3.x refuses (uri == myself,
                                   children=, no socket= line)
  engine-check                     with --engine-check: the engine's own
                                   check (kamailio -c, opensips -c) failed

Findings print as FILE:LINE: RULE: MESSAGE. Every file is checked even when
an earlier one is bad, so one run reports everything it can.

Exit codes: 0 no findings, 1 findings, 2 a file is unreadable or not a script.`,
		flags: func(fs *pflag.FlagSet) func(context.Context, *env, []string) int {
			asJSON := fs.Bool("json", false, `print {"files": [{"file", "dialect", "findings": [...]}]} instead`)
			engineCheck := fs.Bool("engine-check", false, "also run the engine's own config check in a container of the local image (sipnatlab/kamailio:5.6, sipnatlab/opensips:3.6, or $SIPNATLAB_OPENSIPS_IMAGE), for the dialect the script shows; without the image, a note on stderr says the check was skipped")
			return func(ctx context.Context, e *env, args []string) int {
				if len(args) == 0 {
					return e.usageError("no config file given")
				}
				return lintFiles(ctx, e, args, *asJSON, *engineCheck)
			}
		},
	}
}

// lintFiles lints every file, also after a bad one, and prints the findings.
func lintFiles(ctx context.Context, e *env, files []string, asJSON, engineCheck bool) int {
	stdout, stderr := e.stdout, e.stderr
	code := 0
	reports := []*lint.Report{}
	for _, path := range files {
		r, err := lint.CheckFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "sipnatlab: %v\n", err)
			code = 2
			continue
		}
		if engineCheck {
			if f, note := checkWithEngine(ctx, path, r.Dialect); f != nil {
				r.Findings = append(r.Findings, *f)
			} else if note != "" {
				fmt.Fprintf(stderr, "sipnatlab lint: %s: %s\n", path, note)
			}
		}
		reports = append(reports, r)
		if len(r.Findings) > 0 && code == 0 {
			code = 1
		}
		if !asJSON {
			for _, f := range r.Findings {
				fmt.Fprintln(stdout, f)
			}
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Files []*lint.Report `json:"files"`
		}{reports}); err != nil {
			fmt.Fprintf(stderr, "sipnatlab: %v\n", err)
			return 2
		}
	}
	return code
}

// engineLine finds the line an engine's check names: OpenSIPS
// "opensips.cfg:62:27-29", Kamailio "line 62, column 27".
var engineLine = regexp.MustCompile(`\.cfg:(\d+):|line (\d+)`)

// checkWithEngine runs the engine's own config check on path in a container
// of the local image for dialect. It returns a finding when the engine
// rejects the script, or a note saying why no check ran.
func checkWithEngine(ctx context.Context, path string, dialect scenario.Engine) (*lint.Finding, string) {
	img := container.KamailioImage
	switch dialect {
	case scenario.EngineKamailio:
	case scenario.EngineOpenSIPS:
		img = container.OpenSIPSImage
		if v := os.Getenv("SIPNATLAB_OPENSIPS_IMAGE"); v != "" {
			img = v
		}
	default:
		return nil, "engine check skipped: the script shows neither Kamailio nor OpenSIPS"
	}
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	tclog.SetDefault(tclog.NewNoopLogger())
	if err := container.DockerAvailable(ctx); err != nil {
		return nil, "engine check skipped: " + err.Error()
	}
	if ok, err := container.ImagePresent(ctx, img); err != nil || !ok {
		return nil, fmt.Sprintf("engine check skipped: no local image %s (make image builds it)", img)
	}
	out, err := container.CheckConfigFile(ctx, img, path, container.WithFlavor(dialect))
	if err == nil {
		return nil, ""
	}
	if !errors.Is(err, container.ErrConfigRejected) {
		return nil, "engine check failed to run: " + err.Error()
	}
	f := &lint.Finding{File: path, Line: 1, Rule: lint.EngineCheck}
	var msgs, generic []string
	seen := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		// OpenSIPS: "... CRITICAL:core:yyerror: parse error in FILE:62:27-29: bare word <uri> found ...";
		// Kamailio: "... ERROR: <core> [cfg.y:...]: yyerror_at(): parse error in config file FILE, line 62, column 27: ...".
		i := strings.Index(l, "parse error in ")
		if i < 0 {
			if j := strings.Index(l, "ERROR:"); j >= 0 && !strings.Contains(l, "Traceback") {
				i = j
			} else {
				continue
			}
		}
		msg := strings.TrimSpace(l[i:])
		if m := engineLine.FindStringSubmatch(msg); m != nil && f.Line == 1 {
			f.Line, _ = strconv.Atoi(m[1] + m[2])
		}
		if k := strings.LastIndex(msg, ": "); k >= 0 && strings.HasPrefix(msg, "parse error in ") {
			msg = msg[k+2:] // the words after the position
		}
		if msg == "" || seen[msg] {
			continue
		}
		seen[msg] = true
		if msg == "syntax error" || strings.HasPrefix(msg, "bad command") {
			generic = append(generic, msg)
		} else {
			msgs = append(msgs, msg)
		}
	}
	msgs = append(msgs, generic...)
	if len(msgs) > 3 {
		msgs = msgs[:3]
	}
	f.Message = fmt.Sprintf("%s -c (in %s) rejects the script: %s", dialect, img, strings.Join(msgs, " | "))
	return f, ""
}
