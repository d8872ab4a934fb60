/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test-side virtio-vsock guest driver, built on the fake guest of
 * tests/unit/virtq: the rx queue (0) and the tx queue (1) share one guest
 * memory, packets are cut into descriptors at chosen bytes, rx buffers of
 * chosen sizes are posted, and what the device wrote is decoded.
 *
 * The wire format comes from <linux/virtio_vsock.h>, not from the device's
 * own headers, so a wrong constant in the device cannot hide behind the
 * same wrong constant in its tests.
 *
 * Limits, kept by the caller: at most `size` descriptors outstanding per
 * queue (the descriptor allocator is round robin), at most 160 KiB of tx
 * packet bytes and 96 KiB of rx buffers outstanding (each byte allocator
 * wraps around its zone).
 */
#ifndef VSOCK_GUEST_H
#define VSOCK_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_vsock.h>

#include "fake_guest.h"

#define VG_HOST_CID 2u
#define VG_HDR_SIZE ((uint32_t) sizeof(struct virtio_vsock_hdr))
/** Packet bytes live in FG_LO and FG_HI: adjacent in gpa, apart in hva. */
#define VG_DATA_GPA FG_LO_GPA
#define VG_DATA_SIZE (2 * FG_DATA_SIZE)
/** rx buffers come from the first 96 KiB (room for 64 KiB of payload in
 * 4 KiB buffers), tx packets from the other 160 KiB, which straddle the
 * FG_LO/FG_HI border 32 KiB in (so tx buffers can span two regions).
 * Separate zones: a long tx run never overwrites a posted rx buffer. */
#define VG_RX_ZONE_GPA VG_DATA_GPA
#define VG_RX_ZONE_SIZE (FG_DATA_SIZE - 0x8000ull)
#define VG_TX_ZONE_GPA (VG_DATA_GPA + VG_RX_ZONE_SIZE)
#define VG_TX_ZONE_SIZE (VG_DATA_SIZE - VG_RX_ZONE_SIZE)

struct vg {
	struct fg *rx;        /* queue 0; owns the guest memory */
	struct fg tx;         /* queue 1: rings in the upper half of rx's ring region */
	uint64_t cid;
	uint32_t buf_alloc;   /* what vg_hdr_init advertises */
	uint64_t next_tx_gpa; /* byte allocators, each wrapping in its zone */
	uint64_t next_rx_gpa;
	uint16_t rx_seen;     /* rx used entries already taken by vg_recv */
	uint8_t *scratch;     /* payload of the last vg_recv */
};

/** One rx used entry as the guest sees it. */
struct vg_pkt {
	uint16_t head;
	uint32_t used_len;    /* len of the used element */
	bool overrun;         /* used_len is larger than the buffer */
	bool has_hdr;         /* at least VG_HDR_SIZE bytes: hdr decoded */
	struct virtio_vsock_hdr hdr;
	const uint8_t *data;  /* used_len - 44 payload bytes, valid until the next vg_recv */
	uint32_t data_len;
};

/**
 * A guest with cid, an rx ring of rx_size and a tx ring of tx_size entries
 * (powers of two, at most 1024), every index of each starting at *_start.
 * @return the guest, or NULL if out of memory.
 */
struct vg *vg_new(uint64_t cid, uint16_t rx_size, uint16_t tx_size,
		  uint16_t rx_start, uint16_t tx_start);
void vg_free(struct vg *g);

static inline const struct vv_mem *vg_mem(const struct vg *g) { return &g->rx->mem; }
static inline struct vv_virtq *vg_rxq(struct vg *g) { return &g->rx->vq; }
static inline struct vv_virtq *vg_txq(struct vg *g) { return &g->tx.vq; }

/** len bytes of the tx zone (may straddle FG_LO/FG_HI). */
uint64_t vg_alloc(struct vg *g, uint32_t len);

void vg_hdr_encode(const struct virtio_vsock_hdr *h, void *out);
void vg_hdr_decode(const void *in, struct virtio_vsock_hdr *h);
/** A stream header from this guest to the host; len 0, flags 0, fwd_cnt 0. */
void vg_hdr_init(struct virtio_vsock_hdr *h, const struct vg *g, uint16_t op,
		 uint32_t src_port, uint32_t dst_port);

/**
 * Post len raw bytes on the tx queue, cut into descriptors: cuts[i] is the
 * size of descriptor i, the last descriptor takes what remains (none if
 * nothing remains). Every descriptor gets its own guest buffer.
 * @return the chain's head.
 */
uint16_t vg_send_bytes(struct vg *g, const void *bytes, uint32_t len,
		       const uint32_t *cuts, unsigned int n_cuts);
/** Post header + h->len payload bytes cut as vg_send_bytes does. */
uint16_t vg_send_cut(struct vg *g, const struct virtio_vsock_hdr *h, const void *payload,
		     const uint32_t *cuts, unsigned int n_cuts);
/** Post header and payload in one descriptor each (Linux's layout). */
uint16_t vg_send(struct vg *g, const struct virtio_vsock_hdr *h, const void *payload);

/** Post one device-writable buffer made of n descriptors of the given sizes. */
uint16_t vg_post_rx(struct vg *g, const uint32_t *sizes, unsigned int n);
/** Post count one-descriptor rx buffers of size bytes. */
void vg_post_rx_n(struct vg *g, unsigned int count, uint32_t size);

/** Used rx entries not taken yet. */
uint16_t vg_rx_pending(struct vg *g);
/** Take the next used rx entry and decode it. @return false if none. */
bool vg_recv(struct vg *g, struct vg_pkt *p);

/** The device's used index on the tx queue. */
uint16_t vg_tx_used(struct vg *g);

#endif
