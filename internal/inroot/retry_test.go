package inroot

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeOpen fails with errs in turn, then returns fd 7.
type fakeOpen struct {
	errs  []error
	calls int
}

func (f *fakeOpen) open() (int, error) {
	f.calls++
	if f.calls <= len(f.errs) {
		return -1, f.errs[f.calls-1]
	}
	return 7, nil
}

func repeat(err error, n int) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

func TestRetryPolicy(t *testing.T) {
	for _, tc := range []struct {
		name      string
		errs      []error
		wantFD    int
		wantErr   error
		wantCalls int
	}{
		{"first try", nil, 7, nil, 1},
		{"eagain then success", []error{unix.EAGAIN, unix.EAGAIN}, 7, nil, 3},
		{"eintr then success", []error{unix.EINTR}, 7, nil, 2},
		{"last allowed try succeeds", repeat(unix.EAGAIN, maxRetries-1), 7, nil, maxRetries},
		{"eagain forever gives up", repeat(unix.EAGAIN, maxRetries+10), -1, unix.EAGAIN, maxRetries},
		{"other error not retried", []error{unix.EXDEV}, -1, unix.EXDEV, 1},
		{"eloop after eagain not retried", []error{unix.EAGAIN, unix.ELOOP}, -1, unix.ELOOP, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeOpen{errs: tc.errs}
			fd, err := retry(f.open)
			if fd != tc.wantFD || !errors.Is(err, tc.wantErr) {
				t.Errorf("retry = %d, %v; want %d, %v", fd, err, tc.wantFD, tc.wantErr)
			}
			if f.calls != tc.wantCalls {
				t.Errorf("open called %d times, want %d", f.calls, tc.wantCalls)
			}
		})
	}
}
