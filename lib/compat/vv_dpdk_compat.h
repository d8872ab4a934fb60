/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Every difference between the DPDK releases we build against, in one place.
 *
 * Supported: DPDK 22.11 (Debian 12), 24.11 (Debian 13), 25.11 (Debian
 * unstable). The code calls the newest API name; where an older release
 * names it differently, this header maps the new name onto the old one,
 * keyed on RTE_VERSION, so call sites carry no #if.
 *
 * - Telemetry unsigned values: DPDK 23.03 renamed rte_tel_data_add_dict_u64
 *   and rte_tel_data_add_array_u64 to ..._uint (and RTE_TEL_U64_VAL to
 *   RTE_TEL_UINT_VAL), deprecated the old names in 24.11 and removed them in
 *   25.11.
 * - rte_vhost's message hooks (pre_msg_handle, post_msg_handle) receive its
 *   private struct vhu_msg_context: the message (12-byte header and the
 *   payload union), then int fds[8] and int fd_num, packed. DPDK 25.03 grew
 *   the payload union from 632 to 1072 bytes (asymmetric crypto session
 *   parameters), which moved the fds. VV_VHOST_MSG_FDS_OFFSET says where
 *   they are; tests/unit/vhost/test_vhost_layout.c checks it against the
 *   rte_vhost the tree is built with, by handing real fds through a socket.
 */
#ifndef VV_DPDK_COMPAT_H
#define VV_DPDK_COMPAT_H

#include <stdint.h>

#include <rte_telemetry.h>
#include <rte_version.h>

#if RTE_VERSION < RTE_VERSION_NUM(23, 3, 0, 0)
#define RTE_TEL_UINT_VAL RTE_TEL_U64_VAL

static inline int
rte_tel_data_add_dict_uint(struct rte_tel_data *d, const char *name, uint64_t val)
{
	return rte_tel_data_add_dict_u64(d, name, val);
}

static inline int
rte_tel_data_add_array_uint(struct rte_tel_data *d, uint64_t x)
{
	return rte_tel_data_add_array_u64(d, x);
}
#endif

#if RTE_VERSION < RTE_VERSION_NUM(25, 3, 0, 0)
#define VV_VHOST_MSG_PAYLOAD_MAX 632
#else
#define VV_VHOST_MSG_PAYLOAD_MAX 1072
#endif
/** Byte offset of int fds[8] in rte_vhost's message context; int fd_num follows. */
#define VV_VHOST_MSG_FDS_OFFSET (12 + VV_VHOST_MSG_PAYLOAD_MAX)
#define VV_VHOST_MSG_FDS_MAX	8

#endif
