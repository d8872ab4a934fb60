/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SIGBUS guard (see vv_guard.h). Everything the handler touches is either
 * a plain atomic in static storage or allocated before the handler is
 * installed and never freed while it is; the handler itself only uses
 * async-signal-safe calls (mmap, write, sigaction, raise; open, read and
 * close of /proc/self/maps for files guarded by identity).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "vv_guard.h"

enum { SLOT_FREE, SLOT_BUSY, SLOT_LIVE };

struct slot {
	uint32_t state; /* SLOT_*: published last (release), read first (acquire) */
	uint32_t owner;
	uint64_t start;
	uint64_t len;
	uint64_t page;
};

struct owner {
	uint64_t faults;
	uint64_t last_addr;
};

static struct slot slots[VV_GUARD_SLOTS];

/* Files guarded by identity: start and len unused, dev/ino instead. */
struct file_slot {
	uint32_t state;
	uint32_t owner;
	uint64_t dev;
	uint64_t ino;
	uint64_t page;
};

static struct file_slot files[VV_GUARD_FILES];
static uint32_t n_files; /* live file slots: the handler skips /proc when 0 */
static struct owner *owners;
static unsigned int n_owners;
static int evfd = -1;
static struct sigaction prev;
static bool installed;

/* The fault is not ours: hand it to whoever handled SIGBUS before us, or
 * die as if no handler had been installed. */
static void
not_ours(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl;

	if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction != NULL) {
		prev.sa_sigaction(sig, si, uc);
		return;
	}
	if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler != SIG_DFL &&
	    prev.sa_handler != SIG_IGN) {
		prev.sa_handler(sig);
		return;
	}
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGBUS, &dfl, NULL);
	/* A fault re-executes the access on return and dies of it (with a
	 * core); a signal someone sent must be raised again. */
	if (si == NULL || si->si_code <= 0)
		raise(sig);
}

/* Parse a hex or decimal number at *p; advance past it. */
static uint64_t
parse_num(const char **p, const char *end, unsigned int base)
{
	uint64_t v = 0;

	for (; *p < end; (*p)++) {
		char c = **p;
		unsigned int d;

		if (c >= '0' && c <= '9')
			d = (unsigned int) (c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned int) (c - 'a' + 10);
		else
			break;
		v = v * base + d;
	}
	return v;
}

/* One line of /proc/self/maps: "start-end perms offset maj:min inode path".
 * true with the file's identity if it maps a. */
static bool
maps_line(const char *p, const char *end, uint64_t a, uint64_t *dev, uint64_t *ino, uint64_t *start)
{
	uint64_t s, e, maj, min;

	s = parse_num(&p, end, 16);
	if (p >= end || *p++ != '-')
		return false;
	e = parse_num(&p, end, 16);
	if (a < s || a >= e)
		return false;
	for (int field = 0; field < 2; field++) { /* perms, offset */
		while (p < end && *p == ' ')
			p++;
		while (p < end && *p != ' ')
			p++;
	}
	while (p < end && *p == ' ')
		p++;
	maj = parse_num(&p, end, 16);
	if (p >= end || *p++ != ':')
		return false;
	min = parse_num(&p, end, 16);
	while (p < end && *p == ' ')
		p++;
	*ino = parse_num(&p, end, 10);
	/* Encoded as fstat's st_dev (an inline computation). */
	*dev = makedev((unsigned int) maj, (unsigned int) min);
	*start = s;
	return true;
}

