/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packets to the guest (its rx queue): RSTs for unknown connections first,
 * then control packets connections owe, then stream data read from host
 * sockets straight into the guest's buffers. Each buffer is filled as far
 * as credit allows rather than sending many small packets, and one readv
 * fills as many buffers as the credit covers: a syscall per 4 KiB guest
 * buffer would cap the host->guest rate.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include <rte_byteorder.h>
#include <rte_common.h>

#include "vsock_priv.h"

bool
rst_ring_full(const struct vv_vsock *vs)
{
	return vs->rst_head - vs->rst_tail >= RST_RING_SIZE;
}

/* Queue the RST answering packet `in` (host byte order). */
void
rst_ring_put(struct vv_vsock *vs, const struct virtio_vsock_hdr *in)
{
	struct virtio_vsock_hdr *h;

	if (rst_ring_full(vs))
		return; /* callers check first; a lost RST is retried by the guest's timeout */
	h = &vs->rst_ring[vs->rst_head++ & (RST_RING_SIZE - 1)];
	memset(h, 0, sizeof(*h));
	h->src_cid = in->dst_cid;
	h->dst_cid = in->src_cid;
	h->src_port = in->dst_port;
	h->dst_port = in->src_port;
	h->type = in->type;
	h->op = VIRTIO_VSOCK_OP_RST;
}

/* Copy src into the first len bytes the iovecs cover. */
static void
iov_write(const struct iovec *iov, unsigned int n_iov, const void *src, size_t len)
{
	const uint8_t *p = src;
	unsigned int i;

	for (i = 0; i < n_iov && len > 0; i++) {
		size_t k = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(iov[i].iov_base, p, k);
		p += k;
		len -= k;
	}
}

/* Write h into the buffer whose first bytes iov covers and push it. */
static void
put_hdr_iov(struct vv_vsock *vs, uint32_t head, const struct iovec *iov, unsigned int n_iov,
	    const struct virtio_vsock_hdr *h)
{
	struct virtio_vsock_hdr le = *h;

	hdr_le_swap(&le);
	iov_write(iov, n_iov, &le, sizeof(le));
	vv_virtq_push(&vs->rxq, head, VV_VSOCK_HDR_SIZE + h->len);
	vs->stats.tx_pkts++;
	vs->stats.tx_bytes += h->len;
	if (h->op == VIRTIO_VSOCK_OP_RST)
		vs->stats.rst_sent++;
}

void
put_hdr(struct vv_vsock *vs, const struct vv_chain *ch, const struct virtio_vsock_hdr *h)
{
	put_hdr_iov(vs, ch->head, ch->iov, ch->n_iov, h);
}

/* Header of a packet on connection c; it also advertises our credit. */
void
conn_hdr(struct vv_vsock *vs, struct conn *c, struct virtio_vsock_hdr *h, uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VV_VSOCK_HOST_CID;
	h->dst_cid = vs->guest_cid;
	h->src_port = c->host_port;
	h->dst_port = c->guest_port;
	h->type = c->type;
	h->op = op;
	h->buf_alloc = c->buf_alloc;
	h->fwd_cnt = c->fwd_cnt;
	c->fwd_cnt_sent = c->fwd_cnt;
}

/* The host app shut its sending side, or closed (HUP), in which case it
 * will not read either: the SHUTDOWN the guest gets where data would be. */
void
eof_hdr(struct vv_vsock *vs, struct conn *c, struct virtio_vsock_hdr *h)
{
	conn_hdr(vs, c, h, VIRTIO_VSOCK_OP_SHUTDOWN);
	h->flags = VIRTIO_VSOCK_SHUTDOWN_SEND | ((c->io & IO_HUP) ? VIRTIO_VSOCK_SHUTDOWN_RCV : 0);
	c->local_shut |= h->flags;
	c->io &= ~IO_READABLE;
	conn_rx_unready(vs, c);
}

