/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Host-initiated streams: a host app connects to uds_path and writes
 * "CONNECT <port>\n"; the guest accepts (RESPONSE, the app reads
 * "OK <host port>\n") or refuses (RST, the app sees EOF). Bad, overlong and
 * missing lines, data sent right behind the line, host port allocation.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vsock_env.h"

#define GPORT 1234u
#define RXBUF (4096u + VG_HDR_SIZE)
#define PORT0 VV_VSOCK_HOST_PORT_BASE

static const struct env_opts with_listener = { .host_listener = true };

static void app_send_str(int fd, const char *s)
{
	app_send(fd, s, strlen(s));
}

/* The app reads exactly the string s, and nothing follows yet. */
static void app_expect_str(int fd, const char *s)
{
	char buf[128];
	size_t len = strlen(s);

	assert_true(len < sizeof(buf));
	assert_int_equal(app_recv(fd, buf, sizeof(buf)), (ssize_t)len);
	assert_memory_equal(buf, s, len);
	app_expect_nothing(fd);
}

static void test_connect_ok(void **state)
{
	struct env *e = env_start(state, &with_listener);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_vsock_conn_info ci;
	struct vg_pkt p;
	int fd = env_host_connect(e);

	app_send_str(fd, "CONNECT 1234\n");
	vg_post_rx_n(e->g, 3, RXBUF);
	env_settle(e);
	env_pop(e, &p);
	/* The first host port is the base of the host-initiated range. */
	expect_hdr(&p, VIRTIO_VSOCK_OP_REQUEST, PORT0, GPORT, 0, 0, e->buf_alloc, 0);
	env_expect_no_rx(e);
	assert_int_equal(env_conns(e, &ci, 1), 1);
	assert_true(ci.host_initiated);
	assert_string_equal(ci.state, "requesting");
	assert_int_equal(ci.guest_port, GPORT);
	assert_int_equal(ci.host_port, PORT0);
	app_expect_nothing(fd); /* no OK before the guest answers */

	env_send_op(e, VIRTIO_VSOCK_OP_RESPONSE, GPORT, PORT0, 0, 0);
	env_settle(e);
	app_expect_str(fd, "OK 1073741824\n");
	env_conns(e, &ci, 1);
	assert_string_equal(ci.state, "established");
	assert_int_equal(st->conns_open, 1);
	assert_int_equal(st->bad_connect_lines, 0);

	/* Data both ways. */
	app_send_str(fd, "ping");
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RW, PORT0, GPORT, 4, 0, e->window, 0);
	assert_memory_equal(p.data, "ping", 4);
	env_rw_to_app(e, GPORT, PORT0, fd, "pong", 4);
}

static void test_connect_guest_rst(void **state)
{
	struct env *e = env_start(state, &with_listener);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	uint32_t hport;
	struct vg_pkt p;
	char c;
	int fd = env_host_connect(e);

	app_send_str(fd, "CONNECT 1234\n");
	vg_post_rx_n(e->g, 2, RXBUF);
	env_settle(e);
	env_pop(e, &p);
	hport = p.hdr.src_port;
	assert_int_equal(p.hdr.op, VIRTIO_VSOCK_OP_REQUEST);
	/* Nobody listens on 1234 in the guest. */
	env_send_op(e, VIRTIO_VSOCK_OP_RST, GPORT, hport, 0, 0);
	env_settle(e);
	assert_int_equal(app_recv(fd, &c, 1), 0); /* EOF, and no "OK" before it */
	env_expect_no_rx(e);
	assert_int_equal(st->rst_rcvd, 1);
	assert_int_equal(st->rst_sent, 0);
	assert_int_equal(st->conns_open, 0);
}

/* A line the device must refuse: the app's socket is closed, no REQUEST. */
static void expect_line_refused(struct env *e, const char *line, size_t len)
{
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	uint64_t bad = st->bad_connect_lines;
	int fd = env_host_connect(e);

	app_send(fd, line, len);
	env_settle(e);
	app_expect_closed(fd);
	env_expect_no_rx(e);
	assert_int_equal(st->bad_connect_lines, bad + 1);
	assert_int_equal(st->conns_open, 0);
	env_close(e, fd);
}

static void test_connect_bad_lines(void **state)
{
	static const char *const lines[] = {
		"HELLO 1234\n", "CONNECT\n", "CONNECT x\n", "CONNECT 12x\n",
		"CONNECT 4294967296\n", "CONNECT 1 2\n", "CONNECT -1\n", "\n",
	};
	struct env *e = env_start(state, &with_listener);
	unsigned int i;

	vg_post_rx_n(e->g, 1, RXBUF);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		expect_line_refused(e, lines[i], strlen(lines[i]));
}

