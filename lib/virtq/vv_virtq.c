/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Virtqueues, device side: split rings (virtio 1.3, 2.7), packed rings
 * (2.8) and indirect descriptor tables in both layouts. Everything the
 * guest can write (avail ring, descriptors, tables, event fields and flags)
 * is loaded exactly once into a local and checked there: a second load
 * could see a different value written by a guest vCPU in between (TOCTOU).
 * Loads of guest fields go through __atomic_load_n(RELAXED) so the compiler
 * cannot split or repeat them. The layouts and flags are the kernel's
 * <linux/virtio_ring.h>.
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

/* Packed ring positions: bits 0-14 the index in the ring, bit 15 the wrap
 * counter (as vhost-user's vring base carries them). */
#define WRAP_BIT     (1u << VRING_PACKED_EVENT_F_WRAP_CTR)
#define POS(x)	     ((uint16_t) ((x) & (WRAP_BIT - 1)))
#define DESC_F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define DESC_F_USED  (1u << VRING_PACKED_DESC_F_USED)
#define DESC_SIZE    16u
#define POP_MASK     (VV_VIRTQ_UNPOP_MAX - 1)
_Static_assert((VV_VIRTQ_UNPOP_MAX & POP_MASK) == 0, "VV_VIRTQ_UNPOP_MAX is a power of two");
_Static_assert(sizeof(struct vring_desc) == DESC_SIZE &&
		       sizeof(struct vring_packed_desc) == DESC_SIZE,
	       "descriptors of both layouts are 16 bytes");

/* A packed descriptor is available when its AVAIL bit equals the wrap
 * counter the device expects and its USED bit does not (virtio 2.8.1). */
static inline bool
packed_avail(uint16_t flags, uint16_t at)
{
	bool wrap = (at & WRAP_BIT) != 0;

	return !!(flags & DESC_F_AVAIL) == wrap && !!(flags & DESC_F_USED) != wrap;
}

/* Advance a packed position by n <= size descriptors. */
static inline uint16_t
packed_advance(uint16_t at, uint32_t n, uint16_t size)
{
	uint32_t pos = POS(at) + n;
	uint16_t wrap = at & WRAP_BIT;

	if (pos >= size) {
		pos -= size;
		wrap ^= WRAP_BIT;
	}
	return (uint16_t) (pos | wrap);
}

static uint16_t
packed_avail_count(struct vv_virtq *vq)
{
	uint16_t at = vq->last_avail_idx;

	if (vq->broken)
		return 0;
	if (POS(at) >= vq->size) {
		vq->broken = true;
		return 0;
	}
	return packed_avail(__atomic_load_n(&vq->desc_packed[POS(at)].flags, __ATOMIC_ACQUIRE), at)
		       ? 1
		       : 0;
}

static inline uint16_t
split_avail_count(struct vv_virtq *vq)
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

uint16_t
vv_virtq_avail_count(struct vv_virtq *vq)
{
	return vq->packed ? packed_avail_count(vq) : split_avail_count(vq);
}

static enum vv_virtq_err
chain_fail(struct vv_chain *c, enum vv_virtq_err err)
{
	c->n_iov = 0;
	c->len = 0;
	return err;
}

/* Map one buffer descriptor (not an indirect one) onto the chain. */
static inline enum vv_virtq_err
chain_add(const struct vv_mem *mem, bool writable, uint64_t addr, uint32_t len, uint16_t flags,
	  struct vv_chain *c, uint64_t *total)
{
	int ret;

	if (!!(flags & VRING_DESC_F_WRITE) != writable)
		return VV_VIRTQ_BAD_DIR;
	/* c->len and the used len are 32-bit: refuse rather than wrap. */
	*total += len;
	if (*total > UINT32_MAX)
		return VV_VIRTQ_BAD_CHAIN;
	ret = vv_mem_to_iov(mem, addr, len, c->iov, &c->n_iov, VV_CHAIN_IOV_MAX);
	if (ret == -E2BIG)
		return VV_VIRTQ_BAD_CHAIN;
	if (ret < 0)
		return VV_VIRTQ_BAD_ADDR;
	return VV_VIRTQ_OK;
}

