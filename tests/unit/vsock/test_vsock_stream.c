/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest-initiated streams over a real vv_vsock: connect to a host listener
 * or to nobody, data both ways cut into descriptors every which way, credit
 * both ways, half and full shutdown from either side, and a host app too
 * slow to read.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <cmocka.h>

#include "vsock_env.h"

#define GPORT 1000u
#define HPORT 5000u
#define HDR VG_HDR_SIZE
#define RXBUF (4096u + VG_HDR_SIZE)
/* The largest packets the tests send: two fit the guest's tx zone. */
#define SLOW_PKT 40000u

/*
 * The guest sends bytes [off, off + len) of stream `seed` as one RW packet.
 * The header is cut after hdr_cut bytes (0: header alone in its descriptor,
 * else its tail shares a descriptor with the payload); the payload goes in
 * pieces of `piece` bytes (0: one piece).
 */
static void guest_rw(struct env *e, uint32_t gport, uint32_t hport, uint32_t seed,
		     uint64_t off, uint32_t len, uint32_t hdr_cut, uint32_t piece)
{
	uint8_t *payload = malloc(len ? len : 1);
	uint32_t cuts[200], done;
	unsigned int n = 0;
	struct virtio_vsock_hdr h;

	assert_non_null(payload);
	pattern_fill(payload, seed, off, len);
	vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_RW, gport, hport);
	h.len = len;
	cuts[n++] = hdr_cut ? hdr_cut : HDR;
	done = cuts[0];
	while (piece > 0 && done < HDR + len) {
		uint32_t k = piece + (done < HDR ? HDR - done : 0);

		if (k > HDR + len - done)
			k = HDR + len - done;
		assert_true(n < 200);
		cuts[n++] = k;
		done += k;
	}
	vg_send_cut(e->g, &h, payload, cuts, n);
	free(payload);
}

/* Read what the app socket has, up to len bytes, without blocking. */
static uint32_t app_read_some(int fd, uint8_t *buf, uint32_t len)
{
	uint32_t got = 0;

	while (got < len) {
		ssize_t n = app_recv(fd, buf + got, len - got);

		if (n == -EAGAIN || n == 0)
			break;
		assert_true(n > 0);
		got += (uint32_t)n;
	}
	return got;
}

/* The app must have exactly bytes [off, off + len) of stream seed waiting. */
static void app_expect_stream(int fd, uint32_t seed, uint64_t off, uint32_t len)
{
	uint8_t *buf = malloc(len + 1);

	assert_non_null(buf);
	assert_int_equal(app_read_some(fd, buf, len), len);
	assert_true(pattern_check(buf, seed, off, len));
	free(buf);
	app_expect_nothing(fd);
}

/* Pop an RW packet carrying bytes [off, off + len) of stream seed. */
static void expect_rw(struct env *e, uint32_t hport, uint32_t gport, uint32_t seed,
		      uint64_t off, uint32_t len, uint32_t fwd_cnt)
{
	struct vg_pkt p;

	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RW, hport, gport, len, 0, fwd_cnt ? ENV_ANY_WINDOW : e->window, fwd_cnt);
	assert_true(pattern_check(p.data, seed, off, len));
}

/* Keep n rx buffers posted and not yet used, whatever the device used. */
static void keep_rx_posted(struct env *e, uint16_t n)
{
	uint16_t out = (uint16_t)(e->g->rx->avail_idx - fg_used_idx(e->g->rx));

	if (out < n)
		vg_post_rx_n(e->g, n - out, RXBUF);
}

/*
 * What the guest knows of the device's credit on one stream, as a driver
 * keeps it: the limit (fwd_cnt + buf_alloc of the last header) and what it
 * sent. Every header must keep the limit where it was or move it on (the
 * device never takes credit back) and offer a window from tx_buffer_size
 * (a full host socket) to e->window (an empty one).
 */
struct gview {
	uint32_t sent, fwd, limit;
	uint32_t max_win; /* the largest window offered */
};

static void gview_hdr(struct env *e, struct gview *v, const struct vg_pkt *p)
{
	uint32_t limit = p->hdr.fwd_cnt + p->hdr.buf_alloc;

	env_assert_range(p->hdr.buf_alloc, e->buf_alloc, e->window_max);
	if (p->hdr.buf_alloc > v->max_win)
		v->max_win = p->hdr.buf_alloc;
	assert_true((int32_t)(limit - v->limit) >= 0);
	assert_true((int32_t)(p->hdr.fwd_cnt - v->fwd) >= 0);
	/* Forwarded means written to the host socket: never more than sent. */
	assert_true((int32_t)(v->sent - p->hdr.fwd_cnt) >= 0);
	v->limit = limit;
	v->fwd = p->hdr.fwd_cnt;
}

static uint32_t gview_credit(const struct gview *v)
{
	return v->limit - v->sent;
}

/* The guest sends on stream 2 until v->sent reaches upto, in packets of at
 * most step bytes, each one settled and checked at the app. */
static void gview_send_to(struct env *e, int fd, struct gview *v, uint32_t upto, uint32_t step)
{
	while ((int32_t) (upto - v->sent) > 0) {
		uint32_t n = upto - v->sent < step ? upto - v->sent : step;

		guest_rw(e, GPORT, HPORT, 2, v->sent, n, 0, 0);
		v->sent += n;
		env_settle(e);
		app_expect_stream(fd, 2, v->sent - n, n);
	}
}

/* Takes what the guest received: CREDIT_UPDATEs counting every byte sent
 * (checked and applied to v). Returns how many. */
