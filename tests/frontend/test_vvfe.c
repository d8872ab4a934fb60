/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the vvfe pieces that need no backend: header codec, credit
 * arithmetic, event index test, ring layout, the driver ring against a fake
 * device across the 16-bit index wrap, the pattern and percentiles. The
 * last tests run the whole library against a tiny in-process vhost-user
 * echo device (test_fakedev.c) to check the handshake and credit flow.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vvfe_priv.h"
#include "test_fakedev.h"

static void test_hdr_codec(void **state)
{
	struct virtio_vsock_hdr h, back;
	uint8_t b[VVFE_HDR_LEN];

	(void)state;
	/* Zero the padding too, so the structs compare as memory. */
	memset(&h, 0, sizeof(h));
	memset(&back, 0, sizeof(back));
	h = (struct virtio_vsock_hdr){
		.src_cid = 0x0102030405060708ull,
		.dst_cid = 2,
		.src_port = 0xa1a2a3a4u,
		.dst_port = 1234,
		.len = 4052,
		.type = VIRTIO_VSOCK_TYPE_STREAM,
		.op = VIRTIO_VSOCK_OP_RW,
		.flags = 3,
		.buf_alloc = 262144,
		.fwd_cnt = 0xfffffff0u,
	};
	vvfe_hdr_encode(&h, b);
	/* Little-endian at the offsets of struct virtio_vsock_hdr. */
	assert_int_equal(b[0], 0x08);
	assert_int_equal(b[7], 0x01);
	assert_int_equal(b[8], 2);
	assert_int_equal(b[16], 0xa4);
	assert_int_equal(b[19], 0xa1);
	assert_int_equal(b[20], 1234 & 0xff);
	assert_int_equal(b[24], 4052 & 0xff);
	assert_int_equal(b[25], 4052 >> 8);
	assert_int_equal(b[28], 1);
	assert_int_equal(b[30], VIRTIO_VSOCK_OP_RW);
	assert_int_equal(b[32], 3);
	assert_int_equal(b[38], 4);	/* 262144 = 0x40000 */
	assert_int_equal(b[40], 0xf0);
	assert_int_equal(b[43], 0xff);
	vvfe_hdr_decode(b, &back);
	assert_true(h.src_cid == back.src_cid && h.dst_cid == back.dst_cid);
	assert_true(h.src_port == back.src_port && h.dst_port == back.dst_port);
	assert_true(h.len == back.len && h.type == back.type && h.op == back.op);
	assert_true(h.flags == back.flags && h.buf_alloc == back.buf_alloc);
	assert_true(h.fwd_cnt == back.fwd_cnt);
}

static void test_credit(void **state)
{
	(void)state;
	assert_int_equal(vvfe_credit(1000, 0, 0), 1000);
	assert_int_equal(vvfe_credit(1000, 0, 400), 600);
	assert_int_equal(vvfe_credit(1000, 400, 1000), 400);
	assert_int_equal(vvfe_credit(1000, 0, 1000), 0);
	/* Counters wrap at 2^32: 16 bytes in flight across the wrap. */
	assert_int_equal(vvfe_credit(4096, 0xfffffff8u, 8), 4080);
	/* A peer claiming more than buf_alloc in flight gives no credit. */
	assert_int_equal(vvfe_credit(1000, 0, 1001), 0);
	/* A peer claiming to have forwarded more than we sent: no credit. */
	assert_int_equal(vvfe_credit(1000, 10, 5), 0);
}

static void test_need_event(void **state)
{
	(void)state;
	/* Moving 10 -> 12 crosses event 10 and 11, not 12. */
	assert_true(vvfe_need_event(10, 12, 10));
	assert_true(vvfe_need_event(11, 12, 10));
	assert_false(vvfe_need_event(12, 12, 10));
	assert_false(vvfe_need_event(9, 12, 10));
	/* Across the 16-bit wrap: 65534 -> 2 crosses 65535 and 0. */
	assert_true(vvfe_need_event(65535, 2, 65534));
	assert_true(vvfe_need_event(0, 2, 65534));
	assert_false(vvfe_need_event(2, 2, 65534));
	assert_false(vvfe_need_event(65533, 2, 65534));
}

static void test_layout(void **state)
{
	struct vvfe_vring_layout l;

	(void)state;
	vvfe_vring_layout(256, &l);
	assert_int_equal(l.desc, 0);
	assert_int_equal(l.avail, 4096);
	assert_int_equal(l.used, 8192);
	assert_int_equal(l.total, 12288);
	vvfe_vring_layout(4, &l);
	assert_int_equal(l.avail, 64);
	assert_int_equal(l.used, 4096);
	assert_true(l.used + 6 + 8 * 4 <= l.total);
}

/* A device that returns every available chain, reading the ring as a real
 * device would (through the shared memory only). */
struct fake_dev_ring {
	uint16_t last_avail, used;
};

static int fake_consume(struct vvfe_vring *vr, struct fake_dev_ring *f, uint32_t len)
{
	uint16_t avail = le16toh(*vr->avail_idx);
	int n = 0;

	while (f->last_avail != avail) {
		uint16_t head = le16toh(vr->avail_ring[f->last_avail & (vr->size - 1)]);

		vr->used_ring[f->used & (vr->size - 1)].id = htole32(head);
		vr->used_ring[f->used & (vr->size - 1)].len = htole32(len);
		f->last_avail++;
		f->used++;
		n++;
	}
	*vr->used_idx = htole16(f->used);
	*vr->avail_event = htole16(f->last_avail);
	return n;
}

