/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The vhost-user side: the one place that talks to DPDK's rte_vhost.
 *
 * One vhost-user server socket per VM. rte_vhost's callbacks run on its
 * vhost-events thread; they never touch datapath state themselves but hand
 * the guest's memory table and rings to the VM's lcore (lib/worker) and wait.
 */
#ifndef VV_VHOST_H
#define VV_VHOST_H

#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_vsock.h>

/** vhost-user's own feature bit (not a virtio one): protocol features follow. */
#define VV_VHOST_USER_F_PROTOCOL_FEATURES 30

/**
 * virtio features offered: only what the datapath implements. Split or
 * packed rings (the front-end chooses: QEMU's packed=on), indirect
 * descriptor tables in either, and SEQPACKET.
 */
#define VV_VHOST_FEATURES                                                         \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |       \
	 (1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_F_RING_PACKED) | \
	 (1ull << VV_VHOST_USER_F_PROTOCOL_FEATURES) | (1ull << VIRTIO_VSOCK_F_SEQPACKET))

/**
 * vhost-user protocol features offered. CONFIG (9) is required by QEMU's
 * vhost-user-vsock to read the guest CID; REPLY_ACK (3) lets the front-end
 * wait for SET_MEM_TABLE. STATUS (16) is never offered: QEMU 7.2's vsock
 * never sends DRIVER_OK, so the device would never start.
 */
#define VV_VHOST_PROTOCOL_FEATURES ((1ull << 9) | (1ull << 3))

/** Why a front-end's message was refused (its connection then closed). */
enum vv_vhost_refusal {
	VV_REFUSE_REQUEST,   /**< unknown request, or one of a feature not negotiated */
	VV_REFUSE_HEADER,    /**< flags or payload size wrong for the request */
	VV_REFUSE_FDS,	     /**< wrong number of fds for the request */
	VV_REFUSE_FEATURES,  /**< features or protocol features not offered */
	VV_REFUSE_MEM_TABLE, /**< regions: count, size 0, overflow, overlap */
	VV_REFUSE_MEM_FD,    /**< region fd not a regular file, or shorter than the region */
	VV_REFUSE_VRING,     /**< ring index, size, base, flags or addresses */
	VV_REFUSE_NOTIFY_FD, /**< kick, call or err fd that is not an eventfd */
	VV_REFUSE_CONFIG,    /**< GET_CONFIG outside the config space */
	VV_REFUSE_CONN,	     /**< the connection: replaced, replies unread, memory lost */
	VV_REFUSE_MAX,
};

/** Name of a refusal reason ("mem_fd", ...), for logs and telemetry. */
const char *vv_vhost_refusal_name(enum vv_vhost_refusal r);

/**
 * What one VM's front-ends did wrong and what it cost them. Written by the
 * vhost-events and guard threads, read by anyone (relaxed 64-bit loads).
 */
struct vv_vhost_stats {
	uint64_t connects;		 /**< front-end connections accepted */
	uint64_t refused[VV_REFUSE_MAX]; /**< messages refused, by reason */
	uint64_t conns_refused;		 /**< connections over the per-VM cap, closed at once */
	uint64_t takeovers;		 /**< a newer front-end took the device from an older one */
	uint64_t remap_failed;		 /**< SET_MEM_TABLE on a running device that failed */
	uint64_t mem_faults;		 /**< SIGBUS survived in the VM's memory (file shrank) */
	uint64_t disconnects; /**< front-ends we disconnected (lost memory, failed remap) */
};

struct vv_vm;

/**
 * Start the SIGBUS guard of guest memory, then register and start one
 * vhost-user server socket per VM of lib/worker (vv_vhost_vm_add for each).
 * @return 0, or -errno with err naming the socket.
 */
int vv_vhost_start(char *err, size_t errlen);

/**
 * Register and start the vhost-user socket of a VM lib/worker added (at
 * start or by a reload). A stale socket file is replaced, a live one
 * refused. Main thread, after vv_vhost_start.
 * @return 0, or -errno with err naming the socket (nothing left
 *   registered): a vv_uds_claim_path error, -EINVAL (rte_vhost refused),
 *   -ENOSPC (VV_VMS_MAX sockets already), -ENOMEM.
 */
int vv_vhost_vm_add(struct vv_vm *vm, char *err, size_t errlen);

/**
 * Unregister a VM's socket: a running device is destroyed first (the lcore
 * detaches from guest memory), a connected front-end is disconnected (its
 * connection socket is shut down), the socket file is unlinked. After
 * return no vhost-user callback
 * uses the VM. Main thread, before vv_worker_vm_remove().
 */
void vv_vhost_vm_remove(struct vv_vm *vm);

/** Unregister every socket (destroying running devices) and unlink the files. */
void vv_vhost_stop(void);

/** Negotiated virtio features of a VM's current connection, 0 if none. Any control thread. */
uint64_t vv_vhost_vm_features(const struct vv_vm *vm);

/**
 * Name the virtio feature bits set in features, space-separated in a fixed
 * order ("VERSION_1 EVENT_IDX RING_PACKED INDIRECT_DESC SEQPACKET"): every
 * bit the virtio spec names, "bit<N>" for others; the vhost-user bit
 * PROTOCOL_FEATURES is left out (it is not a virtio feature). "none" for 0.
 * The text is cut to fit len (which must be at least 1).
 * @return the length of the full text, as snprintf.
 */
int vv_vhost_features_str(uint64_t features, char *buf, size_t len);

/**
 * A copy of the VM's vhost-user counters (a copy: a reload may free them
 * once this returns). Any control thread.
 * @return 0, or -ENOENT if the VM has no socket.
 */
int vv_vhost_vm_stats(const struct vv_vm *vm, struct vv_vhost_stats *st);

/** "running", "connected" or "waiting" for a VM. Any control thread. */
const char *vv_vhost_vm_state(const struct vv_vm *vm);

#endif
