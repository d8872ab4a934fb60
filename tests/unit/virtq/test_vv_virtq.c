/* SPDX-License-Identifier: BSD-3-Clause */
/* Split virtqueue device side over a fake guest: pop/push/flush, every way a
 * guest can corrupt a chain, index wrap, notification suppression. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_guest.h"

#define W VRING_DESC_F_WRITE

/* vv_chain holds 256 iovecs: keep it off the small cmocka stacks. */
static struct vv_chain chain;

static struct fg *new_guest(uint16_t size, uint16_t start)
{
	struct fg *g = fg_new(size, start);

	assert_non_null(g);
	return g;
}

/* Pop expecting a BAD_* error: head consumed, chain emptied. */
static void expect_bad(struct fg *g, bool writable, enum vv_virtq_err err, uint16_t head)
{
	uint16_t before = g->vq.last_avail_idx;

	chain.n_iov = 99;
	chain.len = 99;
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, writable, &chain), err);
	assert_int_equal(chain.head, head);
	assert_int_equal(chain.n_iov, 0);
	assert_int_equal(chain.len, 0);
	assert_int_equal(g->vq.last_avail_idx, (uint16_t)(before + 1));
	assert_false(g->vq.broken);
}

static void test_pop_empty(void **state)
{
	struct fg *g = new_guest(8, 0);

	assert_int_equal(vv_virtq_avail_count(&g->vq), 0);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_EMPTY);
	assert_int_equal(g->vq.last_avail_idx, 0);
	fg_free(g);
}

static void test_pop_single(void **state)
{
	struct fg *g = new_guest(8, 0);
	struct fg_buf b = { FG_LO_GPA + 0x100, 5, 0 };
	char out[8] = { 0 };
	uint16_t head;

	memcpy(fg_hva(g, b.gpa), "hello", 5);
	fg_add_chain(g, 1, &b);
	head = fg_add_chain(g, 1, &b);
	assert_int_equal(vv_virtq_avail_count(&g->vq), 2);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_OK);
	assert_int_equal(chain.head, 0);
	assert_int_equal(chain.n_iov, 1);
	assert_int_equal(chain.len, 5);
	assert_ptr_equal(chain.iov[0].iov_base, fg_hva(g, b.gpa));
	assert_int_equal(vv_chain_read(&chain, 0, out, sizeof(out)), 5);
	assert_memory_equal(out, "hello", 5);
	assert_int_equal(vv_virtq_avail_count(&g->vq), 1);

	/* unpop gives the second chain back; popping again gets it again. */
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_OK);
	assert_int_equal(chain.head, head);
	vv_virtq_unpop(&g->vq);
	assert_int_equal(g->vq.last_avail_idx, 1);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_OK);
	assert_int_equal(chain.head, head);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_EMPTY);
	fg_free(g);
}

/* Several chains popped, the first pushed, the rest given back at once,
 * across the 16-bit index wrap: they come again in order, none twice. */
static void test_unpop_n(void **state)
{
	struct fg *g = new_guest(8, 65534);
	uint16_t heads[5];
	unsigned int i;

	for (i = 0; i < 5; i++) {
		const struct fg_buf b = { FG_LO_GPA + 0x100 * i, 10 + i, W };

		heads[i] = fg_add_chain(g, 1, &b);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, true, &chain), VV_VIRTQ_OK);
		assert_int_equal(chain.head, heads[i]);
	}
	assert_int_equal(g->vq.last_avail_idx, 2);
	vv_virtq_push(&g->vq, heads[0], 10);
	vv_virtq_push(&g->vq, heads[1], 11);
	vv_virtq_unpop_n(&g->vq, 0);
	assert_int_equal(g->vq.last_avail_idx, 2);
	vv_virtq_unpop_n(&g->vq, 2);
	assert_int_equal(g->vq.last_avail_idx, 0);
	assert_int_equal(vv_virtq_avail_count(&g->vq), 3);
	for (i = 2; i < 5; i++) {
		assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, true, &chain), VV_VIRTQ_OK);
		assert_int_equal(chain.head, heads[i]);
		assert_int_equal(chain.len, 10 + i);
		assert_ptr_equal(chain.iov[0].iov_base, fg_hva(g, FG_LO_GPA + 0x100 * i));
		vv_virtq_push(&g->vq, chain.head, chain.len);
	}
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, true, &chain), VV_VIRTQ_EMPTY);
	vv_virtq_flush(&g->vq);
	assert_int_equal(fg_used_idx(g), 3);
	for (i = 0; i < 5; i++) {
		struct vring_used_elem e = fg_used_elem(g, (uint16_t)(65534 + i));

		assert_int_equal(e.id, heads[i]);
		assert_int_equal(e.len, 10 + i);
	}
	fg_free(g);
}