static void test_ring_wrap(void **state)
{
	struct vvfe_vring_layout l;
	struct vvfe_vring vr;
	struct fake_dev_ring f = {0, 0};
	void *mem;
	uint16_t ids[3];
	uint32_t id, len;
	unsigned int kicks = 0;

	(void)state;
	vvfe_vring_layout(8, &l);
	mem = aligned_alloc(4096, l.total);
	assert_non_null(mem);
	assert_int_equal(vvfe_vring_init(&vr, mem, 8, true), 0);
	assert_int_equal(vr.num_free, 8);
	/* 70000 rounds of 3-descriptor chains: every index wraps past 65535. */
	for (unsigned int i = 0; i < 70000; i++) {
		assert_int_equal(vvfe_vring_alloc(&vr, 3, ids), 0);
		assert_int_equal(vr.num_free, 5);
		assert_int_not_equal(ids[0], ids[1]);
		assert_int_not_equal(ids[1], ids[2]);
		vvfe_vring_publish(&vr, ids[0]);
		/* The device asked to be kicked at its last_avail: one new
		 * entry always crosses it. */
		kicks += vvfe_vring_kick_prepare(&vr);
		assert_int_equal(fake_consume(&vr, &f, i), 1);
		assert_int_equal(vvfe_vring_get_used(&vr, &id, &len), 1);
		assert_int_equal(id, ids[0]);
		assert_int_equal(len, i);
		assert_int_equal(vvfe_vring_get_used(&vr, &id, &len), 0);
		assert_int_equal(vr.num_free, 8);
	}
	assert_int_equal(kicks, 70000);
	assert_int_equal(vr.shadow_avail, (uint16_t)70000);
	assert_int_equal(vr.last_used, (uint16_t)70000);
	/* Device does not move avail_event: later kicks are suppressed. */
	*vr.avail_event = htole16((uint16_t)(vr.shadow_avail - 100));
	assert_int_equal(vvfe_vring_alloc(&vr, 1, ids), 0);
	vvfe_vring_publish(&vr, ids[0]);
	assert_false(vvfe_vring_kick_prepare(&vr));
	vvfe_vring_fini(&vr);
	free(mem);
}

static void test_ring_no_event_idx(void **state)
{
	struct vvfe_vring_layout l;
	struct vvfe_vring vr;
	void *mem;
	uint16_t ids[1];

	(void)state;
	vvfe_vring_layout(16, &l);
	mem = aligned_alloc(4096, l.total);
	assert_int_equal(vvfe_vring_init(&vr, mem, 16, false), 0);
	assert_int_equal(vvfe_vring_alloc(&vr, 1, ids), 0);
	vvfe_vring_publish(&vr, ids[0]);
	assert_true(vvfe_vring_kick_prepare(&vr));
	/* Nothing new published: no kick. */
	assert_false(vvfe_vring_kick_prepare(&vr));
	*vr.used_flags = htole16(VRING_USED_F_NO_NOTIFY);
	assert_int_equal(vvfe_vring_alloc(&vr, 1, ids), 0);
	vvfe_vring_publish(&vr, ids[0]);
	assert_false(vvfe_vring_kick_prepare(&vr));
	/* Interrupt suppression is in avail flags without EVENT_IDX. */
	vvfe_vring_disable_cb(&vr);
	assert_int_equal(le16toh(*vr.avail_flags), VRING_AVAIL_F_NO_INTERRUPT);
	assert_false(vvfe_vring_enable_cb(&vr));
	assert_int_equal(le16toh(*vr.avail_flags), 0);
	vvfe_vring_fini(&vr);
	free(mem);
}

static void test_ring_bad_used(void **state)
{
	struct vvfe_vring_layout l;
	struct vvfe_vring vr;
	void *mem;
	uint16_t ids[2];
	uint32_t id, len;

	(void)state;
	vvfe_vring_layout(8, &l);
	mem = aligned_alloc(4096, l.total);
	assert_int_equal(vvfe_vring_init(&vr, mem, 8, true), 0);
	assert_int_equal(vvfe_vring_alloc(&vr, 2, ids), 0);
	vvfe_vring_publish(&vr, ids[0]);
	/* The device returns the second descriptor, which is no head. */
	vr.used_ring[0].id = htole32(ids[1]);
	*vr.used_idx = htole16(1);
	assert_int_equal(vvfe_vring_get_used(&vr, &id, &len), -EPROTO);
	/* Out-of-range id. */
	vr.used_ring[0].id = htole32(8);
	assert_int_equal(vvfe_vring_get_used(&vr, &id, &len), -EPROTO);
	/* Used idx ahead by more than the ring size. */
	vr.used_ring[0].id = htole32(ids[0]);
	*vr.used_idx = htole16(9);
	assert_int_equal(vvfe_vring_get_used(&vr, &id, &len), -EPROTO);
	/* The sane answer still works, and the chain is freed. */
	*vr.used_idx = htole16(1);
	assert_int_equal(vvfe_vring_get_used(&vr, &id, &len), 1);
	assert_int_equal(id, ids[0]);
	assert_int_equal(vr.num_free, 8);
	/* Returning the same head twice is caught. */
	vr.used_ring[1].id = htole32(ids[0]);
	*vr.used_idx = htole16(2);
	assert_int_equal(vvfe_vring_get_used(&vr, &id, &len), -EPROTO);
	/* Enabling calls with EVENT_IDX writes used_event. */
	vvfe_vring_disable_cb(&vr);
	assert_int_equal(le16toh(*vr.used_event), (uint16_t)(vr.last_used + 0x8000));
	vvfe_vring_enable_cb(&vr);
	assert_int_equal(le16toh(*vr.used_event), vr.last_used);
	assert_int_equal(vvfe_vring_alloc(&vr, 9, ids), -ENOSPC);
	vvfe_vring_fini(&vr);
	free(mem);
}

/* ------------------------------------------------------- packed rings */

#define P_WRAP 0x8000u
#define P_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define P_USED (1u << VRING_PACKED_DESC_F_USED)

/* A packed device seen from the ring memory only: its own position and
 * wrap counter for reading available lists and for writing used ones. */
struct fake_pdev {
	uint16_t at, used; /* position | wrap << 15 */
	uint16_t ids[64], counts[64];
	unsigned int n;
};

