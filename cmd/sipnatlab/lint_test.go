package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/container"
	"github.com/sipnatlab/sipnatlab/sipnattest/dockersuite"
)

var _ = Describe("sipnatlab lint", func() {
	fixture := func(proxy, name string) string { return "../../fixtures/" + proxy + "/" + name + ".cfg" }

	DescribeTable("exit code and findings per fixture",
		func(ctx SpecContext, file string, code int, rule string) {
			got, out, stderr := runCLI(ctx, "lint", file)
			Expect(stderr).To(BeEmpty())
			Expect(got).To(Equal(code))
			if rule == "" {
				Expect(out).To(BeEmpty())
			} else {
				Expect(out).To(MatchRegexp(`^` + file + `:\d+: ` + rule + `: `))
			}
		},
		Entry(nil, fixture("kamailio", "none"), 1, "missing-reply-contact-fix"),
		Entry(nil, fixture("kamailio", "excessive"), 1, "unconditional-reply-contact-fix"),
		Entry(nil, fixture("kamailio", "correct"), 0, ""),
		Entry(nil, fixture("opensips", "none"), 1, "missing-reply-contact-fix"),
		Entry(nil, fixture("opensips", "excessive"), 1, "unconditional-reply-contact-fix"),
		Entry(nil, fixture("opensips", "correct"), 0, ""),
		Entry(nil, fixture("kamailio", "no-rport"), 1, "missing-force-rport"),
		Entry(nil, fixture("opensips", "no-rport"), 1, "missing-force-rport"),
		Entry(nil, fixture("kamailio", "registration-not-fixed"), 1, "register-not-fixed"),
		Entry(nil, fixture("opensips", "registration-not-fixed"), 1, "register-not-fixed"),
	)

	It("prints JSON with --json, one entry per file", func(ctx SpecContext) {
		code, out, _ := runCLI(ctx, "lint", "--json", fixture("kamailio", "correct"), fixture("opensips", "excessive"))
		Expect(code).To(Equal(1))
		var doc struct {
			Files []struct {
				File     string
				Dialect  string
				Findings []struct {
					Line int
					Rule string
				}
			}
		}
		Expect(json.Unmarshal([]byte(out), &doc)).To(Succeed())
		Expect(doc.Files).To(HaveLen(2))
		Expect(doc.Files[0].Dialect).To(Equal("kamailio"))
		Expect(doc.Files[0].Findings).To(BeEmpty())
		Expect(doc.Files[1].Dialect).To(Equal("opensips"))
		Expect(doc.Files[1].Findings).To(HaveLen(1))
		Expect(doc.Files[1].Findings[0].Rule).To(Equal("unconditional-reply-contact-fix"))
		Expect(out).To(ContainSubstring(`"findings": []`), "a clean file has an empty list, not null")
		Expect(out).NotTo(ContainSubstring("null"))
	})

	It("exits 2 on a file that is not a script, and still reports the others", func(ctx SpecContext) {
		bad := filepath.Join(GinkgoT().TempDir(), "bad.cfg")
		Expect(os.WriteFile(bad, []byte("request_route {\n"), 0o644)).To(Succeed())
		code, out, stderr := runCLI(ctx, "lint", bad, fixture("kamailio", "excessive"))
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring(`lint "` + bad + `": not a readable Kamailio or OpenSIPS routing script: line 1`))
		Expect(out).To(ContainSubstring("unconditional-reply-contact-fix"))
	})

	It("exits 2 without a file or on a missing one", func(ctx SpecContext) {
		code, _, stderr := runCLI(ctx, "lint")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("no config file given"))
		code, _, stderr = runCLI(ctx, "lint", "no/such.cfg")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring(`lint "no/such.cfg"`))
	})
})

var _ = Describe("sipnatlab lint --engine-check", Label("container"), func() {
	BeforeEach(func(ctx SpecContext) {
		if img := dockersuite.RequireOpenSIPS(ctx, "../.."); img != container.OpenSIPSImage {
			GinkgoT().Setenv("SIPNATLAB_OPENSIPS_IMAGE", img)
		}
	})

	It("adds opensips -c's own verdict: clean for the 3.x fixture, the engine's error for the 2.x one", func(ctx SpecContext) {
		code, out, stderr := runCLI(ctx, "lint", "--engine-check", "../../fixtures/opensips/correct.cfg")
		Expect(code).To(Equal(0), "%s%s", out, stderr)
		Expect(out + stderr).To(BeEmpty())

		old := "../../harness/lint/testdata/opensips-2x-correct.cfg"
		code, out, _ = runCLI(ctx, "lint", "--engine-check", old)
		Expect(code).To(Equal(1))
		Expect(out).To(ContainSubstring(old + ":62: opensips-3x-rejects: "))
		Expect(out).To(MatchRegexp(regexp.QuoteMeta(old) + `:62: engine-check: opensips -c \(in \S+\) rejects the script: bare word <uri> found`))
	}, SpecTimeout(3*time.Minute))
})