/* Build the next control packet c owes; returns false if it owes none. */
static bool
next_ctl(struct vv_vsock *vs, struct conn *c, struct virtio_vsock_hdr *h)
{
	static const struct {
		uint32_t bit;
		uint16_t op;
	} order[] = {
		{ CTL_RST, VIRTIO_VSOCK_OP_RST },
		{ CTL_REQUEST, VIRTIO_VSOCK_OP_REQUEST },
		{ CTL_RESPONSE, VIRTIO_VSOCK_OP_RESPONSE },
		{ CTL_CREDIT_UPDATE, VIRTIO_VSOCK_OP_CREDIT_UPDATE },
		{ CTL_CREDIT_REQUEST, VIRTIO_VSOCK_OP_CREDIT_REQUEST },
		{ CTL_SHUTDOWN, VIRTIO_VSOCK_OP_SHUTDOWN },
	};
	unsigned int i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!(c->ctl & order[i].bit))
			continue;
		c->ctl &= ~order[i].bit;
		conn_hdr(vs, c, h, order[i].op);
		if (order[i].op == VIRTIO_VSOCK_OP_SHUTDOWN)
			h->flags = c->shut_to_send;
		return true;
	}
	return false;
}

static void
rx_ring_broken(struct vv_vsock *vs)
{
	vs->stats.drops[VV_DROP_RING_BROKEN]++;
	VSOCK_LOG(ERR, "cid %" PRIu64 ": rx ring index corrupted, queue stopped", vs->guest_cid);
}

/*
 * Line up the rx buffers one host read fills: ch (popped by the caller)
 * and the next ones in the ring, until they cover `target` bytes, c's
 * credit or max buffers. The last buffer popped is given back if it cannot join: a bad
 * or header-only one is left to the caller's loop, which pops it next and
 * drops it as it drops any (so it never gets payload iovecs here).
 * Returns the number of slots; b->slot[0] is ch.
 */
static unsigned int
rx_batch_build(struct vv_vsock *vs, uint32_t credit, uint32_t target, struct vv_chain *ch,
	       unsigned int max, unsigned int *n_data, uint32_t *want)
{
	struct rx_batch *b = &vs->rx_batch;
	unsigned int n_slot = 0, n_hdr = 0;

	*n_data = 0;
	*want = 0;
	for (;;) {
		struct rx_slot *s = &b->slot[n_slot];
		uint32_t room = ch->len - VV_VSOCK_HDR_SIZE;
		unsigned int nh, nd;
		enum vv_virtq_err e;

		if (room > credit - *want)
			room = credit - *want;
		/* Every iovec holds at least a byte: a header takes at most 44. */
		nh = vv_chain_slice(ch, 0, VV_VSOCK_HDR_SIZE, &b->hdr[n_hdr], VV_VSOCK_HDR_SIZE);
		nd = vv_chain_slice(ch, VV_VSOCK_HDR_SIZE, room, &b->data[*n_data],
				    VV_CHAIN_IOV_MAX);
		if (n_slot > 0 &&
		    (n_hdr + nh > RX_BATCH_HDR_IOV_MAX || *n_data + nd > RX_BATCH_IOV_MAX)) {
			vv_virtq_unpop_n(&vs->rxq, 1);
			break;
		}
		s->head = ch->head;
		s->hdr_iov = (uint16_t) n_hdr;
		s->n_hdr_iov = (uint16_t) nh;
		s->room = room;
		n_slot++;
		n_hdr += nh;
		*n_data += nd;
		*want += room;
		if (*want == credit || *want >= target || n_slot == max)
			break;
		e = vv_virtq_pop(&vs->rxq, &vs->mem, true, ch);
		if (e == VV_VIRTQ_EMPTY)
			break;
		if (e == VV_VIRTQ_BROKEN) {
			/* Nothing consumed; the caller stops on vs->rxq.broken. */
			rx_ring_broken(vs);
			break;
		}
		if (e != VV_VIRTQ_OK || ch->len <= VV_VSOCK_HDR_SIZE) {
			vv_virtq_unpop_n(&vs->rxq, 1);
			break;
		}
	}
	return n_slot;
}

/*
 * Move what c's host socket holds into rx buffers with one readv: ch,
 * popped and counted by the caller, and up to max - 1 more. readv fills
 * the buffers in ring order, so all but the last one used are full.
 * Returns how many buffers were used (pushed); the others, ch included
 * when it is 0, are given back to the ring.
 */
