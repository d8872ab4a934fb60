/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_guest.h"

/* Host side: HI, LO, rings, top page in one buffer. FG_LO and FG_HI are
 * adjacent in gpa but swapped in hva, so a range spanning them cannot be
 * one host iovec. */
#define OFF_HI 0
#define OFF_LO FG_DATA_SIZE
#define OFF_RING (2 * FG_DATA_SIZE)
#define OFF_TOP (OFF_RING + FG_RING_SIZE)
#define BUF_SIZE (OFF_TOP + FG_TOP_SIZE)

struct fg *fg_new(uint16_t size, uint16_t start)
{
	struct fg *g = calloc(1, sizeof(*g));
	uint64_t avail_gpa, used_gpa;

	if (g == NULL)
		return NULL;
	g->buf = aligned_alloc(4096, BUF_SIZE);
	if (g->buf == NULL) {
		free(g);
		return NULL;
	}
	memset(g->buf, 0, BUF_SIZE);

	/* Regions deliberately not sorted by gpa, with a size-0 one. */
	g->mem.n_regions = 5;
	g->mem.regions[0] = (struct vv_mem_region){ FG_HI_GPA, FG_DATA_SIZE,
						    (uintptr_t)(g->buf + OFF_HI) };
	g->mem.regions[1] = (struct vv_mem_region){ FG_TOP_GPA, FG_TOP_SIZE,
						    (uintptr_t)(g->buf + OFF_TOP) };
	g->mem.regions[2] = (struct vv_mem_region){ FG_EMPTY_GPA, 0, (uintptr_t)g->buf };
	g->mem.regions[3] = (struct vv_mem_region){ FG_RING_GPA, FG_RING_SIZE,
						    (uintptr_t)(g->buf + OFF_RING) };
	g->mem.regions[4] = (struct vv_mem_region){ FG_LO_GPA, FG_DATA_SIZE,
						    (uintptr_t)(g->buf + OFF_LO) };

	/* Ring layout as in the virtio spec, legacy-style alignment. */
	avail_gpa = FG_RING_GPA + 16ull * size;
	used_gpa = (avail_gpa + 6 + 2ull * size + 4095) & ~4095ull;
	g->size = size;
	g->vq.size = size;
	g->vq.desc = vv_mem_translate(&g->mem, FG_RING_GPA, 16ull * size);
	g->vq.avail = vv_mem_translate(&g->mem, avail_gpa, 6 + 2ull * size);
	g->vq.used = vv_mem_translate(&g->mem, used_gpa, 6 + 8ull * size);
	g->vq.callfd = -1;
	g->vq.last_avail_idx = start;
	g->vq.used_idx = start;
	g->vq.avail->idx = start;
	g->vq.used->idx = start;
	g->avail_idx = start;
	g->kick_old = start;
	return g;
}

struct fg *fg_new_packed(uint16_t size, uint16_t start)
{
	struct fg *g = fg_new(1, 0);
	uint64_t drv_gpa = FG_RING_GPA + 16ull * size;

	if (g == NULL)
		return NULL;
	g->id_count = calloc(65536, sizeof(*g->id_count));
	if (g->id_count == NULL) {
		fg_free(g);
		return NULL;
	}
	memset(g->buf + OFF_RING, 0, FG_RING_SIZE);
	memset(&g->vq, 0, sizeof(g->vq));
	g->size = size;
	g->vq.packed = true;
	g->vq.size = size;
	g->vq.desc_packed = vv_mem_translate(&g->mem, FG_RING_GPA, 16ull * size);
	g->vq.driver_event = vv_mem_translate(&g->mem, drv_gpa, 4);
	g->vq.device_event = vv_mem_translate(&g->mem, drv_gpa + 4, 4);
	g->vq.callfd = -1;
	g->vq.last_avail_idx = start;
	g->vq.used_idx = start;
	g->p_avail = start;
	g->p_used = start;
	/* Every slot holds what the device left there: slots before start
	 * were used in this lap, the others in the previous one (the wrap
	 * counter the other way). Zeroes are that for a fresh ring. */
	for (uint16_t i = 0; i < size; i++) {
		bool wrap = (start & 0x8000) != 0;

		if (i >= (start & 0x7fff))
			wrap = !wrap;
		g->vq.desc_packed[i].flags =
			wrap ? (uint16_t)(1u << VRING_PACKED_DESC_F_AVAIL | 1u << VRING_PACKED_DESC_F_USED)
			     : 0;
	}
	return g;
}

void fg_free(struct fg *g)
{
	free(g->id_count);
	free(g->buf);
	free(g);
}

void *fg_hva(struct fg *g, uint64_t gpa)
{
	if (gpa >= FG_LO_GPA && gpa < FG_LO_GPA + FG_DATA_SIZE)
		return g->buf + OFF_LO + (gpa - FG_LO_GPA);
	if (gpa >= FG_HI_GPA && gpa < FG_HI_GPA + FG_DATA_SIZE)
		return g->buf + OFF_HI + (gpa - FG_HI_GPA);
	if (gpa >= FG_RING_GPA && gpa < FG_RING_GPA + FG_RING_SIZE)
		return g->buf + OFF_RING + (gpa - FG_RING_GPA);
	if (gpa >= FG_TOP_GPA)
		return g->buf + OFF_TOP + (gpa - FG_TOP_GPA);
	abort();
}