/* A 44-byte header split 10 + 20 + 14 over three descriptors in two
 * regions, the payload following in the third. */
static void test_header_split(void **state)
{
	struct fg *g = new_guest(8, 0);
	const struct fg_buf b[3] = {
		{ FG_LO_GPA + 0x100, 10, 0 },
		{ FG_HI_GPA + 0x200, 20, 0 },
		{ FG_LO_GPA + 0x400, 14 + 100, 0 },
	};
	uint8_t pkt[144], out[144];
	struct iovec sl[4];
	unsigned int i, n;

	for (i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7 + 1);
	memcpy(fg_hva(g, b[0].gpa), pkt, 10);
	memcpy(fg_hva(g, b[1].gpa), pkt + 10, 20);
	memcpy(fg_hva(g, b[2].gpa), pkt + 30, 114);
	fg_add_chain(g, 3, b);

	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_OK);
	assert_int_equal(chain.n_iov, 3);
	assert_int_equal(chain.len, 144);
	memset(out, 0, sizeof(out));
	assert_int_equal(vv_chain_read(&chain, 0, out, 44), 44);
	assert_memory_equal(out, pkt, 44);
	assert_int_equal(vv_chain_read(&chain, 44, out, 100), 100);
	assert_memory_equal(out, pkt + 44, 100);
	/* Reads clip at the chain's end. */
	assert_int_equal(vv_chain_read(&chain, 140, out, 10), 4);
	assert_memory_equal(out, pkt + 140, 4);
	assert_int_equal(vv_chain_read(&chain, 144, out, 10), 0);
	assert_int_equal(vv_chain_read(&chain, 5000, out, 10), 0);

	n = vv_chain_slice(&chain, 44, 1000, sl, 4);
	assert_int_equal(n, 1);
	assert_ptr_equal(sl[0].iov_base, fg_hva(g, b[2].gpa + 14));
	assert_int_equal(sl[0].iov_len, 100);
	n = vv_chain_slice(&chain, 5, 30, sl, 4);
	assert_int_equal(n, 3);
	assert_ptr_equal(sl[0].iov_base, fg_hva(g, b[0].gpa + 5));
	assert_int_equal(sl[0].iov_len, 5);
	assert_ptr_equal(sl[1].iov_base, fg_hva(g, b[1].gpa));
	assert_int_equal(sl[1].iov_len, 20);
	assert_ptr_equal(sl[2].iov_base, fg_hva(g, b[2].gpa));
	assert_int_equal(sl[2].iov_len, 5);
	assert_int_equal(vv_chain_slice(&chain, 5, 30, sl, 2), 2);
	assert_int_equal(vv_chain_slice(&chain, 144, 30, sl, 4), 0);
	assert_int_equal(vv_chain_slice(&chain, 0, 0, sl, 4), 0);
	fg_free(g);
}

static void test_rx_write(void **state)
{
	struct fg *g = new_guest(8, 0);
	const struct fg_buf b[2] = {
		{ FG_LO_GPA + 0x800, 30, W },
		{ FG_HI_GPA + 0x900, 70, W },
	};
	uint8_t hdr[44], tail[20];
	unsigned int i;

	for (i = 0; i < sizeof(hdr); i++)
		hdr[i] = (uint8_t)(0xa0 + i);
	memset(tail, 0x5a, sizeof(tail));
	fg_add_chain(g, 2, b);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, true, &chain), VV_VIRTQ_OK);
	assert_int_equal(chain.len, 100);
	assert_int_equal(vv_chain_write(&chain, 0, hdr, 44), 44);
	assert_memory_equal(fg_hva(g, b[0].gpa), hdr, 30);
	assert_memory_equal(fg_hva(g, b[1].gpa), hdr + 30, 14);
	assert_int_equal(vv_chain_write(&chain, 90, tail, 20), 10);
	assert_memory_equal(fg_hva(g, b[1].gpa + 60), tail, 10);
	/* Nothing written past the descriptor. */
	assert_int_equal(*(uint8_t *)fg_hva(g, b[1].gpa + 70), 0);
	fg_free(g);
}

/* One descriptor crossing from FG_LO into FG_HI: two iovecs, since the two
 * regions are not contiguous in the host. */
