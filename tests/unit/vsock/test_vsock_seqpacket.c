/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SEQPACKET connections over a real vv_vsock and real SOCK_SEQPACKET Unix
 * sockets: every message boundary both ways (EOM on the last packet of a
 * message, one host message per guest message), messages split over many
 * packets, credit and a host app too slow to read, the largest message,
 * host-initiated connections through <uds>.seqpacket, mismatched types, and
 * flags a hostile guest may set.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <vv_uds.h>

#include "vsock_env.h"

#define GPORT 1000u
#define HPORT 5000u
#define HDR VG_HDR_SIZE
#define RXBUF (4096u + VG_HDR_SIZE)
#define DEV_BUF 65536u
#define SEQ VIRTIO_VSOCK_TYPE_SEQPACKET
#define EOM VIRTIO_VSOCK_SEQ_EOM
#define EOR VIRTIO_VSOCK_SEQ_EOR

/* --- helpers --- */

/* p is a packet of SEQPACKET connection hport -> gport. */
static void expect_seq(const struct vg_pkt *p, uint16_t op, uint32_t src_port, uint32_t dst_port,
		       uint32_t len, uint32_t flags)
{
	assert_int_equal(p->hdr.src_cid, VG_HOST_CID);
	assert_int_equal(p->hdr.dst_cid, ENV_CID);
	assert_int_equal(p->hdr.type, SEQ);
	assert_int_equal(p->hdr.op, op);
	assert_int_equal(p->hdr.src_port, src_port);
	assert_int_equal(p->hdr.dst_port, dst_port);
	assert_int_equal(p->hdr.len, len);
	assert_int_equal(p->hdr.flags, flags);
}

static void seq_send_op(struct env *e, uint16_t op, uint32_t gport, uint32_t hport,
			uint32_t fwd_cnt)
{
	struct virtio_vsock_hdr h;

	vg_hdr_init(&h, e->g, op, gport, hport);
	h.type = SEQ;
	h.fwd_cnt = fwd_cnt;
	vg_send(e->g, &h, NULL);
}

/* The guest sends bytes [off, off + len) of stream seed in one RW packet. */
static void seq_send_rw(struct env *e, uint32_t gport, uint32_t hport, uint32_t seed,
			uint64_t off, uint32_t len, uint32_t flags)
{
	uint8_t *payload = malloc(len ? len : 1);
	struct virtio_vsock_hdr h;

	assert_non_null(payload);
	pattern_fill(payload, seed, off, len);
	vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_RW, gport, hport);
	h.type = SEQ;
	h.len = len;
	h.flags = flags;
	vg_send(e->g, &h, payload);
	free(payload);
}

/* Guest-initiated SEQPACKET connection to a seqpacket listener; returns
 * the app's socket and the buf_alloc the RESPONSE advertised. */
static int seq_guest_open(struct env *e, uint32_t gport, uint32_t hport, uint32_t *buf_alloc)
{
	int lfd = env_seq_listen_port(e, hport);
	struct vg_pkt p;

	vg_post_rx_n(e->g, 1, RXBUF);
	seq_send_op(e, VIRTIO_VSOCK_OP_REQUEST, gport, hport, 0);
	env_settle(e);
	env_pop(e, &p);
	expect_seq(&p, VIRTIO_VSOCK_OP_RESPONSE, hport, gport, 0, 0);
	assert_int_equal(p.hdr.fwd_cnt, 0);
	if (buf_alloc != NULL)
		*buf_alloc = p.hdr.buf_alloc;
	return env_accept(e, lfd);
}

/* The next message on the app's socket, without blocking: its whole
 * length (MSG_TRUNC), -EAGAIN if none, 0 at EOF. */
static ssize_t app_recv_msg(int fd, void *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len, MSG_DONTWAIT | MSG_TRUNC);

	return n < 0 ? -errno : n;
}

