/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Host -> guest data in batches: one readv from the host socket fills as
 * many guest rx buffers as the stream's credit covers. readv is wrapped at
 * link time (-Wl,--wrap=readv, see meson.build) to count the device's
 * reads; every other check is on what the guest sees: packets, their
 * order in the used ring, their lengths and bytes.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cmocka.h>

#include "vsock_env.h"

#define GPORT 1000u
#define HPORT 5000u
#define HDR VG_HDR_SIZE
#define PAYLOAD 4096u
#define RXBUF (PAYLOAD + HDR)

ssize_t __real_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t __wrap_readv(int fd, const struct iovec *iov, int iovcnt);

/* The device is the only caller of readv in this program. */
static unsigned int readv_calls;
static int readv_max_iov, readv_last_iov;

ssize_t __wrap_readv(int fd, const struct iovec *iov, int iovcnt)
{
	readv_calls++;
	readv_last_iov = iovcnt;
	if (iovcnt > readv_max_iov)
		readv_max_iov = iovcnt;
	return __real_readv(fd, iov, iovcnt);
}

/* Pop an RW packet of stream (hport, gport) with bytes [off, off + len) of
 * stream seed, in the buffer whose head is given (UINT32_MAX: any). */
static void expect_rw_at(struct env *e, uint32_t head, uint32_t hport, uint32_t gport,
			 uint32_t seed, uint64_t off, uint32_t len)
{
	struct vg_pkt p;

	env_pop(e, &p);
	if (head != UINT32_MAX)
		assert_int_equal(p.head, head);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RW, hport, gport, len, 0, e->window, 0);
	if (!pattern_check(p.data, seed, off, len))
		fail_msg("payload of packet at stream offset %llu (len %u) is wrong",
			 (unsigned long long)off, len);
}

/* Post n one-descriptor rx buffers of size bytes, recording their heads. */
static void post_bufs(struct env *e, uint16_t *heads, unsigned int n, uint32_t size)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		heads[i] = vg_post_rx(e->g, &size, 1);
}

/* A 64 KiB host write into 4 KiB guest buffers: sixteen full packets from
 * one read, in ring order, each buffer filled to its end before the next
 * gets a byte. The credit (64 KiB) is then used up: the next buffer
 * carries a CREDIT_REQUEST, and the bytes behind wait for the update. */
static void test_64k_one_read(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	uint16_t used0, heads[18];
	struct vv_vsock_conn_info ci;
	struct vg_pkt p;
	unsigned int i, reads;
	int fd = env_guest_open(e, GPORT, HPORT);

	app_send_stream(fd, 1, 0, 65536 + 1000);
	post_bufs(e, heads, 18, RXBUF);
	used0 = fg_used_idx(e->g->rx);
	reads = readv_calls;
	env_settle(e);
	assert_int_equal(readv_calls - reads, 1);
	assert_int_equal(fg_used_idx(e->g->rx), (uint16_t)(used0 + 17));
	for (i = 0; i < 16; i++)
		expect_rw_at(e, heads[i], HPORT, GPORT, 1, (uint64_t)i * PAYLOAD, PAYLOAD);
	env_pop(e, &p);
	assert_int_equal(p.head, heads[16]);
	expect_hdr(&p, VIRTIO_VSOCK_OP_CREDIT_REQUEST, HPORT, GPORT, 0, 0, e->window, 0);
	env_expect_no_rx(e);
	assert_int_equal(st->tx_bytes, 65536);
	assert_int_equal(st->tx_pkts, 1 + 16 + 1);
	env_conns(e, &ci, 1);
	assert_int_equal(ci.bytes_to_guest, 65536);
	assert_int_equal(ci.peer_credit, 0);

	/* The guest read it all: the last 1000 bytes go into the one buffer left. */
	env_send_op(e, VIRTIO_VSOCK_OP_CREDIT_UPDATE, GPORT, HPORT, 0, 65536);
	reads = readv_calls;
	env_settle(e);
	assert_int_equal(readv_calls - reads, 1);
	expect_rw_at(e, heads[17], HPORT, GPORT, 1, 65536, 1000);
	env_expect_no_rx(e);
	assert_int_equal(st->tx_bytes, 65536 + 1000);
	assert_true(readv_max_iov <= 1024);
	expect_drops(&(struct vv_vsock_stats){ 0 }, st, -1, 0);
}

