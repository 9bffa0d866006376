package ct

import (
	"os"

	"govz/conf"
)

// ramBytes is the container's memory limit (the limit part of physpages,
// vzctl's --ram) in bytes, 0 when it has none.
func ramBytes(eff *conf.Config) int64 {
	bl, ok := eff.Resource("physpages")
	if !ok || bl.Limit == conf.Unlimited || bl.Limit <= 0 {
		return 0
	}
	page := int64(os.Getpagesize())
	if bl.Limit > conf.Unlimited/page {
		return 0
	}
	return bl.Limit * page
}
