package main

import (
	"strings"
	"testing"
)

func TestRepositoryFollowsImportRules(t *testing.T) {
	pkgs, err := list()
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	if v := check(pkgs); len(v) > 0 {
		t.Fatalf("import rule violations:\n%s", strings.Join(v, "\n"))
	}
}

func TestViolationsAreReported(t *testing.T) {
	cases := []struct {
		p    pkg
		want string
	}{
		{pkg{ImportPath: module + "/log", Imports: []string{module + "/zkutils"}}, "log imports zkutils"},
		{pkg{ImportPath: module + "/broker", Imports: []string{"github.com/go-zookeeper/zk"}}, "only [zkutils] may"},
		{pkg{ImportPath: module + "/network", XTestImports: []string{"github.com/klauspost/compress/zstd"}}, "only [log] may"},
		{pkg{ImportPath: module + "/controller", Imports: []string{module + "/broker"}}, "controller imports broker"},
		{pkg{ImportPath: module + "/newpkg"}, "no import rule"},
	}
	for _, c := range cases {
		v := check([]pkg{c.p})
		if len(v) != 1 || !strings.Contains(v[0], c.want) {
			t.Errorf("%s: got %v, want one violation containing %q", c.p.ImportPath, v, c.want)
		}
	}
}
