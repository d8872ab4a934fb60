/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Worker lcores and the VMs they own.
 *
 * Every VM belongs to exactly one worker lcore (round-robin, or its `lcore`
 * key), and only that lcore touches its datapath state. Control threads
 * (rte_vhost's vhost-events thread, telemetry, main) reach a VM's state only
 * through vv_worker_vm_call(), which runs a function on the owning lcore
 * between two poll rounds and waits for it: no lock on the datapath.
 * The main lcore does not poll; it runs the control side.
 */
#ifndef VV_WORKER_H
#define VV_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>

#include <vv_config.h>
#include <vv_virtq.h>
#include <vv_vsock.h>

struct vv_vm;

/**
 * Create every VM of cfg: its host listening sockets on uds_path and
 * uds_path.seqpacket and its vsock state, and assign it to a worker lcore.
 * EAL must be initialised.
 * @return 0; -EINVAL (no worker lcore, or a VM pinned to a lcore that is
 *   not an enabled worker), or a vv_uds_listen error; err names the VM.
 */
int vv_worker_init(const struct vv_config *cfg, char *err, size_t errlen);

/** Launch the poll loop on every worker lcore. @return 0 or -errno. */
int vv_worker_start(uint32_t idle_sleep_us);

/**
 * Before stopping: every VM stops accepting host connections and resets its
 * streams (RST to the guest); wait up to timeout_ms for the RSTs to reach
 * the guests (a guest that posts no rx buffers is not waited for longer).
 * @return connections still open when the wait ended.
 */
unsigned int vv_worker_drain(unsigned int timeout_ms);

/** Stop the poll loops and wait for them. */
void vv_worker_stop(void);

/** Free every VM: close host sockets and listeners, unlink the uds paths. */
void vv_worker_fini(void);

unsigned int vv_worker_vm_count(void);
struct vv_vm *vv_worker_vm(unsigned int i);
/** The VM whose vhost-user socket is path, or NULL. */
struct vv_vm *vv_worker_vm_by_socket(const char *path);
/** The VM with this guest CID, or NULL. */
struct vv_vm *vv_worker_vm_by_cid(uint64_t cid);
const struct vv_vm_config *vv_worker_vm_config(const struct vv_vm *vm);
unsigned int vv_worker_vm_lcore(const struct vv_vm *vm);
/** The VM's counters (live, single writer). */
const struct vv_vsock_stats *vv_worker_vm_stats(const struct vv_vm *vm);

/**
 * Run fn(vs, arg) on the VM's lcore and wait until it returned (directly,
 * if the workers are not running). Control threads only; serialised per VM.
 * @return fn's return value.
 */
int vv_worker_vm_call(struct vv_vm *vm, int (*fn)(struct vv_vsock *vs, void *arg), void *arg);

/** Start the datapath on the guest's rings (vv_vsock_attach on the lcore, with the
 *  virtio features the driver negotiated). */
int vv_worker_vm_attach(struct vv_vm *vm, uint64_t features, const struct vv_mem *mem,
			const struct vv_virtq *rxq, const struct vv_virtq *txq);

/** Stop touching guest memory; the final ring state is copied out. */
void vv_worker_vm_detach(struct vv_vm *vm, struct vv_virtq *rxq, struct vv_virtq *txq);

/** Like detach, but the VM's connections survive (memory remap); attach resumes. */
void vv_worker_vm_pause(struct vv_vm *vm, struct vv_virtq *rxq, struct vv_virtq *txq);

/** Load figures of one worker lcore. */
struct vv_worker_lcore_stats {
	uint64_t busy_cycles; /**< TSC cycles in rounds that did work */
	uint64_t idle_cycles; /**< TSC cycles in idle rounds (sleep included) */
	uint64_t rounds;
	unsigned int n_vms;
};

/** @return 0, or -EINVAL if lcore is not a worker. */
int vv_worker_lcore_stats(unsigned int lcore, struct vv_worker_lcore_stats *st);

#endif
