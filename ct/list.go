package ct

import "govz/ct/listing"

// ListFilter selects containers for vzlist (listing.Filter).
type ListFilter = listing.Filter

// List gathers what vzlist shows about the selected containers
// (listing.List).
func (n *Node) List(f ListFilter) ([]listing.Info, error) { return listing.List(n.inv(), f) }
