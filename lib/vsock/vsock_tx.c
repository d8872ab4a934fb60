/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packets from the guest (its tx queue). One dispatcher checks what every
 * packet must satisfy, then one handler per connection state acts on it
 * (the shape of Linux's virtio_transport_recv_pkt).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <rte_byteorder.h>

#include <vv_uds.h>

#include "vsock_priv.h"

/* Answer a packet that has no connection with RST; never RST an RST. */
/* Why a guest packet was refused, for operators who ask (vv.vsock.data at
 * debug level); rte_log checks the level first, so it costs nothing else. */
static void
drop_log(const struct vv_vsock *vs, const struct virtio_vsock_hdr *h, enum vv_vsock_drop why)
{
	VSOCK_DLOG(DEBUG,
		   "cid %" PRIu64 ": %s: op %u type %u %" PRIu64 ":%u -> %" PRIu64 ":%u len %u",
		   vs->guest_cid, vv_vsock_drop_name(why), h->op, h->type, (uint64_t) h->src_cid,
		   h->src_port, (uint64_t) h->dst_cid, h->dst_port, h->len);
}

void
reply_rst(struct vv_vsock *vs, const struct virtio_vsock_hdr *h, enum vv_vsock_drop why)
{
	drop_log(vs, h, why);
	vs->stats.drops[why]++;
	if (h->op != VIRTIO_VSOCK_OP_RST)
		rst_ring_put(vs, h);
}

/* A packet we refuse: its connection, if any, ends with one RST. */
static void tx_flush_conn(struct vv_vsock *vs, struct conn *c);

static void
reject(struct vv_vsock *vs, struct conn *c, const struct virtio_vsock_hdr *h,
       enum vv_vsock_drop why)
{
	if (c == NULL) {
		reply_rst(vs, h, why);
		return;
	}
	tx_flush_conn(vs, c); /* what it sent before stays in order */
	drop_log(vs, h, why);
	vs->stats.drops[why]++;
	if (h->op == VIRTIO_VSOCK_OP_RST)
		conn_free(vs, c);
	else
		conn_reset(vs, c);
}

/* Copy len bytes at chain offset off to the end of a SEQPACKET connection's
 * buffer (a ring of c->buf_alloc bytes, allocated on first need). Credit was
 * checked: they fit. */
int
buf_append(struct vv_vsock *vs, struct conn *c, const struct vv_chain *ch, uint32_t off,
	   uint32_t len)
{
	uint32_t tail;

	if (c->buf == NULL) {
		c->buf = malloc(c->buf_alloc);
		if (c->buf == NULL)
			return -ENOMEM;
		c->buf_cap = c->buf_alloc; /* what conn_buf_take and _drop go by */
		vs->stats.host_buffer_mem_bytes += c->buf_alloc;
	}
	tail = (uint32_t) (((uint64_t) c->buf_head + c->buf_len) % c->buf_alloc);
	while (len > 0) {
		uint32_t room = c->buf_alloc - tail;
		uint32_t k = len < room ? len : room;

		vv_chain_read(ch, off, c->buf + tail, k);
		off += k;
		len -= k;
		conn_buf_put(vs, c, k);
		tail = (tail + k) % c->buf_alloc;
	}
	return 0;
}

/*
 * Write the RW payload of c queued this round (tx_pend_add) to its host
 * socket: one writev, or a few when a hostile guest cut it into more than
 * IOV_MAX pieces. What the socket refuses is copied into c's buffer; bytes
 * behind a buffer that is not empty go there whole, to keep their order.
 * Then the chains go back to the guest.
 */
static void
tx_flush_conn(struct vv_vsock *vs, struct conn *c)
{
	struct tx_batch *b = &vs->tx_batch;
	size_t done = 0, skip;
	bool more = c->buf_len == 0;
	uint16_t i = c->pend_first;
	unsigned int k = 0;
	int err = c->fd < 0 ? -EBADF : 0;

	if (i == TX_PEND_NONE)
		return;
	while (i != TX_PEND_NONE) {
		unsigned int n_out = 0;
		size_t chunk = 0;
		ssize_t n;

		while (i != TX_PEND_NONE && n_out < TX_WRITEV_IOV_MAX) {
			b->out[n_out] = b->iov[b->p[i].iov_first + k];
			chunk += b->out[n_out++].iov_len;
			if (++k == b->p[i].n_iov) {
				k = 0;
				i = b->p[i].next;
			}
		}
		if (!more || err != 0)
			continue;
		n = writev(c->fd, b->out, (int) n_out);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				err = -errno; /* the host app closed its end */
			c->io &= ~IO_WRITABLE;
			n = 0;
		}
		done += (size_t) n;
		more = (size_t) n == chunk;
	}
	c->fwd_cnt += (uint32_t) done;
	if (done > 0)
		c->room_round = vs->round - 1; /* the socket's room changed */
	skip = done;
	for (i = c->pend_first; i != TX_PEND_NONE; i = b->p[i].next) {
		struct tx_pend *p = &b->p[i];

		if (err == 0 && skip < p->len &&
		    conn_buf_put_iov(vs, c, &b->iov[p->iov_first], p->n_iov, skip,
				     (uint32_t) (p->len - skip)) < 0)
			err = -ENOMEM;
		skip = skip > p->len ? skip - p->len : 0;
		/* The device writes nothing into tx buffers. */
		vv_virtq_push(&vs->txq, p->head, 0);
		p->c = NULL;
	}
	c->pend_first = c->pend_last = TX_PEND_NONE;
	c->pend_bytes = 0;
	if (err != 0) {
		/* The guest learns by RST. */
		conn_reset(vs, c);
		return;
	}
	/* Room or not, the epoll mask follows (host_epoll_out). */
	host_epoll_out(vs, c, c->buf_len > 0);
	conn_credit_check(vs, c);
}

