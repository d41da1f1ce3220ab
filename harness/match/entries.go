package match

import (
	"path/filepath"

	"github.com/onsi/ginkgo/v2"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// Entries turns every scenario file in dir (*.yaml and *.yml) into a Ginkgo
// table entry named after the file, whose parameter is the file's path, for
// DescribeTable. It is called while the spec tree is built, so a directory
// that cannot be read yields a single entry that fails with the error.
func Entries(dir string) []ginkgo.TableEntry {
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return []ginkgo.TableEntry{ginkgo.Entry(dir, dir)}
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		return []ginkgo.TableEntry{ginkgo.Entry(dir+" (no scenario files)", dir)}
	}
	entries := make([]ginkgo.TableEntry, 0, len(files))
	for _, f := range files {
		entries = append(entries, ginkgo.Entry(filepath.Base(f), f))
	}
	return entries
}

// Load is scenario.Load for use inside a table body: it fails the spec with
// the loader's error (file, line and field) instead of returning it.
func Load(path string) *scenario.Scenario {
	s, err := scenario.Load(path)
	if err != nil {
		ginkgo.Fail(err.Error(), 1)
	}
	return s
}
