package examples_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// This file checks that examples/ can be copied out: a module of its own, requiring
// sipnatlab (replaced by this repository), builds its copy and passes. Go refuses an
// internal package to another module, so an import of one fails the build. The file
// itself is left out of the copy, and a copy outside this repository skips it.
const thisFile = "module_test.go"

// It runs the go command (go list, go test -race) on a copy: make test-slow.
var _ = Describe("examples/ as a module of its own", Label("slow"), func() {
	It("builds and passes outside the sipnatlab module, importing only public packages", func(ctx SpecContext) {
		root, err := filepath.Abs("..")
		Expect(err).NotTo(HaveOccurred())
		if mod, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !bytes.HasPrefix(mod, []byte("module github.com/sipnatlab/sipnatlab\n")) {
			Skip("not inside the sipnatlab repository")
		}
		dir := GinkgoT().TempDir()
		Expect(os.CopyFS(dir, os.DirFS("."))).To(Succeed())
		Expect(os.Remove(filepath.Join(dir, thisFile))).To(Succeed())
		sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644)).To(Succeed())
		gomod := "module example.com/oursuite\n\ngo 1.26\n\nrequire github.com/sipnatlab/sipnatlab v0.0.0\n\nreplace github.com/sipnatlab/sipnatlab => " + root + "\n"
		Expect(os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644)).To(Succeed())

		goCmd := func(args ...string) string {
			GinkgoHelper()
			cmd := exec.CommandContext(ctx, "go", args...)
			cmd.Dir = dir
			// -mod=mod completes go.mod from sipnatlab's requirements (their sums are in
			// the copied go.sum); -race shares the build cache of the project's own run.
			cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
			out, err := cmd.CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), "go %s:\n%s", strings.Join(args, " "), out)
			return string(out)
		}
		Expect(goCmd("list", "-deps", "-test", "-f", "{{.ImportPath}}", "./...")).NotTo(ContainSubstring("github.com/sipnatlab/sipnatlab/internal"))
		Expect(goCmd("test", "-race", "-count=1", "./...")).To(MatchRegexp(`(?m)^ok\s+example.com/oursuite\s`))
	})
})