static void test_connect_line_length(void **state)
{
	struct env *e = env_start(state, &with_listener);
	char line[128];
	struct vg_pkt p;
	int fd;

	vg_post_rx_n(e->g, 2, RXBUF);
	/* 65 bytes with the newline: one too many. */
	snprintf(line, sizeof(line), "CONNECT %056u\n", 7u);
	assert_int_equal(strlen(line), 65);
	expect_line_refused(e, line, strlen(line));
	/* 70 bytes and no newline at all. */
	memset(line, '1', 70);
	memcpy(line, "CONNECT ", 8);
	expect_line_refused(e, line, 70);
	/* Exactly 64 bytes with the newline: accepted. */
	snprintf(line, sizeof(line), "CONNECT %055u\n", 7u);
	assert_int_equal(strlen(line), 64);
	fd = env_host_connect(e);
	app_send_str(fd, line);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_REQUEST, PORT0, 7, 0, 0, e->buf_alloc, 0);
	assert_int_equal(vv_vsock_stats(e->vs)->bad_connect_lines, 2);
}

/* Connect and send `partial` (may be empty), then never finish the line. */
static void line_timeout(void **state, const char *partial)
{
	struct env *e = env_start(state, &with_listener);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	int fd = env_host_connect(e);
	uint64_t t = e->now;

	app_send_str(fd, partial);
	vg_post_rx_n(e->g, 1, RXBUF);
	env_settle(e);
	assert_int_equal(st->conns_open, 1);
	e->now = t + VV_VSOCK_TIMEOUT_NS / 2;
	env_settle(e);
	app_expect_nothing(fd);
	assert_int_equal(st->bad_connect_lines, 0);
	e->now = t + VV_VSOCK_TIMEOUT_NS + 100000000ull;
	env_settle(e);
	app_expect_closed(fd);
	assert_int_equal(st->bad_connect_lines, 1);
	assert_int_equal(st->conns_open, 0);
	env_expect_no_rx(e); /* the guest never heard of it */
}

static void test_connect_no_line_timeout(void **state)
{
	line_timeout(state, "");
}

static void test_connect_partial_line_timeout(void **state)
{
	line_timeout(state, "CONNECT 12");
}

/*
 * max_pending clients wait for their line: a new client closes the oldest,
 * silent or half-way. A client that sends its line with the connect is
 * read at once, so it is never the one pushed out, and the silent ones
 * neither fill the connection table nor stay past the line timeout.
 */
static void test_pending_lines_evict_oldest(void **state)
{
	const struct env_opts o = { .host_listener = true, .max_pending = 2, .max_conns = 4 };
	struct env *e = env_start(state, &o);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	int a, b, c, d, f;
	struct vg_pkt p;

	vg_post_rx_n(e->g, 4, RXBUF);
	a = env_host_connect(e);
	env_settle(e);
	b = env_host_connect(e);
	app_send_str(b, "CONN");
	env_settle(e);
	assert_int_equal(st->conns_open, 2);
	assert_int_equal(st->connect_lines_evicted, 0);

	/* A third silent one: the oldest (a) goes. */
	c = env_host_connect(e);
	env_settle(e);
	app_expect_closed(a);
	app_expect_nothing(b);
	app_expect_nothing(c);
	assert_int_equal(st->connect_lines_evicted, 1);
	assert_int_equal(st->conns_open, 2);

	/* A real client: the line comes with the connect. It pushes out b
	 * (the pending ones are full when it arrives) and is served. */
	d = env_host_connect(e);
	app_send_str(d, "CONNECT 1234\n");
	env_settle(e);
	app_expect_closed(b);
	assert_int_equal(st->connect_lines_evicted, 2);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_REQUEST, PORT0, GPORT, 0, 0, e->buf_alloc, 0);
	env_send_op(e, VIRTIO_VSOCK_OP_RESPONSE, GPORT, PORT0, 0, 0);
	env_settle(e);
	app_expect_str(d, "OK 1073741824\n");

	/* One waiting (c) is under the cap: the next silent one stays too. */
	f = env_host_connect(e);
	env_settle(e);
	app_expect_nothing(c);
	app_expect_nothing(f);
	assert_int_equal(st->connect_lines_evicted, 2);
	assert_int_equal(st->conns_open, 3);
	assert_int_equal(st->bad_connect_lines, 0);
	assert_int_equal(st->drops[VV_DROP_CONN_LIMIT], 0);

	/* Nobody holds a slot past the line timeout. */
	e->now += VV_VSOCK_TIMEOUT_NS + 100000000ull;
	env_settle(e);
	app_expect_closed(c);
	app_expect_closed(f);
	assert_int_equal(st->bad_connect_lines, 2);
	assert_int_equal(st->conns_open, 1);
	env_close(e, a);
	env_close(e, b);
	env_close(e, c);
	env_close(e, f);
}

