/*
 * nsexec joins a running container before the Go runtime starts.
 *
 * Why C: setns(2) refuses CLONE_NEWNS to a process whose fs_struct is shared
 * (EINVAL), and every Go thread shares it; joining a pid namespace only
 * moves the children created afterwards. So the join must happen in a
 * single-threaded process: this ELF constructor runs from glibc's init_array
 * before main(), i.e. before the Go runtime starts a thread, and never
 * returns when its verb is argv[1]. (runc libcontainer/nsenter and incusd
 * main_nsexec.go do the same.) glibc passes argc/argv/envp to constructors.
 *
 * Contract (Go side: ct/attach/nsexec.go; names in contract.go):
 *
 *   exe   every verb runs from a sealed form of this binary
 *         (internal/exeseal): the exec verb from an O_PATH fd of it opened
 *         through a private read-only overlayfs mount (a sealed memfd copy
 *         where that mount cannot be made), the others from a sealed memfd
 *         copy; exec'd as /proc/self/fd/N, N one of the fds
 *         it inherits (not named in the environment; it closes with the
 *         others at the next execve). The file on disk must never run
 *         where a guest can see the process: its /proc/PID/exe, or the
 *         guest's own /proc/self/exe when the command is a
 *         "#!/proc/self/exe" script, would hand the guest the host's
 *         binary to write to (CVE-2019-5736).
 *   argv  EXE __govz_nsexec PATH ARGV0 [ARG...]
 *         PATH is searched in the container's PATH when it has no '/'.
 *   env   _GOVZ_NSEXEC_ERRFD=N       write end of a pipe for one error line
 *         _GOVZ_NSEXEC_PID=N         host pid of the container's init
 *         _GOVZ_NSEXEC_PIDFD=N       optional: pidfd of that init
 *         _GOVZ_NSEXEC_ROOTFD=N      O_PATH fd of /proc/PID/root
 *         _GOVZ_NSEXEC_NSFLAGS=N     CLONE_NEW* mask to join, decimal; with
 *                                    CLONE_NEWUSER the command runs as the
 *                                    container's root (uid/gid 0 inside)
 *         _GOVZ_NSEXEC_CGROUPFDS=N,N optional: cgroup.procs files, O_WRONLY
 *         _GOVZ_NSEXEC_CAPKEEP=HEX   capability bounding set to keep
 *         _GOVZ_NSEXEC_PTYFD=N       optional: unix socket, enter mode
 *         _GOVZ_NSEXEC_ENVFD=N       memfd: the command's environment as
 *                                    NUL-terminated KEY=VALUE entries
 *         _GOVZ_NSEXEC_SECCOMPFD=N   optional memfd: the container's seccomp
 *                                    filter (struct sock_filter array),
 *                                    installed last, right before execve
 *         Nothing else: the dynamic loader and libc of this host binary
 *         must not see the command's variables (LD_*, GLIBC_TUNABLES).
 *   fds   0, 1, 2 become the command's stdio (replaced by the pty slave in
 *         enter mode); every fd above 2 is closed at exec. The host hands
 *         in only anonymous pipes (its own copying ones for any other
 *         stdio, ct/attach/stdio.go) and sealed memfds (runscript's body):
 *         nothing the guest could reopen through /proc/self/fd to reach a
 *         host file, FIFO or device.
 *   pty   the child opens /dev/ptmx inside the container (the guest's
 *         devpts), sends the master over PTYFD (SCM_RIGHTS, one data byte),
 *         reads one byte back (the host has set the window size), then makes
 *         the slave its controlling terminal and stdio.
 *   error "<stage> <message>\n" on ERRFD (stderr if ERRFD is unusable) and
 *         exit 255; stage is "notrunning" (the init is gone), "setup"
 *         (joining failed) or "exec" (execve failed).
 *   exit  otherwise the command's status, 128+N if signal N killed it.
 *   sigs  the command runs in a session of its own (setsid; in enter mode
 *         the pty's), so no host terminal is its controlling terminal; the
 *         waiting process forwards SIGINT/SIGQUIT/SIGTERM/SIGHUP to it.
 *   keys  the command (and the init, below) joins a new anonymous session
 *         keyring before its filter: nothing of the caller's is possessed.
 *
 *   attach (Go, host)        nsexec (host pid ns)           child (CT pid ns)
 *   pidfd, root fd, cgroup
 *   fds, sealed copy ------> write pid to cgroup.procs
 *                            setns(pidfd, NSFLAGS)   [< 5.8: /proc/PID/ns/X,
 *                                                     user first]
 *                            fchdir(root); chroot(".")
 *                            fork -----------------------> [ptmx -> SCM_RIGHTS,
 *                            waitpid                        wait for ack]
 *                                                          [own user ns:
 *                                                          setgroups, setresgid,
 *                                                          setresuid to CT root]
 *                                                          drop bounding set,
 *                                                          inheritable, ambient
 *                                                          execvpe
 *   wait <------------------ exit(status)
 *
 * One more verb locks a container's mounts (see ct/nsinit/protocol.go). A
 * container's masks over /proc and /sys are ordinary mounts that its root
 * could remove (CAP_SYS_ADMIN over its mount namespace) to reach host-global
 * files. copy_mnt_ns() into a mount namespace owned by another user
 * namespace than the source's marks every copied mount MNT_LOCKED (no
 * umount: EINVAL) and read-only ones MNT_LOCK_READONLY (fs/namespace.c
 * lock_mnt_tree), and mount_too_revealing() then refuses a fresh procfs or
 * sysfs. The lock needs a single-threaded process: unshare(CLONE_NEWUSER)
 * refuses a caller that shares its fs_struct, and so does setns(CLONE_NEWNS).
 * (The init joins the locked namespace from Go, on a thread that unshared
 * its fs_struct first: ct/nsinit/lock_linux.go execLocked.)
 *
 *   lock  argv  EXE __govz_nslock
 *         env   _GOVZ_NSEXEC_SYNCFD=N    unix socket: "ok\n" once the locked
 *                                        namespace exists, then reads until
 *                                        EOF and exits 0; on failure
 *                                        "setup <message>\n", exit 255
 *               _GOVZ_NSEXEC_USERNSFD=N  the container's user namespace (U1)
 *               _GOVZ_NSEXEC_MNTNSFD=N   its fully built mount namespace (M1)
 *               _GOVZ_NSEXEC_OWNER=N     uid inside U1 that owns U2
 *         setns(U1); setns(M1); setresgid(0); setresuid(OWNER);
 *         unshare(CLONE_NEWUSER|CLONE_NEWNS): a copy M2 of M1, every mount
 *         locked, owned by the new U2 (a child of U1, no mappings: nobody
 *         ever has credentials in it). The caller opens /proc/PID/ns/mnt
 *         while the helper waits. OWNER is not 0: the owner of a user
 *         namespace has every capability in it (cap_capable), so a uid-0
 *         process of the guest without CAP_SYS_ADMIN would otherwise still
 *         mount in M2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The names are internal/reexec's (TestContractNames checks them). */
