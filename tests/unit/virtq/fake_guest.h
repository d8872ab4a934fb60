/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test-side fake guest: a malloc'd buffer exposed as several guest memory
 * regions whose gpa differs from the hva (and whose hva order differs from
 * the gpa order), a split or packed virtqueue laid out in it the way a
 * driver would, and a tiny driver that writes descriptors and avail entries
 * (split) or available descriptors and reads used ones (packed).
 */
#ifndef FAKE_GUEST_H
#define FAKE_GUEST_H

#include <stdbool.h>
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
	/* Packed driver: positions as position | wrap << 15. */
	uint16_t p_avail;    /* where the next available descriptor goes */
	uint16_t p_used;     /* where the next used descriptor is read */
	uint16_t *id_count;  /* descriptors each buffer id took (65536 ids) */
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

/* Take the count of a non-blocking eventfd: 0 when it was not written
 * (the device did not interrupt), -1 on another error. */
int64_t fg_efd_take(int fd);

/* A packed queue of size entries (any size up to 32768); start is the
 * position | wrap << 15 where driver and device both begin (0x8000 fresh). */
struct fg *fg_new_packed(uint16_t size, uint16_t start);
/* Make bufs one buffer with this id: n descriptors from p_avail, NEXT on
 * all but the last, the first one's flags written last (release). */
uint16_t fgp_add(struct fg *g, unsigned int n, const struct fg_buf *bufs, uint16_t id);
/* The same with each descriptor's flags exactly as given (AVAIL/USED are
 * still set from the wrap counter): hostile lists. */
uint16_t fgp_add_raw(struct fg *g, unsigned int n, const struct fg_buf *bufs, uint16_t id);
/* Read the next used descriptor as the Linux driver does (acquire on its
 * flags), moving on by the descriptors its id took. 1 if one was there. */
int fgp_get_used(struct fg *g, uint16_t *id, uint32_t *len, uint16_t *flags);
/* The driver event area (driver -> device: when to interrupt). */
void fgp_set_driver_event(struct fg *g, uint16_t flags, uint16_t off_wrap);
/* The device event area (device -> driver: when to kick). */
struct vring_packed_desc_event fgp_device_event(struct fg *g);

/* Write descriptor i of an indirect table at gpa, byte by byte through
 * fg_hva (so a table may span regions): split layout with next, packed
 * with id, chosen by packed. */
void fg_table_desc(struct fg *g, uint64_t gpa, unsigned int i, bool packed, uint64_t addr,
		   uint32_t len, uint16_t flags, uint16_t next_or_id);
/* A table of n buffers at gpa: split entries linked 0 -> 1 -> ... by NEXT,
 * packed entries in order without flags other than WRITE. */
void fg_table(struct fg *g, uint64_t gpa, unsigned int n, const struct fg_buf *bufs, bool packed);

#endif
