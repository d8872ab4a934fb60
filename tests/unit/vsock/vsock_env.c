/* SPDX-License-Identifier: BSD-3-Clause */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <vv_uds.h>

#include "vsock_env.h"

static uint32_t any_window_lo, any_window_hi; /* ENV_ANY_WINDOW */

uint32_t env_sock_room(uint32_t queued)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), sndbuf = 0;
	socklen_t len = sizeof(sndbuf);

	/* A new Unix socket's send buffer, as the device's sockets have it. */
	assert_true(fd >= 0);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len), 0);
	close(fd);
	return queued >= (uint32_t)sndbuf ? 0 : ((uint32_t)sndbuf - queued) / 4 * 3;
}

uint32_t env_sock_room_grown(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), sndbuf = 1 << 20;
	socklen_t len = sizeof(sndbuf);

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len), 0);
	close(fd);
	return (uint32_t)sndbuf / 4 * 3;
}

struct env *env_new(const struct env_opts *o)
{
	static const struct env_opts defaults = { 0 };
	struct vv_vsock_params p = { 0 };
	struct env *e = calloc(1, sizeof(*e));
	char err[256];

	assert_non_null(e);
	if (o == NULL)
		o = &defaults;
	snprintf(e->dir, sizeof(e->dir), "/tmp/vv-vsock-test.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->uds, sizeof(e->uds), "%s/v.sock", e->dir);
	e->now = ENV_T0;
	e->cid = o->cid ? o->cid : ENV_CID;
	e->buf_alloc = o->buf_alloc ? o->buf_alloc : 65536;
	e->window = e->buf_alloc + env_sock_room(0);
	e->window_max = e->buf_alloc + env_sock_room_grown();
	if (e->window_max < e->window)
		e->window_max = e->window;
	any_window_lo = e->buf_alloc;
	any_window_hi = e->window_max;

	p.guest_cid = e->cid;
	p.uds_path = e->uds;
	p.buf_alloc = e->buf_alloc;
	p.max_conns = o->max_conns;
	p.max_pending = o->max_pending;
	p.listen_fd = -1;
	p.seq_listen_fd = -1;
	e->features = o->no_seqpacket ? 0 : 1ull << VIRTIO_VSOCK_F_SEQPACKET;
	assert_int_equal(vv_uds_seqpacket_path(e->seq_uds, sizeof(e->seq_uds), e->uds), 0);
	if (o->route != NULL) {
		p.route = o->route;
		p.port = vv_route_lookup(o->route, e->cid);
		assert_non_null(p.port);
	}
	if (o->host_listener) {
		p.listen_fd = vv_uds_listen(e->uds, 16, err, sizeof(err));
		if (p.listen_fd < 0)
			fail_msg("vv_uds_listen: %s", err);
	}
	if (o->seq_listener) {
		p.seq_listen_fd = vv_uds_listen_seqpacket(e->seq_uds, 16, err, sizeof(err));
		if (p.seq_listen_fd < 0)
			fail_msg("vv_uds_listen_seqpacket: %s", err);
	}
	e->vs = vv_vsock_create(&p);
	assert_non_null(e->vs);
	e->g = vg_new(e->cid, o->rx_size ? o->rx_size : 256, o->tx_size ? o->tx_size : 256,
		      o->rx_start, o->tx_start);
	assert_non_null(e->g);
	assert_int_equal(
		vv_vsock_attach(e->vs, e->features, vg_mem(e->g), vg_rxq(e->g), vg_txq(e->g)), 0);
	return e;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(dir);
}

void env_free(struct env *e)
{
	unsigned int i;

	if (e == NULL)
		return;
	vv_vsock_detach(e->vs, NULL, NULL);
	vv_vsock_free(e->vs);
	for (i = 0; i < e->n_fds; i++)
		if (e->fds[i] >= 0)
			close(e->fds[i]);
	vg_free(e->g);
	rm_dir(e->dir);
	free(e);
}

unsigned int env_poll(struct env *e)
{
	return vv_vsock_poll(e->vs, e->now, true);
}

/* Two idle rounds in a row: what timers queue in one round goes out in the
 * next (they run after the rings), and that round may look idle at first. */
void env_settle(struct env *e)
{
	unsigned int i, idle = 0;

	for (i = 0; i < 64; i++) {
		idle = env_poll(e) == 0 ? idle + 1 : 0;
		if (idle == 2)
			return;
	}
	fail_msg("device still busy after 64 poll rounds");
}

int env_track(struct env *e, int fd)
{
	assert_true(fd >= 0);
	assert_true(e->n_fds < sizeof(e->fds) / sizeof(e->fds[0]));
	e->fds[e->n_fds++] = fd;
	return fd;
}

void env_close(struct env *e, int fd)
{
	unsigned int i;

	for (i = 0; i < e->n_fds; i++)
		if (e->fds[i] == fd)
			e->fds[i] = -1;
	assert_int_equal(close(fd), 0);
}

static int listen_port(struct env *e, uint32_t port, bool seqpacket)
{
	char path[160], err[256];
	int fd;

	snprintf(path, sizeof(path), "%s_%u", e->uds, port);
	fd = seqpacket ? vv_uds_listen_seqpacket(path, 16, err, sizeof(err))
		       : vv_uds_listen(path, 16, err, sizeof(err));
	if (fd < 0)
		fail_msg("listen on %s: %s", path, err);
	return env_track(e, fd);
}

int env_listen_port(struct env *e, uint32_t port)
{
	return listen_port(e, port, false);
}

int env_seq_listen_port(struct env *e, uint32_t port)
{
	return listen_port(e, port, true);
}

int env_accept(struct env *e, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		fail_msg("accept: %s", strerror(errno));
	return env_track(e, fd);
}

static int host_connect(struct env *e, const char *path, int type)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fail_msg("connect %s: %s", path, strerror(errno));
	return env_track(e, fd);
}

