/* SPDX-License-Identifier: BSD-3-Clause */
#include <endian.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vsock_guest.h"

/* Queue 1's rings sit 32 KiB into the 64 KiB ring region: fg_new lays out
 * queue 0 at its start, and a queue of 1024 entries needs under 32 KiB. */
#define TX_RING_OFF 0x8000ull

static void tx_queue_init(struct vg *g, uint16_t size, uint16_t start)
{
	struct fg *t = &g->tx;
	uint64_t desc_gpa = FG_RING_GPA + TX_RING_OFF;
	uint64_t avail_gpa = desc_gpa + 16ull * size;
	uint64_t used_gpa = (avail_gpa + 6 + 2ull * size + 4095) & ~4095ull;

	memset(t, 0, sizeof(*t));
	t->buf = g->rx->buf;
	t->mem = g->rx->mem;
	t->size = size;
	t->vq.size = size;
	t->vq.desc = vv_mem_translate(&t->mem, desc_gpa, 16ull * size);
	t->vq.avail = vv_mem_translate(&t->mem, avail_gpa, 6 + 2ull * size);
	t->vq.used = vv_mem_translate(&t->mem, used_gpa, 6 + 8ull * size);
	t->vq.callfd = -1;
	t->vq.kickfd = -1;
	t->vq.last_avail_idx = start;
	t->vq.used_idx = start;
	t->vq.avail->idx = start;
	t->vq.used->idx = start;
	t->avail_idx = start;
	t->kick_old = start;
}

struct vg *vg_new(uint64_t cid, uint16_t rx_size, uint16_t tx_size,
		  uint16_t rx_start, uint16_t tx_start)
{
	struct vg *g;

	if (rx_size > 1024 || tx_size > 1024)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	g->rx = fg_new(rx_size, rx_start);
	g->scratch = malloc(VG_DATA_SIZE);
	if (g->rx == NULL || g->scratch == NULL) {
		if (g->rx != NULL)
			fg_free(g->rx);
		free(g->scratch);
		free(g);
		return NULL;
	}
	tx_queue_init(g, tx_size, tx_start);
	g->cid = cid;
	g->buf_alloc = 65536;
	g->next_tx_gpa = VG_TX_ZONE_GPA;
	g->next_rx_gpa = VG_RX_ZONE_GPA;
	g->rx_seen = rx_start;
	return g;
}

void vg_free(struct vg *g)
{
	if (g == NULL)
		return;
	fg_free(g->rx); /* also the memory under g->tx */
	free(g->scratch);
	free(g);
}

static uint64_t zone_alloc(uint64_t *next, uint64_t base, uint64_t size, uint32_t len)
{
	uint64_t gpa;

	if (len > size)
		abort();
	if (*next + len > base + size)
		*next = base;
	gpa = *next;
	*next = (gpa + len + 7) & ~7ull;
	return gpa;
}

uint64_t vg_alloc(struct vg *g, uint32_t len)
{
	return zone_alloc(&g->next_tx_gpa, VG_TX_ZONE_GPA, VG_TX_ZONE_SIZE, len);
}

/* The fake guest's data regions are adjacent in gpa but not in hva. */
static void guest_copy(struct vg *g, uint64_t gpa, void *buf, uint32_t len, bool to_guest)
{
	uint8_t *b = buf;

	while (len > 0) {
		uint64_t end = gpa < FG_HI_GPA ? FG_HI_GPA : FG_HI_GPA + FG_DATA_SIZE;
		uint32_t k = end - gpa < len ? (uint32_t)(end - gpa) : len;

		if (to_guest)
			memcpy(fg_hva(g->rx, gpa), b, k);
		else
			memcpy(b, fg_hva(g->rx, gpa), k);
		gpa += k;
		b += k;
		len -= k;
	}
}

/* Stale bytes in an rx buffer must not pass for what the device wrote. */
static void guest_fill(struct vg *g, uint64_t gpa, uint8_t v, uint32_t len)
{
	uint8_t chunk[256];

	memset(chunk, v, sizeof(chunk));
	while (len > 0) {
		uint32_t k = len < sizeof(chunk) ? len : (uint32_t)sizeof(chunk);

		guest_copy(g, gpa, chunk, k, true);
		gpa += k;
		len -= k;
	}
}

/* The wire is little-endian; converting is its own inverse. */
static void hdr_le(struct virtio_vsock_hdr *h)
{
#define LE(f) h->f = sizeof(h->f) == 8 ? htole64(h->f) : sizeof(h->f) == 4 ? htole32(h->f) : htole16(h->f);
	/* clang-format off */
	LE(src_cid) LE(dst_cid) LE(src_port) LE(dst_port) LE(len) LE(type) LE(op) LE(flags)
	LE(buf_alloc) LE(fwd_cnt)
	/* clang-format on */
#undef LE
}

void vg_hdr_encode(const struct virtio_vsock_hdr *h, void *out)
{
	struct virtio_vsock_hdr w = *h;

	hdr_le(&w);
	memcpy(out, &w, sizeof(w));
}

