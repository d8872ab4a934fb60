/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VM-to-VM streams: three devices on one CID table, each with its own
 * fake guest, polled in turn on one thread the way one lcore would.
 *
 *   A (cid 3, group x) <-> B (cid 4, group x)      C (cid 5, group y)
 *
 * Packets between A and B must arrive unchanged except hdr.len when a
 * payload is split over several of the receiver's buffers (and a message's
 * EOM/EOR, which only its last piece keeps); a receiver with
 * no buffer holds the sender's packet in the sender's tx ring; a VM going
 * away resets its streams in the other guest.
 *
 * A device with peers lends its first 32 rx buffers to them (lib/route
 * LEND_TARGET), so a guest that must also get packets from the device
 * itself (RSTs, host traffic) posts more than 32.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vsock_env.h"

#define CID_A 3u
#define CID_B 4u
#define CID_C 5u
#define PA 1000u        /* A's ports */
#define PB 7000u        /* the port B listens on */
#define PC 1500u        /* C's port */
#define HPORT 5000u     /* a host app's port */
#define RXBUF (4096u + VG_HDR_SIZE)  /* Linux's rx buffer */
#define PIECE 4096u                  /* payload per RXBUF */
#define SMALL 300u      /* buffers to be lent, or for RSTs; 36 fit the rx zone */
#define LEND 32u        /* buffers a device with peers keeps lent */
#define BIG 60000u

struct fx {
	struct vv_route *r;
	struct env *a, *b, *c;
};

static int setup(void **state)
{
	static const char gx[][64] = { "x" };
	static const char gy[][64] = { "y" };
	struct fx *f = calloc(1, sizeof(*f));
	struct env_opts o = { 0 };

	assert_non_null(f);
	f->r = vv_route_create(3, NULL);
	assert_non_null(f->r);
	/* Added out of CID order: the table keeps itself sorted. */
	assert_non_null(vv_route_add(f->r, CID_C, gy, 1));
	assert_non_null(vv_route_add(f->r, CID_B, gx, 1));
	assert_non_null(vv_route_add(f->r, CID_A, gx, 1));
	o.route = f->r;
	o.cid = CID_A;
	f->a = env_new(&o);
	o.cid = CID_B;
	f->b = env_new(&o);
	o.cid = CID_C;
	f->c = env_new(&o);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	/* Devices first: a detach takes its lent buffers back through the table. */
	env_free(f->a);
	env_free(f->b);
	env_free(f->c);
	vv_route_free(f->r);
	free(f);
	*state = NULL;
	return 0;
}

/* One poll round of every device, in turn. */
static unsigned int round_all(struct fx *f)
{
	unsigned int w = 0;

	w += vv_vsock_poll(f->a->vs, f->a->now, true);
	w += vv_vsock_poll(f->b->vs, f->b->now, true);
	w += vv_vsock_poll(f->c->vs, f->c->now, true);
	return w;
}

static void settle_all(struct fx *f)
{
	unsigned int i, idle = 0;

	for (i = 0; i < 64; i++) {
		idle = round_all(f) == 0 ? idle + 1 : 0;
		if (idle == 2)
			return;
	}
	fail_msg("devices still busy after 64 poll rounds");
}

/* A header from e's guest to dst_cid, with credit fields that show whether
 * anything on the way rewrote them. */
static void mk_hdr(struct virtio_vsock_hdr *h, const struct env *e, uint64_t dst_cid, uint16_t op,
		   uint32_t sport, uint32_t dport, uint32_t len)
{
	vg_hdr_init(h, e->g, op, sport, dport);
	h->dst_cid = dst_cid;
	h->len = len;
	h->buf_alloc = 0x30000u + (uint32_t)e->cid;
	h->fwd_cnt = 0x1234u * (uint32_t)e->cid;
}

static void send_op(struct env *e, uint64_t dst_cid, uint16_t op, uint32_t sport,
		    uint32_t dport)
{
	struct virtio_vsock_hdr h;

	mk_hdr(&h, e, dst_cid, op, sport, dport, 0);
	vg_send(e->g, &h, NULL);
}

/* RW of len pattern bytes (seed) from e's guest. */
static void send_rw(struct env *e, uint64_t dst_cid, uint32_t sport, uint32_t dport,
		    uint32_t seed, uint32_t len, struct virtio_vsock_hdr *out)
{
	static uint8_t buf[BIG];
	struct virtio_vsock_hdr h;

	assert_true(len <= sizeof(buf));
	pattern_fill(buf, seed, 0, len);
	mk_hdr(&h, e, dst_cid, VIRTIO_VSOCK_OP_RW, sport, dport, len);
	vg_send(e->g, &h, buf);
	if (out != NULL)
		*out = h;
}

static void pop(struct env *e, struct vg_pkt *p)
{
	if (!vg_recv(e->g, p))
		fail_msg("cid %" PRIu64 ": no packet in the rx ring", e->cid);
	assert_false(p->overrun);
	assert_true(p->has_hdr);
	assert_int_equal(p->used_len, VG_HDR_SIZE + p->hdr.len);
}

static void expect_no_rx(struct env *e)
{
	struct vg_pkt p;

	if (vg_recv(e->g, &p))
		fail_msg("cid %" PRIu64 ": unexpected rx packet: op %u %" PRIu64 ":%u -> %" PRIu64
			 ":%u len %u", e->cid, p.hdr.op, p.hdr.src_cid, p.hdr.src_port,
			 p.hdr.dst_cid, p.hdr.dst_port, p.hdr.len);
}

/* p is h as its sender wrote it, every field, except len. */
static void expect_same(const struct vg_pkt *p, const struct virtio_vsock_hdr *h, uint32_t len)
{
	assert_int_equal(p->hdr.src_cid, h->src_cid);
	assert_int_equal(p->hdr.dst_cid, h->dst_cid);
	assert_int_equal(p->hdr.src_port, h->src_port);
	assert_int_equal(p->hdr.dst_port, h->dst_port);
	assert_int_equal(p->hdr.len, len);
	assert_int_equal(p->hdr.type, h->type);
	assert_int_equal(p->hdr.op, h->op);
	assert_int_equal(p->hdr.flags, h->flags);
	assert_int_equal(p->hdr.buf_alloc, h->buf_alloc);
	assert_int_equal(p->hdr.fwd_cnt, h->fwd_cnt);
}

static void pop_same(struct env *e, const struct virtio_vsock_hdr *h)
{
	struct vg_pkt p;

	pop(e, &p);
	expect_same(&p, h, h->op == VIRTIO_VSOCK_OP_RW ? h->len : 0);
}

