/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared by the command line (vv_config.c) and YAML (vv_config_yaml.c)
 * front ends, so that --vm key=val and a YAML "key: val" go through the
 * same code. Not installed, not for other components.
 */
#ifndef VV_CONFIG_PRIVATE_H
#define VV_CONFIG_PRIVATE_H

#include <stddef.h>

#include "vv_config.h"

/** Room for one message before the caller adds its "--vm #N: " prefix. */
#define CONFIG_MSG_MAX 256

/** Keys of one VM; the bit (1u << key) marks it as given. */
enum config_key {
	CONFIG_KEY_GUEST_CID,
	CONFIG_KEY_SOCKET,
	CONFIG_KEY_UDS_PATH,
	CONFIG_KEY_TX_BUFFER_SIZE,
	CONFIG_KEY_QUEUE_SIZE,
	CONFIG_KEY_GROUPS,
	CONFIG_KEY_LCORE,
	CONFIG_KEY_COUNT,
};

void config_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * Append a VM with default values to cfg->vms.
 * @return its index, -EINVAL (too many VMs) or -ENOMEM, with msg set.
 */
int config_vm_add(struct vv_config *cfg, char *msg, size_t msglen);

/**
 * Set one key of a VM from its text value. key may use '-' or '_'.
 * seen collects the keys already given, to refuse a key given twice.
 * @return the key (enum config_key) or -EINVAL with msg naming key and value.
 */
int config_vm_set(struct vv_vm_config *vm, unsigned int *seen, const char *key, const char *val,
		  char *msg, size_t msglen);

/**
 * Check a complete VM against itself and the VMs before it: required
 * paths present, no CID or path shared with an earlier VM.
 * @param bad_key
 *   Receives the key at fault, or -1 when no single key is.
 * @return 0 or -EINVAL with msg.
 */
int config_vm_check(const struct vv_config *cfg, unsigned int idx, int *bad_key, char *msg,
		    size_t msglen);

#endif
