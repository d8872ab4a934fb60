/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kinds of value a VM key holds: numbers (a CID, a size, a power of
 * two, an lcore index) and host paths; group lists are config_groups.c's.
 * Each is a struct config_type at the end of its section: how its text is
 * read, how it is stored at the key's offset, and the messages that refuse
 * it. A type knows nothing of which keys use it; the key table gives the
 * limits.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vv_config.h"
#include "config_private.h"

void
config_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Where key's value lives in a VM; the type says what is there. */
static void *
field(const struct config_key *key, struct vv_vm_config *vm)
{
	return (char *) vm + key->offset;
}

static const void *
cfield(const struct config_key *key, const struct vv_vm_config *vm)
{
	return (const char *) vm + key->offset;
}

/* Numbers */

/* Decimal only: strtoull alone would take spaces, signs and wrap "-1". */
int
config_parse_u64(const char *name, const char *val, uint64_t max, uint64_t *out, char *msg,
		 size_t msglen)
{
	unsigned long long v;
	char *end;

	if (*val == '\0') {
		config_err(msg, msglen, "%s: empty value", name);
		return -EINVAL;
	}
	if (*val == '-') {
		config_err(msg, msglen, "%s: '%s' is negative", name, val);
		return -EINVAL;
	}
	if (!isdigit((unsigned char) *val))
		goto not_a_number;
	errno = 0;
	v = strtoull(val, &end, 10);
	if (*end != '\0')
		goto not_a_number;
	if (errno == ERANGE || v > max) {
		config_err(msg, msglen, "%s: '%s' is too large (at most %" PRIu64 ")", name, val,
			   max);
		return -EINVAL;
	}
	*out = v;
	return 0;

not_a_number:
	config_err(msg, msglen, "%s: '%s' is not a number", name, val);
	return -EINVAL;
}

/* Every number is read the same way; the type says how wide it is stored.
 * Widened to int64_t: a CID is compared and printed as its bits. */
static int64_t
num_get(const struct config_key *key, const struct vv_vm_config *vm)
{
	const void *f = cfield(key, vm);

	/* cid[0], not a cast of a dereference, which clang-format 14
	 * and 19 space differently (check-code runs on both). */
	if (key->type == &config_cid) {
		const uint64_t *cid = f;

		return (int64_t) cid[0];
	}
	if (key->type == &config_index)
		return *(const int *) f;
	return *(const uint32_t *) f;
}

static void
num_set(const struct config_key *key, struct vv_vm_config *vm, uint64_t v)
{
	void *f = field(key, vm);

	if (key->type == &config_cid)
		*(uint64_t *) f = v;
	else if (key->type == &config_index)
		*(int *) f = (int) v;
	else
		*(uint32_t *) f = (uint32_t) v;
}

static int
num_parse(const struct config_key *key, struct vv_vm_config *vm, const char *name, const char *val,
	  char *msg, size_t msglen)
{
	/* What the storage holds; the key's own range is check's. */
	uint64_t max = key->type == &config_cid	    ? UINT64_MAX
		       : key->type == &config_index ? INT_MAX
						    : UINT32_MAX;
	uint64_t v;

	if (config_parse_u64(name, val, max, &v, msg, msglen) != 0)
		return -EINVAL;
	num_set(key, vm, v);
	return 0;
}

/* -1 is an index "not given" (the VM goes round-robin); 0 otherwise. */
static void
num_clear(const struct config_key *key, struct vv_vm_config *vm)
{
	num_set(key, vm, key->type == &config_index ? UINT64_MAX : 0);
}

static bool
num_missing(const struct config_key *key, const struct vv_vm_config *vm)
{
	return num_get(key, vm) == (key->type == &config_index ? -1 : 0);
}

static bool
num_equal(const struct config_key *ka, const struct vv_vm_config *a, const struct config_key *kb,
	  const struct vv_vm_config *b)
{
	return num_get(ka, a) == num_get(kb, b);
}

static void
num_format(const struct config_key *key, const struct vv_vm_config *vm, char *buf, size_t len)
{
	int64_t v = num_get(key, vm);

	if (key->type == &config_index)
		snprintf(buf, len, "%" PRId64, v);
	else
		snprintf(buf, len, "%" PRIu64, (uint64_t) v);
}

static void
num_limits(const struct config_key *key, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64 " to %" PRIu64, key->min, key->max);
}

static int
cid_check(const struct config_key *key, const struct vv_vm_config *vm, const char *name, char *msg,
	  size_t msglen)
{
	uint64_t cid = *(const uint64_t *) cfield(key, vm);

	if (cid < key->min) {
		config_err(msg, msglen,
			   "%s: '%" PRIu64 "' is reserved (0, 1 and 2 are not guest CIDs)", name,
			   cid);
		return -EINVAL;
	}
	/* 0xFFFFFFFF is VMADDR_CID_ANY; the header field is 64-bit. */
	if (cid > key->max) {
		config_err(msg, msglen,
			   "%s: '%" PRIu64 "' is too large (must be below %" PRIu64 ")", name, cid,
			   key->max + 1);
		return -EINVAL;
	}
	return 0;
}