static void test_span_regions(void **state)
{
	struct fg *g = new_guest(8, 0);
	const struct fg_buf b = { FG_HI_GPA - 16, 32, 0 };
	uint8_t out[32];

	memset(fg_hva(g, FG_HI_GPA - 16), 1, 16);
	memset(fg_hva(g, FG_HI_GPA), 2, 16);
	fg_add_chain(g, 1, &b);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_OK);
	assert_int_equal(chain.n_iov, 2);
	assert_int_equal(chain.len, 32);
	assert_ptr_equal(chain.iov[0].iov_base, fg_hva(g, FG_HI_GPA - 16));
	assert_int_equal(chain.iov[0].iov_len, 16);
	assert_ptr_equal(chain.iov[1].iov_base, fg_hva(g, FG_HI_GPA));
	assert_int_equal(chain.iov[1].iov_len, 16);
	assert_int_equal(vv_chain_read(&chain, 0, out, 32), 32);
	assert_int_equal(out[15], 1);
	assert_int_equal(out[16], 2);
	fg_free(g);
}

static void test_zero_length(void **state)
{
	struct fg *g = new_guest(8, 0);
	const struct fg_buf b[3] = {
		{ FG_LO_GPA, 0, 0 },
		{ FG_LO_GPA + 0x10, 8, 0 },
		{ 0, 0, 0 }, /* unmapped but empty: nothing to map */
	};

	fg_add_chain(g, 3, b);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_OK);
	assert_int_equal(chain.n_iov, 1);
	assert_int_equal(chain.len, 8);
	assert_ptr_equal(chain.iov[0].iov_base, fg_hva(g, FG_LO_GPA + 0x10));
	fg_free(g);
}

static void test_bad_index(void **state)
{
	struct fg *g = new_guest(8, 0);

	fg_post(g, 8);
	expect_bad(g, false, VV_VIRTQ_BAD_INDEX, 8);
	fg_post(g, 0xffff);
	expect_bad(g, false, VV_VIRTQ_BAD_INDEX, 0xffff);
	/* next out of range. */
	fg_set_desc(g, 3, FG_LO_GPA, 4, VRING_DESC_F_NEXT, 5);
	fg_set_desc(g, 5, FG_LO_GPA, 4, VRING_DESC_F_NEXT, 8);
	fg_post(g, 3);
	expect_bad(g, false, VV_VIRTQ_BAD_INDEX, 3);
	/* The queue still works afterwards. */
	fg_set_desc(g, 5, FG_LO_GPA, 4, 0, 8);
	fg_post(g, 3);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_OK);
	assert_int_equal(chain.len, 8);
	fg_free(g);
}

static void test_bad_chain_loops(void **state)
{
	struct fg *g = new_guest(8, 0);
	uint16_t i;

	/* a -> b -> a */
	fg_set_desc(g, 2, FG_LO_GPA, 4, VRING_DESC_F_NEXT, 6);
	fg_set_desc(g, 6, FG_LO_GPA, 4, VRING_DESC_F_NEXT, 2);
	fg_post(g, 2);
	expect_bad(g, false, VV_VIRTQ_BAD_CHAIN, 2);
	/* Self loop of empty descriptors: no iovec, only the count stops it. */
	fg_set_desc(g, 1, FG_LO_GPA, 0, VRING_DESC_F_NEXT, 1);
	fg_post(g, 1);
	expect_bad(g, false, VV_VIRTQ_BAD_CHAIN, 1);

	/* Exactly size descriptors is fine ... */
	for (i = 0; i < 8; i++)
		fg_set_desc(g, i, FG_LO_GPA + 16 * i, 4, i < 7 ? VRING_DESC_F_NEXT : 0,
			    (uint16_t)(i + 1));
	fg_post(g, 0);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_OK);
	assert_int_equal(chain.n_iov, 8);
	assert_int_equal(chain.len, 32);
	/* ... one more (back to the head) is not. */
	fg_set_desc(g, 7, FG_LO_GPA, 4, VRING_DESC_F_NEXT, 0);
	fg_post(g, 0);
	expect_bad(g, false, VV_VIRTQ_BAD_CHAIN, 0);
	fg_free(g);
}

