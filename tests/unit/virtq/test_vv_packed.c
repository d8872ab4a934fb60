/* SPDX-License-Identifier: BSD-3-Clause */
/* Packed virtqueue device side over a fake guest: buffers of one and more
 * descriptors, the wrap counters across many laps (sizes that are not powers
 * of two too), out-of-order completion, unpop, every way a guest can corrupt
 * a list, used descriptors published at flush, and both event suppression
 * areas. */
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
#define WRAP 0x8000
#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED (1u << VRING_PACKED_DESC_F_USED)

static struct vv_chain chain;

static struct fg *new_packed(uint16_t size, uint16_t start)
{
	struct fg *g = fg_new_packed(size, start);

	assert_non_null(g);
	return g;
}

static void expect_used(struct fg *g, uint16_t id, uint32_t len);

static enum vv_virtq_err pop(struct fg *g, bool writable)
{
	return vv_virtq_pop(&g->vq, &g->mem, writable, &chain);
}

/* Pop expecting a BAD_* error: the whole list consumed, chain emptied, the
 * token naming the id and the descriptors taken. */
static void expect_bad(struct fg *g, bool writable, enum vv_virtq_err err, uint16_t id,
		       unsigned int n)
{
	chain.n_iov = 99;
	chain.len = 99;
	assert_int_equal(pop(g, writable), err);
	assert_int_equal(chain.head, id | n << 16);
	assert_int_equal(chain.n_iov, 0);
	assert_int_equal(chain.len, 0);
	assert_int_equal(g->vq.last_avail_idx, g->p_avail);
	assert_false(g->vq.broken);
	/* Given back empty, the driver gets its id back. */
	vv_virtq_push(&g->vq, chain.head, 0);
	vv_virtq_flush(&g->vq);
	expect_used(g, id, 0);
}

/* Pop n buffers, keeping their tokens. */
static void pop_n(struct fg *g, bool writable, unsigned int n, uint32_t *t)
{
	for (unsigned int i = 0; i < n; i++) {
		assert_int_equal(pop(g, writable), VV_VIRTQ_OK);
		t[i] = chain.head;
	}
}

static void expect_used(struct fg *g, uint16_t id, uint32_t len)
{
	uint16_t rid, flags;
	uint32_t rlen;

	assert_int_equal(fgp_get_used(g, &rid, &rlen, &flags), 1);
	assert_int_equal(rid, id);
	assert_int_equal(rlen, len);
	/* WRITE says the device wrote len bytes. */
	assert_int_equal(!!(flags & W), len > 0);
}

static void test_empty(void **state)
{
	struct fg *g = new_packed(8, WRAP);

	assert_int_equal(vv_virtq_avail_count(&g->vq), 0);
	assert_int_equal(pop(g, false), VV_VIRTQ_EMPTY);
	assert_int_equal(g->vq.last_avail_idx, WRAP);
	/* With wrap counter 0 neither a zeroed descriptor nor a used one
	 * (AVAIL == USED) is available; AVAIL 0 and USED 1 is. */
	fg_free(g);
	g = new_packed(8, 0);
	g->vq.desc_packed[0].flags = 0;
	assert_int_equal(pop(g, false), VV_VIRTQ_EMPTY);
	g->vq.desc_packed[0].flags = (uint16_t)(F_AVAIL | F_USED);
	assert_int_equal(pop(g, false), VV_VIRTQ_EMPTY);
	g->vq.desc_packed[0] = (struct vring_packed_desc){ FG_LO_GPA, 3, 77, (uint16_t)F_USED };
	assert_int_equal(vv_virtq_avail_count(&g->vq), 1);
	assert_int_equal(pop(g, false), VV_VIRTQ_OK);
	assert_int_equal(chain.head, 77 | 1u << 16);
	assert_int_equal(chain.len, 3);
	assert_int_equal(g->vq.last_avail_idx, 1);
	fg_free(g);
}

