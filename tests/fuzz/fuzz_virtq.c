/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: descriptor chains (lib/virtq) over a small fake guest
 * memory that the input lays out.
 *
 * The input is what a hostile guest controls: up to 4 memory regions
 * (their guest addresses may overlap, wrap or end at 2^64; each is a slice
 * of one heap block of exactly FUZZ_MEM bytes, so ASan sees any byte read
 * or written outside it), the ring size (1 to 256), the indices (near the
 * 65535 wrap too), every descriptor (addresses, lengths that wrap,
 * NEXT/WRITE/INDIRECT bits, next indices, cycles, chains longer than the
 * queue) and the avail ring. The device pops every chain as the tx or the
 * rx queue would, reads and writes all of each accepted chain, slices it
 * at input offsets, pushes and flushes.
 *
 * What must hold, checked after every pop (abort() otherwise):
 * an accepted chain has at most VV_CHAIN_IOV_MAX iovecs, none empty, each
 * inside the memory block and inside a region the input declared, and its
 * len is their sum; a refused chain has no iovec and no length; the ring
 * never gives more chains than avail->idx announced.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	uint8_t *mem = malloc(FUZZ_MEM);
	uint8_t scratch[FUZZ_MEM + 64];
	struct vv_mem m = { 0 };
	struct vv_virtq vq = { 0 };
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	static struct vv_chain c;
	uint16_t qsize, announced, got = 0;
	bool writable;

	if (mem == NULL)
		return 0;
	memset(mem, 0xa5, FUZZ_MEM);
	make_regions(&in, mem, &m);
	qsize = (uint16_t) (1u << (take(&in, 1) % 9));
	/* Exactly sized rings (the adapter checks their placement): any
	 * index past them is an ASan report. */
	desc = calloc(qsize, sizeof(*desc));
	avail = calloc(1, sizeof(*avail) + (qsize + 1u) * sizeof(uint16_t));
	used = calloc(1, sizeof(*used) + qsize * sizeof(struct vring_used_elem) + sizeof(uint16_t));
	if (desc == NULL || avail == NULL || used == NULL)
		goto out;
	vq.desc = desc;
	vq.avail = avail;
	vq.used = used;
	vq.size = qsize;
	vq.callfd = -1;
	vq.last_avail_idx = (uint16_t) (take(&in, 1) ? 0xfff0u + take(&in, 1) : take(&in, 2));
	vq.used_idx = vq.last_avail_idx;
	vq.signalled_used = (uint16_t) take(&in, 2);
	vq.signalled_used_valid = take(&in, 1) & 1;
	vq.event_idx = take(&in, 1) & 1;
	writable = take(&in, 1) & 1;

	for (uint16_t i = 0; i < qsize; i++) {
		desc[i].addr = pick_addr(&in, &m);
		switch (take(&in, 1) % 4) {
		case 0: desc[i].len = (uint32_t) take(&in, 1); break;
		case 1: desc[i].len = (uint32_t) take(&in, 2); break;
		case 2: desc[i].len = UINT32_MAX - (uint32_t) take(&in, 1); break;
		default: desc[i].len = (uint32_t) take(&in, 4);
		}
		desc[i].flags = (uint16_t) take(&in, 1);
		desc[i].next = (uint16_t) (take(&in, 1) & 0x80 ? take(&in, 2) : take(&in, 1) % qsize);
	}
	announced = (uint16_t) (take(&in, 1) & 0x80 ? take(&in, 2) : take(&in, 1) % (qsize + 1u));
	for (uint16_t i = 0; i < qsize; i++)
		avail->ring[i] = (uint16_t) (take(&in, 1) & 0x80 ? take(&in, 2) : take(&in, 1) % qsize);
	avail->ring[qsize] = (uint16_t) take(&in, 2); /* used_event */
	avail->flags = (uint16_t) take(&in, 1);
	avail->idx = (uint16_t) (vq.last_avail_idx + announced);

	/* Twice the ring: pops past what was announced must find nothing. */
	for (unsigned int k = 0; k < 2u * qsize + 2; k++) {
		enum vv_virtq_err e = vv_virtq_pop(&vq, &m, writable, &c);

		if (e == VV_VIRTQ_EMPTY || e == VV_VIRTQ_BROKEN) {
			check(e == VV_VIRTQ_BROKEN || vq.broken || got == announced);
			break;
		}
		got++;
		check(got <= announced && announced <= qsize);
		if (e != VV_VIRTQ_OK) {
			check(c.n_iov == 0 && c.len == 0);
			vv_virtq_push(&vq, c.head, 0);
		} else {
			uint64_t sum = 0;

			check(c.n_iov <= VV_CHAIN_IOV_MAX && c.head < qsize);
			for (unsigned int i = 0; i < c.n_iov; i++) {
				check_iov(&c.iov[i], mem, &m);
				sum += c.iov[i].iov_len;
			}
			check(sum == c.len);
			if (c.len <= sizeof(scratch)) {
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
			vv_virtq_push(&vq, c.head, writable ? c.len : 0);
		}
		if (take(&in, 1) & 1)
			vv_virtq_flush(&vq);
	}
	vv_virtq_flush(&vq);
	check(used->idx == vq.used_idx);

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
	free(desc);
	free(avail);
	free(used);
	free(mem);
	return 0;
}
