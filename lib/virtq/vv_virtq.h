/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Guest memory translation and virtqueue access (split and packed rings,
 * indirect descriptors) for a vhost-user backend.
 *
 * The guest is hostile: every index, descriptor, address and length read
 * from guest memory is copied once and checked before use. Nothing in here
 * calls rte_vhost: the adapter (lib/vhost) fills these structures, so the
 * datapath can be tested over fake guest memory.
 *
 * Threading: a vv_virtq is owned by exactly one lcore.
 *
 * The host is assumed little-endian (virtio 1.x rings are little-endian);
 * the source refuses to build otherwise.
 */
#ifndef VV_VIRTQ_H
#define VV_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_ring.h>

#define VV_MEM_REGIONS_MAX 8
/** Longest descriptor chain accepted (after splitting at region borders). */
#define VV_CHAIN_IOV_MAX 256

/** One region of the guest physical address space, mapped at hva. */
struct vv_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t hva;
};

struct vv_mem {
	uint32_t n_regions;
	struct vv_mem_region regions[VV_MEM_REGIONS_MAX];
};

/**
 * Translate [gpa, gpa + len) to a host pointer. The whole range must lie in
 * one region (used for ring structures, which must be contiguous). With
 * len 0, gpa itself must be inside a region. Regions of size 0 never match.
 * @return host pointer or NULL (outside guest memory, or gpa + len wraps
 *   past 2^64, ending exactly at 2^64 included).
 */
void *vv_mem_translate(const struct vv_mem *mem, uint64_t gpa, uint64_t len);

/**
 * Append the host iovecs covering [gpa, gpa + len) to iov[*n..max), splitting
 * at region borders (one iovec per region touched, regions in any order).
 * len 0 appends nothing. On error *n is left unchanged.
 * @return 0, -EFAULT if any byte is outside guest memory or the range
 *   overflows, -E2BIG if more than max iovecs would be needed.
 */
int vv_mem_to_iov(const struct vv_mem *mem, uint64_t gpa, uint64_t len, struct iovec *iov,
		  unsigned int *n, unsigned int max);

/**
 * Chains popped that vv_virtq_unpop_n can give back at once. A packed ring
 * does not say where a chain started, so the queue remembers where the
 * last VV_VIRTQ_UNPOP_MAX pops began (a power of two).
 */
#define VV_VIRTQ_UNPOP_MAX 256u

/**
 * A virtqueue as the device sees it, filled by the adapter: a split ring
 * (virtio 1.3, 2.7) or, with packed set, a packed ring (2.8).
 *
 * Split: size must be a power of two, at most 32768, and the rings must be
 * mapped including their event fields (avail->ring[size] = used_event,
 * used->ring[size] = avail_event) even without EVENT_IDX. The adapter must
 * not change used->flags or avail_event itself (vv_virtq_flush owns them).
 *
 * Packed: size is 1 to 32768, any value. last_avail_idx and used_idx hold
 * a ring position in bits 0-14 and the wrap counter in bit 15 (the form of
 * vhost-user's SET/GET_VRING_BASE for packed rings); a fresh ring starts
 * at 0x8000 (position 0, wrap counter 1). The device event area is ours to
 * write (kick suppression), the driver event area is read at flush.
 *
 * The adapter zeroes the structure, then sets the rings, size, the two
 * indices, callfd and what was negotiated (event_idx, packed, indirect);
 * the other fields are the queue's own state.
 */
struct vv_virtq {
	union {
		struct vring_desc *desc;	       /**< split: descriptor table */
		struct vring_packed_desc *desc_packed; /**< packed: the ring */
	};
	union {
		struct vring_avail *avail;		      /**< split */
		struct vring_packed_desc_event *driver_event; /**< packed: driver area */
	};
	union {
		struct vring_used *used;		      /**< split */
		struct vring_packed_desc_event *device_event; /**< packed: device area */
	};
	uint16_t size;		 /**< number of entries */
	uint16_t last_avail_idx; /**< next avail entry to consume (packed: position | wrap << 15) */
	uint16_t used_idx;	 /**< split: shadow of used->idx, published by flush;
				      packed: where the next used descriptor goes */
	/**
	 * used idx published by the last flush: the "old" of vring_need_event
	 * (the name follows Linux vhost). Set signalled_used_valid to false
	 * when (re)starting the queue: the next flush then always notifies.
	 */
	uint16_t signalled_used;
	bool signalled_used_valid;
	bool event_idx; /**< VIRTIO_RING_F_EVENT_IDX negotiated */
	bool packed;	/**< VIRTIO_F_RING_PACKED negotiated */
	bool indirect;	/**< VIRTIO_RING_F_INDIRECT_DESC negotiated */
	int callfd;	/**< eventfd to interrupt the guest, -1 if none */
	int kickfd;	/**< eventfd the guest kicks, -1 if none (then never sleep on it) */
	bool broken;	/**< guest made the ring unreadable (see pop); stop */