static void test_single_and_chain(void **state)
{
	struct fg *g = new_packed(8, WRAP);
	const struct fg_buf one = { FG_LO_GPA + 0x100, 5, 0 };
	const struct fg_buf three[3] = {
		{ FG_LO_GPA + 0x200, 10, 0 },
		{ FG_HI_GPA + 0x300, 20, 0 },
		{ FG_LO_GPA + 0x400, 14, 0 },
	};
	char out[8] = { 0 };

	memcpy(fg_hva(g, one.gpa), "hello", 5);
	fgp_add(g, 1, &one, 7);
	fgp_add(g, 3, three, 1234);
	assert_int_equal(vv_virtq_avail_count(&g->vq), 1);

	assert_int_equal(pop(g, false), VV_VIRTQ_OK);
	assert_int_equal(chain.head, 7 | 1u << 16);
	assert_int_equal(chain.n_iov, 1);
	assert_int_equal(chain.len, 5);
	assert_int_equal(vv_chain_read(&chain, 0, out, sizeof(out)), 5);
	assert_memory_equal(out, "hello", 5);

	assert_int_equal(pop(g, false), VV_VIRTQ_OK);
	assert_int_equal(chain.head, 1234 | 3u << 16);
	assert_int_equal(chain.n_iov, 3);
	assert_int_equal(chain.len, 44);
	assert_ptr_equal(chain.iov[1].iov_base, fg_hva(g, three[1].gpa));
	assert_int_equal(g->vq.last_avail_idx, WRAP | 4);
	assert_int_equal(pop(g, false), VV_VIRTQ_EMPTY);

	/* Used: one descriptor per buffer, at positions 0 and 1, each after
	 * the device moved on by what the buffer took (the driver then skips
	 * to position 1 for the second, which it finds used). */
	vv_virtq_push(&g->vq, 7 | 1u << 16, 0);
	vv_virtq_push(&g->vq, 1234 | 3u << 16, 0);
	assert_int_equal(g->vq.used_idx, WRAP | 4);
	vv_virtq_flush(&g->vq);
	expect_used(g, 7, 0);
	expect_used(g, 1234, 0);
	assert_int_equal(g->p_used, WRAP | 4);
	fg_free(g);
}

/* Nothing is visible before flush: the first used descriptor's flags, which
 * hand the round to the driver, are written last. */
static void test_publish_at_flush(void **state)
{
	struct fg *g = new_packed(8, WRAP);
	const struct fg_buf b = { FG_LO_GPA, 64, W };
	uint16_t id, flags;
	uint32_t len;
	int i;

	for (i = 0; i < 3; i++)
		fgp_add(g, 1, &b, (uint16_t)(100 + i));
	for (i = 0; i < 3; i++) {
		assert_int_equal(pop(g, true), VV_VIRTQ_OK);
		vv_virtq_push(&g->vq, chain.head, (uint32_t)(10 + i));
	}
	assert_int_equal(fgp_get_used(g, &id, &len, &flags), 0);
	assert_true(g->vq.used_pending);
	vv_virtq_flush(&g->vq);
	assert_false(g->vq.used_pending);
	for (i = 0; i < 3; i++)
		expect_used(g, (uint16_t)(100 + i), (uint32_t)(10 + i));
	assert_int_equal(fgp_get_used(g, &id, &len, &flags), 0);
	/* Nothing new: nothing published, no notification. */
	assert_false(vv_virtq_flush(&g->vq));
	fg_free(g);
}

/* Buffers of 1..4 descriptors through rings of 8 and of 5 (packed sizes need
 * not be powers of two) for many laps, from every starting wrap state: the
 * wrap counters flip where they must, every buffer comes back once with its
 * bytes, popped in ring order. */