/* Every connection's queued payload of this round. */
static void
tx_flush_all(struct vv_vsock *vs)
{
	struct tx_batch *b = &vs->tx_batch;
	uint16_t i;

	for (i = 0; i < b->n_pend; i++)
		if (b->p[i].c != NULL)
			tx_flush_conn(vs, b->p[i].c);
	b->n_pend = 0;
	b->n_iov = 0;
}

/*
 * Take len payload bytes at chain offset VV_VSOCK_HDR_SIZE for the host
 * app: they count as received at once (credit), and are written with the
 * connection's other payload of this round. The chain stays taken until
 * then; tx_flush_conn gives it back.
 */
static void
tx_pend_add(struct vv_vsock *vs, struct conn *c, const struct vv_chain *ch, uint32_t len)
{
	struct tx_batch *b = &vs->tx_batch;
	struct tx_pend *p;

	if ((unsigned int) b->n_iov + VV_CHAIN_IOV_MAX > TX_BATCH_IOV_MAX ||
	    b->n_pend == TX_BUDGET_MAX)
		tx_flush_all(vs);
	p = &b->p[b->n_pend];
	p->c = c;
	p->head = ch->head;
	p->len = len;
	p->next = TX_PEND_NONE;
	p->iov_first = b->n_iov;
	p->n_iov = (uint16_t) vv_chain_slice(ch, VV_VSOCK_HDR_SIZE, len, &b->iov[b->n_iov],
					     VV_CHAIN_IOV_MAX);
	b->n_iov = (uint16_t) (b->n_iov + p->n_iov);
	if (c->pend_first == TX_PEND_NONE)
		c->pend_first = b->n_pend;
	else
		b->p[c->pend_last].next = b->n_pend;
	c->pend_last = b->n_pend;
	b->n_pend++;
	c->rx_cnt += len;
	c->bytes_in += len;
	vs->stats.rx_bytes += len;
	c->pend_bytes += len;
	if (c->pend_bytes > b->round_bytes)
		b->round_bytes = c->pend_bytes;
}

