/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * DPDK telemetry commands of dpdk-vhost-vsock (read them with
 * dpdk-telemetry.py -f <EAL file prefix>):
 *
 *   /vsock/vms[,<first>]         guest CIDs, in configuration order (at
 *                                most 512 per reply, from index <first>)
 *   /vsock/vm,<cid>              state, features, lcore, paths, counters
 *   /vsock/conns,<cid>[,<first>] the VM's connections, keyed
 *                                "<guest port>_<host port>"
 *   /vsock/lcores                load of every worker lcore, keyed by lcore
 *   /vsock/config[,<cid>]        the running configuration, VMs keyed by
 *                                CID; with a CID, that VM's keys alone
 *
 * A bad or missing parameter, or an unknown CID, gets a null reply.
 *
 * Threads: the commands run on DPDK's telemetry client threads (one per
 * connected client; the commands run one at a time). They read the VM
 * table, the configuration and the single-writer counters directly, holding
 * lib/worker's table lock so that a reload frees no VM under them; anything
 * that walks datapath structures (the connection table) runs on the VM's
 * lcore through vv_worker_vm_call().
 *
 * DPDK 22.11 writes each reply into 16 KiB and silently leaves out whatever
 * does not fit, so the lists here stop early on their own and say how many
 * entries they left out.
 */
#ifndef VV_TELEMETRY_H
#define VV_TELEMETRY_H

#include <vv_config.h>

/**
 * Register the /vsock/ commands. Call once, after vv_vhost_start(): the
 * commands read lib/worker's VM table and lib/vhost's per-VM state.
 * Only idle_sleep_us and config_file are taken from cfg (copied); the VMs'
 * keys are read from lib/worker's own copy.
 * @return 0; -EALREADY if called before; -EINVAL or -ENOENT if DPDK refused
 *   a command (its table is full).
 */
int vv_telemetry_init(const struct vv_config *cfg);

/**
 * Stop answering (every command then gets a null reply) and wait for the
 * commands in flight. Call before vv_vhost_stop() and vv_worker_fini():
 * DPDK 22.11 has no way to unregister a command, and its client threads
 * outlive the VM table. Safe to call without vv_telemetry_init().
 */
void vv_telemetry_stop(void);

#endif
