package listing

import (
	"strings"

	"govz/conf"
)

// features reads FEATURES as vzctl keeps it: a mask of the features it
// knows, each on or off, the last item of a name winning; other names are
// not shown.
func features(i *Info) (names []string, on map[string]bool) {
	on = map[string]bool{}
	for _, item := range conf.SplitItems(i.Features) {
		if name, v, err := conf.ParseSwitch(item); err == nil {
			on[name] = v
		}
	}
	for _, f := range conf.FeatureNames {
		if _, ok := on[f]; ok {
			names = append(names, f)
		}
	}
	return names, on
}

// featuresText is vzlist's FEATURES column: "nfs:on,sit:off", "-" when
// none is set.
func featuresText(i *Info) string {
	names, on := features(i)
	if len(names) == 0 {
		return "-"
	}
	items := make([]string, len(names))
	for k, n := range names {
		items[k] = n + ":" + map[bool]string{true: "on", false: "off"}[on[n]]
	}
	return strings.Join(items, ",")
}

// featuresJSON is vzlist -j's features: {"nfs": true, ...}, null when
// none is set.
func featuresJSON(i *Info) any {
	names, on := features(i)
	if len(names) == 0 {
		return nil
	}
	o := object{}
	for _, n := range names {
		o = append(o, member{n, on[n]})
	}
	return o
}