/* The app's next message is exactly bytes [off, off + len) of seed. */
static void app_expect_msg(int fd, uint32_t seed, uint64_t off, uint32_t len)
{
	uint8_t *buf = malloc(len + 1);
	ssize_t n;

	assert_non_null(buf);
	n = app_recv_msg(fd, buf, len + 1);
	if (n != (ssize_t)len)
		fail_msg("app message: %zd bytes, expected %u", n, len);
	for (uint32_t i = 0; i < len; i++)
		if (buf[i] != pattern(seed, off + i))
			fail_msg("app message of %u bytes at stream offset %llu: byte %u differs",
				 len, (unsigned long long)off, i);
	free(buf);
}

static void app_send_msg(int fd, uint32_t seed, uint64_t off, uint32_t len)
{
	uint8_t *buf = malloc(len ? len : 1);

	assert_non_null(buf);
	pattern_fill(buf, seed, off, len);
	if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		fail_msg("send of %u bytes: %s", len, strerror(errno));
	free(buf);
}

/*
 * Take the packets of one host message of len bytes (stream seed from
 * off): payload in order, EOM (never EOR) on the last packet only, each
 * packet at most piece bytes. Returns the number of packets.
 */
static unsigned int guest_expect_msg(struct env *e, uint32_t hport, uint32_t gport, uint32_t seed,
				     uint64_t off, uint32_t len, uint32_t piece)
{
	uint32_t got = 0;
	unsigned int n = 0;
	struct vg_pkt p;

	while (got < len) {
		uint32_t want = len - got < piece ? len - got : piece;

		env_pop(e, &p);
		expect_seq(&p, VIRTIO_VSOCK_OP_RW, hport, gport, want,
			   got + want == len ? EOM : 0);
		if (!pattern_check(p.data, seed, off + got, want))
			fail_msg("message at %u: payload differs", got);
		got += want;
		n++;
	}
	return n;
}

static void conn_info(struct env *e, struct vv_vsock_conn_info *ci)
{
	assert_int_equal(env_conns(e, ci, 1), 1);
}

/* --- guest -> host --- */

static void test_negotiated_request(void **state)
{
	struct env *e = env_start(state, NULL);
	struct vv_vsock_conn_info ci;
	uint32_t ba;

	seq_guest_open(e, GPORT, HPORT, &ba);
	/* Root may force the host socket's send buffer; others are capped
	 * by net.core.wmem_max, which is far above 64 KiB by default. */
	assert_int_equal(ba, DEV_BUF);
	conn_info(e, &ci);
	assert_true(ci.seqpacket);
	assert_int_equal(ci.buf_alloc, DEV_BUF);
	assert_string_equal(ci.state, "established");
	env_expect_no_rx(e);
}

/* Single-packet messages of many sizes: each is one host message. */
static void test_g2h_boundaries(void **state)
{
	static const uint32_t sizes[] = { 1, 2, 100, 4000, 4096, 30000, 1, 65536 };
	struct env *e = env_start(state, NULL);
	int fd = seq_guest_open(e, GPORT, HPORT, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	uint64_t off = 0;
	unsigned int i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		seq_send_rw(e, GPORT, HPORT, 1, off, sizes[i], EOM);
		env_settle(e);
		app_expect_msg(fd, 1, off, sizes[i]);
		assert_int_equal(app_recv_msg(fd, NULL, 0), -EAGAIN);
		off += sizes[i];
	}
	assert_int_equal(st->rx_bytes, off);
	assert_int_equal(st->host_stalls, 0);
}

/* Several messages queued at once keep their boundaries. */
static void test_g2h_many_at_once(void **state)
{
	struct env *e = env_start(state, NULL);
	int fd = seq_guest_open(e, GPORT, HPORT, NULL);
	uint32_t i, off = 0;

	for (i = 1; i <= 20; i++) {
		seq_send_rw(e, GPORT, HPORT, 2, off, i * 37, EOM);
		off += i * 37;
	}
	env_settle(e);
	for (i = 1, off = 0; i <= 20; i++) {
		app_expect_msg(fd, 2, off, i * 37);
		off += i * 37;
	}
	assert_int_equal(app_recv_msg(fd, NULL, 0), -EAGAIN);
}