/* The iovec cap counts iovecs after region splitting, not descriptors. */
static void test_bad_chain_iov_max(void **state)
{
	struct fg *g = new_guest(512, 0);
	struct fg_buf *b = calloc(VV_CHAIN_IOV_MAX + 1, sizeof(*b));
	unsigned int i;

	assert_non_null(b);
	for (i = 0; i <= VV_CHAIN_IOV_MAX; i++)
		b[i] = (struct fg_buf){ FG_LO_GPA + i, 1, W };
	fg_add_chain(g, VV_CHAIN_IOV_MAX, b);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, true, &chain), VV_VIRTQ_OK);
	assert_int_equal(chain.n_iov, VV_CHAIN_IOV_MAX);
	assert_int_equal(chain.len, VV_CHAIN_IOV_MAX);
	expect_bad(g, true, VV_VIRTQ_BAD_CHAIN, fg_add_chain(g, VV_CHAIN_IOV_MAX + 1, b));

	for (i = 0; i <= VV_CHAIN_IOV_MAX / 2; i++)
		b[i] = (struct fg_buf){ FG_HI_GPA - 1, 2, W };
	fg_add_chain(g, VV_CHAIN_IOV_MAX / 2, b);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, true, &chain), VV_VIRTQ_OK);
	assert_int_equal(chain.n_iov, VV_CHAIN_IOV_MAX);
	expect_bad(g, true, VV_VIRTQ_BAD_CHAIN, fg_add_chain(g, VV_CHAIN_IOV_MAX / 2 + 1, b));
	free(b);
	fg_free(g);
}

/* Sum of lengths must fit c->len: 4 GiB - 1 passes, 4 GiB does not. The
 * big region is never dereferenced: pop only computes pointers. */
static void test_bad_chain_total_len(void **state)
{
	struct fg *g = new_guest(8, 0);
	struct fg_buf b[2] = {
		{ 0x100000000ull, 0x80000000u, 0 },
		{ 0x180000000ull, 0x7fffffffu, 0 },
	};

	g->mem.regions[g->mem.n_regions++] =
		(struct vv_mem_region){ 0x100000000ull, 0x200000000ull, (uintptr_t)g->buf };
	fg_add_chain(g, 2, b);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_OK);
	assert_int_equal(chain.len, UINT32_MAX);
	b[1].len = 0x80000000u;
	expect_bad(g, false, VV_VIRTQ_BAD_CHAIN, fg_add_chain(g, 2, b));
	fg_free(g);
}

static void test_bad_flags(void **state)
{
	struct fg *g = new_guest(8, 0);
	struct fg_buf b[2] = {
		{ FG_LO_GPA, 16, 0 },
		{ FG_LO_GPA + 16, 16, VRING_DESC_F_INDIRECT },
	};

	expect_bad(g, false, VV_VIRTQ_BAD_FLAGS, fg_add_chain(g, 2, b));
	b[0].flags = VRING_DESC_F_INDIRECT | W;
	expect_bad(g, true, VV_VIRTQ_BAD_FLAGS, fg_add_chain(g, 1, b));
	fg_free(g);
}

static void test_bad_dir(void **state)
{
	struct fg *g = new_guest(8, 0);
	struct fg_buf b[2] = {
		{ FG_LO_GPA, 16, 0 },
		{ FG_LO_GPA + 16, 16, W },
	};

	/* tx (device reads): a WRITE descriptor anywhere is refused. */
	expect_bad(g, false, VV_VIRTQ_BAD_DIR, fg_add_chain(g, 2, b));
	/* rx (device writes): a read-only descriptor anywhere is refused. */
	expect_bad(g, true, VV_VIRTQ_BAD_DIR, fg_add_chain(g, 2, b));
	b[0].flags = W;
	b[1].flags = 0;
	expect_bad(g, true, VV_VIRTQ_BAD_DIR, fg_add_chain(g, 2, b));
	fg_free(g);
}

static void test_bad_addr(void **state)
{
	struct fg *g = new_guest(8, 0);
	const struct fg_buf bad[] = {
		{ 0x1000, 16, 0 },                           /* unmapped */
		{ FG_HI_GPA + FG_DATA_SIZE - 8, 16, 0 },     /* runs off the end */
		{ FG_EMPTY_GPA, 1, 0 },                      /* size-0 region */
		{ UINT64_MAX - 7, 16, 0 },                   /* gpa + len wraps */
		{ FG_TOP_GPA, (uint32_t)FG_TOP_SIZE, 0 },    /* ends at 2^64 */
	};
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fg_buf b[2] = { { FG_LO_GPA, 8, 0 }, bad[i] };

		expect_bad(g, false, VV_VIRTQ_BAD_ADDR, fg_add_chain(g, 2, b));
	}
	fg_free(g);
}