#define VERB "__govz_nsexec"
#define VERB_LOCK "__govz_nslock"
#define ENV(name) "_GOVZ_NSEXEC_" name

static int errfd = -1;
static volatile sig_atomic_t child = -1;

static void __attribute__((noreturn, format(printf, 2, 3)))
die(const char *stage, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	size_t n;

	snprintf(buf, sizeof(buf), "%s ", stage);
	n = strlen(buf);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	n = strlen(buf);
	if (n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(errfd >= 0 ? errfd : 2, buf, n) < 0 && errfd >= 0)
		(void)!write(2, buf, n);
	_exit(255);
}

/* envnum parses a non-negative number; -1 if unset and optional. */
static long long envnum(const char *name, int base, int required)
{
	const char *v = getenv(name);
	char *end;
	long long n;

	if (v == NULL) {
		if (required)
			die("setup", "%s not set", name);
		return -1;
	}
	errno = 0;
	n = strtoll(v, &end, base);
	if (errno != 0 || end == v || *end != '\0' || n < 0)
		die("setup", "%s=%s: not a number", name, v);
	return n;
}

/* envmask parses a required hexadecimal mask (the bounding set to keep). */
static unsigned long long envmask(const char *name)
{
	const char *v = getenv(name);
	unsigned long long n;
	char *end;

	if (v == NULL)
		die("setup", "%s not set", name);
	errno = 0;
	n = strtoull(v, &end, 16);
	if (errno != 0 || end == v || *end != '\0')
		die("setup", "%s=%s: not a hex mask", name, v);
	return n;
}

/*
 * Cgroup first: once the cgroup namespace is joined, paths are relative to
 * the container's root and v2 refuses moves outside the namespace.
 */
