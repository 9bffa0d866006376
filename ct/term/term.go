// Package term puts the host's terminal in raw mode while vzctl connects
// it to a container (enter, console), and restores it afterwards.
package term

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// MakeRaw puts the terminal on fd in raw mode (cfmakeraw(3)) and returns
// the function that restores the previous mode. TCSETSW (tcsetattr's
// TCSADRAIN) lets pending output drain first, so nothing already written
// is lost or mangled by the switch.
func MakeRaw(fd int) (restore func(), err error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("reading terminal mode: %w", err)
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETSW, &raw); err != nil {
		return nil, fmt.Errorf("setting raw mode: %w", err)
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETSW, old) }, nil
}