static uint16_t p_next(const struct vvfe_vring *vr, uint16_t at)
{
	uint16_t pos = (uint16_t)((at & 0x7fff) + 1), wrap = at & P_WRAP;

	if (pos == vr->size) {
		pos = 0;
		wrap ^= P_WRAP;
	}
	return (uint16_t)(pos | wrap);
}

/* Take every available list (checking each descriptor is available and
 * the id sits in the last one); returns how many. */
static unsigned int fake_ptake(struct vvfe_vring *vr, struct fake_pdev *f)
{
	unsigned int got = 0;

	for (;;) {
		uint16_t n = 0, id = 0, flags;

		for (;;) {
			struct vring_packed_desc *d = &vr->ring[f->at & 0x7fff];
			bool wrap = (f->at & P_WRAP) != 0;

			flags = le16toh(d->flags);
			if (!!(flags & P_AVAIL) != wrap || !!(flags & P_USED) == wrap) {
				assert_int_equal(n, 0); /* a list is made available whole */
				return got;
			}
			id = le16toh(d->id);
			n++;
			f->at = p_next(vr, f->at);
			if (!(flags & VRING_DESC_F_NEXT))
				break;
		}
		f->ids[f->n] = id;
		f->counts[f->n++] = n;
		got++;
	}
}

/* Write the used descriptor of taken buffer k (any order). */
static void fake_pused(struct vvfe_vring *vr, struct fake_pdev *f, unsigned int k, uint32_t len)
{
	struct vring_packed_desc *d = &vr->ring[f->used & 0x7fff];
	uint16_t flags = (f->used & P_WRAP) ? (uint16_t)(P_AVAIL | P_USED) : 0;

	d->id = htole16(f->ids[k]);
	d->len = htole32(len);
	__atomic_store_n(&d->flags, htole16(flags), __ATOMIC_RELEASE);
	for (uint16_t i = 0; i < f->counts[k]; i++)
		f->used = p_next(vr, f->used);
}

/* Lists of 1..3 descriptors through a ring of 5 (packed sizes need not be
 * powers of two) for many laps, completed out of order in pairs. */
static void test_ring_packed(void **state)
{
	struct vvfe_vring_layout l, ls;
	struct vvfe_vring vr;
	struct fake_pdev f = {P_WRAP, P_WRAP, {0}, {0}, 0};
	unsigned int kicks = 0;
	uint16_t ids[3];
	uint32_t id, len;
	void *mem;

	(void)state;
	vvfe_vring_layout_packed(5, &l);
	vvfe_vring_layout(8, &ls);
	assert_int_equal(l.avail, 80);
	assert_int_equal(l.used, 84);
	assert_true(l.total <= ls.total);
	mem = aligned_alloc(4096, l.total);
	assert_non_null(mem);
	assert_int_equal(vvfe_vring_init_packed(&vr, mem, 5, true), 0);
	for (unsigned int i = 0; i < 3000; i++) {
		uint16_t na = (uint16_t)(1 + i % 2), nb = (uint16_t)(2 + (i / 2) % 2);
		uint16_t a, b;

		if (na + nb > 5)
			nb = (uint16_t)(5 - na);
		assert_int_equal(vvfe_vring_alloc(&vr, na, ids), 0);
		for (uint16_t k = 0; k < na; k++)
			vr.desc[ids[k]] = (struct vring_desc){htole64(0x1000u * k), htole32(16),
							      htole16(k + 1 < na ? VRING_DESC_F_NEXT : 0), 0};
		a = ids[0];
		vvfe_vring_publish(&vr, a);
		assert_int_equal(vvfe_vring_alloc(&vr, nb, ids), 0);
		for (uint16_t k = 0; k < nb; k++)
			vr.desc[ids[k]] = (struct vring_desc){htole64(0x2000u * k), htole32(8),
							      htole16(k + 1 < nb ? VRING_DESC_F_NEXT : 0), 0};
		b = ids[0];
		vvfe_vring_publish(&vr, b);
		/* The device wants a kick at the next descriptor it reads. */
		vr.device_ev->off_wrap = htole16(f.at);
		vr.device_ev->flags = htole16(VRING_PACKED_EVENT_FLAG_DESC);
		kicks += vvfe_vring_kick_prepare(&vr);
		f.n = 0;
		assert_int_equal(fake_ptake(&vr, &f), 2);
		assert_int_equal(f.ids[0], a);
		assert_int_equal(f.counts[0], na);
		assert_int_equal(f.ids[1], b);
		assert_int_equal(f.counts[1], nb);
		/* Second one first. */
		fake_pused(&vr, &f, 1, i);
		assert_true(vvfe_vring_has_used(&vr));
		assert_int_equal(vvfe_vring_get_used(&vr, &id, &len), 1);
		assert_int_equal(id, b);
		assert_int_equal(len, i);
		assert_int_equal(vvfe_vring_get_used(&vr, &id, &len), 0);
		fake_pused(&vr, &f, 0, i + 1);
		assert_int_equal(vvfe_vring_get_used(&vr, &id, &len), 1);
		assert_int_equal(id, a);
		assert_int_equal(vr.num_free, 5);
		assert_int_equal(vr.p_used, f.used);
		assert_int_equal(vr.p_avail, f.at);
	}
	assert_int_equal(kicks, 3000);
	/* DISABLE: no kick; ENABLE: a kick; DESC already passed: none. */
	assert_int_equal(vvfe_vring_alloc(&vr, 1, ids), 0);
	vvfe_vring_publish(&vr, ids[0]);
	vr.device_ev->flags = htole16(VRING_PACKED_EVENT_FLAG_DISABLE);
	assert_false(vvfe_vring_kick_prepare(&vr));
	vvfe_vring_publish(&vr, ids[0]);
	vr.device_ev->flags = htole16(VRING_PACKED_EVENT_FLAG_ENABLE);
	assert_true(vvfe_vring_kick_prepare(&vr));
	assert_false(vvfe_vring_kick_prepare(&vr)); /* nothing new */
	/* Calls: DESC at the next used position with EVENT_IDX, DISABLE off. */
	vvfe_vring_disable_cb(&vr);
	assert_int_equal(le16toh(vr.driver_ev->flags), VRING_PACKED_EVENT_FLAG_DISABLE);
	assert_false(vvfe_vring_enable_cb(&vr));
	assert_int_equal(le16toh(vr.driver_ev->flags), VRING_PACKED_EVENT_FLAG_DESC);
	assert_int_equal(le16toh(vr.driver_ev->off_wrap), vr.p_used);
	vvfe_vring_fini(&vr);
	free(mem);
}