/* A message in 16 packets is one host message, sent only at EOM. */
static void test_g2h_split_message(void **state)
{
	struct env *e = env_start(state, NULL);
	int fd = seq_guest_open(e, GPORT, HPORT, NULL);
	struct vv_vsock_conn_info ci;
	uint32_t i;

	for (i = 0; i < 16; i++) {
		seq_send_rw(e, GPORT, HPORT, 3, i * 3000ull, 3000, i == 15 ? EOM : 0);
		env_settle(e);
		if (i < 15) {
			assert_int_equal(app_recv_msg(fd, NULL, 0), -EAGAIN);
			conn_info(e, &ci);
			assert_int_equal(ci.buffered, (i + 1) * 3000);
		}
	}
	app_expect_msg(fd, 3, 0, 48000);
	conn_info(e, &ci);
	assert_int_equal(ci.buffered, 0);
	assert_int_equal(app_recv_msg(fd, NULL, 0), -EAGAIN);
}

/*
 * Flags: EOR means nothing without EOM, EOM|EOR ends a message like EOM,
 * undefined bits are ignored, an empty EOM packet ends a message begun but
 * is no message by itself. EOR has no Unix counterpart.
 */
static void test_g2h_flags(void **state)
{
	struct env *e = env_start(state, NULL);
	int fd = seq_guest_open(e, GPORT, HPORT, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before = *st;

	seq_send_rw(e, GPORT, HPORT, 4, 0, 10, EOR);
	seq_send_rw(e, GPORT, HPORT, 4, 10, 10, EOM | EOR);
	seq_send_rw(e, GPORT, HPORT, 4, 20, 5, 0xfffffffcu);
	seq_send_rw(e, GPORT, HPORT, 4, 25, 5, EOM | 0xfff0u);
	seq_send_rw(e, GPORT, HPORT, 4, 30, 0, EOM); /* nothing begun: no message */
	seq_send_rw(e, GPORT, HPORT, 4, 30, 7, 0);
	seq_send_rw(e, GPORT, HPORT, 4, 37, 0, EOM); /* ends the 7 bytes */
	env_settle(e);
	app_expect_msg(fd, 4, 0, 20);
	app_expect_msg(fd, 4, 20, 10);
	app_expect_msg(fd, 4, 30, 7);
	assert_int_equal(app_recv_msg(fd, NULL, 0), -EAGAIN);
	expect_drops(&before, st, 0, 0);
	env_expect_no_rx(e);
}

/* A stream ignores the message flags altogether. */
static void test_stream_ignores_eom(void **state)
{
	struct env *e = env_start(state, NULL);
	int fd = env_guest_open(e, GPORT, HPORT);
	char buf[16];

	env_send_rw(e, GPORT, HPORT, "abc", 3);
	{
		struct virtio_vsock_hdr h;

		vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_RW, GPORT, HPORT);
		h.len = 3;
		h.flags = EOM | EOR;
		vg_send(e->g, &h, "def");
	}
	env_settle(e);
	assert_int_equal(app_recv(fd, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "abcdef", 6);
}

/* The app's next message, once the device has written it. */
static void app_next_msg(struct env *e, int fd, uint32_t seed, uint64_t *off, uint32_t len)
{
	char c;

	if (recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN)
		env_settle(e);
	app_expect_msg(fd, seed, *off, len);
	*off += len;
}

/*
 * The host app does not read: whole messages wait in the device's buffer
 * and a message still arriving waits behind them, credit is what the
 * socket took, the app then reads every message whole and right. Three
 * rounds of messages of odd sizes, so the device's ring buffer wraps.
 */
static void test_g2h_slow_app(void **state)
{
	struct env *e = env_start(state, NULL);
	int fd = seq_guest_open(e, GPORT, HPORT, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_conn_info ci;
	uint32_t lens[256], n_sent = 0, n_read = 0, round;
	uint64_t sent = 0, read = 0;
	struct vg_pkt p;
	uint32_t last_fwd = 0;

	vg_post_rx_n(e->g, 20, RXBUF);
	for (round = 0; round < 3; round++) {
		uint32_t msg = 15000 + round * 1111, part;

		/* While the credit allows: what the device holds is exactly
		 * what the guest has in flight. */
		for (;;) {
			conn_info(e, &ci);
			if (ci.buffered + msg > DEV_BUF)
				break;
			assert_true(n_sent < 256);
			seq_send_rw(e, GPORT, HPORT, 5, sent, msg, EOM);
			lens[n_sent++] = msg;
			sent += msg;
			env_settle(e);
		}
		assert_true(ci.buffered > 0);
		/* The start of one more message takes the credit left. */
		part = DEV_BUF - ci.buffered;
		seq_send_rw(e, GPORT, HPORT, 5, sent, part, 0);
		env_settle(e);
		conn_info(e, &ci);
		assert_int_equal(ci.buffered, DEV_BUF);
		/* The app reads every whole message; the device writes the
		 * waiting ones as room comes (EPOLLOUT). */
		while (n_read < n_sent)
			app_next_msg(e, fd, 5, &read, lens[n_read++]);
		assert_int_equal(app_recv_msg(fd, NULL, 0), -EAGAIN);
		conn_info(e, &ci);
		assert_int_equal(ci.buffered, part);
		/* The rest of the begun message. */
		seq_send_rw(e, GPORT, HPORT, 5, sent + part, 100 + round, EOM);
		lens[n_sent++] = part + 100 + round;
		sent += part + 100 + round;
		app_next_msg(e, fd, 5, &read, lens[n_read++]);
		conn_info(e, &ci);
		assert_int_equal(ci.buffered, 0);
		assert_int_equal(ci.bytes_from_guest, sent);
	}
	assert_int_equal(read, sent);
	assert_true(st->host_stalls >= 3);
	/* Credit updates told the guest what the socket took, in order. */
	while (vg_recv(e->g, &p)) {
		assert_int_equal(p.hdr.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
		assert_int_equal(p.hdr.type, SEQ);
		assert_int_equal(p.hdr.buf_alloc, DEV_BUF);
		assert_true(p.hdr.fwd_cnt > last_fwd);
		last_fwd = p.hdr.fwd_cnt;
	}
	assert_true(last_fwd > 0);
}

/* A guest that never ends its message cannot send past the credit. */
static void test_g2h_endless_message(void **state)
{
	struct env *e = env_start(state, NULL);
	int fd = seq_guest_open(e, GPORT, HPORT, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before;
	struct vg_pkt p;
	uint32_t i;

	vg_post_rx_n(e->g, 4, RXBUF);
	for (i = 0; i < 4; i++)
		seq_send_rw(e, GPORT, HPORT, 7, i * 16384ull, 16384, 0);
	env_settle(e);
	assert_int_equal(app_recv_msg(fd, NULL, 0), -EAGAIN);
	before = *st;
	seq_send_rw(e, GPORT, HPORT, 7, 65536, 1, 0);
	env_settle(e);
	env_pop(e, &p);
	expect_seq(&p, VIRTIO_VSOCK_OP_RST, HPORT, GPORT, 0, 0);
	expect_drops(&before, st, VV_DROP_CREDIT, 1);
	app_expect_closed(fd);
}

/* SHUTDOWN(SEND) in the middle of a message: what came is the message. */
static void test_g2h_shutdown_ends_message(void **state)
{
	struct env *e = env_start(state, NULL);
	int fd = seq_guest_open(e, GPORT, HPORT, NULL);
	char c;

	seq_send_rw(e, GPORT, HPORT, 8, 0, 700, EOM);
	seq_send_rw(e, GPORT, HPORT, 8, 700, 300, 0);
	seq_send_op(e, VIRTIO_VSOCK_OP_SHUTDOWN, GPORT, HPORT, 0);
	/* vg_hdr_init leaves flags 0: send the real one. */
	{
		struct virtio_vsock_hdr h;

		vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_SHUTDOWN, GPORT, HPORT);
		h.type = SEQ;
		h.flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
		vg_send(e->g, &h, NULL);
	}
	env_settle(e);
	app_expect_msg(fd, 8, 0, 700);
	app_expect_msg(fd, 8, 700, 300);
	assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), 0); /* then EOF */
}

/* The largest message: the RESPONSE's buf_alloc, at most 1 MiB whatever
 * tx_buffer_size says, goes to the host as one message. */
static void test_g2h_largest_message(void **state)
{
	const struct env_opts o = { .buf_alloc = 4u << 20 };
	struct env *e = env_start(state, &o);
	struct vv_vsock_conn_info ci;
	uint32_t ba, off = 0;
	int fd = seq_guest_open(e, GPORT, HPORT, &ba);

	conn_info(e, &ci);
	assert_int_equal(ci.buf_alloc, ba);
	assert_true(ba <= VV_VSOCK_SEQ_MSG_MAX);
	assert_true(ba >= 200000); /* wmem_max is 208 KiB or more */
	if (geteuid() == 0)
		assert_int_equal(ba, VV_VSOCK_SEQ_MSG_MAX); /* SO_SNDBUFFORCE */
	while (off < ba) {
		uint32_t k = ba - off < 32768 ? ba - off : 32768;

		seq_send_rw(e, GPORT, HPORT, 9, off, k, off + k == ba ? EOM : 0);
		off += k;
		env_settle(e);
	}
	app_expect_msg(fd, 9, 0, ba);
}

/* --- host -> guest --- */

/* Host messages become guest messages: EOM on the last packet only, a
 * message larger than a buffer split over several. */
static void test_h2g_boundaries(void **state)
{
	static const uint32_t sizes[] = { 1, 4095, 4096, 4097, 10000, 3, 40000 };
	struct env *e = env_start(state, NULL);
	int fd = seq_guest_open(e, GPORT, HPORT, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	uint64_t off = 0;
	unsigned int i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned int n = (sizes[i] + 4095) / 4096;

		vg_post_rx_n(e->g, n, RXBUF);
		app_send_msg(fd, 10, off, sizes[i]);
		env_settle(e);
		assert_int_equal(guest_expect_msg(e, HPORT, GPORT, 10, off, sizes[i], 4096), n);
		off += sizes[i];
		env_expect_no_rx(e);
	}
	/* Several queued at once, into small buffers. */
	seq_send_op(e, VIRTIO_VSOCK_OP_CREDIT_UPDATE, GPORT, HPORT, (uint32_t)off);
	vg_post_rx_n(e->g, 20, 1000 + HDR);
	app_send_msg(fd, 10, off, 2500);
	app_send_msg(fd, 10, off + 2500, 7);
	app_send_msg(fd, 10, off + 2507, 1000);
	env_settle(e);
	assert_int_equal(guest_expect_msg(e, HPORT, GPORT, 10, off, 2500, 1000), 3);
	assert_int_equal(guest_expect_msg(e, HPORT, GPORT, 10, off + 2500, 7, 1000), 1);
	assert_int_equal(guest_expect_msg(e, HPORT, GPORT, 10, off + 2507, 1000, 1000), 1);
	off += 3507;
	assert_int_equal(st->tx_bytes, off);
}

/* The guest's credit bounds what it gets; the rest of a message follows
 * its credit update, EOM still on the last piece. */
static void test_h2g_credit(void **state)
{
	struct env *e = env_start(state, NULL);
	int fd;
	struct vg_pkt p;

	e->g->buf_alloc = 6000;
	fd = seq_guest_open(e, GPORT, HPORT, NULL);
	vg_post_rx_n(e->g, 8, RXBUF);
	app_send_msg(fd, 11, 0, 5000);
	app_send_msg(fd, 11, 5000, 5000);
	env_settle(e);
	guest_expect_msg(e, HPORT, GPORT, 11, 0, 5000, 4096);
	/* 1000 bytes of credit left: the second message's first piece. */
	env_pop(e, &p);
	expect_seq(&p, VIRTIO_VSOCK_OP_RW, HPORT, GPORT, 1000, 0);
	assert_true(pattern_check(p.data, 11, 5000, 1000));
	env_pop(e, &p);
	expect_seq(&p, VIRTIO_VSOCK_OP_CREDIT_REQUEST, HPORT, GPORT, 0, 0);
	env_expect_no_rx(e);
	/* The guest's reader took the first message. */
	seq_send_op(e, VIRTIO_VSOCK_OP_CREDIT_UPDATE, GPORT, HPORT, 5000);
	env_settle(e);
	env_pop(e, &p);
	expect_seq(&p, VIRTIO_VSOCK_OP_RW, HPORT, GPORT, 4000, EOM);
	assert_true(pattern_check(p.data, 11, 6000, 4000));
	env_expect_no_rx(e);
}

/* A host message the guest could never hold whole (over its buf_alloc),
 * or over the device's buffer, resets the connection: no byte of it is
 * passed on as if it were whole. */
static void h2g_too_big(void **state, uint32_t guest_buf, uint32_t len)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before;
	struct vg_pkt p;
	int fd, one = 1 << 20;

	e->g->buf_alloc = guest_buf;
	fd = seq_guest_open(e, GPORT, HPORT, NULL);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one)), 0);
	vg_post_rx_n(e->g, 4, RXBUF);
	app_send_msg(fd, 12, 0, 100);
	app_send_msg(fd, 12, 100, len);
	before = *st;
	env_settle(e);
	guest_expect_msg(e, HPORT, GPORT, 12, 0, 100, 4096);
	env_pop(e, &p);
	expect_seq(&p, VIRTIO_VSOCK_OP_RST, HPORT, GPORT, 0, 0);
	env_expect_no_rx(e);
	expect_drops(&before, st, VV_DROP_MSG_SIZE, 1);
	app_expect_closed(fd);
}

