/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A hostile or broken guest: spoofed and misrouted packets, unknown ops and
 * types, packets for no connection, lengths that lie, chains too short,
 * descriptors pointing anywhere, rx buffers too small, and a flood of
 * packets that each need an RST while the guest posts no rx buffer. Each is
 * counted under its own drop reason, and the device keeps serving.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "vsock_env.h"
#include "vsock_priv.h" /* RST_RING_SIZE, to size the flood */

#define GPORT 1000u
#define HPORT 5000u
#define HDR VG_HDR_SIZE
#define RXBUF (4096u + VG_HDR_SIZE)
#define DEV_BUF 65536u

/* An RST answering a packet that had no connection: addresses swapped,
 * the packet's type echoed, no credit information. */
static void expect_rst_reply(struct env *e, uint64_t src_cid, uint32_t src_port,
			     uint32_t dst_port, uint16_t type)
{
	struct vg_pkt p;

	env_pop(e, &p);
	assert_int_equal(p.hdr.src_cid, src_cid);
	assert_int_equal(p.hdr.dst_cid, ENV_CID);
	assert_int_equal(p.hdr.src_port, src_port);
	assert_int_equal(p.hdr.dst_port, dst_port);
	assert_int_equal(p.hdr.type, type);
	assert_int_equal(p.hdr.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(p.hdr.len, 0);
	assert_int_equal(p.hdr.flags, 0);
	assert_int_equal(p.hdr.buf_alloc, 0);
	assert_int_equal(p.hdr.fwd_cnt, 0);
}

/* The listener has no pending connection: the device never connected. */
static void expect_no_accept(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);

	if (fd >= 0)
		close(fd);
	assert_int_equal(fd, -1);
	assert_int_equal(errno, EAGAIN);
}

/* A stream still works end to end (on ports nothing else uses). */
static void expect_serving(struct env *e, uint32_t gport, uint32_t hport)
{
	struct vg_pkt p;
	char buf[16];
	int fd = env_guest_open(e, gport, hport);

	env_send_rw(e, gport, hport, "alive", 5);
	vg_post_rx_n(e->g, 1, RXBUF);
	app_send(fd, "well", 4);
	env_settle(e);
	assert_int_equal(app_recv(fd, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "alive", 5);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RW, hport, gport, 4, 0, e->buf_alloc, 5);
	assert_memory_equal(p.data, "well", 4);
}

static void test_spoofed_src_cid(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before = *st;
	int lfd = env_listen_port(e, HPORT);
	uint16_t used = vg_tx_used(e->g);
	struct virtio_vsock_hdr h;
	char c;
	int fd;

	vg_post_rx_n(e->g, 2, RXBUF);
	vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_REQUEST, GPORT, HPORT);
	h.src_cid = ENV_CID + 1;
	vg_send(e->g, &h, NULL);
	env_settle(e);
	/* Answering would send to another VM: nothing at all happens. */
	env_expect_no_rx(e);
	expect_no_accept(lfd);
	expect_drops(&before, st, VV_DROP_BAD_SRC_CID, 1);
	assert_int_equal(st->rx_pkts, before.rx_pkts + 1);
	assert_int_equal(st->conns_opened, 0);
	assert_int_equal(vg_tx_used(e->g), (uint16_t)(used + 1));

	/* On a live stream: a spoofed RST or RW changes nothing. */
	env_close(e, lfd);
	fd = env_guest_open(e, GPORT, HPORT);
	before = *st;
	h.op = VIRTIO_VSOCK_OP_RST;
	vg_send(e->g, &h, NULL);
	h.op = VIRTIO_VSOCK_OP_RW;
	h.len = 1;
	vg_send(e->g, &h, "x");
	env_settle(e);
	expect_drops(&before, st, VV_DROP_BAD_SRC_CID, 2);
	assert_int_equal(st->conns_open, 1);
	assert_int_equal(app_recv(fd, &c, 1), -EAGAIN);
	env_expect_no_rx(e);
}