static void run_laps(uint16_t size, uint16_t start)
{
	struct fg *g = new_packed(size, start);
	unsigned int sent = 0, done = 0, k;

	while (done < 200) {
		/* The driver adds while it has room, as it learned from used. */
		for (;;) {
			unsigned int n = 1 + sent % (size < 4 ? size : 4u);
			unsigned int outstanding = 0;
			struct fg_buf b[4];

			for (k = 0; k < 65536; k++)
				outstanding += g->id_count[k];
			if (outstanding + n > size || sent >= 200)
				break;
			for (k = 0; k < n; k++)
				b[k] = (struct fg_buf){ FG_LO_GPA + 0x100 * sent + k, 1, W };
			*(uint8_t *)fg_hva(g, FG_LO_GPA + 0x100 * sent) = (uint8_t)sent;
			fgp_add(g, n, b, (uint16_t)(sent * 7));
			sent++;
		}
		while (pop(g, true) == VV_VIRTQ_OK) {
			uint8_t v;

			assert_int_equal(chain.head & 0xffff, (uint16_t)(done * 7));
			assert_int_equal(chain.len, 1 + done % (size < 4 ? size : 4u));
			vv_chain_read(&chain, 0, &v, 1);
			assert_int_equal(v, (uint8_t)done);
			vv_virtq_push(&g->vq, chain.head, chain.len);
			done++;
		}
		vv_virtq_flush(&g->vq);
		for (;;) {
			uint16_t id, flags;
			uint32_t len;

			if (!fgp_get_used(g, &id, &len, &flags))
				break;
			assert_true(len >= 1 && len <= 4);
		}
		assert_int_equal(g->p_used, g->vq.used_idx);
		assert_int_equal(g->vq.used_idx, g->vq.last_avail_idx);
	}
	assert_int_equal(done, 200);
	fg_free(g);
}

static void test_laps(void **state)
{
	run_laps(8, WRAP);
	run_laps(8, WRAP | 6);
	run_laps(8, 3);
	run_laps(5, WRAP | 4);
	run_laps(5, 0);
	run_laps(1, WRAP);
}

/* Buffers completed out of order: each used descriptor goes to the next used
 * position whatever buffer it names, and the driver finds them all. */
static void test_out_of_order(void **state)
{
	struct fg *g = new_packed(8, WRAP | 6);
	const struct fg_buf b[3] = {
		{ FG_LO_GPA, 8, W },
		{ FG_LO_GPA + 8, 8, W },
		{ FG_LO_GPA + 16, 8, W },
	};
	uint32_t t[3];

	fgp_add(g, 2, b, 1);
	fgp_add(g, 1, b, 2);
	fgp_add(g, 3, b, 3);
	pop_n(g, true, 3, t);
	assert_int_equal(g->vq.last_avail_idx, 4); /* wrapped: counter 0 */
	vv_virtq_push(&g->vq, t[2], 24);
	vv_virtq_push(&g->vq, t[0], 16);
	vv_virtq_flush(&g->vq);
	expect_used(g, 3, 24);
	expect_used(g, 1, 16);
	vv_virtq_push(&g->vq, t[1], 8);
	vv_virtq_flush(&g->vq);
	expect_used(g, 2, 8);
	assert_int_equal(g->p_used, 4);
	assert_int_equal(g->vq.used_idx, 4);
	fg_free(g);
}

/* Chains given back come again, in order, re-read from the ring; pushes of
 * earlier chains meanwhile do not disturb them. Across the wrap. */
static void test_unpop_n(void **state)
{
	struct fg *g = new_packed(8, WRAP | 5);
	const struct fg_buf b[3] = {
		{ FG_LO_GPA, 4, W },
		{ FG_LO_GPA + 0x10, 4, W },
		{ FG_LO_GPA + 0x20, 4, W },
	};
	uint32_t t[4];
	int i;

	fgp_add(g, 1, b, 10);
	fgp_add(g, 2, b, 11);
	fgp_add(g, 3, b, 12);
	fgp_add(g, 1, b, 13);
	pop_n(g, true, 4, t);
	assert_int_equal(g->vq.last_avail_idx, 4);
	vv_virtq_push(&g->vq, t[0], 4);
	vv_virtq_unpop_n(&g->vq, 0);
	assert_int_equal(g->vq.last_avail_idx, 4);
	vv_virtq_unpop_n(&g->vq, 3);
	assert_int_equal(g->vq.last_avail_idx, WRAP | 6);
	for (i = 1; i < 4; i++) {
		assert_int_equal(pop(g, true), VV_VIRTQ_OK);
		assert_int_equal(chain.head, t[i]);
		assert_int_equal(chain.len, 4u * (unsigned int)(i == 3 ? 1 : i + 1));
		if (i == 1) {
			/* One more given back and taken again. */
			vv_virtq_unpop(&g->vq);
			assert_int_equal(pop(g, true), VV_VIRTQ_OK);
			assert_int_equal(chain.head, t[1]);
		}
		vv_virtq_push(&g->vq, chain.head, 0);
	}
	assert_int_equal(pop(g, true), VV_VIRTQ_EMPTY);
	vv_virtq_flush(&g->vq);
	expect_used(g, 10, 4);
	expect_used(g, 11, 0);
	expect_used(g, 12, 0);
	expect_used(g, 13, 0);
	assert_int_equal(g->p_used, 4);
	fg_free(g);
}