static void test_h2g_over_guest_buffer(void **state)
{
	h2g_too_big(state, 8192, 8193);
}

static void test_h2g_over_device_buffer(void **state)
{
	h2g_too_big(state, 1u << 20, DEV_BUF + 1);
}

/* Empty host messages carry nothing (a guest reader would take one for
 * the end); a flood of them does not stall the poll round; EOF after. */
static void test_h2g_empty_messages_and_eof(void **state)
{
	struct env *e = env_start(state, NULL);
	int fd = seq_guest_open(e, GPORT, HPORT, NULL);
	struct vg_pkt p;
	int i;

	vg_post_rx_n(e->g, 4, RXBUF);
	for (i = 0; i < 40; i++)
		assert_int_equal(send(fd, "", 0, 0), 0);
	app_send_msg(fd, 13, 0, 77);
	assert_int_equal(send(fd, "", 0, 0), 0);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	env_settle(e);
	guest_expect_msg(e, HPORT, GPORT, 13, 0, 77, 4096);
	env_pop(e, &p);
	expect_seq(&p, VIRTIO_VSOCK_OP_SHUTDOWN, HPORT, GPORT, 0, VIRTIO_VSOCK_SHUTDOWN_SEND);
	env_expect_no_rx(e);
}

/* Passed file descriptors are not taken into the device. */
static void test_h2g_passed_fd_not_kept(void **state)
{
	struct env *e = env_start(state, NULL);
	int fd = seq_guest_open(e, GPORT, HPORT, NULL);
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { "fd!", 3 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl,
			    .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	int probe = dup(0), next, pass = dup(0);
	struct vg_pkt p;

	assert_true(probe >= 0 && pass >= 0);
	close(probe);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &pass, sizeof(int));
	vg_post_rx_n(e->g, 1, RXBUF);
	assert_int_equal(sendmsg(fd, &m, 0), 3);
	close(pass);
	env_settle(e);
	env_pop(e, &p);
	expect_seq(&p, VIRTIO_VSOCK_OP_RW, HPORT, GPORT, 3, EOM);
	assert_memory_equal(p.data, "fd!", 3);
	/* The lowest free descriptor is what it was: nothing was installed. */
	next = dup(0);
	assert_int_equal(next, probe);
	close(next);
}

