/* SPDX-License-Identifier: BSD-3-Clause */
/* Connection table: lookup by ports, allocation of host ports, lifecycle lists. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include "vsock_priv.h"

static inline uint32_t
hash_ports(uint32_t a, uint32_t b)
{
	uint64_t k = ((uint64_t) a << 32) | b;

	k *= 0x9e3779b97f4a7c15ull;
	return (uint32_t) (k >> 40) & (CONN_HASH_SIZE - 1);
}

struct conn *
conn_lookup(struct vv_vsock *vs, uint32_t guest_port, uint32_t host_port)
{
	struct conn *c;

	LIST_FOREACH (c, &vs->hash[hash_ports(guest_port, host_port)], hash_link)
		if (c->guest_port == guest_port && c->host_port == host_port)
			return c;
	return NULL;
}

const char *
conn_state_name(enum conn_state st)
{
	switch (st) {
	case CONN_LINE: return "awaiting-connect-line";
	case CONN_REQUESTING: return "requesting";
	case CONN_HOST_CONNECTING: return "host-connecting";
	case CONN_ESTABLISHED: return "established";
	case CONN_CLOSING: return "closing";
	case CONN_DOOMED: return "reset";
	}
	return "?";
}

struct conn *
conn_new(struct vv_vsock *vs, enum conn_state st, int fd)
{
	struct conn *c;

	if (vs->n_conns >= vs->max_conns) {
		errno = ENOSPC;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->rx_target = UINT32_MAX; /* nothing known yet: offer all the credit */
	c->pend_first = c->pend_last = TX_PEND_NONE;
	c->room_round = vs->round - 1; /* not measured */
	c->tag.kind = IO_CONN;
	c->type = VIRTIO_VSOCK_TYPE_STREAM; /* seq_conn_init makes it SEQPACKET */
	c->buf_alloc = vs->buf_alloc;
	c->state = st;
	c->fd = fd;
	TAILQ_INSERT_TAIL(&vs->all, c, all_link);
	if (st == CONN_LINE) {
		TAILQ_INSERT_TAIL(&vs->lines, c, line_link);
		c->in_line = true;
		vs->n_lines++;
	}
	vs->n_conns++;
	vs->stats.conns_opened++;
	vs->stats.conns_open = vs->n_conns;
	return c;
}

void
conn_hash_add(struct vv_vsock *vs, struct conn *c)
{
	LIST_INSERT_HEAD(&vs->hash[hash_ports(c->guest_port, c->host_port)], c, hash_link);
	c->in_hash = true;
}

static bool
host_port_live(struct vv_vsock *vs, uint32_t port)
{
	struct conn *c;

	LIST_FOREACH (c, &vs->port_hash[hash_ports(0, port)], port_link)
		if (c->host_port == port)
			return true;
	return false;
}

/* Host ports for host-initiated streams count up from 2^30 and wrap back to
 * it; a port still used by a live connection is skipped, never reused: not
 * by another host-initiated stream, nor by a guest stream to that same
 * (guest port, host port) pair. c->guest_port must be set. */
int
conn_alloc_host_port(struct vv_vsock *vs, struct conn *c)
{
	uint32_t tries;

	for (tries = 0; tries < vs->max_conns + 1; tries++) {
		uint32_t p = vs->next_host_port++;

		if (vs->next_host_port == 0)
			vs->next_host_port = VV_VSOCK_HOST_PORT_BASE;
		if (host_port_live(vs, p) || conn_lookup(vs, c->guest_port, p) != NULL)
			continue;
		c->host_port = p;
		LIST_INSERT_HEAD(&vs->port_hash[hash_ports(0, p)], c, port_link);
		c->in_port = true;
		return 0;
	}
	return -ENOSPC;
}

void
conn_ctl(struct vv_vsock *vs, struct conn *c, uint32_t ctl)
{
	c->ctl |= ctl;
	if (!c->in_ctl) {
		TAILQ_INSERT_TAIL(&vs->ctl, c, ctl_link);
		c->in_ctl = true;
	}
}

void
conn_rx_ready(struct vv_vsock *vs, struct conn *c)
{
	if (!c->in_rx) {
		TAILQ_INSERT_TAIL(&vs->rx, c, rx_link);
		c->in_rx = true;
	}
}

void
conn_rx_unready(struct vv_vsock *vs, struct conn *c)
{
	if (c->in_rx) {
		TAILQ_REMOVE(&vs->rx, c, rx_link);
		c->in_rx = false;
	}
}

/* The CONNECT line was read (or the client goes): no longer evictable. */
void
conn_line_done(struct vv_vsock *vs, struct conn *c)
{
	if (c->in_line) {
		TAILQ_REMOVE(&vs->lines, c, line_link);
		c->in_line = false;
		vs->n_lines--;
	}
}

