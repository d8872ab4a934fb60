/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/guard: a file truncated under its mapping. Inside a registered region
 * the fault is survived (zeros read, the owner counted, the eventfd
 * readable), from any thread; outside, or after the region was removed, or
 * for a SIGBUS someone sent, the process still dies of SIGBUS.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include <vv_guard.h>

#define PG 4096u

struct map {
	int fd;
	uint8_t *p;
	size_t len;
};

/* A shared mapping of a memfd of len bytes, filled with 0x5a. */
static void
map_new(struct map *m, size_t len)
{
	m->fd = memfd_create("vv-guard-test", MFD_CLOEXEC);
	assert_true(m->fd >= 0);
	assert_int_equal(ftruncate(m->fd, (off_t) len), 0);
	m->p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	assert_true(m->p != MAP_FAILED);
	m->len = len;
	memset(m->p, 0x5a, len);
}

static void
map_free(struct map *m)
{
	munmap(m->p, m->len);
	close(m->fd);
}

static uint64_t
drain_eventfd(void)
{
	uint64_t v = 0;

	if (read(vv_guard_eventfd(), &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* cmocka installs its own SIGBUS handler around every test: the guard is
 * installed inside the test, over it. */
static void
guard_start(void)
{
	vv_guard_fini();
	assert_int_equal(vv_guard_init(4), 0);
}

static void
test_truncated_page_survived(void **s)
{
	struct map m;
	volatile uint8_t *p;
	int slot;

	(void) s;
	guard_start();
	map_new(&m, 4 * PG);
	p = m.p;
	slot = vv_guard_add((uintptr_t) m.p, m.len, PG, 2);
	assert_true(slot >= 0);
	/* The front-end shrinks the file to one page. */
	assert_int_equal(ftruncate(m.fd, PG), 0);
	assert_int_equal(p[10], 0x5a);		/* still backed */
	assert_int_equal(p[2 * PG + 7], 0);	/* was past the end: now zeros */
	assert_int_equal(vv_guard_faults(2), 1);
	assert_true(vv_guard_last_addr(2) == (uintptr_t) &m.p[2 * PG + 7]);
	assert_int_equal(drain_eventfd(), 1);
	p[2 * PG + 9] = 1;			/* the repaired page is private and writable */
	assert_int_equal(p[2 * PG + 9], 1);
	assert_int_equal(vv_guard_faults(2), 1);
	p[3 * PG] = 2;				/* another lost page: another fault */
	assert_int_equal(vv_guard_faults(2), 2);
	assert_int_equal(vv_guard_faults(0), 0);
	assert_int_equal(drain_eventfd(), 1);
	vv_guard_del(slot);
	map_free(&m);
}

/* Before a memory table is mapped its addresses are unknown: the file is
 * guarded by identity, and the fault found in /proc/self/maps. */
static void
test_file_by_identity(void **s)
{
	struct map m, other;
	volatile uint8_t *p;
	struct stat st;
	int id;

	(void) s;
	guard_start();
	map_new(&other, 2 * PG); /* another guarded file: must not match */
	assert_int_equal(fstat(other.fd, &st), 0);
	assert_true(vv_guard_add_file(st.st_dev, st.st_ino, PG, 0) >= 0);
	map_new(&m, 4 * PG);
	p = m.p;
	assert_int_equal(fstat(m.fd, &st), 0);
	id = vv_guard_add_file(st.st_dev, st.st_ino, PG, 3);
	assert_true(id >= 0);
	assert_int_equal(ftruncate(m.fd, PG), 0);
	assert_int_equal(p[3 * PG + 1], 0);
	assert_int_equal(p[0], 0x5a);
	assert_int_equal(vv_guard_faults(3), 1);
	assert_int_equal(vv_guard_faults(0), 0);
	assert_int_equal(drain_eventfd(), 1);
	vv_guard_del(id);
	assert_int_equal(vv_guard_add_file(1, 2, 3000, 0), -EINVAL);
	map_free(&m);
	map_free(&other);
}

static void *
toucher(void *arg)
{
	volatile uint8_t *p = arg;

	return (void *) (uintptr_t) p[0];
}

static void
test_other_thread(void **s)
{
	struct map m;
	pthread_t t;
	void *ret = NULL;
	int slot;

	(void) s;
	guard_start();
	map_new(&m, 2 * PG);
	slot = vv_guard_add((uintptr_t) m.p, m.len, PG, 1);
	assert_int_equal(ftruncate(m.fd, 0), 0);
	assert_int_equal(pthread_create(&t, NULL, toucher, m.p + PG), 0);
	pthread_join(t, &ret);
	assert_null(ret);
	assert_int_equal(vv_guard_faults(1), 1);
	vv_guard_del(slot);
	map_free(&m);
}

/* Run fn in a child; return the signal that killed it, 0 if it exited. */
static int
child_dies_of(void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		/* Not cmocka's handler: the default action is what must happen. */
		vv_guard_fini();
		signal(SIGBUS, SIG_DFL);
		if (vv_guard_init(4) != 0)
			_exit(2);
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static void
touch_unregistered(void)
{
	struct map m;

	map_new(&m, 2 * PG);
	(void) ftruncate(m.fd, 0);
	*(volatile uint8_t *) (m.p + PG) = 1;
}

static void
touch_removed(void)
{
	struct map m;
	int slot;

	map_new(&m, 2 * PG);
	slot = vv_guard_add((uintptr_t) m.p, m.len, PG, 0);
	vv_guard_del(slot);
	(void) ftruncate(m.fd, 0);
	*(volatile uint8_t *) (m.p + PG) = 1;
}

static void
touch_next_to_region(void)
{
	struct map m;

	map_new(&m, 4 * PG);
	/* Only the first two pages are guest memory. */
	(void) vv_guard_add((uintptr_t) m.p, 2 * PG, PG, 0);
	(void) ftruncate(m.fd, 0);
	*(volatile uint8_t *) (m.p + 2 * PG) = 1;
}

static void
touch_file_removed(void)
{
	struct map m;
	struct stat st;

	map_new(&m, 2 * PG);
	if (fstat(m.fd, &st) != 0)
		_exit(3);
	vv_guard_del(vv_guard_add_file(st.st_dev, st.st_ino, PG, 0));
	(void) ftruncate(m.fd, 0);
	*(volatile uint8_t *) (m.p + PG) = 1;
}

static void
sent_sigbus(void)
{
	kill(getpid(), SIGBUS);
}

static void
test_not_ours_still_crashes(void **s)
{
	(void) s;
	assert_int_equal(child_dies_of(touch_unregistered), SIGBUS);
	assert_int_equal(child_dies_of(touch_removed), SIGBUS);
	assert_int_equal(child_dies_of(touch_next_to_region), SIGBUS);
	assert_int_equal(child_dies_of(touch_file_removed), SIGBUS);
	assert_int_equal(child_dies_of(sent_sigbus), SIGBUS);
}

static void
test_bad_args_and_full_table(void **s)
{
	static int ids[VV_GUARD_SLOTS];
	unsigned int i;

	(void) s;
	guard_start();
	assert_int_equal(vv_guard_add(0x10000, PG, PG, 4), -EINVAL);	   /* owner */
	assert_int_equal(vv_guard_add(0x10000, PG, 3000, 0), -EINVAL);	   /* page */
	assert_int_equal(vv_guard_add(0x10000, 0, PG, 0), -EINVAL);	   /* len */
	assert_int_equal(vv_guard_add(UINTPTR_MAX - 10, PG, PG, 0), -EINVAL); /* wraps */
	for (i = 0; i < VV_GUARD_SLOTS; i++) {
		ids[i] = vv_guard_add(0x10000 + (uintptr_t) i * PG, PG, PG, 0);
		assert_true(ids[i] >= 0);
	}
	assert_int_equal(vv_guard_add(0x10000, PG, PG, 0), -ENOSPC);
	vv_guard_del(ids[17]);
	assert_int_equal(vv_guard_add(0x10000, PG, PG, 0), ids[17]);
	for (i = 0; i < VV_GUARD_SLOTS; i++)
		vv_guard_del(ids[i]);
	vv_guard_del(-1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated_page_survived),
		cmocka_unit_test(test_other_thread),
		cmocka_unit_test(test_file_by_identity),
		cmocka_unit_test(test_not_ours_still_crashes),
		cmocka_unit_test(test_bad_args_and_full_table),
	};

	int r = cmocka_run_group_tests(tests, NULL, NULL);

	vv_guard_fini();
	return r;
}