/* Credit below what the posted buffers hold: the read stops exactly at the
 * credit, in the middle of a buffer, and no buffer beyond is taken; the
 * rest follows the guest's CREDIT_UPDATE. */
static void test_credit_below_buffers(void **state)
{
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_conn_info ci;
	uint16_t heads[8];
	struct vg_pkt p;
	unsigned int reads;
	struct virtio_vsock_hdr h;
	int fd;

	e->g->buf_alloc = 10000; /* advertised in the REQUEST */
	fd = env_guest_open(e, GPORT, HPORT);
	app_send_stream(fd, 2, 0, 30000);
	post_bufs(e, heads, 8, RXBUF);
	reads = readv_calls;
	env_settle(e);
	assert_int_equal(readv_calls - reads, 1);
	expect_rw_at(e, heads[0], HPORT, GPORT, 2, 0, PAYLOAD);
	expect_rw_at(e, heads[1], HPORT, GPORT, 2, PAYLOAD, PAYLOAD);
	expect_rw_at(e, heads[2], HPORT, GPORT, 2, 2 * PAYLOAD, 10000 - 2 * PAYLOAD);
	env_pop(e, &p);
	assert_int_equal(p.head, heads[3]);
	expect_hdr(&p, VIRTIO_VSOCK_OP_CREDIT_REQUEST, HPORT, GPORT, 0, 0, e->window, 0);
	env_expect_no_rx(e);
	assert_int_equal(st->tx_bytes, 10000);
	env_conns(e, &ci, 1);
	assert_int_equal(ci.peer_credit, 0);

	/* A CREDIT_UPDATE of 10000 more: exactly 10000 more bytes. */
	vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_CREDIT_UPDATE, GPORT, HPORT);
	h.fwd_cnt = 10000;
	vg_send(e->g, &h, NULL);
	reads = readv_calls;
	env_settle(e);
	assert_int_equal(readv_calls - reads, 1);
	expect_rw_at(e, heads[4], HPORT, GPORT, 2, 10000, PAYLOAD);
	expect_rw_at(e, heads[5], HPORT, GPORT, 2, 10000 + PAYLOAD, PAYLOAD);
	expect_rw_at(e, heads[6], HPORT, GPORT, 2, 10000 + 2 * PAYLOAD, 10000 - 2 * PAYLOAD);
	env_pop(e, &p);
	assert_int_equal(p.head, heads[7]);
	expect_hdr(&p, VIRTIO_VSOCK_OP_CREDIT_REQUEST, HPORT, GPORT, 0, 0, e->window, 0);
	env_expect_no_rx(e);
	assert_int_equal(st->tx_bytes, 20000);
	assert_int_equal(st->credit_stalls, 2);
}

/* Fewer bytes than buffers: the buffers that got nothing go back to the
 * ring and carry the next data, in order; none is used twice. */
