// Command importcheck enforces the import rules of the house (DESIGN.md, "Import direction"): which zkafka
// packages each package may import, and which third-party libraries are confined to one package.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

const module = "github.com/zkafka/zkafka"

// allowed lists, per package (relative to the module), the project packages it may import.
var allowed = map[string][]string{
	"network":              {},
	"log":                  {},
	"zkutils":              {"internal/jhash"},
	"coordinator":          {"internal/jhash"},
	"admin":                {},
	"internal/zktest":      {},
	"internal/importcheck": {},
	"internal/jhash":       {},
	"controller":           {"zkutils", "network"},
	"broker":               {"network", "log", "zkutils", "controller", "coordinator", "internal/jhash"},
	"cmd/zkafka":           {"broker", "admin"},
	"testcluster":          {"broker", "network", "zkutils", "internal/zktest"},
}

// confined lists third-party import prefixes and the only packages allowed to use them (tests included).
var confined = map[string][]string{
	"github.com/go-zookeeper/zk":    {"zkutils"},
	"github.com/klauspost/compress": {"log"},
	"github.com/pierrec/lz4":        {"log"},
	"github.com/golang/snappy":      {"log"},
}

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func main() {
	pkgs, err := list()
	if err != nil {
		fmt.Fprintln(os.Stderr, "importcheck:", err)
		os.Exit(2)
	}
	if v := check(pkgs); len(v) > 0 {
		for _, line := range v {
			fmt.Fprintln(os.Stderr, line)
		}
		os.Exit(1)
	}
	fmt.Println("import rules: ok")
}

func list() ([]pkg, error) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

func rel(path string) string {
	if path == module {
		return "."
	}
	return strings.TrimPrefix(path, module+"/")
}

// check returns one line per violated rule.
func check(pkgs []pkg) []string {
	var v []string
	for _, p := range pkgs {
		self := rel(p.ImportPath)
		ok, known := allowed[self]
		if !known {
			v = append(v, fmt.Sprintf("%s: package has no import rule (add it to importcheck and DESIGN.md)", self))
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") || imp == module {
				r := rel(imp)
				if known && !contains(ok, r) {
					v = append(v, fmt.Sprintf("%s imports %s: not allowed (may import: %v)", self, r, ok))
				}
			}
		}
		all := append(append(append([]string{}, p.Imports...), p.TestImports...), p.XTestImports...)
		for _, imp := range all {
			for prefix, owners := range confined {
				if strings.HasPrefix(imp, prefix) && !contains(owners, self) {
					v = append(v, fmt.Sprintf("%s imports %s: only %v may", self, imp, owners))
				}
			}
		}
	}
	sort.Strings(v)
	return dedup(v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func dedup(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
