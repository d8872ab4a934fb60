/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: descriptor chains (lib/virtq) over a small fake guest
 * memory that the input lays out, in both ring layouts, with and without
 * indirect descriptor tables.
 *
 * The input is what a hostile guest controls: the layout (split or packed)
 * and whether INDIRECT_DESC was negotiated; up to 4 memory regions (their
 * guest addresses may overlap, wrap or end at 2^64; each is a slice of one
 * heap block of exactly FUZZ_MEM bytes, so ASan sees any byte read or
 * written outside it) and the first bytes of that memory (where indirect
 * tables are read from); the ring size (split: a power of two up to 256;
 * packed: 1 to 256); the indices (near the 65535 wrap, or a packed
 * position and wrap counter, or one outside the ring); every descriptor
 * (addresses, lengths that wrap, NEXT/WRITE/INDIRECT bits, next indices,
 * cycles, chains longer than the queue; packed: AVAIL/USED bits that make
 * it available, used or neither, and buffer ids) and the avail ring or the
 * driver event area. The device pops every chain as the tx or the rx
 * queue would, gives some back (unpop) and pops them again, reads and
 * writes all of each accepted chain, slices it at input offsets, pushes
 * and flushes.
 *
 * What must hold, checked after every pop (abort() otherwise):
 * an accepted chain has at most VV_CHAIN_IOV_MAX iovecs, none empty, each
 * inside the memory block and inside a region the input declared, and its
 * len is their sum; a refused chain has no iovec and no length; a chain
 * given back comes again the same; split: the ring never gives more chains
 * than avail->idx announced; packed: a chain took 1 to size descriptors,
 * and the ring breaks only on a position outside it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vv_virtq.h"

#define FUZZ_MEM      8192u
#define FUZZ_REGIONS  4u
#define FUZZ_RING_MAX 256u
#define WRAP          0x8000u
#define F_AVAIL       (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED        (1u << VRING_PACKED_DESC_F_USED)

/* An iovec lies inside the memory block and inside one declared region. */
static void
check_iov(const struct iovec *v, const uint8_t *mem, const struct vv_mem *m)
{
	uintptr_t b = (uintptr_t) v->iov_base, lo = (uintptr_t) mem;
	bool in_region = false;

	check(v->iov_len > 0 && v->iov_len <= FUZZ_MEM);
	check(b >= lo && b - lo <= FUZZ_MEM - v->iov_len);
	for (uint32_t r = 0; r < m->n_regions; r++) {
		uintptr_t h = (uintptr_t) m->regions[r].hva;

		if (b >= h && b - h < m->regions[r].size &&
		    v->iov_len <= m->regions[r].size - (b - h))
			in_region = true;
	}
	check(in_region);
}

/* Region r: a slice of the block, at a guest address the input chooses
 * (near 0, near others, or near the top of the 64-bit space). */
static void
make_regions(struct in *in, uint8_t *mem, struct vv_mem *m)
{
	uint32_t off = 0;

	m->n_regions = (uint32_t) take(in, 1) % (FUZZ_REGIONS + 1);
	for (uint32_t r = 0; r < m->n_regions; r++) {
		uint32_t size = (uint32_t) take(in, 2) % (FUZZ_MEM - off + 1);
		uint64_t gpa;

		switch (take(in, 1) % 4) {
		case 0: gpa = take(in, 2) * 64; break;
		case 1: gpa = UINT64_MAX - take(in, 2); break;
		case 2: gpa = r > 0 ? m->regions[r - 1].gpa + m->regions[r - 1].size : 0; break;
		default: gpa = take(in, 8);
		}
		m->regions[r].gpa = gpa;
		m->regions[r].size = size;
		m->regions[r].hva = (uint64_t) (uintptr_t) (mem + off);
		off += size;
	}
}

/* A descriptor address: often inside a region, sometimes anywhere. */
static uint64_t
pick_addr(struct in *in, const struct vv_mem *m)
{
	uint8_t how = (uint8_t) take(in, 1);

	if (m->n_regions > 0 && how < 200) {
		const struct vv_mem_region *r = &m->regions[how % m->n_regions];

		return r->gpa + (r->size ? take(in, 2) % (r->size + 8) : take(in, 1));
	}
	return take(in, 8);
}

/* A descriptor length: small, 16-bit, wrapping or anything. */
static uint32_t
pick_len(struct in *in)
{
	switch (take(in, 1) % 4) {
	case 0: return (uint32_t) take(in, 1);
	case 1: return (uint32_t) take(in, 2);
	case 2: return UINT32_MAX - (uint32_t) take(in, 1);
	default: return (uint32_t) take(in, 4);
	}
}

/* The split ring: descriptor table, avail ring (with used_event) and used
 * ring, each exactly sized (the adapter checks their placement: any index
 * past them is an ASan report). Returns the chains announced. */