	bool kicks_wanted; /**< vv_virtq_want_kicks(on): flush leaves the guest's kicks on */
	bool call_pending; /**< vv_virtq_flush_quiet owes the guest an interrupt */
	uint16_t uncalled; /**< chains pushed since the last interrupt (saturates) */
	/* Packed: the first used descriptor written since the last flush gets
	 * its flags (which hand it to the driver) at flush, so the driver sees
	 * a round's used buffers at once, as with split's used->idx. */
	bool used_pending;
	uint16_t pending_pos;	/* its position | wrap << 15 */
	uint16_t pending_flags; /* its flags */
	/* Packed: where each of the last pops started, for unpop. */
	uint16_t n_pops;
	uint16_t pop_at[VV_VIRTQ_UNPOP_MAX];
};

/**
 * A popped descriptor chain mapped to host memory.
 *
 * head is what vv_virtq_push takes back: split, the chain's head index;
 * packed, the buffer id in bits 0-15 and the number of ring descriptors
 * the buffer took in bits 16-31. Callers keep it as an opaque token.
 */
struct vv_chain {
	uint32_t head; /**< token to give back with vv_virtq_push */
	unsigned int n_iov;
	uint32_t len; /**< sum of iov lengths (fits: capped at 4 GiB - 1) */
	struct iovec iov[VV_CHAIN_IOV_MAX];
};

/** Errors of vv_virtq_pop, each counted separately by the caller. */
enum vv_virtq_err {
	VV_VIRTQ_OK = 0,
	VV_VIRTQ_EMPTY,	    /**< nothing available */
	VV_VIRTQ_BAD_INDEX, /**< split: head or next index >= size (in a table: >= its entries) */
	VV_VIRTQ_BAD_CHAIN, /**< loop; chain longer than size or VV_CHAIN_IOV_MAX; total
				 length over 4 GiB - 1; indirect table of bad size; packed:
				 NEXT into a descriptor not made available */
	VV_VIRTQ_BAD_ADDR,  /**< descriptor or indirect table outside guest memory */
	VV_VIRTQ_BAD_DIR,   /**< write-only descriptor in a read chain or vice versa */
	VV_VIRTQ_BAD_FLAGS, /**< INDIRECT not negotiated, nested, with NEXT, or (packed) in a
				 NEXT list */
	VV_VIRTQ_BROKEN,    /**< split: avail->idx moved by more than size; packed: a
				 position outside the ring. The ring is unusable. */
};

/**
 * Split: number of avail entries not yet consumed (0 if broken). Reads
 * avail->idx once with acquire semantics; if it is more than size ahead of
 * last_avail_idx, sets vq->broken.
 * Packed: the ring does not tell how many: 1 if at least one buffer is
 * available, else 0.
 */
uint16_t vv_virtq_avail_count(struct vv_virtq *vq);

/**
 * Take the next available chain. On VV_VIRTQ_OK the chain is mapped in c.
 * On BAD_* errors the chain is still consumed and c->head is set (n_iov
 * and len are 0): the caller must vv_virtq_push(vq, c->head, 0) it and
 * count the drop. With BAD_INDEX on a split head itself, c->head is the
 * guest's out-of-range value, given back as is. EMPTY and BROKEN consume
 * nothing. Zero-length descriptors are accepted and add no iovec.
 *
 * With vq->indirect, a descriptor may refer to a table of descriptors
 * (VRING_DESC_F_INDIRECT): split, at the end of a chain; packed, alone.
 * The table holds 1 to size descriptors of the ring's layout; it may not
 * nest another table.
 * @param writable
 *   true for the rx queue (device writes: every descriptor must be WRITE),
 *   false for the tx queue (device reads: no descriptor may be WRITE).
 */
