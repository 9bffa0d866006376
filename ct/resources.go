package ct

import "govz/ct/resource"

// UBCRow is one line of the beancounter table (resource.Row).
type UBCRow = resource.Row

// UBCReport is `vzctl ubc` for one container (resource.Report).
type UBCReport = resource.Report

// UBC reads running container id's beancounters.
func (n *Node) UBC(id int) (*UBCReport, error) {
	c, err := n.Load(id)
	if err != nil {
		return nil, err
	}
	return resource.Read(n.inv(), id, c.Config)
}
