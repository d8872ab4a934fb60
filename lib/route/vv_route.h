/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * VM-to-VM delivery: the CID table and one endpoint per VM.
 *
 * Payload is copied once, from the sender's guest memory straight into the
 * receiver's rx buffers, and no lcore touches another VM's state:
 *
 *  - the receiver's lcore *lends* some of its guest's rx buffers (already
 *    validated chains) on its endpoint's pool ring (single producer, many
 *    consumers);
 *  - a sender's lcore takes buffers from the pool, writes header and payload
 *    into them, and puts them on the receiver's filled ring (many producers,
 *    single consumer); it never holds a buffer beyond that step;
 *  - the receiver's lcore collects filled buffers and publishes them in its
 *    used ring.
 *
 * No buffer lent: the sender leaves its packet in its own tx ring
 * (backpressure, nothing dropped). Both rings are rte_rings, bounded.
 *
 * The CID table changes while lcores look it up (a reload adds and removes
 * VMs), without a lock on their side: each change publishes a new version
 * of the table, and the version it replaced (and an endpoint it removed)
 * is freed only after every reader lcore has reported a quiescent state to
 * the rte_rcu_qsbr given at creation. A reader lcore reports one between
 * two poll rounds and keeps no endpoint found by a lookup past that point
 * (a packet held for later remembers the CID and generation, not the
 * endpoint). An endpoint's "up" flag says whether its guest driver runs.
 */
#ifndef VV_ROUTE_H
#define VV_ROUTE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vv_virtq.h>

struct rte_rcu_qsbr;

/** Header size and the offset of its le32 len field (virtio_vsock_hdr). */
#define VV_ROUTE_HDR_SIZE    44u
#define VV_ROUTE_HDR_LEN_OFF 24u
/** Offset of the le32 flags field, and the flags that end a message
 * (VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR). */
#define VV_ROUTE_HDR_FLAGS_OFF 32u
#define VV_ROUTE_FLAGS_END     3u
/** Buffers an endpoint lends at most (pool and filled ring size). */
#define VV_ROUTE_LEND_MAX 64u
/** Chains with more descriptors than this are not lent (Linux uses 1 or 2). */
#define VV_ROUTE_BUF_IOV_MAX 8u

struct vv_route;
struct vv_route_port;

/** A filled buffer handed back to its owner. */
struct vv_route_done {
	uint32_t head;			/**< vv_chain.head: the token vv_virtq_push takes */
	uint32_t len;			/**< bytes written, header included */
	uint8_t hdr[VV_ROUTE_HDR_SIZE]; /**< the header written (little-endian) */
};

/**
 * Create an empty table for up to cap endpoints. Control path.
 * @param qs
 *   The quiescent-state variable every reader lcore reports to (lib/worker
 *   owns it), or NULL when the table is only read by the thread that
 *   changes it (tests): then nothing is waited for.
 * @return the table or NULL (ENOMEM).
 */
struct vv_route *vv_route_create(unsigned int cap, struct rte_rcu_qsbr *qs);

/**
 * Add one VM; lookups find it as soon as this returns. It starts down
 * (nothing is delivered to it until its owner calls vv_route_port_up), and
 * the VMs it shares a group with start lending buffers. groups are its group
 * names (n_groups of them). Control path, one thread (the one that changes
 * the table); it waits for a grace period of the readers (microseconds:
 * one poll round of every reader lcore).
 * @return the endpoint, or NULL: EEXIST duplicate CID, ENOSPC table full
 *   or more than 16 groups, ENOMEM.
 */
struct vv_route_port *vv_route_add(struct vv_route *r, uint64_t cid, const char (*groups)[64],
				   unsigned int n_groups);

/**
 * Remove a VM and free its endpoint. Before: the endpoint is down
 * (vv_route_port_down, its lent buffers home) and its owner no longer
 * calls it. Lookups stop finding it, the down epoch moves (every VM resets
 * its guest's streams with this one), and it is freed once no reader lcore
 * can hold it any more. Control path, the thread that adds.
 * @return 0, -ENOENT if p is not in the table, -ENOMEM (nothing changed).
 */
int vv_route_remove(struct vv_route *r, struct vv_route_port *p);

/** Free the table and every endpoint left in it. No reader may run. */
void vv_route_free(struct vv_route *r);

