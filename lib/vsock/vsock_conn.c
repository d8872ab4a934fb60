/* SPDX-License-Identifier: BSD-3-Clause */
/* Connection table: lookup by ports, allocation of host ports, lifecycle lists. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>

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
	c->buf_head = (uint32_t) (((uint64_t) c->buf_head + n) % c->buf_alloc);
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
	vs->stats.host_buffered_bytes -= c->buf_len;
	if (c->buf != NULL)
		vs->stats.host_buffer_mem_bytes -= c->buf_alloc;
	if (c->seq != NULL && c->seq->out != NULL)
		vs->stats.host_buffer_mem_bytes -= c->buf_alloc;
	TAILQ_REMOVE(&vs->all, c, all_link);
	vs->n_conns--;
	vs->stats.conns_closed++;
	vs->stats.conns_open = vs->n_conns;
	seq_conn_free(c);
	free(c->buf);
	free(c);
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