int env_host_connect(struct env *e)
{
	return host_connect(e, e->uds, SOCK_STREAM);
}

int env_seq_host_connect(struct env *e)
{
	return host_connect(e, e->seq_uds, SOCK_SEQPACKET);
}

void env_pop(struct env *e, struct vg_pkt *p)
{
	if (!vg_recv(e->g, p))
		fail_msg("no packet in the rx ring");
	assert_false(p->overrun);
	assert_true(p->has_hdr);
	/* The used length is exactly header + payload. */
	assert_int_equal(p->used_len, VG_HDR_SIZE + p->hdr.len);
}

void env_expect_no_rx(struct env *e)
{
	struct vg_pkt p;

	if (vg_recv(e->g, &p))
		fail_msg("unexpected rx packet: op %u %u->%u len %u flags %u (used len %u)",
			 p.hdr.op, p.hdr.src_port, p.hdr.dst_port, p.hdr.len, p.hdr.flags,
			 p.used_len);
}

void expect_hdr(const struct vg_pkt *p, uint16_t op, uint32_t src_port, uint32_t dst_port,
		uint32_t len, uint32_t flags, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	expect_hdr_to(p, ENV_CID, op, src_port, dst_port, len, flags, buf_alloc, fwd_cnt);
}

void expect_hdr_to(const struct vg_pkt *p, uint64_t dst_cid, uint16_t op, uint32_t src_port,
		   uint32_t dst_port, uint32_t len, uint32_t flags, uint32_t buf_alloc,
		   uint32_t fwd_cnt)
{
	assert_int_equal(p->hdr.src_cid, VG_HOST_CID);
	assert_int_equal(p->hdr.dst_cid, dst_cid);
	assert_int_equal(p->hdr.type, VIRTIO_VSOCK_TYPE_STREAM);
	assert_int_equal(p->hdr.op, op);
	assert_int_equal(p->hdr.src_port, src_port);
	assert_int_equal(p->hdr.dst_port, dst_port);
	assert_int_equal(p->hdr.len, len);
	assert_int_equal(p->hdr.flags, flags);
	if (buf_alloc == ENV_ANY_WINDOW) {
		env_assert_range(p->hdr.buf_alloc, any_window_lo, any_window_hi);
	} else {
		assert_int_equal(p->hdr.buf_alloc, buf_alloc);
	}
	assert_int_equal(p->hdr.fwd_cnt, fwd_cnt);
}

void env_send_op(struct env *e, uint16_t op, uint32_t gport, uint32_t hport,
		 uint32_t flags, uint32_t fwd_cnt)
{
	struct virtio_vsock_hdr h;

	vg_hdr_init(&h, e->g, op, gport, hport);
	h.flags = flags;
	h.fwd_cnt = fwd_cnt;
	vg_send(e->g, &h, NULL);
}

void env_send_rw(struct env *e, uint32_t gport, uint32_t hport, const void *data, uint32_t len)
{
	struct virtio_vsock_hdr h;

	vg_hdr_init(&h, e->g, VIRTIO_VSOCK_OP_RW, gport, hport);
	h.len = len;
	vg_send(e->g, &h, data);
}

