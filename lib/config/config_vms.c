/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The list of VMs: each new VM starts from the defaults of the key table,
 * takes its keys one by one (config_vm_set), and is then checked as a
 * whole against the VMs before it (config_vm_check). The front doors call
 * these as they read; vv_config_validate runs the same checks over a
 * configuration built by any other means, and vv_config_vm_diff tells a
 * reload which VMs changed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vv_config.h"
#include "config_private.h"

int
config_vm_add(struct vv_config *cfg, char *msg, size_t msglen)
{
	struct vv_vm_config *vms, *vm;

	if (cfg->n_vms >= VV_VMS_MAX) {
		config_err(msg, msglen, "too many VMs (at most %u)", VV_VMS_MAX);
		return -EINVAL;
	}
	/* One realloc per VM: at most VV_VMS_MAX of them, when a file is read. */
	vms = realloc(cfg->vms, (cfg->n_vms + 1) * sizeof(*vms));
	if (vms == NULL) {
		config_err(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	cfg->vms = vms;
	vm = &vms[cfg->n_vms];
	memset(vm, 0, sizeof(*vm));
	for (unsigned int k = 0; k < n_config_keys; k++)
		config_key_reset(k, vm);
	return (int) cfg->n_vms++;
}

int
config_vm_set(struct vv_vm_config *vm, uint64_t *seen, const char *key, const char *val, char *msg,
	      size_t msglen)
{
	int k = config_key_lookup(key, strlen(key), true);
	int rc;

	if (k < 0) {
		config_err(msg, msglen, "unknown key '%s'", key);
		return -EINVAL;
	}
	if (*seen & (1ull << k)) {
		config_err(msg, msglen, "%s: given twice", key);
		return -EINVAL;
	}
	*seen |= 1ull << k;
	rc = config_key_set((unsigned int) k, vm, key, val, msg, msglen);
	return rc < 0 ? rc : k;
}

/* Within one VM, two unique keys may not hold one value (its socket is not
 * its uds). The key named is the later one of the table. */
static int
check_within(const struct vv_vm_config *vm, int *bad_key, char *msg, size_t msglen)
{
	char val[VV_PATH_MAX + 2];

	for (unsigned int a = 0; a < n_config_keys; a++) {
		for (unsigned int b = a + 1; b < n_config_keys; b++) {
			if (!config_key_clash(a, vm, b, vm))
				continue;
			*bad_key = (int) b;
			config_keys[a].type->format(&config_keys[a], vm, val, sizeof(val));
			config_err(msg, msglen, "%s and %s are the same path %s",
				   config_keys[a].name, config_keys[b].name, val);
			return -EINVAL;
		}
	}
	return 0;
}

/* Against one earlier VM o (number j + 1 in messages). */
static int
check_against(const struct vv_vm_config *vm, const struct vv_vm_config *o, unsigned int j,
	      int *bad_key, char *msg, size_t msglen)
{
	char val[VV_PATH_MAX + 2];

	for (unsigned int a = 0; a < n_config_keys; a++) {
		for (unsigned int b = 0; b < n_config_keys; b++) {
			if (!config_key_clash(a, vm, b, o))
				continue;
			*bad_key = (int) a;
			config_keys[a].type->format(&config_keys[a], vm, val, sizeof(val));
			if (!config_keys[a].type->host_file)
				config_err(msg, msglen, "duplicate %s %s (also VM #%u)",
					   config_keys[a].name, val, j + 1);
			else
				config_err(msg, msglen, "duplicate %s %s (also %s of VM #%u)",
					   config_keys[a].name, val, config_keys[b].name, j + 1);
			return -EINVAL;
		}
	}
	return 0;
}

int
config_vm_check(const struct vv_config *cfg, unsigned int idx, int *bad_key, char *msg,
		size_t msglen)
{
	const struct vv_vm_config *vm = &cfg->vms[idx];

	*bad_key = -1;
	for (unsigned int k = 0; k < n_config_keys; k++) {
		const struct config_key *key = &config_keys[k];

		if ((key->flags & CONFIG_F_REQUIRED) && key->type->missing(key, vm)) {
			config_err(msg, msglen, "missing %s", key->name);
			return -EINVAL;
		}
	}
	if (check_within(vm, bad_key, msg, msglen) != 0)
		return -EINVAL;
	for (unsigned int j = 0; j < idx; j++)
		if (check_against(vm, &cfg->vms[j], j, bad_key, msg, msglen) != 0)
			return -EINVAL;
	return 0;
}

int
vv_config_validate(const struct vv_config *cfg, char *err, size_t errlen)
{
	char why[CONFIG_MSG_MAX];
	unsigned int i;
	int bad;

	if (cfg->idle_sleep_us > CONFIG_IDLE_SLEEP_US_MAX) {
		config_err(err, errlen, "--idle-sleep-us: '%" PRIu32 "' is too large (at most %u)",
			   cfg->idle_sleep_us, CONFIG_IDLE_SLEEP_US_MAX);
		return -EINVAL;
	}
	if (cfg->n_vms > VV_VMS_MAX) {
		config_err(err, errlen, "%u VMs, at most %u", cfg->n_vms, VV_VMS_MAX);
		return -EINVAL;
	}
	if (cfg->action == VV_CONFIG_RUN && cfg->n_vms == 0) {
		config_err(err, errlen,
			   "no VM configured: give --socket and --uds-path, --vm or --config");
		return -EINVAL;
	}
	for (i = 0; i < cfg->n_vms; i++) {
		for (unsigned int k = 0; k < n_config_keys; k++) {
			const struct config_key *key = &config_keys[k];

			if (key->type->check(key, &cfg->vms[i], key->name, why, sizeof(why)) != 0)
				goto fail;
		}
		if (config_vm_check(cfg, i, &bad, why, sizeof(why)) != 0)
			goto fail;
	}
	return 0;

fail:
	config_err(err, errlen, "VM #%u: %s", i + 1, why);
	return -EINVAL;
}

unsigned int
vv_config_vm_diff(const struct vv_vm_config *a, const struct vv_vm_config *b, char *what,
		  size_t whatlen)
{
	unsigned int n = 0;
	size_t used = 0;

	config_err(what, whatlen, "%s", "");
	for (unsigned int k = 0; k < n_config_keys; k++) {
		const struct config_key *key = &config_keys[k];

		if (key->type->equal(key, a, key, b))
			continue;
		if (what != NULL && used < whatlen)
			used += snprintf(what + used, whatlen - used, "%s%s", n ? ", " : "",
					 key->name);
		n++;
	}
	return n;
}

int
vv_config_vm_find(const struct vv_config *cfg, uint64_t guest_cid)
{
	for (unsigned int i = 0; i < cfg->n_vms; i++)
		if (cfg->vms[i].guest_cid == guest_cid)
			return (int) i;
	return -ENOENT;
}

void
vv_config_free(struct vv_config *cfg)
{
	free(cfg->vms);
	memset(cfg, 0, sizeof(*cfg));
}