static uint16_t
make_split(struct in *in, const struct vv_mem *m, struct vv_virtq *vq)
{
	uint16_t qsize = vq->size, announced;

	vq->desc = calloc(qsize, sizeof(*vq->desc));
	vq->avail = calloc(1, sizeof(*vq->avail) + (qsize + 1u) * sizeof(uint16_t));
	vq->used = calloc(1, sizeof(*vq->used) + qsize * sizeof(struct vring_used_elem) +
				     sizeof(uint16_t));
	if (vq->desc == NULL || vq->avail == NULL || vq->used == NULL)
		return 0;
	for (uint16_t i = 0; i < qsize; i++) {
		vq->desc[i].addr = pick_addr(in, m);
		vq->desc[i].len = pick_len(in);
		vq->desc[i].flags = (uint16_t) take(in, 1);
		vq->desc[i].next =
			(uint16_t) (take(in, 1) & 0x80 ? take(in, 2) : take(in, 1) % qsize);
	}
	announced = (uint16_t) (take(in, 1) & 0x80 ? take(in, 2) : take(in, 1) % (qsize + 1u));
	for (uint16_t i = 0; i < qsize; i++)
		vq->avail->ring[i] =
			(uint16_t) (take(in, 1) & 0x80 ? take(in, 2) : take(in, 1) % qsize);
	vq->avail->ring[qsize] = (uint16_t) take(in, 2); /* used_event */
	vq->avail->flags = (uint16_t) take(in, 1);
	vq->avail->idx = (uint16_t) (vq->last_avail_idx + announced);
	return announced;
}

/* The packed ring and its two event areas. A descriptor is made available
 * for the wrap counter the device will have when it gets there, for the
 * other one, used, or given the input's AVAIL/USED bits. */
static void
make_packed(struct in *in, const struct vv_mem *m, struct vv_virtq *vq)
{
	uint16_t qsize = vq->size, start = vq->last_avail_idx;

	vq->desc_packed = calloc(qsize, sizeof(*vq->desc_packed));
	vq->driver_event = calloc(1, sizeof(*vq->driver_event));
	vq->device_event = calloc(1, sizeof(*vq->device_event));
	if (vq->desc_packed == NULL || vq->driver_event == NULL || vq->device_event == NULL)
		return;
	for (uint16_t i = 0; i < qsize; i++) {
		struct vring_packed_desc *d = &vq->desc_packed[i];
		bool w = (start & WRAP) != 0;
		uint8_t f = (uint8_t) take(in, 1);

		if (i < (start & (WRAP - 1)))
			w = !w; /* reached after the device wraps */
		d->addr = pick_addr(in, m);
		d->len = pick_len(in);
		d->flags = f & 0x7f;
		switch (take(in, 1) % 4) {
		case 0: d->flags |= (uint16_t) (w ? F_AVAIL : F_USED); break;
		case 1: d->flags |= (uint16_t) (w ? F_USED : F_AVAIL); break;
		case 2: d->flags |= (uint16_t) (w ? F_AVAIL | F_USED : 0); break;
		default: d->flags |= (uint16_t) ((f & 0x80 ? F_AVAIL : 0) | (f & 1 ? F_USED : 0));
		}
		d->id = (uint16_t) take(in, 2);
	}
	vq->driver_event->off_wrap = (uint16_t) take(in, 2);
	vq->driver_event->flags = (uint16_t) take(in, 1);
}

/* A chain as popped: what a second pop of the same buffer must give. */
static bool
same_chain(const struct vv_chain *a, const struct vv_chain *b)
{
	if (a->head != b->head || a->n_iov != b->n_iov || a->len != b->len)
		return false;
	for (unsigned int i = 0; i < a->n_iov; i++)
		if (a->iov[i].iov_base != b->iov[i].iov_base ||
		    a->iov[i].iov_len != b->iov[i].iov_len)
			return false;
	return true;
}

