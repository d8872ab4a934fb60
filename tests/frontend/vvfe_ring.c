/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Virtqueues, driver side: split (virtio 1.3, 2.7) and packed (2.8),
 * modelled on what the Linux virtio_ring driver does: private shadow
 * bookkeeping, store-release of avail->idx (split) or of a list's first
 * descriptor flags (packed), a full barrier before reading the device's
 * notification suppression fields, and the event-index test for kicks and
 * calls. One free list of ids serves both: a packed buffer's id is its
 * head id, and its descriptors go into the ring in allocation order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vvfe_priv.h"

#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((size_t)(a) - 1))

void vvfe_vring_layout(uint16_t n, struct vvfe_vring_layout *l)
{
	l->desc = 0;
	l->avail = 16u * n;
	/* Legacy QEMU aligns the used ring on a page; harmless for 1.x. */
	l->used = ALIGN_UP(l->avail + 6u + 2u * n, 4096);
	l->total = ALIGN_UP(l->used + 6u + 8u * n, 4096);
}

void vvfe_vring_layout_packed(uint16_t n, struct vvfe_vring_layout *l)
{
	/* Descriptors (16-aligned), then the driver and device event areas
	 * (4-aligned, 4 bytes each). */
	l->desc = 0;
	l->avail = 16u * n;
	l->used = l->avail + 4u;
	l->total = ALIGN_UP(l->used + 4u, 4096);
}

static int shadow_alloc(struct vvfe_vring *vr, uint16_t size)
{
	vr->next = calloc(size, sizeof(*vr->next));
	vr->chain_len = calloc(size, sizeof(*vr->chain_len));
	if (vr->next == NULL || vr->chain_len == NULL) {
		vvfe_vring_fini(vr);
		return -ENOMEM;
	}
	for (uint16_t i = 0; i < size; i++)
		vr->next[i] = (uint16_t)(i + 1);
	vr->free_head = 0;
	vr->num_free = size;
	return 0;
}

#define WRAP 0x8000u
#define POS(x) ((uint16_t)((x) & (WRAP - 1)))
#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED (1u << VRING_PACKED_DESC_F_USED)

int vvfe_vring_init_packed(struct vvfe_vring *vr, void *base, uint16_t size, bool event_idx)
{
	struct vvfe_vring_layout l;
	uint8_t *b = base;

	if (size == 0 || size > 32768)
		return -EINVAL;
	vvfe_vring_layout_packed(size, &l);
	memset(base, 0, l.total);
	memset(vr, 0, sizeof(*vr));
	vr->size = size;
	vr->packed = true;
	vr->event_idx = event_idx;
	vr->ring = (struct vring_packed_desc *)(b + l.desc);
	vr->driver_ev = (struct vring_packed_desc_event *)(b + l.avail);
	vr->device_ev = (struct vring_packed_desc_event *)(b + l.used);
	vr->p_avail = vr->p_used = vr->p_kicked = WRAP;
	/* Chains are built here, privately, and copied into the ring. */
	vr->desc = calloc(size, sizeof(*vr->desc));
	if (vr->desc == NULL)
		return -ENOMEM;
	return shadow_alloc(vr, size);
}

int vvfe_vring_init(struct vvfe_vring *vr, void *base, uint16_t size, bool event_idx)
{
	struct vvfe_vring_layout l;
	uint8_t *b = base;

	if (size == 0 || (size & (size - 1)) != 0)
		return -EINVAL;
	vvfe_vring_layout(size, &l);
	memset(base, 0, l.total);
	memset(vr, 0, sizeof(*vr));
	vr->size = size;
	vr->desc = (struct vring_desc *)(b + l.desc);
	vr->avail_flags = (uint16_t *)(b + l.avail);
	vr->avail_idx = vr->avail_flags + 1;
	vr->avail_ring = vr->avail_flags + 2;
	vr->used_event = vr->avail_ring + size;
	vr->used_flags = (uint16_t *)(b + l.used);
	vr->used_idx = vr->used_flags + 1;
	vr->used_ring = (struct vring_used_elem *)(b + l.used + 4);
	vr->avail_event = (uint16_t *)(vr->used_ring + size);
	vr->event_idx = event_idx;
	return shadow_alloc(vr, size);
}

void vvfe_vring_fini(struct vvfe_vring *vr)
{
	free(vr->next);
	free(vr->chain_len);
	if (vr->packed)
		free(vr->desc);
	vr->next = NULL;
	vr->chain_len = NULL;
	vr->desc = NULL;
}

static uint16_t p_advance(const struct vvfe_vring *vr, uint16_t at, uint16_t n)
{
	uint32_t pos = POS(at) + (uint32_t)n;
	uint16_t wrap = at & WRAP;

	while (pos >= vr->size) {
		pos -= vr->size;
		wrap ^= WRAP;
	}
	return (uint16_t)(pos | wrap);
}

