/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside lib/config: one core that holds and checks a VM's settings, and
 * the front doors that only feed it text. A file calls only files below
 * it in this list:
 *
 *   config_cli.c     front door: argv (single-VM flags, --vm, --config)
 *   config_help.c    --help, its VM keys made from the key table
 *   config_yaml.c    front door: a YAML file of VMs (--config, a reload)
 *   config_vms.c     the VM list: defaults, required keys, duplicates
 *                    across VMs, vv_config_validate, vv_config_vm_diff
 *   config_keys.c    the key table: names, flags, limits, defaults, help
 *   config_groups.c  the "a+b" group list, a type like those below
 *   config_perm.c    socket modes, owners and groups, types like those below
 *   config_types.c   numbers and paths: how text is read and checked, and
 *                    the messages that refuse it; config_err
 *
 * A front door adds where a value came from ("--vm #2: ", "vms.yaml line
 * 4: ") in front of the message the core wrote; it never checks a value
 * itself. Not installed, not for other components.
 */
#ifndef VV_CONFIG_PRIVATE_H
#define VV_CONFIG_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vv_config.h"

/** Room for one message before a front door adds its prefix. */
#define CONFIG_MSG_MAX 256

/** Upper bound of the key table: the keys given for a VM are bits of a uint64_t. */
#define CONFIG_KEYS_MAX 64

/* A worker that sleeps longer than this between polls is a stalled device. */
#define CONFIG_IDLE_SLEEP_US_MAX 1000000u

/** The key must be given for every VM. */
#define CONFIG_F_REQUIRED (1u << 0)
/** No two VMs may share the value (a path: with any other unique path). */
#define CONFIG_F_UNIQUE (1u << 1)

struct config_key;

/**
 * A kind of value (config_types.c): how its text is read, how it is stored
 * at the key's offset, checked against the key's limits, compared and shown.
 * name, in the functions that write a message, is the key as the user
 * spelled it; every message starts with it.
 */
struct config_type {
	/** Read val into vm; the limits are check's. @return 0 or -EINVAL. */
	int (*parse)(const struct config_key *key, struct vv_vm_config *vm, const char *name,
		     const char *val, char *msg, size_t msglen);
	/** Check the value against key's limits. @return 0 or -EINVAL. */
	int (*check)(const struct config_key *key, const struct vv_vm_config *vm, const char *name,
		     char *msg, size_t msglen);
	/** Set the value of a key that has no default: "not given". */
	void (*clear)(const struct config_key *key, struct vv_vm_config *vm);
	/** True if the value is still the one clear gives. */
	bool (*missing)(const struct config_key *key, const struct vv_vm_config *vm);
	/** True if a's ka and b's kb hold the same value (kb of this type too). */
	bool (*equal)(const struct config_key *ka, const struct vv_vm_config *a,
		      const struct config_key *kb, const struct vv_vm_config *b);
	/** The value as a message shows it: 4, '/tmp/a', a+b. */
	void (*format)(const struct config_key *key, const struct vv_vm_config *vm, char *buf,
		       size_t len);
	/** key's limits as --help says them: "3 to 4294967294". */
	void (*limits)(const struct config_key *key, char *buf, size_t len);
	/** Values name host files: two unique keys of this type share one namespace. */
	bool host_file;
};

extern const struct config_type config_cid;    /**< uint64_t; 0-2 reserved, below CID_ANY */
extern const struct config_type config_uint;   /**< uint32_t from min to max */
extern const struct config_type config_pow2;   /**< uint32_t, a power of two, min to max */
extern const struct config_type config_index;  /**< int from min to max, -1: not given */
extern const struct config_type config_path;   /**< char[VV_PATH_MAX], 1 to max bytes */
extern const struct config_type config_groups; /**< config_groups.c: "a+b", min to max names */
extern const struct config_type config_mode;  /**< config_perm.c: int, octal min to max, -1 unset */
extern const struct config_type config_user;  /**< config_perm.c: int64_t uid, -1 unset */
extern const struct config_type config_group; /**< config_perm.c: int64_t gid, -1 unset */

/** One per-VM key: the one place that says what it is and how it is checked. */
struct config_key {
	const char *name;		/**< as in YAML and --vm; '-' may stand for '_' */
	const char *flag;		/**< single-VM flag without "--", NULL if none */
	const struct config_type *type; /**< how it is read, stored and checked */
	unsigned int flags;		/**< CONFIG_F_* */
	size_t offset;			/**< of the value in struct vv_vm_config */
	uint64_t min, max;		/**< range of a number; of a path's length; of a list's */
	const char *def;		/**< default as a user writes it, NULL if none */
	const char *arg;		/**< placeholder in --help: N, PATH, A+B+... */
	const char *help;		/**< what it is, for --help */
	const char *note;		/**< more for --help after the limits, or NULL */
};

/** The keys, in the order of --help and of the checks; n_config_keys of them. */
extern const struct config_key config_keys[];
extern const unsigned int n_config_keys;

/* config_types.c: values */

/** Write a message into err (which may be NULL); formats like printf. */
void config_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * Read a decimal number: no sign, no spaces, no base prefix.
 * name starts each message ("--idle-sleep-us: 'x' is not a number").
 * @return 0, or -EINVAL with msg.
 */
int config_parse_u64(const char *name, const char *val, uint64_t max, uint64_t *out, char *msg,
		     size_t msglen);

/* config_keys.c: the key table */

/**
 * The key called name (len bytes, need not end there). With any_dash,
 * '-' matches '_' (--vm and YAML); without, name must be the flag.
 * @return the key's index, or -1.
 */
int config_key_lookup(const char *name, size_t len, bool any_dash);

/** Give vm key k's default, or its "not given" value. */
void config_key_reset(unsigned int k, struct vv_vm_config *vm);

/**
 * Read val into vm's key k and check it; name is the key as the user
 * spelled it and starts every message.
 * @return 0, or -EINVAL with msg.
 */
int config_key_set(unsigned int k, struct vv_vm_config *vm, const char *name, const char *val,
		   char *msg, size_t msglen);

/** True if key ka of a and key kb of b are one unique value (the same path). */
bool config_key_clash(unsigned int ka, const struct vv_vm_config *a, unsigned int kb,
		      const struct vv_vm_config *b);

/* config_vms.c: the list of VMs */

/**
 * Append a VM with every key at its default.
 * @return its index, -EINVAL (too many VMs) or -ENOMEM, with msg set.
 */
int config_vm_add(struct vv_config *cfg, char *msg, size_t msglen);

/**
 * Set one key of a VM from its text value; key may use '-' or '_'.
 * seen collects the keys already given, to refuse a key given twice.
 * @return the key's index, or -EINVAL with msg naming key and value.
 */
int config_vm_set(struct vv_vm_config *vm, uint64_t *seen, const char *key, const char *val,
		  char *msg, size_t msglen);

/**
 * Check a complete VM against itself and the VMs before it: required keys
 * present, no CID or path shared with an earlier VM.
 * @param bad_key
 *   Receives the index of the key at fault, or -1 when no single key is.
 * @return 0 or -EINVAL with msg.
 */
int config_vm_check(const struct vv_config *cfg, unsigned int idx, int *bad_key, char *msg,
		    size_t msglen);

#endif
