/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Worker lcores and the VMs they own.
 *
 * Every VM belongs to exactly one worker lcore (the one with the fewest VMs,
 * or its `lcore` key), and only that lcore touches its datapath state.
 * Control threads (rte_vhost's vhost-events thread, telemetry, main) reach a
 * VM's state only through vv_worker_vm_call(), which runs a function on the
 * owning lcore between two poll rounds and waits for it: no lock on the
 * datapath. The main lcore does not poll; it runs the control side.
 *
 * VMs come and go at run time (a reload): one control thread, main, adds
 * and removes them. An lcore starts and stops polling a VM through its own
 * mailbox, between two rounds. The CID table of lib/route is read by every
 * lcore without a lock: each lcore reports a quiescent state to an
 * rte_rcu_qsbr every poll round (and goes offline while it sleeps), and
 * what a change of the table retires is freed after all of them did.
 * Other control threads (telemetry) hold vv_worker_vms_lock() while they
 * use VMs found in the table, so none is freed under them.
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
 * Set up the worker lcores and the CID table, and add every VM of cfg
 * (vv_worker_vm_add: its host listening sockets on uds_path and
 * uds_path.seqpacket, its vsock state, its lcore). EAL must be initialised.
 * @return 0; -EINVAL (no worker lcore, or a VM pinned to a lcore that is
 *   not an enabled worker), or a vv_uds_listen error; err names the VM.
 */
int vv_worker_init(const struct vv_config *cfg, char *err, size_t errlen);

/**
 * The worker lcore a VM of cfg goes to if added now: its `lcore` key, or
 * the worker with the fewest VMs (the lowest on a tie, so VMs go
 * round-robin in configuration order when none is pinned).
 * @return the lcore id, or -EINVAL with err naming the VM when its lcore
 *   key is not an enabled worker lcore.
 */
int vv_worker_place(const struct vv_vm_config *cfg, char *err, size_t errlen);

/**
 * Add a VM at run time (or at start): listen on its uds_path, add it to the
 * CID table, create its vsock state and have its lcore poll it. The
 * vhost-user side is lib/vhost's (vv_vhost_vm_add). Main thread only.
 * @return the VM, or NULL with errno set and err naming the VM: EINVAL
 *   (lcore), a vv_uds_listen error, ENOSPC (CID table or lcore full), ENOMEM.
 */
struct vv_vm *vv_worker_vm_add(const struct vv_vm_config *cfg, char *err, size_t errlen);

/**
 * Remove a VM and free it: out of the table, its lcore stops polling it, its
 * host sockets and listener are closed, uds_path is unlinked, and its CID
 * table endpoint is freed after every lcore went through a poll round.
 * Call vv_vhost_vm_remove() first (no vhost-user callback may use the VM),
 * and vv_worker_drain_vms() before that for its streams to end with RST.
 * Main thread only.
 */
void vv_worker_vm_remove(struct vv_vm *vm);

/**
 * Apply the keys of cfg that take effect without a restart: queue_size
 * (checked the next time the guest driver starts) and lcore, when the VM
 * already runs there or the key is dropped (it stays). Main thread only.
 */
void vv_worker_vm_update(struct vv_vm *vm, const struct vv_vm_config *cfg);

/** Put the table in cfg's order (VMs cfg does not name go last). Main thread only. */
void vv_worker_vm_order(const struct vv_config *cfg);

/** Launch the poll loop on every worker lcore. @return 0 or -errno. */
int vv_worker_start(uint32_t idle_sleep_us);

/**
 * Before stopping: every VM stops accepting host connections and resets its
 * streams (RST to the guest); wait up to timeout_ms for the RSTs to reach
 * the guests (a guest that posts no rx buffers is not waited for longer).
 * @return RSTs still owed when the wait ended.
 */
unsigned int vv_worker_drain(unsigned int timeout_ms);

/** vv_worker_drain for n VMs only (those a reload removes). No log. */
unsigned int vv_worker_drain_vms(struct vv_vm *const *vms, unsigned int n, unsigned int timeout_ms);

/** Stop the poll loops and wait for them. */
void vv_worker_stop(void);

/** Free every VM: close host sockets and listeners, unlink the uds paths. */
void vv_worker_fini(void);

/**
 * Keep the VM table as it is (no VM added, removed, freed or reordered)
 * until vv_worker_vms_unlock(). For control threads other than main, around
 * their use of vv_worker_vm_count(), vv_worker_vm(), vv_worker_vm_by_cid()
 * and of the VMs they return. Never held by an lcore; a holder may call
 * vv_worker_vm_call().
 */
void vv_worker_vms_lock(void);
void vv_worker_vms_unlock(void);

unsigned int vv_worker_vm_count(void);
/** The i-th VM in configuration order, or NULL. */
struct vv_vm *vv_worker_vm(unsigned int i);
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
