/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueue, driver side (virtio 1.3, 2.7), modelled on what the Linux
 * virtio_ring driver does: private shadow bookkeeping, store-release of
 * avail->idx, a full barrier before reading the device's notification
 * suppression fields, and the event-index test for kicks and calls.
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

void vvfe_vring_fini(struct vvfe_vring *vr)
{
	free(vr->next);
	free(vr->chain_len);
	vr->next = NULL;
	vr->chain_len = NULL;
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
	return le16toh(__atomic_load_n(vr->used_idx, __ATOMIC_ACQUIRE)) != vr->last_used;
}

int vvfe_vring_get_used(struct vvfe_vring *vr, uint32_t *id, uint32_t *len)
{
	uint16_t used = le16toh(__atomic_load_n(vr->used_idx, __ATOMIC_ACQUIRE));
	struct vring_used_elem *e;
	uint16_t n, i, cur;

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
	if (vr->event_idx)
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
	if (vr->event_idx)
		/* Park used_event half a ring-index space away: the device will
		 * not cross it soon. Linux only sets the shadow flag, which
		 * ends in the same place after one more call. */
		__atomic_store_n(vr->used_event, htole16((uint16_t)(vr->last_used + 0x8000u)),
				 __ATOMIC_RELAXED);
	else
		__atomic_store_n(vr->avail_flags, htole16(VRING_AVAIL_F_NO_INTERRUPT),
				 __ATOMIC_RELAXED);
}

void vvfe_vring_disable_cb_linux(struct vvfe_vring *vr)
{
	if (vr->event_idx)
		__atomic_store_n(vr->used_event, 0, __ATOMIC_RELAXED);
	else
		__atomic_store_n(vr->avail_flags, htole16(VRING_AVAIL_F_NO_INTERRUPT),
				 __ATOMIC_RELAXED);
}
