/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to lib/vhost: the checks every vhost-user message passes before
 * rte_vhost handles it. Pure functions over the message bytes, what the
 * adapter found out about the fds it carried (fstat, /proc), and the
 * connection's negotiated state: no rte_vhost, no syscalls, so the unit
 * tests and the libFuzzer target (tests/fuzz) drive them directly.
 *
 * Why so strict: one process serves every VM, and a front-end (QEMU) is
 * as untrusted as its guest. rte_vhost 22.11 dies or leaks on several
 * messages a real QEMU never sends (doc/operations.md, "Hostile
 * front-ends"); only what vsock needs is let through, everything else
 * closes that one front-end's connection.
 */
#ifndef VHOST_MSG_CHECK_H
#define VHOST_MSG_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vv_vhost.h"

/* vhost-user requests (QEMU docs/interop/vhost-user.rst, "Front-end
 * message types"); rte_vhost keeps its own definitions private. */
enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_POSTCOPY_ADVISE = 28,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
};

/* Protocol feature bits the checks know about. */
#define VU_PROTOCOL_F_REPLY_ACK		  3
#define VU_PROTOCOL_F_CONFIG		  9
#define VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15

#define VU_HDR_SIZE	     12u
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_FLAG_VERSION	     0x1u
#define VU_FLAG_REPLY	     0x4u
#define VU_FLAG_NEED_REPLY   0x8u
#define VU_VRING_IDX_MASK    0xffu
#define VU_VRING_NOFD	     0x100u
#define VU_REGIONS_MAX	     8u
/** Rings handed to the backend: rx (0) and tx (1); QEMU keeps the event queue. */
#define VU_VRINGS	   2u
#define VU_VRING_SIZE_MAX  32768u
#define VU_CONFIG_HDR_SIZE 12u
#define VU_CONFIG_MAX	   256u
#define VU_FDS_MAX	   8u

/* Payload layouts, little-endian as on the wire (x86 and arm64 hosts). */
struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
};

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

/** What the adapter found out about one fd a message carried. */
enum vu_fd_kind {
	VU_FD_OTHER,   /**< anything else: pipe, socket, device, directory... */
	VU_FD_REGULAR, /**< a regular file: memfd, tmpfs or hugetlbfs file */
	VU_FD_EVENTFD,
};

struct vu_fd_info {
	enum vu_fd_kind kind;
	uint64_t size; /**< st_size of a regular file */
};

/**
 * What one front-end connection has negotiated, as far as the checks need
 * it. Zero-initialised at connect; vhost_msg_apply() keeps it current.
 */
struct vu_conn_state {
	uint64_t offered_features;	    /**< what GET_FEATURES answers */
	uint64_t offered_protocol_features; /**< what GET_PROTOCOL_FEATURES answers */
	uint64_t features;		    /**< acked by SET_FEATURES */
	uint64_t protocol_features;	    /**< acked by SET_PROTOCOL_FEATURES */
	uint32_t n_regions;		    /**< the last memory table accepted */
	struct vu_region regions[VU_REGIONS_MAX];
	uint32_t vring_num[VU_VRINGS]; /**< SET_VRING_NUM, 0 until given */
};

/** The verdict and, when refused, why (one log line). */
struct vu_verdict {
	bool refused;
	enum vv_vhost_refusal reason;
	char detail[112];
};

/**
 * Check one message.
 * @param msg the header (request, flags, size) then the payload.
 * @param len bytes readable at msg; a message claiming more payload than
 *   len - VU_HDR_SIZE is refused.
 * @param fds what each fd carried by the message is; nfds of them.
 * @return true if the message may go on to rte_vhost; otherwise v says why.
 */
bool vhost_msg_check(const void *msg, size_t len, const struct vu_fd_info *fds, unsigned int nfds,
		     const struct vu_conn_state *st, struct vu_verdict *v);

/** Record what an accepted message negotiated (features, memory table, ring sizes). */
void vhost_msg_apply(const void *msg, struct vu_conn_state *st);

/** The request code of a message (first 4 bytes). */
uint32_t vhost_msg_request(const void *msg);

#endif
