/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The group list of a VM (vm->n_groups names in vm->groups), written
 * "a+b+c" on the command line and in YAML: a type of the key table like
 * those of config_types.c, and the one question the router asks of it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vv_config.h"
#include "config_private.h"

#define GROUP_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

static int
groups_count(const struct config_key *key, const char *name, size_t n, char *msg, size_t msglen)
{
	if (n < key->min || n > key->max) {
		config_err(msg, msglen, "%s: %zu groups, expected %" PRIu64 " to %" PRIu64, name, n,
			   key->min, key->max);
		return -EINVAL;
	}
	return 0;
}

/* g need not be NUL-terminated: it is a piece of "a+b+c" or a full slot. */
static int
group_name(const char *name, const char *g, size_t len, char *msg, size_t msglen)
{
	if (len == 0) {
		config_err(msg, msglen, "%s: empty group name", name);
		return -EINVAL;
	}
	if (len >= VV_GROUP_NAME_MAX) {
		config_err(msg, msglen, "%s: group '%.*s' is too long (at most %u characters)",
			   name, (int) len, g, VV_GROUP_NAME_MAX - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (g[i] == '\0' || strchr(GROUP_CHARS, g[i]) == NULL) {
			config_err(msg, msglen, "%s: group '%.*s' may only use A-Z a-z 0-9 _ . -",
				   name, (int) len, g);
			return -EINVAL;
		}
	}
	return 0;
}

static int
groups_parse(const struct config_key *key, struct vv_vm_config *vm, const char *name,
	     const char *val, char *msg, size_t msglen)
{
	size_t n = 1;

	for (const char *c = val; *c != '\0'; c++)
		n += *c == '+';
	if (groups_count(key, name, n, msg, msglen) != 0)
		return -EINVAL;
	vm->n_groups = 0;
	for (const char *p = val;; p++) {
		size_t len = strcspn(p, "+");

		if (group_name(name, p, len, msg, msglen) != 0) {
			size_t used = msg != NULL ? strnlen(msg, msglen) : 0;

			/* The piece alone may be empty: show the whole value. */
			if (msg != NULL && used + 1 < msglen)
				config_err(msg + used, msglen - used, " in '%s'", val);
			return -EINVAL;
		}
		memcpy(vm->groups[vm->n_groups], p, len);
		vm->groups[vm->n_groups++][len] = '\0';
		p += len;
		if (*p == '\0')
			return 0;
	}
}

static int
groups_check(const struct config_key *key, const struct vv_vm_config *vm, const char *name,
	     char *msg, size_t msglen)
{
	if (groups_count(key, name, vm->n_groups, msg, msglen) != 0)
		return -EINVAL;
	for (unsigned int i = 0; i < vm->n_groups; i++) {
		const char *g = vm->groups[i];

		if (group_name(name, g, strnlen(g, VV_GROUP_NAME_MAX), msg, msglen) != 0)
			return -EINVAL;
	}
	return 0;
}

static void
groups_clear(const struct config_key *key, struct vv_vm_config *vm)
{
	vm->n_groups = 0;
}

static bool
groups_missing(const struct config_key *key, const struct vv_vm_config *vm)
{
	return vm->n_groups == 0;
}

static bool
group_in(const struct vv_vm_config *vm, const char *g)
{
	for (unsigned int i = 0; i < vm->n_groups; i++)
		if (strncmp(g, vm->groups[i], VV_GROUP_NAME_MAX) == 0)
			return true;
	return false;
}

bool
vv_config_groups_intersect(const struct vv_vm_config *a, const struct vv_vm_config *b)
{
	for (unsigned int i = 0; i < a->n_groups; i++)
		if (group_in(b, a->groups[i]))
			return true;
	return false;
}

/* A set: "a+b" is "b+a". */
static bool
groups_equal(const struct config_key *ka, const struct vv_vm_config *a, const struct config_key *kb,
	     const struct vv_vm_config *b)
{
	for (unsigned int i = 0; i < a->n_groups; i++)
		if (!group_in(b, a->groups[i]))
			return false;
	for (unsigned int i = 0; i < b->n_groups; i++)
		if (!group_in(a, b->groups[i]))
			return false;
	return true;
}

static void
groups_format(const struct config_key *key, const struct vv_vm_config *vm, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < vm->n_groups && used < len; i++)
		used += snprintf(buf + used, len - used, "%s%.*s", i ? "+" : "",
				 (int) VV_GROUP_NAME_MAX, vm->groups[i]);
}

static void
groups_limits(const struct config_key *key, char *buf, size_t len)
{
	snprintf(buf, len,
		 "%" PRIu64 " to %" PRIu64 " names of 1 to %u characters from A-Z a-z 0-9 _ . -",
		 key->min, key->max, VV_GROUP_NAME_MAX - 1);
}

const struct config_type config_groups = {
	.parse = groups_parse,
	.check = groups_check,
	.clear = groups_clear,
	.missing = groups_missing,
	.equal = groups_equal,
	.format = groups_format,
	.limits = groups_limits,
	.host_file = false,
};