/* A device that names an id out of range or not in flight is caught. */
static void test_ring_packed_bad_used(void **state)
{
	struct vvfe_vring_layout l;
	struct vvfe_vring vr;
	uint16_t ids[2];
	uint32_t id, len;
	void *mem;

	(void)state;
	vvfe_vring_layout_packed(8, &l);
	mem = aligned_alloc(4096, l.total);
	assert_int_equal(vvfe_vring_init_packed(&vr, mem, 8, false), 0);
	assert_int_equal(vvfe_vring_alloc(&vr, 2, ids), 0);
	vvfe_vring_publish(&vr, ids[0]);
	assert_false(vvfe_vring_has_used(&vr));
	vr.ring[0].id = htole16(8);
	vr.ring[0].flags = htole16(P_AVAIL | P_USED);
	assert_int_equal(vvfe_vring_get_used(&vr, &id, &len), -EPROTO);
	vr.ring[0].id = htole16(ids[1]);
	assert_int_equal(vvfe_vring_get_used(&vr, &id, &len), -EPROTO);
	vr.ring[0].id = htole16(ids[0]);
	assert_int_equal(vvfe_vring_get_used(&vr, &id, &len), 1);
	assert_int_equal(vr.p_used, P_WRAP | 2);
	assert_int_equal(vr.num_free, 8);
	/* Without EVENT_IDX calls are ENABLE / DISABLE. */
	assert_false(vvfe_vring_enable_cb(&vr));
	assert_int_equal(le16toh(vr.driver_ev->flags), VRING_PACKED_EVENT_FLAG_ENABLE);
	vvfe_vring_fini(&vr);
	free(mem);
}

static void test_pattern(void **state)
{
	struct vvfe_pattern a, b;
	uint8_t buf[9000], buf2[9000];

	(void)state;
	vvfe_pattern_init(&a, 1);
	vvfe_pattern_init(&b, 2);
	assert_int_not_equal(a.start, b.start);
	vvfe_pattern_fill(&a, 0, buf, sizeof(buf));
	assert_int_equal(vvfe_pattern_check(&a, 0, buf, sizeof(buf)), -1);
	/* Another stream's bytes do not pass. */
	assert_int_not_equal(vvfe_pattern_check(&b, 0, buf, sizeof(buf)), -1);
	/* A chunk verified at the wrong offset (reordering) does not pass. */
	assert_int_not_equal(vvfe_pattern_check(&a, 4096, buf, 4096), -1);
	/* Pieces equal the whole. */
	vvfe_pattern_fill(&a, 1000, buf2, 100);
	assert_memory_equal(buf + 1000, buf2, 100);
	/* One flipped bit is found at its index. */
	buf[7777] ^= 0x10;
	assert_int_equal(vvfe_pattern_check(&a, 0, buf, sizeof(buf)), 7777);
	/* Across the period boundary and at huge offsets. */
	uint64_t pos = (uint64_t)VVFE_PATTERN_PERIOD * 5000 - 4000;
	vvfe_pattern_fill(&a, pos, buf, sizeof(buf));
	assert_int_equal(vvfe_pattern_check(&a, pos, buf, sizeof(buf)), -1);
	vvfe_pattern_fill(&a, pos + 4000, buf2, 100);
	assert_memory_equal(buf + 4000, buf2, 100);
	vvfe_pattern_fill(&a, 0, buf2, 100);
	/* The period really is VVFE_PATTERN_PERIOD. */
	vvfe_pattern_fill(&a, VVFE_PATTERN_PERIOD, buf, 100);
	assert_memory_equal(buf, buf2, 100);
	buf[99] ^= 1;
	assert_int_equal(vvfe_pattern_check(&a, VVFE_PATTERN_PERIOD, buf, 100), 99);
	/* Straight from the table: at least the slack is contiguous, even
	 * where the period wraps, and it holds the stream's bytes. */
	for (uint64_t at = 0; at < 3 * (uint64_t)VVFE_PATTERN_PERIOD; at += 524287) {
		size_t n;
		const uint8_t *t = vvfe_pattern_ptr(&a, at, &n);

		assert_true(n >= VVFE_PATTERN_SLACK);
		assert_int_equal(vvfe_pattern_check(&a, at, t, VVFE_PATTERN_SLACK), -1);
		vvfe_pattern_fill(&a, at + VVFE_PATTERN_SLACK - 100, buf, 100);
		assert_memory_equal(t + VVFE_PATTERN_SLACK - 100, buf, 100);
	}
}

static void test_lat(void **state)
{
	struct vvfe_lat l = {0};

	(void)state;
	assert_int_equal(vvfe_lat_pct(&l, 50), 0);
	for (uint64_t i = 1000; i >= 1; i--)
		assert_int_equal(vvfe_lat_add(&l, i), 0);
	assert_int_equal(vvfe_lat_pct(&l, 50), 500);
	assert_int_equal(vvfe_lat_pct(&l, 99), 990);
	assert_int_equal(vvfe_lat_pct(&l, 99.9), 999);
	assert_int_equal(vvfe_lat_pct(&l, 100), 1000);
	assert_int_equal(vvfe_lat_pct(&l, 0), 1);
	vvfe_lat_free(&l);
	assert_null(l.v);
}

