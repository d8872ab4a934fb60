/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The SIGBUS guard for guest memory, process-wide.
 *
 * Guest memory is a file the front-end (QEMU) shares with us. If that file
 * shrinks after we mapped it (ftruncate on a memfd without F_SEAL_SHRINK,
 * or on a hugetlbfs file, which cannot be sealed), the next access to a
 * page past its new end raises SIGBUS, on whatever thread touched it: a
 * worker lcore copying a packet, or rte_vhost reading a ring. Checking
 * sizes when the memory table arrives cannot prevent this, and checking
 * before every access would cost the datapath; so, as SPDK does, the
 * handler repairs the fault instead:
 *
 * - the faulting page is replaced by anonymous memory (the access then
 *   completes, reading zeros), so the thread goes on;
 * - the fault is counted for the region's owner (a VM) and an eventfd
 *   becomes readable, so a control thread can take that VM down
 *   (lib/vhost: its front-end is disconnected, its streams reset);
 * - a SIGBUS outside every registered region is not ours: it goes to the
 *   handler installed before (a sanitizer's, say) or takes the default
 *   action, so the process still dies as it should.
 *
 * The table of regions is a fixed array of slots read by the handler
 * without locks (atomics only); registering and removing are control-path
 * operations. A region must be removed before it is unmapped.
 */
#ifndef VV_GUARD_H
#define VV_GUARD_H

#include <stddef.h>
#include <stdint.h>

/** Regions the table holds: 8 per vhost-user connection, 1024 connections. */
#define VV_GUARD_SLOTS 8192
/** Files guarded by identity (vv_guard_add_file) at once. */
#define VV_GUARD_FILES 256

/**
 * Install the SIGBUS handler (once; later calls only grow nothing and
 * return 0). n_owners owners (VMs) are numbered 0 to n_owners - 1.
 * @return 0, -ENOMEM, or -errno of eventfd/sigaction.
 */
int vv_guard_init(unsigned int n_owners);

/** Restore the previous SIGBUS action, close the eventfd, forget every region. */
void vv_guard_fini(void);

/**
 * Guard [start, start + len), owned by owner. page is the mapping's page
 * size (st_blksize of the file: 4 KiB, or the huge page size on
 * hugetlbfs), a power of two; start and len should be multiples of it.
 * @return a slot id >= 0, -EINVAL (bad owner, page or range), -ENOSPC.
 */
int vv_guard_add(uintptr_t start, size_t len, size_t page, unsigned int owner);

/**
 * Guard every mapping of one file (device dev, inode ino), wherever it is
 * mapped. For the moment between a memory table's check and its mapping,
 * when the addresses are not known yet: a fault outside the registered
 * regions is then looked up in /proc/self/maps (only while such files are
 * registered) and repaired if it lies in a mapping of one of them.
 * @return an id >= 0 (for vv_guard_del), -EINVAL, -ENOSPC.
 */
int vv_guard_add_file(uint64_t dev, uint64_t ino, size_t page, unsigned int owner);

/** Stop guarding a region or file (before unmapping it). Negative ids are ignored. */
void vv_guard_del(int slot);

/** Readable (eventfd) after the handler survived a fault; read it to re-arm. */
int vv_guard_eventfd(void);

/** Faults survived in regions of owner since init. */
uint64_t vv_guard_faults(unsigned int owner);

/** Address of the last fault survived in owner's regions, 0 if none. */
uintptr_t vv_guard_last_addr(unsigned int owner);

#endif