void vg_hdr_decode(const void *in, struct virtio_vsock_hdr *h)
{
	memcpy(h, in, sizeof(*h));
	hdr_le(h);
}

void vg_hdr_init(struct virtio_vsock_hdr *h, const struct vg *g, uint16_t op,
		 uint32_t src_port, uint32_t dst_port)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = g->cid;
	h->dst_cid = VG_HOST_CID;
	h->src_port = src_port;
	h->dst_port = dst_port;
	h->type = VIRTIO_VSOCK_TYPE_STREAM;
	h->op = op;
	h->buf_alloc = g->buf_alloc;
}

uint16_t vg_send_bytes(struct vg *g, const void *bytes, uint32_t len,
		       const uint32_t *cuts, unsigned int n_cuts)
{
	struct fg *t = &g->tx;
	const uint8_t *p = bytes;
	uint16_t head = t->next_desc;
	uint32_t off = 0;
	unsigned int i = 0;

	for (;;) {
		uint32_t k = i < n_cuts ? cuts[i] : len - off;
		uint16_t cur = t->next_desc;
		uint64_t gpa = vg_alloc(g, k);
		bool last;

		if (k > len - off)
			abort();
		guest_copy(g, gpa, (void *)(uintptr_t)(p + off), k, true);
		off += k;
		i++;
		last = i > n_cuts || (i == n_cuts && off == len);
		t->next_desc = (uint16_t)((cur + 1) & (t->size - 1));
		fg_set_desc(t, cur, gpa, k, last ? 0 : VRING_DESC_F_NEXT, t->next_desc);
		if (last)
			break;
	}
	fg_post(t, head);
	return head;
}

uint16_t vg_send_cut(struct vg *g, const struct virtio_vsock_hdr *h, const void *payload,
		     const uint32_t *cuts, unsigned int n_cuts)
{
	uint32_t total = VG_HDR_SIZE + h->len;
	uint8_t *pkt = malloc(total);
	uint16_t head;

	if (pkt == NULL)
		abort();
	vg_hdr_encode(h, pkt);
	if (h->len > 0)
		memcpy(pkt + VG_HDR_SIZE, payload, h->len);
	head = vg_send_bytes(g, pkt, total, cuts, n_cuts);
	free(pkt);
	return head;
}

uint16_t vg_send(struct vg *g, const struct virtio_vsock_hdr *h, const void *payload)
{
	const uint32_t cut = VG_HDR_SIZE;

	return vg_send_cut(g, h, payload, &cut, 1);
}

uint16_t vg_post_rx(struct vg *g, const uint32_t *sizes, unsigned int n)
{
	struct fg_buf bufs[64];
	unsigned int i;

	if (n == 0 || n > 64)
		abort();
	for (i = 0; i < n; i++) {
		bufs[i].gpa = zone_alloc(&g->next_rx_gpa, VG_RX_ZONE_GPA, VG_RX_ZONE_SIZE,
					 sizes[i]);
		bufs[i].len = sizes[i];
		bufs[i].flags = VRING_DESC_F_WRITE;
		guest_fill(g, bufs[i].gpa, 0xee, sizes[i]);
	}
	return fg_add_chain(g->rx, n, bufs);
}

void vg_post_rx_n(struct vg *g, unsigned int count, uint32_t size)
{
	unsigned int i;

	for (i = 0; i < count; i++)
		vg_post_rx(g, &size, 1);
}

uint16_t vg_rx_pending(struct vg *g)
{
	return (uint16_t)(fg_used_idx(g->rx) - g->rx_seen);
}

bool vg_recv(struct vg *g, struct vg_pkt *p)
{
	struct vring_used_elem e;
	uint32_t got = 0;
	uint16_t idx;
	unsigned int steps = 0;

	if (vg_rx_pending(g) == 0)
		return false;
	e = fg_used_elem(g->rx, g->rx_seen);
	g->rx_seen++;
	memset(p, 0, sizeof(*p));
	p->head = (uint16_t)e.id;
	p->used_len = e.len;
	/* Read back through the descriptors this guest wrote: the device
	 * never changes them. */
	idx = p->head;
	while (got < e.len && idx < g->rx->size && steps++ < g->rx->size) {
		const struct vring_desc *d = &g->rx->vq.desc[idx];
		uint32_t k = d->len < e.len - got ? d->len : e.len - got;

		if (d->addr < VG_DATA_GPA || d->addr + d->len > VG_DATA_GPA + VG_DATA_SIZE)
			break;
		guest_copy(g, d->addr, g->scratch + got, k, false);
		got += k;
		if (!(d->flags & VRING_DESC_F_NEXT))
			break;
		idx = d->next;
	}
	p->overrun = got < e.len;
	if (got >= VG_HDR_SIZE) {
		p->has_hdr = true;
		vg_hdr_decode(g->scratch, &p->hdr);
		p->data = g->scratch + VG_HDR_SIZE;
		p->data_len = got - VG_HDR_SIZE;
	}
	return true;
}

uint16_t vg_tx_used(struct vg *g)
{
	return fg_used_idx(&g->tx);
}