/*
 * The client a new one pushes out may have an event in the same epoll batch
 * as the listener's: here the listener's comes first (b connects before a
 * writes). Accepting after the batch means a's event is handled while a
 * still exists; accepting in its turn would free a under its own event (a
 * use after free the sanitizer build of this test would report).
 */
static void test_evict_with_event_in_batch(void **state)
{
	const struct env_opts o = { .host_listener = true, .max_pending = 1 };
	struct env *e = env_start(state, &o);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	int a = env_host_connect(e), b;

	vg_post_rx_n(e->g, 2, RXBUF);
	env_settle(e);
	assert_int_equal(st->conns_open, 1);
	b = env_host_connect(e);
	app_send_str(a, "CONN");
	env_poll(e); /* one batch: the listener, then a */
	app_expect_closed(a);
	app_expect_nothing(b);
	assert_int_equal(st->connect_lines_evicted, 1);
	assert_int_equal(st->conns_open, 1);
	app_send_str(b, "CONNECT 1234\n");
	env_settle(e);
	assert_int_equal(st->connect_lines_evicted, 1);
	assert_int_equal(vg_rx_pending(e->g), 1); /* b's REQUEST */
	env_close(e, a);
	env_close(e, b);
}

/* Host clients with no guest driver to reach: closed, and counted. */
static void test_clients_without_guest(void **state)
{
	struct env *e = env_start(state, &with_listener);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	int a = env_host_connect(e), b;

	env_settle(e);
	assert_int_equal(st->conns_open, 1);
	/* The guest driver goes away before a's line came. */
	vv_vsock_detach(e->vs, NULL, NULL);
	app_expect_closed(a);
	assert_int_equal(st->connect_no_guest, 1);
	/* Nobody to reach: closed at once. */
	b = env_host_connect(e);
	app_send_str(b, "CONNECT 1234\n");
	env_poll(e);
	app_expect_closed(b);
	assert_int_equal(st->connect_no_guest, 2);
	assert_int_equal(st->bad_connect_lines, 0);
	assert_int_equal(st->conns_open, 0);
	env_close(e, a);
	env_close(e, b);
}

static void test_connect_data_after_line(void **state)
{
	static const char msg[] = "CONNECT 1234\nhello, guest";
	struct env *e = env_start(state, &with_listener);
	struct vg_pkt p;
	int fd = env_host_connect(e);

	app_send(fd, msg, sizeof(msg) - 1); /* one write: line and data together */
	vg_post_rx_n(e->g, 3, RXBUF);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_REQUEST, PORT0, GPORT, 0, 0, e->buf_alloc, 0);
	env_expect_no_rx(e); /* no data before the guest accepted */
	env_send_op(e, VIRTIO_VSOCK_OP_RESPONSE, GPORT, PORT0, 0, 0);
	env_settle(e);
	app_expect_str(fd, "OK 1073741824\n");
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RW, PORT0, GPORT, 12, 0, ENV_ANY_WINDOW, 0);
	assert_memory_equal(p.data, "hello, guest", 12);
	env_expect_no_rx(e);
}

static void test_host_ports_differ(void **state)
{
	struct env *e = env_start(state, &with_listener);
	uint32_t h1, h2, h3;
	struct vg_pkt p;
	int fd1 = env_host_open(e, GPORT, &h1);
	int fd2 = env_host_open(e, GPORT, &h2);
	int fd3;

	/* Same guest port, both live: the host ports tell them apart. */
	assert_int_equal(h1, PORT0);
	assert_int_equal(h2, PORT0 + 1);
	vg_post_rx_n(e->g, 2, RXBUF);
	app_send_str(fd2, "two");
	app_send_str(fd1, "one");
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RW, p.hdr.src_port, GPORT, 3, 0, ENV_ANY_WINDOW, 0);
	assert_memory_equal(p.data, p.hdr.src_port == h1 ? "one" : "two", 3);
	env_pop(e, &p);
	assert_memory_equal(p.data, p.hdr.src_port == h1 ? "one" : "two", 3);
	/* The first one ends; a third stream does not take the live second's port. */
	env_send_op(e, VIRTIO_VSOCK_OP_RST, GPORT, h1, 0, 0);
	env_settle(e);
	app_expect_closed(fd1);
	fd3 = env_host_open(e, GPORT, &h3);
	assert_int_not_equal(h3, h2);
	assert_true(h3 >= PORT0);
	app_send_str(fd3, "three");
	vg_post_rx_n(e->g, 1, RXBUF);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RW, h3, GPORT, 5, 0, ENV_ANY_WINDOW, 0);
}

