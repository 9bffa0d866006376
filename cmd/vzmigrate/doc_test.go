package main

import (
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"govz/ct/migrate"
	"govz/internal/clidoc"
)

// The man page and both completion scripts name every option of the
// table, and nothing else; the EXIT STATUS section every code of
// migrate's table; parse accepts every option of the table (and a value
// where it takes one) and refuses one the table lacks.
func TestDocsCoverTables(t *testing.T) {
	tool := docTool()
	app := tool.App
	man := tool.Man("test")
	for _, p := range clidoc.Check(app, man, clidoc.Bash(app), clidoc.Zsh(app)) {
		t.Error(p)
	}
	var codes []string
	for _, c := range migrate.Codes() {
		codes = append(codes, strconv.Itoa(c.Code))
	}
	for _, p := range clidoc.CheckExit(man, codes) {
		t.Error(p)
	}
	values := map[string]string{"--remove-area": "no", "-r": "yes", "--ssh": "-p 22"}
	for _, o := range clidoc.Options(app.Flags) {
		for _, name := range o.Names {
			argv := []string{name}
			if o.Value != "" {
				v, ok := values[name]
				if !ok {
					t.Errorf("no test value for %s", name)
				}
				argv = append(argv, v)
			}
			if _, err := parse(append(argv, "host", "101")); err != nil {
				t.Errorf("parse %v: %v", argv, err)
			}
		}
	}
	if code := run([]string{"--bogus", "host", "101"}, io.Discard, io.Discard); code != migrate.ExitUsage {
		t.Errorf("vzmigrate --bogus: status %d, want %d", code, migrate.ExitUsage)
	}
}

// The JSON OUTPUT section names every field of migrate.Result, and run's
// events as they are printed.
func TestDocsJSONFields(t *testing.T) {
	man := docTool().Man("test")
	rt := reflect.TypeOf(migrate.Result{})
	for i := 0; i < rt.NumField(); i++ {
		tag, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if tag == "" || !strings.Contains(man, `"`+clidoc.Escape(tag)+`"`) {
			t.Errorf("vzmigrate(8) JSON OUTPUT lacks result field %q (%s)", tag, rt.Field(i).Name)
		}
	}
	for _, ev := range []string{`"event":"progress"`, `"event":"done"`, `"event":"error"`, `"code"`, `"message"`, `"stage"`} {
		if !strings.Contains(man, clidoc.Escape(ev)) {
			t.Errorf("vzmigrate(8) JSON OUTPUT lacks %s", ev)
		}
	}
}