/* Copy between a flat buffer and the bytes [off, off + len) the iovecs
 * cover; returns the bytes copied (fewer if the iovecs end first). */
static size_t
iov_copy(const struct iovec *iov, unsigned int n_iov, size_t off, uint8_t *buf, size_t len,
	 bool to_iov)
{
	size_t done = 0;
	unsigned int i;

	for (i = 0; i < n_iov && done < len; i++) {
		size_t l = iov[i].iov_len;
		uint8_t *p;
		size_t n;

		if (off >= l) {
			off -= l;
			continue;
		}
		p = (uint8_t *) iov[i].iov_base + off;
		n = l - off;
		if (n > len - done)
			n = len - done;
		if (to_iov)
			memcpy(p, buf + done, n);
		else
			memcpy(buf + done, p, n);
		done += n;
		off = 0;
	}
	return done;
}

/* One descriptor of an indirect table, either layout, copied out once. */
struct table_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next; /* split only */
};

static void
table_read(const struct iovec *tiov, unsigned int n_tiov, bool packed, uint32_t i,
	   struct table_desc *d)
{
	/* The whole table in one region and 8-aligned in our mapping: read it
	 * in place. The guest chooses the table's address and the spec asks
	 * no alignment of it, so a misaligned one (a 64-bit load there is
	 * undefined behaviour) is copied out like a split one. */
	if (n_tiov == 1 && ((uintptr_t) tiov[0].iov_base & (_Alignof(uint64_t) - 1)) == 0) {
		if (packed) {
			const struct vring_packed_desc *g =
				(const struct vring_packed_desc *) tiov[0].iov_base + i;

			d->addr = __atomic_load_n(&g->addr, __ATOMIC_RELAXED);
			d->len = __atomic_load_n(&g->len, __ATOMIC_RELAXED);
			d->flags = __atomic_load_n(&g->flags, __ATOMIC_RELAXED);
			d->next = 0;
		} else {
			const struct vring_desc *g =
				(const struct vring_desc *) tiov[0].iov_base + i;

			d->addr = __atomic_load_n(&g->addr, __ATOMIC_RELAXED);
			d->len = __atomic_load_n(&g->len, __ATOMIC_RELAXED);
			d->flags = __atomic_load_n(&g->flags, __ATOMIC_RELAXED);
			d->next = __atomic_load_n(&g->next, __ATOMIC_RELAXED);
		}
		return;
	}
	/* Across regions (adjacent in the guest, not in our mapping) or
	 * misaligned: copy the entry out, then decode the copy. */
	if (packed) {
		struct vring_packed_desc g;

		iov_copy(tiov, n_tiov, (size_t) i * DESC_SIZE, (uint8_t *) &g, sizeof(g), false);
		d->addr = g.addr;
		d->len = g.len;
		d->flags = g.flags;
		d->next = 0;
	} else {
		struct vring_desc g;

		iov_copy(tiov, n_tiov, (size_t) i * DESC_SIZE, (uint8_t *) &g, sizeof(g), false);
		d->addr = g.addr;
		d->len = g.len;
		d->flags = g.flags;
		d->next = g.next;
	}
}

/*
 * Map the buffers of the indirect table at [gpa, gpa + len) onto the chain.
 * Its size must be a whole number of descriptors, 1 to the queue size (as a
 * chain may not be longer than the queue: it bounds the walk as for direct
 * chains). Split tables chain their entries by next from entry 0; packed
 * tables are read in order and only WRITE counts in their flags (virtio
 * 2.8.19: NEXT is ignored). A table in a table is refused in both.
 */
