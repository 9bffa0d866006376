package caps

import "testing"

func TestTableAArch64Numbers(t *testing.T) {
	pinTable(t, TableAArch64, hostNumbers(nil))
}
