/*
 * idle is the supervisor of a container that has nothing to do but wait.
 *
 * Why C: a running container needs a resident parent for its init (to reap
 * it, reboot it and clean up after it) and someone to drain its console.
 * The cheapest Go process that can do that costs 1.5-2 MiB of private
 * memory (heap arenas, mcache, one stack per runtime thread), several times
 * LXC's C monitor. Almost all of a container's life is spent waiting, so
 * the waiting is done here, in an ELF constructor that runs before the Go
 * runtime starts and never returns: the process is a plain C program
 * (libc, a stack, this file's pages of the shared executable). Anything
 * that needs real work makes it execve(2) back into the Go supervisor,
 * keeping its PID, its child and every descriptor; the Go side decides,
 * acts and, once idle again, comes back here (handoff.go).
 *
 * Contract (Go side: handoff.go, idle_cgo.go):
 *
 *   Names (verb, modes, variables, fields, wake reasons): idle.h.
 *   argv  ARGV0 IDLE_VERB IDLE_MODE
 *         ARGV0 is reused for the way back, so ps keeps showing the CT.
 *   env   IDLE_ENV="master=FD log=FD ... pid=PID ready=0|1" (idle.h's
 *             IDLE_FIELDS, named, each once)
 *         GOVZ_SUPERVISOR_HANDOFF=...  the Go state, passed back untouched
 *   fds   all of the above are open without close-on-exec; RING is a memfd
 *         holding a uint32 length and then the last output bytes (the
 *         console ring, updated here).
 *   sigs  SIGTERM and SIGINT are blocked (Go blocks them before the
 *         execve, so none is lost in between) and read from a signalfd;
 *         one that arrives wakes Go with WAKE_ENV=WAKE_SIGNAL N.
 *
 * What is handled here: console output (appended to the log and the ring),
 * readiness messages after the guest is ready (drained: nothing to tell).
 * What wakes Go: a connection on the control socket (left in the backlog
 * for Go to accept), the init's exit (left unreaped, seen through a pidfd),
 * SIGTERM/SIGINT (consumed, and named in the wake reason), a readiness message before ready (left
 * unread), and any error (Go knows what to do; it simply goes on).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif

#include "idle.h"

extern char **environ;

struct idle {
#define FIELD(name) int name;
	IDLE_FIELDS(FIELD)
#undef FIELD
	uint32_t *len;	/* the ring memfd: length, then the bytes */
	unsigned char *data;
	uint32_t cap;
};

/* wake execs the Go supervisor; on failure there is nothing better to do
 * than keep waiting, so it returns and the loop sleeps a little. */
static void wake(char *argv0, const char *why)
{
	static char reason[64];
	char *args[] = {argv0, IDLE_VERB, MONITOR_MODE, NULL};

	snprintf(reason, sizeof(reason), WAKE_ENV "=%s", why);
	if (putenv(reason) != 0)
		return;
	/* The file itself, not a sealed copy (internal/exeseal): the
	 * supervisor lives in the host's namespaces, out of every guest's
	 * sight. */
	execve("/proc/self/exe", args, environ);
	dprintf(2, "supervisor: idle: execve: %s\n", strerror(errno));
	sleep(1);
}

static void remember(struct idle *s, const unsigned char *b, size_t n)
{
	uint32_t have = *s->len;

	if (have > s->cap)
		have = 0;
	if (n >= s->cap) {
		memcpy(s->data, b + n - s->cap, s->cap);
		*s->len = s->cap;
		return;
	}
	if (have + n > s->cap) {
		size_t over = have + n - s->cap;
		memmove(s->data, s->data + over, have - over);
		have -= over;
	}
	memcpy(s->data + have, b, n);
	*s->len = have + n;
}