static void test_unknown_op(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before = *st;
	struct vg_pkt p;
	int fd;

	vg_post_rx_n(e->g, 4, RXBUF);
	env_send_op(e, VIRTIO_VSOCK_OP_INVALID, GPORT, HPORT, 0, 0);
	env_send_op(e, 8, GPORT + 1, HPORT, 0, 0);
	env_send_op(e, 0xffff, GPORT + 2, HPORT, 0, 0);
	env_settle(e);
	expect_rst_reply(e, VG_HOST_CID, HPORT, GPORT, VIRTIO_VSOCK_TYPE_STREAM);
	expect_rst_reply(e, VG_HOST_CID, HPORT, GPORT + 1, VIRTIO_VSOCK_TYPE_STREAM);
	expect_rst_reply(e, VG_HOST_CID, HPORT, GPORT + 2, VIRTIO_VSOCK_TYPE_STREAM);
	env_expect_no_rx(e);
	expect_drops(&before, st, VV_DROP_BAD_OP, 3);

	/* On a live stream: it is reset. */
	fd = env_guest_open(e, GPORT, HPORT);
	before = *st;
	vg_post_rx_n(e->g, 1, RXBUF);
	env_send_op(e, 8, GPORT, HPORT, 0, 0);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, HPORT, GPORT, 0, 0, DEV_BUF, 0);
	expect_drops(&before, st, VV_DROP_BAD_OP, 1);
	app_expect_closed(fd);
	assert_int_equal(st->conns_open, 0);
}

static void test_bad_type(void **state)
{
	const struct env_opts o = { .no_seqpacket = true };
	struct env *e = env_start(state, &o);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before = *st;
	int lfd = env_listen_port(e, HPORT);
	struct virtio_vsock_hdr h;
	struct vg_pkt p;
	int fd;

	vg_post_rx_n(e->g, 3, RXBUF);
	/* SEQPACKET was not negotiated; a listener exists, but no connection.
	 * (test_vsock_seqpacket has a guest that negotiated it.) */
	vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_REQUEST, GPORT, HPORT);
	h.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
	vg_send(e->g, &h, NULL);
	h.type = 0x7777;
	h.src_port = GPORT + 1;
	vg_send(e->g, &h, NULL);
	env_settle(e);
	/* The spec says RST; its type echoes the packet's (as Linux does). */
	expect_rst_reply(e, VG_HOST_CID, HPORT, GPORT, VIRTIO_VSOCK_TYPE_SEQPACKET);
	expect_rst_reply(e, VG_HOST_CID, HPORT, GPORT + 1, 0x7777);
	env_expect_no_rx(e);
	expect_no_accept(lfd);
	expect_drops(&before, st, VV_DROP_BAD_TYPE, 2);
	assert_int_equal(st->conns_opened, 0);
	env_close(e, lfd);

	/* On a live stream's ports: the stream is reset. */
	fd = env_guest_open(e, GPORT, HPORT);
	before = *st;
	vg_post_rx_n(e->g, 1, RXBUF);
	vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_RW, GPORT, HPORT);
	h.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
	h.len = 3;
	vg_send(e->g, &h, "abc");
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, HPORT, GPORT, 0, 0, DEV_BUF, 0);
	expect_drops(&before, st, VV_DROP_BAD_TYPE, 1);
	assert_int_equal(app_recv(fd, &h, 1), 0); /* none of "abc" reached the app */
}

static void test_no_connection(void **state)
{
	static const uint16_t ops[] = {
		VIRTIO_VSOCK_OP_RESPONSE, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_OP_RW,
		VIRTIO_VSOCK_OP_CREDIT_UPDATE, VIRTIO_VSOCK_OP_CREDIT_REQUEST,
	};
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before = *st;
	unsigned int i;
	int lfd = env_listen_port(e, HPORT);

	vg_post_rx_n(e->g, 6, RXBUF);
	for (i = 0; i < 5; i++) {
		struct virtio_vsock_hdr h;

		vg_hdr_init(&h, e->g, ops[i], GPORT + i, HPORT);
		h.len = ops[i] == VIRTIO_VSOCK_OP_RW ? 4 : 0;
		vg_send(e->g, &h, "data");
	}
	env_settle(e);
	for (i = 0; i < 5; i++)
		expect_rst_reply(e, VG_HOST_CID, HPORT, GPORT + i, VIRTIO_VSOCK_TYPE_STREAM);
	env_expect_no_rx(e);
	expect_drops(&before, st, VV_DROP_NO_CONN, 5);
	assert_int_equal(st->rst_sent, 5);
	expect_no_accept(lfd);
}

