/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Guest memory translation and split virtqueue access for a vhost-user backend.
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
 * A split virtqueue as the device sees it, filled by the adapter.
 *
 * size must be a power of two, at most 32768, and the rings must be mapped
 * including their event fields (avail->ring[size] = used_event,
 * used->ring[size] = avail_event) even without EVENT_IDX. The adapter must
 * not change used->flags or avail_event itself (vv_virtq_flush owns them).
 */
struct vv_virtq {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t size;		 /**< number of entries, power of two */
	uint16_t last_avail_idx; /**< next avail entry to consume */
	uint16_t used_idx;	 /**< shadow of used->idx, published by flush */
	/**
	 * used idx published by the last flush: the "old" of vring_need_event
	 * (the name follows Linux vhost). Set signalled_used_valid to false
	 * when (re)starting the queue: the next flush then always notifies.
	 */
	uint16_t signalled_used;
	bool signalled_used_valid;
	bool event_idx; /**< VIRTIO_RING_F_EVENT_IDX negotiated */
	int callfd;	/**< eventfd to interrupt the guest, -1 if none */
	bool broken;	/**< guest put an impossible avail->idx; stop */
};

/** A popped descriptor chain mapped to host memory. */
struct vv_chain {
	uint16_t head; /**< id to give back with vv_virtq_push */
	unsigned int n_iov;
	uint32_t len; /**< sum of iov lengths (fits: capped at 4 GiB - 1) */
	struct iovec iov[VV_CHAIN_IOV_MAX];
};

/** Errors of vv_virtq_pop, each counted separately by the caller. */
enum vv_virtq_err {
	VV_VIRTQ_OK = 0,
	VV_VIRTQ_EMPTY,	    /**< nothing available */
	VV_VIRTQ_BAD_INDEX, /**< head or next index >= size */
	VV_VIRTQ_BAD_CHAIN, /**< loop or chain longer than size / VV_CHAIN_IOV_MAX */
	VV_VIRTQ_BAD_ADDR,  /**< descriptor outside guest memory */
	VV_VIRTQ_BAD_DIR,   /**< write-only descriptor in a read chain or vice versa */
	VV_VIRTQ_BAD_FLAGS, /**< INDIRECT (not negotiated) */
	VV_VIRTQ_BROKEN,    /**< avail->idx moved by more than size: ring unusable */
};

/**
 * Number of avail entries not yet consumed (0 if broken). Reads avail->idx
 * once with acquire semantics; if it is more than size ahead of
 * last_avail_idx, sets vq->broken.
 */
uint16_t vv_virtq_avail_count(struct vv_virtq *vq);

/**
 * Take the next available chain. On VV_VIRTQ_OK the chain is mapped in c.
 * On BAD_* errors the head is still consumed and c->head is set (n_iov and
 * len are 0): the caller must vv_virtq_push(vq, c->head, 0) it and count the
 * drop. With BAD_INDEX on the head itself, c->head is the guest's
 * out-of-range value, given back as is. EMPTY and BROKEN consume nothing.
 * Zero-length descriptors are accepted and add no iovec.
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
 * touches the used ring); none of the n may have been pushed, and n must
 * not exceed the chains popped since the queue was attached.
 */
void vv_virtq_unpop_n(struct vv_virtq *vq, uint16_t n);

/** Write a used element; it is visible to the guest after vv_virtq_flush. */
void vv_virtq_push(struct vv_virtq *vq, uint16_t head, uint32_t len);

/**
 * Publish used->idx and interrupt the guest through callfd if it asked for it
 * (used_event with EVENT_IDX, else VRING_AVAIL_F_NO_INTERRUPT). Does nothing
 * if nothing was pushed since the last flush.
 *
 * It also tells the guest not to kick: this backend busy-polls, so with
 * EVENT_IDX it sets avail_event out of the driver's reach (see the comment
 * in the source), without it it sets VRING_USED_F_NO_NOTIFY.
 * @return 1 if the guest was notified, 0 if it did not need to be (or
 *   there is no callfd), -errno if the eventfd refused the write: -EAGAIN
 *   when the front-end filled its counter (the adapter makes call fds
 *   non-blocking, so this never waits).
 */
int vv_virtq_flush(struct vv_virtq *vq);

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