static void test_unused_buffers_given_back(void **state)
{
	const struct env_opts o = { .rx_start = 65530 }; /* used idx wraps on the way */
	struct env *e = env_start(state, &o);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	uint16_t used0, heads[10];
	unsigned int i, reads;
	uint64_t off = 0;
	int fd = env_guest_open(e, GPORT, HPORT);

	post_bufs(e, heads, 10, RXBUF);
	used0 = fg_used_idx(e->g->rx);

	/* 5000 bytes: two buffers. */
	app_send_stream(fd, 3, off, 5000);
	reads = readv_calls;
	env_settle(e);
	assert_int_equal(readv_calls - reads, 1);
	assert_int_equal(fg_used_idx(e->g->rx), (uint16_t)(used0 + 2));
	expect_rw_at(e, heads[0], HPORT, GPORT, 3, off, PAYLOAD);
	expect_rw_at(e, heads[1], HPORT, GPORT, 3, off + PAYLOAD, 5000 - PAYLOAD);
	env_expect_no_rx(e);
	off += 5000;

	/* Three buffers and a bit: the next four buffers, from the third on. */
	app_send_stream(fd, 3, off, 3 * PAYLOAD + 10);
	reads = readv_calls;
	env_settle(e);
	assert_int_equal(readv_calls - reads, 1);
	assert_int_equal(fg_used_idx(e->g->rx), (uint16_t)(used0 + 6));
	for (i = 2; i < 5; i++) {
		expect_rw_at(e, heads[i], HPORT, GPORT, 3, off, PAYLOAD);
		off += PAYLOAD;
	}
	expect_rw_at(e, heads[5], HPORT, GPORT, 3, off, 10);
	off += 10;
	env_expect_no_rx(e);

	/* Exactly the four buffers left, then one byte that finds none. */
	app_send_stream(fd, 3, off, 4 * PAYLOAD + 1);
	env_settle(e);
	for (i = 6; i < 10; i++) {
		expect_rw_at(e, heads[i], HPORT, GPORT, 3, off, PAYLOAD);
		off += PAYLOAD;
	}
	env_expect_no_rx(e);
	assert_int_equal(fg_used_idx(e->g->rx), (uint16_t)(used0 + 10));
	post_bufs(e, heads, 1, RXBUF);
	env_settle(e);
	expect_rw_at(e, heads[0], HPORT, GPORT, 3, off, 1);
	off += 1;
	env_expect_no_rx(e);
	assert_int_equal(st->tx_bytes, off);
	assert_int_equal(fg_used_idx(e->g->rx), (uint16_t)(used0 + 11));
	expect_drops(&(struct vv_vsock_stats){ 0 }, st, -1, 0);
}

/*
 * Buffers of mixed sizes and layouts with unusable ones in between: a
 * header-only buffer, one shorter than a header and one with a device-
 * readable descriptor each come back empty (and are counted) where they
 * stand in the ring, and never get a byte; the data flows on in the
 * buffers around them, split exactly at their ends.
 */
static void test_mixed_buffers(void **state)
{
	static const uint32_t hdr_split[] = { HDR, 2000 };
	static const uint32_t odd[] = { 13, 31, 100, 1, 900 }; /* 1001 payload bytes */
	struct env *e = env_start(state, NULL);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_stats before;
	const uint32_t size_4k = RXBUF, size_hdr = HDR, size_1k = 1000, size_20 = 20;
	struct fg_buf bad = { FG_LO_GPA + 0x10000, RXBUF, 0 }; /* not device-writable */
	uint16_t h[9];
	struct vg_pkt p;
	uint64_t off = 0;
	unsigned int reads;
	int fd = env_guest_open(e, GPORT, HPORT);

	before = *st;
	h[0] = vg_post_rx(e->g, &size_4k, 1);
	h[1] = vg_post_rx(e->g, &size_hdr, 1);
	h[2] = vg_post_rx(e->g, &size_1k, 1);
	h[3] = vg_post_rx(e->g, &size_20, 1);
	h[4] = vg_post_rx(e->g, hdr_split, 2);
	h[5] = vg_post_rx(e->g, odd, 5);
	h[6] = fg_add_chain(e->g->rx, 1, &bad);
	h[7] = vg_post_rx(e->g, &size_4k, 1);
	h[8] = vg_post_rx(e->g, &size_4k, 1);
	app_send_stream(fd, 4, 0, 20000);
	reads = readv_calls;
	env_settle(e);

	expect_rw_at(e, h[0], HPORT, GPORT, 4, off, PAYLOAD);
	off += PAYLOAD;
	assert_true(vg_recv(e->g, &p));
	assert_int_equal(p.head, h[1]);
	assert_int_equal(p.used_len, 0);
	expect_rw_at(e, h[2], HPORT, GPORT, 4, off, 1000 - HDR);
	off += 1000 - HDR;
	assert_true(vg_recv(e->g, &p));
	assert_int_equal(p.head, h[3]);
	assert_int_equal(p.used_len, 0);
	expect_rw_at(e, h[4], HPORT, GPORT, 4, off, 2000);
	off += 2000;
	expect_rw_at(e, h[5], HPORT, GPORT, 4, off, 1001);
	off += 1001;
	assert_true(vg_recv(e->g, &p));
	assert_int_equal(p.head, h[6]);
	assert_int_equal(p.used_len, 0);
	expect_rw_at(e, h[7], HPORT, GPORT, 4, off, PAYLOAD);
	off += PAYLOAD;
	expect_rw_at(e, h[8], HPORT, GPORT, 4, off, PAYLOAD);
	off += PAYLOAD;
	env_expect_no_rx(e);
	/* One read per run of good buffers: [0], [2], [4 5], [7 8]. */
	assert_int_equal(readv_calls - reads, 4);
	assert_int_equal(st->drops[VV_DROP_RX_BUF_SHORT], before.drops[VV_DROP_RX_BUF_SHORT] + 2);
	assert_int_equal(st->drops[VV_DROP_DESC_DIR], before.drops[VV_DROP_DESC_DIR] + 1);
	assert_int_equal(st->tx_bytes, off);

	/* The rest, into fresh buffers. */
	vg_post_rx_n(e->g, 2, 8192 + HDR);
	env_settle(e);
	expect_rw_at(e, UINT32_MAX, HPORT, GPORT, 4, off, 20000 - (uint32_t)off);
	env_expect_no_rx(e);
}

