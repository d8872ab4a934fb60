/* SPDX-License-Identifier: BSD-3-Clause */
/* Indirect descriptor tables (VIRTIO_RING_F_INDIRECT_DESC) in split and
 * packed rings over a fake guest: tables read in place and across region
 * borders, and every way a guest can get one wrong (size, address, nesting,
 * NEXT, loops, direction, lengths, too many pieces). Each case runs on both
 * layouts unless it is about one of them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_guest.h"

#define W VRING_DESC_F_WRITE
#define IND VRING_DESC_F_INDIRECT
#define NEXT VRING_DESC_F_NEXT
#define WRAP 0x8000
#define TBL (FG_HI_GPA + 0x10000) /* where tables go */

static struct vv_chain chain;
static uint16_t next_id;

static struct fg *newq(bool packed, uint16_t size)
{
	struct fg *g = packed ? fg_new_packed(size, WRAP) : fg_new(size, 0);

	assert_non_null(g);
	g->vq.indirect = true;
	return g;
}

/* Make bufs available as one chain/list; returns the token pop must give. */
static uint32_t post(struct fg *g, unsigned int n, const struct fg_buf *bufs)
{
	if (g->vq.packed) {
		uint16_t id = next_id++;

		fgp_add(g, n, bufs, id);
		return id | n << 16;
	}
	return fg_add_chain(g, n, bufs);
}

/* A chain of one descriptor pointing at a table of len bytes at gpa. */
static uint32_t post_table(struct fg *g, uint64_t gpa, uint32_t len, uint16_t flags)
{
	const struct fg_buf b = { gpa, len, (uint16_t)(IND | flags) };

	return post(g, 1, &b);
}

/* Pop expecting err (OK included) and token; give the chain back and check
 * the ring moves on. */
static void expect(struct fg *g, bool writable, enum vv_virtq_err err, uint32_t token)
{
	chain.n_iov = 99;
	chain.len = 99;
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, writable, &chain), err);
	assert_int_equal(chain.head, token);
	if (err != VV_VIRTQ_OK) {
		assert_int_equal(chain.n_iov, 0);
		assert_int_equal(chain.len, 0);
	}
	assert_false(g->vq.broken);
	vv_virtq_push(&g->vq, chain.head, 0);
	vv_virtq_flush(&g->vq);
	if (g->vq.packed) {
		uint16_t id, flags;
		uint32_t len;

		assert_int_equal(fgp_get_used(g, &id, &len, &flags), 1);
		assert_int_equal(id, token & 0xffff);
	}
}

/* A 44-byte header in three pieces and a payload, through a table; the
 * table's own ids (packed) are ignored. */
static void table_ok(bool packed)
{
	struct fg *g = newq(packed, 8);
	const struct fg_buf b[3] = {
		{ FG_LO_GPA + 0x100, 10, 0 },
		{ FG_HI_GPA + 0x200, 20, 0 },
		{ FG_LO_GPA + 0x400, 14 + 100, 0 },
	};
	uint8_t pkt[144], out[144];
	unsigned int i;
	uint32_t t;

	for (i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 5 + 3);
	memcpy(fg_hva(g, b[0].gpa), pkt, 10);
	memcpy(fg_hva(g, b[1].gpa), pkt + 10, 20);
	memcpy(fg_hva(g, b[2].gpa), pkt + 30, 114);
	fg_table(g, TBL, 3, b, packed);
	t = post_table(g, TBL, 3 * 16, 0);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_OK);
	assert_int_equal(chain.head, t);
	assert_int_equal(chain.n_iov, 3);
	assert_int_equal(chain.len, 144);
	assert_int_equal(vv_chain_read(&chain, 0, out, sizeof(out)), 144);
	assert_memory_equal(out, pkt, 144);
	/* One ring descriptor, however long the table. */
	if (packed)
		assert_int_equal(g->vq.last_avail_idx, WRAP | 1);
	else
		assert_int_equal(g->vq.last_avail_idx, 1);
	fg_free(g);
}

static void test_table_ok(void **state)
{
	table_ok(false);
	table_ok(true);
}

/* Split: direct descriptors, then one table (virtio 2.7.5.3.2 MUST). */
static void test_split_direct_then_table(void **state)
{
	struct fg *g = newq(false, 8);
	const struct fg_buf t[2] = { { FG_LO_GPA + 0x40, 30, W }, { FG_LO_GPA + 0x80, 40, W } };
	struct fg_buf b[3] = {
		{ FG_LO_GPA, 8, W },
		{ FG_LO_GPA + 0x10, 8, W },
		{ TBL, 32, IND },
	};

	fg_table(g, TBL, 2, t, false);
	expect(g, true, VV_VIRTQ_OK, post(g, 3, b));
	assert_int_equal(chain.n_iov, 4);
	assert_int_equal(chain.len, 86);
	assert_ptr_equal(chain.iov[2].iov_base, fg_hva(g, t[0].gpa));
	/* Something after the table: INDIRECT with NEXT is refused. */
	b[2].flags = IND;
	b[1].flags = W | IND;
	expect(g, true, VV_VIRTQ_BAD_FLAGS, post(g, 3, b));
	fg_free(g);
}

