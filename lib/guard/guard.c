/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SIGBUS guard (see vv_guard.h). Everything the handler touches is either
 * a plain atomic in static storage or allocated before the handler is
 * installed and never freed while it is; the handler itself only uses
 * async-signal-safe calls (mmap, write, sigaction, raise).
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

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

static void
on_sigbus(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	uint64_t a, one = 1;
	unsigned int i;

	/* si_code > 0: raised by the kernel for an access, not by kill(). */
	if (si == NULL || si->si_code <= 0)
		goto out;
	a = (uint64_t) (uintptr_t) si->si_addr;
	for (i = 0; i < VV_GUARD_SLOTS; i++) {
		struct slot *s = &slots[i];
		uint64_t start, len, page, base;
		uint32_t owner;
		long r;

		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SLOT_LIVE)
			continue;
		start = __atomic_load_n(&s->start, __ATOMIC_RELAXED);
		len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
		if (a < start || a - start >= len)
			continue;
		page = __atomic_load_n(&s->page, __ATOMIC_RELAXED);
		owner = __atomic_load_n(&s->owner, __ATOMIC_RELAXED);
		base = a & ~(page - 1);
		if (base < start)
			base = start;
		/* Anonymous memory over the page that lost its backing: the
		 * access completes (zeros), nothing else of the region moves.
		 * The raw syscall keeps sanitizer interceptors out of it. */
		r = syscall(SYS_mmap, (void *) (uintptr_t) base, (size_t) page,
			    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (r == -1)
			break; /* cannot repair: die below */
		__atomic_fetch_add(&owners[owner].faults, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&owners[owner].last_addr, a, __ATOMIC_RELAXED);
		if (write(evfd, &one, sizeof(one)) < 0) {
			/* Counter saturated: the reader is far behind, and it
			 * compares fault counts anyway. */
		}
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

void
vv_guard_del(int slot)
{
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