/* An RST the device made: no credit, no flags, stream type. */
static void expect_rst(const struct vg_pkt *p, uint64_t src_cid, uint64_t dst_cid,
		       uint32_t sport, uint32_t dport)
{
	assert_int_equal(p->hdr.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(p->hdr.src_cid, src_cid);
	assert_int_equal(p->hdr.dst_cid, dst_cid);
	assert_int_equal(p->hdr.src_port, sport);
	assert_int_equal(p->hdr.dst_port, dport);
	assert_int_equal(p->hdr.type, VIRTIO_VSOCK_TYPE_STREAM);
	assert_int_equal(p->hdr.len, 0);
	assert_int_equal(p->hdr.flags, 0);
	assert_int_equal(p->hdr.buf_alloc, 0);
	assert_int_equal(p->hdr.fwd_cnt, 0);
}

static void pop_rst(struct env *e, uint64_t src_cid, uint32_t sport, uint32_t dport)
{
	struct vg_pkt p;

	pop(e, &p);
	expect_rst(&p, src_cid, e->cid, sport, dport);
}

/* Take the pieces of RW h that reached e, from payload byte *got on, up to
 * its end: each piece is h with its own len, the bytes continue the pattern. */
static unsigned int pop_pieces(struct env *e, const struct virtio_vsock_hdr *h, uint32_t seed,
			       uint32_t piece_max, uint32_t *got)
{
	unsigned int n = 0;
	struct vg_pkt p;

	while (*got < h->len && vg_rx_pending(e->g) > 0) {
		uint32_t want = h->len - *got < piece_max ? h->len - *got : piece_max;

		pop(e, &p);
		expect_same(&p, h, want);
		if (!pattern_check(p.data, seed, *got, want))
			fail_msg("piece at %u: payload differs", *got);
		*got += want;
		n++;
	}
	return n;
}

static void expect_no_drops(const struct env *e)
{
	static const struct vv_vsock_stats zero;

	expect_drops(&zero, vv_vsock_stats(e->vs), 0, 0);
}

/* A:PA <-> B:port through REQUEST and RESPONSE; both guests must have a
 * lent buffer for it. */
static void open_ab(struct fx *f, uint32_t aport, uint32_t bport)
{
	struct virtio_vsock_hdr h;

	mk_hdr(&h, f->a, CID_B, VIRTIO_VSOCK_OP_REQUEST, aport, bport, 0);
	vg_send(f->a->g, &h, NULL);
	settle_all(f);
	pop_same(f->b, &h);
	mk_hdr(&h, f->b, CID_A, VIRTIO_VSOCK_OP_RESPONSE, bport, aport, 0);
	vg_send(f->b->g, &h, NULL);
	settle_all(f);
	pop_same(f->a, &h);
}

static void test_pass_through(void **state)
{
	struct fx *f = *state;
	const struct vv_vsock_stats *sa = vv_vsock_stats(f->a->vs);
	const struct vv_vsock_stats *sb = vv_vsock_stats(f->b->vs);
	static const uint32_t sizes[] = { 100, 4000 };
	struct virtio_vsock_hdr h;
	uint16_t a_tx;
	uint32_t got;
	unsigned int i, pieces = 0;

	/* Seven Linux-sized buffers are all the rx zone holds at once. */
	vg_post_rx_n(f->b->g, 7, RXBUF);
	vg_post_rx_n(f->a->g, 2, SMALL);
	settle_all(f);
	expect_no_rx(f->a);
	expect_no_rx(f->b);

	/* REQUEST with odd flags and credit: all of it reaches B as written. */
	mk_hdr(&h, f->a, CID_B, VIRTIO_VSOCK_OP_REQUEST, PA, PB, 0);
	h.flags = 0xa5u;
	h.buf_alloc = 0x12345u;
	h.fwd_cnt = 0xfedcba98u;
	a_tx = vg_tx_used(f->a->g);
	vg_send(f->a->g, &h, NULL);
	settle_all(f);
	pop_same(f->b, &h);
	expect_no_rx(f->b);
	assert_int_equal(vg_tx_used(f->a->g), (uint16_t)(a_tx + 1));

	mk_hdr(&h, f->b, CID_A, VIRTIO_VSOCK_OP_RESPONSE, PB, PA, 0);
	h.buf_alloc = 0x2345u;
	h.fwd_cnt = 7;
	vg_send(f->b->g, &h, NULL);
	settle_all(f);
	pop_same(f->a, &h);
	expect_no_rx(f->a);

	/* Payloads that fit one of B's buffers. */
	for (i = 0; i < 2; i++) {
		send_rw(f->a, CID_B, PA, PB, i + 1, sizes[i], &h);
		settle_all(f);
		got = 0;
		assert_int_equal(pop_pieces(f->b, &h, i + 1, PIECE, &got), 1);
		assert_int_equal(got, sizes[i]);
	}

	/* 60000 bytes: B has 4 buffers left, then posts 7 at a time. The
	 * packet stays in A's tx ring until its last byte is in. */
	a_tx = vg_tx_used(f->a->g);
	send_rw(f->a, CID_B, PA, PB, 9, BIG, &h);
	got = 0;
	settle_all(f);
	assert_int_equal(pop_pieces(f->b, &h, 9, PIECE, &got), 4);
	assert_int_equal(vg_tx_used(f->a->g), a_tx);
	assert_int_equal(sa->vm_stalls, 1);
	while (got < BIG) {
		uint32_t before = got;

		assert_int_equal(vg_tx_used(f->a->g), a_tx);
		vg_post_rx_n(f->b->g, 7, RXBUF);
		settle_all(f);
		pieces += pop_pieces(f->b, &h, 9, PIECE, &got);
		assert_true(got > before);
	}
	assert_int_equal(pieces, 7 + 4);
	assert_int_equal(vg_tx_used(f->a->g), (uint16_t)(a_tx + 1));
	expect_no_rx(f->a);

	assert_int_equal(sa->vm_tx_pkts, 4);
	assert_int_equal(sa->vm_tx_bytes, 100 + 4000 + BIG);
	assert_int_equal(sa->vm_stalls, 1);
	assert_int_equal(sa->vm_rx_pkts, 1);
	assert_int_equal(sa->vm_rx_bytes, 0);
	assert_int_equal(sb->vm_rx_pkts, 3 + 15);
	assert_int_equal(sb->vm_rx_bytes, 100 + 4000 + BIG);
	assert_int_equal(sb->vm_tx_pkts, 1);
	assert_int_equal(sb->vm_tx_bytes, 0);
	assert_int_equal(sb->vm_stalls, 0);
	/* Nothing of it is host traffic. */
	assert_int_equal(sa->tx_pkts, 0);
	assert_int_equal(sb->tx_pkts, 0);
	assert_int_equal(sa->conns_opened + sb->conns_opened, 0);
	expect_no_drops(f->a);
	expect_no_drops(f->b);
}

/* Split by the receiver's buffer sizes, whatever they are, and over a
 * buffer made of several descriptors. */
static void test_split_odd_buffers(void **state)
{
	struct fx *f = *state;
	static const uint32_t two[] = { 50, 1000 };
	struct virtio_vsock_hdr h;
	uint32_t got = 0, sz = 700;
	struct vg_pkt p;

	vg_post_rx(f->b->g, two, 2);          /* 1006 payload bytes */
	vg_post_rx_n(f->b->g, 1, sz);         /* 656 */
	vg_post_rx_n(f->b->g, 1, VG_HDR_SIZE + 5000); /* the rest */
	settle_all(f);
	send_rw(f->a, CID_B, PA, PB, 4, 3000, &h);
	settle_all(f);
	pop(f->b, &p);
	expect_same(&p, &h, 1006);
	assert_true(pattern_check(p.data, 4, 0, 1006));
	pop(f->b, &p);
	expect_same(&p, &h, 656);
	assert_true(pattern_check(p.data, 4, 1006, 656));
	got = 1006 + 656;
	assert_int_equal(pop_pieces(f->b, &h, 4, 5000, &got), 1);
	assert_int_equal(got, 3000);
	assert_int_equal(vv_vsock_stats(f->b->vs)->vm_rx_pkts, 3);
	assert_int_equal(vv_vsock_stats(f->b->vs)->vm_rx_bytes, 3000);
}

static void test_backpressure(void **state)
{
	struct fx *f = *state;
	const struct vv_vsock_stats *sa = vv_vsock_stats(f->a->vs);
	const struct vv_vsock_stats *sb = vv_vsock_stats(f->b->vs);
	struct virtio_vsock_hdr h[3];
	uint16_t a_tx;
	uint32_t got;
	unsigned int i;

	vg_post_rx_n(f->a->g, 2, SMALL);
	settle_all(f);
	a_tx = vg_tx_used(f->a->g);
	mk_hdr(&h[0], f->a, CID_B, VIRTIO_VSOCK_OP_REQUEST, PA, PB, 0);
	vg_send(f->a->g, &h[0], NULL);
	settle_all(f);
	assert_int_equal(vg_tx_used(f->a->g), a_tx);
	assert_int_equal(sa->vm_stalls, 1);

	/* Later packets wait behind it, not even taken from the ring. */
	send_rw(f->a, CID_B, PA, PB, 2, 100, &h[1]);
	send_rw(f->a, CID_B, PA, PB, 3, 200, &h[2]);
	for (i = 0; i < 10; i++)
		round_all(f);
	assert_int_equal(vg_tx_used(f->a->g), a_tx);
	assert_int_equal(sa->rx_pkts, 1);
	assert_int_equal(sa->vm_stalls, 1);   /* once per packet, not per round */
	assert_int_equal(sa->vm_tx_pkts, 0);
	assert_int_equal(sb->vm_rx_pkts, 0);
	expect_no_rx(f->b);
	expect_no_rx(f->a);
	expect_no_drops(f->a);
	expect_no_drops(f->b);

	vg_post_rx_n(f->b->g, 4, RXBUF);
	settle_all(f);
	pop_same(f->b, &h[0]);
	for (i = 1; i < 3; i++) {
		got = 0;
		assert_int_equal(pop_pieces(f->b, &h[i], i + 1, PIECE, &got), 1);
		assert_int_equal(got, h[i].len);
	}
	expect_no_rx(f->b);
	assert_int_equal(vg_tx_used(f->a->g), (uint16_t)(a_tx + 3));
	assert_int_equal(sa->vm_tx_pkts, 3);
	assert_int_equal(sa->vm_tx_bytes, 300);
	assert_int_equal(sb->vm_rx_pkts, 3);
	expect_no_drops(f->a);
}

static void test_no_route(void **state)
{
	struct fx *f = *state;
	const struct vv_vsock_stats *sa = vv_vsock_stats(f->a->vs);
	const struct vv_vsock_stats *sc = vv_vsock_stats(f->c->vs);
	static const struct vv_vsock_stats zero;
	uint16_t a_tx;
	unsigned int i;
	struct vg_pkt p;

	vg_post_rx_n(f->a->g, LEND + 4, SMALL);
	vg_post_rx_n(f->c->g, 1, SMALL);
	settle_all(f);
	a_tx = vg_tx_used(f->a->g);

	/* Other group: RST "from" C within A's own poll round. */
	send_op(f->a, CID_C, VIRTIO_VSOCK_OP_REQUEST, PA, PB);
	vv_vsock_poll(f->a->vs, f->a->now, true);
	pop_rst(f->a, CID_C, PB, PA);
	assert_int_equal(vg_tx_used(f->a->g), (uint16_t)(a_tx + 1));
	expect_drops(&zero, sa, VV_DROP_NO_ROUTE, 1);
	settle_all(f);
	expect_no_rx(f->c);
	assert_int_equal(sc->vm_rx_pkts, 0);

	/* Unknown CID, and A's own. */
	send_op(f->a, 99, VIRTIO_VSOCK_OP_REQUEST, PA, PB);
	vv_vsock_poll(f->a->vs, f->a->now, true);
	pop_rst(f->a, 99, PB, PA);
	send_rw(f->a, CID_A, PA, PB, 1, 10, NULL);
	vv_vsock_poll(f->a->vs, f->a->now, true);
	pop_rst(f->a, CID_A, PB, PA);
	/* An RST to nowhere is not answered. */
	send_op(f->a, 99, VIRTIO_VSOCK_OP_RST, PA, PB);
	settle_all(f);
	expect_no_rx(f->a);
	expect_drops(&zero, sa, VV_DROP_NO_ROUTE, 4);
	assert_int_equal(vg_tx_used(f->a->g), (uint16_t)(a_tx + 4));
	assert_int_equal(sa->vm_tx_pkts, 0);
	assert_int_equal(sa->vm_stalls, 0);

	/* C has no peer: its single buffer was not lent, the RST lands in it. */
	for (i = 0; i < 4; i++)
		round_all(f);
	assert_int_equal(vg_rx_pending(f->c->g), 0);
	send_op(f->c, CID_A, VIRTIO_VSOCK_OP_REQUEST, PC, PA);
	vv_vsock_poll(f->c->vs, f->c->now, true);
	pop(f->c, &p);
	expect_rst(&p, CID_A, CID_C, PA, PC);
	settle_all(f);
	expect_no_rx(f->a);
	assert_int_equal(sa->vm_rx_pkts, 0);
	expect_drops(&zero, sc, VV_DROP_NO_ROUTE, 1);
}

static void test_no_route_no_table(void **state)
{
	struct env_opts o = { .cid = CID_A };
	struct env *e = env_new(&o);
	struct vg_pkt p;

	(void)state;
	vg_post_rx_n(e->g, 1, SMALL);
	send_op(e, CID_B, VIRTIO_VSOCK_OP_REQUEST, PA, PB);
	env_settle(e);
	pop(e, &p);
	expect_rst(&p, CID_B, CID_A, PB, PA);
	assert_int_equal(vv_vsock_stats(e->vs)->drops[VV_DROP_NO_ROUTE], 1);
	env_free(e);
}

/* B's detach gives its lent buffers back to B's guest before it returns:
 * unused ones with len 0, one A had filled with what A wrote. */
static void test_detach_peer(void **state)
{
	struct fx *f = *state;
	const struct vv_vsock_stats *sa = vv_vsock_stats(f->a->vs);
	static const struct vv_vsock_stats zero;
	struct vv_virtq rxq, txq;
	unsigned int i, empty = 0, filled = 0;
	struct virtio_vsock_hdr rw;
	uint16_t b_used, a_tx;
	struct vg_pkt p;

	vg_post_rx_n(f->a->g, LEND + 4, SMALL);
	vg_post_rx_n(f->b->g, 5, RXBUF);
	settle_all(f);
	open_ab(f, PA, PB);

	/* A's RW lands in one of B's buffers; B does not poll before it goes. */
	send_rw(f->a, CID_B, PA, PB, 5, 100, &rw);
	vv_vsock_poll(f->a->vs, f->a->now, true);
	assert_int_equal(sa->vm_tx_pkts, 2);
	b_used = fg_used_idx(f->b->g->rx);
	vv_vsock_detach(f->b->vs, &rxq, &txq);
	assert_int_equal(fg_used_idx(f->b->g->rx), (uint16_t)(b_used + 4));
	assert_int_equal(rxq.used_idx, (uint16_t)(b_used + 4));
	for (i = 0; i < 4; i++) {
		assert_true(vg_recv(f->b->g, &p));
		if (p.used_len == 0) {
			empty++;
			continue;
		}
		filled++;
		assert_true(p.has_hdr);
		assert_int_equal(p.used_len, VG_HDR_SIZE + 100);
		expect_same(&p, &rw, 100);
		assert_true(pattern_check(p.data, 5, 0, 100));
	}
	assert_int_equal(empty, 3);
	assert_int_equal(filled, 1);

	/* A learns at its next round: RST "from" B for the stream. */
	vv_vsock_poll(f->a->vs, f->a->now, true);
	pop_rst(f->a, CID_B, PB, PA);
	expect_no_rx(f->a);
	assert_int_equal(sa->vm_peer_resets, 1);
	expect_no_drops(f->a);

	/* B is gone: anything to it is answered with RST at once. */
	a_tx = vg_tx_used(f->a->g);
	send_rw(f->a, CID_B, PA, PB, 6, 100, NULL);
	send_op(f->a, CID_B, VIRTIO_VSOCK_OP_REQUEST, PA + 1, PB);
	vv_vsock_poll(f->a->vs, f->a->now, true);
	pop_rst(f->a, CID_B, PB, PA);
	pop_rst(f->a, CID_B, PB, PA + 1);
	assert_int_equal(vg_tx_used(f->a->g), (uint16_t)(a_tx + 2));
	expect_drops(&zero, sa, VV_DROP_NO_ROUTE, 2);
	settle_all(f);
	expect_no_rx(f->a);
	assert_int_equal(sa->vm_peer_resets, 1);
	assert_int_equal(sa->vm_tx_pkts, 2);
}

/* A sends B a REQUEST and an RW while B lends no buffer: both stay in A's
 * tx ring (the first held). Returns A's tx used index from before. */
static uint16_t hold_a_to_b(struct fx *f)
{
	uint16_t a_tx;

	vg_post_rx_n(f->a->g, LEND + 4, SMALL);
	settle_all(f);
	a_tx = vg_tx_used(f->a->g);
	send_op(f->a, CID_B, VIRTIO_VSOCK_OP_REQUEST, PA, PB);
	send_rw(f->a, CID_B, PA, PB, 1, 100, NULL);
	settle_all(f);
	assert_int_equal(vg_tx_used(f->a->g), a_tx);
	assert_int_equal(vv_vsock_stats(f->a->vs)->vm_stalls, 1);
	return a_tx;
}

/* B went away under hold_a_to_b: both packets left A's ring, and every
 * answer is an RST of this one stream, at least one: the reap's (the stream
 * was tracked when the REQUEST was taken) and one per packet refused. */
static void expect_held_answered(struct fx *f, uint16_t a_tx)
{
	const struct vv_vsock_stats *sa = vv_vsock_stats(f->a->vs);
	unsigned int n_rst = 0;
	struct vg_pkt p;

	assert_int_equal(vg_tx_used(f->a->g), (uint16_t)(a_tx + 2));
	while (vg_recv(f->a->g, &p)) {
		assert_false(p.overrun);
		expect_rst(&p, CID_B, CID_A, PB, PA);
		n_rst++;
	}
	assert_true(n_rst >= 1);
	assert_int_equal(n_rst, sa->drops[VV_DROP_NO_ROUTE] + sa->vm_peer_resets);
	assert_int_equal(sa->vm_tx_pkts, 0);
}

/* A's packet waits for B's buffers when B goes away: it is answered, A's
 * ring moves on. */
static void test_detach_peer_while_held(void **state)
{
	struct fx *f = *state;
	uint16_t a_tx = hold_a_to_b(f), b_used;

	b_used = fg_used_idx(f->b->g->rx);
	vv_vsock_detach(f->b->vs, NULL, NULL);
	assert_int_equal(fg_used_idx(f->b->g->rx), b_used);  /* B lent nothing */
	settle_all(f);
	expect_held_answered(f, a_tx);
	expect_no_rx(f->b);
}

/* B is being removed (a reload) while its guest runs: quiesce takes it off
 * the VM-to-VM paths first. A's guest gets the RST "from" B for their stream
 * and B's guest the one "from" A; from then on neither may open anything with
 * the other, nor B's guest a stream to the host; B's lent buffers go back. */
static void test_quiesce_removed_vm(void **state)
{
	struct fx *f = *state;
	const struct vv_vsock_stats *sa = vv_vsock_stats(f->a->vs);
	const struct vv_vsock_stats *sb = vv_vsock_stats(f->b->vs);
	static const struct vv_vsock_stats zero;
	uint16_t b_used;

	vg_post_rx_n(f->a->g, LEND + 4, SMALL);
	vg_post_rx_n(f->b->g, LEND + 4, SMALL);
	settle_all(f);
	open_ab(f, PA, PB);

	/* One stream to reset in B's guest: something is owed. */
	b_used = fg_used_idx(f->b->g->rx);
	assert_true(vv_vsock_quiesce(f->b->vs) >= 1);
	settle_all(f);
	/* Its guest runs on: its lent buffers stay lent (no empty buffer comes
	 * back), the RST comes in a buffer of its own. */
	pop_rst(f->b, CID_A, PA, PB);
	assert_int_equal(fg_used_idx(f->b->g->rx), (uint16_t)(b_used + 1));
	expect_no_rx(f->b);
	pop_rst(f->a, CID_B, PB, PA);
	expect_no_rx(f->a);
	assert_int_equal(sa->vm_peer_resets, 1);
	assert_int_equal(sb->vm_peer_resets, 1);
	assert_int_equal(vv_vsock_resets_pending(f->b->vs), 0);

	/* Nothing new between them, nor from B to the host. */
	send_op(f->a, CID_B, VIRTIO_VSOCK_OP_REQUEST, PA + 1, PB);
	send_op(f->b, CID_A, VIRTIO_VSOCK_OP_REQUEST, PB + 1, PA);
	send_op(f->b, VV_VSOCK_HOST_CID, VIRTIO_VSOCK_OP_REQUEST, PB + 2, HPORT);
	settle_all(f);
	pop_rst(f->a, CID_B, PB, PA + 1);
	pop_rst(f->b, CID_A, PA, PB + 1);
	pop_rst(f->b, VV_VSOCK_HOST_CID, HPORT, PB + 2);
	expect_no_rx(f->a);
	expect_no_rx(f->b);
	expect_drops(&zero, sa, VV_DROP_NO_ROUTE, 1);
	expect_drops(&zero, sb, VV_DROP_NO_ROUTE, 1);
	assert_int_equal(sb->host_conn_refused, 1);
	assert_int_equal(sb->conns_open, 0);
	assert_int_equal(sa->vm_tx_pkts, 1); /* the REQUEST before: none after */
	assert_int_equal(sb->vm_tx_pkts, 1);

	/* Its driver stops (the front-end is disconnected): the lent
	 * buffers come home then. */
	b_used = fg_used_idx(f->b->g->rx);
	vv_vsock_detach(f->b->vs, NULL, NULL);
	assert_int_equal(fg_used_idx(f->b->g->rx), (uint16_t)(b_used + LEND));
}

/* A holds a packet for B (B lent no buffer) when a reload removes B: its
 * endpoint leaves the table and is freed. A's next rounds find no B by its
 * CID (never the freed endpoint): the held packet and the stream get RST. */
static void test_removed_peer_while_held(void **state)
{
	struct fx *f = *state;
	struct vv_route_port *pb = vv_route_lookup(f->r, CID_B);
	uint16_t a_tx = hold_a_to_b(f);
	unsigned int i;

	/* What lib/worker does to remove B, with A's lcore between rounds. */
	vv_vsock_quiesce(f->b->vs);
	vv_vsock_detach(f->b->vs, NULL, NULL);
	env_free(f->b);
	f->b = NULL;
	assert_int_equal(vv_route_remove(f->r, pb), 0);
	assert_null(vv_route_lookup(f->r, CID_B));

	for (i = 0; i < 8; i++)
		vv_vsock_poll(f->a->vs, f->a->now, true);
	expect_held_answered(f, a_tx);

	/* A CID nobody has any more: RST at once. */
	send_op(f->a, CID_B, VIRTIO_VSOCK_OP_REQUEST, PA + 1, PB);
	vv_vsock_poll(f->a->vs, f->a->now, true);
	pop_rst(f->a, CID_B, PB, PA + 1);
	expect_no_rx(f->a);
}

/* B goes away in the middle of A's 20000-byte packet. */
static void test_detach_peer_mid_packet(void **state)
{
	struct fx *f = *state;
	const struct vv_vsock_stats *sa = vv_vsock_stats(f->a->vs);
	struct virtio_vsock_hdr h;
	uint16_t a_tx;
	uint32_t got = 0;

	vg_post_rx_n(f->a->g, LEND + 4, SMALL);
	vg_post_rx_n(f->b->g, 2, RXBUF);
	settle_all(f);
	a_tx = vg_tx_used(f->a->g);
	send_rw(f->a, CID_B, PA, PB, 7, 20000, &h);
	settle_all(f);
	assert_int_equal(pop_pieces(f->b, &h, 7, PIECE, &got), 2);
	assert_int_equal(vg_tx_used(f->a->g), a_tx);

	vv_vsock_detach(f->b->vs, NULL, NULL);
	settle_all(f);
	assert_int_equal(vg_tx_used(f->a->g), (uint16_t)(a_tx + 1));
	pop_rst(f->a, CID_B, PB, PA);
	expect_no_rx(f->a);
	assert_int_equal(sa->drops[VV_DROP_NO_ROUTE], 1);
	assert_int_equal(sa->vm_tx_pkts, 0);
	expect_no_rx(f->b);
}

/* The VM that goes away is the one holding a packet: its tx chain comes
 * back to its guest before detach returns, and nothing of it is left for
 * the peer. */
static void test_detach_while_holding(void **state)
{
	struct fx *f = *state;
	const struct vv_vsock_stats *sb = vv_vsock_stats(f->b->vs);
	uint16_t b_tx, b_used;
	struct vg_pkt p;

	vg_post_rx_n(f->b->g, LEND, SMALL);
	settle_all(f);
	b_tx = vg_tx_used(f->b->g);
	send_op(f->b, CID_A, VIRTIO_VSOCK_OP_REQUEST, PB, PA);
	settle_all(f);
	assert_int_equal(vg_tx_used(f->b->g), b_tx);
	assert_int_equal(sb->vm_stalls, 1);

	b_used = fg_used_idx(f->b->g->rx);
	vv_vsock_detach(f->b->vs, NULL, NULL);
	assert_int_equal(vg_tx_used(f->b->g), (uint16_t)(b_tx + 1));
	assert_int_equal(fg_used_idx(f->b->g->rx), (uint16_t)(b_used + LEND));
	while (vg_recv(f->b->g, &p))
		assert_int_equal(p.used_len, 0);

	vg_post_rx_n(f->a->g, LEND + 2, SMALL);
	settle_all(f);
	expect_no_rx(f->a);
	assert_int_equal(vv_vsock_stats(f->a->vs)->vm_rx_pkts, 0);
	assert_int_equal(sb->vm_tx_pkts, 0);
}

/* A goes away after its REQUEST reached B, before B answered: B's guest
 * gets the RST (B's device tracked the stream on receipt). */
static void test_detach_requester(void **state)
{
	struct fx *f = *state;
	struct virtio_vsock_hdr h;

	vg_post_rx_n(f->b->g, LEND + 2, SMALL);
	settle_all(f);
	mk_hdr(&h, f->a, CID_B, VIRTIO_VSOCK_OP_REQUEST, PA, PB, 0);
	vg_send(f->a->g, &h, NULL);
	settle_all(f);
	pop_same(f->b, &h);
	vv_vsock_detach(f->a->vs, NULL, NULL);
	settle_all(f);
	pop_rst(f->b, CID_A, PA, PB);
	expect_no_rx(f->b);
	assert_int_equal(vv_vsock_stats(f->b->vs)->vm_peer_resets, 1);
}

/* B detaches and comes back on the same rings before A has polled: the
 * old stream is reset all the same (B's generation moved), new streams
 * work, and B's device does not remember the old one. */
static void test_reattach_same_rings(void **state)
{
	struct fx *f = *state;
	const struct vv_vsock_stats *sa = vv_vsock_stats(f->a->vs);
	const struct vv_vsock_stats *sb = vv_vsock_stats(f->b->vs);
	struct vv_virtq rxq, txq;
	struct virtio_vsock_hdr h;
	uint32_t got;
	struct vg_pkt p;
	unsigned int i;

	vg_post_rx_n(f->a->g, LEND + 4, SMALL);
	vg_post_rx_n(f->b->g, 5, RXBUF);
	settle_all(f);
	open_ab(f, PA, PB);
	vv_vsock_detach(f->b->vs, &rxq, &txq);
	for (i = 0; i < 4; i++) {
		assert_true(vg_recv(f->b->g, &p));
		assert_int_equal(p.used_len, 0);
	}
	assert_int_equal(vv_vsock_attach(f->b->vs, f->b->features, vg_mem(f->b->g), &rxq, &txq), 0);

	vg_post_rx_n(f->b->g, LEND + 4, SMALL);
	settle_all(f);
	pop_rst(f->a, CID_B, PB, PA);
	expect_no_rx(f->a);
	assert_int_equal(sa->vm_peer_resets, 1);

	/* A new stream, data both ways. */
	open_ab(f, PA + 1, PB);
	send_rw(f->a, CID_B, PA + 1, PB, 3, 200, &h);
	settle_all(f);
	got = 0;
	assert_int_equal(pop_pieces(f->b, &h, 3, SMALL - VG_HDR_SIZE, &got), 1);
	send_rw(f->b, CID_A, PB, PA + 1, 4, 250, &h);
	settle_all(f);
	got = 0;
	assert_int_equal(pop_pieces(f->a, &h, 4, SMALL - VG_HDR_SIZE, &got), 1);

	/* A's guest still writes on the old stream: the device carries it
	 * (B's guest answers it), it does not start tracking it again. */
	send_rw(f->a, CID_B, PA, PB, 5, 20, &h);
	settle_all(f);
	pop_same(f->b, &h);
	expect_no_rx(f->b);

	/* A goes away: B's guest hears of the new stream only. */
	vv_vsock_detach(f->a->vs, NULL, NULL);
	settle_all(f);
	pop_rst(f->b, CID_A, PA + 1, PB);
	expect_no_rx(f->b);
	assert_int_equal(sb->vm_peer_resets, 1);
}

/* B comes back with a different guest memory and ring sizes. */
static void test_reattach_new_rings(void **state)
{
	struct fx *f = *state;
	const struct vv_vsock_stats *sa = vv_vsock_stats(f->a->vs);
	struct virtio_vsock_hdr h;
	uint32_t got;

	vg_post_rx_n(f->a->g, LEND + 4, SMALL);
	vg_post_rx_n(f->b->g, 5, RXBUF);
	settle_all(f);
	open_ab(f, PA, PB);
	vv_vsock_detach(f->b->vs, NULL, NULL);
	vg_free(f->b->g);
	f->b->g = vg_new(CID_B, 64, 128, 65500, 40000);
	assert_non_null(f->b->g);
	assert_int_equal(vv_vsock_attach(f->b->vs, f->b->features, vg_mem(f->b->g), vg_rxq(f->b->g),
					 vg_txq(f->b->g)), 0);
	vg_post_rx_n(f->b->g, 6, RXBUF);
	settle_all(f);
	pop_rst(f->a, CID_B, PB, PA);
	assert_int_equal(sa->vm_peer_resets, 1);

	open_ab(f, PA + 1, PB);
	send_rw(f->a, CID_B, PA + 1, PB, 8, 3000, &h);
	settle_all(f);
	got = 0;
	assert_int_equal(pop_pieces(f->b, &h, 8, PIECE, &got), 1);
	/* The old stream, written to again, is carried but not tracked. */
	send_rw(f->a, CID_B, PA, PB, 9, 20, &h);
	settle_all(f);
	pop_same(f->b, &h);

	/* B goes away again: one RST, for the new stream. */
	vv_vsock_detach(f->b->vs, NULL, NULL);
	settle_all(f);
	pop_rst(f->a, CID_B, PB, PA + 1);
	expect_no_rx(f->a);
	assert_int_equal(sa->vm_peer_resets, 2);
}

static void test_spoofed_src(void **state)
{
	struct fx *f = *state;
	const struct vv_vsock_stats *sa = vv_vsock_stats(f->a->vs);
	const struct vv_vsock_stats *sb = vv_vsock_stats(f->b->vs);
	static const struct vv_vsock_stats zero;
	static const uint64_t fake[] = { CID_B, CID_C, VG_HOST_CID, 99 };
	struct virtio_vsock_hdr h;
	uint16_t a_tx;
	unsigned int i;

	vg_post_rx_n(f->a->g, LEND + 4, SMALL);
	vg_post_rx_n(f->b->g, 2, RXBUF);
	settle_all(f);
	a_tx = vg_tx_used(f->a->g);
	for (i = 0; i < 4; i++) {
		mk_hdr(&h, f->a, CID_B, VIRTIO_VSOCK_OP_REQUEST, PA, PB, 0);
		h.src_cid = fake[i];
		vg_send(f->a->g, &h, NULL);
	}
	settle_all(f);
	assert_int_equal(vg_tx_used(f->a->g), (uint16_t)(a_tx + 4));
	expect_drops(&zero, sa, VV_DROP_BAD_SRC_CID, 4);
	expect_no_rx(f->a);   /* not answered: the answer would go to someone else */
	expect_no_rx(f->b);
	assert_int_equal(sa->vm_tx_pkts, 0);
	assert_int_equal(sb->vm_rx_pkts, 0);

	/* B's buffers are still there for A's honest packets. */
	mk_hdr(&h, f->a, CID_B, VIRTIO_VSOCK_OP_REQUEST, PA, PB, 0);
	vg_send(f->a->g, &h, NULL);
	settle_all(f);
	pop_same(f->b, &h);
	assert_int_equal(sb->vm_rx_pkts, 1);
}

static ssize_t app_read_all(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	int tries;

	for (tries = 0; tries < 1000 && got < len; tries++) {
		ssize_t n = app_recv(fd, buf + got, len - got);

		if (n == -EAGAIN)
			continue;
		if (n <= 0)
			return n;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* B has lent its first 32 buffers and runs a host stream at the same time. */
static void test_host_and_sibling(void **state)
{
	struct fx *f = *state;
	const struct vv_vsock_stats *sb = vv_vsock_stats(f->b->vs);
	uint8_t data[500], buf[500];
	struct virtio_vsock_hdr h, from_a;
	unsigned int i, seen_host = 0, seen_a = 0;
	struct vg_pkt p;
	uint32_t got;
	int fd;

	vg_post_rx_n(f->a->g, 4, SMALL);
	vg_post_rx_n(f->b->g, LEND, 600);
	settle_all(f);
	fd = env_guest_open(f->b, 2000, HPORT);    /* its own buffer, not lent */
	open_ab(f, PA, PB);
	vg_post_rx_n(f->b->g, 4, 1024 + VG_HDR_SIZE);
	settle_all(f);

	/* Both ways on both streams at once. */
	pattern_fill(data, 10, 0, 500);
	app_send(fd, data, 500);
	send_rw(f->a, CID_B, PA, PB, 11, 500, &from_a);
	vg_hdr_init(&h, f->b->g, VIRTIO_VSOCK_OP_RW, 2000, HPORT);
	h.len = 300;
	pattern_fill(data, 12, 0, 300);
	vg_send(f->b->g, &h, data);
	send_rw(f->b, CID_A, PB, PA, 13, 200, &h);
	settle_all(f);

	for (i = 0; i < 2; i++) {
		pop(f->b, &p);
		if (p.hdr.src_cid == VG_HOST_CID) {
			/* fwd_cnt: B's 300 bytes went to the app first (tx
			 * before rx in a round). */
			expect_hdr_to(&p, CID_B, VIRTIO_VSOCK_OP_RW, HPORT, 2000, 500, 0,
				      f->b->buf_alloc, 300);
			assert_true(pattern_check(p.data, 10, 0, 500));
			seen_host++;
		} else {
			expect_same(&p, &from_a, 500);
			assert_true(pattern_check(p.data, 11, 0, 500));
			seen_a++;
		}
	}
	assert_int_equal(seen_host, 1);
	assert_int_equal(seen_a, 1);
	expect_no_rx(f->b);
	assert_int_equal(app_read_all(fd, buf, 300), 300);
	assert_true(pattern_check(buf, 12, 0, 300));
	got = 0;
	assert_int_equal(pop_pieces(f->a, &h, 13, SMALL - VG_HDR_SIZE, &got), 1);

	assert_int_equal(sb->conns_open, 1);
	assert_int_equal(sb->rx_bytes, 300);
	assert_int_equal(sb->tx_bytes, 500);
	assert_int_equal(sb->vm_rx_pkts, 2);
	assert_int_equal(sb->vm_rx_bytes, 500);
	assert_int_equal(sb->vm_tx_pkts, 2);
	assert_int_equal(sb->vm_tx_bytes, 200);
	expect_no_drops(f->b);

	/* And again: lending went on (B re-lent what A filled). */
	send_rw(f->a, CID_B, PA, PB, 14, 100, &from_a);
	settle_all(f);
	got = 0;
	assert_int_equal(pop_pieces(f->b, &from_a, 14, PIECE, &got), 1);
}

/* A memory remap pauses B: A resets its streams with B (B's generation
 * moved), so B's guest must hear of them too, or they stay half open. */
static void test_pause_resets_both_ends(void **state)
{
	struct fx *f = *state;
	const struct vv_vsock_stats *sa = vv_vsock_stats(f->a->vs);
	struct vv_virtq rxq, txq;
	struct vg_pkt p;
	unsigned int i;

	vg_post_rx_n(f->a->g, LEND + 4, SMALL);
	vg_post_rx_n(f->b->g, 5, SMALL);
	settle_all(f);
	open_ab(f, PA, PB);
	vv_vsock_pause(f->b->vs, &rxq, &txq);
	for (i = 0; i < 4; i++) {
		assert_true(vg_recv(f->b->g, &p));
		assert_int_equal(p.used_len, 0);
	}
	assert_int_equal(vv_vsock_attach(f->b->vs, f->b->features, vg_mem(f->b->g), &rxq, &txq), 0);
	vg_post_rx_n(f->b->g, LEND + 4, SMALL);
	settle_all(f);
	pop_rst(f->a, CID_B, PB, PA);
	assert_int_equal(sa->vm_peer_resets, 1);
	pop_rst(f->b, CID_A, PA, PB);
	expect_no_rx(f->b);
}

/* A goes away while B is paused: B's streams with A are reset on resume. */
static void test_pause_misses_peer_down(void **state)
{
	struct fx *f = *state;
	struct vv_virtq rxq, txq;
	struct vg_pkt p;

	vg_post_rx_n(f->a->g, 5, SMALL);
	vg_post_rx_n(f->b->g, LEND + 4, SMALL);
	settle_all(f);
	open_ab(f, PA, PB);
	vv_vsock_pause(f->b->vs, &rxq, &txq);
	while (vg_recv(f->b->g, &p))
		assert_int_equal(p.used_len, 0);
	vv_vsock_detach(f->a->vs, NULL, NULL);
	assert_int_equal(vv_vsock_attach(f->b->vs, f->b->features, vg_mem(f->b->g), &rxq, &txq), 0);
	vg_post_rx_n(f->b->g, LEND + 4, SMALL);
	settle_all(f);
	pop_rst(f->b, CID_A, PA, PB);
	expect_no_rx(f->b);
	assert_int_equal(vv_vsock_stats(f->b->vs)->vm_peer_resets, 1);
}

/* --- SEQPACKET between siblings --- */

#define SEQ VIRTIO_VSOCK_TYPE_SEQPACKET
#define MSG_END (VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR)

static void send_seq_op(struct env *e, uint64_t dst_cid, uint16_t op, uint32_t sport,
			uint32_t dport, struct virtio_vsock_hdr *out)
{
	mk_hdr(out, e, dst_cid, op, sport, dport, 0);
	out->type = SEQ;
	vg_send(e->g, out, NULL);
}

/*
 * Both guests negotiated SEQPACKET: packets pass unchanged, and a message
 * split over the receiver's buffers keeps its end (EOM, and EOR with it)
 * on the last piece only. When B goes away, A's RST has the stream's type.
 */
static void test_seqpacket_siblings(void **state)
{
	static uint8_t buf[20000];
	struct fx *f = *state;
	struct virtio_vsock_hdr h;
	uint32_t got = 0;
	struct vv_virtq rxq, txq;
	struct vg_pkt p;
	unsigned int n = 0;

	vg_post_rx_n(f->b->g, 7, RXBUF);
	vg_post_rx_n(f->a->g, LEND + 4, SMALL);
	settle_all(f);
	send_seq_op(f->a, CID_B, VIRTIO_VSOCK_OP_REQUEST, PA, PB, &h);
	settle_all(f);
	pop_same(f->b, &h);
	send_seq_op(f->b, CID_A, VIRTIO_VSOCK_OP_RESPONSE, PB, PA, &h);
	settle_all(f);
	pop_same(f->a, &h);

	pattern_fill(buf, 21, 0, sizeof(buf));
	mk_hdr(&h, f->a, CID_B, VIRTIO_VSOCK_OP_RW, PA, PB, sizeof(buf));
	h.type = SEQ;
	h.flags = MSG_END;
	vg_send(f->a->g, &h, buf);
	settle_all(f);
	while (got < sizeof(buf)) {
		uint32_t want = sizeof(buf) - got < PIECE ? sizeof(buf) - got : PIECE;
		struct virtio_vsock_hdr piece = h;

		piece.flags = got + want == sizeof(buf) ? MSG_END : 0;
		pop(f->b, &p);
		expect_same(&p, &piece, want);
		assert_true(pattern_check(p.data, 21, got, want));
		got += want;
		n++;
	}
	assert_int_equal(n, 5);
	expect_no_rx(f->b);
	/* A short message, one piece: its flags as the guest wrote them. */
	vg_post_rx_n(f->b->g, 1, RXBUF);
	mk_hdr(&h, f->b, CID_A, VIRTIO_VSOCK_OP_RW, PB, PA, 10);
	h.type = SEQ;
	h.flags = VIRTIO_VSOCK_SEQ_EOM;
	vg_send(f->b->g, &h, buf);
	settle_all(f);
	pop_same(f->a, &h);
	expect_no_drops(f->a);
	expect_no_drops(f->b);

	vv_vsock_detach(f->b->vs, &rxq, &txq);
	settle_all(f);
	pop(f->a, &p);
	assert_int_equal(p.hdr.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(p.hdr.type, SEQ);
	assert_int_equal(p.hdr.src_cid, CID_B);
	assert_int_equal(p.hdr.src_port, PB);
	assert_int_equal(p.hdr.dst_port, PA);
	expect_no_rx(f->a);
}

/* B's driver did not negotiate SEQPACKET: A's SEQPACKET packets to it get
 * RST (bad_type) and never reach B; B's own are refused the same way;
 * streams between them still pass. */
static void test_seqpacket_sibling_not_negotiated(void **state)
{
	struct fx *f = *state;
	const struct vv_vsock_stats *sa = vv_vsock_stats(f->a->vs);
	const struct vv_vsock_stats *sb = vv_vsock_stats(f->b->vs);
	struct virtio_vsock_hdr h;
	struct vv_virtq rxq, txq;
	struct vg_pkt p;

	vv_vsock_detach(f->b->vs, &rxq, &txq);
	f->b->features = 0;
	assert_int_equal(vv_vsock_attach(f->b->vs, f->b->features, vg_mem(f->b->g), &rxq, &txq), 0);
	vg_post_rx_n(f->a->g, LEND + 4, SMALL);
	vg_post_rx_n(f->b->g, LEND + 4, SMALL);
	settle_all(f);

	send_seq_op(f->a, CID_B, VIRTIO_VSOCK_OP_REQUEST, PA, PB, &h);
	settle_all(f);
	pop(f->a, &p);
	assert_int_equal(p.hdr.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(p.hdr.type, SEQ);
	assert_int_equal(p.hdr.src_cid, CID_B);
	assert_int_equal(sa->drops[VV_DROP_BAD_TYPE], 1);
	expect_no_rx(f->b);
	assert_int_equal(sb->vm_rx_pkts, 0);

	send_seq_op(f->b, CID_A, VIRTIO_VSOCK_OP_REQUEST, PB, PA, &h);
	settle_all(f);
	pop(f->b, &p);
	assert_int_equal(p.hdr.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(p.hdr.type, SEQ);
	assert_int_equal(sb->drops[VV_DROP_BAD_TYPE], 1);
	expect_no_rx(f->a);

	open_ab(f, PA + 1, PB);
	assert_int_equal(sa->drops[VV_DROP_BAD_TYPE], 1);
	assert_int_equal(sb->drops[VV_DROP_BAD_TYPE], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pass_through, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_odd_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_route, setup, teardown),
		cmocka_unit_test(test_no_route_no_table),
		cmocka_unit_test_setup_teardown(test_detach_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detach_peer_while_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detach_peer_mid_packet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiesce_removed_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_peer_while_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detach_while_holding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detach_requester, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reattach_same_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reattach_new_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spoofed_src, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_and_sibling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_resets_both_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_misses_peer_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seqpacket_siblings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seqpacket_sibling_not_negotiated, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