static void test_hostile_names(void **state)
{
	(void)state;
	for (int c = 0; c < VVFE_HOSTILE_COUNT; c++) {
		const char *n = vvfe_hostile_name(c);

		assert_non_null(n);
		assert_int_equal(vvfe_hostile_from_name(n), c);
	}
	assert_null(vvfe_hostile_name(VVFE_HOSTILE_COUNT));
	assert_int_equal(vvfe_hostile_from_name("nope"), -EINVAL);
}

/* ------------------------------------------------ against the fake device */

struct fe_case {
	const char *name;
	struct vvfe_opts o;
	struct fakedev_opts f;
	bool expect_credit_updates;
};

static void run_echo(const struct fe_case *c, uint64_t total)
{
	struct fakedev *fd = fakedev_start(&c->f);
	struct vvfe_opts o = c->o;
	struct vvfe_pattern pat;
	struct vvfe_stream *s;
	struct vvfe_dev *d;
	uint8_t buf[20000];
	uint64_t sent = 0, got = 0;
	int rx, tx;

	assert_non_null(fd);
	o.socket_path = fakedev_path(fd);
	d = vvfe_dev_create(&o);
	assert_non_null(d);
	assert_int_equal(vvfe_dev_cid(d), c->f.cid);
	assert_true(vvfe_dev_features(d) & (1ull << VIRTIO_F_VERSION_1));
	assert_int_equal(!!(vvfe_dev_features(d) & (1ull << VIRTIO_RING_F_EVENT_IDX)),
			 !o.no_event_idx && !c->f.no_event_idx);
	/* Nobody at port 1: refused. */
	assert_int_equal(vvfe_connect(d, 1, &s), 0);
	while (vvfe_stream_state(s) == VVFE_CONNECTING)
		assert_true(vvfe_poll(d, 100) >= 0);
	assert_int_equal(vvfe_stream_state(s), VVFE_CLOSED);
	assert_int_equal(vvfe_stream_error(s), -ECONNREFUSED);
	vvfe_close(s);

	assert_int_equal(vvfe_connect(d, FAKEDEV_ECHO_PORT, &s), 0);
	while (vvfe_stream_state(s) == VVFE_CONNECTING)
		assert_true(vvfe_poll(d, 100) >= 0);
	assert_int_equal(vvfe_stream_state(s), VVFE_ESTABLISHED);
	assert_int_equal(vvfe_stream_peer_buf_alloc(s), c->f.buf_alloc);
	vvfe_pattern_init(&pat, 77);
	while (got < total) {
		if (sent < total) {
			size_t n = total - sent < sizeof(buf) ? total - sent : sizeof(buf);
			ssize_t r;

			vvfe_pattern_fill(&pat, sent, buf, n);
			r = vvfe_send(s, buf, n);
			assert_true(r > 0 || r == -EAGAIN);
			if (r > 0)
				sent += (uint64_t)r;
			/* Never more in flight than the device allowed. */
			assert_true(sent - got <= (uint64_t)c->f.buf_alloc + (o.buf_alloc ? o.buf_alloc : 262144));
		}
		ssize_t r = vvfe_recv(s, buf, sizeof(buf));
		if (r > 0) {
			assert_int_equal(vvfe_pattern_check(&pat, got, buf, (size_t)r), -1);
			got += (uint64_t)r;
		} else {
			assert_int_equal(r, -EAGAIN);
			assert_true(vvfe_poll(d, 100) >= 0);
		}
	}
	assert_int_equal(got, total);
	assert_int_equal(fakedev_violations(fd), 0);
	assert_int_equal(vvfe_dev_stats(d)->proto_errors, 0);
	/* With a small receive buffer the guest must have told the device
	 * about freed space, else the echo would have stalled. */
	if (c->expect_credit_updates)
		assert_true(vvfe_dev_stats(d)->credit_update_tx > 0);
	vvfe_close(s);
	while (vvfe_dev_nstreams(d) > 0)
		assert_true(vvfe_poll(d, 100) >= 0);
	assert_int_equal(vvfe_dev_stats(d)->close_timeouts, 0);
	/* Reboot on a new connection, same CID, and it still works. */
	assert_int_equal(vvfe_dev_reconnect(d), 0);
	assert_int_equal(vvfe_probe(d, 4242, 1000), 1);
	assert_int_equal(vvfe_dev_stop(d), 0);
	vvfe_dev_vring_bases(d, &rx, &tx);
	/* tx fully consumed; rx base is where the device stopped. */
	assert_true(tx >= 1);
	assert_true(rx >= 0);
	assert_int_equal(fakedev_sessions(fd), 2);
	vvfe_dev_free(d);
	fakedev_stop(fd);
}

static void test_echo_default(void **state)
{
	struct fe_case c = {.f = {.cid = 3, .buf_alloc = 65536}};

	(void)state;
	run_echo(&c, 3u << 20);
}

static void test_echo_old_linux(void **state)
{
	/* Header in its own rx descriptor, small buffers, no EVENT_IDX,
	 * tx payload in 4 KiB pages and header split at byte 20. */
	struct fe_case c = {
		.o = {.rx_buf_size = 1024, .rx_hdr_split = true, .no_event_idx = true,
		      .tx_seg_size = 4096, .tx_hdr_split_at = 20, .queue_size = 64},
		.f = {.cid = 1000, .buf_alloc = 32768},
	};

	(void)state;
	run_echo(&c, 1u << 20);
}

static void test_echo_spin_joined(void **state)
{
	struct fe_case c = {
		.o = {.spin = true, .tx_hdr_joined = true, .buf_alloc = 16384, .max_pkt = 8192},
		.f = {.cid = 77, .buf_alloc = 1u << 20, .no_event_idx = true},
		.expect_credit_updates = true,
	};

	(void)state;
	run_echo(&c, 2u << 20);
}