static enum vv_virtq_err
table_walk(const struct vv_mem *mem, bool packed, uint16_t size, bool writable, uint64_t gpa,
	   uint32_t len, struct vv_chain *c, uint64_t *total)
{
	/* A range touches each region at most once. */
	struct iovec tiov[VV_MEM_REGIONS_MAX];
	unsigned int n_tiov = 0;
	uint32_t n = len / DESC_SIZE, i = 0, steps = 0;

	if (len == 0 || len % DESC_SIZE != 0 || n > size)
		return VV_VIRTQ_BAD_CHAIN;
	if (vv_mem_to_iov(mem, gpa, len, tiov, &n_tiov, VV_MEM_REGIONS_MAX) != 0)
		return VV_VIRTQ_BAD_ADDR;
	for (;;) {
		struct table_desc d;
		enum vv_virtq_err err;

		/* More steps than entries must visit one twice (split next). */
		if (++steps > n)
			return VV_VIRTQ_BAD_CHAIN;
		table_read(tiov, n_tiov, packed, i, &d);
		if (d.flags & VRING_DESC_F_INDIRECT)
			return VV_VIRTQ_BAD_FLAGS;
		err = chain_add(mem, writable, d.addr, d.len, d.flags, c, total);
		if (err != VV_VIRTQ_OK)
			return err;
		if (packed) {
			if (++i == n)
				return VV_VIRTQ_OK;
		} else {
			if (!(d.flags & VRING_DESC_F_NEXT))
				return VV_VIRTQ_OK;
			if (d.next >= n)
				return VV_VIRTQ_BAD_INDEX;
			i = d.next;
		}
	}
}

/*
 * Packed ring: the buffer is the run of descriptors from last_avail_idx
 * linked by NEXT; its id is the last one's (virtio 2.8.6). The first
 * descriptor's flags say it is available (the driver writes them last,
 * after the rest of the list); the others must be available too (2.8.6:
 * every descriptor's flags are set), so a NEXT into a descriptor the
 * driver has not made available ends the list there, as an error, without
 * taking that descriptor: the device stays where the driver will write
 * next. A list as long as the ring still wanting more is cut at size
 * descriptors (it cannot be longer, 2.8.18). A bad buffer is consumed
 * whole, so its extent is walked to the end even after the first error,
 * and the ring goes on with the next one.
 */
static __attribute__((noinline)) enum vv_virtq_err
packed_pop(struct vv_virtq *vq, const struct vv_mem *mem, bool writable, struct vv_chain *c)
{
	uint16_t size = vq->size, start = vq->last_avail_idx, at = start;
	enum vv_virtq_err err = VV_VIRTQ_OK;
	uint32_t n = 0;
	uint64_t total = 0;
	uint16_t flags, id = 0;

	if (vq->broken)
		return VV_VIRTQ_BROKEN;
	if (POS(at) >= size) {
		vq->broken = true;
		return VV_VIRTQ_BROKEN;
	}
	/* Acquire: the descriptors the driver wrote before these flags are
	 * read after this load. */
	flags = __atomic_load_n(&vq->desc_packed[POS(at)].flags, __ATOMIC_ACQUIRE);
	if (!packed_avail(flags, at))
		return VV_VIRTQ_EMPTY;
	c->n_iov = 0;
	c->len = 0;
	for (;;) {
		const struct vring_packed_desc *gd = &vq->desc_packed[POS(at)];
		uint64_t addr;
		uint32_t len;

		if (n > 0) {
			flags = __atomic_load_n(&gd->flags, __ATOMIC_RELAXED);
			if (!packed_avail(flags, at)) {
				if (err == VV_VIRTQ_OK)
					err = VV_VIRTQ_BAD_CHAIN;
				break;
			}
		}
		addr = __atomic_load_n(&gd->addr, __ATOMIC_RELAXED);
		len = __atomic_load_n(&gd->len, __ATOMIC_RELAXED);
		id = __atomic_load_n(&gd->id, __ATOMIC_RELAXED);
		n++;
		if (err == VV_VIRTQ_OK) {
			if (!(flags & VRING_DESC_F_INDIRECT))
				err = chain_add(mem, writable, addr, len, flags, c, &total);
			else if (!vq->indirect || n > 1 || (flags & VRING_DESC_F_NEXT))
				/* An indirect descriptor stands alone (2.8.19). */
				err = VV_VIRTQ_BAD_FLAGS;
			else
				err = table_walk(mem, true, size, writable, addr, len, c, &total);
		}
		at = packed_advance(at, 1, size);
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		if (n == size) {
			if (err == VV_VIRTQ_OK)
				err = VV_VIRTQ_BAD_CHAIN;
			break;
		}
	}
	vq->pop_at[vq->n_pops++ & POP_MASK] = start;
	vq->last_avail_idx = at;
	c->head = id | n << 16;
	if (err != VV_VIRTQ_OK)
		return chain_fail(c, err);
	c->len = (uint32_t) total;
	return VV_VIRTQ_OK;
}

