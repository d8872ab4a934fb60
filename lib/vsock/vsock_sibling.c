/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Streams between sibling VMs. Their packets pass through unchanged: the two
 * guests run the stream protocol and the credit flow end to end, we only
 * carry packets (lib/route) and remember each stream so that it can be reset
 * if the other VM goes away.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vsock_priv.h"

static inline uint32_t
sib_bucket(uint64_t cid, uint32_t local_port, uint32_t peer_port)
{
	uint64_t k = (cid * 0x9e3779b97f4a7c15ull) ^ ((uint64_t) local_port << 32 | peer_port);

	k *= 0xff51afd7ed558ccdull;
	return (uint32_t) (k >> 45) & (SIB_HASH_SIZE - 1);
}

static struct sib *
sib_find(struct vv_vsock *vs, uint64_t cid, uint32_t local_port, uint32_t peer_port)
{
	struct sib *s;

	LIST_FOREACH (s, &vs->sib_hash[sib_bucket(cid, local_port, peer_port)], link)
		if (s->peer_cid == cid && s->local_port == local_port && s->peer_port == peer_port)
			return s;
	return NULL;
}

static void
sib_remove(struct vv_vsock *vs, struct sib *s)
{
	LIST_REMOVE(s, link);
	vs->n_sibs--;
	free(s);
}

/* A stream exists from the first REQUEST or RESPONSE until an RST (Linux
 * always ends a stream with one). h is in host order, ports seen from the
 * packet: the caller says which side is ours. */
static void
sib_track(struct vv_vsock *vs, uint64_t cid, uint32_t local_port, uint32_t peer_port,
	  const struct virtio_vsock_hdr *h, const struct vv_route_port *peer)
{
	struct sib *s = sib_find(vs, cid, local_port, peer_port);
	uint16_t op = h->op;

	if (op == VIRTIO_VSOCK_OP_RST) {
		if (s != NULL)
			sib_remove(vs, s);
		return;
	}
	if (s != NULL || (op != VIRTIO_VSOCK_OP_REQUEST && op != VIRTIO_VSOCK_OP_RESPONSE) ||
	    vs->n_sibs >= vs->max_conns)
		return;
	s = malloc(sizeof(*s));
	if (s == NULL)
		return;
	s->peer_cid = cid;
	s->local_port = local_port;
	s->peer_port = peer_port;
	s->peer_gen = vv_route_port_gen(peer);
	s->type = h->type;
	s->stale = false;
	LIST_INSERT_HEAD(&vs->sib_hash[sib_bucket(cid, local_port, peer_port)], s, link);
	vs->n_sibs++;
}

void
sibling_forget_all(struct vv_vsock *vs)
{
	unsigned int i;

	for (i = 0; i < SIB_HASH_SIZE; i++)
		while (!LIST_EMPTY(&vs->sib_hash[i]))
			sib_remove(vs, LIST_FIRST(&vs->sib_hash[i]));
}