static int gview_take_updates(struct env *e, struct gview *v)
{
	struct vg_pkt p;
	int n = 0;

	while (vg_rx_pending(e->g) > 0) {
		env_pop(e, &p);
		expect_hdr(&p, VIRTIO_VSOCK_OP_CREDIT_UPDATE, HPORT, GPORT, 0, 0, ENV_ANY_WINDOW,
			   v->sent);
		gview_hdr(e, v, &p);
		n++;
	}
	return n;
}

static void test_request_response(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_conn_info ci[2];
	uint16_t tx_used = vg_tx_used(e->g);
	int fd;

	fd = env_guest_open(e, GPORT, HPORT);
	/* The REQUEST was consumed and given back with used len 0. */
	assert_int_equal(vg_tx_used(e->g), (uint16_t)(tx_used + 1));
	assert_int_equal(fg_used_elem(&e->g->tx, tx_used).len, 0);
	assert_int_equal(st->rx_pkts, 1);
	assert_int_equal(st->tx_pkts, 1);
	assert_int_equal(st->conns_opened, 1);
	assert_int_equal(st->conns_open, 1);
	assert_int_equal(st->rst_sent, 0);
	assert_int_equal(st->host_conn_refused, 0);
	assert_int_equal(env_conns(e, ci, 2), 1);
	assert_int_equal(ci[0].guest_port, GPORT);
	assert_int_equal(ci[0].host_port, HPORT);
	assert_false(ci[0].host_initiated);
	assert_string_equal(ci[0].state, "established");
	assert_int_equal(ci[0].peer_buf_alloc, e->g->buf_alloc);
	assert_int_equal(ci[0].peer_credit, e->g->buf_alloc);
	app_expect_nothing(fd);
	/* Nothing else is owed to the guest. */
	vg_post_rx_n(e->g, 1, RXBUF);
	env_settle(e);
	env_expect_no_rx(e);
}

static void test_request_refused(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before = *st;
	struct vg_pkt p;

	vg_post_rx_n(e->g, 2, RXBUF);
	env_send_op(e, VIRTIO_VSOCK_OP_REQUEST, GPORT, HPORT + 1, 0, 0);
	env_poll(e); /* at once, in the same round */
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, HPORT + 1, GPORT, 0, 0, 0, 0);
	assert_int_equal(st->host_conn_refused, 1);
	assert_int_equal(st->rst_sent, 1);
	assert_int_equal(st->conns_open, 0);
	assert_int_equal(st->conns_opened, 0);
	expect_drops(&before, st, -1, 0);
	env_settle(e);
	env_expect_no_rx(e);
}

static void test_rw_header_cuts(void **state)
{
	static const uint32_t hdr_cuts[] = { 1, 13, 43, 0 };
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_conn_info ci;
	uint64_t off = 0;
	unsigned int i;
	int fd = env_guest_open(e, GPORT, HPORT);

	for (i = 0; i < 4; i++) {
		/* Header tail plus a first piece, then ~100 small descriptors. */
		guest_rw(e, GPORT, HPORT, 1, off, 3001, hdr_cuts[i], 29);
		env_poll(e);
		app_expect_stream(fd, 1, off, 3001);
		off += 3001;
		/* Header cut, then the rest (header tail and payload) in one. */
		guest_rw(e, GPORT, HPORT, 1, off, 777, hdr_cuts[i], 0);
		env_poll(e);
		app_expect_stream(fd, 1, off, 777);
		off += 777;
		/* One-byte descriptors. */
		guest_rw(e, GPORT, HPORT, 1, off, 150, hdr_cuts[i], 1);
		env_poll(e);
		app_expect_stream(fd, 1, off, 150);
		off += 150;
	}
	assert_int_equal(st->rx_bytes, off);
	assert_int_equal(st->rx_pkts, 1 + 12);
	assert_int_equal(env_conns(e, &ci, 1), 1);
	assert_int_equal(ci.bytes_from_guest, off);
	assert_int_equal(ci.buffered, 0);
	/* 15712 bytes is under half of buf_alloc: no CREDIT_UPDATE yet. */
	vg_post_rx_n(e->g, 1, RXBUF);
	env_settle(e);
	env_expect_no_rx(e);
	expect_drops(&(struct vv_vsock_stats){ 0 }, st, -1, 0);
}

/*
 * When a CREDIT_UPDATE comes: not while the guest still believes it may
 * send half the window or more (the window is at most e->window), at the
 * latest once that drops under half of tx_buffer_size (the window is at
 * least that much); and it counts every forwarded byte. The app reads
 * everything at once, so nothing waits in the device. The guest's own
 * buf_alloc is larger than any window here (see test_rw_credit_guest_cap).
 */
static void test_rw_credit_update_threshold(void **state)
{
	const struct env_opts o = { .buf_alloc = 8192 };
	struct env *e = env_start(state, &o);
	struct gview v = { .limit = e->window };
	int fd, updates = 0;

	e->g->buf_alloc = 1u << 30;
	fd = env_guest_open(e, GPORT, HPORT);

	vg_post_rx_n(e->g, 4, RXBUF);
	/* Exactly half of the window in the guest's view: never due. */
	gview_send_to(e, fd, &v, e->window / 2, 4000);
	env_expect_no_rx(e);
	/* Then 1000 bytes at a time until the update comes. */
	while (updates == 0) {
		assert_true(gview_credit(&v) >= e->buf_alloc / 2);
		gview_send_to(e, fd, &v, v.sent + 1000, 1000);
		updates += gview_take_updates(e, &v);
	}
	assert_int_equal(updates, 1);
	/* It gave the guest at least tx_buffer_size again. */
	assert_true(gview_credit(&v) >= e->buf_alloc);
	env_expect_no_rx(e);
}