struct sink_state {
	struct vvfe_pattern pat;
	uint64_t got;
	int bad;
};

static void sink_check(struct vvfe_stream *s, const void *data, size_t len, void *arg)
{
	struct sink_state *k = arg;

	(void)s;
	if (vvfe_pattern_check(&k->pat, k->got, data, len) != -1)
		k->bad++;
	k->got += len;
}

/*
 * Zero-copy sends from a pattern region in guest memory, the echo read in
 * place by a sink, and one thread sleeping in vvfe_wait() between steps.
 */
static void test_zero_copy_sink_wait(void **state)
{
	struct fakedev_opts f = {.cid = 9, .buf_alloc = 65536};
	struct fakedev *fd = fakedev_start(&f);
	struct vvfe_opts o = {.tx_seg_size = 4096, .tx_hdr_split_at = 10};
	struct vvfe_pattern base = {.start = 0};
	struct sink_state k = {.got = 0};
	const uint64_t total = 3u << 20;
	const uint8_t *table;
	struct vvfe_stream *s;
	struct vvfe_dev *d;
	uint64_t sent = 0, copied = 0, in_place = 0;
	uint8_t *region, buf[4096];
	size_t n;

	(void)state;
	assert_non_null(fd);
	o.socket_path = fakedev_path(fd);
	d = vvfe_dev_create(&o);
	assert_non_null(d);
	table = vvfe_pattern_ptr(&base, 0, &n);
	assert_true(n >= (size_t)VVFE_PATTERN_PERIOD + VVFE_PATTERN_SLACK);
	region = vvfe_dev_mem_alloc(d, n);
	assert_non_null(region);
	assert_int_equal((uintptr_t)region % 64, 0);
	memcpy(region, table, n);
	/* The allocator refuses what guest memory cannot hold. */
	assert_null(vvfe_dev_mem_alloc(d, 1ull << 40));
	assert_int_equal(errno, ENOMEM);

	vvfe_pattern_init(&k.pat, 4242);
	assert_int_equal(vvfe_connect(d, FAKEDEV_ECHO_PORT, &s), 0);
	while (vvfe_stream_state(s) == VVFE_CONNECTING) {
		assert_int_equal(vvfe_wait(&d, 1, NULL, 0, 100), 0);
		assert_true(vvfe_poll(d, 0) >= 0);
	}
	assert_int_equal(vvfe_stream_state(s), VVFE_ESTABLISHED);
	vvfe_stream_set_sink(s, sink_check, &k);
	while (k.got + copied < total) {
		bool busy = false;
		int r;

		while (sent < total) {
			const uint8_t *p = vvfe_pattern_ptr(&k.pat, sent, &n);
			ssize_t w;

			n = n > 20000 ? 20000 : n;
			if (n > total - sent)
				n = (size_t)(total - sent);
			/* Same offset in the guest's copy of the table. */
			w = vvfe_send(s, region + (p - table), n);
			if (w == -EAGAIN)
				break;
			assert_true(w > 0);
			sent += (uint64_t)w;
			busy = true;
		}
		/* Anything buffered before the sink took over comes out here. */
		while ((n = vvfe_stream_readable(s)) > 0) {
			ssize_t got = vvfe_recv(s, buf, sizeof(buf));

			assert_true(got > 0);
			assert_int_equal(vvfe_pattern_check(&k.pat, k.got + copied, buf, (size_t)got), -1);
			copied += (uint64_t)got;
			busy = true;
		}
		r = vvfe_poll(d, 0);
		assert_true(r >= 0);
		if (!busy && r == 0)
			assert_int_equal(vvfe_wait(&d, 1, NULL, 0, 100), 0);
	}
	in_place = k.got;
	assert_int_equal(k.bad, 0);
	assert_int_equal(vvfe_dev_stats(d)->tx_zero_copy_bytes, total);
	assert_int_equal(vvfe_dev_stats(d)->rx_sink_bytes, in_place);
	assert_int_equal(in_place + copied, total);
	/* The sink did the work: nothing waited in the stream's buffer. */
	assert_true(in_place > total / 2);
	assert_int_equal(vvfe_dev_stats(d)->proto_errors, 0);
	assert_int_equal(fakedev_violations(fd), 0);
	/* Every sent byte was acknowledged by the echo device's credit. */
	assert_int_equal(vvfe_stream_unacked(s) <= 65536, 1);
	vvfe_close(s);
	while (vvfe_dev_nstreams(d) > 0)
		assert_true(vvfe_poll(d, 100) >= 0);
	{
		/* The caller's descriptors wake vvfe_wait, and only they. */
		int p[2];
		struct pollfd pf;
		uint64_t t0;

		assert_int_equal(pipe(p), 0);
		pf = (struct pollfd){.fd = p[0], .events = POLLIN};
		t0 = vvfe_now_ns();
		assert_int_equal(vvfe_wait(&d, 1, &pf, 1, 30), 0);
		assert_int_equal(pf.revents, 0);
		assert_true(vvfe_now_ns() - t0 >= 20u * 1000000u);
		assert_int_equal(write(p[1], "x", 1), 1);
		t0 = vvfe_now_ns();
		assert_int_equal(vvfe_wait(&d, 1, &pf, 1, 5000), 0);
		assert_true(pf.revents & POLLIN);
		assert_true(vvfe_now_ns() - t0 < 1000u * 1000000u);
		close(p[0]);
		close(p[1]);
	}
	vvfe_dev_free(d);
	fakedev_stop(fd);
}

/* A peer that is another guest: refused unless opts.siblings, then keyed
 * by its CID like any stream. */