enum tx_verdict
sibling_send(struct vv_vsock *vs, const struct vv_chain *ch, const struct virtio_vsock_hdr *h,
	     const uint8_t *raw)
{
	struct vv_route_port *dst = vs->route ? vv_route_lookup(vs->route, h->dst_cid) : NULL;
	uint32_t len = h->op == VIRTIO_VSOCK_OP_RW ? h->len : 0;
	int r;

	/* Unknown CID, ourselves, no shared group, or not running, or we are
	 * being removed: the guest's connect fails at once instead of hanging. */
	if (dst == NULL || vs->quiesced || !vv_route_allowed(vs->port, dst) ||
	    !vv_route_port_is_up(dst)) {
		reply_rst(vs, h, VV_DROP_NO_ROUTE);
		return TX_DONE;
	}
	/* Our guest may use the type (recv_pkt checked); the other must
	 * have negotiated it too, or its driver would get what it never
	 * agreed to read. */
	if (h->type == VIRTIO_VSOCK_TYPE_SEQPACKET &&
	    !((vv_route_port_features(dst) >> VIRTIO_VSOCK_F_SEQPACKET) & 1)) {
		reply_rst(vs, h, VV_DROP_BAD_TYPE);
		return TX_DONE;
	}
	sib_track(vs, h->dst_cid, h->src_port, h->dst_port, h, dst);
	vs->sib_done = 0;
	r = vv_route_deliver(dst, raw, ch, VV_VSOCK_HDR_SIZE, len, &vs->sib_done);
	if (r == 0) {
		vs->stats.vm_tx_pkts++;
		vs->stats.vm_tx_bytes += len;
		return TX_DONE;
	}
	if (r == -EAGAIN) {
		/* Hold the chain (it stays out of the used ring) until the
		 * sibling lends buffers: backpressure, nothing dropped. */
		vs->sib_pending = true;
		vs->sib_dst_cid = h->dst_cid;
		vs->sib_dst_gen = vv_route_port_gen(dst);
		vs->sib_len = len;
		memcpy(vs->sib_raw, raw, sizeof(vs->sib_raw));
		vs->sib_chain = *ch;
		vs->stats.vm_stalls++;
		return TX_HELD;
	}
	reply_rst(vs, h, VV_DROP_NO_ROUTE);
	return TX_DONE;
}

bool
sibling_continue(struct vv_vsock *vs)
{
	struct vv_route_port *dst = vv_route_lookup(vs->route, vs->sib_dst_cid);
	struct virtio_vsock_hdr h;
	int r = -ENOTCONN;

	/* Removed, rebooted (its end of the stream is gone), or we are being
	 * removed: the rest of the packet cannot go. */
	if (dst != NULL && vv_route_port_gen(dst) == vs->sib_dst_gen && !vs->quiesced)
		r = vv_route_deliver(dst, vs->sib_raw, &vs->sib_chain, VV_VSOCK_HDR_SIZE,
				     vs->sib_len, &vs->sib_done);

	if (r == -EAGAIN)
		return false;
	if (r == 0) {
		vs->stats.vm_tx_pkts++;
		vs->stats.vm_tx_bytes += vs->sib_len;
	} else {
		/* The sibling went away in the middle of the packet. */
		hdr_decode(vs->sib_raw, &h);
		reply_rst(vs, &h, VV_DROP_NO_ROUTE);
	}
	vs->sib_pending = false;
	return true;
}

/* Owner side, each round: publish what siblings filled, lend more buffers. */
unsigned int
sibling_rx(struct vv_vsock *vs)
{
	struct vv_route_done done[VV_ROUTE_LEND_MAX];
	struct vv_chain *ch = &vs->chain;
	unsigned int i, n, work, want;

	n = vv_route_collect(vs->port, done, VV_ROUTE_LEND_MAX);
	for (i = 0; i < n; i++) {
		struct virtio_vsock_hdr h;
		struct vv_route_port *peer;

		vv_virtq_push(&vs->rxq, done[i].head, done[i].len);
		hdr_decode(done[i].hdr, &h);
		vs->stats.vm_rx_pkts++;
		vs->stats.vm_rx_bytes += done[i].len - VV_VSOCK_HDR_SIZE;
		peer = vv_route_lookup(vs->route, h.src_cid);
		if (peer != NULL)
			sib_track(vs, h.src_cid, h.dst_port, h.src_port, &h, peer);
	}
	work = n;
	for (want = vv_route_lend_wanted(vs->port, vs->rxq.size); want > 0; want--) {
		enum vv_virtq_err e = vv_virtq_pop(&vs->rxq, &vs->mem, true, ch);

		if (e == VV_VIRTQ_EMPTY || e == VV_VIRTQ_BROKEN)
			break;
		work++;
		if (e != VV_VIRTQ_OK) {
			vs->stats.drops[vsock_virtq_drop(e)]++;
			vv_virtq_push(&vs->rxq, ch->head, 0);
		} else if (ch->len < VV_VSOCK_HDR_SIZE) {
			vs->stats.drops[VV_DROP_RX_BUF_SHORT]++;
			vv_virtq_push(&vs->rxq, ch->head, 0);
		} else if (vv_route_lend(vs->port, ch) != 0) {
			/* Too fragmented to lend (Linux uses one or two
			 * descriptors): give it back empty, the guest reposts. */
			vs->stats.drops[VV_DROP_RX_BUF_IOV]++;
			vv_virtq_push(&vs->rxq, ch->head, 0);
		}
	}
	return work;
}