/* Available: AVAIL as our wrap counter, USED its inverse (2.8.1). */
static uint16_t p_avail_bits(uint16_t at)
{
	return (uint16_t)((at & WRAP) ? F_AVAIL : F_USED);
}

static void p_publish(struct vvfe_vring *vr, uint16_t head)
{
	uint16_t first = vr->p_avail, first_flags = 0, cur = head;
	uint16_t n = vr->chain_len[head];

	for (uint16_t i = 0; i < n; i++) {
		const struct vring_desc *s = &vr->desc[cur];
		struct vring_packed_desc *d = &vr->ring[POS(vr->p_avail)];
		uint16_t f = (uint16_t)((le16toh(s->flags) &
					 (VRING_DESC_F_NEXT | VRING_DESC_F_WRITE |
					  VRING_DESC_F_INDIRECT)) |
					p_avail_bits(vr->p_avail));

		d->addr = s->addr;
		d->len = s->len;
		d->id = htole16(head);
		if (i == 0)
			first_flags = f;
		else
			__atomic_store_n(&d->flags, htole16(f), __ATOMIC_RELAXED);
		vr->p_avail = p_advance(vr, vr->p_avail, 1);
		cur = vr->next[cur];
	}
	/* The device may read the list once it sees the first one available. */
	__atomic_store_n(&vr->ring[POS(first)].flags, htole16(first_flags), __ATOMIC_RELEASE);
}

/* Did moving our available position from old to new pass the descriptor
 * the device asked to be kicked at (off_wrap)? Positions on one line of
 * 2 * size (wrap 1 is the upper half) so that passing is a comparison. */
static bool p_need_event(const struct vvfe_vring *vr, uint16_t off_wrap, uint16_t new_at,
			 uint16_t old)
{
	uint32_t line = 2u * vr->size;
	uint32_t o = POS(old) + ((old & WRAP) ? vr->size : 0u);
	uint32_t e = POS(off_wrap) + ((off_wrap & WRAP) ? vr->size : 0u);
	uint32_t nw = POS(new_at) + ((new_at & WRAP) ? vr->size : 0u);

	return (e + line - o) % line < (nw + line - o) % line;
}

static bool p_is_used(const struct vvfe_vring *vr, uint16_t flags, uint16_t at)
{
	bool wrap = (at & WRAP) != 0;

	return !!(flags & F_USED) == wrap && !!(flags & F_AVAIL) == wrap;
}

int vvfe_vring_alloc(struct vvfe_vring *vr, uint16_t n, uint16_t *ids)
{
	uint16_t i, cur;

	if (n == 0 || n > vr->num_free)
		return -ENOSPC;
	cur = vr->free_head;
	for (i = 0; i < n; i++) {
		ids[i] = cur;
		cur = vr->next[cur];
	}
	vr->free_head = cur;
	vr->num_free = (uint16_t)(vr->num_free - n);
	/* Shadow links keep the chain as allocated, whatever the caller
	 * writes into the shared descriptors. */
	for (i = 0; i + 1 < n; i++)
		vr->next[ids[i]] = ids[i + 1];
	vr->chain_len[ids[0]] = n;
	return 0;
}

void vvfe_vring_publish(struct vvfe_vring *vr, uint16_t head)
{
	if (vr->packed) {
		p_publish(vr, head);
		return;
	}
	vr->avail_ring[vr->shadow_avail & (vr->size - 1)] = htole16(head);
	vr->shadow_avail++;
	/* The device may read the entry as soon as it sees the new index. */
	__atomic_store_n(vr->avail_idx, htole16(vr->shadow_avail), __ATOMIC_RELEASE);
}