/* Data and EOF in the socket together: every byte first, in as many
 * packets as it takes, then SHUTDOWN, in the buffer right after the data. */
static void eof_after_data(void **state, bool close_app, uint32_t flags)
{
	struct env *e = env_start(state, NULL);
	uint16_t heads[6];
	struct vg_pkt p;
	unsigned int reads;
	int fd = env_guest_open(e, GPORT, HPORT);

	post_bufs(e, heads, 6, RXBUF);
	app_send_stream(fd, 5, 0, 10000);
	if (close_app)
		env_close(e, fd);
	else
		assert_int_equal(shutdown(fd, SHUT_WR), 0);
	reads = readv_calls;
	env_settle(e);
	expect_rw_at(e, heads[0], HPORT, GPORT, 5, 0, PAYLOAD);
	expect_rw_at(e, heads[1], HPORT, GPORT, 5, PAYLOAD, PAYLOAD);
	expect_rw_at(e, heads[2], HPORT, GPORT, 5, 2 * PAYLOAD, 10000 - 2 * PAYLOAD);
	env_pop(e, &p);
	assert_int_equal(p.head, heads[3]);
	expect_hdr(&p, VIRTIO_VSOCK_OP_SHUTDOWN, HPORT, GPORT, 0, flags, e->window, 0);
	env_expect_no_rx(e);
	/* The data, then the read that found the EOF. */
	assert_int_equal(readv_calls - reads, 2);
	assert_int_equal(vv_vsock_stats(e->vs)->tx_bytes, 10000);
}

static void test_eof_after_data_shut_wr(void **state)
{
	eof_after_data(state, false, VIRTIO_VSOCK_SHUTDOWN_SEND);
}

static void test_eof_after_data_close(void **state)
{
	eof_after_data(state, true, VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV);
}

/*
 * Two streams with more data than the ring holds share it a batch at a
 * time: a batch is at most 64 buffers, and the stream that had one goes
 * behind the other. Small buffers (468 payload bytes) keep the credit
 * (64 KiB) out of the way. 100 buffers: 64 for the stream first in line,
 * 36 for the other; then 64 for the first again (it was back in front when
 * the ring ran dry); then 64 for the other.
 */
static void test_round_robin(void **state)
{
	static const unsigned int posted[] = { 100, 64, 64 };
	static const unsigned int run_first[] = { 64, 64, 0 };
	const uint32_t small = 512, room = 512 - HDR;
	struct env *e = env_start(state, NULL);
	uint64_t off[2] = { 0, 0 };
	unsigned int round, i, reads;
	int fd[2];
	int first = -1;

	fd[0] = env_guest_open(e, GPORT, HPORT);
	fd[1] = env_guest_open(e, GPORT + 1, HPORT + 1);
	app_send_stream(fd[0], 10, 0, 60000);
	app_send_stream(fd[1], 11, 0, 60000);
	for (round = 0; round < 3; round++) {
		struct vg_pkt p;

		vg_post_rx_n(e->g, posted[round], small);
		reads = readv_calls;
		env_poll(e);
		assert_int_equal(readv_calls - reads, round == 0 ? 2 : 1);
		assert_int_equal(vg_rx_pending(e->g), posted[round]);
		for (i = 0; i < posted[round]; i++) {
			int s;

			env_pop(e, &p);
			assert_int_equal(p.hdr.op, VIRTIO_VSOCK_OP_RW);
			assert_int_equal(p.hdr.len, room);
			s = p.hdr.dst_port == GPORT ? 0 : 1;
			if (first < 0)
				first = s; /* epoll's order decides who starts */
			if (s != (i < run_first[round] ? first : !first))
				fail_msg("round %u packet %u: stream %d", round, i, s);
			assert_int_equal(p.hdr.src_port, HPORT + (uint32_t)s);
			assert_true(pattern_check(p.data, 10 + (uint32_t)s, off[s], room));
			off[s] += room;
		}
	}
	assert_int_equal(off[first], 128 * room);
	assert_int_equal(off[!first], 100 * room);
}