/* output drains the console master; it returns 0 while all is well. */
static int output(struct idle *s)
{
	unsigned char buf[2048];

	for (;;) {
		ssize_t n = read(s->master, buf, sizeof(buf));
		if (n > 0) {
			remember(s, buf, n);
			if (s->log >= 0) {
				/* best effort, as the Go pump: a full disk must
				 * not stop the guest's console */
				if (write(s->log, buf, n) < 0) {
				}
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		/* EIO: no slave open, transient (the supervisor holds one). */
		if (n < 0 && errno == EIO)
			return 0;
		return -1;
	}
}

/* drain discards readiness messages that carry no news any more. */
static void drain(int fd, int dgram)
{
	char buf[512];

	for (;;) {
		ssize_t n = dgram ? recv(fd, buf, sizeof(buf), MSG_DONTWAIT) : read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
	}
}

static const struct {
	const char *name;
	size_t off;
} fields[] = {
#define FIELD(name) {#name, offsetof(struct idle, name)},
	IDLE_FIELDS(FIELD)
#undef FIELD
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* parse_fields reads IDLE_ENV's NAME=DECIMAL pairs: every field of
 * IDLE_FIELDS once, nothing else. */
static int parse_fields(struct idle *s, const char *v)
{
	char buf[512], *tok, *save;
	unsigned seen = 0;

	if (strlen(v) >= sizeof(buf))
		return -1;
	strcpy(buf, v);
	for (tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '='), *end;
		size_t i;
		long n;

		if (eq == NULL)
			return -1;
		*eq = '\0';
		for (i = 0; i < NFIELDS && strcmp(fields[i].name, tok) != 0; i++)
			;
		if (i == NFIELDS || (seen & (1u << i)))
			return -1;
		errno = 0;
		n = strtol(eq + 1, &end, 10);
		if (errno != 0 || end == eq + 1 || *end != '\0' || n < INT_MIN || n > INT_MAX)
			return -1;
		*(int *)((char *)s + fields[i].off) = (int)n;
		seen |= 1u << i;
	}
	return seen == (1u << NFIELDS) - 1 ? 0 : -1;
}

static int parse(struct idle *s, const char *v)
{
	struct stat st;
	void *m;

	if (parse_fields(s, v) != 0)
		return -1;
	if (fstat(s->ring, &st) < 0 || st.st_size < (off_t)sizeof(uint32_t) + 1)
		return -1;
	m = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->ring, 0);
	if (m == MAP_FAILED)
		return -1;
	s->len = m;
	s->data = (unsigned char *)m + sizeof(uint32_t);
	s->cap = st.st_size - sizeof(uint32_t);
	return 0;
}

__attribute__((constructor)) static void idle(int argc, char **argv)
{
	struct idle s;
	struct pollfd p[6];
	const char *v;
	sigset_t block;
	int pidfd, sigfd;

	if (argc < 3 || strcmp(argv[1], IDLE_VERB) != 0 || strcmp(argv[2], IDLE_MODE) != 0)
		return;
	/* Go blocked these before the execve; make sure, whatever ran us. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	v = getenv(IDLE_ENV);
	if (v == NULL || parse(&s, v) != 0) {
		dprintf(2, "supervisor: idle: bad %s\n", IDLE_ENV);
		wake(argv[0], WAKE_ERROR);
		_exit(1);
	}
	pidfd = syscall(__NR_pidfd_open, s.pid, 0);
	sigfd = signalfd(-1, &block, SFD_CLOEXEC | SFD_NONBLOCK);
	if (pidfd < 0 || sigfd < 0) {
		wake(argv[0], WAKE_ERROR);
		_exit(1);
	}
	for (;;) {
		int i;

		p[0] = (struct pollfd){.fd = s.master, .events = POLLIN};
		p[1] = (struct pollfd){.fd = s.control, .events = POLLIN};
		p[2] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		p[3] = (struct pollfd){.fd = s.notify, .events = POLLIN};
		p[4] = (struct pollfd){.fd = s.fifo, .events = POLLIN};
		p[5] = (struct pollfd){.fd = sigfd, .events = POLLIN};
		if (poll(p, 6, -1) < 0) {
			if (errno != EINTR)
				usleep(100000);
			continue;
		}
		for (i = 0; i < 6; i++)
			if (p[i].revents & POLLNVAL)
				wake(argv[0], WAKE_ERROR);
		if (p[5].revents) {
			/* Consumed here and named to Go: the Go runtime unblocks
			 * SIGTERM while it starts, long before the supervisor asks
			 * for it, and a pending one would kill it. */
			struct signalfd_siginfo si;
			char why[32];

			if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				snprintf(why, sizeof(why), WAKE_SIGNAL "%u", si.ssi_signo);
				wake(argv[0], why);
			}
		}
		if (p[2].revents)
			wake(argv[0], WAKE_EXIT);
		if (p[1].revents)
			wake(argv[0], WAKE_CONTROL);
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (output(&s) != 0)
				wake(argv[0], WAKE_CONSOLE);
			/* no slave open (hung up): do not spin on POLLHUP */
			if (!(p[0].revents & POLLIN))
				usleep(50000);
		}
		if (p[3].revents) {
			if (s.ready)
				drain(s.notify, 1);
			else
				wake(argv[0], WAKE_NOTIFY);
		}
		if (p[4].revents) {
			if (s.ready)
				drain(s.fifo, 0);
			else
				wake(argv[0], WAKE_READY);
		}
	}
}