/**
 * The endpoint of cid, or NULL. Any reader lcore, lock-free: the endpoint
 * stays valid until the reader's next quiescent state. Control path: only
 * the thread that adds and removes.
 */
struct vv_route_port *vv_route_lookup(const struct vv_route *r, uint64_t cid);

/** Endpoints in the table now. */
unsigned int vv_route_count(const struct vv_route *r);

/** True if the two VMs share a group (vhost-device-vsock's rule). */
bool vv_route_allowed(const struct vv_route_port *a, const struct vv_route_port *b);

uint64_t vv_route_port_cid(const struct vv_route_port *p);

/** True while the endpoint's guest driver runs. */
bool vv_route_port_is_up(const struct vv_route_port *p);

/** Generation: changes every time the endpoint goes down. */
uint32_t vv_route_port_gen(const struct vv_route_port *p);

/** Counter that moves whenever any endpoint goes down. */
uint32_t vv_route_down_epoch(const struct vv_route *r);

/** True if some other VM shares a group with this one (else nothing is lent).
 * Adding and removing VMs changes it. */
bool vv_route_port_has_peers(const struct vv_route_port *p);

/* --- owner lcore of the endpoint --- */

/**
 * The guest driver runs: senders may deliver.
 * @param features the virtio features it negotiated, for senders to check
 *   that it reads what they carry (vv_route_port_features).
 */
void vv_route_port_up(struct vv_route_port *p, uint64_t features);

/** The features given to the last vv_route_port_up. Any thread; read it after vv_route_port_is_up. */
uint64_t vv_route_port_features(const struct vv_route_port *p);

/**
 * The VM is going away while its guest still runs (a reload removes it):
 * refuse new deliveries (senders get -ENOTCONN, and every VM resets its
 * streams with this one, as for vv_route_port_down), but leave the lent
 * buffers where they are: a copy in progress may still complete and be
 * collected, and the buffers come home at vv_route_port_down, when the
 * guest driver stops. A running guest is never handed back empty buffers.
 */
void vv_route_port_refuse(struct vv_route_port *p);

/**
 * The guest driver stops (or its memory is remapped): refuse new deliveries
 * and take back every lent buffer, waiting (briefly) for senders in the
 * middle of a copy. Each buffer coming home is passed to give_back with the
 * bytes written into it (0 if unused), so the owner can return it to its
 * guest (give_back may be NULL). After return no other lcore touches this
 * guest's memory.
 */
void vv_route_port_down(struct vv_route_port *p,
			void (*give_back)(uint32_t head, uint32_t len, void *arg), void *arg);

/**
 * How many more buffers the owner should lend now. Lent buffers are out of
 * reach of the owner's own host traffic, so at most a quarter of its rx
 * ring (at least one buffer) is lent: a guest with a small ring still gets
 * the answers to its own connects.
 * @param ring_size entries of the owner's rx virtqueue
 */
unsigned int vv_route_lend_wanted(const struct vv_route_port *p, unsigned int ring_size);

/**
 * Lend one rx chain (device-writable, validated, at least a header long).
 * @return 0, -E2BIG if it has too many descriptors (not lent: use it
 *   elsewhere), -ENOSPC if enough are lent.
 */
int vv_route_lend(struct vv_route_port *p, const struct vv_chain *c);

/**
 * Take back up to max filled buffers (in the order they were filled).
 * @return how many were written to out.
 */
unsigned int vv_route_collect(struct vv_route_port *p, struct vv_route_done *out, unsigned int max);

/* --- any sender lcore --- */

/**
 * Deliver a packet into dst's lent buffers, splitting a payload over several
 * buffers if needed (each piece gets the header with its own len, and the
 * end-of-message flags only on the last piece).
 * @param hdr the 44-byte header as the sender's guest wrote it (little-endian).
 * @param src the sender's chain; payload is bytes [src_off, src_off + len).
 * @param done in: bytes of this payload already delivered; out: updated.
 * @return 0 when all of it is delivered; -EAGAIN when dst has no buffer left
 *   (call again later with the same *done); -ENOTCONN when dst is down.
 */
int vv_route_deliver(struct vv_route_port *dst, const uint8_t *hdr, const struct vv_chain *src,
		     uint32_t src_off, uint32_t len, uint32_t *done);

#endif