static void test_broken_avail_idx(void **state)
{
	struct fg *g = new_guest(8, 65530);
	const struct fg_buf b = { FG_LO_GPA, 8, 0 };
	unsigned int i;

	/* Exactly size outstanding (across the wrap) is legal. */
	for (i = 0; i < 8; i++)
		fg_add_chain(g, 1, &b);
	assert_int_equal(g->vq.avail->idx, 2);
	assert_int_equal(vv_virtq_avail_count(&g->vq), 8);
	assert_false(g->vq.broken);
	/* One more is impossible for an honest driver. */
	g->vq.avail->idx = 3;
	assert_int_equal(vv_virtq_avail_count(&g->vq), 0);
	assert_true(g->vq.broken);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_BROKEN);
	assert_int_equal(g->vq.last_avail_idx, 65530);
	/* Sticky: the guest cannot un-break the queue. */
	g->vq.avail->idx = 2;
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_BROKEN);
	assert_int_equal(vv_virtq_avail_count(&g->vq), 0);

	/* An idx behind last_avail_idx is as broken. */
	fg_free(g);
	g = new_guest(8, 100);
	g->vq.avail->idx = 99;
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_BROKEN);
	fg_free(g);
}

static void test_push_flush(void **state)
{
	struct fg *g = new_guest(8, 0);
	struct vring_used_elem e;

	vv_virtq_push(&g->vq, 3, 100);
	vv_virtq_push(&g->vq, 5, 0);
	/* Not visible before flush. */
	assert_int_equal(fg_used_idx(g), 0);
	assert_int_equal(g->vq.used_idx, 2);
	vv_virtq_flush(&g->vq);
	assert_int_equal(fg_used_idx(g), 2);
	e = fg_used_elem(g, 0);
	assert_int_equal(e.id, 3);
	assert_int_equal(e.len, 100);
	e = fg_used_elem(g, 1);
	assert_int_equal(e.id, 5);
	assert_int_equal(e.len, 0);
	/* Nothing new: nothing published, no notification. */
	assert_false(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_used_idx(g), 2);
	fg_free(g);
}

/* 20 chains through a queue whose indices start 6 short of the wrap, in
 * batches of 1..3, each chain identified by its buffer address. */
static void test_wrap(void **state)
{
	struct fg *g = new_guest(8, 65530);
	unsigned int sent = 0, done = 0, k;

	while (done < 20) {
		unsigned int batch = 1 + sent % 3;

		for (k = 0; k < batch && sent < 20; k++, sent++) {
			const struct fg_buf b = { FG_LO_GPA + 0x100 * sent, 16 + sent, W };

			fg_add_chain(g, 1, &b);
		}
		while (vv_virtq_pop(&g->vq, &g->mem, true, &chain) == VV_VIRTQ_OK) {
			assert_ptr_equal(chain.iov[0].iov_base, fg_hva(g, FG_LO_GPA + 0x100 * done));
			assert_int_equal(chain.len, 16 + done);
			vv_virtq_push(&g->vq, chain.head, chain.len);
			done++;
		}
		vv_virtq_flush(&g->vq);
		assert_int_equal(fg_used_idx(g), (uint16_t)(65530 + done));
		for (k = 0; k < done; k++) {
			struct vring_used_elem e = fg_used_elem(g, (uint16_t)(65530 + k));

			/* Ring slots are reused: only check the latest lap. */
			if (done - k > 8)
				continue;
			assert_int_equal(e.len, 16 + k);
			assert_int_equal(e.id, k % 8);
		}
	}
	assert_int_equal(g->vq.last_avail_idx, 14);
	assert_int_equal(g->vq.used_idx, 14);
	assert_int_equal(fg_used_idx(g), 14);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, true, &chain), VV_VIRTQ_EMPTY);
	fg_free(g);
}

static void push_flush_n(struct fg *g, unsigned int n)
{
	while (n--)
		vv_virtq_push(&g->vq, 0, 0);
}