/* Packed: an indirect descriptor stands alone, never in a NEXT list
 * (2.8.19), wherever it is in the list; the list is still consumed. */
static void test_packed_indirect_in_list(void **state)
{
	struct fg *g = newq(true, 8);
	const struct fg_buf t = { FG_LO_GPA + 0x40, 30, W };
	struct fg_buf b[2] = { { FG_LO_GPA, 8, W }, { TBL, 16, IND } };

	fg_table(g, TBL, 1, &t, true);
	expect(g, true, VV_VIRTQ_BAD_FLAGS, post(g, 2, b));
	b[0] = (struct fg_buf){ TBL, 16, IND };
	b[1] = (struct fg_buf){ FG_LO_GPA, 8, W };
	expect(g, true, VV_VIRTQ_BAD_FLAGS, post(g, 2, b));
	assert_int_equal(g->vq.last_avail_idx, WRAP | 4);
	expect(g, true, VV_VIRTQ_OK, post_table(g, TBL, 16, 0));
	fg_free(g);
}

static void flags_refused(bool packed)
{
	struct fg *g = newq(packed, 8);
	const struct fg_buf t[2] = { { FG_LO_GPA, 8, 0 }, { FG_LO_GPA + 8, 8, 0 } };

	/* INDIRECT together with NEXT: split, something follows the table;
	 * packed, the list goes on (and is consumed whole). */
	fg_table(g, TBL, 2, t, packed);
	{
		const struct fg_buf l[2] = { { TBL, 32, IND | NEXT }, { FG_LO_GPA, 8, 0 } };

		if (packed) {
			uint16_t id = next_id++;

			fgp_add_raw(g, 2, l, id);
			expect(g, false, VV_VIRTQ_BAD_FLAGS, id | 2u << 16);
		} else {
			expect(g, false, VV_VIRTQ_BAD_FLAGS, post(g, 2, l));
		}
	}
	/* A table in a table. */
	fg_table_desc(g, TBL, 1, packed, TBL, 32, IND, 0);
	expect(g, false, VV_VIRTQ_BAD_FLAGS, post_table(g, TBL, 32, 0));
	/* Not negotiated. */
	fg_table(g, TBL, 2, t, packed);
	g->vq.indirect = false;
	expect(g, false, VV_VIRTQ_BAD_FLAGS, post_table(g, TBL, 32, 0));
	g->vq.indirect = true;
	expect(g, false, VV_VIRTQ_OK, post_table(g, TBL, 32, 0));
	assert_int_equal(chain.len, 16);
	fg_free(g);
}

static void test_flags_refused(void **state)
{
	flags_refused(false);
	flags_refused(true);
}

static void bad_size(bool packed)
{
	struct fg *g = newq(packed, 8);
	struct fg_buf t[9];
	unsigned int i;

	for (i = 0; i < 9; i++)
		t[i] = (struct fg_buf){ FG_LO_GPA + 4 * i, 4, 0 };
	fg_table(g, TBL, 9, t, packed);
	expect(g, false, VV_VIRTQ_BAD_CHAIN, post_table(g, TBL, 0, 0));
	expect(g, false, VV_VIRTQ_BAD_CHAIN, post_table(g, TBL, 24, 0));
	expect(g, false, VV_VIRTQ_BAD_CHAIN, post_table(g, TBL, 17, 0));
	/* More entries than the queue has: refused; exactly as many: fine. */
	expect(g, false, VV_VIRTQ_BAD_CHAIN, post_table(g, TBL, 9 * 16, 0));
	fg_table(g, TBL, 8, t, packed);
	expect(g, false, VV_VIRTQ_OK, post_table(g, TBL, 8 * 16, 0));
	assert_int_equal(chain.len, 32);
	assert_int_equal(chain.n_iov, 8);
	fg_free(g);
}

static void test_bad_size(void **state)
{
	bad_size(false);
	bad_size(true);
}

