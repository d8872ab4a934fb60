/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Who may connect to a socket file: a mode written in octal as chmod takes
 * it, and an owner and group by name or number. Names are resolved when
 * the key is read, so an unknown user is a configuration error (exit 2)
 * rather than a start-up failure, and messages and telemetry show names.
 * Like the numbers of config_types.c, a type knows nothing of which key
 * uses it.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vv_config.h"
#include "config_private.h"

/* Mode */

static int *
mode_field(const struct config_key *key, struct vv_vm_config *vm)
{
	return (int *) ((char *) vm + key->offset);
}

static int
mode_get(const struct config_key *key, const struct vv_vm_config *vm)
{
	return *(const int *) ((const char *) vm + key->offset);
}

/* Octal digits only, as chmod and systemd's UMask= take them: "0660" or
 * "660". A YAML 0660 arrives as that text, never as the decimal 432. */
static int
mode_parse(const struct config_key *key, struct vv_vm_config *vm, const char *name, const char *val,
	   char *msg, size_t msglen)
{
	unsigned long v = 0;
	const char *c;

	if (*val == '\0') {
		config_err(msg, msglen, "%s: empty value", name);
		return -EINVAL;
	}
	for (c = val; *c != '\0'; c++) {
		if (*c < '0' || *c > '7' || c - val >= 5) {
			config_err(msg, msglen, "%s: '%s' is not an octal mode like 0660", name,
				   val);
			return -EINVAL;
		}
		v = v * 8 + (unsigned long) (*c - '0');
	}
	/* 0000 would read as "not given" (VV_MODE_UNSET): refused here. */
	if (v == 0) {
		config_err(msg, msglen,
			   "%s: '%s' lets nobody but root connect (give 0600 for the "
			   "owner alone)",
			   name, val);
		return -EINVAL;
	}
	*mode_field(key, vm) = (int) v;
	return 0;
}

/* Set-id and sticky bits mean nothing on a socket: refused, not ignored. */
static int
mode_check(const struct config_key *key, const struct vv_vm_config *vm, const char *name, char *msg,
	   size_t msglen)
{
	int m = mode_get(key, vm);

	if (m == VV_MODE_UNSET)
		return 0;
	if (m < (int) key->min || m > (int) key->max) {
		config_err(msg, msglen,
			   "%s: '%04o' is out of range (%04" PRIo64 " to %04" PRIo64 ")", name,
			   (unsigned int) m, key->min, key->max);
		return -EINVAL;
	}
	return 0;
}

static void
mode_clear(const struct config_key *key, struct vv_vm_config *vm)
{
	*mode_field(key, vm) = VV_MODE_UNSET;
}

static bool
mode_missing(const struct config_key *key, const struct vv_vm_config *vm)
{
	return mode_get(key, vm) == VV_MODE_UNSET;
}

static bool
mode_equal(const struct config_key *ka, const struct vv_vm_config *a, const struct config_key *kb,
	   const struct vv_vm_config *b)
{
	return mode_get(ka, a) == mode_get(kb, b);
}

static void
mode_format(const struct config_key *key, const struct vv_vm_config *vm, char *buf, size_t len)
{
	int m = mode_get(key, vm);

	if (m == VV_MODE_UNSET)
		snprintf(buf, len, "(umask)");
	else
		snprintf(buf, len, "%04o", (unsigned int) m);
}

static void
mode_limits(const struct config_key *key, char *buf, size_t len)
{
	snprintf(buf, len, "octal, %04" PRIo64 " to %04" PRIo64, key->min, key->max);
}

const struct config_type config_mode = {
	.parse = mode_parse,
	.check = mode_check,
	.clear = mode_clear,
	.missing = mode_missing,
	.equal = mode_equal,
	.format = mode_format,
	.limits = mode_limits,
	.host_file = false,
};

/* Owner and group */

static int64_t *
id_field(const struct config_key *key, struct vv_vm_config *vm)
{
	return (int64_t *) ((char *) vm + key->offset);
}

static int64_t
id_get(const struct config_key *key, const struct vv_vm_config *vm)
{
	return *(const int64_t *) ((const char *) vm + key->offset);
}

/* The reentrant lookups want a buffer; 16 KiB holds any sane entry. */
#define ID_BUF 16384