static void test_bad_lists(void **state)
{
	struct fg *g = new_packed(8, WRAP);
	struct fg_buf b[3] = {
		{ FG_LO_GPA, 16, 0 },
		{ 0x1000, 16, 0 }, /* unmapped */
		{ FG_LO_GPA + 16, 16, 0 },
	};

	/* The whole list is consumed whatever descriptor is bad, and comes
	 * back with the last id and its length, so the ring goes on. */
	expect_bad(g, false, VV_VIRTQ_BAD_ADDR, fgp_add(g, 3, b, 21), 3);
	b[1] = (struct fg_buf){ FG_LO_GPA + 32, 16, W };
	expect_bad(g, false, VV_VIRTQ_BAD_DIR, fgp_add(g, 3, b, 22), 3);
	expect_bad(g, true, VV_VIRTQ_BAD_DIR, fgp_add(g, 1, b, 23), 1);
	/* INDIRECT not negotiated. */
	b[0].flags = VRING_DESC_F_INDIRECT;
	expect_bad(g, false, VV_VIRTQ_BAD_FLAGS, fgp_add(g, 1, b, 24), 1);
	/* Wrapped: the ring still works. */
	b[0] = (struct fg_buf){ FG_LO_GPA, 16, 0 };
	fgp_add(g, 1, b, 25);
	assert_int_equal(pop(g, false), VV_VIRTQ_OK);
	assert_int_equal(chain.head, 25 | 1u << 16);
	assert_int_equal(g->vq.last_avail_idx, 1);
	vv_virtq_push(&g->vq, chain.head, 0);
	fg_free(g);
}

/* Lengths that wrap 32 bits and more iovecs than a chain holds. */
static void test_bad_sizes(void **state)
{
	struct fg *g = new_packed(512, WRAP);
	struct fg_buf *b = calloc(VV_CHAIN_IOV_MAX + 1, sizeof(*b));
	struct fg_buf big[2] = {
		{ 0x100000000ull, 0x80000000u, 0 },
		{ 0x180000000ull, 0x80000000u, 0 },
	};
	unsigned int i;

	assert_non_null(b);
	for (i = 0; i <= VV_CHAIN_IOV_MAX; i++)
		b[i] = (struct fg_buf){ FG_LO_GPA + i, 1, W };
	fgp_add(g, VV_CHAIN_IOV_MAX, b, 1);
	assert_int_equal(pop(g, true), VV_VIRTQ_OK);
	assert_int_equal(chain.n_iov, VV_CHAIN_IOV_MAX);
	vv_virtq_push(&g->vq, chain.head, chain.len);
	vv_virtq_flush(&g->vq);
	expect_used(g, 1, VV_CHAIN_IOV_MAX);
	expect_bad(g, true, VV_VIRTQ_BAD_CHAIN, fgp_add(g, VV_CHAIN_IOV_MAX + 1, b, 2),
		   VV_CHAIN_IOV_MAX + 1);

	g->mem.regions[g->mem.n_regions++] =
		(struct vv_mem_region){ 0x100000000ull, 0x200000000ull, (uintptr_t)g->buf };
	expect_bad(g, false, VV_VIRTQ_BAD_CHAIN, fgp_add(g, 2, big, 3), 2);
	big[1].len--;
	fgp_add(g, 2, big, 4);
	assert_int_equal(pop(g, false), VV_VIRTQ_OK);
	assert_int_equal(chain.len, UINT32_MAX);
	free(b);
	fg_free(g);
}

/* A NEXT list as long as the ring that still wants more is cut there: the
 * whole ring is consumed as one bad buffer (the driver that wrote it that
 * way skips as many), and the ring goes on. */