static void test_rst_no_connection(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before = *st;

	vg_post_rx_n(e->g, 1, RXBUF);
	env_send_op(e, VIRTIO_VSOCK_OP_RST, GPORT, HPORT, 0, 0);
	env_settle(e);
	/* Never answer an RST: two devices would ping-pong forever. */
	env_expect_no_rx(e);
	expect_drops(&before, st, -1, 0);
	assert_int_equal(st->rst_rcvd, 1);
	assert_int_equal(st->rst_sent, 0);
}

static void test_len_beyond_chain(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before;
	uint8_t pkt[HDR + 50];
	struct virtio_vsock_hdr h;
	struct vg_pkt p;
	char c;
	int fd = env_guest_open(e, GPORT, HPORT);

	/* hdr.len says 100, the chain holds 50 payload bytes. */
	vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_RW, GPORT, HPORT);
	h.len = 100;
	vg_hdr_encode(&h, pkt);
	memset(pkt + HDR, 'z', 50);
	before = *st;
	vg_post_rx_n(e->g, 2, RXBUF);
	vg_send_bytes(e->g, pkt, sizeof(pkt), (const uint32_t[]){ 20 }, 1);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, HPORT, GPORT, 0, 0, DEV_BUF, 0);
	expect_drops(&before, st, VV_DROP_BAD_LEN, 1);
	assert_int_equal(app_recv(fd, &c, 1), 0); /* closed, not a byte delivered */
	assert_int_equal(st->rx_bytes, 0);

	/* Without a connection: RST all the same. */
	before = *st;
	h.len = UINT32_MAX;
	vg_hdr_encode(&h, pkt);
	vg_send_bytes(e->g, pkt, sizeof(pkt), NULL, 0);
	env_settle(e);
	expect_rst_reply(e, VG_HOST_CID, HPORT, GPORT, VIRTIO_VSOCK_TYPE_STREAM);
	expect_drops(&before, st, VV_DROP_BAD_LEN, 1);
}

static void test_short_chain(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before = *st;
	uint16_t used = vg_tx_used(e->g);
	uint8_t pkt[HDR];
	struct virtio_vsock_hdr h;
	int lfd = env_listen_port(e, HPORT);

	vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_REQUEST, GPORT, HPORT);
	vg_hdr_encode(&h, pkt);
	vg_post_rx_n(e->g, 1, RXBUF);
	vg_send_bytes(e->g, pkt, HDR - 1, NULL, 0);
	vg_send_bytes(e->g, pkt, HDR - 1, (const uint32_t[]){ 20, 3 }, 2);
	vg_send_bytes(e->g, pkt, 0, NULL, 0);
	env_settle(e);
	env_expect_no_rx(e);
	expect_no_accept(lfd);
	expect_drops(&before, st, VV_DROP_SHORT_HDR, 3);
	assert_int_equal(st->rx_pkts, 0);
	/* Every chain was given back. */
	assert_int_equal(vg_tx_used(e->g), (uint16_t)(used + 3));
}

static void test_dst_cid_elsewhere(void **state)
{
	static const uint64_t cids[] = { 5, ENV_CID, 0, 1, 0xffffffffull,
					 VG_HOST_CID | (1ull << 32) };
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before = *st;
	int lfd = env_listen_port(e, HPORT);
	unsigned int i;

	vg_post_rx_n(e->g, 7, RXBUF);
	for (i = 0; i < 6; i++) {
		struct virtio_vsock_hdr h;

		vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_REQUEST, GPORT + i, HPORT);
		h.dst_cid = cids[i];
		vg_send(e->g, &h, NULL);
	}
	env_settle(e);
	/* No route: RST "from" the CID the guest tried to reach. */
	for (i = 0; i < 6; i++)
		expect_rst_reply(e, cids[i], HPORT, GPORT + i, VIRTIO_VSOCK_TYPE_STREAM);
	env_expect_no_rx(e);
	expect_no_accept(lfd);
	expect_drops(&before, st, VV_DROP_NO_ROUTE, 6);
}