/* --- host-initiated, through <uds>.seqpacket --- */

static int seq_host_open(struct env *e, uint32_t gport, uint32_t *hport)
{
	int fd = env_seq_host_connect(e);
	char line[32], ok[32];
	struct vg_pkt p;
	int n;

	n = snprintf(line, sizeof(line), "CONNECT %u\n", gport);
	assert_int_equal(send(fd, line, (size_t)n, 0), n);
	vg_post_rx_n(e->g, 1, RXBUF);
	env_settle(e);
	env_pop(e, &p);
	assert_true(p.hdr.src_port >= VV_VSOCK_HOST_PORT_BASE);
	expect_seq(&p, VIRTIO_VSOCK_OP_REQUEST, p.hdr.src_port, gport, 0, 0);
	assert_int_equal(p.hdr.buf_alloc, DEV_BUF);
	*hport = p.hdr.src_port;
	seq_send_op(e, VIRTIO_VSOCK_OP_RESPONSE, gport, *hport, 0);
	env_settle(e);
	/* "OK <port>\n" is one message of its own. */
	n = snprintf(ok, sizeof(ok), "OK %u\n", *hport);
	assert_int_equal(app_recv_msg(fd, line, sizeof(line)), n);
	assert_memory_equal(line, ok, (size_t)n);
	return fd;
}