static void test_notify_event_idx(void **state)
{
	struct fg *g = new_guest(8, 0);
	int fd = eventfd(0, EFD_NONBLOCK);

	assert_true(fd >= 0);
	g->vq.callfd = fd;
	g->vq.event_idx = true;
	g->vq.signalled_used_valid = false;
	/* used_event far away, but nothing signalled yet: notify. */
	fg_set_used_event(g, 100);
	push_flush_n(g, 1);
	assert_true(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 1);
	/* The guest waits for entry 3: 1..2 no, 2..4 yes, 4..5 no. */
	fg_set_used_event(g, 3);
	push_flush_n(g, 1);
	assert_false(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 0);
	push_flush_n(g, 2);
	assert_true(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 1);
	push_flush_n(g, 1);
	assert_false(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 0);
	/* Exactly the entry published: used_event == old. */
	fg_set_used_event(g, 5);
	push_flush_n(g, 1);
	assert_true(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 1);
	/* A used_event already behind (guest polls itself): no interrupt. */
	fg_set_used_event(g, 2);
	push_flush_n(g, 2);
	assert_false(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 0);
	/* Entry 7 went out with the last flush (no interrupt then, since the
	 * guest asked later): "old" is the last flush, not the last interrupt,
	 * so publishing 8 does not interrupt for it. */
	fg_set_used_event(g, 7);
	push_flush_n(g, 1);
	assert_false(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 0);
	/* Nothing to publish: no interrupt even if used_event matches. */
	fg_set_used_event(g, 9);
	assert_false(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 0);
	assert_int_equal(fg_used_idx(g), 9);
	/* NO_INTERRUPT is ignored with EVENT_IDX. */
	g->vq.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	push_flush_n(g, 1);
	assert_true(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 1);
	/* EVENT_IDX leaves used->flags at 0 as the spec requires. */
	assert_int_equal(g->vq.used->flags, 0);
	close(fd);
	fg_free(g);
}

/* A guest at index start with EVENT_IDX and a call eventfd (*fd), the
 * device's last interrupt at start. */
static struct fg *event_idx_guest(uint16_t start, int *fd)
{
	struct fg *g = new_guest(8, start);

	*fd = eventfd(0, EFD_NONBLOCK);
	assert_true(*fd >= 0);
	g->vq.callfd = *fd;
	g->vq.event_idx = true;
	g->vq.signalled_used_valid = true;
	g->vq.signalled_used = start;
	return g;
}

/* flush_quiet publishes and owes the interrupt; call (or a later flush)
 * sends it once; uncalled counts the chains since the last interrupt. */
static void test_notify_quiet(void **state)
{
	int fd;
	struct fg *g = event_idx_guest(0, &fd);

	fg_set_used_event(g, 0);
	push_flush_n(g, 2);
	assert_int_equal(g->vq.uncalled, 2);
	assert_int_equal(vv_virtq_flush_quiet(&g->vq), 0);
	assert_int_equal(fg_used_idx(g), 2); /* the guest sees them */
	assert_int_equal(fg_efd_take(fd), 0);
	assert_true(g->vq.call_pending);
	/* More entries the guest did not ask about: still one owed. */
	fg_set_used_event(g, 100);
	push_flush_n(g, 1);
	assert_int_equal(vv_virtq_flush_quiet(&g->vq), 0);
	assert_true(g->vq.call_pending);
	assert_int_equal(vv_virtq_call(&g->vq), 1);
	assert_int_equal(fg_efd_take(fd), 1);
	assert_false(g->vq.call_pending);
	assert_int_equal(g->vq.uncalled, 0);
	/* Nothing owed: call sends nothing. */
	assert_int_equal(vv_virtq_call(&g->vq), 0);
	assert_int_equal(fg_efd_take(fd), 0);
	/* Not asked for: a quiet flush owes nothing. */
	push_flush_n(g, 1);
	assert_int_equal(vv_virtq_flush_quiet(&g->vq), 0);
	assert_false(g->vq.call_pending);
	/* Owed, then a plain flush that would not interrupt on its own
	 * sends the owed one. */
	fg_set_used_event(g, 4);
	push_flush_n(g, 1);
	assert_int_equal(vv_virtq_flush_quiet(&g->vq), 0);
	assert_true(g->vq.call_pending);
	push_flush_n(g, 1);
	assert_int_equal(vv_virtq_flush(&g->vq), 1);
	assert_int_equal(fg_efd_take(fd), 1);
	assert_false(g->vq.call_pending);
	/* No callfd: nothing owed. */
	g->vq.callfd = -1;
	fg_set_used_event(g, 6);
	push_flush_n(g, 1);
	assert_int_equal(vv_virtq_flush_quiet(&g->vq), 0);
	assert_false(g->vq.call_pending);
	close(fd);
	fg_free(g);
}