/*
 * A Linux guest keeps at most its own buf_alloc in flight, whatever our
 * window (min(peer_buf_alloc, buf_alloc) in virtio_transport_common.c).
 * With a window of 1 MiB and a guest buf_alloc of 64 KiB, the guest stops
 * after 64 KiB past the fwd_cnt it last heard of: the CREDIT_UPDATE must
 * come once it has half of its own buffer in flight, not half of our
 * window, or the stream stalls for good (as it did with real guests at
 * --tx-buffer-size 1048576).
 */
static void test_rw_credit_guest_cap(void **state)
{
	const struct env_opts o = { .buf_alloc = 1u << 20 };
	struct env *e = env_start(state, &o);
	struct gview v = { .limit = e->window };
	const uint32_t cap = 65536;
	int fd, round;

	e->g->buf_alloc = cap;
	fd = env_guest_open(e, GPORT, HPORT);
	vg_post_rx_n(e->g, 8, RXBUF);
	for (round = 0; round < 4; round++) {
		/* Exactly half of its own buffer in flight: not due yet. */
		gview_send_to(e, fd, &v, v.fwd + cap / 2, 4000);
		env_expect_no_rx(e);
		/* One more packet: the guest's view is under half of its cap. */
		gview_send_to(e, fd, &v, v.sent + 1000, 1000);
		assert_int_equal(gview_take_updates(e, &v), 1);
		/* Our window still stands far past the guest's cap. */
		assert_true(gview_credit(&v) >= e->buf_alloc);
		vg_post_rx_n(e->g, 1, RXBUF);
	}
	env_expect_no_rx(e);
}

/* The app writes 10000 bytes; the guest reads them with rx buffers made of
 * the given descriptor sizes. Data first, buffers second. */
static void h2g_with_buffers(void **state, const uint32_t *sizes, unsigned int n_sizes,
			     unsigned int n_bufs)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_conn_info ci;
	uint32_t room = 0, off = 0;
	unsigned int i;
	int fd = env_guest_open(e, GPORT, HPORT);

	for (i = 0; i < n_sizes; i++)
		room += sizes[i];
	room -= HDR;
	app_send_stream(fd, 3, 0, 10000);
	env_settle(e); /* no rx buffer yet: the data waits in the socket */
	for (i = 0; i < n_bufs; i++)
		vg_post_rx(e->g, sizes, n_sizes);
	env_settle(e);
	while (off < 10000) {
		uint32_t len = 10000 - off < room ? 10000 - off : room;

		expect_rw(e, HPORT, GPORT, 3, off, len, 0);
		off += len;
	}
	env_expect_no_rx(e);
	assert_int_equal(st->tx_bytes, 10000);
	assert_int_equal(st->tx_pkts, 1 + (10000 + room - 1) / room);
	assert_int_equal(env_conns(e, &ci, 1), 1);
	assert_int_equal(ci.bytes_to_guest, 10000);
	assert_int_equal(ci.peer_credit, e->g->buf_alloc - 10000);
	/* More data later goes into the buffers still posted. */
	app_send_stream(fd, 3, 10000, 100);
	env_settle(e);
	expect_rw(e, HPORT, GPORT, 3, 10000, 100, 0);
}

static void test_h2g_4096(void **state)
{
	const uint32_t size = RXBUF;

	h2g_with_buffers(state, &size, 1, 4);
}

static void test_h2g_512(void **state)
{
	const uint32_t size = 512;

	/* 468 payload bytes a buffer: 22 buffers for 10000 bytes, one spare. */
	h2g_with_buffers(state, &size, 1, 23);
}

static void test_h2g_hdr_and_data_descs(void **state)
{
	const uint32_t sizes[] = { HDR, 4096 };

	h2g_with_buffers(state, sizes, 2, 4);
}

static void test_h2g_split_header_buffer(void **state)
{
	const uint32_t sizes[] = { 13, 31, 100, 1, 900 };

	h2g_with_buffers(state, sizes, 5, 11);
}

static void test_h2g_guest_credit(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_conn_info ci;
	struct virtio_vsock_hdr h;
	struct vg_pkt p;
	int fd;

	e->g->buf_alloc = 1000; /* advertised in the REQUEST */
	fd = env_guest_open(e, GPORT, HPORT);
	app_send_stream(fd, 4, 0, 5000);
	vg_post_rx_n(e->g, 6, RXBUF);
	env_settle(e);
	/* A 4096-byte buffer carries only the 1000 bytes of credit. */
	expect_rw(e, HPORT, GPORT, 4, 0, 1000, 0);
	/* Then the device asks for credit, once. */
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_CREDIT_REQUEST, HPORT, GPORT, 0, 0, ENV_ANY_WINDOW, 0);
	env_expect_no_rx(e);
	assert_int_equal(st->credit_stalls, 1);
	env_conns(e, &ci, 1);
	assert_int_equal(ci.peer_credit, 0);

	/* The guest consumed 1000 bytes. */
	env_send_op(e, VIRTIO_VSOCK_OP_CREDIT_UPDATE, GPORT, HPORT, 0, 1000);
	env_settle(e);
	expect_rw(e, HPORT, GPORT, 4, 1000, 1000, 0);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_CREDIT_REQUEST, HPORT, GPORT, 0, 0, ENV_ANY_WINDOW, 0);
	assert_int_equal(st->credit_stalls, 2);

	/* The guest shrinks its buffer below what is in flight: nothing moves. */
	vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_CREDIT_UPDATE, GPORT, HPORT);
	h.buf_alloc = 500;
	h.fwd_cnt = 1000;
	vg_send(e->g, &h, NULL);
	env_settle(e);
	env_expect_no_rx(e);
	env_conns(e, &ci, 1);
	assert_int_equal(ci.peer_buf_alloc, 500);
	assert_int_equal(ci.peer_credit, 0);

	/* It consumes the rest: 500 bytes of credit. */
	h.fwd_cnt = 2000;
	vg_send(e->g, &h, NULL);
	env_settle(e);
	expect_rw(e, HPORT, GPORT, 4, 2000, 500, 0);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_CREDIT_REQUEST, HPORT, GPORT, 0, 0, ENV_ANY_WINDOW, 0);

	/* A big buffer again: the remaining 2500 bytes in one packet. */
	h.buf_alloc = 65536;
	h.fwd_cnt = 2500;
	vg_post_rx_n(e->g, 2, RXBUF);
	vg_send(e->g, &h, NULL);
	env_settle(e);
	expect_rw(e, HPORT, GPORT, 4, 2500, 2500, 0);
	env_expect_no_rx(e);
	assert_int_equal(st->tx_bytes, 5000);
	assert_int_equal(st->credit_stalls, 3);
}