/* Bytes into and out of a connection's buffer, with the VM's gauges that
 * show the bound (at most tx_buffer_size per connection) holds. */
void
conn_buf_put(struct vv_vsock *vs, struct conn *c, uint32_t n)
{
	c->buf_len += n;
	vs->stats.host_buffered_bytes += n;
}

void
conn_buf_take(struct vv_vsock *vs, struct conn *c, uint32_t n)
{
	c->buf_head = (uint32_t) (((uint64_t) c->buf_head + n) % c->buf_cap);
	c->buf_len -= n;
	vs->stats.host_buffered_bytes -= n;
}

static void
conn_unhash(struct conn *c)
{
	if (c->in_hash) {
		LIST_REMOVE(c, hash_link);
		c->in_hash = false;
	}
	if (c->in_port) {
		LIST_REMOVE(c, port_link);
		c->in_port = false;
	}
}

/* Closing the fd also removes it from the epoll set. A host app that still
 * had unread bytes queued sees ECONNRESET, others see EOF. */
void
conn_close_host(struct vv_vsock *vs, struct conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->io = 0;
	conn_rx_unready(vs, c);
}

void
conn_free(struct vv_vsock *vs, struct conn *c)
{
	conn_close_host(vs, c);
	conn_unhash(c);
	conn_line_done(vs, c);
	if (c->in_ctl)
		TAILQ_REMOVE(&vs->ctl, c, ctl_link);
	if (c->seq != NULL && c->seq->out != NULL)
		vs->stats.host_buffer_mem_bytes -= c->buf_alloc;
	TAILQ_REMOVE(&vs->all, c, all_link);
	vs->n_conns--;
	vs->stats.conns_closed++;
	vs->stats.conns_open = vs->n_conns;
	seq_conn_free(c);
	conn_buf_drop(vs, c);
	free(c);
}

/*
 * A stream whose host app reads (we wrote twice its send buffer into the
 * socket, so the app took at least one buffer's worth) gets a larger send
 * buffer, as TCP grows the buffers of busy connections: SO_SNDBUF of
 * HOST_SNDBUF_GROW, which the kernel caps at net.core.wmem_max and
 * doubles. The window counts its room: fewer credit round trips through a
 * sleeping guest (doc/performance.md). What we hold ourselves stays
 * buf_alloc; an app that never reads keeps the default buffer.
 */
static void
sock_grow(struct conn *c)
{
	int v = HOST_SNDBUF_GROW;
	socklen_t len = sizeof(v);

	if (c->fwd_cnt < 2 * (uint64_t) c->sndbuf)
		return;
	c->sndbuf_grown = true;
	if (setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) == 0 &&
	    getsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &v, &len) == 0 && v > 0)
		c->sndbuf = (uint32_t) v;
}

/*
 * Payload the host socket surely still takes. A Unix stream socket takes a
 * write while the memory of what its peer has not read (SIOCOUTQ, skb
 * sizes included) is under its SO_SNDBUF; an skb costs more than its
 * payload (about 3 % for the large writes a stream makes, far more for
 * tiny ones), so three quarters of the free space count.
 */
static uint32_t
sock_room(struct conn *c)
{
	/* Before the first header of a guest's connection nothing was
	 * written to the socket (the guest had no credit): no ioctl. */
	bool empty = c->credit_win == 0 && c->fwd_cnt == 0 && !c->host_initiated;
	int outq = 0;

	if (c->fd < 0 || c->state != CONN_ESTABLISHED || c->host_wr_shut || c->buf_len > 0 ||
	    c->seq != NULL)
		return 0;
	if (c->sndbuf == 0) {
		int v = 0;
		socklen_t len = sizeof(v);

		if (getsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &v, &len) != 0 || v <= 0)
			return 0;
		c->sndbuf = (uint32_t) v;
	}
	if (!empty && (ioctl(c->fd, SIOCOUTQ, &outq) != 0 || outq < 0))
		return 0;
	if (!c->sndbuf_grown)
		sock_grow(c);
	if ((uint32_t) outq >= c->sndbuf)
		return 0;
	return (c->sndbuf - (uint32_t) outq) / 4 * 3;
}

/*
 * The window to offer the guest on c: buf_alloc (tx_buffer_size), what we
 * hold when the host app does not read, plus the room its socket still
 * has. Bytes the socket takes count as forwarded at once, so its free send
 * space is buffer too, memory that exists anyway (Linux's vhost-vsock
 * likewise offers the socket's buffer). Measured at most once per poll
 * round, and again after each write to the socket. Not for SEQPACKET, whose
 * messages wait whole in buf. Capped so that wrapping counters stay
 * comparable.
 *
 * The socket is looked at again only when the guest may need more: until
 * the guest has used half of the last window measured (when an update
 * falls due), the limit it gave stands, or buf_alloc past fwd_cnt if that
 * is more (what we may hold anyway; a header never says less). A stream
 * that moves a few bytes at a time then costs no ioctl per packet
 * (doc/performance.md, "Connection set-up").
 */