/* Take the next descriptor of a queue's round-robin allocator. */
static uint16_t next_desc(struct fg *q)
{
	uint16_t d = q->next_desc;

	q->next_desc = (uint16_t)((d + 1) & (q->size - 1));
	return d;
}

static void test_bad_tx_descriptors(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before = *st;
	struct fg *t = &e->g->tx;
	uint16_t used = vg_tx_used(e->g), heads[8], d0, d1;
	uint64_t good = vg_alloc(e->g, HDR);
	struct virtio_vsock_hdr h;
	unsigned int i;
	int lfd = env_listen_port(e, HPORT);

	/* Every chain below would be a valid REQUEST if it were read. */
	vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_REQUEST, GPORT, HPORT);
	vg_hdr_encode(&h, fg_hva(e->g->rx, good));
	vg_post_rx_n(e->g, 1, RXBUF);

	/* 0: outside guest memory. */
	heads[0] = d0 = next_desc(t);
	fg_set_desc(t, d0, 0x50000000ull, HDR, 0, 0);
	/* 1: runs off the end of the last data region. */
	heads[1] = d0 = next_desc(t);
	fg_set_desc(t, d0, FG_HI_GPA + FG_DATA_SIZE - 10, HDR, 0, 0);
	/* 2: device-writable in the device-readable queue. */
	heads[2] = d0 = next_desc(t);
	fg_set_desc(t, d0, good, HDR, VRING_DESC_F_WRITE, 0);
	/* 3: a two-descriptor loop. */
	heads[3] = d0 = next_desc(t);
	d1 = next_desc(t);
	fg_set_desc(t, d0, good, 20, VRING_DESC_F_NEXT, d1);
	fg_set_desc(t, d1, good + 20, 24, VRING_DESC_F_NEXT, d0);
	/* 4: next index out of range. */
	heads[4] = d0 = next_desc(t);
	fg_set_desc(t, d0, good, 20, VRING_DESC_F_NEXT, (uint16_t)(t->size + 3));
	/* 5: INDIRECT, not negotiated. */
	heads[5] = d0 = next_desc(t);
	fg_set_desc(t, d0, good, 16, VRING_DESC_F_INDIRECT, 0);
	/* 6: head index out of range. */
	heads[6] = (uint16_t)(t->size + 5);
	for (i = 0; i < 7; i++)
		fg_post(t, heads[i]);
	env_settle(e);

	assert_int_equal(vg_tx_used(e->g), (uint16_t)(used + 7));
	for (i = 0; i < 7; i++) {
		struct vring_used_elem u = fg_used_elem(t, (uint16_t)(used + i));

		assert_int_equal(u.id, heads[i]);
		assert_int_equal(u.len, 0);
	}
	assert_int_equal(st->drops[VV_DROP_DESC_ADDR], before.drops[VV_DROP_DESC_ADDR] + 2);
	assert_int_equal(st->drops[VV_DROP_DESC_DIR], before.drops[VV_DROP_DESC_DIR] + 1);
	assert_int_equal(st->drops[VV_DROP_DESC_CHAIN], before.drops[VV_DROP_DESC_CHAIN] + 1);
	assert_int_equal(st->drops[VV_DROP_DESC_INDEX], before.drops[VV_DROP_DESC_INDEX] + 2);
	assert_int_equal(st->drops[VV_DROP_DESC_FLAGS], before.drops[VV_DROP_DESC_FLAGS] + 1);
	assert_int_equal(st->drops[VV_DROP_RING_BROKEN], 0);
	env_expect_no_rx(e);
	expect_no_accept(lfd);
	assert_int_equal(st->rx_pkts, 0);
	env_close(e, lfd);

	expect_serving(e, GPORT, HPORT);
}

