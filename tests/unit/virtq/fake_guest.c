/* SPDX-License-Identifier: BSD-3-Clause */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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
	g->vq.kickfd = -1;
	g->vq.last_avail_idx = start;
	g->vq.used_idx = start;
	g->vq.avail->idx = start;
	g->vq.used->idx = start;
	g->avail_idx = start;
	g->kick_old = start;
	return g;
}

void fg_free(struct fg *g)
{
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