void fg_set_desc(struct fg *g, uint16_t i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	struct vring_desc *d = &g->vq.desc[i];

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

void fg_post(struct fg *g, uint16_t head)
{
	g->vq.avail->ring[g->avail_idx & (g->size - 1)] = head;
	g->avail_idx++;
	__atomic_store_n(&g->vq.avail->idx, g->avail_idx, __ATOMIC_RELEASE);
}

uint16_t fg_add_chain(struct fg *g, unsigned int n, const struct fg_buf *bufs)
{
	uint16_t head = g->next_desc;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t cur = g->next_desc;
		uint16_t next = (uint16_t)((cur + 1) & (g->size - 1));

		fg_set_desc(g, cur, bufs[i].gpa, bufs[i].len,
			    (uint16_t)(bufs[i].flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			    next);
		g->next_desc = next;
	}
	fg_post(g, head);
	return head;
}

void fg_set_used_event(struct fg *g, uint16_t v)
{
	g->vq.avail->ring[g->size] = v;
}

uint16_t fg_avail_event(struct fg *g)
{
	uint16_t v;

	memcpy(&v, (uint8_t *)g->vq.used + offsetof(struct vring_used, ring) +
		       sizeof(struct vring_used_elem) * g->size, sizeof(v));
	return v;
}

int fg_kick_prepare(struct fg *g)
{
	uint16_t old = g->kick_old;

	g->kick_old = g->avail_idx;
	return vring_need_event(fg_avail_event(g), g->avail_idx, old);
}

struct vring_used_elem fg_used_elem(struct fg *g, uint16_t i)
{
	return g->vq.used->ring[i & (g->size - 1)];
}

uint16_t fg_used_idx(struct fg *g)
{
	return __atomic_load_n(&g->vq.used->idx, __ATOMIC_ACQUIRE);
}

static uint16_t p_next(struct fg *g, uint16_t at)
{
	uint16_t pos = (uint16_t)((at & 0x7fff) + 1), wrap = at & 0x8000;

	if (pos == g->size) {
		pos = 0;
		wrap ^= 0x8000;
	}
	return (uint16_t)(pos | wrap);
}

static uint16_t avail_bits(uint16_t at)
{
	/* AVAIL equal to the driver's wrap counter, USED its inverse. */
	return (at & 0x8000) ? (uint16_t)(1u << VRING_PACKED_DESC_F_AVAIL)
			     : (uint16_t)(1u << VRING_PACKED_DESC_F_USED);
}

static uint16_t p_add(struct fg *g, unsigned int n, const struct fg_buf *bufs, uint16_t id,
		      bool raw)
{
	uint16_t first = g->p_avail, first_flags = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct vring_packed_desc *d = &g->vq.desc_packed[g->p_avail & 0x7fff];
		uint16_t f = bufs[i].flags;

		if (!raw && i + 1 < n)
			f |= VRING_DESC_F_NEXT;
		f |= avail_bits(g->p_avail);
		d->addr = bufs[i].gpa;
		d->len = bufs[i].len;
		d->id = id;
		if (i == 0)
			first_flags = f;
		else
			d->flags = f;
		g->p_avail = p_next(g, g->p_avail);
	}
	g->id_count[id] = (uint16_t)n;
	__atomic_store_n(&g->vq.desc_packed[first & 0x7fff].flags, first_flags, __ATOMIC_RELEASE);
	return id;
}

uint16_t fgp_add(struct fg *g, unsigned int n, const struct fg_buf *bufs, uint16_t id)
{
	return p_add(g, n, bufs, id, false);
}

uint16_t fgp_add_raw(struct fg *g, unsigned int n, const struct fg_buf *bufs, uint16_t id)
{
	return p_add(g, n, bufs, id, true);
}

int fgp_get_used(struct fg *g, uint16_t *id, uint32_t *len, uint16_t *flags)
{
	struct vring_packed_desc *d = &g->vq.desc_packed[g->p_used & 0x7fff];
	uint16_t f = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
	bool wrap = (g->p_used & 0x8000) != 0;
	unsigned int k;

	if (!!(f & (1u << VRING_PACKED_DESC_F_USED)) != wrap ||
	    !!(f & (1u << VRING_PACKED_DESC_F_AVAIL)) != wrap)
		return 0;
	*id = d->id;
	*len = d->len;
	*flags = f;
	for (k = 0; k < (g->id_count[*id] ? g->id_count[*id] : 1u); k++)
		g->p_used = p_next(g, g->p_used);
	g->id_count[*id] = 0;
	return 1;
}

void fgp_set_driver_event(struct fg *g, uint16_t flags, uint16_t off_wrap)
{
	g->vq.driver_event->off_wrap = off_wrap;
	g->vq.driver_event->flags = flags;
}

struct vring_packed_desc_event fgp_device_event(struct fg *g)
{
	return *g->vq.device_event;
}

void fg_table_desc(struct fg *g, uint64_t gpa, unsigned int i, bool packed, uint64_t addr,
		   uint32_t len, uint16_t flags, uint16_t next_or_id)
{
	uint8_t raw[16];
	unsigned int k;

	if (packed) {
		struct vring_packed_desc d = { addr, len, next_or_id, flags };

		memcpy(raw, &d, sizeof(raw));
	} else {
		struct vring_desc d = { addr, len, flags, next_or_id };

		memcpy(raw, &d, sizeof(raw));
	}
	for (k = 0; k < sizeof(raw); k++)
		*(uint8_t *)fg_hva(g, gpa + 16ull * i + k) = raw[k];
}

void fg_table(struct fg *g, uint64_t gpa, unsigned int n, const struct fg_buf *bufs, bool packed)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t f = bufs[i].flags;

		if (!packed && i + 1 < n)
			f |= VRING_DESC_F_NEXT;
		fg_table_desc(g, gpa, i, packed, bufs[i].gpa, bufs[i].len, f,
			      packed ? 0xbeef : (uint16_t)(i + 1));
	}
}

int64_t fg_efd_take(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return errno == EAGAIN ? 0 : -1;
	return (int64_t)v;
}