/* Some VM went down: reset our guest's streams with it. */
void
sibling_reap(struct vv_vsock *vs)
{
	uint32_t epoch = vv_route_down_epoch(vs->route);
	unsigned int i;

	if (epoch == vs->down_epoch_seen)
		return;
	for (i = 0; i < SIB_HASH_SIZE; i++) {
		struct sib *s, *next;

		for (s = LIST_FIRST(&vs->sib_hash[i]); s != NULL; s = next) {
			struct vv_route_port *peer = vv_route_lookup(vs->route, s->peer_cid);
			/* rst_ring_put answers a packet: describe one from
			 * our guest to the peer, the RST comes "from" the peer. */
			struct virtio_vsock_hdr to_peer = {
				.src_cid = vs->guest_cid,
				.dst_cid = s->peer_cid,
				.src_port = s->local_port,
				.dst_port = s->peer_port,
				.type = s->type,
			};

			next = LIST_NEXT(s, link);
			if (!s->stale && peer != NULL && vv_route_port_is_up(peer) &&
			    vv_route_port_gen(peer) == s->peer_gen)
				continue;
			if (rst_ring_full(vs))
				return; /* the rest next round: epoch not marked seen */
			rst_ring_put(vs, &to_peer);
			vs->stats.vm_peer_resets++;
			sib_remove(vs, s);
		}
	}
	vs->down_epoch_seen = epoch;
}

void
sibling_attach(struct vv_vsock *vs, uint64_t features)
{
	struct sib *s;
	unsigned int i;

	if (vs->port == NULL || vs->quiesced)
		return;
	/* Streams kept across a pause: our generation moved, so every peer
	 * resets its end; the next reap resets ours. And a peer that went
	 * down while we were paused is still to be noticed: the epoch is not
	 * marked seen here. */
	for (i = 0; i < SIB_HASH_SIZE; i++)
		LIST_FOREACH (s, &vs->sib_hash[i], link)
			s->stale = true;
	if (vs->n_sibs > 0)
		vs->down_epoch_seen = vv_route_down_epoch(vs->route) - 1;
	vv_route_port_up(vs->port, features);
}

static void
give_back_rx(uint32_t head, uint32_t len, void *arg)
{
	struct vv_vsock *vs = arg;

	vv_virtq_push(&vs->rxq, head, len);
}

void
sibling_detach(struct vv_vsock *vs)
{
	if (vs->port == NULL)
		return;
	if (vs->sib_pending) {
		vv_virtq_push(&vs->txq, vs->sib_chain.head, 0);
		vs->sib_pending = false;
	}
	vv_route_port_down(vs->port, give_back_rx, vs);
}

/*
 * The VM is being removed (or the process stops): siblings may deliver
 * nothing more to it (every sibling resets its streams with it, as when a
 * guest goes away; its lent buffers stay until its driver stops: its guest
 * still runs and gets no empty buffer back), and its own guest's sibling
 * streams are reset by the next reaps.
 */
void
sibling_quiesce(struct vv_vsock *vs)
{
	struct sib *s;
	unsigned int i;

	if (vs->port == NULL)
		return;
	if (vs->attached)
		vv_route_port_refuse(vs->port);
	for (i = 0; i < SIB_HASH_SIZE; i++)
		LIST_FOREACH (s, &vs->sib_hash[i], link)
			s->stale = true;
	if (vs->n_sibs > 0)
		vs->down_epoch_seen = vv_route_down_epoch(vs->route) - 1;
}