/* Which file is mapped at a? Only open, read and close: async-signal-safe. */
static bool
maps_lookup(uint64_t a, uint64_t *dev, uint64_t *ino, uint64_t *start)
{
	char buf[4096];
	size_t have = 0;
	bool found = false, skipping = false;
	long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	while (!found) {
		long n = syscall(SYS_read, (int) fd, buf + have, sizeof(buf) - have);
		size_t off = 0;

		if (n <= 0)
			break;
		have += (size_t) n;
		for (;;) {
			char *nl = memchr(buf + off, '\n', have - off);

			if (nl == NULL)
				break;
			if (!skipping && maps_line(buf + off, nl, a, dev, ino, start)) {
				found = true;
				break;
			}
			skipping = false;
			off = (size_t) (nl - buf) + 1;
		}
		if (off == 0 && have == sizeof(buf)) {
			/* A line longer than the buffer (a long path): its
			 * fields are at its start; check them, drop the rest. */
			if (maps_line(buf, buf + have, a, dev, ino, start))
				found = true;
			skipping = true;
			have = 0;
			continue;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	syscall(SYS_close, (int) fd);
	return found;
}

static void
repaired(uint32_t owner, uint64_t a)
{
	uint64_t one = 1;

	__atomic_fetch_add(&owners[owner].faults, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&owners[owner].last_addr, a, __ATOMIC_RELAXED);
	if (write(evfd, &one, sizeof(one)) < 0) {
		/* Counter saturated: the reader is far behind, and it
		 * compares fault counts anyway. */
	}
}

/* Anonymous memory over the page that lost its backing: the access
 * completes (zeros), nothing else of the region moves. The raw syscall
 * keeps sanitizer interceptors out of it. */
static bool
repair(uint64_t a, uint64_t start, uint64_t page)
{
	uint64_t base = a & ~(page - 1);

	if (base < start)
		base = start;
	return syscall(SYS_mmap, (void *) (uintptr_t) base, (size_t) page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != -1;
}

/* A fault outside the registered regions, while files are guarded by
 * identity (a memory table between its check and its mapping). */
static bool
on_file(uint64_t a)
{
	uint64_t dev, ino, start;

	if (__atomic_load_n(&n_files, __ATOMIC_ACQUIRE) == 0 || !maps_lookup(a, &dev, &ino, &start))
		return false;
	for (unsigned int i = 0; i < VV_GUARD_FILES; i++) {
		struct file_slot *f = &files[i];

		if (__atomic_load_n(&f->state, __ATOMIC_ACQUIRE) != SLOT_LIVE ||
		    __atomic_load_n(&f->dev, __ATOMIC_RELAXED) != dev ||
		    __atomic_load_n(&f->ino, __ATOMIC_RELAXED) != ino)
			continue;
		if (!repair(a, start, __atomic_load_n(&f->page, __ATOMIC_RELAXED)))
			return false;
		repaired(__atomic_load_n(&f->owner, __ATOMIC_RELAXED), a);
		return true;
	}
	return false;
}

static void
on_sigbus(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	uint64_t a;
	unsigned int i;

	/* si_code > 0: raised by the kernel for an access, not by kill(). */
	if (si == NULL || si->si_code <= 0)
		goto out;
	a = (uint64_t) (uintptr_t) si->si_addr;
	for (i = 0; i < VV_GUARD_SLOTS; i++) {
		struct slot *s = &slots[i];
		uint64_t start, len;

		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SLOT_LIVE)
			continue;
		start = __atomic_load_n(&s->start, __ATOMIC_RELAXED);
		len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
		if (a < start || a - start >= len)
			continue;
		if (!repair(a, start, __atomic_load_n(&s->page, __ATOMIC_RELAXED)))
			goto out; /* cannot repair: die below */
		repaired(__atomic_load_n(&s->owner, __ATOMIC_RELAXED), a);
		errno = saved_errno;
		return;
	}
	if (on_file(a)) {
		errno = saved_errno;
		return;
	}
out:
	errno = saved_errno;
	not_ours(sig, si, uc);
}

int
vv_guard_init(unsigned int n)
{
	struct sigaction sa;

	if (installed)
		return 0;
	owners = calloc(n ? n : 1, sizeof(*owners));
	if (owners == NULL)
		return -ENOMEM;
	n_owners = n;
	evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (evfd < 0) {
		int err = -errno;

		free(owners);
		owners = NULL;
		return err;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &prev) != 0) {
		int err = -errno;

		close(evfd);
		evfd = -1;
		free(owners);
		owners = NULL;
		return err;
	}
	installed = true;
	return 0;
}

void
vv_guard_fini(void)
{
	unsigned int i;

	if (!installed)
		return;
	sigaction(SIGBUS, &prev, NULL);
	installed = false;
	for (i = 0; i < VV_GUARD_SLOTS; i++)
		__atomic_store_n(&slots[i].state, SLOT_FREE, __ATOMIC_RELEASE);
	for (i = 0; i < VV_GUARD_FILES; i++)
		__atomic_store_n(&files[i].state, SLOT_FREE, __ATOMIC_RELEASE);
	__atomic_store_n(&n_files, 0, __ATOMIC_RELEASE);
	close(evfd);
	evfd = -1;
	free(owners);
	owners = NULL;
	n_owners = 0;
}

int
vv_guard_add(uintptr_t start, size_t len, size_t page, unsigned int owner)
{
	unsigned int i;

	if (!installed || owner >= n_owners || page == 0 || (page & (page - 1)) != 0 || len == 0 ||
	    len - 1 > UINTPTR_MAX - start)
		return -EINVAL;
	for (i = 0; i < VV_GUARD_SLOTS; i++) {
		struct slot *s = &slots[i];
		uint32_t expect = SLOT_FREE;

		if (!__atomic_compare_exchange_n(&s->state, &expect, SLOT_BUSY, false,
						 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			continue;
		__atomic_store_n(&s->start, (uint64_t) start, __ATOMIC_RELAXED);
		__atomic_store_n(&s->len, (uint64_t) len, __ATOMIC_RELAXED);
		__atomic_store_n(&s->page, (uint64_t) page, __ATOMIC_RELAXED);
		__atomic_store_n(&s->owner, owner, __ATOMIC_RELAXED);
		/* The handler reads the fields only after seeing LIVE. */
		__atomic_store_n(&s->state, SLOT_LIVE, __ATOMIC_RELEASE);
		return (int) i;
	}
	return -ENOSPC;
}

int
vv_guard_add_file(uint64_t dev, uint64_t ino, size_t page, unsigned int owner)
{
	if (!installed || owner >= n_owners || page == 0 || (page & (page - 1)) != 0)
		return -EINVAL;
	for (unsigned int i = 0; i < VV_GUARD_FILES; i++) {
		struct file_slot *f = &files[i];
		uint32_t expect = SLOT_FREE;

		if (!__atomic_compare_exchange_n(&f->state, &expect, SLOT_BUSY, false,
						 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			continue;
		__atomic_store_n(&f->dev, dev, __ATOMIC_RELAXED);
		__atomic_store_n(&f->ino, ino, __ATOMIC_RELAXED);
		__atomic_store_n(&f->page, (uint64_t) page, __ATOMIC_RELAXED);
		__atomic_store_n(&f->owner, owner, __ATOMIC_RELAXED);
		__atomic_store_n(&f->state, SLOT_LIVE, __ATOMIC_RELEASE);
		__atomic_fetch_add(&n_files, 1, __ATOMIC_RELEASE);
		return VV_GUARD_SLOTS + (int) i;
	}
	return -ENOSPC;
}

void
vv_guard_del(int slot)
{
	if (slot >= VV_GUARD_SLOTS && slot < VV_GUARD_SLOTS + VV_GUARD_FILES) {
		struct file_slot *f = &files[slot - VV_GUARD_SLOTS];

		if (__atomic_exchange_n(&f->state, SLOT_FREE, __ATOMIC_RELEASE) == SLOT_LIVE)
			__atomic_fetch_sub(&n_files, 1, __ATOMIC_RELEASE);
		return;
	}
	if (slot < 0 || slot >= VV_GUARD_SLOTS)
		return;
	__atomic_store_n(&slots[slot].state, SLOT_FREE, __ATOMIC_RELEASE);
}

int
vv_guard_eventfd(void)
{
	return evfd;
}

uint64_t
vv_guard_faults(unsigned int owner)
{
	return owner < n_owners ? __atomic_load_n(&owners[owner].faults, __ATOMIC_ACQUIRE) : 0;
}

uintptr_t
vv_guard_last_addr(unsigned int owner)
{
	return owner < n_owners
		       ? (uintptr_t) __atomic_load_n(&owners[owner].last_addr, __ATOMIC_RELAXED)
		       : 0;
}