static void bad_addr(bool packed)
{
	struct fg *g = newq(packed, 8);
	const struct fg_buf t[2] = { { FG_LO_GPA, 8, 0 }, { 0x1000, 8, 0 } };

	expect(g, false, VV_VIRTQ_BAD_ADDR, post_table(g, 0x1000, 32, 0));
	expect(g, false, VV_VIRTQ_BAD_ADDR,
	       post_table(g, FG_HI_GPA + FG_DATA_SIZE - 16, 32, 0)); /* runs off */
	expect(g, false, VV_VIRTQ_BAD_ADDR, post_table(g, UINT64_MAX - 15, 32, 0)); /* wraps */
	expect(g, false, VV_VIRTQ_BAD_ADDR, post_table(g, FG_EMPTY_GPA, 16, 0));
	/* An entry pointing outside memory. */
	fg_table(g, TBL, 2, t, packed);
	expect(g, false, VV_VIRTQ_BAD_ADDR, post_table(g, TBL, 32, 0));
	fg_free(g);
}

static void test_bad_addr(void **state)
{
	bad_addr(false);
	bad_addr(true);
}

/* FG_LO and FG_HI are adjacent in the guest but not in the host: a table
 * across their border is read entry by entry, even an entry cut in two. */
static void across_regions(bool packed)
{
	struct fg *g = newq(packed, 8);
	const struct fg_buf t[3] = {
		{ FG_LO_GPA + 0x100, 7, W },
		{ FG_LO_GPA + 0x200, 9, W },
		{ FG_LO_GPA + 0x300, 11, W },
	};
	uint64_t at[2] = { FG_HI_GPA - 32, FG_HI_GPA - 8 };

	for (int k = 0; k < 2; k++) {
		fg_table(g, at[k], 3, t, packed);
		expect(g, true, VV_VIRTQ_OK, post_table(g, at[k], 48, 0));
		assert_int_equal(chain.n_iov, 3);
		assert_int_equal(chain.len, 27);
		assert_ptr_equal(chain.iov[2].iov_base, fg_hva(g, t[2].gpa));
		assert_int_equal(chain.iov[2].iov_len, 11);
	}
	fg_free(g);
}

static void test_across_regions(void **state)
{
	across_regions(false);
	across_regions(true);
}

/* A table at an address that is not 8-aligned (a guest may put it
 * anywhere): read as well as an aligned one, without a misaligned 64-bit
 * load (found by tests/fuzz/fuzz_virtq; UBSan reports it in the sanitizer
 * build's run of this test). */
static void misaligned(bool packed)
{
	struct fg *g = newq(packed, 8);
	const struct fg_buf b[2] = { { FG_LO_GPA + 0x100, 10, 0 }, { FG_LO_GPA + 0x300, 30, 0 } };

	for (uint64_t off = 1; off < 16; off += 3) {
		fg_table(g, TBL + off, 2, b, packed);
		expect(g, false, VV_VIRTQ_OK, post_table(g, TBL + off, 32, 0));
		assert_int_equal(chain.n_iov, 2);
		assert_int_equal(chain.len, 40);
		assert_ptr_equal(chain.iov[0].iov_base, fg_hva(g, b[0].gpa));
		assert_ptr_equal(chain.iov[1].iov_base, fg_hva(g, b[1].gpa));
	}
	fg_free(g);
}

static void test_misaligned(void **state)
{
	misaligned(false);
	misaligned(true);
}

/* Split tables link entries by next: loops and out-of-table next are
 * refused. Packed tables are read in order: NEXT and next mean nothing. */
static void test_table_links(void **state)
{
	struct fg *g = newq(false, 8);

	fg_table_desc(g, TBL, 0, false, FG_LO_GPA, 4, NEXT, 1);
	fg_table_desc(g, TBL, 1, false, FG_LO_GPA, 4, NEXT, 0);
	expect(g, false, VV_VIRTQ_BAD_CHAIN, post_table(g, TBL, 32, 0));
	fg_table_desc(g, TBL, 0, false, FG_LO_GPA, 0, NEXT, 0); /* self, empty */
	expect(g, false, VV_VIRTQ_BAD_CHAIN, post_table(g, TBL, 32, 0));
	fg_table_desc(g, TBL, 0, false, FG_LO_GPA, 4, NEXT, 2);
	expect(g, false, VV_VIRTQ_BAD_INDEX, post_table(g, TBL, 32, 0));
	/* Out of order is fine: 0 -> 2 -> 1 in a table of 3. */
	fg_table_desc(g, TBL, 0, false, FG_LO_GPA, 4, NEXT, 2);
	fg_table_desc(g, TBL, 2, false, FG_LO_GPA + 4, 5, NEXT, 1);
	fg_table_desc(g, TBL, 1, false, FG_LO_GPA + 9, 6, 0, 7);
	expect(g, false, VV_VIRTQ_OK, post_table(g, TBL, 48, 0));
	assert_int_equal(chain.len, 15);
	fg_free(g);

	g = newq(true, 8);
	fg_table_desc(g, TBL, 0, true, FG_LO_GPA, 4, NEXT, 0xffff);
	fg_table_desc(g, TBL, 1, true, FG_LO_GPA + 4, 5, NEXT, 0);
	fg_table_desc(g, TBL, 2, true, FG_LO_GPA + 9, 6, NEXT, 3);
	expect(g, false, VV_VIRTQ_OK, post_table(g, TBL, 48, 0));
	assert_int_equal(chain.n_iov, 3);
	assert_int_equal(chain.len, 15);
	fg_free(g);
}

