package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spf13/pflag"
)

// The docs are held to the repository and to the CLI: what they link or name exists,
// and every flag they show a command with is one of its flags.
var _ = Describe("the docs", func() {
	const root = "../.."
	docs := func() []string {
		GinkgoHelper()
		files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
		Expect(err).NotTo(HaveOccurred())
		return append(files, filepath.Join(root, "README.md"))
	}

	It("link only to files in the repository", func() {
		link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
		for _, doc := range docs() {
			text, err := os.ReadFile(doc)
			Expect(err).NotTo(HaveOccurred())
			for _, m := range link.FindAllStringSubmatch(string(text), -1) {
				if strings.Contains(m[1], "://") {
					continue
				}
				Expect(filepath.Join(filepath.Dir(doc), m[1])).To(BeAnExistingFile(), "%s links to %s", doc, m[1])
			}
		}
	})

	It("name no Markdown file the repository does not hold, in docs, comments or scenarios", func() {
		held := map[string]bool{}
		var texts []string
		Expect(filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == ".git" || d.Name() == ".cache" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			switch filepath.Ext(path) {
			case ".md":
				held[d.Name()] = true
				texts = append(texts, path)
			case ".go", ".yaml", ".sh":
				texts = append(texts, path)
			}
			return nil
		})).To(Succeed())
		named := regexp.MustCompile(`\b[A-Z][A-Za-z0-9_-]*\.md\b`)
		for _, f := range texts {
			text, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			for _, name := range named.FindAllString(string(text), -1) {
				Expect(held).To(HaveKey(name), "%s names %s, which is not in the repository", f, name)
			}
		}
	})

	It("quote the loader's errors exactly, as docs/scenario-format.md says: each is a golden file's", func() {
		doc, err := os.ReadFile(filepath.Join(root, "docs", "scenario-format.md"))
		Expect(err).NotTo(HaveOccurred())
		_, rules, ok := strings.Cut(string(doc), "## Validation rules and errors")
		Expect(ok).To(BeTrue())
		goldens, err := filepath.Glob(filepath.Join(root, "harness", "scenario", "testdata", "bad", "*.golden"))
		Expect(err).NotTo(HaveOccurred())
		var all strings.Builder
		for _, g := range goldens {
			text, err := os.ReadFile(g)
			Expect(err).NotTo(HaveOccurred())
			all.Write(text)
		}
		quoted := regexp.MustCompile("(?m)^\\|[^|\n]*\\| `(line [0-9]+: [^`]+)`").FindAllStringSubmatch(rules, -1)
		Expect(len(quoted)).To(BeNumerically(">", 90))
		for _, q := range quoted {
			Expect(all.String()).To(ContainSubstring(q[1]), "docs/scenario-format.md quotes an error no golden file of harness/scenario/testdata/bad holds")
		}
	})

	It("show every command only with flags it has", func() {
		flags := map[string]*pflag.FlagSet{}
		for _, c := range commands() {
			fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
			c.flags(fs)
			flags[c.name] = fs
		}
		use := regexp.MustCompile(`sipnatlab ([a-z]+)([^|\n` + "`" + `]*)`)
		flag := regexp.MustCompile(`(?:^|\s|\[)--([a-z][a-z0-9-]*)`)
		seen := 0
		for _, doc := range docs() {
			text, err := os.ReadFile(doc)
			Expect(err).NotTo(HaveOccurred())
			for _, m := range use.FindAllStringSubmatch(string(text), -1) {
				fs, ok := flags[m[1]]
				if !ok {
					continue // prose: "sipnatlab runs", "sipnatlab reproduces"
				}
				for _, f := range flag.FindAllStringSubmatch(m[2], -1) {
					if f[1] == "help" {
						continue
					}
					seen++
					Expect(fs.Lookup(f[1])).NotTo(BeNil(), "%s: sipnatlab %s has no flag --%s", doc, m[1], f[1])
				}
			}
		}
		Expect(seen).To(BeNumerically(">", 20))
	})
})