static void test_bad_rx_buffers(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before = *st;
	struct fg *r = e->g->rx;
	uint16_t heads[5], d0, d1;
	uint64_t buf = FG_LO_GPA + 0x7000; /* in the rx zone, past what this test posts */
	struct vg_pkt p;
	unsigned int i;

	/* 0: outside guest memory. */
	heads[0] = d0 = next_desc(r);
	fg_set_desc(r, d0, 0x50000000ull, 4096, VRING_DESC_F_WRITE, 0);
	/* 1: device-readable in the device-writable queue. */
	heads[1] = d0 = next_desc(r);
	fg_set_desc(r, d0, buf, 4096, 0, 0);
	/* 2: a loop. */
	heads[2] = d0 = next_desc(r);
	d1 = next_desc(r);
	fg_set_desc(r, d0, buf, 100, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, d1);
	fg_set_desc(r, d1, buf + 100, 100, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, d0);
	/* 3: too small for a header, in two pieces. */
	heads[3] = d0 = next_desc(r);
	d1 = next_desc(r);
	fg_set_desc(r, d0, buf, 20, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, d1);
	fg_set_desc(r, d1, buf + 20, HDR - 21, VRING_DESC_F_WRITE, 0);
	for (i = 0; i < 4; i++)
		fg_post(r, heads[i]);
	/* 4: a good one, which gets the RST. */
	heads[4] = vg_post_rx(e->g, (const uint32_t[]){ RXBUF }, 1);

	env_send_op(e, VIRTIO_VSOCK_OP_RW, GPORT, HPORT, 0, 0);
	env_settle(e);
	for (i = 0; i < 4; i++) {
		assert_true(vg_recv(e->g, &p));
		assert_int_equal(p.head, heads[i]);
		assert_int_equal(p.used_len, 0);
	}
	expect_rst_reply(e, VG_HOST_CID, HPORT, GPORT, VIRTIO_VSOCK_TYPE_STREAM);
	assert_int_equal(st->drops[VV_DROP_DESC_ADDR], before.drops[VV_DROP_DESC_ADDR] + 1);
	assert_int_equal(st->drops[VV_DROP_DESC_DIR], before.drops[VV_DROP_DESC_DIR] + 1);
	assert_int_equal(st->drops[VV_DROP_DESC_CHAIN], before.drops[VV_DROP_DESC_CHAIN] + 1);
	assert_int_equal(st->drops[VV_DROP_RX_BUF_SHORT], before.drops[VV_DROP_RX_BUF_SHORT] + 1);
	assert_int_equal(st->rst_sent, 1);
	env_expect_no_rx(e);

	expect_serving(e, GPORT, HPORT);
}

static void test_rx_buf_short(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before = *st;
	struct vg_pkt p;

	vg_post_rx_n(e->g, 1, HDR - 1);
	vg_post_rx_n(e->g, 1, HDR);
	env_send_op(e, VIRTIO_VSOCK_OP_CREDIT_UPDATE, GPORT, HPORT, 0, 0);
	env_settle(e);
	assert_true(vg_recv(e->g, &p));
	assert_int_equal(p.used_len, 0);
	/* A buffer of exactly a header is enough for an RST. */
	expect_rst_reply(e, VG_HOST_CID, HPORT, GPORT, VIRTIO_VSOCK_TYPE_STREAM);
	assert_int_equal(st->drops[VV_DROP_RX_BUF_SHORT], before.drops[VV_DROP_RX_BUF_SHORT] + 1);
	env_expect_no_rx(e);
}

static void test_conn_limit(void **state)
{
	const struct env_opts o = { .max_conns = 2, .host_listener = true };
	struct env *e = env_start(state, &o);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before;
	int lfd, fd;

	env_guest_open(e, GPORT, HPORT);
	env_guest_open(e, GPORT + 1, HPORT + 1);
	lfd = env_listen_port(e, HPORT + 2);
	before = *st;
	/* A third guest stream: refused with RST, no host connect. */
	vg_post_rx_n(e->g, 2, RXBUF);
	env_send_op(e, VIRTIO_VSOCK_OP_REQUEST, GPORT + 2, HPORT + 2, 0, 0);
	env_settle(e);
	expect_rst_reply(e, VG_HOST_CID, HPORT + 2, GPORT + 2, VIRTIO_VSOCK_TYPE_STREAM);
	expect_no_accept(lfd);
	expect_drops(&before, st, VV_DROP_CONN_LIMIT, 1);
	/* A host app: closed at once. */
	fd = env_host_connect(e);
	env_settle(e);
	app_expect_closed(fd);
	expect_drops(&before, st, VV_DROP_CONN_LIMIT, 2);
	assert_int_equal(st->conns_open, 2);
	env_expect_no_rx(e);
	/* One stream ends: there is room again. */
	env_send_op(e, VIRTIO_VSOCK_OP_RST, GPORT, HPORT, 0, 0);
	env_settle(e);
	assert_int_equal(st->conns_open, 1);
	env_close(e, lfd);
	expect_serving(e, GPORT + 2, HPORT + 2);
}