static void direction(bool packed)
{
	struct fg *g = newq(packed, 8);
	struct fg_buf t[2] = { { FG_LO_GPA, 8, 0 }, { FG_LO_GPA + 8, 8, W } };

	fg_table(g, TBL, 2, t, packed);
	expect(g, false, VV_VIRTQ_BAD_DIR, post_table(g, TBL, 32, 0));
	expect(g, true, VV_VIRTQ_BAD_DIR, post_table(g, TBL, 32, W));
	/* The WRITE flag of the descriptor holding the table is ignored. */
	t[1].flags = 0;
	fg_table(g, TBL, 2, t, packed);
	expect(g, false, VV_VIRTQ_OK, post_table(g, TBL, 32, W));
	t[0].flags = t[1].flags = W;
	fg_table(g, TBL, 2, t, packed);
	expect(g, true, VV_VIRTQ_OK, post_table(g, TBL, 32, 0));
	fg_free(g);
}

static void test_direction(void **state)
{
	direction(false);
	direction(true);
}

static void lengths(bool packed)
{
	struct fg *g = newq(packed, 512);
	struct fg_buf *t = calloc(VV_CHAIN_IOV_MAX + 1, sizeof(*t));
	const struct fg_buf big[2] = {
		{ 0x100000000ull, 0x80000000u, 0 },
		{ 0x180000000ull, 0x80000000u, 0 },
	};
	unsigned int i;

	assert_non_null(t);
	/* Empty entries add nothing. */
	for (i = 0; i < 3; i++)
		t[i] = (struct fg_buf){ FG_LO_GPA + i, i == 1 ? 8u : 0u, 0 };
	fg_table(g, TBL, 3, t, packed);
	expect(g, false, VV_VIRTQ_OK, post_table(g, TBL, 48, 0));
	assert_int_equal(chain.n_iov, 1);
	assert_int_equal(chain.len, 8);
	/* More pieces than a chain holds. */
	for (i = 0; i <= VV_CHAIN_IOV_MAX; i++)
		t[i] = (struct fg_buf){ FG_LO_GPA + i, 1, 0 };
	fg_table(g, TBL, VV_CHAIN_IOV_MAX, t, packed);
	expect(g, false, VV_VIRTQ_OK, post_table(g, TBL, 16 * VV_CHAIN_IOV_MAX, 0));
	assert_int_equal(chain.n_iov, VV_CHAIN_IOV_MAX);
	fg_table(g, TBL, VV_CHAIN_IOV_MAX + 1, t, packed);
	expect(g, false, VV_VIRTQ_BAD_CHAIN, post_table(g, TBL, 16 * (VV_CHAIN_IOV_MAX + 1), 0));
	/* A total over 4 GiB - 1, across a direct descriptor and the table
	 * (split) or in the table alone (packed). */
	g->mem.regions[g->mem.n_regions++] =
		(struct vv_mem_region){ 0x100000000ull, 0x200000000ull, (uintptr_t)g->buf };
	fg_table(g, TBL, 2, big, packed);
	expect(g, false, VV_VIRTQ_BAD_CHAIN, post_table(g, TBL, 32, 0));
	if (!packed) {
		const struct fg_buf b[2] = { big[0], { TBL, 16, IND } };

		fg_table(g, TBL, 1, &big[1], false);
		expect(g, false, VV_VIRTQ_BAD_CHAIN, post(g, 2, b));
	}
	free(t);
	fg_free(g);
}

static void test_lengths(void **state)
{
	lengths(false);
	lengths(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_ok),
		cmocka_unit_test(test_split_direct_then_table),
		cmocka_unit_test(test_packed_indirect_in_list),
		cmocka_unit_test(test_flags_refused),
		cmocka_unit_test(test_bad_size),
		cmocka_unit_test(test_bad_addr),
		cmocka_unit_test(test_across_regions),
		cmocka_unit_test(test_misaligned),
		cmocka_unit_test(test_table_links),
		cmocka_unit_test(test_direction),
		cmocka_unit_test(test_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
