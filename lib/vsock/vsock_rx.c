/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packets to the guest (its rx queue): RSTs for unknown connections first,
 * then control packets connections owe, then stream data read from host
 * sockets straight into the guest's buffers. Each buffer is filled as far
 * as credit allows rather than sending many small packets.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include <rte_byteorder.h>

#include "vsock_priv.h"

bool
rst_ring_full(const struct vv_vsock *vs)
{
	return vs->rst_head - vs->rst_tail >= RST_RING_SIZE;
}

/* Queue the RST answering packet `in` (host byte order). */
void
rst_ring_put(struct vv_vsock *vs, const struct vsock_hdr *in)
{
	struct vsock_hdr *h;

	if (rst_ring_full(vs))
		return; /* callers check first; a lost RST is retried by the guest's timeout */
	h = &vs->rst_ring[vs->rst_head++ & (RST_RING_SIZE - 1)];
	memset(h, 0, sizeof(*h));
	h->src_cid = in->dst_cid;
	h->dst_cid = in->src_cid;
	h->src_port = in->dst_port;
	h->dst_port = in->src_port;
	h->type = in->type;
	h->op = VSOCK_OP_RST;
}

static void
put_hdr(struct vv_vsock *vs, const struct vv_chain *ch, const struct vsock_hdr *h)
{
	struct vsock_hdr le = {
		.src_cid = rte_cpu_to_le_64(h->src_cid),
		.dst_cid = rte_cpu_to_le_64(h->dst_cid),
		.src_port = rte_cpu_to_le_32(h->src_port),
		.dst_port = rte_cpu_to_le_32(h->dst_port),
		.len = rte_cpu_to_le_32(h->len),
		.type = rte_cpu_to_le_16(h->type),
		.op = rte_cpu_to_le_16(h->op),
		.flags = rte_cpu_to_le_32(h->flags),
		.buf_alloc = rte_cpu_to_le_32(h->buf_alloc),
		.fwd_cnt = rte_cpu_to_le_32(h->fwd_cnt),
	};

	vv_chain_write(ch, 0, &le, sizeof(le));
	vv_virtq_push(&vs->rxq, ch->head, VV_VSOCK_HDR_SIZE + h->len);
	vs->stats.tx_pkts++;
	vs->stats.tx_bytes += h->len;
	if (h->op == VSOCK_OP_RST)
		vs->stats.rst_sent++;
}

/* Header of a packet on connection c; it also advertises our credit. */
static void
conn_hdr(struct vv_vsock *vs, struct conn *c, struct vsock_hdr *h, uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VV_VSOCK_HOST_CID;
	h->dst_cid = vs->guest_cid;
	h->src_port = c->host_port;
	h->dst_port = c->guest_port;
	h->type = VSOCK_TYPE_STREAM;
	h->op = op;
	h->buf_alloc = vs->buf_alloc;
	h->fwd_cnt = c->fwd_cnt;
	c->fwd_cnt_sent = c->fwd_cnt;
}

/* Build the next control packet c owes; returns false if it owes none. */
static bool
next_ctl(struct vv_vsock *vs, struct conn *c, struct vsock_hdr *h)
{
	static const struct {
		uint32_t bit;
		uint16_t op;
	} order[] = {
		{ CTL_RST, VSOCK_OP_RST },
		{ CTL_REQUEST, VSOCK_OP_REQUEST },
		{ CTL_RESPONSE, VSOCK_OP_RESPONSE },
		{ CTL_CREDIT_UPDATE, VSOCK_OP_CREDIT_UPDATE },
		{ CTL_CREDIT_REQUEST, VSOCK_OP_CREDIT_REQUEST },
		{ CTL_SHUTDOWN, VSOCK_OP_SHUTDOWN },
	};
	unsigned int i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!(c->ctl & order[i].bit))
			continue;
		c->ctl &= ~order[i].bit;
		conn_hdr(vs, c, h, order[i].op);
		if (order[i].op == VSOCK_OP_SHUTDOWN)
			h->flags = c->shut_to_send;
		return true;
	}
	return false;
}

/* Fill one rx buffer from c's host socket. Returns false when the buffer
 * was not used (it is given back to the ring). */