static void join_cgroups(const char *list)
{
	char pid[24];
	int len = snprintf(pid, sizeof(pid), "%d", getpid());

	while (list != NULL && *list != '\0') {
		char *end;
		long fd = strtol(list, &end, 10);

		if (end == list || (*end != '\0' && *end != ','))
			die("setup", "%s=%s: bad list", ENV("CGROUPFDS"), list);
		if (write(fd, pid, len) != len) {
			int err = errno;
			char link[48], path[256] = "?";
			ssize_t n;

			snprintf(link, sizeof(link), "/proc/self/fd/%ld", fd);
			n = readlink(link, path, sizeof(path) - 1);
			path[n > 0 ? n : 1] = '\0';
			die("setup", "joining cgroup %s: %s", path, strerror(err));
		}
		close(fd);
		list = *end == ',' ? end + 1 : end;
	}
}

/* The user namespace comes first: it owns the others, and joining them
 * needs CAP_SYS_ADMIN in it, which joining it gives. */
static const struct {
	int flag;
	const char *name;
} nstypes[] = {
	{CLONE_NEWUSER, "user"},     {CLONE_NEWCGROUP, "cgroup"}, {CLONE_NEWIPC, "ipc"}, {CLONE_NEWUTS, "uts"},
	{CLONE_NEWNET, "net"},       {CLONE_NEWPID, "pid"}, {CLONE_NEWTIME, "time"},
	{CLONE_NEWNS, "mnt"},
};
#define NNS (sizeof(nstypes) / sizeof(nstypes[0]))

static void join_namespaces(long long pid, int pidfd, int flags)
{
	int fds[NNS];
	size_t i;

	if (pidfd >= 0) {
		/* Linux >= 5.8: all namespaces at once, and no pid reuse race. */
		if (setns(pidfd, flags) == 0)
			return;
		if (errno == ESRCH)
			die("notrunning", "init %lld exited", pid);
		if (errno != EINVAL)
			die("setup", "setns: %s", strerror(errno));
	}
	/* Open every file before the first setns: /proc changes with mnt. */
	for (i = 0; i < NNS; i++) {
		char path[64];

		fds[i] = -1;
		if (!(flags & nstypes[i].flag))
			continue;
		snprintf(path, sizeof(path), "/proc/%lld/ns/%s", pid, nstypes[i].name);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			die(errno == ENOENT ? "notrunning" : "setup", "opening %s: %s",
			    path, strerror(errno));
	}
	/* The files name the init only if it still lived after they opened. */
	if (pidfd >= 0 && syscall(__NR_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
		die("notrunning", "init %lld exited", pid);
	for (i = 0; i < NNS; i++) {
		if (fds[i] < 0)
			continue;
		if (setns(fds[i], nstypes[i].flag) < 0)
			die("setup", "joining %s namespace: %s", nstypes[i].name,
			    strerror(errno));
		close(fds[i]);
	}
}

static void send_fd(int sock, int fd)
{
	char byte = 'P';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c;

	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != 1)
		die("setup", "sending the pty master: %s", strerror(errno));
}

/*
 * The pty comes from the container's devpts, so the guest's tools see a
 * terminal of their own; the host only ever holds the master, and no host
 * terminal is reachable from the container (TIOCSTI, TIOCSETD).
 */
static void attach_pty(int sock)
{
	int unlock = 0, master, slave;
	char ack;

	master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		die("setup", "opening /dev/ptmx in the container: %s", strerror(errno));
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		die("setup", "unlocking the pty: %s", strerror(errno));
	/* TIOCGPTPEER (4.13) opens the slave without a path lookup in /dev/pts. */
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		die("setup", "opening the pty slave: %s", strerror(errno));
	send_fd(sock, master);
	if (read(sock, &ack, 1) != 1)
		die("setup", "host closed the pty socket");
	close(master);
	close(sock);
	if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
		die("setup", "making the pty the controlling terminal: %s",
		    strerror(errno));
	if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)
		die("setup", "pty stdio: %s", strerror(errno));
	if (slave > 2)
		close(slave);
}

/*
 * execve(2) gives uid 0 the full file capability sets, masked by the
 * bounding set, plus the inheritable and ambient sets: clear those too.
 */