static unsigned int
fill_data(struct vv_vsock *vs, struct conn *c, struct vv_chain *ch, unsigned int max, uint64_t now)
{
	const struct rx_batch *b = &vs->rx_batch;
	uint32_t credit = credit_peer_free(c);
	unsigned int n_slot, n_data, i;
	struct virtio_vsock_hdr h;
	uint32_t want, left, target;
	ssize_t n;

	if (credit == 0 || ch->len == VV_VSOCK_HDR_SIZE) {
		/* A header-only buffer cannot carry data (and a 0-byte read
		 * would look like EOF): give it back empty. Credit is not 0
		 * here (data_ready), but a batch without room must not read. */
		vs->stats.drops[VV_DROP_RX_BUF_SHORT]++;
		vv_virtq_push(&vs->rxq, ch->head, 0);
		return 1;
	}
	/* Offer what the last read suggests (rx_target), RX_TARGET_MIN at
	 * least: a ping-pong of small messages pops a few buffers per read
	 * instead of popping, slicing and giving back 63; a stream that fills
	 * its batches doubles them. */
	target = c->rx_target > RX_TARGET_MIN ? c->rx_target : RX_TARGET_MIN;
	if (target > credit)
		target = credit;
	n_slot = rx_batch_build(vs, credit, target, ch, max, &n_data, &want);
	n = readv(c->fd, b->data, (int) n_data);
	if (n < 0) {
		vv_virtq_unpop_n(&vs->rxq, (uint16_t) n_slot);
		if (errno == EAGAIN || errno == EINTR) {
			c->io &= ~IO_READABLE;
			conn_rx_unready(vs, c);
		} else {
			conn_reset(vs, c);
		}
		return 0;
	}
	if (n == 0) {
		vv_virtq_unpop_n(&vs->rxq, (uint16_t) (n_slot - 1));
		eof_hdr(vs, c, &h);
		put_hdr_iov(vs, b->slot[0].head, &b->hdr[b->slot[0].hdr_iov], b->slot[0].n_hdr_iov,
			    &h);
		host_try_finish(vs, c, now);
		return 1;
	}
	/* All offered was taken: more may wait, offer twice as much next. */
	c->rx_target =
		(uint32_t) n < want ? (uint32_t) n : (uint32_t) RTE_MIN(2ull * want, UINT32_MAX);
	left = (uint32_t) n;
	for (i = 0; i < n_slot && left > 0; i++) {
		const struct rx_slot *s = &b->slot[i];

		conn_hdr(vs, c, &h, VIRTIO_VSOCK_OP_RW);
		h.len = left < s->room ? left : s->room;
		c->tx_cnt += h.len;
		c->bytes_out += h.len;
		put_hdr_iov(vs, s->head, &b->hdr[s->hdr_iov], s->n_hdr_iov, &h);
		left -= h.len;
	}
	/* The rest got no byte: the ring has them again, in order. */
	vv_virtq_unpop_n(&vs->rxq, (uint16_t) (n_slot - i));
	if ((uint32_t) n < want && !(c->io & (IO_RDHUP | IO_HUP))) {
		/* Short read: the socket is empty now; epoll (edge-triggered)
		 * reports the next byte that arrives. Not so after the app shut
		 * its side: that edge is spent, and the EOF behind the data
		 * must still be read. */
		c->io &= ~IO_READABLE;
		conn_rx_unready(vs, c);
	} else {
		/* Round robin between streams, a batch each. */
		conn_rx_unready(vs, c);
		conn_rx_ready(vs, c);
	}
	return i;
}

/* May c send data now? If not, take it off the rx list: its credit update,
 * shutdown or state change puts it back. */
static bool
data_ready(struct vv_vsock *vs, struct conn *c)
{
	if (c->state != CONN_ESTABLISHED || c->fd < 0 ||
	    (c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_RCV) ||
	    (c->local_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) || !conn_has_data(c)) {
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
		struct virtio_vsock_hdr h;
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
			rx_ring_broken(vs);
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
			if (h.op == VIRTIO_VSOCK_OP_RST && c->state == CONN_DOOMED)
				conn_free(vs, c);
		} else if (c->seq != NULL) {
			n = n - 1 + seq_fill(vs, c, ch, now);
		} else {
			/* fill_data counts ch with the others it uses. */
			n = n - 1 +
			    fill_data(vs, c, ch, RTE_MIN(RX_BATCH_MAX, RX_BUDGET - n + 1), now);
			if (vs->rxq.broken)
				break;
		}
	}
	if (vv_virtq_flush(&vs->rxq) < 0)
		vs->stats.notify_failed++;
	return n;
}