enum vv_virtq_err
vv_virtq_pop(struct vv_virtq *vq, const struct vv_mem *mem, bool writable, struct vv_chain *c)
{
	uint16_t size = vq->size;
	uint16_t head, idx, flags;
	uint32_t n_desc = 0, len;
	uint64_t total = 0, addr, table_total;
	enum vv_virtq_err err;

	if (vq->packed)
		return packed_pop(vq, mem, writable, c);
	if (split_avail_count(vq) == 0)
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
		uint16_t next;

		/* A chain of more than size descriptors must visit one twice:
		 * this bounds the walk even for loops of empty descriptors. */
		if (++n_desc > size)
			return chain_fail(c, VV_VIRTQ_BAD_CHAIN);

		addr = __atomic_load_n(&gd->addr, __ATOMIC_RELAXED);
		len = __atomic_load_n(&gd->len, __ATOMIC_RELAXED);
		flags = __atomic_load_n(&gd->flags, __ATOMIC_RELAXED);
		next = __atomic_load_n(&gd->next, __ATOMIC_RELAXED);

		/* Tables are handled after the loop, so that the direct
		 * descriptors' walk keeps the registers it had before. */
		if (flags & VRING_DESC_F_INDIRECT)
			goto table;
		err = chain_add(mem, writable, addr, len, flags, c, &total);
		if (err != VV_VIRTQ_OK)
			return chain_fail(c, err);
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		if (next >= size)
			return chain_fail(c, VV_VIRTQ_BAD_INDEX);
		idx = next;
	}
	c->len = (uint32_t) total;
	return VV_VIRTQ_OK;

table:
	/* Zero or more direct descriptors, then one table (virtio 2.7.5.3):
	 * an indirect one ends the chain. */
	if (!vq->indirect || (flags & VRING_DESC_F_NEXT))
		return chain_fail(c, VV_VIRTQ_BAD_FLAGS);
	/* A copy: total's own address never escapes the loop above. */
	table_total = total;
	err = table_walk(mem, false, size, writable, addr, len, c, &table_total);
	if (err != VV_VIRTQ_OK)
		return chain_fail(c, err);
	c->len = (uint32_t) table_total;
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
	if (!vq->packed) {
		/* Wraps with the 16-bit index, as pop's increment does. */
		vq->last_avail_idx = (uint16_t) (vq->last_avail_idx - n);
		return;
	}
	if (n == 0)
		return;
	/* Back to where the oldest of the n started. */
	vq->n_pops = (uint16_t) (vq->n_pops - n);
	vq->last_avail_idx = vq->pop_at[vq->n_pops & POP_MASK];
}

/*
 * Packed: the used descriptor goes where the device's used position is, and
 * the position moves on by as many descriptors as the buffer took, since
 * the driver skips that many (virtio 2.8.6). Used positions never pass the
 * available ones we read: a buffer is pushed at most once, after its pop.
 * Its flags, which hand it to the driver, are written at once for all but
 * the first descriptor since the last flush: the driver reads the ring in
 * order, so it sees none before flush releases the first.
 */
