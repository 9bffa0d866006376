package ct

import "govz/conf"

// ramBytesOf is the container's memory limit (the limit part of
// physpages, vzctl's --ram) in bytes on a host whose pages are page bytes,
// 0 when it has none.
func ramBytesOf(eff *conf.Config, page int64) int64 {
	bl, ok := eff.Resource("physpages")
	if !ok || bl.Limit == conf.Unlimited || bl.Limit <= 0 || page <= 0 {
		return 0
	}
	if bl.Limit > conf.Unlimited/page {
		return 0
	}
	return bl.Limit * page
}
