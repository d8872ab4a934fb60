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

#endif