static __attribute__((noinline)) void
packed_push(struct vv_virtq *vq, uint32_t head, uint32_t len)
{
	uint16_t at = vq->used_idx, n = (uint16_t) (head >> 16);
	struct vring_packed_desc *d;
	uint16_t flags;

	if (POS(at) >= vq->size) {
		vq->broken = true;
		return;
	}
	if (n == 0 || n > vq->size)
		n = 1; /* not one of ours: stay inside the ring */
	d = &vq->desc_packed[POS(at)];
	/* Used: AVAIL and USED both equal to our wrap counter; WRITE says the
	 * device wrote len bytes (len is reserved without it). */
	flags = (at & WRAP_BIT) ? (uint16_t) (DESC_F_AVAIL | DESC_F_USED) : 0;
	if (len > 0)
		flags |= VRING_DESC_F_WRITE;
	__atomic_store_n(&d->id, (uint16_t) head, __ATOMIC_RELAXED);
	__atomic_store_n(&d->len, len, __ATOMIC_RELAXED);
	if (!vq->used_pending) {
		vq->used_pending = true;
		vq->pending_pos = at;
		vq->pending_flags = flags;
	} else {
		__atomic_store_n(&d->flags, flags, __ATOMIC_RELAXED);
	}
	vq->used_idx = packed_advance(at, n, vq->size);
}

void
vv_virtq_push(struct vv_virtq *vq, uint32_t head, uint32_t len)
{
	struct vring_used_elem *e;

	if (vq->uncalled != UINT16_MAX)
		vq->uncalled++;
	if (vq->packed) {
		packed_push(vq, head, len);
		return;
	}
	e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
	/* Plain stores are enough: flush publishes them with a release store
	 * of used->idx. Atomic stores keep the compiler from tearing them. */
	__atomic_store_n(&e->id, head, __ATOMIC_RELAXED);
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
 * A packed ring says it with DISABLE in the device event area.
 */
static void
suppress_kicks(struct vv_virtq *vq, uint16_t new_used)
{
	if (vq->packed) {
		if (__atomic_load_n(&vq->device_event->flags, __ATOMIC_RELAXED) !=
		    VRING_PACKED_EVENT_FLAG_DISABLE)
			__atomic_store_n(&vq->device_event->flags,
					 (uint16_t) VRING_PACKED_EVENT_FLAG_DISABLE,
					 __ATOMIC_RELAXED);
	} else if (vq->event_idx) {
		__atomic_store_n(used_avail_event(vq), (uint16_t) (new_used + vq->size),
				 __ATOMIC_RELAXED);
	} else if (__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) != VRING_USED_F_NO_NOTIFY) {
		__atomic_store_n(&vq->used->flags, (uint16_t) VRING_USED_F_NO_NOTIFY,
				 __ATOMIC_RELAXED);
	}
}

/* 1 notified, 0 not needed (or no callfd), -errno the eventfd refused. */
static int
notify(struct vv_virtq *vq, bool need)
{
	if (!need || vq->callfd < 0)
		return 0;
	vq->uncalled = 0;
	return eventfd_write(vq->callfd, 1) == 0 ? 1 : -errno;
}

/* The interrupt a flush owes the guest: now, or (quiet) noted for
 * vv_virtq_call. One owed before goes out with this one. */
static int
call_or_note(struct vv_virtq *vq, bool need, bool quiet)
{
	if (quiet) {
		vq->call_pending |= need && vq->callfd >= 0;
		return 0;
	}
	need |= vq->call_pending;
	vq->call_pending = false;
	return notify(vq, need);
}

/* Packed positions on one line of 2 * size: wrap counter 1 (the first lap)
 * is [size, 2 * size), 0 is [0, size), so moving on is adding mod 2 * size. */
static uint32_t
packed_line(uint16_t at, uint16_t size)
{
	return POS(at) + ((at & WRAP_BIT) ? size : 0u);
}

/* Did the used descriptors written since old (up to new) cover the one the
 * driver asked to be interrupted at (off_wrap, driver event area)? An
 * offset outside the ring names no descriptor: never. */
static bool
packed_need_event(uint16_t off_wrap, uint16_t new_used, uint16_t old, uint16_t size)
{
	uint32_t line = 2u * size;
	uint32_t o = packed_line(old, size);
	uint32_t to_event, to_new;

	if (POS(off_wrap) >= size)
		return false;
	to_event = (packed_line(off_wrap, size) + line - o) % line;
	to_new = (packed_line(new_used, size) + line - o) % line;

	return to_event < to_new;
}

