/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueue, device side. Everything the guest can write (avail ring,
 * descriptors, used_event, avail flags) is loaded exactly once into a local
 * and checked there: a second load could see a different value written by a
 * guest vCPU in between (TOCTOU). Loads of guest fields go through
 * __atomic_load_n(RELAXED) so the compiler cannot split or repeat them.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>

#include "vv_virtq.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vv_virtq reads virtio 1.x rings without byte swapping: little-endian hosts only"
#endif

/* iov_len must hold any length vv_mem_to_iov accepts (64-bit hosts only). */
_Static_assert(SIZE_MAX >= UINT64_MAX, "size_t narrower than 64 bits");

static const struct vv_mem_region *
mem_find(const struct vv_mem *mem, uint64_t gpa)
{
	uint32_t n = mem->n_regions;
	uint32_t i;

	if (n > VV_MEM_REGIONS_MAX)
		n = VV_MEM_REGIONS_MAX;
	for (i = 0; i < n; i++) {
		const struct vv_mem_region *r = &mem->regions[i];

		/* Written as a subtraction so that neither gpa + len nor
		 * r->gpa + r->size is ever computed; size 0 never matches. */
		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

void *
vv_mem_translate(const struct vv_mem *mem, uint64_t gpa, uint64_t len)
{
	const struct vv_mem_region *r;
	uint64_t off;

	if (len > UINT64_MAX - gpa)
		return NULL;
	r = mem_find(mem, gpa);
	if (r == NULL)
		return NULL;
	off = gpa - r->gpa;
	if (len > r->size - off)
		return NULL;
	return (void *) (uintptr_t) (r->hva + off);
}

int
vv_mem_to_iov(const struct vv_mem *mem, uint64_t gpa, uint64_t len, struct iovec *iov,
	      unsigned int *n, unsigned int max)
{
	unsigned int i = *n;

	if (len > UINT64_MAX - gpa)
		return -EFAULT;
	while (len > 0) {
		const struct vv_mem_region *r = mem_find(mem, gpa);
		uint64_t off, chunk;

		if (r == NULL)
			return -EFAULT;
		if (i >= max)
			return -E2BIG;
		off = gpa - r->gpa;
		chunk = r->size - off;
		if (chunk > len)
			chunk = len;
		iov[i].iov_base = (void *) (uintptr_t) (r->hva + off);
		iov[i].iov_len = chunk;
		i++;
		gpa += chunk;
		len -= chunk;
	}
	*n = i;
	return 0;
}

uint16_t
vv_virtq_avail_count(struct vv_virtq *vq)
{
	uint16_t avail_idx, n;

	if (vq->broken)
		return 0;
	/* Acquire: the ring entries and descriptors the driver wrote before
	 * bumping idx are read after this load. */
	avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	n = (uint16_t) (avail_idx - vq->last_avail_idx);
	/* A driver can never have more than size entries outstanding; more
	 * means a corrupt or hostile idx, and any entry we would read is
	 * garbage. Stop the queue rather than guess. */
	if (n > vq->size) {
		vq->broken = true;
		return 0;
	}
	return n;
}

static enum vv_virtq_err
chain_fail(struct vv_chain *c, enum vv_virtq_err err)
{
	c->n_iov = 0;
	c->len = 0;
	return err;
}

enum vv_virtq_err
vv_virtq_pop(struct vv_virtq *vq, const struct vv_mem *mem, bool writable, struct vv_chain *c)
{
	uint16_t size = vq->size;
	uint16_t head, idx;
	uint32_t n_desc = 0;
	uint64_t total = 0;

	if (vv_virtq_avail_count(vq) == 0)
		return vq->broken ? VV_VIRTQ_BROKEN : VV_VIRTQ_EMPTY;

	head = __atomic_load_n(&vq->avail->ring[vq->last_avail_idx & (size - 1)], __ATOMIC_RELAXED);
	/* Consumed whatever happens next: a bad chain is returned to the
	 * guest with length 0 instead of blocking the queue forever. */
	vq->last_avail_idx++;
	c->head = head;
	c->n_iov = 0;
	c->len = 0;
	if (head >= size)
		return chain_fail(c, VV_VIRTQ_BAD_INDEX);

	idx = head;
	for (;;) {
		const struct vring_desc *gd = &vq->desc[idx];
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
		int ret;

		/* A chain of more than size descriptors must visit one twice:
		 * this bounds the walk even for loops of empty descriptors. */
		if (++n_desc > size)
			return chain_fail(c, VV_VIRTQ_BAD_CHAIN);

		addr = __atomic_load_n(&gd->addr, __ATOMIC_RELAXED);
		len = __atomic_load_n(&gd->len, __ATOMIC_RELAXED);
		flags = __atomic_load_n(&gd->flags, __ATOMIC_RELAXED);
		next = __atomic_load_n(&gd->next, __ATOMIC_RELAXED);

		if (flags & VRING_DESC_F_INDIRECT)
			return chain_fail(c, VV_VIRTQ_BAD_FLAGS);
		if (!!(flags & VRING_DESC_F_WRITE) != writable)
			return chain_fail(c, VV_VIRTQ_BAD_DIR);
		/* c->len and the used len are 32-bit: refuse rather than wrap. */
		total += len;
		if (total > UINT32_MAX)
			return chain_fail(c, VV_VIRTQ_BAD_CHAIN);
		ret = vv_mem_to_iov(mem, addr, len, c->iov, &c->n_iov, VV_CHAIN_IOV_MAX);
		if (ret == -E2BIG)
			return chain_fail(c, VV_VIRTQ_BAD_CHAIN);
		if (ret < 0)
			return chain_fail(c, VV_VIRTQ_BAD_ADDR);

		if (!(flags & VRING_DESC_F_NEXT))
			break;
		if (next >= size)
			return chain_fail(c, VV_VIRTQ_BAD_INDEX);
		idx = next;
	}
	c->len = (uint32_t) total;
	return VV_VIRTQ_OK;
}

void
vv_virtq_unpop(struct vv_virtq *vq)
{
	vv_virtq_unpop_n(vq, 1);
}

void
vv_virtq_unpop_n(struct vv_virtq *vq, uint16_t n)
{
	/* Wraps with the 16-bit index, as pop's increment does. */
	vq->last_avail_idx = (uint16_t) (vq->last_avail_idx - n);
}

void
vv_virtq_push(struct vv_virtq *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vq->used->ring[vq->used_idx & (vq->size - 1)];

	/* Plain stores are enough: flush publishes them with a release store
	 * of used->idx. Atomic stores keep the compiler from tearing them. */
	__atomic_store_n(&e->id, (uint32_t) head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
	vq->used_idx++;
}

/* The event fields sit right after each ring; computed from bytes so no
 * struct vring_used_elem lvalue is formed for what is a 16-bit field. */
static uint16_t *
used_avail_event(const struct vv_virtq *vq)
{
	return (uint16_t *) ((uint8_t *) vq->used + offsetof(struct vring_used, ring) +
			     sizeof(struct vring_used_elem) * vq->size);
}

static uint16_t *
avail_used_event(const struct vv_virtq *vq)
{
	return &vq->avail->ring[vq->size];
}

/*
 * Kick suppression. The driver kicks after making entries [old, new)
 * available iff avail_event is in [old, new) (vring_need_event, mod 2^16),
 * where old is its avail idx at its previous kick decision.
 *
 * "last_avail_idx - 1" looks out of reach but is not: Linux publishes
 * avail->idx at every add and decides to kick later, so a busy-polling
 * device often consumes entries before the driver's decision. Then
 * old <= last_avail_idx - 1 < new and the driver kicks on almost every batch.
 *
 * What is really out of reach is used_idx + size: the driver can only reuse
 * a descriptor after seeing it in the used ring, so it never makes more than
 * size entries available beyond the used idx it has seen, i.e.
 * new <= used_idx + size. We store it before the release store of used->idx,
 * so a driver that sees the new used idx also sees the new avail_event. The
 * value is only reachable by a driver that adds over 65536 - size entries
 * without a single kick decision; the cost is then one spurious kick. A kick
 * is never needed for correctness here (the poller never sleeps), so a wrong
 * guess in either direction is harmless. Without EVENT_IDX the same is said
 * with VRING_USED_F_NO_NOTIFY (the spec only allows flags 0 or 1 there and
 * requires flags 0 with EVENT_IDX, which the driver's zeroed ring gives).
 */
static void
suppress_kicks(struct vv_virtq *vq, uint16_t new_used)
{
	if (vq->event_idx) {
		__atomic_store_n(used_avail_event(vq), (uint16_t) (new_used + vq->size),
				 __ATOMIC_RELAXED);
	} else if (__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) != VRING_USED_F_NO_NOTIFY) {
		__atomic_store_n(&vq->used->flags, (uint16_t) VRING_USED_F_NO_NOTIFY,
				 __ATOMIC_RELAXED);
	}
}

int
vv_virtq_flush(struct vv_virtq *vq)
{
	uint16_t new_used = vq->used_idx;
	bool need;

	/* Only this device writes used->idx; a guest scribbling on it can
	 * at worst lose its own interrupt. */
	if (__atomic_load_n(&vq->used->idx, __ATOMIC_RELAXED) == new_used)
		return 0;

	suppress_kicks(vq, new_used);
	__atomic_store_n(&vq->used->idx, new_used, __ATOMIC_RELEASE);
	/* Store-load barrier: our used->idx store must be visible before we
	 * read used_event / avail flags. The driver does the mirror (write
	 * used_event, full barrier, re-read used->idx), so either it sees our
	 * new idx or we see its new used_event: no lost interrupt. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);

	if (vq->event_idx) {
		uint16_t used_event = __atomic_load_n(avail_used_event(vq), __ATOMIC_RELAXED);

		/* Notify iff the entry the driver waits for (used_event) was
		 * published by this flush, i.e. lies in [previous idx, new). */
		need = !vq->signalled_used_valid ||
		       vring_need_event(used_event, new_used, vq->signalled_used);
	} else {
		need = !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	}
	vq->signalled_used = new_used;
	vq->signalled_used_valid = true;

	if (!need || vq->callfd < 0)
		return 0;
	return eventfd_write(vq->callfd, 1) == 0 ? 1 : -errno;
}

/* Copy between a flat buffer and the chain bytes [off, off + len). */
static uint32_t
chain_copy(const struct vv_chain *c, uint32_t off, uint8_t *buf, uint32_t len, bool to_chain)
{
	uint32_t done = 0;
	unsigned int i;

	for (i = 0; i < c->n_iov && done < len; i++) {
		size_t l = c->iov[i].iov_len;
		uint8_t *p;
		size_t n;

		if (off >= l) {
			off -= (uint32_t) l;
			continue;
		}
		p = (uint8_t *) c->iov[i].iov_base + off;
		n = l - off;
		if (n > len - done)
			n = len - done;
		if (to_chain)
			memcpy(p, buf + done, n);
		else
			memcpy(buf + done, p, n);
		done += (uint32_t) n;
		off = 0;
	}
	return done;
}

uint32_t
vv_chain_read(const struct vv_chain *c, uint32_t off, void *dst, uint32_t len)
{
	return chain_copy(c, off, dst, len, false);
}

uint32_t
vv_chain_write(const struct vv_chain *c, uint32_t off, const void *src, uint32_t len)
{
	/* chain_copy only reads buf when to_chain is true. */
	return chain_copy(c, off, (uint8_t *) (uintptr_t) src, len, true);
}

unsigned int
vv_chain_slice(const struct vv_chain *c, uint32_t off, uint32_t len, struct iovec *out,
	       unsigned int max)
{
	unsigned int i, k = 0;

	for (i = 0; i < c->n_iov && len > 0 && k < max; i++) {
		size_t l = c->iov[i].iov_len;
		size_t n;

		if (off >= l) {
			off -= (uint32_t) l;
			continue;
		}
		n = l - off;
		if (n > len)
			n = len;
		out[k].iov_base = (uint8_t *) c->iov[i].iov_base + off;
		out[k].iov_len = n;
		k++;
		len -= (uint32_t) n;
		off = 0;
	}
	return k;
}