/*
 * A guest stream 3:1234 -> 2:2^30 (to the host listener "<uds>_1073741824")
 * and then a host app asking for guest port 1234: the new stream must not
 * get host port 2^30, or both would be the same (cid, port) pair and the
 * guest could not tell them apart.
 */
static void test_host_port_avoids_guest_stream(void **state)
{
	struct env *e = env_start(state, &with_listener);
	struct vg_pkt p;
	int gfd = env_guest_open(e, GPORT, PORT0);
	int fd = env_host_connect(e);

	app_send_str(fd, "CONNECT 1234\n");
	vg_post_rx_n(e->g, 2, RXBUF);
	env_settle(e);
	env_pop(e, &p);
	assert_int_equal(p.hdr.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(p.hdr.dst_port, GPORT);
	assert_int_not_equal(p.hdr.src_port, PORT0);
	/* The guest's stream still reaches its own app. */
	env_rw_to_app(e, GPORT, PORT0, gfd, "mine", 4);
}

static void test_requesting_timeout(void **state)
{
	struct env *e = env_start(state, &with_listener);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vg_pkt p;
	uint64_t t = e->now;
	int fd = env_host_connect(e);

	app_send_str(fd, "CONNECT 1234\n");
	vg_post_rx_n(e->g, 2, RXBUF);
	env_settle(e);
	env_pop(e, &p);
	assert_int_equal(p.hdr.op, VIRTIO_VSOCK_OP_REQUEST);
	/* The guest never answers: RST, and the app is let go without "OK". */
	e->now = t + VV_VSOCK_TIMEOUT_NS + 100000000ull;
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, PORT0, GPORT, 0, 0, ENV_ANY_WINDOW, 0);
	app_expect_closed(fd);
	assert_int_equal(st->conns_open, 0);
}

static void test_app_gives_up(void **state)
{
	struct env *e = env_start(state, &with_listener);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vg_pkt p;
	int fd = env_host_connect(e);

	app_send_str(fd, "CONNECT 1234\n");
	vg_post_rx_n(e->g, 2, RXBUF);
	env_settle(e);
	env_pop(e, &p);
	assert_int_equal(p.hdr.op, VIRTIO_VSOCK_OP_REQUEST);
	/* The app leaves before the guest answered: the guest gets RST. */
	env_close(e, fd);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, PORT0, GPORT, 0, 0, ENV_ANY_WINDOW, 0);
	assert_int_equal(st->conns_open, 0);
	/* A late RESPONSE finds no connection: RST again. */
	vg_post_rx_n(e->g, 1, RXBUF);
	env_send_op(e, VIRTIO_VSOCK_OP_RESPONSE, GPORT, PORT0, 0, 0);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, PORT0, GPORT, 0, 0, 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_connect_ok, env_teardown),
		cmocka_unit_test_teardown(test_connect_guest_rst, env_teardown),
		cmocka_unit_test_teardown(test_connect_bad_lines, env_teardown),
		cmocka_unit_test_teardown(test_connect_line_length, env_teardown),
		cmocka_unit_test_teardown(test_connect_no_line_timeout, env_teardown),
		cmocka_unit_test_teardown(test_connect_partial_line_timeout, env_teardown),
		cmocka_unit_test_teardown(test_pending_lines_evict_oldest, env_teardown),
		cmocka_unit_test_teardown(test_evict_with_event_in_batch, env_teardown),
		cmocka_unit_test_teardown(test_clients_without_guest, env_teardown),
		cmocka_unit_test_teardown(test_connect_data_after_line, env_teardown),
		cmocka_unit_test_teardown(test_host_ports_differ, env_teardown),
		cmocka_unit_test_teardown(test_host_port_avoids_guest_stream, env_teardown),
		cmocka_unit_test_teardown(test_requesting_timeout, env_teardown),
		cmocka_unit_test_teardown(test_app_gives_up, env_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