static void test_sibling_peer(void **state)
{
	struct fakedev_opts f = {.cid = 5, .buf_alloc = 65536, .peer_cid = 77};
	struct fakedev *fd = fakedev_start(&f);
	struct vvfe_opts o = {.vsock_connect_timeout_ms = 200};
	struct vvfe_pattern pat;
	struct vvfe_stream *s;
	struct vvfe_dev *d;
	uint8_t buf[8192], back[8192];
	size_t got = 0;

	(void)state;
	assert_non_null(fd);
	o.socket_path = fakedev_path(fd);
	d = vvfe_dev_create(&o);
	assert_non_null(d);
	/* Reserved CIDs and our own are no peers. */
	assert_int_equal(vvfe_connect_cid(d, 1, FAKEDEV_ECHO_PORT, &s), -EINVAL);
	assert_int_equal(vvfe_connect_cid(d, 5, FAKEDEV_ECHO_PORT, &s), -EINVAL);
	/* Without opts.siblings the other guest's answer is a protocol
	 * error and the connect times out. */
	assert_int_equal(vvfe_connect_cid(d, 77, FAKEDEV_ECHO_PORT, &s), 0);
	while (vvfe_stream_state(s) == VVFE_CONNECTING)
		assert_true(vvfe_poll(d, 50) >= 0);
	assert_int_equal(vvfe_stream_error(s), -ETIMEDOUT);
	assert_true(vvfe_dev_stats(d)->proto_errors > 0);
	vvfe_close(s);
	vvfe_dev_free(d);

	o.siblings = true;
	d = vvfe_dev_create(&o);
	assert_non_null(d);
	assert_int_equal(vvfe_connect_cid(d, 77, FAKEDEV_ECHO_PORT, &s), 0);
	while (vvfe_stream_state(s) == VVFE_CONNECTING)
		assert_true(vvfe_poll(d, 50) >= 0);
	assert_int_equal(vvfe_stream_state(s), VVFE_ESTABLISHED);
	assert_int_equal(vvfe_stream_peer_cid(s), 77);
	vvfe_pattern_init(&pat, 5);
	vvfe_pattern_fill(&pat, 0, buf, sizeof(buf));
	assert_int_equal(vvfe_send(s, buf, sizeof(buf)), sizeof(buf));
	while (got < sizeof(back)) {
		ssize_t r = vvfe_recv(s, back + got, sizeof(back) - got);

		if (r > 0)
			got += (size_t)r;
		else
			assert_true(vvfe_poll(d, 50) >= 0);
	}
	assert_memory_equal(buf, back, sizeof(buf));
	assert_int_equal(vvfe_dev_stats(d)->proto_errors, 0);
	/* The host CID on the same ports is another flow: nobody there. */
	assert_int_equal(vvfe_connect(d, FAKEDEV_ECHO_PORT, &s), 0);
	while (vvfe_stream_state(s) == VVFE_CONNECTING)
		assert_true(vvfe_poll(d, 50) >= 0);
	assert_int_equal(vvfe_stream_error(s), -ETIMEDOUT);
	vvfe_close(s);
	vvfe_dev_free(d);
	fakedev_stop(fd);
}

static void test_bad_config(void **state)
{
	struct fakedev_opts f = {.cid = 2, .buf_alloc = 4096};
	struct fakedev *fd = fakedev_start(&f);
	struct vvfe_opts o = {.connect_timeout_ms = 200};

	(void)state;
	assert_non_null(fd);
	o.socket_path = fakedev_path(fd);
	/* CID 2 is the host's: a guest may not have it. */
	assert_null(vvfe_dev_create(&o));
	assert_int_equal(errno, EPROTO);
	fakedev_stop(fd);
	o.socket_path = "/nonexistent/vvfe.sock";
	assert_null(vvfe_dev_create(&o));
	assert_int_equal(errno, ENOENT);
	o.socket_path = "x";
	o.queue_size = 100;
	assert_null(vvfe_dev_create(&o));
	assert_int_equal(errno, EINVAL);
}

/* Message size i of the SEQPACKET echo: 1 byte up to a bit over 60 KB,
 * across the 4 KiB rx buffers and 16 KiB packets. */
static size_t seq_size(unsigned int i)
{
	static const size_t ladder[] = { 1, 2, 44, 4095, 4096, 4097, 16383, 16384, 16385, 60000 };

	return i < 10 ? ladder[i] : 1 + (i * 7919u) % 60000;
}

/*
 * SEQPACKET against an echo device: every message comes back whole, with
 * its length and bytes, EOR where it was sent with one; a message larger
 * than the device's buffer is refused (EMSGSIZE), a reader's buffer
 * smaller than a message truncates it and leaves the next one whole, the
 * stream calls are refused on a SEQPACKET stream.
 */