static void test_credit_request(void **state)
{
	struct env *e = env_start(state, NULL);
	struct vg_pkt p;
	int fd = env_guest_open(e, GPORT, HPORT);

	guest_rw(e, GPORT, HPORT, 5, 0, 123, 0, 0);
	env_send_op(e, VIRTIO_VSOCK_OP_CREDIT_REQUEST, GPORT, HPORT, 0, 0);
	vg_post_rx_n(e->g, 2, RXBUF);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_CREDIT_UPDATE, HPORT, GPORT, 0, 0, ENV_ANY_WINDOW, 123);
	env_expect_no_rx(e);
	app_expect_stream(fd, 5, 0, 123);
}

/* Pop what the device put in the rx ring for the two streams of
 * test_credit_violation: credit updates move the guest's views. */
static void pop_updates(struct env *e, struct gview *v)
{
	struct vg_pkt p;

	while (vg_rx_pending(e->g) > 0) {
		env_pop(e, &p);
		if (p.hdr.op == VIRTIO_VSOCK_OP_RST) {
			assert_int_equal(p.hdr.src_port, HPORT);
			continue;
		}
		assert_int_equal(p.hdr.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
		gview_hdr(e, &v[p.hdr.src_port - HPORT], &p);
	}
}

/*
 * The guest may send up to the limit the device told it, and not a byte
 * more. Two streams whose apps do not read send while their credit lasts,
 * then in one round stream 2 sends exactly its credit and stream 1 one
 * byte more: RST for stream 1, none of that packet reaches its app; stream
 * 2's exact fit is kept, every byte.
 */
static void test_credit_violation(void **state)
{
	const struct env_opts o = { .buf_alloc = 4096 };
	struct env *e = env_start(state, &o);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct gview v[2] = { { .limit = e->window }, { .limit = e->window } };
	struct vv_vsock_stats before;
	uint32_t got = 0, n;
	int fd1 = env_guest_open(e, GPORT, HPORT);
	int fd2 = env_guest_open(e, GPORT + 1, HPORT + 1);
	uint8_t *buf = malloc(1u << 20);
	int rounds;

	assert_non_null(buf);
	before = *st;
	for (rounds = 0; rounds < 100; rounds++) {
		bool sent = false;

		for (int i = 1; i >= 0; i--) {
			n = gview_credit(&v[i]) < SLOW_PKT ? gview_credit(&v[i]) : SLOW_PKT;
			if (gview_credit(&v[i]) <= SLOW_PKT / 2)
				continue;
			guest_rw(e, GPORT + i, HPORT + i, 6, v[i].sent, n, 0, 0);
			v[i].sent += n;
			sent = true;
		}
		keep_rx_posted(e, 4);
		env_settle(e);
		pop_updates(e, v);
		if (!sent)
			break;
	}
	assert_true(rounds < 100);
	/* Exactly the credit is fine; one byte over is not. */
	n = gview_credit(&v[1]);
	guest_rw(e, GPORT + 1, HPORT + 1, 6, v[1].sent, n, 0, 0);
	v[1].sent += n;
	guest_rw(e, GPORT, HPORT, 6, v[0].sent, gview_credit(&v[0]) + 1, 0, 0);
	keep_rx_posted(e, 4);
	env_settle(e);
	pop_updates(e, v);
	expect_drops(&before, st, VV_DROP_CREDIT, 1);
	assert_int_equal(st->rst_sent, 1);
	assert_int_equal(st->conns_open, 1);
	/* Stream 1: what was within credit and taken by its socket (the
	 * device held the rest when the RST came), then the end. */
	n = app_read_some(fd1, buf, 1u << 20);
	assert_true(n <= v[0].sent && pattern_check(buf, 6, 0, n));
	app_expect_closed(fd1);
	/* Stream 2: all of it, the device flushing what it held. */
	for (rounds = 0; got < v[1].sent && rounds < 1000; rounds++) {
		n = app_read_some(fd2, buf, 1u << 20);
		assert_true(pattern_check(buf, 6, got, n));
		got += n;
		keep_rx_posted(e, 4);
		env_settle(e);
		pop_updates(e, v);
	}
	assert_int_equal(got, v[1].sent);
	free(buf);
}

static void test_shutdown_send(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before;
	struct vg_pkt p;
	uint8_t buf[200];
	int fd = env_guest_open(e, GPORT, HPORT);

	vg_post_rx_n(e->g, 3, RXBUF);
	guest_rw(e, GPORT, HPORT, 7, 0, 100, 0, 0);
	env_send_op(e, VIRTIO_VSOCK_OP_SHUTDOWN, GPORT, HPORT, VIRTIO_VSOCK_SHUTDOWN_SEND, 0);
	env_settle(e);
	/* The app gets the 100 bytes, then EOF: the device did SHUT_WR... */
	assert_int_equal(app_read_some(fd, buf, sizeof(buf)), 100);
	assert_true(pattern_check(buf, 7, 0, 100));
	assert_int_equal(app_recv(fd, buf, 1), 0);
	env_expect_no_rx(e);
	assert_int_equal(st->conns_open, 1);
	/* ...but the app can still send to the guest. */
	app_send_stream(fd, 8, 0, 300);
	env_settle(e);
	expect_rw(e, HPORT, GPORT, 8, 0, 300, 100);
	env_expect_no_rx(e);
	/* A guest that said it would not send, sending: RST. */
	before = *st;
	guest_rw(e, GPORT, HPORT, 7, 100, 10, 0, 0);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, HPORT, GPORT, 0, 0, ENV_ANY_WINDOW, 100);
	expect_drops(&before, st, VV_DROP_BAD_STATE, 1);
	app_expect_closed(fd);
}