uint32_t
conn_credit_window(struct vv_vsock *vs, struct conn *c)
{
	uint64_t w;

	if (c->credit_win != 0 && credit_guest_may_send(c) >= c->credit_win / 2)
		return RTE_MAX(c->credit_end - c->fwd_cnt, c->buf_alloc);
	if (c->room_round != vs->round) {
		c->room_round = vs->round;
		c->sock_room = sock_room(c);
	}
	w = (uint64_t) c->buf_alloc + c->sock_room;
	c->credit_win = w > (1u << 30) ? 1u << 30 : (uint32_t) w;
	return c->credit_win;
}

/* After bytes were forwarded: queue a CREDIT_UPDATE if the guest runs low. */
void
conn_credit_check(struct vv_vsock *vs, struct conn *c)
{
	if (credit_update_due(c, conn_credit_window(vs, c)))
		conn_ctl(vs, c, CTL_CREDIT_UPDATE);
}

/* The buffer exists only while it holds bytes: an idle connection keeps
 * none (a few hundred bytes of state, not tx_buffer_size). */
void
conn_buf_drop(struct vv_vsock *vs, struct conn *c)
{
	vs->stats.host_buffered_bytes -= c->buf_len;
	if (c->buf != NULL)
		vs->stats.host_buffer_mem_bytes -= c->buf_cap;
	free(c->buf);
	c->buf = NULL;
	c->buf_cap = c->buf_head = c->buf_len = 0;
}

/* Make room for len more bytes in c's ring buffer, keeping what it holds. */
static int
buf_reserve(struct vv_vsock *vs, struct conn *c, uint32_t len)
{
	uint32_t need = c->buf_len + len, cap = c->buf_cap ? c->buf_cap : c->buf_alloc;
	uint8_t *nb;

	if (need <= c->buf_cap)
		return 0;
	/* Past tx_buffer_size only when the socket took less than its room
	 * promised (tiny writes); the window bounds it. */
	while (cap < need)
		cap = cap > UINT32_MAX / 2 ? need : cap * 2;
	nb = malloc(cap);
	if (nb == NULL)
		return -ENOMEM;
	if (c->buf_len > 0) {
		uint32_t first = c->buf_cap - c->buf_head;

		if (first > c->buf_len)
			first = c->buf_len;
		memcpy(nb, c->buf + c->buf_head, first);
		memcpy(nb + first, c->buf, c->buf_len - first);
	}
	free(c->buf);
	vs->stats.host_buffer_mem_bytes += cap - c->buf_cap;
	c->buf = nb;
	c->buf_cap = cap;
	c->buf_head = 0;
	return 0;
}

/* Append len bytes of the iovecs, after the first skip bytes, to c's
 * buffer: what the host socket refused, kept until it takes them. */
int
conn_buf_put_iov(struct vv_vsock *vs, struct conn *c, const struct iovec *iov, unsigned int n_iov,
		 size_t skip, uint32_t len)
{
	uint32_t tail;
	unsigned int i;

	if (len == 0)
		return 0;
	if (buf_reserve(vs, c, len) < 0)
		return -ENOMEM;
	if (c->buf_len == 0)
		vs->stats.host_stalls++;
	tail = (uint32_t) (((uint64_t) c->buf_head + c->buf_len) % c->buf_cap);
	conn_buf_put(vs, c, len);
	for (i = 0; i < n_iov && len > 0; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t n = iov[i].iov_len;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		p += skip;
		n -= skip;
		skip = 0;
		if (n > len)
			n = len;
		len -= (uint32_t) n;
		while (n > 0) {
			uint32_t k = c->buf_cap - tail;

			if (k > n)
				k = (uint32_t) n;
			memcpy(c->buf + tail, p, k);
			p += k;
			n -= k;
			tail = (tail + k) % c->buf_cap;
		}
	}
	return 0;
}

/* End the connection with an RST to the guest. Connections the guest never
 * heard of (still reading the CONNECT line) just go. */
void
conn_reset(struct vv_vsock *vs, struct conn *c)
{
	if (c->state == CONN_LINE || c->state == CONN_DOOMED || !vs->attached) {
		if (c->state != CONN_DOOMED)
			conn_free(vs, c);
		return;
	}
	conn_close_host(vs, c);
	conn_unhash(c);
	c->state = CONN_DOOMED;
	c->deadline_ns = 0;
	c->ctl = 0;
	conn_ctl(vs, c, CTL_RST);
}