static bool
fill_data(struct vv_vsock *vs, struct conn *c, const struct vv_chain *ch, uint64_t now)
{
	struct iovec iov[VV_CHAIN_IOV_MAX];
	uint32_t want = ch->len - VV_VSOCK_HDR_SIZE;
	uint32_t credit = credit_peer_free(c);
	struct vsock_hdr h;
	unsigned int n_iov;
	ssize_t n;

	if (want > credit)
		want = credit;
	if (want == 0) {
		/* A header-only buffer cannot carry data (and a 0-byte read
		 * would look like EOF): give it back empty. */
		vs->stats.drops[VV_DROP_RX_BUF_SHORT]++;
		vv_virtq_push(&vs->rxq, ch->head, 0);
		return true;
	}
	n_iov = vv_chain_slice(ch, VV_VSOCK_HDR_SIZE, want, iov, VV_CHAIN_IOV_MAX);
	n = readv(c->fd, iov, (int) n_iov);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			c->io &= ~IO_READABLE;
			conn_rx_unready(vs, c);
		} else {
			conn_reset(vs, c);
		}
		return false;
	}
	if (n == 0) {
		/* EOF: the host app shut its sending side, or closed (HUP),
		 * in which case it will not read either. */
		conn_hdr(vs, c, &h, VSOCK_OP_SHUTDOWN);
		h.flags = VSOCK_SHUTDOWN_SEND | ((c->io & IO_HUP) ? VSOCK_SHUTDOWN_RCV : 0);
		c->local_shut |= h.flags;
		put_hdr(vs, ch, &h);
		c->io &= ~IO_READABLE;
		conn_rx_unready(vs, c);
		host_try_finish(vs, c, now);
		return true;
	}
	conn_hdr(vs, c, &h, VSOCK_OP_RW);
	h.len = (uint32_t) n;
	c->tx_cnt += (uint32_t) n;
	c->bytes_out += (uint64_t) n;
	put_hdr(vs, ch, &h);
	if ((uint32_t) n < want && !(c->io & (IO_RDHUP | IO_HUP))) {
		/* Short read: the socket is empty now; epoll (edge-triggered)
		 * reports the next byte that arrives. Not so after the app shut
		 * its side: that edge is spent, and the EOF behind the data
		 * must still be read. */
		c->io &= ~IO_READABLE;
		conn_rx_unready(vs, c);
	} else {
		/* Round robin between streams. */
		conn_rx_unready(vs, c);
		conn_rx_ready(vs, c);
	}
	return true;
}

/* May c send data now? If not, take it off the rx list: its credit update,
 * shutdown or state change puts it back. */
static bool
data_ready(struct vv_vsock *vs, struct conn *c)
{
	if (c->state != CONN_ESTABLISHED || c->fd < 0 || (c->peer_shut & VSOCK_SHUTDOWN_RCV) ||
	    (c->local_shut & VSOCK_SHUTDOWN_SEND) || !(c->io & IO_READABLE)) {
		conn_rx_unready(vs, c);
		return false;
	}
	if (credit_peer_free(c) == 0) {
		if (!c->stalled) {
			c->stalled = true;
			vs->stats.credit_stalls++;
			conn_ctl(vs, c, CTL_CREDIT_REQUEST);
		}
		conn_rx_unready(vs, c);
		return false;
	}
	return true;
}

unsigned int
guest_rx_poll(struct vv_vsock *vs, uint64_t now)
{
	struct vv_chain *ch = &vs->chain;
	unsigned int n = 0;

	if (!vs->attached || !vs->q_enabled[0] || vs->rxq.broken)
		return 0;
	if (vs->port != NULL)
		n = sibling_rx(vs);
	while (n < RX_BUDGET) {
		struct conn *c = NULL;
		struct vsock_hdr h;
		bool have_rst = vs->rst_head != vs->rst_tail;
		enum vv_virtq_err e;

		if (!have_rst) {
			while ((c = TAILQ_FIRST(&vs->ctl)) != NULL && c->ctl == 0) {
				TAILQ_REMOVE(&vs->ctl, c, ctl_link);
				c->in_ctl = false;
			}
			if (c == NULL) {
				while ((c = TAILQ_FIRST(&vs->rx)) != NULL && !data_ready(vs, c))
					;
				/* data_ready may have queued a CREDIT_REQUEST */
				if (c == NULL && (c = TAILQ_FIRST(&vs->ctl)) == NULL)
					break;
			}
		}
		e = vv_virtq_pop(&vs->rxq, &vs->mem, true, ch);
		if (e == VV_VIRTQ_EMPTY)
			break;
		if (e == VV_VIRTQ_BROKEN) {
			vs->stats.drops[VV_DROP_RING_BROKEN]++;
			VSOCK_LOG(ERR, "cid %" PRIu64 ": rx ring index corrupted, queue stopped",
				  vs->guest_cid);
			break;
		}
		n++;
		if (e != VV_VIRTQ_OK || ch->len < VV_VSOCK_HDR_SIZE) {
			vs->stats.drops[e != VV_VIRTQ_OK ? vsock_virtq_drop(e)
							 : VV_DROP_RX_BUF_SHORT]++;
			vv_virtq_push(&vs->rxq, ch->head, 0);
			continue;
		}
		if (have_rst) {
			h = vs->rst_ring[vs->rst_tail++ & (RST_RING_SIZE - 1)];
			put_hdr(vs, ch, &h);
		} else if (c->in_ctl && c->ctl != 0 && next_ctl(vs, c, &h)) {
			put_hdr(vs, ch, &h);
			if (h.op == VSOCK_OP_RST && c->state == CONN_DOOMED)
				conn_free(vs, c);
		} else if (!fill_data(vs, c, ch, now)) {
			vv_virtq_unpop(&vs->rxq);
			n--;
		}
	}
	vv_virtq_flush(&vs->rxq);
	return n;
}