static void
recv_new_request(struct vv_vsock *vs, const struct virtio_vsock_hdr *h, uint64_t now)
{
	bool seq = h->type == VIRTIO_VSOCK_TYPE_SEQPACKET;
	struct conn *c;
	int fd = -1, r;

	if (vs->n_conns >= vs->max_conns) {
		reply_rst(vs, h, VV_DROP_CONN_LIMIT);
		return;
	}
	/* Quiesced (the VM is being removed): refused like a port where
	 * nobody listens. */
	r = vs->quiesced ? -ECONNREFUSED
			 : vv_uds_connect_port(vs->uds_path, h->dst_port,
					       seq ? SOCK_SEQPACKET : SOCK_STREAM, &fd);
	if (r != 0 && r != -EINPROGRESS && r != -EAGAIN) {
		/* Nobody listens on <uds_path>_<port>, or a listener of the
		 * other type (EPROTOTYPE): the guest's connect() fails now with
		 * ECONNRESET instead of hanging. */
		vs->stats.host_conn_refused++;
		rst_ring_put(vs, h);
		return;
	}
	c = conn_new(vs, r == 0 ? CONN_ESTABLISHED : CONN_HOST_CONNECTING, fd);
	if (c == NULL) {
		close(fd);
		reply_rst(vs, h, VV_DROP_CONN_LIMIT);
		return;
	}
	if (seq && seq_conn_init(vs, c) < 0) {
		conn_free(vs, c); /* out of memory: not the guest's fault, not counted */
		rst_ring_put(vs, h);
		return;
	}
	c->guest_port = h->src_port;
	c->host_port = h->dst_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	conn_hash_add(vs, c);
	if (host_epoll_add(vs, c, r != 0) < 0) {
		conn_reset(vs, c);
		return;
	}
	if (r == 0) {
		conn_ctl(vs, c, CTL_RESPONSE);
	} else {
		c->connect_again = (r == -EAGAIN);
		c->deadline_ns = now + VV_VSOCK_TIMEOUT_NS;
	}
}

/* REQUEST sent for a host app; the guest answers. */
static void
recv_requesting(struct vv_vsock *vs, struct conn *c, const struct virtio_vsock_hdr *h)
{
	char ok[32];
	int len;

	switch (h->op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		len = vv_uds_format_ok(ok, sizeof(ok), c->host_port);
		/* A fresh socket always has room for a 20-byte line. */
		if (len < 0 || write(c->fd, ok, (size_t) len) != len) {
			conn_reset(vs, c);
			return;
		}
		c->state = CONN_ESTABLISHED;
		c->deadline_ns = 0;
		c->credit_win = 0;    /* the socket's room counts from now on */
		c->io |= IO_READABLE; /* data may have come with the CONNECT line */
		conn_rx_ready(vs, c);
		return;
	case VIRTIO_VSOCK_OP_RST:
		/* No listener in the guest: the host app sees EOF, no "OK". */
		vs->stats.rst_rcvd++;
		conn_free(vs, c);
		return;
	default: vs->stats.drops[VV_DROP_BAD_STATE]++; conn_reset(vs, c);
	}
}

static void
recv_host_connecting(struct vv_vsock *vs, struct conn *c, const struct virtio_vsock_hdr *h)
{
	if (h->op == VIRTIO_VSOCK_OP_RST) {
		vs->stats.rst_rcvd++;
		conn_free(vs, c);
		return;
	}
	if (h->op == VIRTIO_VSOCK_OP_CREDIT_UPDATE || h->op == VIRTIO_VSOCK_OP_CREDIT_REQUEST)
		return;
	vs->stats.drops[VV_DROP_BAD_STATE]++;
	conn_reset(vs, c);
}