static void test_shutdown_both(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vg_pkt p;
	uint8_t buf[64];
	int fd = env_guest_open(e, GPORT, HPORT);

	vg_post_rx_n(e->g, 2, RXBUF);
	guest_rw(e, GPORT, HPORT, 9, 0, 50, 0, 0);
	env_send_op(e, VIRTIO_VSOCK_OP_SHUTDOWN, GPORT, HPORT,
		    VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND, 0);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, HPORT, GPORT, 0, 0, ENV_ANY_WINDOW, 50);
	env_expect_no_rx(e);
	assert_int_equal(app_read_some(fd, buf, sizeof(buf)), 50);
	assert_true(pattern_check(buf, 9, 0, 50));
	app_expect_closed(fd);
	assert_int_equal(st->conns_open, 0);
	assert_int_equal(st->conns_closed, 1);
	assert_int_equal(st->rst_sent, 1);
}

static void test_guest_rst(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	int fd = env_guest_open(e, GPORT, HPORT);

	vg_post_rx_n(e->g, 1, RXBUF);
	env_send_op(e, VIRTIO_VSOCK_OP_RST, GPORT, HPORT, 0, 0);
	env_settle(e);
	env_expect_no_rx(e);
	app_expect_closed(fd);
	assert_int_equal(st->rst_rcvd, 1);
	assert_int_equal(st->rst_sent, 0);
	assert_int_equal(st->conns_open, 0);
	assert_int_equal(st->conns_closed, 1);
	/* The ports are free again: a packet on them is answered with RST. */
	env_send_op(e, VIRTIO_VSOCK_OP_CREDIT_UPDATE, GPORT, HPORT, 0, 0);
	env_settle(e);
	assert_int_equal(st->rst_sent, 1);
}

/* A stream whose host app closes its socket: the guest gets SHUTDOWN
 * both ways (one rx buffer is left). Returns when that happened. */
static uint64_t open_then_host_close(struct env *e)
{
	int fd = env_guest_open(e, GPORT, HPORT);
	struct vg_pkt p;
	uint64_t t;

	vg_post_rx_n(e->g, 2, RXBUF);
	env_close(e, fd);
	env_settle(e);
	t = e->now;
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_SHUTDOWN, HPORT, GPORT, 0,
		   VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND, ENV_ANY_WINDOW, 0);
	return t;
}

static void test_host_close_timeout(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vg_pkt p;
	uint64_t t = open_then_host_close(e);

	/* The guest does not answer: half the timeout later, still waiting. */
	e->now = t + VV_VSOCK_TIMEOUT_NS / 2;
	env_settle(e);
	env_expect_no_rx(e);
	assert_int_equal(st->conns_open, 1);
	/* Past the timeout: the device resets the stream itself. */
	e->now = t + VV_VSOCK_TIMEOUT_NS + 100000000ull;
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, HPORT, GPORT, 0, 0, ENV_ANY_WINDOW, 0);
	assert_int_equal(st->conns_open, 0);
	assert_int_equal(st->rst_sent, 1);
}

static void test_host_close_guest_rst(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	uint64_t t = open_then_host_close(e);

	env_send_op(e, VIRTIO_VSOCK_OP_RST, GPORT, HPORT, 0, 0);
	env_settle(e);
	assert_int_equal(st->conns_open, 0);
	assert_int_equal(st->rst_rcvd, 1);
	e->now = t + 2 * VV_VSOCK_TIMEOUT_NS;
	env_settle(e);
	env_expect_no_rx(e);
	assert_int_equal(st->rst_sent, 0);
}

static void test_host_shut_wr(void **state)
{
	struct env *e = env_start(state, NULL);
	struct vg_pkt p;
	int fd = env_guest_open(e, GPORT, HPORT);

	vg_post_rx_n(e->g, 2, RXBUF);
	app_send_stream(fd, 10, 0, 20);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	env_settle(e);
	expect_rw(e, HPORT, GPORT, 10, 0, 20, 0);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_SHUTDOWN, HPORT, GPORT, 0,
		   VIRTIO_VSOCK_SHUTDOWN_SEND, ENV_ANY_WINDOW, 0);
	/* The app still reads: the guest->host direction stays open. */
	guest_rw(e, GPORT, HPORT, 11, 0, 64, 0, 0);
	env_settle(e);
	app_expect_stream(fd, 11, 0, 64);
	env_expect_no_rx(e);
}