static void test_host_initiated(void **state)
{
	const struct env_opts o = { .seq_listener = true };
	struct env *e = env_start(state, &o);
	struct vv_vsock_conn_info ci;
	uint32_t hport;
	int fd;

	fd = seq_host_open(e, 77, &hport);
	conn_info(e, &ci);
	assert_true(ci.seqpacket);
	assert_true(ci.host_initiated);
	vg_post_rx_n(e->g, 4, RXBUF);
	app_send_msg(fd, 14, 0, 5000);
	app_send_msg(fd, 14, 5000, 10);
	env_settle(e);
	guest_expect_msg(e, hport, 77, 14, 0, 5000, 4096);
	guest_expect_msg(e, hport, 77, 14, 5000, 10, 4096);
	seq_send_rw(e, 77, hport, 15, 0, 6000, 0);
	seq_send_rw(e, 77, hport, 15, 6000, 1, EOM);
	env_settle(e);
	app_expect_msg(fd, 15, 0, 6001);
}

/* The CONNECT message is the line, all of it: data in the same message,
 * no newline, or a stream connect are refused. */
static void test_host_initiated_bad_lines(void **state)
{
	static const char *const bad[] = { "CONNECT 77\nabc", "CONNECT 77", "CONNECT x\n", "" };
	const struct env_opts o = { .seq_listener = true };
	struct env *e = env_start(state, &o);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned int i;
	int fd;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = env_seq_host_connect(e);
		assert_int_equal(send(fd, bad[i], strlen(bad[i]), 0), (ssize_t)strlen(bad[i]));
		env_settle(e);
		app_expect_closed(fd);
		env_close(e, fd);
	}
	assert_int_equal(st->bad_connect_lines, 3); /* the empty one is no line */
	env_expect_no_rx(e);
	assert_int_equal(st->conns_open, 0);

	/* A stream socket cannot connect to the seqpacket listener at all. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", e->seq_uds);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), -1);
	assert_int_equal(errno, EPROTOTYPE);
	close(fd);
}

/* A driver without SEQPACKET: host apps are turned away at once. */
static void test_host_initiated_not_negotiated(void **state)
{
	const struct env_opts o = { .seq_listener = true, .no_seqpacket = true };
	struct env *e = env_start(state, &o);
	int fd = env_seq_host_connect(e);

	assert_int_equal(send(fd, "CONNECT 77\n", 11, 0), 11);
	vg_post_rx_n(e->g, 1, RXBUF);
	env_settle(e);
	app_expect_closed(fd);
	env_expect_no_rx(e);
	assert_int_equal(vv_vsock_stats(e->vs)->conns_opened, 0);
}