static void test_endless_list(void **state)
{
	struct fg *g = new_packed(4, WRAP);
	struct fg_buf b[4];
	unsigned int i;

	for (i = 0; i < 4; i++)
		b[i] = (struct fg_buf){ FG_LO_GPA, 4, VRING_DESC_F_NEXT };
	expect_bad(g, false, VV_VIRTQ_BAD_CHAIN, fgp_add_raw(g, 4, b, 9), 4);
	assert_int_equal(g->vq.last_avail_idx, 0);
	fg_free(g);

	/* Exactly the ring's size is a legal list. */
	g = new_packed(4, WRAP | 2);
	b[3].flags = 0;
	fgp_add_raw(g, 4, b, 9);
	assert_int_equal(pop(g, false), VV_VIRTQ_OK);
	assert_int_equal(chain.head, 9 | 4u << 16);
	assert_int_equal(chain.len, 16);
	assert_int_equal(g->vq.last_avail_idx, 2);
	fg_free(g);

	/* A position the adapter got wrong (>= size) breaks the queue. */
	g = new_packed(4, WRAP | 4);
	assert_int_equal(pop(g, false), VV_VIRTQ_BROKEN);
	assert_true(g->vq.broken);
	assert_int_equal(vv_virtq_avail_count(&g->vq), 0);
	assert_int_equal(pop(g, false), VV_VIRTQ_BROKEN);
	fg_free(g);
}

/* NEXT on the last descriptor the driver wrote: the list ends before the
 * descriptor that is not available (one the device used last lap, or a
 * zeroed one), which is not taken: device and driver stay in step. */
static void test_next_into_unavailable(void **state)
{
	struct fg *g = new_packed(8, WRAP | 6);
	struct fg_buf b[2] = {
		{ FG_LO_GPA, 8, VRING_DESC_F_NEXT },
		{ FG_LO_GPA + 8, 8, VRING_DESC_F_NEXT },
	};

	/* Into slot 0 of the next lap, still holding last lap's used one. */
	expect_bad(g, false, VV_VIRTQ_BAD_CHAIN, fgp_add_raw(g, 2, b, 40), 2);
	assert_int_equal(g->vq.last_avail_idx, 0);
	/* A good buffer after it is found where the driver put it. */
	b[1].flags = 0;
	fgp_add(g, 2, b, 41);
	assert_int_equal(pop(g, false), VV_VIRTQ_OK);
	assert_int_equal(chain.head, 41 | 2u << 16);
	assert_int_equal(chain.len, 16);
	fg_free(g);
}

/* Notifications to the driver (driver event area). */
static void test_notify(void **state)
{
	struct fg *g = new_packed(8, WRAP);
	const struct fg_buf b = { FG_LO_GPA, 8, 0 };
	int fd = eventfd(0, EFD_NONBLOCK);
	unsigned int i;

	assert_true(fd >= 0);
	g->vq.callfd = fd;
	/* Without EVENT_IDX: ENABLE interrupts, DISABLE does not, the
	 * reserved 3 and DESC (meaningless here) do. */
	static const struct {
		uint16_t flags;
		bool irq;
	} cases[] = {
		{ VRING_PACKED_EVENT_FLAG_ENABLE, true },
		{ VRING_PACKED_EVENT_FLAG_DISABLE, false },
		{ VRING_PACKED_EVENT_FLAG_DESC, true },
		{ 3, true },
	};
	for (i = 0; i < 4; i++) {
		fgp_set_driver_event(g, cases[i].flags, 0);
		fgp_add(g, 1, &b, (uint16_t)i);
		assert_int_equal(pop(g, false), VV_VIRTQ_OK);
		vv_virtq_push(&g->vq, chain.head, 0);
		assert_int_equal(vv_virtq_flush(&g->vq), cases[i].irq);
		assert_int_equal(fg_efd_take(fd), cases[i].irq);
	}
	/* Quiet: published (the driver sees the descriptor used), the
	 * interrupt only owed until vv_virtq_call. */
	fgp_set_driver_event(g, VRING_PACKED_EVENT_FLAG_ENABLE, 0);
	fgp_add(g, 1, &b, 4);
	assert_int_equal(pop(g, false), VV_VIRTQ_OK);
	vv_virtq_push(&g->vq, chain.head, 0);
	assert_int_equal(vv_virtq_flush_quiet(&g->vq), 0);
	assert_int_equal(fg_efd_take(fd), 0);
	assert_true(g->vq.call_pending);
	assert_int_equal(vv_virtq_call(&g->vq), 1);
	assert_int_equal(fg_efd_take(fd), 1);
	/* No callfd: published, nobody notified. */
	g->vq.callfd = -1;
	fgp_set_driver_event(g, VRING_PACKED_EVENT_FLAG_ENABLE, 0);
	fgp_add(g, 1, &b, 5);
	assert_int_equal(pop(g, false), VV_VIRTQ_OK);
	vv_virtq_push(&g->vq, chain.head, 0);
	assert_false(vv_virtq_flush(&g->vq));
	assert_int_equal(fg_efd_take(fd), 0);
	close(fd);
	fg_free(g);
}