/* What every chain pop returns must satisfy (see the top of the file). */
static void
check_chain(const struct vv_virtq *vq, enum vv_virtq_err e, const struct vv_chain *c,
	    const uint8_t *mem, const struct vv_mem *m)
{
	uint64_t sum = 0;

	if (vq->packed)
		check((c->head >> 16) >= 1 && (c->head >> 16) <= vq->size);
	if (e != VV_VIRTQ_OK) {
		check(c->n_iov == 0 && c->len == 0);
		return;
	}
	check(c->n_iov <= VV_CHAIN_IOV_MAX);
	check(vq->packed || c->head < vq->size);
	for (unsigned int i = 0; i < c->n_iov; i++) {
		check_iov(&c->iov[i], mem, m);
		sum += c->iov[i].iov_len;
	}
	check(sum == c->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	uint8_t *mem = malloc(FUZZ_MEM);
	uint8_t scratch[FUZZ_MEM + 64];
	struct vv_mem m = { 0 };
	struct vv_virtq vq = { 0 };
	static struct vv_chain c, again;
	uint16_t qsize, announced = 0, got = 0;
	uint8_t mode, b;
	size_t fill;
	bool writable;

	if (mem == NULL)
		return 0;
	mode = (uint8_t) take(&in, 1);
	vq.packed = mode & 1;
	vq.indirect = (mode & 2) != 0;
	memset(mem, 0xa5, FUZZ_MEM);
	make_regions(&in, mem, &m);
	/* The first bytes of guest memory: indirect tables to read. */
	fill = (size_t) take(&in, 1) * 16;
	for (size_t i = 0; i < fill; i++)
		mem[i] = (uint8_t) take(&in, 1);
	b = (uint8_t) take(&in, 1);
	if (!vq.packed)
		qsize = (uint16_t) (1u << (b % 9));
	else
		qsize = b ? b : 256; /* any size, not only powers of two */
	vq.size = qsize;
	vq.callfd = -1;
	if (!vq.packed) {
		vq.last_avail_idx = (uint16_t) (take(&in, 1) ? 0xfff0u + take(&in, 1) : take(&in, 2));
	} else {
		/* A position and wrap counter; now and then one past the ring. */
		b = (uint8_t) take(&in, 1);
		vq.last_avail_idx = (uint16_t) (take(&in, 2) & (WRAP - 1));
		if (!(b & 2))
			vq.last_avail_idx %= qsize;
		if (b & 1)
			vq.last_avail_idx |= WRAP;
	}
	vq.used_idx = vq.last_avail_idx;
	vq.signalled_used = (uint16_t) take(&in, 2);
	vq.signalled_used_valid = take(&in, 1) & 1;
	vq.event_idx = take(&in, 1) & 1;
	writable = take(&in, 1) & 1;
	if (!vq.packed)
		announced = make_split(&in, &m, &vq);
	else
		make_packed(&in, &m, &vq);
	if (vq.desc == NULL || vq.avail == NULL || vq.used == NULL)
		goto out;

	/* Twice the ring: pops past what was announced must find nothing. */
	for (unsigned int k = 0; k < 2u * qsize + 2; k++) {
		enum vv_virtq_err e = vv_virtq_pop(&vq, &m, writable, &c);
		uint8_t what;

		if (e == VV_VIRTQ_EMPTY || e == VV_VIRTQ_BROKEN) {
			if (!vq.packed)
				check(e == VV_VIRTQ_BROKEN || vq.broken || got == announced);
			else if (e == VV_VIRTQ_BROKEN)
				check((vq.last_avail_idx & (WRAP - 1)) >= qsize ||
				      (vq.used_idx & (WRAP - 1)) >= qsize);
			break;
		}
		got++;
		check(vq.packed || (got <= announced && announced <= qsize));
		check_chain(&vq, e, &c, mem, &m);
		what = (uint8_t) take(&in, 1);
		if (what & 2) {
			/* Given back unused, the same buffer comes again. */
			vv_virtq_unpop(&vq);
			check(vv_virtq_pop(&vq, &m, writable, &again) == e);
			check(same_chain(&c, &again));
		}
		if (e == VV_VIRTQ_OK && c.len <= sizeof(scratch)) {
			struct iovec sl[VV_CHAIN_IOV_MAX];
			uint32_t off = (uint32_t) take(&in, 2), len = (uint32_t) take(&in, 2);
			unsigned int n;

			check(vv_chain_read(&c, 0, scratch, c.len) == c.len);
			if (writable)
				check(vv_chain_write(&c, 0, scratch, c.len) == c.len);
			check(vv_chain_read(&c, off, scratch, len) ==
			      (off >= c.len ? 0 : (len < c.len - off ? len : c.len - off)));
			n = vv_chain_slice(&c, off, len, sl, VV_CHAIN_IOV_MAX);
			for (unsigned int i = 0; i < n; i++)
				check_iov(&sl[i], mem, &m);
		}
		vv_virtq_push(&vq, c.head, e == VV_VIRTQ_OK && writable ? c.len : 0);
		if (what & 1)
			vv_virtq_flush(&vq);
	}
	vv_virtq_flush(&vq);
	if (!vq.packed)
		check(vq.used->idx == vq.used_idx);

	/* Translation of arbitrary ranges stays inside the block. */
	for (int k = 0; k < 4; k++) {
		uint64_t gpa = pick_addr(&in, &m), len = take(&in, 1) & 1 ? take(&in, 8) : take(&in, 2);
		struct iovec iov[8];
		unsigned int n = 0;
		uint8_t *h = vv_mem_translate(&m, gpa, len);

		if (h != NULL && len > 0) {
			struct iovec v = { h, len };

			check_iov(&v, mem, &m);
		}
		if (vv_mem_to_iov(&m, gpa, len, iov, &n, 8) == 0)
			for (unsigned int i = 0; i < n; i++)
				check_iov(&iov[i], mem, &m);
	}
out:
	free(vq.desc);
	free(vq.avail);
	free(vq.used);
	free(mem);
	return 0;
}
