/* SPDX-License-Identifier: BSD-3-Clause */
/* Guest memory translation: region lookup, bounds, overflow, splitting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_guest.h"

static int setup(void **state)
{
	*state = fg_new(8, 0);
	return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	fg_free(*state);
	return 0;
}

static void test_translate_regions(void **state)
{
	struct fg *g = *state;

	assert_ptr_equal(vv_mem_translate(&g->mem, FG_LO_GPA + 0x123, 16),
			 fg_hva(g, FG_LO_GPA + 0x123));
	assert_ptr_equal(vv_mem_translate(&g->mem, FG_HI_GPA, FG_DATA_SIZE),
			 fg_hva(g, FG_HI_GPA));
	/* Last byte of a region, and len 0 inside a region. */
	assert_ptr_equal(vv_mem_translate(&g->mem, FG_HI_GPA + FG_DATA_SIZE - 1, 1),
			 fg_hva(g, FG_HI_GPA + FG_DATA_SIZE - 1));
	assert_ptr_equal(vv_mem_translate(&g->mem, FG_LO_GPA, 0), fg_hva(g, FG_LO_GPA));
	assert_ptr_equal(vv_mem_translate(&g->mem, FG_TOP_GPA + 0x10, 0x10),
			 fg_hva(g, FG_TOP_GPA + 0x10));
}

static void test_translate_rejects(void **state)
{
	struct fg *g = *state;

	/* Outside any region, just before and just after. */
	assert_null(vv_mem_translate(&g->mem, 0, 1));
	assert_null(vv_mem_translate(&g->mem, FG_LO_GPA - 1, 2));
	assert_null(vv_mem_translate(&g->mem, FG_HI_GPA + FG_DATA_SIZE, 0));
	/* One byte too long. */
	assert_null(vv_mem_translate(&g->mem, FG_HI_GPA + 8, FG_DATA_SIZE - 7));
	/* Contiguous in gpa but two regions: not one host range. */
	assert_null(vv_mem_translate(&g->mem, FG_HI_GPA - 8, 16));
	/* The size-0 region never matches. */
	assert_null(vv_mem_translate(&g->mem, FG_EMPTY_GPA, 0));
	assert_null(vv_mem_translate(&g->mem, FG_EMPTY_GPA, 1));
	/* gpa + len wraps, or ends exactly at 2^64. */
	assert_null(vv_mem_translate(&g->mem, UINT64_MAX - 7, 16));
	assert_null(vv_mem_translate(&g->mem, FG_TOP_GPA, FG_TOP_SIZE));
	assert_null(vv_mem_translate(&g->mem, FG_LO_GPA, UINT64_MAX));
}

/* A bogus region whose end wraps past 2^64 must not let a wrapping range
 * through: a naive "gpa + len <= r.gpa + r.size" accepts it. */
static void test_translate_wrapping_region(void **state)
{
	struct fg *g = *state;
	struct vv_mem mem = { .n_regions = 1 };

	mem.regions[0].gpa = UINT64_MAX - 0xfff;
	mem.regions[0].size = 0x2000;
	mem.regions[0].hva = (uintptr_t)g->buf;
	assert_null(vv_mem_translate(&mem, UINT64_MAX - 0x7ff, 0x1000));
	assert_ptr_equal(vv_mem_translate(&mem, UINT64_MAX - 0x7ff, 0x10), g->buf + 0x800);
	/* n_regions beyond the array is clamped, not trusted. */
	mem.n_regions = 1000;
	assert_ptr_equal(vv_mem_translate(&mem, UINT64_MAX - 0xfff, 1), g->buf);
}

static void test_to_iov_split(void **state)
{
	struct fg *g = *state;
	struct iovec iov[4];
	unsigned int n = 1;

	iov[0].iov_base = NULL;
	iov[0].iov_len = 7;
	assert_int_equal(vv_mem_to_iov(&g->mem, FG_HI_GPA - 16, 48, iov, &n, 4), 0);
	assert_int_equal(n, 3);
	assert_int_equal(iov[0].iov_len, 7); /* existing entry untouched */
	assert_ptr_equal(iov[1].iov_base, fg_hva(g, FG_HI_GPA - 16));
	assert_int_equal(iov[1].iov_len, 16);
	assert_ptr_equal(iov[2].iov_base, fg_hva(g, FG_HI_GPA));
	assert_int_equal(iov[2].iov_len, 32);

	/* Whole of both regions. */
	n = 0;
	assert_int_equal(vv_mem_to_iov(&g->mem, FG_LO_GPA, 2 * FG_DATA_SIZE, iov, &n, 4), 0);
	assert_int_equal(n, 2);
	assert_int_equal(iov[0].iov_len, FG_DATA_SIZE);
	assert_int_equal(iov[1].iov_len, FG_DATA_SIZE);

	/* len 0 appends nothing. */
	n = 0;
	assert_int_equal(vv_mem_to_iov(&g->mem, FG_LO_GPA, 0, iov, &n, 4), 0);
	assert_int_equal(n, 0);
}

static void test_to_iov_errors(void **state)
{
	struct fg *g = *state;
	struct iovec iov[4];
	unsigned int n;

	/* Needs 2 iovecs, room for 1: -E2BIG, *n unchanged. */
	n = 3;
	assert_int_equal(vv_mem_to_iov(&g->mem, FG_HI_GPA - 1, 2, iov, &n, 4), -E2BIG);
	assert_int_equal(n, 3);
	/* Runs from LO through HI into unmapped space. */
	n = 0;
	assert_int_equal(vv_mem_to_iov(&g->mem, FG_LO_GPA + 16, 2 * FG_DATA_SIZE, iov, &n, 4),
			 -EFAULT);
	assert_int_equal(n, 0);
	n = 0;
	assert_int_equal(vv_mem_to_iov(&g->mem, 0x1000, 1, iov, &n, 4), -EFAULT);
	assert_int_equal(vv_mem_to_iov(&g->mem, FG_EMPTY_GPA, 1, iov, &n, 4), -EFAULT);
	assert_int_equal(vv_mem_to_iov(&g->mem, UINT64_MAX - 3, 8, iov, &n, 4), -EFAULT);
	assert_int_equal(vv_mem_to_iov(&g->mem, FG_TOP_GPA, FG_TOP_SIZE, iov, &n, 4), -EFAULT);
	assert_int_equal(n, 0);
	assert_int_equal(vv_mem_to_iov(&g->mem, FG_TOP_GPA, FG_TOP_SIZE - 1, iov, &n, 4), 0);
	assert_int_equal(n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_translate_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_translate_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_translate_wrapping_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_to_iov_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_to_iov_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