/* Returns TX_TAKEN when the chain's payload waits for this round's writev. */
static enum tx_verdict
recv_connected(struct vv_vsock *vs, struct conn *c, const struct virtio_vsock_hdr *h,
	       const struct vv_chain *ch, uint64_t now)
{
	switch (h->op) {
	case VIRTIO_VSOCK_OP_RW:
		if ((c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) || c->state != CONN_ESTABLISHED) {
			vs->stats.drops[VV_DROP_BAD_STATE]++;
			tx_flush_conn(vs, c);
			conn_reset(vs, c);
			break;
		}
		if (credit_violated(c, h->len)) {
			vs->stats.drops[VV_DROP_CREDIT]++;
			tx_flush_conn(vs, c);
			conn_reset(vs, c);
			break;
		}
		if (c->seq != NULL) {
			/* Whole messages: written, or kept, at once. */
			if (seq_rw_to_host(vs, c, ch, h) < 0)
				conn_reset(vs, c); /* the host app closed its end */
			break;
		}
		if (h->len == 0)
			break;
		tx_pend_add(vs, c, ch, h->len);
		return TX_TAKEN;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE: break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST: conn_ctl(vs, c, CTL_CREDIT_UPDATE); break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		c->peer_shut |= h->flags & VSOCK_SHUTDOWN_BOTH;
		if (c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_RCV)
			conn_rx_unready(vs, c);
		if ((c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) && c->seq != NULL &&
		    seq_end_partial(vs, c) < 0) {
			conn_reset(vs, c);
			break;
		}
		host_try_finish(vs, c, now);
		break;
	case VIRTIO_VSOCK_OP_RST:
		vs->stats.rst_rcvd++;
		conn_free(vs, c);
		break;
	default: /* REQUEST or RESPONSE on an open stream */
		vs->stats.drops[VV_DROP_BAD_STATE]++;
		conn_reset(vs, c);
	}
	return TX_DONE;
}

/* Returns TX_HELD when the packet must stay taken but unfinished (a sibling
 * VM had no buffer for it yet), TX_TAKEN when its payload waits for this
 * round's writev (which gives the chain back). */
static enum tx_verdict
recv_pkt(struct vv_vsock *vs, const struct vv_chain *ch, uint64_t now)
{
	uint8_t raw[VV_VSOCK_HDR_SIZE];
	struct virtio_vsock_hdr h;
	struct conn *c;

	if (ch->len < VV_VSOCK_HDR_SIZE) {
		vs->stats.drops[VV_DROP_SHORT_HDR]++;
		return TX_DONE;
	}
	vv_chain_read(ch, 0, raw, sizeof(raw));
	hdr_decode(raw, &h);
	vs->stats.rx_pkts++;

	if (h.src_cid != vs->guest_cid) {
		/* Spoofed: answering would talk to someone else. */
		drop_log(vs, &h, VV_DROP_BAD_SRC_CID);
		vs->stats.drops[VV_DROP_BAD_SRC_CID]++;
		return TX_DONE;
	}
	c = h.dst_cid == VV_VSOCK_HOST_CID ? conn_lookup(vs, h.src_port, h.dst_port) : NULL;
	if (h.op == VIRTIO_VSOCK_OP_RW && h.len > ch->len - VV_VSOCK_HDR_SIZE) {
		reject(vs, c, &h, VV_DROP_BAD_LEN);
		return TX_DONE;
	}
	/* A type the driver did not negotiate, to a sibling too; and every
	 * packet of a connection has its type. */
	if (!type_allowed(vs, h.type) || (c != NULL && h.type != c->type)) {
		reject(vs, c, &h, VV_DROP_BAD_TYPE);
		return TX_DONE;
	}
	if (h.dst_cid != VV_VSOCK_HOST_CID)
		return sibling_send(vs, ch, &h, raw);
	if (h.op == VIRTIO_VSOCK_OP_INVALID || h.op > VIRTIO_VSOCK_OP_CREDIT_REQUEST) {
		reject(vs, c, &h, VV_DROP_BAD_OP);
		return TX_DONE;
	}
	if (c == NULL) {
		if (h.op == VIRTIO_VSOCK_OP_REQUEST)
			recv_new_request(vs, &h, now);
		else if (h.op == VIRTIO_VSOCK_OP_RST)
			vs->stats.rst_rcvd++;
		else
			reply_rst(vs, &h, VV_DROP_NO_CONN);
		return TX_DONE;
	}

	/* Every packet carries the guest's current credit (spec 5.10.6.3). */
	c->peer_buf_alloc = h.buf_alloc;
	c->peer_fwd_cnt = h.fwd_cnt;
	if (c->stalled && credit_peer_free(c) > 0) {
		c->stalled = false;
		if (conn_has_data(c))
			conn_rx_ready(vs, c);
	}

	/* Payload it sent earlier this round goes first. */
	if (h.op != VIRTIO_VSOCK_OP_RW)
		tx_flush_conn(vs, c);
	switch (c->state) {
	case CONN_REQUESTING: recv_requesting(vs, c, &h); break;
	case CONN_HOST_CONNECTING: recv_host_connecting(vs, c, &h); break;
	case CONN_ESTABLISHED:
	case CONN_CLOSING: return recv_connected(vs, c, &h, ch, now);
	case CONN_LINE:
	case CONN_DOOMED: /* never in the lookup table */ break;
	}
	return TX_DONE;
}