static void test_rst_flood(void **state)
{
	const struct env_opts o = { .rx_size = 512, .tx_size = 512 };
	const unsigned int n = RST_RING_SIZE + 44;
	struct env *e = env_start(state, &o);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before = *st;
	uint16_t used0 = vg_tx_used(e->g);
	unsigned int i;

	for (i = 0; i < n; i++)
		env_send_op(e, VIRTIO_VSOCK_OP_RW, 10000 + i, HPORT, 0, 0);
	/* No rx buffer: the device takes packets while it can hold their
	 * RSTs, then leaves the rest in the guest's ring. */
	for (i = 0; i < 5; i++)
		env_poll(e);
	assert_int_equal(vg_tx_used(e->g), (uint16_t)(used0 + RST_RING_SIZE));
	assert_int_equal(st->drops[VV_DROP_NO_CONN], RST_RING_SIZE);
	assert_int_equal(vg_rx_pending(e->g), 0);
	e->now += VV_VSOCK_TIMEOUT_NS;
	env_poll(e);
	assert_int_equal(vg_tx_used(e->g), (uint16_t)(used0 + RST_RING_SIZE));

	/* rx buffers: every RST goes out, in order, and the rest is taken. */
	vg_post_rx_n(e->g, n, 48);
	env_settle(e);
	for (i = 0; i < n; i++)
		expect_rst_reply(e, VG_HOST_CID, HPORT, 10000 + i, VIRTIO_VSOCK_TYPE_STREAM);
	env_expect_no_rx(e);
	assert_int_equal(vg_tx_used(e->g), (uint16_t)(used0 + n));
	expect_drops(&before, st, VV_DROP_NO_CONN, n);
	assert_int_equal(st->rst_sent, n);
	assert_int_equal(st->rx_pkts, n);
}

static void test_avail_idx_jump(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct fg *t = &e->g->tx;
	uint16_t used = vg_tx_used(e->g);

	/* More entries than the ring holds: the tx ring is given up. */
	env_send_op(e, VIRTIO_VSOCK_OP_RW, GPORT, HPORT, 0, 0);
	t->avail_idx = (uint16_t)(t->avail_idx + t->size);
	t->vq.avail->idx = t->avail_idx;
	vg_post_rx_n(e->g, 1, RXBUF);
	env_settle(e);
	assert_int_equal(st->drops[VV_DROP_RING_BROKEN], 1);
	assert_int_equal(vg_tx_used(e->g), used);
	assert_int_equal(st->rx_pkts, 0);
	env_expect_no_rx(e);
	/* Counted once, not once per round. */
	env_settle(e);
	assert_int_equal(st->drops[VV_DROP_RING_BROKEN], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_spoofed_src_cid, env_teardown),
		cmocka_unit_test_teardown(test_unknown_op, env_teardown),
		cmocka_unit_test_teardown(test_bad_type, env_teardown),
		cmocka_unit_test_teardown(test_no_connection, env_teardown),
		cmocka_unit_test_teardown(test_rst_no_connection, env_teardown),
		cmocka_unit_test_teardown(test_len_beyond_chain, env_teardown),
		cmocka_unit_test_teardown(test_short_chain, env_teardown),
		cmocka_unit_test_teardown(test_dst_cid_elsewhere, env_teardown),
		cmocka_unit_test_teardown(test_bad_tx_descriptors, env_teardown),
		cmocka_unit_test_teardown(test_bad_rx_buffers, env_teardown),
		cmocka_unit_test_teardown(test_rx_buf_short, env_teardown),
		cmocka_unit_test_teardown(test_conn_limit, env_teardown),
		cmocka_unit_test_teardown(test_rst_flood, env_teardown),
		cmocka_unit_test_teardown(test_avail_idx_jump, env_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
