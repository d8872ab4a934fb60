/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The keys of one VM. This table is what --vm, the single-VM flags, the
 * YAML file, --help and every message about a key read: a new key is one
 * line here and its field in struct vv_vm_config (and its words in
 * doc/configuration.md). How each kind of value is read and checked is in
 * config_types.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vv_config.h"
#include "config_private.h"

#define LCORE_MAX      1023u
#define QUEUE_SIZE_MIN 2u

#define AT(field) offsetof(struct vv_vm_config, field)

const struct config_key config_keys[] = {
	/* name, flag, type, flags, offset, min, max, default, arg, help, note */
	{ "guest_cid", "guest-cid", &config_cid, CONFIG_F_UNIQUE, AT(guest_cid), 3, UINT32_MAX - 1,
	  "3", "N", "guest CID", NULL },
	{ "socket", "socket", &config_path, CONFIG_F_REQUIRED | CONFIG_F_UNIQUE, AT(socket), 1,
	  VV_PATH_MAX - 1, NULL, "PATH", "vhost-user socket the VMM connects to", NULL },
	{ "uds_path", "uds-path", &config_path, CONFIG_F_REQUIRED | CONFIG_F_UNIQUE, AT(uds_path),
	  1, VV_UDS_PATH_MAX, NULL, "PATH", "host Unix socket of the VM", NULL },
	{ "tx_buffer_size", "tx-buffer-size", &config_uint, 0, AT(tx_buffer_size),
	  VV_TX_BUFFER_SIZE_MIN, VV_TX_BUFFER_SIZE_MAX, "65536", "N",
	  "bytes buffered per connection",
	  "also the largest SEQPACKET message either way, at most 1048576" },
	{ "queue_size", "queue-size", &config_pow2, 0, AT(queue_size), QUEUE_SIZE_MIN,
	  VV_QUEUE_SIZE_MAX, "1024", "N", "largest virtqueue size",
	  "a split ring's size must be a power of two, a packed ring (QEMU packed=on) may have "
	  "any size up to it" },
	{ "groups", "groups", &config_groups, 0, AT(n_groups), 1, VV_GROUPS_MAX, VV_DEFAULT_GROUP,
	  "A+B+...", "the VM's groups",
	  "VMs that share a group may open streams to each other (guest to guest, by CID); "
	  "others get a reset" },
	{ "lcore", NULL, &config_index, 0, AT(lcore), 0, LCORE_MAX, NULL, "N",
	  "worker lcore to run the VM on",
	  "by default a VM goes to the worker lcore with the fewest VMs (round-robin)" },
	{ "max_connections", "max-connections", &config_uint, 0, AT(max_connections), 1,
	  VV_MAX_CONNECTIONS_MAX, "2048", "N", "live streams of the VM",
	  "a guest that opens more gets a reset, a host client is closed" },
	{ "max_pending_connects", "max-pending-connects", &config_uint, 0, AT(max_pending_connects),
	  1, VV_MAX_CONNECTIONS_MAX, "128", "N",
	  "host clients on uds_path (or .seqpacket) still to send their CONNECT line",
	  "when a new one comes, the oldest is closed" },
	{ "socket_user", "socket-user", &config_user, 0, AT(socket_uid), 0, 0, NULL, "USER",
	  "owner of the vhost-user socket", NULL },
	{ "socket_group", "socket-group", &config_group, 0, AT(socket_gid), 0, 0, NULL, "GROUP",
	  "group of the vhost-user socket", NULL },
	{ "socket_mode", "socket-mode", &config_mode, 0, AT(socket_mode), 1, 0777, NULL, "MODE",
	  "mode of the vhost-user socket",
	  "connecting takes write permission; by default the umask decides" },
	{ "uds_user", "uds-user", &config_user, 0, AT(uds_uid), 0, 0, NULL, "USER",
	  "owner of the uds_path (and .seqpacket) socket", NULL },
	{ "uds_group", "uds-group", &config_group, 0, AT(uds_gid), 0, 0, NULL, "GROUP",
	  "group of the uds_path (and .seqpacket) socket", NULL },
	{ "uds_mode", "uds-mode", &config_mode, 0, AT(uds_mode), 1, 0777, NULL, "MODE",
	  "mode of the uds_path (and .seqpacket) socket", NULL },
};
const unsigned int n_config_keys = sizeof(config_keys) / sizeof(config_keys[0]);

_Static_assert(sizeof(config_keys) / sizeof(config_keys[0]) <= CONFIG_KEYS_MAX,
	       "the keys given for a VM are bits of a uint64_t");

/* Key names match with '-' standing for '_' (rust-vmm accepts both). */
int
config_key_lookup(const char *name, size_t len, bool any_dash)
{
	for (unsigned int k = 0; k < n_config_keys; k++) {
		const char *want = any_dash ? config_keys[k].name : config_keys[k].flag;
		size_t i = 0;

		if (want == NULL)
			continue;
		while (i < len && want[i] != '\0' &&
		       (name[i] == want[i] || (any_dash && name[i] == '-' && want[i] == '_')))
			i++;
		if (i == len && want[i] == '\0')
			return (int) k;
	}
	return -1;
}

void
config_key_reset(unsigned int k, struct vv_vm_config *vm)
{
	const struct config_key *key = &config_keys[k];

	/* Defaults are written as a user would write them, and read the same
	 * way: --help shows exactly what a VM gets. */
	if (key->def != NULL)
		config_key_set(k, vm, key->name, key->def, NULL, 0);
	else
		key->type->clear(key, vm);
}

int
config_key_set(unsigned int k, struct vv_vm_config *vm, const char *name, const char *val,
	       char *msg, size_t msglen)
{
	const struct config_key *key = &config_keys[k];

	if (key->type->parse(key, vm, name, val, msg, msglen) != 0)
		return -EINVAL;
	return key->type->check(key, vm, name, msg, msglen);
}

/* Host paths are one namespace: a path is one VM's socket or one VM's uds,
 * never both, so every unique path key clashes with every other. */
bool
config_key_clash(unsigned int ka, const struct vv_vm_config *a, unsigned int kb,
		 const struct vv_vm_config *b)
{
	const struct config_key *x = &config_keys[ka], *y = &config_keys[kb];

	if (!(x->flags & y->flags & CONFIG_F_UNIQUE))
		return false;
	if (ka != kb && !(x->type == y->type && x->type->host_file))
		return false;
	return x->type->equal(x, a, y, b);
}