/* Send the tx interrupt owed, if any. */
void
tx_call_now(struct vv_vsock *vs)
{
	int r = vv_virtq_call(&vs->txq);

	vs->tx_call_due_ns = 0;
	if (r < 0)
		vs->stats.notify_failed++;
	else if (r > 0)
		vs->stats.tx_calls++;
}

/*
 * Tx completions give the guest its descriptors back and nothing else
 * (credit rides on rx packets): a guest that is not short of descriptors
 * has no use for the interrupt, which costs it a wake-up (a VM exit and
 * entry for a real one). So the used entries are published at once and
 * the interrupt the guest asked for is sent when 1/TX_CALL_SHARE of the
 * ring waits for it (a sender that fills the ring gets its descriptors
 * back long before it runs out), TX_CALL_DELAY_NS after it was owed, or
 * before the lcore sleeps (vv_vsock_sleep_prepare). A guest exchanging
 * small messages is then woken once per message instead of twice
 * (doc/performance.md, "Interrupts").
 */
static void
tx_call_maybe(struct vv_vsock *vs, uint64_t now)
{
	if (vv_virtq_flush_quiet(&vs->txq) < 0)
		vs->stats.notify_failed++;
	if (!vs->txq.call_pending)
		return;
	if (vs->tx_call_due_ns == 0)
		vs->tx_call_due_ns = now + TX_CALL_DELAY_NS;
	if (vs->txq.uncalled >= RTE_MAX(vs->txq.size / TX_CALL_SHARE, 1u) ||
	    now >= vs->tx_call_due_ns)
		tx_call_now(vs);
}

unsigned int
guest_tx_poll(struct vv_vsock *vs, uint64_t now)
{
	struct vv_chain *ch = &vs->chain;
	unsigned int n;

	if (!vs->attached || !vs->q_enabled[1] || vs->txq.broken)
		return 0;
	/* A full RST ring pauses us: the guest's packets stay in its ring. */
	for (n = 0; n < TX_BUDGET && !rst_ring_full(vs); n++) {
		enum vv_virtq_err e;

		if (vs->sib_pending) {
			if (!sibling_continue(vs))
				break;
			vv_virtq_push(&vs->txq, vs->sib_chain.head, 0);
			continue;
		}
		e = vv_virtq_pop(&vs->txq, &vs->mem, false, ch);

		if (e == VV_VIRTQ_EMPTY)
			break;
		if (e == VV_VIRTQ_BROKEN) {
			vs->stats.drops[VV_DROP_RING_BROKEN]++;
			VSOCK_LOG(ERR, "cid %" PRIu64 ": tx ring index corrupted, queue stopped",
				  vs->guest_cid);
			break;
		}
		if (e != VV_VIRTQ_OK) {
			VSOCK_DLOG(DEBUG, "cid %" PRIu64 ": tx chain %u: %s", vs->guest_cid,
				   ch->head, vv_vsock_drop_name(vsock_virtq_drop(e)));
			vs->stats.drops[vsock_virtq_drop(e)]++;
		} else {
			enum tx_verdict v = recv_pkt(vs, ch, now);

			if (v == TX_HELD)
				break; /* later packets wait behind it */
			if (v == TX_TAKEN) {
				/* Enough of one stream for a round: write it
				 * and let the rx phase tell the guest, which
				 * sends on while we write the rest. */
				if (vs->tx_batch.round_bytes >= TX_ROUND_BYTES) {
					n++;
					break;
				}
				continue;
			}
		}
		/* The device writes nothing into tx buffers. */
		vv_virtq_push(&vs->txq, ch->head, 0);
	}
	tx_flush_all(vs);
	vs->tx_batch.round_bytes = 0;
	tx_call_maybe(vs, now);
	return n;
}