/* --- mismatched types --- */

static void test_mismatched_types(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before;
	struct vg_pkt p;
	int fd, lfd;

	vg_post_rx_n(e->g, 4, RXBUF);
	/* SEQPACKET to a stream listener, STREAM to a seqpacket one: the
	 * Unix connect says EPROTOTYPE, the guest gets RST at once. */
	lfd = env_listen_port(e, HPORT);
	seq_send_op(e, VIRTIO_VSOCK_OP_REQUEST, GPORT, HPORT, 0);
	env_settle(e);
	env_pop(e, &p);
	expect_seq(&p, VIRTIO_VSOCK_OP_RST, HPORT, GPORT, 0, 0);
	lfd = env_seq_listen_port(e, HPORT + 1);
	env_send_op(e, VIRTIO_VSOCK_OP_REQUEST, GPORT, HPORT + 1, 0, 0);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, HPORT + 1, GPORT, 0, 0, 0, 0);
	assert_int_equal(st->host_conn_refused, 2);
	assert_int_equal(st->conns_opened, 0);
	(void)lfd;

	/* A STREAM packet on a SEQPACKET connection resets it. */
	fd = seq_guest_open(e, GPORT + 2, HPORT + 2, NULL);
	before = *st;
	vg_post_rx_n(e->g, 1, RXBUF);
	env_send_rw(e, GPORT + 2, HPORT + 2, "abc", 3);
	env_settle(e);
	env_pop(e, &p);
	expect_seq(&p, VIRTIO_VSOCK_OP_RST, HPORT + 2, GPORT + 2, 0, 0);
	expect_drops(&before, st, VV_DROP_BAD_TYPE, 1);
	app_expect_closed(fd);

	/* And a SEQPACKET packet on a stream. */
	fd = env_guest_open(e, GPORT + 3, HPORT + 3);
	before = *st;
	vg_post_rx_n(e->g, 1, RXBUF);
	seq_send_rw(e, GPORT + 3, HPORT + 3, 1, 0, 3, EOM);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, HPORT + 3, GPORT + 3, 0, 0, DEV_BUF, 0);
	expect_drops(&before, st, VV_DROP_BAD_TYPE, 1);
	app_expect_closed(fd);
}