bool vvfe_vring_kick_prepare(struct vvfe_vring *vr)
{
	uint16_t old = vr->kicked_avail, new_idx = vr->shadow_avail;
	bool kick;

	/* Our avail->idx store must be visible before we read the device's
	 * suppression state, else both sides may decide not to notify. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vr->packed) {
		uint16_t old_at = vr->p_kicked, ev;

		vr->p_kicked = vr->p_avail;
		if (old_at == vr->p_avail)
			return false;
		ev = le16toh(__atomic_load_n(&vr->device_ev->flags, __ATOMIC_RELAXED));
		if (ev == VRING_PACKED_EVENT_FLAG_DISABLE)
			return false;
		if (vr->event_idx && ev == VRING_PACKED_EVENT_FLAG_DESC)
			return p_need_event(vr,
					    le16toh(__atomic_load_n(&vr->device_ev->off_wrap,
								    __ATOMIC_RELAXED)),
					    vr->p_avail, old_at);
		return true;
	}
	vr->kicked_avail = new_idx;
	if (old == new_idx)
		return false;
	if (vr->event_idx)
		kick = vvfe_need_event(le16toh(__atomic_load_n(vr->avail_event, __ATOMIC_RELAXED)),
				       new_idx, old);
	else
		kick = !(le16toh(__atomic_load_n(vr->used_flags, __ATOMIC_RELAXED)) &
			 VRING_USED_F_NO_NOTIFY);
	return kick;
}

bool vvfe_vring_has_used(const struct vvfe_vring *vr)
{
	if (vr->packed)
		return p_is_used(vr,
				 le16toh(__atomic_load_n(&vr->ring[POS(vr->p_used)].flags,
							 __ATOMIC_ACQUIRE)),
				 vr->p_used);
	return le16toh(__atomic_load_n(vr->used_idx, __ATOMIC_ACQUIRE)) != vr->last_used;
}

/* Packed: the used descriptor at p_used names a buffer; the device skipped
 * as many descriptors as the buffer took (2.8.6), so do we. */
static int p_get_used(struct vvfe_vring *vr, uint32_t *id, uint32_t *len)
{
	struct vring_packed_desc *d = &vr->ring[POS(vr->p_used)];
	uint16_t f = le16toh(__atomic_load_n(&d->flags, __ATOMIC_ACQUIRE));

	if (!p_is_used(vr, f, vr->p_used))
		return 0;
	*id = le16toh(d->id);
	*len = le32toh(d->len);
	if (*id >= vr->size || vr->chain_len[*id] == 0)
		return -EPROTO;
	vr->p_used = p_advance(vr, vr->p_used, vr->chain_len[*id]);
	return 1;
}

int vvfe_vring_get_used(struct vvfe_vring *vr, uint32_t *id, uint32_t *len)
{
	uint16_t used, n, i, cur;
	struct vring_used_elem *e;

	if (vr->packed) {
		int r = p_get_used(vr, id, len);

		if (r <= 0)
			return r;
		goto free_chain;
	}
	used = le16toh(__atomic_load_n(vr->used_idx, __ATOMIC_ACQUIRE));
	if (used == vr->last_used)
		return 0;
	/* More entries than the ring holds means the device lost its mind;
	 * we must not walk into entries it never wrote. */
	if ((uint16_t)(used - vr->last_used) > vr->size)
		return -EPROTO;
	e = &vr->used_ring[vr->last_used & (vr->size - 1)];
	*id = le32toh(e->id);
	*len = le32toh(e->len);
	if (*id >= vr->size || vr->chain_len[*id] == 0)
		return -EPROTO;
	vr->last_used++;
free_chain:
	/* Return the chain to the free list using our shadow links. */
	n = vr->chain_len[*id];
	vr->chain_len[*id] = 0;
	cur = (uint16_t)*id;
	for (i = 1; i < n; i++)
		cur = vr->next[cur];
	vr->next[cur] = vr->free_head;
	vr->free_head = (uint16_t)*id;
	vr->num_free = (uint16_t)(vr->num_free + n);
	return 1;
}

bool vvfe_vring_enable_cb(struct vvfe_vring *vr)
{
	if (vr->packed) {
		/* With EVENT_IDX: a call when the next used one appears. */
		if (vr->event_idx) {
			__atomic_store_n(&vr->driver_ev->off_wrap, htole16(vr->p_used),
					 __ATOMIC_RELAXED);
			__atomic_store_n(&vr->driver_ev->flags,
					 htole16(VRING_PACKED_EVENT_FLAG_DESC), __ATOMIC_RELEASE);
		} else {
			__atomic_store_n(&vr->driver_ev->flags,
					 htole16(VRING_PACKED_EVENT_FLAG_ENABLE), __ATOMIC_RELAXED);
		}
	} else if (vr->event_idx)
		__atomic_store_n(vr->used_event, htole16(vr->last_used), __ATOMIC_RELAXED);
	else
		__atomic_store_n(vr->avail_flags, 0, __ATOMIC_RELAXED);
	/* Publish the request before re-checking, or a used entry added in
	 * between would neither be seen nor signalled. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vvfe_vring_has_used(vr);
}

void vvfe_vring_disable_cb(struct vvfe_vring *vr)
{
	if (vr->packed)
		__atomic_store_n(&vr->driver_ev->flags, htole16(VRING_PACKED_EVENT_FLAG_DISABLE),
				 __ATOMIC_RELAXED);
	else if (vr->event_idx)
		/* Park used_event half a ring-index space away: the device will
		 * not cross it soon. Linux only sets the shadow flag, which
		 * ends in the same place after one more call. */
		__atomic_store_n(vr->used_event, htole16((uint16_t)(vr->last_used + 0x8000u)),
				 __ATOMIC_RELAXED);
	else
		__atomic_store_n(vr->avail_flags, htole16(VRING_AVAIL_F_NO_INTERRUPT),
				 __ATOMIC_RELAXED);
}