/* Name to id through NSS (files, LDAP, ...). @return 0, -ENOENT or -errno. */
static int
id_lookup(bool user, const char *name, int64_t *id)
{
	char *buf = malloc(ID_BUF);
	int rc;

	if (buf == NULL)
		return -ENOMEM;
	if (user) {
		struct passwd pw, *res = NULL;

		rc = getpwnam_r(name, &pw, buf, ID_BUF, &res);
		if (rc == 0 && res != NULL)
			*id = res->pw_uid;
	} else {
		struct group gr, *res = NULL;

		rc = getgrnam_r(name, &gr, buf, ID_BUF, &res);
		if (rc == 0 && res != NULL)
			*id = res->gr_gid;
	}
	free(buf);
	if (rc != 0)
		return -rc;
	return *id == VV_ID_UNSET ? -ENOENT : 0;
}

/* Id to name for messages; the number when it has none. */
static void
id_name(bool user, int64_t id, char *out, size_t len)
{
	char *buf = malloc(ID_BUF);
	const char *name = NULL;

	if (buf != NULL && user) {
		struct passwd pw, *res = NULL;

		if (getpwuid_r((uid_t) id, &pw, buf, ID_BUF, &res) == 0 && res != NULL)
			name = res->pw_name;
	} else if (buf != NULL) {
		struct group gr, *res = NULL;

		if (getgrgid_r((gid_t) id, &gr, buf, ID_BUF, &res) == 0 && res != NULL)
			name = res->gr_name;
	}
	if (name != NULL)
		snprintf(out, len, "%s", name);
	else
		snprintf(out, len, "%" PRId64, id);
	free(buf);
}

static bool
id_is_user(const struct config_key *key)
{
	return key->type == &config_user;
}

/* A number is taken as an id even when no name has it (a container's
 * user, say); a name must exist now. */
static int
id_parse(const struct config_key *key, struct vv_vm_config *vm, const char *name, const char *val,
	 char *msg, size_t msglen)
{
	bool user = id_is_user(key);
	int64_t id = VV_ID_UNSET;
	uint64_t num;
	int rc;

	if (*val >= '0' && *val <= '9') {
		/* (uid_t) -1 means "unchanged" to chown: not an id. */
		if (config_parse_u64(name, val, UINT32_MAX - 1, &num, msg, msglen) != 0)
			return -EINVAL;
		*id_field(key, vm) = (int64_t) num;
		return 0;
	}
	if (*val == '\0') {
		config_err(msg, msglen, "%s: empty value", name);
		return -EINVAL;
	}
	rc = id_lookup(user, val, &id);
	if (rc == -ENOENT) {
		config_err(msg, msglen, "%s: no %s '%s' on this system", name,
			   user ? "user" : "group", val);
		return -EINVAL;
	}
	if (rc != 0) {
		config_err(msg, msglen, "%s: cannot look up %s '%s': %s", name,
			   user ? "user" : "group", val, strerror(-rc));
		return -EINVAL;
	}
	*id_field(key, vm) = id;
	return 0;
}

static int
id_check(const struct config_key *key, const struct vv_vm_config *vm, const char *name, char *msg,
	 size_t msglen)
{
	int64_t id = id_get(key, vm);

	if (id != VV_ID_UNSET && (id < 0 || id >= (int64_t) UINT32_MAX)) {
		config_err(msg, msglen, "%s: '%" PRId64 "' is not a valid id", name, id);
		return -EINVAL;
	}
	return 0;
}

static void
id_clear(const struct config_key *key, struct vv_vm_config *vm)
{
	*id_field(key, vm) = VV_ID_UNSET;
}

static bool
id_missing(const struct config_key *key, const struct vv_vm_config *vm)
{
	return id_get(key, vm) == VV_ID_UNSET;
}

static bool
id_equal(const struct config_key *ka, const struct vv_vm_config *a, const struct config_key *kb,
	 const struct vv_vm_config *b)
{
	return id_get(ka, a) == id_get(kb, b);
}

static void
id_format(const struct config_key *key, const struct vv_vm_config *vm, char *buf, size_t len)
{
	int64_t id = id_get(key, vm);

	if (id == VV_ID_UNSET)
		snprintf(buf, len, "(as created)");
	else
		id_name(id_is_user(key), id, buf, len);
}

static void
id_limits(const struct config_key *key, char *buf, size_t len)
{
	snprintf(buf, len, "a %s name or number", id_is_user(key) ? "user" : "group");
}

#define ID_TYPE                                                                                  \
	{                                                                                        \
		.parse = id_parse, .check = id_check, .clear = id_clear, .missing = id_missing,  \
		.equal = id_equal, .format = id_format, .limits = id_limits, .host_file = false, \
	}

const struct config_type config_user = ID_TYPE;
const struct config_type config_group = ID_TYPE;