static __attribute__((noinline)) int
packed_flush(struct vv_virtq *vq, bool quiet)
{
	uint16_t new_used = vq->used_idx, ev;
	bool need;

	if (!vq->used_pending)
		return 0;
	if (!vq->kicks_wanted)
		suppress_kicks(vq, new_used);
	/* Release: ids, lens, the other flags and the buffers' bytes are
	 * visible to a driver that sees this descriptor used. */
	__atomic_store_n(&vq->desc_packed[POS(vq->pending_pos)].flags, vq->pending_flags,
			 __ATOMIC_RELEASE);
	vq->used_pending = false;
	/* Store-load barrier, as for split: the driver writes its event area,
	 * then re-reads the ring. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ev = __atomic_load_n(&vq->driver_event->flags, __ATOMIC_ACQUIRE);
	if (!vq->event_idx || ev != VRING_PACKED_EVENT_FLAG_DESC)
		/* ENABLE, and the reserved value 3 (or DESC without
		 * EVENT_IDX) as an extra interrupt rather than a lost one. */
		need = ev != VRING_PACKED_EVENT_FLAG_DISABLE;
	else
		need = !vq->signalled_used_valid ||
		       packed_need_event(
			       __atomic_load_n(&vq->driver_event->off_wrap, __ATOMIC_RELAXED),
			       new_used, vq->signalled_used, vq->size);
	vq->signalled_used = new_used;
	vq->signalled_used_valid = true;
	return call_or_note(vq, need, quiet);
}

static int
flush(struct vv_virtq *vq, bool quiet)
{
	uint16_t new_used = vq->used_idx;
	bool need;

	if (vq->packed)
		return packed_flush(vq, quiet);
	/* Only this device writes used->idx; a guest scribbling on it can
	 * at worst lose its own interrupt. */
	if (__atomic_load_n(&vq->used->idx, __ATOMIC_RELAXED) == new_used)
		return 0;

	if (!vq->kicks_wanted)
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
	return call_or_note(vq, need, quiet);
}

int
vv_virtq_flush(struct vv_virtq *vq)
{
	return flush(vq, false);
}

int
vv_virtq_flush_quiet(struct vv_virtq *vq)
{
	return flush(vq, true);
}

int
vv_virtq_call(struct vv_virtq *vq)
{
	if (!vq->call_pending)
		return 0;
	vq->call_pending = false;
	return notify(vq, true);
}

/*
 * Kicks on: with EVENT_IDX the driver kicks when it makes available the
 * entry we read next (split avail_event, packed DESC at last_avail_idx),
 * without it on any new buffer. The store must be visible before we look
 * at the ring again (the driver publishes, then reads our request), hence
 * the full barrier: either the driver sees the request or we see its
 * buffer.
 */
bool
vv_virtq_want_kicks(struct vv_virtq *vq, bool on)
{
	vq->kicks_wanted = on;
	if (!on) {
		suppress_kicks(vq, vq->used_idx);
		return false;
	}
	if (vq->packed) {
		if (vq->event_idx) {
			__atomic_store_n(&vq->device_event->off_wrap, vq->last_avail_idx,
					 __ATOMIC_RELAXED);
			__atomic_store_n(&vq->device_event->flags,
					 (uint16_t) VRING_PACKED_EVENT_FLAG_DESC, __ATOMIC_RELEASE);
		} else {
			__atomic_store_n(&vq->device_event->flags,
					 (uint16_t) VRING_PACKED_EVENT_FLAG_ENABLE,
					 __ATOMIC_RELAXED);
		}
	} else if (vq->event_idx) {
		__atomic_store_n(used_avail_event(vq), vq->last_avail_idx, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&vq->used->flags, (uint16_t) 0, __ATOMIC_RELAXED);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vv_virtq_avail_count(vq) > 0;
}

uint32_t
vv_chain_read(const struct vv_chain *c, uint32_t off, void *dst, uint32_t len)
{
	return (uint32_t) iov_copy(c->iov, c->n_iov, off, dst, len, false);
}

uint32_t
vv_chain_write(const struct vv_chain *c, uint32_t off, const void *src, uint32_t len)
{
	/* iov_copy only reads buf when to_iov is true. */
	return (uint32_t) iov_copy(c->iov, c->n_iov, off, (uint8_t *) (uintptr_t) src, len, true);
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
