package grants

import "errors"

// ErrBadValue is a feature, device node, device or netfilter value that
// does not parse or asks for something a stock kernel cannot enforce; the
// wrapping message names the value and why.
var ErrBadValue = errors.New("invalid parameter value")