/* Both sides shut their sending half: the stream waits for the guest's
 * close (SHUTDOWN both) and answers it with RST; that SHUTDOWN is not a
 * packet for an unknown stream. A guest that never closes is reset after
 * the shutdown timeout. */
static void test_both_halves_shut(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before;
	struct vg_pkt p;
	int fd = env_guest_open(e, GPORT, HPORT);
	int fd2 = env_guest_open(e, GPORT + 1, HPORT + 1);

	vg_post_rx_n(e->g, 8, RXBUF);
	before = *st;
	/* stream 1: the guest closes after both halves are shut */
	env_send_op(e, VIRTIO_VSOCK_OP_SHUTDOWN, GPORT, HPORT, VIRTIO_VSOCK_SHUTDOWN_SEND, 0);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_SHUTDOWN, HPORT, GPORT, 0, VIRTIO_VSOCK_SHUTDOWN_SEND,
		   ENV_ANY_WINDOW, 0);
	env_expect_no_rx(e);
	env_send_op(e, VIRTIO_VSOCK_OP_SHUTDOWN, GPORT, HPORT,
		    VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND, 0);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, HPORT, GPORT, 0, 0, ENV_ANY_WINDOW, 0);
	app_expect_closed(fd);
	expect_drops(&before, st, -1, 0);
	/* stream 2: the guest never closes: RST after the timeout, not before */
	env_send_op(e, VIRTIO_VSOCK_OP_SHUTDOWN, GPORT + 1, HPORT + 1, VIRTIO_VSOCK_SHUTDOWN_SEND, 0);
	assert_int_equal(shutdown(fd2, SHUT_WR), 0);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_SHUTDOWN, HPORT + 1, GPORT + 1, 0, VIRTIO_VSOCK_SHUTDOWN_SEND,
		   ENV_ANY_WINDOW, 0);
	e->now += VV_VSOCK_TIMEOUT_NS / 2;
	env_settle(e);
	env_expect_no_rx(e);
	e->now += VV_VSOCK_TIMEOUT_NS;
	env_settle(e);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, HPORT + 1, GPORT + 1, 0, 0, ENV_ANY_WINDOW, 0);
	expect_drops(&before, st, -1, 0);
}

/* The guest will not read any more: the app's data stays in its socket,
 * and when the app leaves, the guest is told both directions are done. */
static void test_shutdown_rcv(void **state)
{
	struct env *e = env_start(state, NULL);
	struct vg_pkt p;
	int fd = env_guest_open(e, GPORT, HPORT);

	vg_post_rx_n(e->g, 2, RXBUF);
	env_send_op(e, VIRTIO_VSOCK_OP_SHUTDOWN, GPORT, HPORT, VIRTIO_VSOCK_SHUTDOWN_RCV, 0);
	app_send_stream(fd, 16, 0, 100);
	env_settle(e);
	env_expect_no_rx(e);
	/* The guest can still send. */
	guest_rw(e, GPORT, HPORT, 17, 0, 30, 0, 0);
	env_settle(e);
	app_expect_stream(fd, 17, 0, 30);
	env_expect_no_rx(e);
	env_close(e, fd);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_SHUTDOWN, HPORT, GPORT, 0,
		   VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND, ENV_ANY_WINDOW, 30);
	env_expect_no_rx(e);
}

/* The spec lets a buffer be longer than hdr.len: only len bytes are data. */
static void test_rw_len_shorter_than_chain(void **state)
{
	struct env *e = env_start(state, NULL);
	uint8_t pkt[HDR + 100];
	struct virtio_vsock_hdr h;
	int fd = env_guest_open(e, GPORT, HPORT);

	vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_RW, GPORT, HPORT);
	h.len = 5;
	vg_hdr_encode(&h, pkt);
	pattern_fill(pkt + HDR, 18, 0, 100);
	vg_send_bytes(e->g, pkt, sizeof(pkt), NULL, 0);
	env_settle(e);
	app_expect_stream(fd, 18, 0, 5);
	assert_int_equal(vv_vsock_stats(e->vs)->rx_bytes, 5);
}

/* The usual short-lived client: write, then close at once. The guest must
 * get the data and then learn that the app is gone, even though the close
 * arrived with the data in one readiness event. */
static void test_host_write_then_close(void **state)
{
	struct env *e = env_start(state, NULL);
	struct vg_pkt p;
	int fd = env_guest_open(e, GPORT, HPORT);

	vg_post_rx_n(e->g, 3, RXBUF);
	app_send_stream(fd, 15, 0, 300);
	env_close(e, fd);
	env_settle(e);
	expect_rw(e, HPORT, GPORT, 15, 0, 300, 0);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_SHUTDOWN, HPORT, GPORT, 0,
		   VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND, ENV_ANY_WINDOW, 0);
	env_expect_no_rx(e);
}

/*
 * A host app that does not read. AF_UNIX stream sockets queue what the
 * sender's SO_SNDBUF allows (the receiver's SO_RCVBUF does not count), so
 * the guest sends until the device's socket refuses bytes and the device
 * buffers them, then until its credit is gone. Packets of up to 40000
 * bytes take more than one socket buffer in the kernel, so the socket can
 * take part of one: writev returns short, not only EAGAIN.
 * v: the guest's view of the stream (v->sent bytes sent so far, all of
 * them read by the app). Leaves the device holding what the app's socket
 * refused: at most tx_buffer_size (the drop-in meaning of the option), and
 * the guest without credit; returns bytes sent in all.
 */
