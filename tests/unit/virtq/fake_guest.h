/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test-side fake guest: a malloc'd buffer exposed as several guest memory
 * regions whose gpa differs from the hva (and whose hva order differs from
 * the gpa order), a split virtqueue laid out in it the way a driver would,
 * and a tiny driver that writes descriptors and avail entries.
 */
#ifndef FAKE_GUEST_H
#define FAKE_GUEST_H

#include <stdint.h>

#include "vv_virtq.h"

/* Guest physical layout (see fake_guest.c for the hva side). */
#define FG_RING_GPA 0x10000000ull  /* rings */
#define FG_RING_SIZE 0x10000ull
#define FG_DATA_SIZE 0x20000ull    /* 128 KiB, each data region */
#define FG_LO_GPA 0x20000000ull
#define FG_HI_GPA (FG_LO_GPA + FG_DATA_SIZE) /* right after FG_LO */
#define FG_EMPTY_GPA 0x30000000ull /* a region of size 0 */
#define FG_TOP_SIZE 0x1000ull      /* last page of the 64-bit space */
#define FG_TOP_GPA (UINT64_MAX - FG_TOP_SIZE + 1)

struct fg {
	uint8_t *buf;
	struct vv_mem mem;
	struct vv_virtq vq;
	uint16_t size;
	uint16_t avail_idx;  /* driver's shadow of avail->idx */
	uint16_t next_desc;  /* round-robin descriptor allocator */
	uint16_t kick_old;   /* avail idx at the driver's last kick decision */
};

/** One buffer of a chain the driver adds. */
struct fg_buf {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags; /* VRING_DESC_F_WRITE or 0; NEXT is added by fg_add_chain */
};

/* Set up memory and a queue of size entries with every index at start. */
struct fg *fg_new(uint16_t size, uint16_t start);
void fg_free(struct fg *g);

/* Host pointer of a guest address, computed independently of vv_mem. */
void *fg_hva(struct fg *g, uint64_t gpa);

void fg_set_desc(struct fg *g, uint16_t i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next);
/* Put head in the next avail slot and publish avail->idx. */
void fg_post(struct fg *g, uint16_t head);
/* Write n linked descriptors from the round-robin allocator and post them. */
uint16_t fg_add_chain(struct fg *g, unsigned int n, const struct fg_buf *bufs);

/* Driver side of notification control. */
void fg_set_used_event(struct fg *g, uint16_t v);
uint16_t fg_avail_event(struct fg *g);
/* Linux-style kick decision for the entries added since the last one. */
int fg_kick_prepare(struct fg *g);

struct vring_used_elem fg_used_elem(struct fg *g, uint16_t i);
uint16_t fg_used_idx(struct fg *g);

#endif
