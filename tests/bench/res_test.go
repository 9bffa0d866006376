package main

import "testing"

func TestParseIsoOutput(t *testing.T) {
	if us, err := parseIsoOutput("WARNING: x\ngovz-bench-us=47750\n"); err != nil || us != 47750 {
		t.Errorf("= %d, %v", us, err)
	}
	for _, bad := range []string{"", "govz-bench-us=\n", "govz-bench-us=-3\n", "sh: adjtimex: not found\n"} {
		if _, err := parseIsoOutput(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSummariseUBC(t *testing.T) {
	out := `[{"ctid": 1003, "beancounters": [
		{"resource": "numproc", "held": 64, "failcnt": 1234},
		{"resource": "physpages", "held": 10, "failcnt": 56},
		{"resource": "numfile", "failcnt": null}],
		"oom_kills": 7}]`
	s, err := summariseUBC(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "numproc failcnt 1234, physpages failcnt 56, OOM kills 7"; s != want {
		t.Errorf("%q, want %q", s, want)
	}
	if _, err := summariseUBC("[]"); err == nil {
		t.Error("no container accepted")
	}
}
