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

/** virtio features offered: only what the datapath implements. */
#define VV_VHOST_FEATURES                                                                     \
	((1ull << 32) /* VIRTIO_F_VERSION_1 */ | (1ull << 29) /* VIRTIO_RING_F_EVENT_IDX */ | \
	 (1ull << 30) /* VHOST_USER_F_PROTOCOL_FEATURES */)

/**
 * vhost-user protocol features offered. CONFIG (9) is required by QEMU's
 * vhost-user-vsock to read the guest CID; REPLY_ACK (3) lets the front-end
 * wait for SET_MEM_TABLE. STATUS (16) is never offered: QEMU 7.2's vsock
 * never sends DRIVER_OK, so the device would never start.
 */
#define VV_VHOST_PROTOCOL_FEATURES ((1ull << 9) | (1ull << 3))

struct vv_vm;

/**
 * Register and start one vhost-user server socket per VM of lib/worker
 * (vv_vhost_vm_add for each).
 * @return 0, or -errno with err naming the socket.
 */
int vv_vhost_start(char *err, size_t errlen);

/**
 * Register and start the vhost-user socket of a VM lib/worker added (at
 * start or by a reload). A stale socket file is replaced, a live one
 * refused. Main thread.
 * @return 0, or -errno with err naming the socket (nothing left registered).
 */
int vv_vhost_vm_add(struct vv_vm *vm, char *err, size_t errlen);

/**
 * Unregister a VM's socket: a running device is destroyed first (the lcore
 * detaches from guest memory), a connected front-end is disconnected, the
 * socket file is unlinked. After return no vhost-user callback uses the VM.
 * Main thread, before vv_worker_vm_remove().
 */
void vv_vhost_vm_remove(struct vv_vm *vm);

/** Unregister every socket (destroying running devices) and unlink the files. */
void vv_vhost_stop(void);

/** Negotiated virtio features of a VM's current connection, 0 if none. Any control thread. */
uint64_t vv_vhost_vm_features(const struct vv_vm *vm);

/** "running", "connected" or "waiting" for a VM. Any control thread. */
const char *vv_vhost_vm_state(const struct vv_vm *vm);

#endif