static void test_notify_event_idx_wrap(void **state)
{
	int fd;
	struct fg *g = event_idx_guest(65534, &fd);

	fg_set_used_event(g, 1);
	push_flush_n(g, 2); /* 65534..0 */
	assert_false(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 0);
	push_flush_n(g, 2); /* 0..2 */
	assert_true(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 1);
	fg_set_used_event(g, 65535);
	g->vq.signalled_used = 65530; /* pretend the last flush was at 65530 */
	g->vq.used_idx = 65531;
	g->vq.used->idx = 65530;
	push_flush_n(g, 6); /* 65530..1 covers 65535 */
	assert_true(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 1);
	close(fd);
	fg_free(g);
}

static void test_notify_flags(void **state)
{
	struct fg *g = new_guest(8, 0);
	int fd = eventfd(0, EFD_NONBLOCK);

	assert_true(fd >= 0);
	g->vq.callfd = fd;
	g->vq.event_idx = false;
	g->vq.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	fg_set_used_event(g, 0); /* ignored without EVENT_IDX */
	push_flush_n(g, 1);
	assert_false(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_used_idx(g), 1);
	assert_int_equal(fg_efd_take(fd), 0);
	/* We busy-poll: the guest is told not to kick. */
	assert_int_equal(g->vq.used->flags, VRING_USED_F_NO_NOTIFY);

	g->vq.avail->flags = 0;
	push_flush_n(g, 1);
	assert_true(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 1);
	assert_false(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 0);
	push_flush_n(g, 1);
	assert_true(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 1);

	/* No callfd: still published, nobody notified. */
	g->vq.callfd = -1;
	push_flush_n(g, 1);
	assert_false(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_used_idx(g), 4);
	assert_int_equal(fg_efd_take(fd), 0);
	close(fd);
	fg_free(g);
}

/* A Linux-like driver publishes avail->idx at every add and decides whether
 * to kick later, possibly after the device already consumed and used the
 * entries. With EVENT_IDX and the avail_event we publish it must never kick,
 * across the wrap, whatever the interleaving. */
static void test_kick_suppression(void **state)
{
	struct fg *g = new_guest(8, 65500);
	const struct fg_buf b = { FG_LO_GPA, 64, W };
	uint16_t used_seen = 65500;
	unsigned int round, k, kicks = 0, total = 1;

	g->vq.event_idx = true;
	/* Before the first flush avail_event is the driver's 0: prime it. */
	fg_add_chain(g, 1, &b);
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, true, &chain), VV_VIRTQ_OK);
	vv_virtq_push(&g->vq, chain.head, 0);
	vv_virtq_flush(&g->vq);
	used_seen = fg_used_idx(g);
	fg_kick_prepare(g);

	for (round = 0; round < 300; round++) {
		/* The driver fills what it has room for, as it learned from used. */
		unsigned int room = 8 - (uint16_t)(g->avail_idx - used_seen);
		unsigned int add = 1 + round % 8;
		unsigned int pop = round % 5;

		if (add > room)
			add = room;
		for (k = 0; k < add; k++)
			fg_add_chain(g, 1, &b);
		total += add;
		if (round % 2) {
			/* Device first: consumes and uses before the kick decision. */
			for (k = 0; k < pop; k++) {
				if (vv_virtq_pop(&g->vq, &g->mem, true, &chain) != VV_VIRTQ_OK)
					break;
				vv_virtq_push(&g->vq, chain.head, 0);
			}
			vv_virtq_flush(&g->vq);
			kicks += fg_kick_prepare(g);
		} else {
			kicks += fg_kick_prepare(g);
			for (k = 0; k < pop; k++) {
				if (vv_virtq_pop(&g->vq, &g->mem, true, &chain) != VV_VIRTQ_OK)
					break;
				vv_virtq_push(&g->vq, chain.head, 0);
			}
			vv_virtq_flush(&g->vq);
		}
		used_seen = fg_used_idx(g);
		assert_int_equal(fg_avail_event(g), (uint16_t)(used_seen + 8));
	}
	assert_int_equal(kicks, 0);
	/* The run crossed the 16-bit wrap, more than once around the ring. */
	assert_true(total > 100);
	assert_int_equal(g->avail_idx, (uint16_t)(65500 + total));
	assert_true(g->avail_idx < 65500);
	fg_free(g);
}

/*
 * Before the owner sleeps it asks for kicks (vv_virtq_want_kicks) and looks
 * again. Against a Linux-like driver, across the 16-bit wrap: whenever the
 * device would sleep with work waiting, either want_kicks saw it or the
 * driver's next kick decision kicks; while the device polls, nothing kicks.
 */