static uint32_t slow_fill(struct env *e, int fd, struct gview *v)
{
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	const uint32_t base = v->sent;
	struct vv_vsock_conn_info ci;
	struct vg_pkt p;
	int queued, rounds;

	/* Send while credit lasts, as a driver would. */
	for (rounds = 0; rounds < 1000; rounds++) {
		bool update_seen = false;
		unsigned int n = 0;

		/* Two packets at most: 80000 bytes fit the guest's tx zone. */
		while (gview_credit(v) > 0 && n < 2) {
			uint32_t len = gview_credit(v) < SLOW_PKT ? gview_credit(v) : SLOW_PKT;

			guest_rw(e, GPORT, HPORT, 12, v->sent, len, 0, 0);
			v->sent += len;
			n++;
		}
		keep_rx_posted(e, 2);
		env_settle(e);
		assert_int_equal(ioctl(fd, SIOCINQ, &queued), 0);
		while (vg_rx_pending(e->g) > 0) {
			env_pop(e, &p);
			expect_hdr(&p, VIRTIO_VSOCK_OP_CREDIT_UPDATE, HPORT, GPORT, 0, 0,
				   ENV_ANY_WINDOW, p.hdr.fwd_cnt);
			gview_hdr(e, v, &p);
			/* Never more than the app's socket holds. */
			assert_true(p.hdr.fwd_cnt - base <= (uint32_t)queued);
			update_seen = true;
		}
		if (n == 0 && !update_seen)
			break;
	}
	assert_true(rounds < 1000);
	assert_true(st->host_stalls >= 1);
	/* Ask where the device stands: fwd_cnt counts only bytes the app's
	 * socket took, never bytes waiting in the device. */
	env_send_op(e, VIRTIO_VSOCK_OP_CREDIT_REQUEST, GPORT, HPORT, 0, 0);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_CREDIT_UPDATE, HPORT, GPORT, 0, 0, ENV_ANY_WINDOW,
		   p.hdr.fwd_cnt);
	gview_hdr(e, v, &p);
	assert_int_equal(ioctl(fd, SIOCINQ, &queued), 0);
	assert_int_equal((uint32_t)queued, v->fwd - base);
	/* The socket is full: the window shrank to tx_buffer_size. */
	assert_int_equal(p.hdr.buf_alloc, e->buf_alloc);
	env_conns(e, &ci, 1);
	assert_true(ci.buffered > 0);
	assert_int_equal(ci.buffered, v->sent - v->fwd);
	/* Use the last of the credit: all of it is buffered, and the device
	 * never holds more than tx_buffer_size for an app that does not read. */
	if (gview_credit(v) > 0) {
		guest_rw(e, GPORT, HPORT, 12, v->sent, gview_credit(v), 0, 0);
		v->sent += gview_credit(v);
		env_settle(e);
	}
	env_conns(e, &ci, 1);
	assert_int_equal(ci.buffered, v->sent - v->fwd);
	assert_true(ci.buffered <= e->buf_alloc);
	/* The bound a stuck app meets: what it holds is in the gauges, the
	 * buffer no bigger than tx_buffer_size. */
	assert_int_equal(st->host_buffered_bytes, ci.buffered);
	assert_int_equal(st->host_buffer_mem_bytes, ci.buffered > 0 ? e->buf_alloc : 0);
	assert_int_equal(ioctl(fd, SIOCINQ, &queued), 0);
	assert_int_equal((uint32_t)queued, v->fwd - base);
	assert_int_equal(st->drops[VV_DROP_CREDIT], 0);
	assert_int_equal(st->rx_bytes, v->sent);
	return v->sent;
}

/* The app reads the stream from byte `from` up to v->sent, checking order;
 * the updates the guest gets meanwhile never take credit back and, at the
 * end, announce every byte forwarded. */
static void slow_drain(struct env *e, int fd, uint32_t from, struct gview *v)
{
	uint8_t *buf = malloc(e->window);
	uint32_t got = from;
	struct vg_pkt p;
	int rounds;

	assert_non_null(buf);
	for (rounds = 0; got < v->sent && rounds < 10000; rounds++) {
		uint32_t n = app_read_some(fd, buf, e->buf_alloc);

		assert_true(pattern_check(buf, 12, got, n));
		got += n;
		keep_rx_posted(e, 2);
		env_settle(e);
		while (vg_rx_pending(e->g) > 0) {
			env_pop(e, &p);
			expect_hdr(&p, VIRTIO_VSOCK_OP_CREDIT_UPDATE, HPORT, GPORT, 0, 0,
				   ENV_ANY_WINDOW, p.hdr.fwd_cnt);
			gview_hdr(e, v, &p);
		}
	}
	free(buf);
	assert_int_equal(got, v->sent);
	assert_int_equal(v->fwd, v->sent);
}