void env_rw_to_app(struct env *e, uint32_t gport, uint32_t hport, int fd, const void *data,
		   uint32_t len)
{
	char buf[64];

	assert_true(len <= sizeof(buf));
	env_send_rw(e, gport, hport, data, len);
	env_settle(e);
	assert_int_equal(app_recv(fd, buf, sizeof(buf)), len);
	assert_memory_equal(buf, data, len);
}

int env_guest_open(struct env *e, uint32_t gport, uint32_t hport)
{
	int lfd = env_listen_port(e, hport);
	struct vg_pkt p;

	vg_post_rx_n(e->g, 1, 4096 + VG_HDR_SIZE);
	env_send_op(e, VIRTIO_VSOCK_OP_REQUEST, gport, hport, 0, 0);
	env_poll(e);
	env_pop(e, &p);
	expect_hdr_to(&p, e->cid, VIRTIO_VSOCK_OP_RESPONSE, hport, gport, 0, 0, e->window, 0);
	return env_accept(e, lfd);
}

int env_host_open(struct env *e, uint32_t gport, uint32_t *hport)
{
	int fd = env_host_connect(e);
	char line[32], ok[32];
	struct vg_pkt p;
	int n;

	n = snprintf(line, sizeof(line), "CONNECT %u\n", gport);
	app_send(fd, line, (size_t)n);
	vg_post_rx_n(e->g, 1, 4096 + VG_HDR_SIZE);
	env_settle(e);
	env_pop(e, &p);
	assert_true(p.hdr.src_port >= VV_VSOCK_HOST_PORT_BASE);
	/* Not established yet: no host socket room counts. */
	expect_hdr_to(&p, e->cid, VIRTIO_VSOCK_OP_REQUEST, p.hdr.src_port, gport, 0, 0,
		      e->buf_alloc, 0);
	*hport = p.hdr.src_port;
	env_send_op(e, VIRTIO_VSOCK_OP_RESPONSE, gport, *hport, 0, 0);
	env_settle(e);
	n = snprintf(ok, sizeof(ok), "OK %u\n", *hport);
	assert_int_equal(app_recv(fd, line, (size_t)n), n);
	assert_memory_equal(line, ok, (size_t)n);
	return fd;
}

ssize_t app_recv(int fd, void *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);

	return n < 0 ? -errno : n;
}

void app_expect_closed(int fd)
{
	char c;
	ssize_t n = app_recv(fd, &c, 1);

	if (n != 0 && n != -ECONNRESET)
		fail_msg("app socket not closed by the device: recv gave %zd", n);
}

void app_expect_nothing(int fd)
{
	char c;

	assert_int_equal(app_recv(fd, &c, 1), -EAGAIN);
}

void app_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0)
			fail_msg("send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

void app_send_stream(int fd, uint32_t seed, uint64_t off, uint32_t len)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	pattern_fill(buf, seed, off, len);
	app_send(fd, buf, len);
	free(buf);
}

void pattern_fill(uint8_t *buf, uint32_t seed, uint64_t from, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern(seed, from + i);
}

bool pattern_check(const uint8_t *buf, uint32_t seed, uint64_t from, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != pattern(seed, from + i))
			return false;
	return true;
}

void expect_drops(const struct vv_vsock_stats *before, const struct vv_vsock_stats *now,
		  int why, uint64_t n)
{
	int d;

	for (d = 0; d < VV_DROP_MAX; d++) {
		uint64_t want = before->drops[d] + (d == why ? n : 0);

		if (now->drops[d] != want)
			fail_msg("drops[%s] = %" PRIu64 ", expected %" PRIu64,
				 vv_vsock_drop_name(d), now->drops[d], want);
	}
}

struct conns_acc {
	struct vv_vsock_conn_info *out;
	unsigned int max, n;
};

static void conns_cb(const struct vv_vsock_conn_info *ci, void *arg)
{
	struct conns_acc *a = arg;

	if (a->n < a->max)
		a->out[a->n] = *ci;
	a->n++;
}

unsigned int env_conns(struct env *e, struct vv_vsock_conn_info *out, unsigned int max)
{
	struct conns_acc a = { out, max, 0 };
	unsigned int n = vv_vsock_conn_foreach(e->vs, conns_cb, &a);

	assert_int_equal(n, a.n);
	return n;
}

struct env *env_start(void **state, const struct env_opts *o)
{
	struct env *e = env_new(o);

	*state = e;
	return e;
}

int env_teardown(void **state)
{
	env_free(*state);
	*state = NULL;
	return 0;
}