/* Push n one-descriptor buffers and flush; returns whether it interrupted. */
static bool round_of(struct fg *g, unsigned int n)
{
	const struct fg_buf b = { FG_LO_GPA, 8, 0 };
	uint16_t id, flags;
	uint32_t len;
	unsigned int k;
	bool irq;

	for (k = 0; k < n; k++)
		fgp_add(g, 1, &b, (uint16_t)k);
	for (k = 0; k < n; k++) {
		assert_int_equal(pop(g, false), VV_VIRTQ_OK);
		vv_virtq_push(&g->vq, chain.head, 0);
	}
	irq = vv_virtq_flush(&g->vq);
	while (fgp_get_used(g, &id, &len, &flags))
		;
	return irq;
}

/* With EVENT_IDX, DESC asks for an interrupt when the descriptor at
 * off_wrap is used: only the flush that covers it interrupts, across the
 * wrap of a ring of 8. */
static void test_notify_desc_event(void **state)
{
	struct fg *g = new_packed(8, WRAP | 2);
	int fd = eventfd(0, EFD_NONBLOCK);

	assert_true(fd >= 0);
	g->vq.callfd = fd;
	g->vq.event_idx = true;
	/* Nothing signalled yet: the first flush interrupts. */
	fgp_set_driver_event(g, VRING_PACKED_EVENT_FLAG_DESC, WRAP | 7);
	assert_true(round_of(g, 1)); /* 2 */
	assert_int_equal(fg_efd_take(fd), 1);
	assert_false(round_of(g, 3)); /* 3..5 */
	assert_int_equal(fg_efd_take(fd), 0);
	assert_true(round_of(g, 3)); /* 6, 7, 0': covers 7 */
	assert_int_equal(fg_efd_take(fd), 1);
	assert_false(round_of(g, 1)); /* 1' */
	/* Position 0 of the next lap (counter 0), reached across the end. */
	fgp_set_driver_event(g, VRING_PACKED_EVENT_FLAG_DESC, 4);
	assert_false(round_of(g, 2)); /* 2', 3' */
	assert_true(round_of(g, 1));  /* 4' */
	/* An event already behind: no interrupt for a whole lap. */
	assert_false(round_of(g, 3)); /* 5'..7' */
	assert_false(round_of(g, 3)); /* 0..2 */
	assert_int_equal(fg_efd_take(fd), 1);
	/* DISABLE wins over the offset; ENABLE always interrupts. */
	fgp_set_driver_event(g, VRING_PACKED_EVENT_FLAG_DISABLE, WRAP | 3);
	assert_false(round_of(g, 2));
	fgp_set_driver_event(g, VRING_PACKED_EVENT_FLAG_ENABLE, 0);
	assert_true(round_of(g, 1));
	assert_int_equal(fg_efd_take(fd), 1);
	/* A guest offset beyond the ring never matches, nor crashes. */
	fgp_set_driver_event(g, VRING_PACKED_EVENT_FLAG_DESC, 0x7fff);
	assert_false(round_of(g, 8));
	close(fd);
	fg_free(g);
}

/* Kicks: a polling device tells the driver not to kick (device event area
 * DISABLE) at flush; vv_virtq_want_kicks asks for them and says whether
 * buffers are already there. */