/* A reset SEQPACKET connection's RST has its type, or the guest would
 * not take it for that socket. */
static void test_rst_has_type(void **state)
{
	struct env *e = env_start(state, NULL);
	int fd = seq_guest_open(e, GPORT, HPORT, NULL);
	struct vg_pkt p;

	vg_post_rx_n(e->g, 2, RXBUF);
	env_close(e, fd);
	/* The app is gone; a message to it fails and resets the stream. */
	seq_send_rw(e, GPORT, HPORT, 1, 0, 10, EOM);
	env_settle(e);
	while (vg_recv(e->g, &p) && p.hdr.op != VIRTIO_VSOCK_OP_RST)
		assert_int_equal(p.hdr.type, SEQ);
	expect_seq(&p, VIRTIO_VSOCK_OP_RST, HPORT, GPORT, 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_negotiated_request, env_teardown),
		cmocka_unit_test_teardown(test_g2h_boundaries, env_teardown),
		cmocka_unit_test_teardown(test_g2h_many_at_once, env_teardown),
		cmocka_unit_test_teardown(test_g2h_split_message, env_teardown),
		cmocka_unit_test_teardown(test_g2h_flags, env_teardown),
		cmocka_unit_test_teardown(test_stream_ignores_eom, env_teardown),
		cmocka_unit_test_teardown(test_g2h_slow_app, env_teardown),
		cmocka_unit_test_teardown(test_g2h_endless_message, env_teardown),
		cmocka_unit_test_teardown(test_g2h_shutdown_ends_message, env_teardown),
		cmocka_unit_test_teardown(test_g2h_largest_message, env_teardown),
		cmocka_unit_test_teardown(test_h2g_boundaries, env_teardown),
		cmocka_unit_test_teardown(test_h2g_credit, env_teardown),
		cmocka_unit_test_teardown(test_h2g_over_guest_buffer, env_teardown),
		cmocka_unit_test_teardown(test_h2g_over_device_buffer, env_teardown),
		cmocka_unit_test_teardown(test_h2g_empty_messages_and_eof, env_teardown),
		cmocka_unit_test_teardown(test_h2g_passed_fd_not_kept, env_teardown),
		cmocka_unit_test_teardown(test_host_initiated, env_teardown),
		cmocka_unit_test_teardown(test_host_initiated_bad_lines, env_teardown),
		cmocka_unit_test_teardown(test_host_initiated_not_negotiated, env_teardown),
		cmocka_unit_test_teardown(test_mismatched_types, env_teardown),
		cmocka_unit_test_teardown(test_rst_has_type, env_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