/*
 * Budget: a poll round fills at most 256 rx buffers, batches included. An
 * RST owed to the guest takes the first buffer; the stream then gets
 * batches of 64, 64 and 64, and the last one only 63: what is left of the
 * budget. The next round goes on where it stopped.
 */
static void test_budget(void **state)
{
	const struct env_opts o = { .rx_size = 512 };
	const uint32_t small = 100, room = 100 - HDR;
	struct env *e = env_start(state, &o);
	struct vg_pkt p;
	unsigned int i, reads;
	uint64_t off = 0;
	int fd = env_guest_open(e, GPORT, HPORT);

	app_send_stream(fd, 12, 0, 20000);
	/* Let the device see the data before the buffers come. */
	env_settle(e);
	vg_post_rx_n(e->g, 300, small);
	env_send_op(e, VIRTIO_VSOCK_OP_RW, GPORT + 7, HPORT + 7, 0, 0); /* no such stream */
	reads = readv_calls;
	env_poll(e);
	assert_int_equal(readv_calls - reads, 4);
	assert_int_equal(vg_rx_pending(e->g), 256);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, HPORT + 7, GPORT + 7, 0, 0, 0, 0);
	for (i = 0; i < 255; i++) {
		expect_rw_at(e, UINT32_MAX, HPORT, GPORT, 12, off, room);
		off += room;
	}
	reads = readv_calls;
	env_poll(e);
	assert_int_equal(readv_calls - reads, 1);
	assert_int_equal(vg_rx_pending(e->g), 44);
	for (i = 0; i < 44; i++) {
		expect_rw_at(e, UINT32_MAX, HPORT, GPORT, 12, off, room);
		off += room;
	}
	env_expect_no_rx(e);
}

/*
 * readv takes at most 1024 iovecs. A guest posts one buffer of 255
 * descriptors (a header with one payload byte, then 254 one-byte pieces:
 * 255 payload iovecs) five times over: four fit in one read (1020
 * iovecs), the fifth goes in a second read. The guest sees five packets of
 * 255 bytes; they share memory, so only the last one's bytes are left.
 */
static void test_iov_cap(void **state)
{
	const struct env_opts o = { .rx_size = 512 };
	struct env *e = env_start(state, &o);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct fg_buf bufs[255];
	uint64_t gpa = FG_LO_GPA + 0x10000; /* in the rx zone, past what this test posts */
	struct vg_pkt p;
	unsigned int i, reads;
	uint16_t head;
	int fd = env_guest_open(e, GPORT, HPORT);

	bufs[0] = (struct fg_buf){ gpa, HDR + 1, VRING_DESC_F_WRITE };
	for (i = 1; i < 255; i++)
		bufs[i] = (struct fg_buf){ gpa + 0x100 + 2 * i, 1, VRING_DESC_F_WRITE };
	head = fg_add_chain(e->g->rx, 255, bufs);
	for (i = 1; i < 5; i++)
		fg_post(e->g->rx, head);
	app_send_stream(fd, 13, 0, 5 * 255);
	reads = readv_calls;
	readv_max_iov = 0;
	env_settle(e);
	assert_int_equal(readv_calls - reads, 2);
	assert_int_equal(readv_max_iov, 4 * 255);
	for (i = 0; i < 5; i++) {
		env_pop(e, &p);
		assert_int_equal(p.head, head);
		expect_hdr(&p, VIRTIO_VSOCK_OP_RW, HPORT, GPORT, 255, 0, e->window, 0);
		assert_true(pattern_check(p.data, 13, 4 * 255, 255));
	}
	env_expect_no_rx(e);
	assert_int_equal(st->tx_bytes, 5 * 255);
}