static void drop_caps(unsigned long long keep)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	int c, r;

	for (c = 0; c < 64; c++) {
		r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
		if (r < 0)
			break; /* EINVAL past CAP_LAST_CAP */
		if (r == 1 && !(keep >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			die("setup", "dropping capability %d: %s", c, strerror(errno));
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		die("setup", "clearing ambient capabilities: %s", strerror(errno));
	if (syscall(SYS_capget, &hdr, data) < 0)
		die("setup", "capget: %s", strerror(errno));
	data[0].inheritable = data[1].inheritable = 0;
	if (syscall(SYS_capset, &hdr, data) < 0)
		die("setup", "capset: %s", strerror(errno));
}

/* read_env splits the environment memfd into an envp array. */
static char **read_env(int fd)
{
	struct stat st;
	char *buf, *p, **env;
	size_t n = 0, i = 0;
	ssize_t r;
	off_t off = 0;

	if (fstat(fd, &st) < 0)
		die("setup", "environment fd: %s", strerror(errno));
	buf = malloc(st.st_size + 1);
	if (buf == NULL)
		die("setup", "out of memory");
	while (off < st.st_size) {
		r = pread(fd, buf + off, st.st_size - off, off);
		if (r <= 0)
			die("setup", "reading environment: %s", r ? strerror(errno) : "short");
		off += r;
	}
	buf[off] = '\0';
	for (p = buf; p < buf + off; p += strlen(p) + 1)
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (env == NULL)
		die("setup", "out of memory");
	for (p = buf; p < buf + off; p += strlen(p) + 1)
		env[i++] = p;
	close(fd);
	return env;
}

/*
 * read_filter loads the seccomp program the container's init runs under:
 * without it a process joined by exec or enter could do what the filter
 * denies the guest (remount /sys read-write, load a module, ...).
 */
static struct sock_fprog read_filter(int fd)
{
	struct sock_fprog prog = {0, NULL};
	struct stat st;

	if (fd < 0)
		return prog;
	if (fstat(fd, &st) < 0 || st.st_size == 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
	    st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		die("setup", "seccomp filter fd: bad size");
	prog.filter = malloc(st.st_size);
	if (prog.filter == NULL)
		die("setup", "out of memory");
	if (pread(fd, prog.filter, st.st_size, 0) != st.st_size)
		die("setup", "reading seccomp filter: %s", strerror(errno));
	prog.len = st.st_size / sizeof(struct sock_filter);
	close(fd);
	return prog;
}

/*
 * In a container with its own user namespace, setns(2) left us with host
 * root's IDs, which the namespace does not map (the overflow ID inside):
 * become the container's root, an unprivileged ID on the host. Capabilities
 * stay: the IDs were not root in this namespace before (capabilities(7),
 * "Effect of user ID changes on capabilities"), and execve gives uid 0 the
 * full set again anyway.
 */
static void become_ct_root(void)
{
	if (setgroups(0, NULL) < 0)
		die("setup", "setgroups: %s", strerror(errno));
	if (setresgid(0, 0, 0) < 0)
		die("setup", "setresgid 0 in the container: %s", strerror(errno));
	if (setresuid(0, 0, 0) < 0)
		die("setup", "setresuid 0 in the container: %s", strerror(errno));
}

/*
 * new_session_keyring gives the process a fresh anonymous session keyring.
 * Otherwise it keeps the one of whoever ran vzctl (a login's, host root's),
 * and possession overrides the key's owner and permission checks: the guest
 * could read, link or revoke the caller's keys with no uid check at all.
 * runc joins a new session keyring for every process for the same reason.
 * Before the seccomp filter, which refuses keyctl. ENOSYS: a kernel without
 * keys has nothing to leak.
 */
static void new_session_keyring(void)
{
	if (syscall(__NR_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS)
		die("setup", "joining a new session keyring: %s", strerror(errno));
}

static void __attribute__((noreturn)) run_child(char **cmd, int ptyfd,
						  unsigned long long keep, char **env,
						  struct sock_fprog *filter, int userns)
{
	int fd;

	/* Before the pty: its slave is then the container root's. */
	if (userns)
		become_ct_root();
	new_session_keyring();
	/*
	 * Enter mode: a session of its own on the container's pty. Otherwise a
	 * session without a terminal: the caller's controlling terminal stays
	 * the command's even though its stdio are pipes, and the guest's
	 * /dev/tty (5:0) opens whatever that is: the host terminal, where
	 * TIOCSTI would type commands into the admin's shell.
	 */
	if (ptyfd >= 0)
		attach_pty(ptyfd);
	else if (setsid() < 0)
		die("setup", "setsid: %s", strerror(errno));
	drop_caps(keep);
	/* Cloexec rather than close: ERRFD must outlive a failed execve. */
	if (syscall(__NR_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		for (fd = 3; fd < sysconf(_SC_OPEN_MAX); fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	/* execvpe searches getenv("PATH"): make it the command's. */
	environ = env;
	/* Last: the filter may deny calls the steps above make. No
	 * no_new_privs: setuid programs inside must keep working, and the
	 * process still holds CAP_SYS_ADMIN, which seccomp requires then. */
	if (filter->len > 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, filter, 0, 0) < 0)
		die("setup", "installing seccomp filter: %s", strerror(errno));
	execvpe(cmd[0], cmd + 1, env);
	die("exec", "%s: %s", cmd[0], strerror(errno));
}

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

static void __attribute__((noreturn)) wait_child(void)
{
	struct sigaction sa;
	int st;

	/* The child has a session of its own (on the container's pty in
	 * enter mode, where a ^C is the pty's to send, or none), so the
	 * caller's terminal no longer reaches it: a ^C or ^\ that reaches us
	 * is passed on, as are SIGTERM and SIGHUP. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			die("setup", "waitpid: %s", strerror(errno));
	if (WIFEXITED(st))
		_exit(WEXITSTATUS(st));
	_exit(128 + WTERMSIG(st));
}

/* lock_main is the lock verb (see the contract above). */
static void __attribute__((noreturn)) lock_main(void)
{
	long long usernsfd, mntfd, owner;
	char c;
	ssize_t r;

	errfd = (int)envnum(ENV("SYNCFD"), 10, 1);
	usernsfd = envnum(ENV("USERNSFD"), 10, 1);
	mntfd = envnum(ENV("MNTNSFD"), 10, 1);
	owner = envnum(ENV("OWNER"), 10, 1);
	if (owner == 0 || owner > 4294967294LL)
		die("setup", "%s=%lld: not a usable owner", ENV("OWNER"), owner);
	/* The user namespace first: it gives CAP_SYS_ADMIN over M1. */
	if (setns((int)usernsfd, CLONE_NEWUSER) < 0)
		die("setup", "joining the container's user namespace: %s", strerror(errno));
	if (setns((int)mntfd, CLONE_NEWNS) < 0)
		die("setup", "joining the container's mount namespace: %s", strerror(errno));
	close((int)usernsfd);
	close((int)mntfd);
	/* create_user_ns() wants the creator's euid and egid mapped in U1;
	 * host root's are not in a LOCAL_UID container's. */
	if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0)
		die("setup", "setresgid 0 in the container: %s", strerror(errno));
	if (setresuid((uid_t)owner, (uid_t)owner, (uid_t)owner) < 0)
		die("setup", "setresuid %lld in the container: %s", owner, strerror(errno));
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		die("setup", "unshare(CLONE_NEWUSER|CLONE_NEWNS): %s", strerror(errno));
	if (write(errfd, "ok\n", 3) != 3)
		_exit(255);
	/* Live on until the caller has opened /proc/PID/ns/mnt. */
	while ((r = read(errfd, &c, 1)) != 0)
		if (r < 0 && errno != EINTR)
			break;
	_exit(0);
}

__attribute__((constructor)) static void nsexec(int argc, char **argv)
{
	long long pid, pidfd, rootfd, flags, ptyfd;
	unsigned long long keep;
	struct sock_fprog filter;
	char **env;

	if (argc >= 2 && strcmp(argv[1], VERB_LOCK) == 0)
		lock_main();
	if (argc < 2 || strcmp(argv[1], VERB) != 0)
		return;
	errfd = (int)envnum(ENV("ERRFD"), 10, 1);
	if (argc < 4)
		die("setup", "usage: %s PATH ARGV0 [ARG...]", VERB);
	pid = envnum(ENV("PID"), 10, 1);
	pidfd = envnum(ENV("PIDFD"), 10, 0);
	rootfd = envnum(ENV("ROOTFD"), 10, 1);
	flags = envnum(ENV("NSFLAGS"), 10, 1);
	ptyfd = envnum(ENV("PTYFD"), 10, 0);
	env = read_env((int)envnum(ENV("ENVFD"), 10, 1));
	filter = read_filter((int)envnum(ENV("SECCOMPFD"), 10, 0));
	keep = envmask(ENV("CAPKEEP"));

	join_cgroups(getenv(ENV("CGROUPFDS")));
	join_namespaces(pid, (int)pidfd, (int)flags);
	/* setns(CLONE_NEWNS) lands on the namespace root, which is not the
	 * init's root if the init chrooted: use the root the host opened. */
	if (fchdir((int)rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0)
		die("setup", "entering the container root: %s", strerror(errno));
	close((int)rootfd);
	if (pidfd >= 0)
		close((int)pidfd);
	/* Until execve the child runs the host binary inside the container's
	 * pid namespace: keep /proc/PID/exe and ptrace away from the guest. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die("setup", "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	child = fork();
	if (child < 0)
		die("setup", "fork: %s", strerror(errno));
	if (child == 0)
		run_child(argv + 2, (int)ptyfd, keep, env, &filter, (flags & CLONE_NEWUSER) != 0);
	if (ptyfd >= 0)
		close((int)ptyfd);
	wait_child();
}