static void test_slow_host(void **state)
{
	struct env *e = env_start(state, NULL);
	struct vv_vsock_conn_info ci;
	struct gview v = { .limit = e->window };
	int fd = env_guest_open(e, GPORT, HPORT);
	uint32_t sent = slow_fill(e, fd, &v);

	/* An app that has not read keeps its socket's default buffer. */
	assert_true(v.max_win <= e->window);
	/* Every byte arrives, in order, and the drained buffer is announced. */
	slow_drain(e, fd, 0, &v);
	env_conns(e, &ci, 1);
	assert_int_equal(ci.buffered, 0);
	app_expect_nothing(fd);
	/* Full speed again. */
	guest_rw(e, GPORT, HPORT, 12, sent, 1000, 0, 0);
	v.sent += 1000;
	env_settle(e);
	app_expect_stream(fd, 12, sent, 1000);
	sent += 1000;
	/* And a second stall: the device stopped listening for room on the
	 * socket while it had nothing waiting, and must listen again. */
	assert_true(slow_fill(e, fd, &v) > sent);
	slow_drain(e, fd, sent, &v);
	/* It has read more than twice its buffer by now: the device grew the
	 * buffer (where net.core.wmem_max lets it) and counts the room. */
	if (e->window_max > e->window)
		assert_true(v.max_win > e->window);
	env_conns(e, &ci, 1);
	assert_int_equal(ci.buffered, 0);
	app_expect_nothing(fd);
	/* Drained: nothing waits, and the buffer is gone (it exists only
	 * while it holds bytes). */
	assert_int_equal(vv_vsock_stats(e->vs)->host_buffered_bytes, 0);
	assert_int_equal(vv_vsock_stats(e->vs)->host_buffer_mem_bytes, 0);
	env_send_op(e, VIRTIO_VSOCK_OP_RST, GPORT, HPORT, 0, 0);
	env_settle(e);
	assert_int_equal(vv_vsock_stats(e->vs)->host_buffer_mem_bytes, 0);
}

/* SHUTDOWN(SEND) while bytes wait in the device: the app gets every byte,
 * then EOF; the SHUT_WR must not overtake buffered data. */
static void test_slow_host_shutdown(void **state)
{
	struct env *e = env_start(state, NULL);
	struct gview v = { .limit = e->window };
	int fd = env_guest_open(e, GPORT, HPORT);
	char c;

	slow_fill(e, fd, &v);
	env_send_op(e, VIRTIO_VSOCK_OP_SHUTDOWN, GPORT, HPORT, VIRTIO_VSOCK_SHUTDOWN_SEND, 0);
	env_settle(e);
	slow_drain(e, fd, 0, &v);
	env_settle(e);
	assert_int_equal(app_recv(fd, &c, 1), 0);
	assert_int_equal(vv_vsock_stats(e->vs)->conns_open, 1);
}

/*
 * An rx buffer with room for a header and no payload, while the app has
 * data for the guest: it must not be taken as the app's EOF. The spec does
 * not bound rx buffer sizes from below; the data must arrive in the next
 * buffer and the stream must stay open.
 */
static void test_rx_buf_header_only(void **state)
{
	struct env *e = env_start(state, NULL);
	struct vg_pkt p;
	uint32_t off = 0;
	int fd = env_guest_open(e, GPORT, HPORT);

	app_send_stream(fd, 13, 0, 5);
	vg_post_rx_n(e->g, 1, HDR);
	vg_post_rx_n(e->g, 2, RXBUF);
	env_settle(e);
	/* The small buffer may come back empty or carry a control packet. */
	while (vg_recv(e->g, &p)) {
		if (p.used_len == 0)
			continue;
		assert_true(p.has_hdr);
		assert_false(p.overrun);
		assert_int_not_equal(p.hdr.op, VIRTIO_VSOCK_OP_SHUTDOWN);
		assert_int_not_equal(p.hdr.op, VIRTIO_VSOCK_OP_RST);
		if (p.hdr.op == VIRTIO_VSOCK_OP_RW) {
			assert_true(pattern_check(p.data, 13, off, p.hdr.len));
			off += p.hdr.len;
		}
	}
	assert_int_equal(off, 5);
	/* Still open both ways. */
	guest_rw(e, GPORT, HPORT, 14, 0, 10, 0, 0);
	app_send_stream(fd, 13, 5, 7);
	env_settle(e);
	app_expect_stream(fd, 14, 0, 10);
	expect_rw(e, HPORT, GPORT, 13, 5, 7, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_request_response, env_teardown),
		cmocka_unit_test_teardown(test_request_refused, env_teardown),
		cmocka_unit_test_teardown(test_rw_header_cuts, env_teardown),
		cmocka_unit_test_teardown(test_rw_credit_update_threshold, env_teardown),
		cmocka_unit_test_teardown(test_rw_credit_guest_cap, env_teardown),
		cmocka_unit_test_teardown(test_h2g_4096, env_teardown),
		cmocka_unit_test_teardown(test_h2g_512, env_teardown),
		cmocka_unit_test_teardown(test_h2g_hdr_and_data_descs, env_teardown),
		cmocka_unit_test_teardown(test_h2g_split_header_buffer, env_teardown),
		cmocka_unit_test_teardown(test_h2g_guest_credit, env_teardown),
		cmocka_unit_test_teardown(test_credit_request, env_teardown),
		cmocka_unit_test_teardown(test_credit_violation, env_teardown),
		cmocka_unit_test_teardown(test_shutdown_send, env_teardown),
		cmocka_unit_test_teardown(test_shutdown_both, env_teardown),
		cmocka_unit_test_teardown(test_guest_rst, env_teardown),
		cmocka_unit_test_teardown(test_host_close_timeout, env_teardown),
		cmocka_unit_test_teardown(test_host_close_guest_rst, env_teardown),
		cmocka_unit_test_teardown(test_host_shut_wr, env_teardown),
		cmocka_unit_test_teardown(test_both_halves_shut, env_teardown),
		cmocka_unit_test_teardown(test_shutdown_rcv, env_teardown),
		cmocka_unit_test_teardown(test_rw_len_shorter_than_chain, env_teardown),
		cmocka_unit_test_teardown(test_host_write_then_close, env_teardown),
		cmocka_unit_test_teardown(test_slow_host, env_teardown),
		cmocka_unit_test_teardown(test_slow_host_shutdown, env_teardown),
		cmocka_unit_test_teardown(test_rx_buf_header_only, env_teardown),
	};

	/* As the app does: a host app that vanished must give EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