/* A header cut into 44 one-byte descriptors: the batch takes at most 256
 * header iovecs, five such buffers, and the headers come out whole. */
static void test_hdr_iov_cap(void **state)
{
	const struct env_opts o = { .rx_size = 512 };
	struct env *e = env_start(state, &o);
	uint32_t sizes[45];
	unsigned int i, reads;
	int fd = env_guest_open(e, GPORT, HPORT);

	for (i = 0; i < HDR; i++)
		sizes[i] = 1;
	sizes[HDR] = 300;
	for (i = 0; i < 6; i++)
		vg_post_rx(e->g, sizes, 45);
	app_send_stream(fd, 14, 0, 6 * 300);
	reads = readv_calls;
	env_settle(e);
	assert_int_equal(readv_calls - reads, 2);
	for (i = 0; i < 6; i++)
		expect_rw_at(e, UINT32_MAX, HPORT, GPORT, 14, 300 * i, 300);
	env_expect_no_rx(e);
}

/*
 * How many buffers a read offers follows what the stream's reads found.
 * Its first read offers every buffer the credit covers; after one that
 * found a 64-byte message, the next offers what covers 32 KiB
 * (RX_TARGET_MIN): with 1 KiB buffers 34 of them, not all 57 posted,
 * popped and given back. A bulk transfer after that grows the batches
 * again. (1 KiB buffers: the fake guest's rx zone holds 96 KiB.)
 */
#define SMALL_BUF 1024u
#define SMALL_ROOM (SMALL_BUF - HDR)
#define SMALL_BATCH_BUFS ((32768u + SMALL_ROOM - 1) / SMALL_ROOM)
static void test_batch_follows_reads(void **state)
{
	struct env *e = env_start(state, NULL);
	const uint32_t bulk = 80000;
	uint64_t off = 0;
	unsigned int i, reads;
	int fd;

	e->g->buf_alloc = 1u << 20; /* credit is not what limits here */
	fd = env_guest_open(e, GPORT, HPORT);
	vg_post_rx_n(e->g, 60, SMALL_BUF);
	for (i = 0; i < 3; i++) {
		app_send_stream(fd, 13, off, 64);
		env_settle(e);
		expect_rw_at(e, UINT32_MAX, HPORT, GPORT, 13, off, 64);
		off += 64;
		if (i == 0)
			assert_int_equal(readv_last_iov, 60); /* nothing known yet */
		else
			assert_int_equal(readv_last_iov, SMALL_BATCH_BUFS);
	}
	env_expect_no_rx(e);

	/* Bulk: every byte, in order, and batches past the small ones. */
	readv_max_iov = 0;
	vg_post_rx_n(e->g, 30, SMALL_BUF);
	app_send_stream(fd, 13, off, bulk);
	reads = readv_calls;
	env_settle(e);
	for (i = 0; i < (bulk + SMALL_ROOM - 1) / SMALL_ROOM; i++) {
		uint32_t len = bulk - i * SMALL_ROOM < SMALL_ROOM ? bulk - i * SMALL_ROOM : SMALL_ROOM;

		expect_rw_at(e, UINT32_MAX, HPORT, GPORT, 13, off, len);
		off += len;
	}
	env_expect_no_rx(e);
	assert_true(readv_max_iov > (int)SMALL_BATCH_BUFS);
	assert_true(readv_calls - reads <= 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_64k_one_read, env_teardown),
		cmocka_unit_test_teardown(test_credit_below_buffers, env_teardown),
		cmocka_unit_test_teardown(test_unused_buffers_given_back, env_teardown),
		cmocka_unit_test_teardown(test_mixed_buffers, env_teardown),
		cmocka_unit_test_teardown(test_eof_after_data_shut_wr, env_teardown),
		cmocka_unit_test_teardown(test_eof_after_data_close, env_teardown),
		cmocka_unit_test_teardown(test_round_robin, env_teardown),
		cmocka_unit_test_teardown(test_budget, env_teardown),
		cmocka_unit_test_teardown(test_iov_cap, env_teardown),
		cmocka_unit_test_teardown(test_hdr_iov_cap, env_teardown),
		cmocka_unit_test_teardown(test_batch_follows_reads, env_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