static void test_kicks(void **state)
{
	struct fg *g = new_packed(8, WRAP | 3);
	const struct fg_buf b = { FG_LO_GPA, 8, 0 };
	struct vring_packed_desc_event ev;

	g->vq.event_idx = true;
	round_of(g, 1);
	ev = fgp_device_event(g);
	assert_int_equal(ev.flags, VRING_PACKED_EVENT_FLAG_DISABLE);

	/* With EVENT_IDX: DESC at the next descriptor the device reads. */
	assert_false(vv_virtq_want_kicks(&g->vq, true));
	ev = fgp_device_event(g);
	assert_int_equal(ev.flags, VRING_PACKED_EVENT_FLAG_DESC);
	assert_int_equal(ev.off_wrap, g->vq.last_avail_idx);
	assert_int_equal(ev.off_wrap, WRAP | 4);
	/* Flushes leave it while kicks are wanted. */
	round_of(g, 1);
	assert_int_equal(fgp_device_event(g).flags, VRING_PACKED_EVENT_FLAG_DESC);
	/* A buffer made available before the request: reported. */
	fgp_add(g, 1, &b, 1);
	assert_true(vv_virtq_want_kicks(&g->vq, true));
	assert_int_equal(fgp_device_event(g).off_wrap, WRAP | 5);
	assert_false(vv_virtq_want_kicks(&g->vq, false));
	assert_int_equal(fgp_device_event(g).flags, VRING_PACKED_EVENT_FLAG_DISABLE);

	/* Without EVENT_IDX: ENABLE. */
	g->vq.event_idx = false;
	assert_true(vv_virtq_want_kicks(&g->vq, true));
	assert_int_equal(fgp_device_event(g).flags, VRING_PACKED_EVENT_FLAG_ENABLE);
	assert_int_equal(pop(g, false), VV_VIRTQ_OK);
	assert_false(vv_virtq_want_kicks(&g->vq, true));
	vv_virtq_want_kicks(&g->vq, false);
	assert_int_equal(fgp_device_event(g).flags, VRING_PACKED_EVENT_FLAG_DISABLE);
	fg_free(g);
}

/* The same call on a split ring: avail_event at the next entry with
 * EVENT_IDX, used->flags 0 without; flush then leaves them. */
static void test_kicks_split(void **state)
{
	struct fg *g = fg_new(8, 65534);
	const struct fg_buf b = { FG_LO_GPA, 8, 0 };

	assert_non_null(g);
	g->vq.event_idx = true;
	assert_false(vv_virtq_want_kicks(&g->vq, true));
	assert_int_equal(fg_avail_event(g), 65534);
	fg_add_chain(g, 1, &b);
	assert_int_equal(fg_kick_prepare(g), 1);
	assert_true(vv_virtq_want_kicks(&g->vq, true));
	assert_int_equal(vv_virtq_pop(&g->vq, &g->mem, false, &chain), VV_VIRTQ_OK);
	vv_virtq_push(&g->vq, chain.head, 0);
	vv_virtq_flush(&g->vq);
	assert_int_equal(fg_avail_event(g), 65534);
	assert_false(vv_virtq_want_kicks(&g->vq, false));
	assert_int_equal(fg_avail_event(g), (uint16_t)(65535 + 8));

	g->vq.event_idx = false;
	g->vq.used->flags = VRING_USED_F_NO_NOTIFY;
	assert_false(vv_virtq_want_kicks(&g->vq, true));
	assert_int_equal(g->vq.used->flags, 0);
	vv_virtq_want_kicks(&g->vq, false);
	assert_int_equal(g->vq.used->flags, VRING_USED_F_NO_NOTIFY);
	fg_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single_and_chain),
		cmocka_unit_test(test_publish_at_flush),
		cmocka_unit_test(test_laps),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_unpop_n),
		cmocka_unit_test(test_bad_lists),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_endless_list),
		cmocka_unit_test(test_next_into_unavailable),
		cmocka_unit_test(test_notify),
		cmocka_unit_test(test_notify_desc_event),
		cmocka_unit_test(test_kicks),
		cmocka_unit_test(test_kicks_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