static void test_want_kicks_event_idx(void **state)
{
	struct fg *g = new_guest(8, 65530);
	const struct fg_buf b = { FG_LO_GPA, 64, W };
	unsigned int round, kicks = 0, sleeps = 0;

	g->vq.event_idx = true;
	for (round = 0; round < 40; round++) {
		unsigned int add = round % 3, k;

		/* Device: drain, then try to sleep. */
		while (vv_virtq_pop(&g->vq, &g->mem, true, &chain) == VV_VIRTQ_OK)
			vv_virtq_push(&g->vq, chain.head, 0);
		vv_virtq_flush(&g->vq);
		fg_kick_prepare(g); /* decisions while polling: none kicks */
		if (round % 4 == 3) {
			/* The driver adds between our drain and our look. */
			fg_add_chain(g, 1, &b);
			assert_true(vv_virtq_want_kicks(&g->vq, true));
			(void) vv_virtq_want_kicks(&g->vq, false);
			assert_false(fg_kick_prepare(g));
			continue;
		}
		assert_false(vv_virtq_want_kicks(&g->vq, true));
		assert_int_equal(fg_avail_event(g), g->vq.last_avail_idx);
		sleeps++;
		/* Asleep: the first add kicks, later ones need not. */
		for (k = 0; k < add; k++) {
			fg_add_chain(g, 1, &b);
			if (fg_kick_prepare(g)) {
				assert_int_equal(k, 0);
				kicks++;
			}
		}
		/* A flush while asleep (another ring's work) keeps kicks asked for. */
		vv_virtq_flush(&g->vq);
		if (add == 0)
			assert_int_equal(fg_avail_event(g), g->vq.last_avail_idx);
		(void) vv_virtq_want_kicks(&g->vq, false);
		assert_int_equal(fg_avail_event(g), (uint16_t)(g->vq.used_idx + 8));
	}
	/* Every sleep that got buffers was woken, exactly once. */
	assert_int_equal(kicks, sleeps - sleeps / 3);
	assert_true(g->avail_idx < 65530); /* crossed the wrap */
	fg_free(g);
}

static void test_want_kicks_flags(void **state)
{
	struct fg *g = new_guest(8, 0);
	const struct fg_buf b = { FG_LO_GPA, 64, W };

	g->vq.event_idx = false;
	push_flush_n(g, 1);
	vv_virtq_flush(&g->vq);
	assert_int_equal(g->vq.used->flags, VRING_USED_F_NO_NOTIFY);
	assert_false(vv_virtq_want_kicks(&g->vq, true));
	assert_int_equal(g->vq.used->flags, 0);
	/* Flushing while asleep leaves the flag clear. */
	push_flush_n(g, 1);
	vv_virtq_flush(&g->vq);
	assert_int_equal(g->vq.used->flags, 0);
	fg_add_chain(g, 1, &b);
	assert_true(fg_kick_prepare(g));
	(void) vv_virtq_want_kicks(&g->vq, false);
	assert_int_equal(g->vq.used->flags, VRING_USED_F_NO_NOTIFY);
	/* Available entries are seen by the look that follows the request. */
	assert_true(vv_virtq_want_kicks(&g->vq, true));
	(void) vv_virtq_want_kicks(&g->vq, false);
	fg_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pop_empty),
		cmocka_unit_test(test_pop_single),
		cmocka_unit_test(test_unpop_n),
		cmocka_unit_test(test_header_split),
		cmocka_unit_test(test_rx_write),
		cmocka_unit_test(test_span_regions),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_bad_index),
		cmocka_unit_test(test_bad_chain_loops),
		cmocka_unit_test(test_bad_chain_iov_max),
		cmocka_unit_test(test_bad_chain_total_len),
		cmocka_unit_test(test_bad_flags),
		cmocka_unit_test(test_bad_dir),
		cmocka_unit_test(test_bad_addr),
		cmocka_unit_test(test_broken_avail_idx),
		cmocka_unit_test(test_push_flush),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_notify_event_idx),
		cmocka_unit_test(test_notify_event_idx_wrap),
		cmocka_unit_test(test_notify_quiet),
		cmocka_unit_test(test_notify_flags),
		cmocka_unit_test(test_kick_suppression),
		cmocka_unit_test(test_want_kicks_event_idx),
		cmocka_unit_test(test_want_kicks_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
