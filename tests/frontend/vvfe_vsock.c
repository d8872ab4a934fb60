/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guest side of virtio-vsock (virtio 1.3, 5.10) as the Linux driver
 * behaves: rx ring kept full of write-only buffers, tx packets as read-only
 * chains, stream sockets with credit flow in both directions, SHUTDOWN and
 * RST handling, and timers for connect, close and stalled credit. One
 * thread drives it through vvfe_poll().
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vvfe_priv.h"

#define CTRL_CAP 8192
#define TX_HDR_OFF (4096u - VVFE_HDR_LEN) /* header sits right before the payload page */
#define RX_HDR_STRIDE 64u
#define IND_STRIDE (VVFE_INDIRECT_MAX * 16u) /* one indirect table per head id */
#define SCRATCH_SIZE (256u * 1024u)
#define TIMER_PERIOD_NS (10u * 1000u * 1000u)
#define TIMER_CALLS 64u /* vvfe_process calls per clock read while busy */

uint64_t vvfe_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vvfe_proto_error(struct vvfe_dev *d, const char *fmt, ...)
{
	va_list ap;

	d->st.proto_errors++;
	va_start(ap, fmt);
	vsnprintf(d->st.last_error, sizeof(d->st.last_error), fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- header */

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Every field at the offset and width the kernel's struct gives it. */
/* clang-format off */
#define HDR_FIELDS(X) \
	X(src_cid) X(dst_cid) X(src_port) X(dst_port) X(len) X(type) X(op) X(flags) \
	X(buf_alloc) X(fwd_cnt)
/* clang-format on */
#define HDR_AT(f) offsetof(struct virtio_vsock_hdr, f)

void vvfe_hdr_encode(const struct virtio_vsock_hdr *h, uint8_t out[VVFE_HDR_LEN])
{
#define PUT(f) put_le(out + HDR_AT(f), h->f, sizeof(h->f));
	HDR_FIELDS(PUT)
#undef PUT
}

void vvfe_hdr_decode(const uint8_t in[VVFE_HDR_LEN], struct virtio_vsock_hdr *h)
{
#define GET(f) h->f = (__typeof__(h->f))get_le(in + HDR_AT(f), sizeof(h->f));
	HDR_FIELDS(GET)
#undef GET
}

uint32_t vvfe_credit(uint32_t peer_buf_alloc, uint32_t peer_fwd_cnt, uint32_t tx_cnt)
{
	/* Bytes in flight toward the peer; uint32_t wrap keeps this right
	 * across 4 GiB of traffic. */
	uint32_t in_flight = tx_cnt - peer_fwd_cnt;

	if (in_flight > peer_buf_alloc)
		return 0;
	return peer_buf_alloc - in_flight;
}

/* The peer's buf_alloc as a Linux sender uses it: capped at our own
 * buf_alloc (virtio_transport_common.c, since 2026 in mainline and the
 * 6.1.y stable kernels), so at most that much is ever in flight. */
uint32_t vvfe_tx_buf_alloc(const struct vvfe_stream *s)
{
	return s->peer_buf_alloc < s->buf_alloc ? s->peer_buf_alloc : s->buf_alloc;
}

/* Packet trace on stderr when VVFE_TRACE is set: the evidence for bug
 * reports about a backend. */
static void trace(const struct vvfe_dev *d, const char *dir, const struct virtio_vsock_hdr *h)
{
	static const char *const ops[] = {"INVALID", "REQUEST", "RESPONSE", "RST", "SHUTDOWN",
					  "RW", "CREDIT_UPDATE", "CREDIT_REQUEST"};

	if (!d->trace)
		return;
	fprintf(stderr, "vvfe %.6f %s %llu:%u -> %llu:%u %s len %u flags %u buf_alloc %u fwd_cnt %u\n",
		(double)(vvfe_now_ns() % 1000000000000ull) / 1e9, dir,
		(unsigned long long)h->src_cid, h->src_port, (unsigned long long)h->dst_cid,
		h->dst_port, h->op < 8 ? ops[h->op] : "?", h->len, h->flags, h->buf_alloc,
		h->fwd_cnt);
}

/* ------------------------------------------------------------- tx slots */

int vvfe_tx_slot_get(struct vvfe_dev *d, uint16_t head)
{
	if (d->tx_slot_nfree == 0)
		return -ENOSPC;
	d->tx_head_slot[head] = d->tx_slot_free[--d->tx_slot_nfree];
	return 0;
}

uint8_t *vvfe_tx_slot_ptr(struct vvfe_dev *d, uint16_t head, uint64_t *gpa)
{
	size_t off = d->tx_slot_off + (size_t)d->tx_head_slot[head] * d->tx_slot_size;

	*gpa = off;
	return d->mem + off;
}

static void tx_slot_put(struct vvfe_dev *d, uint32_t head)
{
	if (d->tx_head_slot[head] != UINT16_MAX) {
		d->tx_slot_free[d->tx_slot_nfree++] = d->tx_head_slot[head];
		d->tx_head_slot[head] = UINT16_MAX;
	}
}

/* Header-only descriptors of our tx layout (see tx_ndesc). */
static uint16_t tx_hdr_cuts(const struct vvfe_dev *d)
{
	return (uint16_t)((d->o.tx_hdr_split_at ? 1 : 0) + (d->o.tx_hdr_joined ? 0 : 1));
}

/*
 * Descriptors for a packet of len payload bytes. Header and payload are
 * contiguous in a slot; the chain cuts that range at tx_hdr_split_at, at
 * the header end (unless joined) and every tx_seg_size payload bytes.
 */
static uint16_t tx_ndesc(const struct vvfe_dev *d, uint32_t len)
{
	uint32_t seg = d->o.tx_seg_size;
	uint32_t n;

	if (len == 0)
		return (uint16_t)(1 + (d->o.tx_hdr_split_at ? 1 : 0));
	n = 1u + tx_hdr_cuts(d);
	if (seg)
		n += (len + seg - 1) / seg - 1;
	return n > 0xffff ? 0xffff : (uint16_t)n;
}

/* Largest payload that fits in the free descriptors now. */
static uint32_t tx_fit(const struct vvfe_dev *d, uint32_t want)
{
	uint16_t hc = tx_hdr_cuts(d);
	uint16_t f = d->tx.num_free;

	/* A table holds up to VVFE_INDIRECT_MAX pieces in one descriptor. */
	if (d->o.indirect && f >= 1)
		f = VVFE_INDIRECT_MAX;
	if (f < hc + 1)
		return 0;
	if (d->o.tx_seg_size == 0)
		return want;
	uint64_t max = (uint64_t)(f - hc) * d->o.tx_seg_size;
	return max < want ? (uint32_t)max : want;
}

/* Is [p, p + len) inside guest memory? Then the device can read it there. */
static bool in_guest_mem(const struct vvfe_dev *d, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p, m = (uintptr_t)d->mem;

	return d->mem && a >= m && a - m <= d->mem_size && len <= d->mem_size - (a - m);
}

/*
 * Put one packet on the tx ring. Returns 0 or -EAGAIN (no room).
 * The header always goes to the packet's slot. The payload is copied
 * after it, unless it already lies in guest memory: then the payload
 * descriptors point at it (zero-copy, as a guest sending from pinned
 * pages would), which keeps the tool's cost out of the measurement.
 */
/*
 * Write the n pieces of a chain as the indirect table of head id on ring q
 * (0 rx, 1 tx), in that ring's layout: split entries linked by next, packed
 * ones in order. Returns the table's guest address.
 */
static uint64_t ind_table(struct vvfe_dev *d, int q, uint16_t id, uint16_t n,
			  const uint64_t *addr, const uint32_t *lens, uint16_t flags)
{
	size_t off = d->ind_off + ((size_t)q * d->o.queue_size + id) * IND_STRIDE;

	if (d->tx.packed) {
		struct vring_packed_desc *t = (struct vring_packed_desc *)(d->mem + off);

		for (uint16_t i = 0; i < n; i++)
			t[i] = (struct vring_packed_desc){htole64(addr[i]), htole32(lens[i]), 0,
							  htole16(flags)};
	} else {
		struct vring_desc *t = (struct vring_desc *)(d->mem + off);

		for (uint16_t i = 0; i < n; i++)
			t[i] = (struct vring_desc){
				htole64(addr[i]), htole32(lens[i]),
				htole16(flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
				htole16(i + 1 < n ? i + 1 : 0)};
	}
	return off;
}

/* As Linux: a chain of more than one piece goes through a table, taking
 * one ring descriptor, when INDIRECT_DESC was negotiated. */
static bool use_table(const struct vvfe_dev *d, uint16_t n)
{
	return d->o.indirect && n >= 2 && n <= VVFE_INDIRECT_MAX;
}

static int tx_pkt(struct vvfe_dev *d, const struct virtio_vsock_hdr *h, const void *payload)
{
	uint16_t n = tx_ndesc(d, h->len);
	bool ind = use_table(d, n);
	uint16_t ring_n = ind ? 1 : n;
	uint16_t ids[512];
	uint64_t addr[512];
	uint32_t lens[512];
	uint32_t seg = d->o.tx_seg_size, nd = 0;
	bool zc = h->len && !d->o.tx_hdr_joined && in_guest_mem(d, payload, h->len);
	uint64_t gpa, pl_gpa;
	uint8_t *p;

	if (ring_n > d->tx.num_free || n > 512 || d->tx_slot_nfree == 0)
		return -EAGAIN;
	if (vvfe_vring_alloc(&d->tx, ring_n, ids) < 0)
		return -EAGAIN;
	vvfe_tx_slot_get(d, ids[0]);
	p = vvfe_tx_slot_ptr(d, ids[0], &gpa);
	gpa += TX_HDR_OFF;
	vvfe_hdr_encode(h, p + TX_HDR_OFF);
	if (h->len && !zc)
		memcpy(p + TX_HDR_OFF + VVFE_HDR_LEN, payload, h->len);
	pl_gpa = zc ? (uint64_t)((const uint8_t *)payload - d->mem) : gpa + VVFE_HDR_LEN;
	if (zc)
		d->st.tx_zero_copy_bytes += h->len;
	/* Header descriptors: cut at tx_hdr_split_at; joined keeps the first
	 * payload bytes in the header's descriptor (contiguous, copied). */
	if (d->o.tx_hdr_split_at) {
		addr[nd] = gpa;
		lens[nd++] = d->o.tx_hdr_split_at;
	}
	{
		uint32_t hs = d->o.tx_hdr_split_at, he = VVFE_HDR_LEN, first = 0;

		if (d->o.tx_hdr_joined && h->len)
			first = seg && seg < h->len ? seg : h->len;
		addr[nd] = gpa + hs;
		lens[nd++] = he - hs + first;
		/* Payload pieces of tx_seg_size (or one). */
		for (uint32_t off = first; off < h->len && nd < 512;) {
			uint32_t k = seg && seg < h->len - off ? seg : h->len - off;

			addr[nd] = pl_gpa + off;
			lens[nd++] = k;
			off += k;
		}
	}
	if (nd != n) {
		/* Cannot happen unless tx_ndesc and this loop disagree. */
		vvfe_proto_error(d, "internal: %u pieces for %u descriptors", nd, n);
	}
	if (ind) {
		struct vring_desc *ds = &d->tx.desc[ids[0]];

		ds->addr = htole64(ind_table(d, 1, ids[0], n, addr, lens, 0));
		ds->len = htole32((uint32_t)n * 16u);
		ds->flags = htole16(VRING_DESC_F_INDIRECT);
		ds->next = 0;
	}
	for (uint16_t i = 0; !ind && i < n; i++) {
		struct vring_desc *ds = &d->tx.desc[ids[i]];

		ds->addr = htole64(i < nd ? addr[i] : gpa);
		ds->len = htole32(i < nd ? lens[i] : 0);
		ds->flags = htole16(i + 1 < n ? VRING_DESC_F_NEXT : 0);
		ds->next = htole16(i + 1 < n ? ids[i + 1] : 0);
	}
	vvfe_vring_publish(&d->tx, ids[0]);
	d->tx_kick_pending = true;
	trace(d, "tx", h);
	d->st.tx_pkts++;
	if (h->op == VIRTIO_VSOCK_OP_RST)
		d->st.rst_tx++;
	else if (h->op == VIRTIO_VSOCK_OP_CREDIT_UPDATE)
		d->st.credit_update_tx++;
	else if (h->op == VIRTIO_VSOCK_OP_CREDIT_REQUEST)
		d->st.credit_request_tx++;
	return 0;
}

static int ctrl_flush(struct vvfe_dev *d)
{
	while (d->ctrl_n > 0) {
		if (tx_pkt(d, &d->ctrlq[d->ctrl_head].h, NULL) < 0)
			return -EAGAIN;
		d->ctrl_head = (d->ctrl_head + 1) % d->ctrl_cap;
		d->ctrl_n--;
	}
	return 0;
}

int vvfe_send_ctrl(struct vvfe_dev *d, const struct virtio_vsock_hdr *h)
{
	if (!d->running)
		return -ENOTCONN;
	/* Keep order: never overtake control packets already waiting. */
	if (d->ctrl_n == 0 && tx_pkt(d, h, NULL) == 0)
		return 0;
	if (d->ctrl_n == d->ctrl_cap) {
		/* Linux queues without bound; we stop at CTRL_CAP so a backend
		 * that never returns tx buffers cannot eat our memory. */
		d->st.ctrl_dropped++;
		return -ENOBUFS;
	}
	d->ctrlq[(d->ctrl_head + d->ctrl_n) % d->ctrl_cap].h = *h;
	d->ctrl_n++;
	return 0;
}

void vvfe_fill_hdr(struct vvfe_stream *s, struct virtio_vsock_hdr *h, uint16_t op, uint32_t flags,
		   uint32_t len)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = s->dev->cid;
	h->dst_cid = s->pcid;
	h->src_port = s->lport;
	h->dst_port = s->pport;
	h->len = len;
	h->type = s->type;
	h->op = op;
	h->flags = flags;
	/* Every packet of a flow carries our credit (spec: MUST). */
	h->buf_alloc = s->buf_alloc;
	h->fwd_cnt = s->fwd_cnt;
	s->last_fwd_cnt = s->fwd_cnt;
}

static void send_stream_ctrl(struct vvfe_stream *s, uint16_t op, uint32_t flags)
{
	struct virtio_vsock_hdr h;

	vvfe_fill_hdr(s, &h, op, flags, 0);
	vvfe_send_ctrl(s->dev, &h);
}

/* RST for a packet that has no stream (ports swapped). */
static void send_rst_reply(struct vvfe_dev *d, const struct virtio_vsock_hdr *in)
{
	struct virtio_vsock_hdr h;

	memset(&h, 0, sizeof(h));
	h.src_cid = d->cid;
	h.dst_cid = in->src_cid;
	h.src_port = in->dst_port;
	h.dst_port = in->src_port;
	h.type = in->type;
	h.op = VIRTIO_VSOCK_OP_RST;
	vvfe_send_ctrl(d, &h);
}

void vvfe_flush_kicks(struct vvfe_dev *d)
{
	if (d->tx_kick_pending) {
		d->tx_kick_pending = false;
		if (vvfe_vring_kick_prepare(&d->tx))
			vvfe_kick(d, 1);
		else
			d->st.kicks_suppressed++;
	}
	if (d->rx_kick_pending) {
		d->rx_kick_pending = false;
		if (vvfe_vring_kick_prepare(&d->rx))
			vvfe_kick(d, 0);
		else
			d->st.kicks_suppressed++;
	}
}

/* ------------------------------------------------------------------- rx */

static uint16_t rx_chain_len(const struct vvfe_dev *d)
{
	return d->o.rx_hdr_split ? 2 : 1;
}

/* rx_hdr_split with a table: the header and the buffer of the head id. */
static void rx_fill_table(struct vvfe_dev *d, uint16_t id)
{
	const uint64_t addr[2] = {d->rx_hdr_off + (size_t)id * RX_HDR_STRIDE,
				  d->rx_buf_off + (size_t)id * d->o.rx_buf_size};
	const uint32_t lens[2] = {VVFE_HDR_LEN, d->o.rx_buf_size - VVFE_HDR_LEN};
	struct vring_desc *ds = &d->rx.desc[id];

	ds->addr = htole64(ind_table(d, 0, id, 2, addr, lens, VRING_DESC_F_WRITE));
	ds->len = htole32(2 * 16u);
	ds->flags = htole16(VRING_DESC_F_INDIRECT);
	ds->next = 0;
}

int vvfe_rx_fill(struct vvfe_dev *d)
{
	uint16_t n = rx_chain_len(d), ids[2];
	int added = 0;

	if (use_table(d, n))
		n = 1;
	/* Linux refills once fewer than half its buffers are posted
	 * (virtio_transport_rx_work), then fills the ring. */
	if (d->o.linux_irq && (uint32_t)(d->rx.size - d->rx.num_free) / n >= d->rx.size / n / 2u)
		return 0;
	while (!d->rx_hold && d->rx.num_free >= n) {
		vvfe_vring_alloc(&d->rx, n, ids);
		if (n == 1 && d->o.rx_hdr_split) {
			rx_fill_table(d, ids[0]);
			vvfe_vring_publish(&d->rx, ids[0]);
			added++;
			continue;
		}
		for (uint16_t i = 0; i < n; i++) {
			struct vring_desc *ds = &d->rx.desc[ids[i]];

			if (n == 2 && i == 0) {
				ds->addr = htole64(d->rx_hdr_off + (size_t)ids[0] * RX_HDR_STRIDE);
				ds->len = htole32(VVFE_HDR_LEN);
			} else {
				ds->addr = htole64(d->rx_buf_off + (size_t)ids[i] * d->o.rx_buf_size);
				ds->len = htole32(n == 2 ? d->o.rx_buf_size - VVFE_HDR_LEN
							 : d->o.rx_buf_size);
			}
			ds->flags = htole16(VRING_DESC_F_WRITE | (i + 1 < n ? VRING_DESC_F_NEXT : 0));
			ds->next = htole16(i + 1 < n ? ids[i + 1] : 0);
		}
		vvfe_vring_publish(&d->rx, ids[0]);
		added++;
	}
	if (added)
		d->rx_kick_pending = true;
	return added;
}

/* ---------------------------------------------------------------- streams */

static unsigned int hash_of(uint64_t pcid, uint32_t lport, uint32_t pport)
{
	uint32_t h = lport * 2654435761u ^ (pport * 40503u + (pport >> 16)) ^
		     (uint32_t)(pcid * 0x9e3779b1u);

	return (h ^ (h >> 15)) & ((1u << VVFE_HASH_BITS) - 1);
}

static struct vvfe_stream *lookup(struct vvfe_dev *d, uint64_t pcid, uint32_t lport,
				  uint32_t pport)
{
	struct vvfe_stream *s = d->hash[hash_of(pcid, lport, pport)];

	while (s && !(s->lport == lport && s->pport == pport && s->pcid == pcid))
		s = s->hnext;
	return s;
}

static void unhash(struct vvfe_stream *s)
{
	struct vvfe_stream **pp;

	if (!s->hashed)
		return;
	pp = &s->dev->hash[hash_of(s->pcid, s->lport, s->pport)];
	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
	s->hashed = false;
}

static struct vvfe_listener *find_listener(struct vvfe_dev *d, uint32_t port)
{
	struct vvfe_listener *l = d->listeners;

	while (l && l->port != port)
		l = l->next;
	return l;
}

static struct vvfe_stream *stream_new(struct vvfe_dev *d, uint64_t pcid, uint32_t lport,
				      uint32_t pport)
{
	struct vvfe_stream *s = calloc(1, sizeof(*s));
	uint32_t cap = 1;

	if (s == NULL)
		return NULL;
	while (cap < d->o.buf_alloc)
		cap <<= 1;
	s->rbuf = malloc(cap);
	if (s->rbuf == NULL) {
		free(s);
		return NULL;
	}
	s->dev = d;
	s->type = VIRTIO_VSOCK_TYPE_STREAM;
	s->rcap = cap;
	s->rmask = cap - 1;
	s->buf_alloc = d->o.buf_alloc;
	s->pcid = pcid;
	s->lport = lport;
	s->pport = pport;
	unsigned int b = hash_of(pcid, lport, pport);
	s->hnext = d->hash[b];
	d->hash[b] = s;
	s->hashed = true;
	s->next = d->all;
	if (d->all)
		d->all->prev = s;
	d->all = s;
	d->nstreams++;
	return s;
}

static void stream_free(struct vvfe_stream *s)
{
	struct vvfe_dev *d = s->dev;

	unhash(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		d->all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	d->nstreams--;
	vvfe_seq_free(s);
	free(s->rbuf);
	free(s);
}

/* Connection over: no more packets belong to it. */
static void stream_finish(struct vvfe_stream *s, int err)
{
	s->state = VVFE_CLOSED;
	s->closed_ns = vvfe_now_ns();
	if (s->err == 0)
		s->err = err;
	s->deadline_ns = 0;
	s->stalled_since = 0;
	unhash(s);
	if (s->user_closed)
		stream_free(s);
}

uint32_t vvfe_alloc_port(struct vvfe_dev *d, uint64_t pcid, uint32_t pport)
{
	for (;;) {
		uint32_t p = d->next_port++;

		/* Like Linux, ephemeral ports stay above the reserved 1023. */
		if (d->next_port >= 0x7fff0000u)
			d->next_port = 1024;
		if (find_listener(d, p) == NULL && lookup(d, pcid, p, pport) == NULL)
			return p;
	}
}

void vvfe_reset_all_streams(struct vvfe_dev *d, int err)
{
	struct vvfe_stream *s = d->all, *n;

	while (s) {
		n = s->next;
		if (s->state != VVFE_CLOSED)
			stream_finish(s, err);
		else if (s->user_closed)
			stream_free(s);
		s = n;
	}
	d->ctrl_n = 0;
	d->ctrl_head = 0;
}

static void maybe_credit_update(struct vvfe_stream *s)
{
	/* What the peer believes it may still send. Tell it more before it
	 * stalls: a stall costs a round trip, an extra update does not
	 * (same threshold as Linux: one max-size packet). */
	uint32_t believed = s->buf_alloc - (s->fwd_cnt - s->last_fwd_cnt);
	uint32_t thresh = s->buf_alloc < VVFE_MAX_PKT ? s->buf_alloc : VVFE_MAX_PKT;

	if (s->state == VVFE_ESTABLISHED && !(s->peer_shutdown & VIRTIO_VSOCK_SHUTDOWN_SEND) &&
	    s->fwd_cnt != s->last_fwd_cnt && believed < thresh)
		send_stream_ctrl(s, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
}

/* -------------------------------------------------------------- dispatch */

/* A CID another guest may have: not reserved, not the host's, not ours. */
static bool sibling_cid(const struct vvfe_dev *d, uint64_t cid)
{
	return cid > VVFE_HOST_CID && cid < 0xffffffffull && cid != d->cid;
}

static void rx_connecting(struct vvfe_stream *s, const struct virtio_vsock_hdr *h)
{
	struct vvfe_dev *d = s->dev;

	switch (h->op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		s->state = VVFE_ESTABLISHED;
		s->deadline_ns = 0;
		break;
	case VIRTIO_VSOCK_OP_RST:
		s->rst_rx = true;
		stream_finish(s, -ECONNREFUSED);
		break;
	default:
		vvfe_proto_error(d, "op %u on connecting stream %u->%u", h->op, s->lport, s->pport);
		send_stream_ctrl(s, VIRTIO_VSOCK_OP_RST, 0);
		stream_finish(s, -EPROTO);
		break;
	}
}

static void rx_established(struct vvfe_stream *s, const struct virtio_vsock_hdr *h, const uint8_t *pl)
{
	struct vvfe_dev *d = s->dev;

	switch (h->op) {
	case VIRTIO_VSOCK_OP_RW: {
		uint32_t held = s->rtail - s->rhead;

		if (h->len == 0) {
			if (s->seq != NULL)
				vvfe_seq_rx(s, h); /* an EOM may come alone */
			break;
		}
		if ((uint64_t)held + h->len > s->buf_alloc) {
			/* Linux drops such a packet; the sender broke a MUST. */
			d->st.peer_credit_violations++;
			vvfe_proto_error(d, "RW of %u bytes on %u->%u with %u of %u held", h->len,
					 s->lport, s->pport, held, s->buf_alloc);
			break;
		}
		d->st.rx_bytes += h->len;
		if (s->sink && held == 0 && s->seq == NULL) {
			/* Read in place, like an application blocked in recv():
			 * the bytes are consumed as they land. */
			s->sink(s, pl, h->len, s->sink_arg);
			d->st.rx_sink_bytes += h->len;
			s->fwd_cnt += h->len;
			maybe_credit_update(s);
			break;
		}
		uint32_t pos = s->rtail & s->rmask, first = s->rcap - pos;
		if (first > h->len)
			first = h->len;
		memcpy(s->rbuf + pos, pl, first);
		memcpy(s->rbuf, pl + first, h->len - first);
		s->rtail += h->len;
		if (s->seq != NULL)
			vvfe_seq_rx(s, h);
		break;
	}
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		d->st.credit_update_rx++;
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		d->st.credit_request_rx++;
		send_stream_ctrl(s, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		s->peer_shutdown |= h->flags & (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND);
		if (s->peer_shutdown == (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND) && s->rtail == s->rhead) {
			/* Peer is done both ways and we hold nothing: end it
			 * with the RST the clean disconnect expects. */
			send_stream_ctrl(s, VIRTIO_VSOCK_OP_RST, 0);
			stream_finish(s, 0);
		}
		break;
	case VIRTIO_VSOCK_OP_RST:
		s->rst_rx = true;
		stream_finish(s, (s->peer_shutdown & VIRTIO_VSOCK_SHUTDOWN_SEND) ? 0 : -ECONNRESET);
		break;
	default:
		/* REQUEST/RESPONSE on a live flow, or an unknown op: Linux
		 * ignores them. */
		d->st.rx_unexpected++;
		break;
	}
}

static void rx_closing(struct vvfe_stream *s, const struct virtio_vsock_hdr *h)
{
	if (h->op == VIRTIO_VSOCK_OP_RST) {
		s->rst_rx = true;
		stream_finish(s, 0);
	}
	else if (h->op == VIRTIO_VSOCK_OP_SHUTDOWN)
		s->peer_shutdown |= h->flags & (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND);
	/* Data after our close is discarded, as Linux does. */
}

static void rx_no_stream(struct vvfe_dev *d, const struct virtio_vsock_hdr *h)
{
	struct vvfe_listener *l;
	struct vvfe_stream *s;

	if (h->op == VIRTIO_VSOCK_OP_REQUEST && (l = find_listener(d, h->dst_port)) != NULL &&
	    l->type == h->type) {
		s = stream_new(d, h->src_cid, h->dst_port, h->src_port);
		if (s == NULL || vvfe_stream_set_type(s, h->type) < 0) {
			if (s != NULL)
				stream_free(s);
			send_rst_reply(d, h);
			return;
		}
		s->peer_buf_alloc = h->buf_alloc;
		s->peer_fwd_cnt = h->fwd_cnt;
		s->peer_credit_known = true;
		s->state = VVFE_ESTABLISHED;
		if (l->aq_tail)
			l->aq_tail->aq_next = s;
		else
			l->aq_head = s;
		l->aq_tail = s;
		send_stream_ctrl(s, VIRTIO_VSOCK_OP_RESPONSE, 0);
		return;
	}
	d->st.rx_unexpected++;
	if (h->op != VIRTIO_VSOCK_OP_RST)
		send_rst_reply(d, h);
}

static void dispatch(struct vvfe_dev *d, const struct virtio_vsock_hdr *h, const uint8_t *pl)
{
	struct vvfe_stream *s;

	d->st.rx_pkts++;
	trace(d, "rx", h);
	if (h->op == VIRTIO_VSOCK_OP_RST)
		d->st.rst_rx++;
	if (d->cap.on && h->dst_port == d->cap.lport) {
		if (d->cap.n++ == 0)
			d->cap.first_op = h->op;
		d->cap.ops_seen |= 1u << (h->op < 31 ? h->op : 31);
		/* Packets already in flight (a CREDIT_UPDATE) may precede the
		 * answer, so the RST is looked for, not assumed first. */
		if (h->op == VIRTIO_VSOCK_OP_RST && !d->cap.rst_seen) {
			d->cap.rst_seen = true;
			d->cap.rst_ns = vvfe_now_ns();
		}
		/* Answers to a hostile packet may be odd (an RST of unknown
		 * type); the case judges them, they are no protocol error. */
		if (h->type != VIRTIO_VSOCK_TYPE_STREAM || h->dst_cid != d->cid)
			return;
	}
	if (h->dst_cid != d->cid ||
	    (h->src_cid != VVFE_HOST_CID && !(d->o.siblings && sibling_cid(d, h->src_cid)))) {
		vvfe_proto_error(d, "packet %llu:%u -> %llu:%u op %u: wrong CID",
				 (unsigned long long)h->src_cid, h->src_port,
				 (unsigned long long)h->dst_cid, h->dst_port, h->op);
		return;
	}
	if (!vvfe_type_ok(d, h->type)) {
		/* Spec: the driver MUST answer an unknown type with RST. */
		vvfe_proto_error(d, "packet of type %u from the device (not negotiated)", h->type);
		if (h->op != VIRTIO_VSOCK_OP_RST)
			send_rst_reply(d, h);
		return;
	}
	s = lookup(d, h->src_cid, h->dst_port, h->src_port);
	if (s == NULL) {
		rx_no_stream(d, h);
		return;
	}
	if (h->type != s->type) {
		/* Linux answers it with RST and leaves the socket alone; the
		 * device has no reason to send it. */
		vvfe_proto_error(d, "packet of type %u on a stream of type %u", h->type, s->type);
		if (h->op != VIRTIO_VSOCK_OP_RST)
			send_rst_reply(d, h);
		return;
	}
	s->peer_buf_alloc = h->buf_alloc;
	s->peer_fwd_cnt = h->fwd_cnt;
	s->peer_credit_known = true;
	if (vvfe_stream_credit(s) > 0)
		s->stalled_since = 0;
	switch (s->state) {
	case VVFE_CONNECTING:
		rx_connecting(s, h);
		break;
	case VVFE_ESTABLISHED:
		rx_established(s, h, pl);
		break;
	case VVFE_CLOSING:
		rx_closing(s, h);
		break;
	case VVFE_CLOSED:
		break;
	}
}

static int rx_one(struct vvfe_dev *d, uint32_t id, uint32_t len)
{
	const uint8_t *hp, *pl;
	struct virtio_vsock_hdr h;
	uint32_t cap = d->o.rx_buf_size;

	/* Given back unwritten: a device that stops lending the buffer to
	 * sibling VMs when its driver stops or it is removed. Linux drops such
	 * a buffer the same way (virtio_transport_rx_work). A partial header
	 * is another matter. */
	if (len == 0) {
		d->st.rx_empty++;
		return 0;
	}
	if (len < VVFE_HDR_LEN) {
		vvfe_proto_error(d, "rx used len %u shorter than the header", len);
		return 0;
	}
	if (len > cap) {
		vvfe_proto_error(d, "rx used len %u larger than the %u-byte buffer", len, cap);
		len = cap;
	}
	if (d->o.rx_hdr_split) {
		/* The chain's second descriptor: our shadow link survives the
		 * free because only the tail's link is rewritten. Through a
		 * table the buffer is the head id's. */
		uint16_t second = d->o.indirect ? (uint16_t)id : d->rx.next[id];

		hp = d->mem + d->rx_hdr_off + (size_t)id * RX_HDR_STRIDE;
		pl = d->mem + d->rx_buf_off + (size_t)second * cap;
	} else {
		hp = d->mem + d->rx_buf_off + (size_t)id * cap;
		pl = hp + VVFE_HDR_LEN;
	}
	vvfe_hdr_decode(hp, &h);
	if (h.len > len - VVFE_HDR_LEN) {
		vvfe_proto_error(d, "rx hdr.len %u but only %u payload bytes written", h.len,
				 len - VVFE_HDR_LEN);
		return 0;
	}
	dispatch(d, &h, pl);
	return 1;
}

static void run_timers(struct vvfe_dev *d, uint64_t now, int *events)
{
	struct vvfe_stream *s = d->all, *n;
	uint64_t creq = (uint64_t)d->o.credit_request_ms * 1000000u;

	for (; s; s = n) {
		n = s->next;
		if (s->deadline_ns && now >= s->deadline_ns) {
			if (s->state == VVFE_CONNECTING) {
				send_stream_ctrl(s, VIRTIO_VSOCK_OP_RST, 0);
				stream_finish(s, -ETIMEDOUT);
			} else if (s->state == VVFE_CLOSING) {
				/* Spec: no RST within an implementation-specific
				 * time -> send one ourselves. */
				d->st.close_timeouts++;
				send_stream_ctrl(s, VIRTIO_VSOCK_OP_RST, 0);
				stream_finish(s, 0);
			}
			(*events)++;
			continue;
		}
		if (s->state == VVFE_ESTABLISHED && s->stalled_since &&
		    now - s->stalled_since >= creq && now - s->last_credit_req >= creq) {
			send_stream_ctrl(s, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0);
			s->last_credit_req = now;
			(*events)++;
		}
	}
}

/*
 * linux_irq: may ring q (0 rx, 1 tx) be looked at now? Only while its work
 * runs: from its interrupt until it asks for the next one. Otherwise any
 * time.
 */
static bool ring_due(const struct vvfe_dev *d, int q)
{
	return !d->o.linux_irq || !d->cb_on[q];
}

/*
 * Before sleeping, every ring whose work ran asks for its next interrupt as
 * virtqueue_enable_cb does (used_event = last_used, full barrier, look
 * again). Returns true if one already has used entries: with linux_irq its
 * work goes on (calls off again), as the driver's do-while loop does.
 */
static bool arm_calls(struct vvfe_dev *d)
{
	struct vvfe_vring *r[2] = {&d->rx, &d->tx};
	bool more = false;

	for (int q = 0; q < 2; q++) {
		if (!ring_due(d, q))
			continue;
		if (!vvfe_vring_enable_cb(r[q])) {
			d->cb_on[q] = true;
			continue;
		}
		more = true;
		if (d->o.linux_irq)
			vvfe_vring_disable_cb_linux(r[q]);
	}
	return more;
}

/* A call came on ring q. Linux runs the ring's work only if it has used
 * entries (vring_interrupt answers IRQ_NONE otherwise). */
static void took_call(struct vvfe_dev *d, int q)
{
	struct vvfe_vring *r = q ? &d->tx : &d->rx;

	d->st.calls++;
	if (!d->o.linux_irq || !d->cb_on[q] || !vvfe_vring_has_used(r))
		return;
	d->cb_on[q] = false;
	vvfe_vring_disable_cb_linux(r);
}

int vvfe_process(struct vvfe_dev *d)
{
	uint32_t id, len;
	int events = 0, r = 0;
	uint64_t now;

	if (!d->running)
		return -ENOTCONN;
	if (d->broken)
		return -EPROTO;
	while (ring_due(d, 1) && (r = vvfe_vring_get_used(&d->tx, &id, &len)) > 0) {
		if (d->cap.on && id == d->cap.head) {
			d->cap.used_returned = true;
			d->cap.used_len = len;
		}
		if (len != 0)
			d->st.tx_used_nonzero_len++;
		tx_slot_put(d, id);
		events++;
	}
	if (r < 0)
		goto bad_ring;
	if (ring_due(d, 0)) {
		while ((r = vvfe_vring_get_used(&d->rx, &id, &len)) > 0)
			events += rx_one(d, id, len);
		if (r < 0)
			goto bad_ring;
		vvfe_rx_fill(d);
	} else if (!vvfe_vring_has_used(&d->rx)) {
		/* Linux refills at the end of its rx work, so fewer than half
		 * posted with no work to come happens only after rx_hold (a
		 * hostile case) ends: refill, or no interrupt ever would. */
		vvfe_rx_fill(d);
	}
	ctrl_flush(d);
	/* Timers are 10 ms coarse: a caller spinning on us need not pay a
	 * clock read per call. Sleeping paths reset the count, so a call
	 * after a wait always looks at the clock. */
	if (++d->timer_calls >= TIMER_CALLS) {
		d->timer_calls = 0;
		now = vvfe_now_ns();
		if (now >= d->next_timer_scan) {
			d->next_timer_scan = now + TIMER_PERIOD_NS;
			run_timers(d, now, &events);
		}
	}
	vvfe_flush_kicks(d);
	return events;
bad_ring:
	vvfe_proto_error(d, "device returned a bad used entry (id %u) or moved used idx too far",
			 id);
	d->broken = true;
	return -EPROTO;
}

static bool sock_hung_up(struct vvfe_dev *d)
{
	char c;
	ssize_t n = recv(d->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		return true;
	if (n > 0) {
		/* We opened no back-end channel, so nothing may arrive here. */
		uint8_t junk[256];

		vvfe_proto_error(d, "unsolicited vhost-user message from the backend");
		if (recv(d->sock, junk, sizeof(junk), MSG_DONTWAIT) == 0)
			return true;
	}
	return false;
}

static void lost_backend(struct vvfe_dev *d)
{
	vvfe_vhost_close(d);
	vvfe_reset_all_streams(d, -ECONNRESET);
}

int vvfe_poll(struct vvfe_dev *d, int timeout_ms)
{
	uint64_t end;
	int n;

	n = vvfe_process(d);
	if (n != 0 || timeout_ms == 0)
		return n;
	end = timeout_ms < 0 ? UINT64_MAX : vvfe_now_ns() + (uint64_t)timeout_ms * 1000000u;
	if (d->o.spin) {
		for (unsigned int i = 1;; i++) {
			n = vvfe_process(d);
			if (n != 0)
				return n;
			if ((i & 1023) == 0) {
				if (sock_hung_up(d)) {
					lost_backend(d);
					return -ENOTCONN;
				}
				if (vvfe_now_ns() >= end)
					return 0;
			}
		}
	}
	for (;;) {
		struct pollfd p[3] = {
			{.fd = d->call_fd[0], .events = POLLIN},
			{.fd = d->call_fd[1], .events = POLLIN},
			{.fd = d->sock, .events = POLLIN},
		};
		uint64_t now, wait_ns;
		int wait_ms, r;

		if (arm_calls(d)) {
			n = vvfe_process(d);
			if (n != 0)
				return n;
		}
		now = vvfe_now_ns();
		if (now >= end)
			return 0;
		wait_ns = end - now;
		/* Wake for timers while streams exist. */
		if (d->nstreams > 0 && wait_ns > TIMER_PERIOD_NS)
			wait_ns = TIMER_PERIOD_NS;
		wait_ms = (int)((wait_ns + 999999u) / 1000000u);
		r = poll(p, 3, wait_ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		d->timer_calls = TIMER_CALLS;
		for (int q = 0; q < 2; q++) {
			uint64_t v;

			if (p[q].revents & POLLIN && read(d->call_fd[q], &v, sizeof(v)) == sizeof(v))
				took_call(d, q);
		}
		if (p[2].revents && sock_hung_up(d)) {
			lost_backend(d);
			return -ENOTCONN;
		}
		n = vvfe_process(d);
		if (n != 0)
			return n;
	}
}

int vvfe_wait(struct vvfe_dev *const *devs, unsigned int n, struct pollfd *extra,
	      unsigned int n_extra, int timeout_ms)
{
	struct pollfd small[64], *p = small;
	unsigned int np = 3 * n + n_extra, k;
	bool streams = false;
	int r = 0;

	for (unsigned int i = 0; i < n_extra; i++)
		extra[i].revents = 0;
	for (unsigned int i = 0; i < n; i++) {
		struct vvfe_dev *d = devs[i];

		if (!d->running || d->broken)
			continue;
		/* Ask for calls, then look once more: an entry that came in
		 * between would otherwise sleep until the timeout. */
		if (arm_calls(d) || d->ctrl_n > 0)
			timeout_ms = 0;
		streams |= d->nstreams > 0;
	}
	if (streams && (timeout_ms < 0 || timeout_ms > (int)(TIMER_PERIOD_NS / 1000000u)))
		timeout_ms = (int)(TIMER_PERIOD_NS / 1000000u);
	if (np > sizeof(small) / sizeof(small[0])) {
		p = malloc(np * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
	}
	k = 0;
	for (unsigned int i = 0; i < n; i++) {
		struct vvfe_dev *d = devs[i];
		bool up = d->running && !d->broken;

		p[k++] = (struct pollfd){.fd = up ? d->call_fd[0] : -1, .events = POLLIN};
		p[k++] = (struct pollfd){.fd = up ? d->call_fd[1] : -1, .events = POLLIN};
		p[k++] = (struct pollfd){.fd = up ? d->sock : -1, .events = POLLIN};
	}
	for (unsigned int i = 0; i < n_extra; i++)
		p[k++] = extra[i];
	if (poll(p, np, timeout_ms) < 0 && errno != EINTR)
		r = -errno;
	for (unsigned int i = 0; i < n; i++)
		devs[i]->timer_calls = TIMER_CALLS;
	for (unsigned int i = 0; i < n && r == 0; i++) {
		struct vvfe_dev *d = devs[i];

		for (int q = 0; q < 2; q++) {
			uint64_t v;

			if (p[3 * i + q].revents & POLLIN &&
			    read(d->call_fd[q], &v, sizeof(v)) == sizeof(v))
				took_call(d, q);
		}
		if (p[3 * i + 2].revents && sock_hung_up(d))
			lost_backend(d);
		if (d->o.spin && d->running) {
			/* Spinning devices take no interrupts between waits. */
			vvfe_vring_disable_cb(&d->rx);
			vvfe_vring_disable_cb(&d->tx);
		}
	}
	for (unsigned int i = 0; i < n_extra && r == 0; i++)
		extra[i].revents = p[3 * n + i].revents;
	if (p != small)
		free(p);
	return r;
}

int vvfe_dev_pollfds(const struct vvfe_dev *d, int *fds, int n)
{
	int k = 0;
	int all[3] = {d->call_fd[0], d->call_fd[1], d->sock};

	for (int i = 0; i < 3 && k < n; i++)
		if (all[i] >= 0)
			fds[k++] = all[i];
	return k;
}

/* ----------------------------------------------------------- socket API */

int vvfe_connect(struct vvfe_dev *d, uint32_t port, struct vvfe_stream **out)
{
	return vvfe_connect_cid(d, VVFE_HOST_CID, port, out);
}

int vvfe_connect_cid(struct vvfe_dev *d, uint64_t cid, uint32_t port, struct vvfe_stream **out)
{
	return vvfe_connect_type(d, cid, port, VIRTIO_VSOCK_TYPE_STREAM, out);
}

int vvfe_connect_type(struct vvfe_dev *d, uint64_t cid, uint32_t port, uint16_t type,
		      struct vvfe_stream **out)
{
	struct vvfe_stream *s;

	if ((cid != VVFE_HOST_CID && !sibling_cid(d, cid)) ||
	    (type != VIRTIO_VSOCK_TYPE_STREAM && type != VIRTIO_VSOCK_TYPE_SEQPACKET))
		return -EINVAL;
	if (!vvfe_type_ok(d, type))
		return -EOPNOTSUPP;
	if (!d->running)
		return -ENOTCONN;
	s = stream_new(d, cid, vvfe_alloc_port(d, cid, port), port);
	if (s == NULL)
		return -ENOMEM;
	if (vvfe_stream_set_type(s, type) < 0) {
		stream_free(s);
		return -ENOMEM;
	}
	s->state = VVFE_CONNECTING;
	s->deadline_ns = vvfe_now_ns() + (uint64_t)d->o.vsock_connect_timeout_ms * 1000000u;
	send_stream_ctrl(s, VIRTIO_VSOCK_OP_REQUEST, 0);
	vvfe_flush_kicks(d);
	*out = s;
	return 0;
}

int vvfe_listen(struct vvfe_dev *d, uint32_t port)
{
	return vvfe_listen_type(d, port, VIRTIO_VSOCK_TYPE_STREAM);
}

int vvfe_listen_type(struct vvfe_dev *d, uint32_t port, uint16_t type)
{
	struct vvfe_listener *l;

	if (type != VIRTIO_VSOCK_TYPE_STREAM && type != VIRTIO_VSOCK_TYPE_SEQPACKET)
		return -EINVAL;
	if (!vvfe_type_ok(d, type))
		return -EOPNOTSUPP;
	if (find_listener(d, port))
		return -EADDRINUSE;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->port = port;
	l->type = type;
	l->next = d->listeners;
	d->listeners = l;
	return 0;
}

int vvfe_unlisten(struct vvfe_dev *d, uint32_t port)
{
	struct vvfe_listener **pp = &d->listeners, *l;

	while (*pp && (*pp)->port != port)
		pp = &(*pp)->next;
	if (*pp == NULL)
		return -ENOENT;
	l = *pp;
	*pp = l->next;
	while (l->aq_head) {
		struct vvfe_stream *s = l->aq_head;

		l->aq_head = s->aq_next;
		vvfe_reset(s);
	}
	free(l);
	return 0;
}

struct vvfe_stream *vvfe_accept(struct vvfe_dev *d, uint32_t port)
{
	struct vvfe_listener *l = find_listener(d, port);
	struct vvfe_stream *s;

	if (l == NULL || l->aq_head == NULL)
		return NULL;
	s = l->aq_head;
	l->aq_head = s->aq_next;
	if (l->aq_head == NULL)
		l->aq_tail = NULL;
	s->aq_next = NULL;
	s->accepted = true;
	return s;
}

ssize_t vvfe_send(struct vvfe_stream *s, const void *buf, size_t len)
{
	if (s->seq != NULL)
		return -EINVAL; /* messages go through vvfe_send_msg */
	return vvfe_send_flags(s, buf, len, 0);
}

/* Send len bytes; the packet that carries the last of them gets last_flags
 * (a SEQPACKET message's end), the others none. */
ssize_t vvfe_send_flags(struct vvfe_stream *s, const void *buf, size_t len, uint32_t last_flags)
{
	struct vvfe_dev *d = s->dev;
	const uint8_t *p = buf;
	size_t sent = 0;

	if (len == 0)
		return -EINVAL;
	if (s->state == VVFE_CLOSED)
		return s->err ? s->err : -EPIPE;
	if (s->state != VVFE_ESTABLISHED)
		return -ENOTCONN;
	if ((s->local_shutdown & VIRTIO_VSOCK_SHUTDOWN_SEND) || (s->peer_shutdown & VIRTIO_VSOCK_SHUTDOWN_RCV))
		return -EPIPE;
	if (!d->running)
		return -ENOTCONN;
	if (ctrl_flush(d) < 0)
		goto out;
	while (sent < len) {
		uint32_t credit = vvfe_stream_credit(s);
		uint32_t n = (uint32_t)(len - sent < d->o.max_pkt ? len - sent : d->o.max_pkt);
		struct virtio_vsock_hdr h;

		if (credit == 0) {
			if (s->stalled_since == 0)
				s->stalled_since = vvfe_now_ns();
			break;
		}
		if (n > credit)
			n = credit;
		n = tx_fit(d, n);
		if (n == 0 || d->tx_slot_nfree == 0)
			break;
		vvfe_fill_hdr(s, &h, VIRTIO_VSOCK_OP_RW, sent + n == len ? last_flags : 0, n);
		if (tx_pkt(d, &h, p + sent) < 0)
			break;
		s->tx_cnt += n;
		d->st.tx_bytes += n;
		sent += n;
	}
out:
	vvfe_flush_kicks(d);
	return sent ? (ssize_t)sent : -EAGAIN;
}

size_t vvfe_recv_peek(struct vvfe_stream *s, const void **p)
{
	uint32_t held = s->rtail - s->rhead, pos = s->rhead & s->rmask;
	uint32_t n = s->rcap - pos;

	*p = s->rbuf + pos;
	return held < n ? held : n;
}

int vvfe_recv_consume(struct vvfe_stream *s, size_t n)
{
	struct vvfe_dev *d = s->dev;

	if (n > (size_t)(s->rtail - s->rhead))
		return -EINVAL;
	s->rhead += (uint32_t)n;
	/* fwd_cnt counts bytes handed to the application, as Linux does. */
	s->fwd_cnt += (uint32_t)n;
	maybe_credit_update(s);
	if (s->state == VVFE_ESTABLISHED && s->rtail == s->rhead &&
	    s->peer_shutdown == (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)) {
		send_stream_ctrl(s, VIRTIO_VSOCK_OP_RST, 0);
		stream_finish(s, 0);
	}
	if (d->running)
		vvfe_flush_kicks(d);
	return 0;
}

ssize_t vvfe_recv(struct vvfe_stream *s, void *buf, size_t len)
{
	uint8_t *o = buf;
	size_t got = 0;

	if (s->seq != NULL)
		return -EINVAL; /* messages come through vvfe_recv_msg */
	if (s->state == VVFE_CONNECTING)
		return -ENOTCONN;
	while (got < len) {
		const void *p;
		size_t n = vvfe_recv_peek(s, &p);

		if (n == 0)
			break;
		if (n > len - got)
			n = len - got;
		memcpy(o + got, p, n);
		s->rhead += (uint32_t)n;
		s->fwd_cnt += (uint32_t)n;
		got += n;
	}
	if (got) {
		vvfe_recv_consume(s, 0);
		return (ssize_t)got;
	}
	if (s->peer_shutdown & VIRTIO_VSOCK_SHUTDOWN_SEND)
		return 0;
	if (s->state == VVFE_CLOSED)
		return s->err ? s->err : 0;
	return -EAGAIN;
}

int vvfe_shutdown(struct vvfe_stream *s, unsigned int how)
{
	if (how == 0 || (how & ~(VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)))
		return -EINVAL;
	if (s->state != VVFE_ESTABLISHED)
		return -ENOTCONN;
	s->local_shutdown |= how;
	send_stream_ctrl(s, VIRTIO_VSOCK_OP_SHUTDOWN, s->local_shutdown);
	vvfe_flush_kicks(s->dev);
	return 0;
}

void vvfe_close(struct vvfe_stream *s)
{
	struct vvfe_dev *d = s->dev;

	s->user_closed = true;
	switch (s->state) {
	case VVFE_CLOSED:
		stream_free(s);
		break;
	case VVFE_CONNECTING:
		send_stream_ctrl(s, VIRTIO_VSOCK_OP_RST, 0);
		stream_finish(s, 0);
		break;
	case VVFE_ESTABLISHED:
		if (s->peer_shutdown == (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)) {
			send_stream_ctrl(s, VIRTIO_VSOCK_OP_RST, 0);
			stream_finish(s, 0);
			break;
		}
		s->local_shutdown = VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND;
		send_stream_ctrl(s, VIRTIO_VSOCK_OP_SHUTDOWN, s->local_shutdown);
		s->state = VVFE_CLOSING;
		s->deadline_ns = vvfe_now_ns() + (uint64_t)d->o.close_timeout_ms * 1000000u;
		break;
	case VVFE_CLOSING:
		break;
	}
	if (d->running)
		vvfe_flush_kicks(d);
}

void vvfe_reset(struct vvfe_stream *s)
{
	struct vvfe_dev *d = s->dev;

	if (s->state != VVFE_CLOSED)
		send_stream_ctrl(s, VIRTIO_VSOCK_OP_RST, 0);
	s->user_closed = true;
	if (s->state != VVFE_CLOSED)
		stream_finish(s, -ECONNRESET);
	else
		stream_free(s);
	if (d->running)
		vvfe_flush_kicks(d);
}

enum vvfe_state vvfe_stream_state(const struct vvfe_stream *s)
{
	return s->state;
}

int vvfe_stream_error(const struct vvfe_stream *s)
{
	return s->err;
}

size_t vvfe_stream_readable(const struct vvfe_stream *s)
{
	return s->rtail - s->rhead;
}

uint32_t vvfe_stream_credit(const struct vvfe_stream *s)
{
	return vvfe_credit(vvfe_tx_buf_alloc(s), s->peer_fwd_cnt, s->tx_cnt);
}

unsigned int vvfe_stream_peer_shutdown(const struct vvfe_stream *s)
{
	return s->peer_shutdown;
}

uint32_t vvfe_stream_local_port(const struct vvfe_stream *s)
{
	return s->lport;
}

uint64_t vvfe_stream_peer_cid(const struct vvfe_stream *s)
{
	return s->pcid;
}

uint32_t vvfe_stream_peer_port(const struct vvfe_stream *s)
{
	return s->pport;
}

uint32_t vvfe_stream_unacked(const struct vvfe_stream *s)
{
	return s->tx_cnt - s->peer_fwd_cnt;
}

uint32_t vvfe_stream_peer_buf_alloc(const struct vvfe_stream *s)
{
	return s->peer_buf_alloc;
}

bool vvfe_stream_rst_received(const struct vvfe_stream *s)
{
	return s->rst_rx;
}

uint64_t vvfe_stream_closed_ns(const struct vvfe_stream *s)
{
	return s->state == VVFE_CLOSED ? s->closed_ns : 0;
}

void vvfe_stream_set_sink(struct vvfe_stream *s,
			  void (*fn)(struct vvfe_stream *s, const void *data, size_t len, void *arg),
			  void *arg)
{
	s->sink = fn;
	s->sink_arg = arg;
}

void vvfe_stream_set_user(struct vvfe_stream *s, void *user)
{
	s->user = user;
}

void *vvfe_stream_user(const struct vvfe_stream *s)
{
	return s->user;
}

/* ---------------------------------------------------------------- device */

static int boot(struct vvfe_dev *d)
{
	int timeout = d->o.connect_timeout_ms > 0 ? d->o.connect_timeout_ms : 5000;
	uint64_t end = vvfe_now_ns() + (uint64_t)timeout * 1000000u;
	int r;

	/* A backend may drop a new connection while it still tears down the
	 * previous one; QEMU's reconnect option retries, so do we, counting
	 * it so a test can tell. */
	while ((r = vvfe_vhost_start(d)) == -ECONNRESET || r == -EPIPE) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		if (vvfe_now_ns() >= end)
			break;
		d->st.handshake_retries++;
		nanosleep(&ts, NULL);
	}
	if (r < 0)
		return r;
	d->tx_slot_nfree = 0;
	for (uint16_t i = d->tx_nslots; i > 0; i--)
		d->tx_slot_free[d->tx_slot_nfree++] = (uint16_t)(i - 1);
	for (uint32_t i = 0; i < d->o.queue_size; i++)
		d->tx_head_slot[i] = UINT16_MAX;
	d->ctrl_n = d->ctrl_head = 0;
	memset(&d->cap, 0, sizeof(d->cap));
	/* Virtio init step: fill the rx queue, then let the device know. */
	vvfe_rx_fill(d);
	if (d->o.spin) {
		vvfe_vring_disable_cb(&d->rx);
		vvfe_vring_disable_cb(&d->tx);
	} else {
		d->cb_on[0] = d->cb_on[1] = false;
		arm_calls(d);
	}
	vvfe_flush_kicks(d);
	return 0;
}

static int layout(struct vvfe_dev *d)
{
	struct vvfe_vring_layout l;
	size_t off = 0, left;
	uint32_t q = d->o.queue_size;

	vvfe_vring_layout(d->o.queue_size, &l);
	d->rx_ring_off = off;
	off += l.total;
	d->tx_ring_off = off;
	off += l.total;
	d->rx_hdr_off = off;
	off += ((size_t)q * RX_HDR_STRIDE + 4095) & ~(size_t)4095;
	d->rx_buf_off = off;
	off += ((size_t)q * d->o.rx_buf_size + 4095) & ~(size_t)4095;
	d->ind_off = off;
	off += ((size_t)2 * q * IND_STRIDE + 4095) & ~(size_t)4095;
	d->scratch_off = off;
	d->scratch_size = SCRATCH_SIZE;
	off += SCRATCH_SIZE;
	d->tx_slot_off = off;
	d->tx_slot_size = (4096u + d->o.max_pkt + 4095u) & ~(size_t)4095;
	if (off >= d->mem_size)
		return -ENOMEM;
	left = (d->mem_size - off) / d->tx_slot_size;
	d->tx_nslots = (uint16_t)(left < q ? left : q);
	d->user_next = off + (size_t)d->tx_nslots * d->tx_slot_size;
	/* A handful of packets in flight is the least a stream stack needs. */
	if (d->tx_nslots < 8)
		return -ENOMEM;
	return 0;
}

struct vvfe_dev *vvfe_dev_create(const struct vvfe_opts *opts)
{
	struct vvfe_dev *d;
	int r = -EINVAL;

	if (opts == NULL || opts->socket_path == NULL) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->o = *opts;
	d->sock = d->memfd = -1;
	d->kick_fd[0] = d->kick_fd[1] = d->call_fd[0] = d->call_fd[1] = -1;
	d->vring_base[0] = d->vring_base[1] = -1;
	d->trace = getenv("VVFE_TRACE") != NULL;
	d->next_port = 49152u + (uint32_t)(getpid() % 4096) * 16u;
	if (!d->o.mem_size)
		d->o.mem_size = 64u << 20;
	if (!d->o.queue_size)
		d->o.queue_size = 256;
	if (!d->o.rx_buf_size)
		d->o.rx_buf_size = 4096;
	if (!d->o.buf_alloc)
		d->o.buf_alloc = 256u * 1024u;
	if (!d->o.max_pkt)
		d->o.max_pkt = VVFE_MAX_PKT;
	if (!d->o.vsock_connect_timeout_ms)
		d->o.vsock_connect_timeout_ms = 2000;
	if (!d->o.close_timeout_ms)
		d->o.close_timeout_ms = 8000;
	if (!d->o.credit_request_ms)
		d->o.credit_request_ms = 500;
	if ((!d->o.packed && (d->o.queue_size & (d->o.queue_size - 1)) != 0) ||
	    d->o.queue_size > 32768 ||
	    d->o.queue_size < 4 || d->o.rx_buf_size < VVFE_HDR_LEN + 1 ||
	    d->o.rx_buf_size > (1u << 20) || d->o.tx_hdr_split_at >= VVFE_HDR_LEN ||
	    d->o.max_pkt > (1u << 20) || d->o.buf_alloc > (1u << 30) ||
	    (d->o.spin && d->o.linux_irq) ||
	    (d->o.tx_seg_size && d->o.max_pkt / d->o.tx_seg_size + 3 > 512))
		goto fail;
	d->mem_size = d->o.mem_size;
	d->socket_path = strdup(opts->socket_path);
	d->tx_slot_free = calloc(d->o.queue_size, sizeof(uint16_t));
	d->tx_head_slot = calloc(d->o.queue_size, sizeof(uint16_t));
	d->ctrl_cap = CTRL_CAP;
	d->ctrlq = calloc(CTRL_CAP, sizeof(*d->ctrlq));
	r = -ENOMEM;
	if (!d->socket_path || !d->tx_slot_free || !d->tx_head_slot || !d->ctrlq)
		goto fail;
	r = layout(d);
	if (r < 0)
		goto fail;
	d->memfd = memfd_create("vvfe-guest-ram", MFD_CLOEXEC);
	if (d->memfd < 0 || ftruncate(d->memfd, (off_t)d->mem_size) < 0) {
		r = -errno;
		goto fail;
	}
	d->mem = mmap(NULL, d->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd, 0);
	if (d->mem == MAP_FAILED) {
		d->mem = NULL;
		r = -errno;
		goto fail;
	}
	r = boot(d);
	if (r < 0)
		goto fail;
	return d;
fail:
	vvfe_dev_free(d);
	errno = -r;
	return NULL;
}

int vvfe_dev_stop(struct vvfe_dev *d)
{
	int r = 0;

	if (d->sock >= 0)
		r = vvfe_vhost_get_bases(d);
	vvfe_vhost_close(d);
	vvfe_reset_all_streams(d, -ECONNRESET);
	return r;
}

void vvfe_dev_abort(struct vvfe_dev *d)
{
	vvfe_vhost_close(d);
	vvfe_reset_all_streams(d, -ECONNRESET);
}

int vvfe_dev_reconnect(struct vvfe_dev *d)
{
	if (d->sock >= 0)
		vvfe_dev_stop(d);
	vvfe_reset_all_streams(d, -ECONNRESET);
	return boot(d);
}

void vvfe_dev_free(struct vvfe_dev *d)
{
	if (d == NULL)
		return;
	if (d->sock >= 0)
		vvfe_dev_stop(d);
	vvfe_vhost_close(d);
	while (d->all)
		stream_free(d->all);
	while (d->listeners) {
		struct vvfe_listener *l = d->listeners;

		d->listeners = l->next;
		free(l);
	}
	vvfe_vring_fini(&d->rx);
	vvfe_vring_fini(&d->tx);
	if (d->mem)
		munmap(d->mem, d->mem_size);
	if (d->memfd >= 0)
		close(d->memfd);
	free(d->socket_path);
	free(d->tx_slot_free);
	free(d->tx_head_slot);
	free(d->ctrlq);
	free(d);
}

void *vvfe_dev_mem_alloc(struct vvfe_dev *d, size_t len)
{
	size_t off = (d->user_next + 63) & ~(size_t)63;

	if (d->mem == NULL || off > d->mem_size || len > d->mem_size - off) {
		errno = ENOMEM;
		return NULL;
	}
	d->user_next = off + len;
	return d->mem + off;
}

uint64_t vvfe_dev_cid(const struct vvfe_dev *d)
{
	return d->cid;
}

uint64_t vvfe_dev_features(const struct vvfe_dev *d)
{
	return d->features;
}

uint64_t vvfe_dev_protocol_features(const struct vvfe_dev *d)
{
	return d->proto;
}

void vvfe_dev_vring_bases(const struct vvfe_dev *d, int *rx, int *tx)
{
	*rx = d->vring_base[0];
	*tx = d->vring_base[1];
}

bool vvfe_dev_running(const struct vvfe_dev *d)
{
	return d->running && !d->broken;
}

const struct vvfe_stats *vvfe_dev_stats(const struct vvfe_dev *d)
{
	return &d->st;
}

unsigned int vvfe_dev_nstreams(const struct vvfe_dev *d)
{
	return d->nstreams;
}