enum vv_virtq_err vv_virtq_pop(struct vv_virtq *vq, const struct vv_mem *mem, bool writable,
			       struct vv_chain *c);

/** Give back the chain last popped (it was not used); vv_virtq_unpop_n(vq, 1). */
void vv_virtq_unpop(struct vv_virtq *vq);

/**
 * Give back the n chains popped last, unused: the next pops return them
 * again, in their order, re-read and re-checked from the guest's rings.
 * Chains popped before them may have been pushed meanwhile (push only
 * writes used entries behind them); none of the n may have been pushed,
 * and n must not exceed the chains popped since the queue was attached,
 * nor VV_VIRTQ_UNPOP_MAX.
 */
void vv_virtq_unpop_n(struct vv_virtq *vq, uint16_t n);

/**
 * Return a popped chain (head as vv_chain.head) with len bytes written into
 * it. Chains may be pushed in any order; it is visible to the guest after
 * vv_virtq_flush.
 */
void vv_virtq_push(struct vv_virtq *vq, uint32_t head, uint32_t len);

/**
 * Publish the used entries pushed since the last flush and interrupt the
 * guest through callfd if it asked for it (split: used_event with
 * EVENT_IDX, else VRING_AVAIL_F_NO_INTERRUPT; packed: the driver event
 * area, its descriptor offset with EVENT_IDX). Does nothing if nothing was
 * pushed since the last flush.
 *
 * Unless vv_virtq_want_kicks asked for them, it also tells the guest not to
 * kick: the owner polls while it has work (split with EVENT_IDX: avail_event out of
 * the driver's reach, see the comment in the source; split without it:
 * VRING_USED_F_NO_NOTIFY; packed: the device event area's DISABLE).
 * @return 1 if the guest was notified, 0 if it did not need to be (or
 *   there is no callfd), -errno if the eventfd refused the write: -EAGAIN
 *   when the front-end filled its counter (the adapter makes call fds
 *   non-blocking, so this never waits).
 */
int vv_virtq_flush(struct vv_virtq *vq);

/**
 * vv_virtq_flush without the interrupt: the used entries are published
 * (a guest that looks sees them), an interrupt the guest asked for is only
 * noted in call_pending, for vv_virtq_call or the next vv_virtq_flush to
 * send. The virtio spec lets a device delay a used buffer notification;
 * the owner decides how long (it must send it eventually).
 * @return 0, or what vv_virtq_flush returns when nothing was pushed.
 */
int vv_virtq_flush_quiet(struct vv_virtq *vq);

/**
 * Send the interrupt vv_virtq_flush_quiet noted, if any.
 * @return as vv_virtq_flush.
 */
int vv_virtq_call(struct vv_virtq *vq);

/**
 * Ask the guest to kick (write the kick eventfd) when it makes buffers
 * available (on), or to stop kicking (off, what a busy poller wants and
 * the default). A poller that is about to sleep on the kick eventfd asks
 * for kicks first, then must not sleep if this returns true: buffers made
 * available before the guest saw the request are never kicked.
 * @return true if buffers are available now (always false when off).
 */
bool vv_virtq_want_kicks(struct vv_virtq *vq, bool on);

/**
 * Copy up to len bytes out of the chain starting at byte offset off. The
 * guest may change the bytes meanwhile: validate the copy, not the chain.
 * @return bytes copied (less than len if the chain ends first).
 */
uint32_t vv_chain_read(const struct vv_chain *c, uint32_t off, void *dst, uint32_t len);

/**
 * Copy up to len bytes into the chain at byte offset off.
 * @return bytes copied (less than len if the chain ends first).
 */
uint32_t vv_chain_write(const struct vv_chain *c, uint32_t off, const void *src, uint32_t len);

/**
 * Build in out[] the iovecs covering bytes [off, off + len) of the chain.
 * @return number of iovecs written (len is clipped to the chain; stops
 *   early once max iovecs are written).
 */
unsigned int vv_chain_slice(const struct vv_chain *c, uint32_t off, uint32_t len, struct iovec *out,
			    unsigned int max);

#endif