static void test_seqpacket_echo(void **state)
{
	struct fakedev_opts f = {.cid = 5, .buf_alloc = 65536, .seqpacket = true};
	struct fakedev *fd = fakedev_start(&f);
	struct vvfe_opts o = {.max_pkt = 16384};
	static uint8_t tx[65536], rx[65537];
	const unsigned int n_msgs = 200;
	unsigned int i_tx = 0, i_rx = 0;
	uint64_t off_tx = 0, off_rx = 0;
	size_t done = 0;
	struct vvfe_pattern pat;
	struct vvfe_stream *s;
	struct vvfe_dev *d;
	bool eor;
	ssize_t r;

	(void)state;
	assert_non_null(fd);
	o.socket_path = fakedev_path(fd);
	d = vvfe_dev_create(&o);
	assert_non_null(d);
	assert_true(vvfe_dev_features(d) & (1ull << VIRTIO_VSOCK_F_SEQPACKET));
	assert_int_equal(vvfe_connect_type(d, VVFE_HOST_CID, FAKEDEV_ECHO_PORT, 9, &s), -EINVAL);
	assert_int_equal(vvfe_connect_type(d, VVFE_HOST_CID, FAKEDEV_ECHO_PORT,
					   VIRTIO_VSOCK_TYPE_SEQPACKET, &s), 0);
	while (vvfe_stream_state(s) == VVFE_CONNECTING)
		assert_true(vvfe_poll(d, 100) >= 0);
	assert_int_equal(vvfe_stream_state(s), VVFE_ESTABLISHED);
	assert_int_equal(vvfe_stream_type(s), VIRTIO_VSOCK_TYPE_SEQPACKET);
	assert_int_equal(vvfe_send(s, tx, 1), -EINVAL);
	assert_int_equal(vvfe_recv(s, rx, 1), -EINVAL);
	assert_int_equal(vvfe_send_msg(s, tx, 65537, false), -EMSGSIZE);
	assert_int_equal(vvfe_recv_msg(s, rx, sizeof(rx), NULL), -EAGAIN);

	vvfe_pattern_init(&pat, 99);
	while (i_rx < n_msgs) {
		bool busy = false;

		if (i_tx < n_msgs) {
			size_t len = seq_size(i_tx);

			if (done == 0)
				vvfe_pattern_fill(&pat, off_tx, tx, len);
			r = vvfe_send_msg(s, tx + done, len - done, i_tx % 3 == 0);
			assert_true(r > 0 || r == -EAGAIN);
			if (r > 0) {
				done += (size_t)r;
				busy = true;
			}
			if (done == len) {
				off_tx += len;
				i_tx++;
				done = 0;
			}
		}
		r = vvfe_recv_msg(s, rx, sizeof(rx), &eor);
		if (r > 0) {
			assert_int_equal(r, seq_size(i_rx));
			assert_int_equal(vvfe_pattern_check(&pat, off_rx, rx, (size_t)r), -1);
			assert_int_equal(eor, i_rx % 3 == 0);
			off_rx += (uint64_t)r;
			i_rx++;
			busy = true;
		} else {
			assert_int_equal(r, -EAGAIN);
		}
		if (!busy)
			assert_true(vvfe_poll(d, 100) >= 0);
	}
	/* A short read buffer: the message's length, its first bytes, and the
	 * next message is still whole. */
	vvfe_pattern_fill(&pat, 0, tx, 5000);
	while ((r = vvfe_send_msg(s, tx, 5000, false)) == -EAGAIN)
		assert_true(vvfe_poll(d, 100) >= 0);
	assert_int_equal(r, 5000);
	while ((r = vvfe_send_msg(s, tx, 3, true)) == -EAGAIN)
		assert_true(vvfe_poll(d, 100) >= 0);
	assert_int_equal(r, 3);
	while ((r = vvfe_recv_msg(s, rx, 10, &eor)) == -EAGAIN)
		assert_true(vvfe_poll(d, 100) >= 0);
	assert_int_equal(r, 5000);
	assert_memory_equal(rx, tx, 10);
	assert_false(eor);
	while ((r = vvfe_recv_msg(s, rx, sizeof(rx), &eor)) == -EAGAIN)
		assert_true(vvfe_poll(d, 100) >= 0);
	assert_int_equal(r, 3);
	assert_memory_equal(rx, tx, 3);
	assert_true(eor);

	assert_int_equal(fakedev_violations(fd), 0);
	assert_int_equal(vvfe_dev_stats(d)->proto_errors, 0);
	vvfe_close(s);
	while (vvfe_dev_nstreams(d) > 0)
		assert_true(vvfe_poll(d, 100) >= 0);
	vvfe_dev_free(d);
	fakedev_stop(fd);
}

/* A device without SEQPACKET, or a guest that does not want it. */
static void test_seqpacket_not_negotiated(void **state)
{
	struct fakedev_opts f = {.cid = 5, .buf_alloc = 65536};
	struct fakedev_opts fs = {.cid = 5, .buf_alloc = 65536, .seqpacket = true};
	struct fakedev *fd = fakedev_start(&f), *fd2 = fakedev_start(&fs);
	struct vvfe_opts o = {0}, o2 = {.no_seqpacket = true};
	struct vvfe_stream *s;
	struct vvfe_dev *d, *d2;

	(void)state;
	assert_non_null(fd);
	assert_non_null(fd2);
	o.socket_path = fakedev_path(fd);
	o2.socket_path = fakedev_path(fd2);
	d = vvfe_dev_create(&o);
	d2 = vvfe_dev_create(&o2);
	assert_non_null(d);
	assert_non_null(d2);
	assert_false(vvfe_dev_features(d) & (1ull << VIRTIO_VSOCK_F_SEQPACKET));
	assert_false(vvfe_dev_features(d2) & (1ull << VIRTIO_VSOCK_F_SEQPACKET));
	assert_int_equal(vvfe_connect_type(d, VVFE_HOST_CID, FAKEDEV_ECHO_PORT,
					   VIRTIO_VSOCK_TYPE_SEQPACKET, &s), -EOPNOTSUPP);
	assert_int_equal(vvfe_listen_type(d2, 99, VIRTIO_VSOCK_TYPE_SEQPACKET), -EOPNOTSUPP);
	assert_int_equal(vvfe_listen_type(d2, 99, VIRTIO_VSOCK_TYPE_STREAM), 0);
	vvfe_dev_free(d);
	vvfe_dev_free(d2);
	fakedev_stop(fd);
	fakedev_stop(fd2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_codec),
		cmocka_unit_test(test_credit),
		cmocka_unit_test(test_need_event),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_ring_wrap),
		cmocka_unit_test(test_ring_no_event_idx),
		cmocka_unit_test(test_seqpacket_echo),
		cmocka_unit_test(test_seqpacket_not_negotiated),
		cmocka_unit_test(test_ring_bad_used),
		cmocka_unit_test(test_ring_packed),
		cmocka_unit_test(test_ring_packed_bad_used),
		cmocka_unit_test(test_pattern),
		cmocka_unit_test(test_lat),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_echo_default),
		cmocka_unit_test(test_echo_old_linux),
		cmocka_unit_test(test_echo_spin_joined),
		cmocka_unit_test(test_zero_copy_sink_wait),
		cmocka_unit_test(test_sibling_peer),
		cmocka_unit_test(test_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