static int
range_check(const struct config_key *key, const struct vv_vm_config *vm, const char *name,
	    char *msg, size_t msglen)
{
	int64_t v = num_get(key, vm);

	if (key->type == &config_index && v == -1)
		return 0;
	if (v < (int64_t) key->min || v > (int64_t) key->max) {
		config_err(msg, msglen,
			   "%s: '%" PRId64 "' is out of range (%" PRIu64 " to %" PRIu64 ")", name,
			   v, key->min, key->max);
		return -EINVAL;
	}
	return 0;
}

static int
pow2_check(const struct config_key *key, const struct vv_vm_config *vm, const char *name, char *msg,
	   size_t msglen)
{
	uint32_t v = *(const uint32_t *) cfield(key, vm);

	if (v < key->min || v > key->max || (v & (v - 1)) != 0) {
		config_err(msg, msglen,
			   "%s: '%" PRIu32 "' is not a power of two from %" PRIu64 " to %" PRIu64,
			   name, v, key->min, key->max);
		return -EINVAL;
	}
	return 0;
}

static void
pow2_limits(const struct config_key *key, char *buf, size_t len)
{
	snprintf(buf, len, "a power of two from %" PRIu64 " to %" PRIu64, key->min, key->max);
}

/* The numbers differ in how wide they are stored (num_get, num_set) and in
 * what they check; the rest is shared. (clang-format 14 and 19 lay out
 * designated initializers in a macro differently: left as written.) */
/* clang-format off */
#define NUMBER_TYPE(check_fn, limits_fn) \
	{ \
		.parse = num_parse, .check = check_fn, .clear = num_clear, \
		.missing = num_missing, .equal = num_equal, .format = num_format, \
		.limits = limits_fn, .host_file = false, \
	}
/* clang-format on */

const struct config_type config_cid = NUMBER_TYPE(cid_check, num_limits);
const struct config_type config_uint = NUMBER_TYPE(range_check, num_limits);
const struct config_type config_pow2 = NUMBER_TYPE(pow2_check, pow2_limits);
const struct config_type config_index = NUMBER_TYPE(range_check, num_limits);

/* Paths */

/* path need not be NUL-terminated: len says how much of it there is. */
static int
path_refuse(const struct config_key *key, const char *name, const char *path, size_t len, char *msg,
	    size_t msglen)
{
	if (len == 0) {
		config_err(msg, msglen, "%s: empty path", name);
		return -EINVAL;
	}
	if (len > key->max) {
		config_err(msg, msglen, "%s: '%.*s' is too long (%zu bytes, at most %" PRIu64 ")",
			   name, (int) len, path, len, key->max);
		return -EINVAL;
	}
	return 0;
}

static int
path_parse(const struct config_key *key, struct vv_vm_config *vm, const char *name, const char *val,
	   char *msg, size_t msglen)
{
	size_t len = strlen(val);

	/* Too long for the field: refused before it is copied. */
	if (len >= VV_PATH_MAX)
		return path_refuse(key, name, val, len, msg, msglen);
	memcpy(field(key, vm), val, len + 1);
	return 0;
}

static int
path_check(const struct config_key *key, const struct vv_vm_config *vm, const char *name, char *msg,
	   size_t msglen)
{
	const char *p = cfield(key, vm);

	return path_refuse(key, name, p, strnlen(p, VV_PATH_MAX), msg, msglen);
}

static void
path_clear(const struct config_key *key, struct vv_vm_config *vm)
{
	memset(field(key, vm), 0, VV_PATH_MAX);
}

static bool
path_missing(const struct config_key *key, const struct vv_vm_config *vm)
{
	return *(const char *) cfield(key, vm) == '\0';
}

static bool
path_equal(const struct config_key *ka, const struct vv_vm_config *a, const struct config_key *kb,
	   const struct vv_vm_config *b)
{
	return strncmp(cfield(ka, a), cfield(kb, b), VV_PATH_MAX) == 0;
}

static void
path_format(const struct config_key *key, const struct vv_vm_config *vm, char *buf, size_t len)
{
	const char *p = cfield(key, vm);

	snprintf(buf, len, "'%.*s'", (int) strnlen(p, VV_PATH_MAX), p);
}

static void
path_limits(const struct config_key *key, char *buf, size_t len)
{
	snprintf(buf, len, "at most %" PRIu64 " bytes", key->max);
}

const struct config_type config_path = {
	.parse = path_parse,
	.check = path_check,
	.clear = path_clear,
	.missing = path_missing,
	.equal = path_equal,
	.format = path_format,
	.limits = path_limits,
	.host_file = true,
};
