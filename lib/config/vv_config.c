/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Command line of dpdk-vhost-vsock and the per-VM key handling shared with
 * the YAML reader. Values are checked when they are set, so a message can
 * name the flag, --vm index or YAML line they came from; vv_config_validate
 * repeats the same checks for a configuration built by other means.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "vv_config.h"
#include "config_private.h"

/* A worker that sleeps longer than this between polls is a stalled device. */
#define IDLE_SLEEP_US_MAX 1000000u
#define LCORE_MAX	  1023u
#define QUEUE_SIZE_MIN	  2u
/* Bigger than any sane list of VMs; refuses to slurp a wrong file. */
#define CONFIG_FILE_MAX (4u << 20)
#define GROUP_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

static const char *const key_names[CONFIG_KEY_COUNT] = {
	[CONFIG_KEY_GUEST_CID] = "guest_cid",	[CONFIG_KEY_SOCKET] = "socket",
	[CONFIG_KEY_UDS_PATH] = "uds_path",	[CONFIG_KEY_TX_BUFFER_SIZE] = "tx_buffer_size",
	[CONFIG_KEY_QUEUE_SIZE] = "queue_size", [CONFIG_KEY_GROUPS] = "groups",
	[CONFIG_KEY_LCORE] = "lcore",
};

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

/* Key names match with '-' standing for '_' (rust-vmm accepts both). */
static int
key_lookup(const char *key)
{
	for (int k = 0; k < CONFIG_KEY_COUNT; k++) {
		const char *a = key, *b = key_names[k];

		while (*a != '\0' && (*a == *b || (*a == '-' && *b == '_'))) {
			a++;
			b++;
		}
		if (*a == '\0' && *b == '\0')
			return k;
	}
	return -1;
}

/* Decimal only: strtoull alone would take spaces, signs and wrap "-1". */
static int
parse_num(const char *name, const char *val, uint64_t max, uint64_t *out, char *msg, size_t msglen)
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

static size_t
path_max(int key)
{
	return key == CONFIG_KEY_SOCKET ? VV_PATH_MAX - 1 : VV_UDS_PATH_MAX;
}

static int
check_path(const char *name, const char *path, size_t len, size_t max, char *msg, size_t msglen)
{
	if (len == 0) {
		config_err(msg, msglen, "%s: empty path", name);
		return -EINVAL;
	}
	if (len > max) {
		config_err(msg, msglen, "%s: '%.*s' is too long (%zu bytes, at most %zu)", name,
			   (int) len, path, len, max);
		return -EINVAL;
	}
	return 0;
}

static int
check_group_count(const char *name, size_t n, char *msg, size_t msglen)
{
	if (n == 0 || n > VV_GROUPS_MAX) {
		config_err(msg, msglen, "%s: %zu groups, expected 1 to %u", name, n, VV_GROUPS_MAX);
		return -EINVAL;
	}
	return 0;
}

/* g need not be NUL-terminated: it is a piece of "a+b+c" or a full slot. */
static int
check_group_name(const char *name, const char *g, size_t len, char *msg, size_t msglen)
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

/* Checks one field of a VM; name is the key as the user spelled it. */
static int
check_field(const struct vv_vm_config *vm, int key, const char *name, char *msg, size_t msglen)
{
	switch (key) {
	case CONFIG_KEY_GUEST_CID:
		if (vm->guest_cid <= 2) {
			config_err(msg, msglen,
				   "%s: '%" PRIu64 "' is reserved (0, 1 and 2 are not guest CIDs)",
				   name, vm->guest_cid);
			return -EINVAL;
		}
		/* 0xFFFFFFFF is VMADDR_CID_ANY; the header field is 64-bit. */
		if (vm->guest_cid >= UINT32_MAX) {
			config_err(msg, msglen,
				   "%s: '%" PRIu64 "' is too large (must be below %" PRIu32 ")",
				   name, vm->guest_cid, UINT32_MAX);
			return -EINVAL;
		}
		return 0;
	case CONFIG_KEY_SOCKET:
		return check_path(name, vm->socket, strnlen(vm->socket, VV_PATH_MAX), path_max(key),
				  msg, msglen);
	case CONFIG_KEY_UDS_PATH:
		return check_path(name, vm->uds_path, strnlen(vm->uds_path, VV_PATH_MAX),
				  path_max(key), msg, msglen);
	case CONFIG_KEY_TX_BUFFER_SIZE:
		if (vm->tx_buffer_size < VV_TX_BUFFER_SIZE_MIN ||
		    vm->tx_buffer_size > VV_TX_BUFFER_SIZE_MAX) {
			config_err(msg, msglen, "%s: '%" PRIu32 "' is out of range (%u to %u)",
				   name, vm->tx_buffer_size, VV_TX_BUFFER_SIZE_MIN,
				   VV_TX_BUFFER_SIZE_MAX);
			return -EINVAL;
		}
		return 0;
	case CONFIG_KEY_QUEUE_SIZE:
		if (vm->queue_size < QUEUE_SIZE_MIN || vm->queue_size > VV_QUEUE_SIZE_MAX ||
		    (vm->queue_size & (vm->queue_size - 1)) != 0) {
			config_err(msg, msglen,
				   "%s: '%" PRIu32 "' is not a power of two from %u to %u", name,
				   vm->queue_size, QUEUE_SIZE_MIN, VV_QUEUE_SIZE_MAX);
			return -EINVAL;
		}
		return 0;
	case CONFIG_KEY_GROUPS:
		if (check_group_count(name, vm->n_groups, msg, msglen) != 0)
			return -EINVAL;
		for (unsigned int i = 0; i < vm->n_groups; i++) {
			const char *g = vm->groups[i];

			if (check_group_name(name, g, strnlen(g, VV_GROUP_NAME_MAX), msg, msglen) !=
			    0)
				return -EINVAL;
		}
		return 0;
	case CONFIG_KEY_LCORE:
		if (vm->lcore < -1 || vm->lcore > (int) LCORE_MAX) {
			config_err(msg, msglen, "%s: '%d' is out of range (0 to %u)", name,
				   vm->lcore, LCORE_MAX);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

static int
set_groups(struct vv_vm_config *vm, const char *name, const char *val, char *msg, size_t msglen)
{
	size_t n = 1;

	for (const char *c = val; *c != '\0'; c++)
		n += *c == '+';
	if (check_group_count(name, n, msg, msglen) != 0)
		return -EINVAL;
	vm->n_groups = 0;
	for (const char *p = val;; p++) {
		size_t len = strcspn(p, "+");

		if (check_group_name(name, p, len, msg, msglen) != 0) {
			size_t used = strnlen(msg, msglen);

			/* The piece alone may be empty: show the whole value. */
			if (used + 1 < msglen)
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

int
config_vm_add(struct vv_config *cfg, char *msg, size_t msglen)
{
	struct vv_vm_config *vms, *vm;

	if (cfg->n_vms >= VV_VMS_MAX) {
		config_err(msg, msglen, "too many VMs (at most %u)", VV_VMS_MAX);
		return -EINVAL;
	}
	/* One realloc per VM: at most VV_VMS_MAX of them, at startup. */
	vms = realloc(cfg->vms, (cfg->n_vms + 1) * sizeof(*vms));
	if (vms == NULL) {
		config_err(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	cfg->vms = vms;
	vm = &vms[cfg->n_vms];
	memset(vm, 0, sizeof(*vm));
	vm->guest_cid = VV_DEFAULT_GUEST_CID;
	vm->tx_buffer_size = VV_DEFAULT_TX_BUFFER_SIZE;
	vm->queue_size = VV_DEFAULT_QUEUE_SIZE;
	vm->n_groups = 1;
	memcpy(vm->groups[0], VV_DEFAULT_GROUP, sizeof(VV_DEFAULT_GROUP));
	vm->lcore = -1;
	return (int) cfg->n_vms++;
}

int
config_vm_set(struct vv_vm_config *vm, unsigned int *seen, const char *key, const char *val,
	      char *msg, size_t msglen)
{
	int k = key_lookup(key);
	uint64_t v = 0;
	int rc = 0;

	if (k < 0) {
		config_err(msg, msglen, "unknown key '%s'", key);
		return -EINVAL;
	}
	if (*seen & (1u << k)) {
		config_err(msg, msglen, "%s: given twice", key);
		return -EINVAL;
	}
	*seen |= 1u << k;

	switch (k) {
	case CONFIG_KEY_GUEST_CID:
		rc = parse_num(key, val, UINT64_MAX, &v, msg, msglen);
		vm->guest_cid = v;
		break;
	case CONFIG_KEY_SOCKET:
	case CONFIG_KEY_UDS_PATH: {
		char *dst = k == CONFIG_KEY_SOCKET ? vm->socket : vm->uds_path;
		size_t len = strlen(val);

		if (len >= VV_PATH_MAX)
			return check_path(key, val, len, path_max(k), msg, msglen);
		memcpy(dst, val, len + 1);
		break;
	}
	case CONFIG_KEY_TX_BUFFER_SIZE:
		rc = parse_num(key, val, UINT32_MAX, &v, msg, msglen);
		vm->tx_buffer_size = (uint32_t) v;
		break;
	case CONFIG_KEY_QUEUE_SIZE:
		rc = parse_num(key, val, UINT32_MAX, &v, msg, msglen);
		vm->queue_size = (uint32_t) v;
		break;
	case CONFIG_KEY_GROUPS: rc = set_groups(vm, key, val, msg, msglen); break;
	case CONFIG_KEY_LCORE:
		rc = parse_num(key, val, INT_MAX, &v, msg, msglen);
		vm->lcore = (int) v;
		break;
	}
	if (rc == 0)
		rc = check_field(vm, k, key, msg, msglen);
	return rc < 0 ? rc : k;
}

int
config_vm_check(const struct vv_config *cfg, unsigned int idx, int *bad_key, char *msg,
		size_t msglen)
{
	const struct vv_vm_config *vm = &cfg->vms[idx];

	*bad_key = -1;
	if (vm->socket[0] == '\0' || vm->uds_path[0] == '\0') {
		config_err(msg, msglen, "missing %s",
			   vm->socket[0] == '\0' ? "socket" : "uds_path");
		return -EINVAL;
	}
	if (strcmp(vm->socket, vm->uds_path) == 0) {
		*bad_key = CONFIG_KEY_UDS_PATH;
		config_err(msg, msglen, "socket and uds_path are the same path '%s'", vm->socket);
		return -EINVAL;
	}
	/* A path may be one VM's vhost-user socket or one VM's uds, never both. */
	for (unsigned int j = 0; j < idx; j++) {
		const struct vv_vm_config *o = &cfg->vms[j];
		const char *what = NULL;

		if (vm->guest_cid == o->guest_cid) {
			*bad_key = CONFIG_KEY_GUEST_CID;
			config_err(msg, msglen, "duplicate guest_cid %" PRIu64 " (also VM #%u)",
				   vm->guest_cid, j + 1);
			return -EINVAL;
		}
		if (strcmp(vm->socket, o->socket) == 0 || strcmp(vm->socket, o->uds_path) == 0) {
			*bad_key = CONFIG_KEY_SOCKET;
			what = vm->socket;
		} else if (strcmp(vm->uds_path, o->uds_path) == 0 ||
			   strcmp(vm->uds_path, o->socket) == 0) {
			*bad_key = CONFIG_KEY_UDS_PATH;
			what = vm->uds_path;
		}
		if (what != NULL) {
			config_err(msg, msglen, "duplicate %s '%s' (also %s of VM #%u)",
				   key_names[*bad_key], what,
				   strcmp(what, o->socket) == 0 ? "socket" : "uds_path", j + 1);
			return -EINVAL;
		}
	}
	return 0;
}

int
vv_config_validate(const struct vv_config *cfg, char *err, size_t errlen)
{
	char why[CONFIG_MSG_MAX];
	unsigned int i;
	int bad;

	if (cfg->idle_sleep_us > IDLE_SLEEP_US_MAX) {
		config_err(err, errlen, "--idle-sleep-us: '%" PRIu32 "' is too large (at most %u)",
			   cfg->idle_sleep_us, IDLE_SLEEP_US_MAX);
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
		for (int k = 0; k < CONFIG_KEY_COUNT; k++)
			if (check_field(&cfg->vms[i], k, key_names[k], why, sizeof(why)) != 0)
				goto fail;
		if (config_vm_check(cfg, i, &bad, why, sizeof(why)) != 0)
			goto fail;
	}
	return 0;

fail:
	config_err(err, errlen, "VM #%u: %s", i + 1, why);
	return -EINVAL;
}

bool
vv_config_groups_intersect(const struct vv_vm_config *a, const struct vv_vm_config *b)
{
	for (unsigned int i = 0; i < a->n_groups; i++)
		for (unsigned int j = 0; j < b->n_groups; j++)
			if (strncmp(a->groups[i], b->groups[j], VV_GROUP_NAME_MAX) == 0)
				return true;
	return false;
}

void
vv_config_free(struct vv_config *cfg)
{
	free(cfg->vms);
	memset(cfg, 0, sizeof(*cfg));
}

/* Command line */

enum opt_id {
	OPT_HELP,
	OPT_VERSION,
	OPT_CONFIG,
	OPT_VM,
	OPT_IDLE_SLEEP,
	OPT_IDLE_POLL,
	OPT_BUSY_POLL,
	OPT_VM_KEY, /* a single-VM flag, handled by config_vm_set */
};

struct opt {
	const char *name;
	char short_name;
	enum opt_id id;
	bool has_arg;
};

static const struct opt opts[] = {
	{ "help", 'h', OPT_HELP, false },
	{ "version", 'V', OPT_VERSION, false },
	{ "config", 0, OPT_CONFIG, true },
	{ "vm", 0, OPT_VM, true },
	{ "idle-sleep-us", 0, OPT_IDLE_SLEEP, true },
	{ "idle-poll-us", 0, OPT_IDLE_POLL, true },
	{ "busy-poll", 0, OPT_BUSY_POLL, false },
	{ "guest-cid", 0, OPT_VM_KEY, true },
	{ "socket", 0, OPT_VM_KEY, true },
	{ "uds-path", 0, OPT_VM_KEY, true },
	{ "tx-buffer-size", 0, OPT_VM_KEY, true },
	{ "queue-size", 0, OPT_VM_KEY, true },
	{ "groups", 0, OPT_VM_KEY, true },
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

/* What has been seen so far, to refuse mixing the three ways to give VMs. */
struct cli {
	struct vv_config *cfg;
	char *err;
	size_t errlen;
	const char *single;	  /* first single-VM flag, NULL if none */
	unsigned int single_seen; /* keys given by single-VM flags */
	bool vm;
	bool idle_sleep;
	bool idle_poll;
};

static const struct opt *
opt_find(const char *arg, const char **val)
{
	*val = NULL;
	if (arg[0] != '-' || arg[1] == '\0')
		return NULL;
	if (arg[1] != '-') {
		for (size_t i = 0; i < N_OPTS; i++)
			if (arg[2] == '\0' && opts[i].short_name == arg[1])
				return &opts[i];
		return NULL;
	}
	arg += 2;
	for (size_t i = 0; i < N_OPTS; i++) {
		size_t len = strlen(opts[i].name);

		if (strncmp(arg, opts[i].name, len) != 0)
			continue;
		if (arg[len] == '=')
			*val = arg + len + 1;
		if (arg[len] == '=' || arg[len] == '\0')
			return &opts[i];
	}
	return NULL;
}

static int
conflict(struct cli *c, const char *flag)
{
	const char *other = NULL;

	if (c->cfg->config_file[0] != '\0')
		other = "config";
	else if (c->vm)
		other = "vm";
	else if (c->single != NULL)
		other = c->single;
	config_err(c->err, c->errlen, "--%s cannot be used with --%s", flag, other);
	return -EINVAL;
}

static int
cli_vm(struct cli *c, const char *val)
{
	char why[CONFIG_MSG_MAX];
	unsigned int seen = 0;
	char *copy, *rest, *item;
	int idx, rc = 0, bad;

	idx = config_vm_add(c->cfg, why, sizeof(why));
	if (idx < 0) {
		config_err(c->err, c->errlen, "--vm: %s", why);
		return idx;
	}
	copy = strdup(val);
	if (copy == NULL) {
		config_err(c->err, c->errlen, "--vm: out of memory");
		return -ENOMEM;
	}
	rest = copy;
	while (rc >= 0 && (item = strsep(&rest, ",")) != NULL) {
		char *eq = strchr(item, '=');

		if (eq == NULL) {
			config_err(why, sizeof(why), "'%s' is not key=value", item);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		rc = config_vm_set(&c->cfg->vms[idx], &seen, item, eq + 1, why, sizeof(why));
	}
	free(copy);
	if (rc >= 0)
		rc = config_vm_check(c->cfg, idx, &bad, why, sizeof(why));
	if (rc < 0) {
		config_err(c->err, c->errlen, "--vm #%d: %s", idx + 1, why);
		return rc;
	}
	return 0;
}

static int
cli_vm_key(struct cli *c, const char *flag, const char *val)
{
	char why[CONFIG_MSG_MAX];
	int rc;

	if (c->single == NULL) {
		rc = config_vm_add(c->cfg, why, sizeof(why));
		if (rc < 0) {
			config_err(c->err, c->errlen, "%s", why);
			return rc;
		}
		c->single = flag;
	}
	/* The flag minus its dashes is a key name: messages read "--flag: ...". */
	rc = config_vm_set(&c->cfg->vms[0], &c->single_seen, flag, val, why, sizeof(why));
	if (rc < 0) {
		config_err(c->err, c->errlen, "--%s", why);
		return rc;
	}
	return 0;
}

static int
cli_single_done(struct cli *c)
{
	const unsigned int need = 1u << CONFIG_KEY_SOCKET | 1u << CONFIG_KEY_UDS_PATH;
	char why[CONFIG_MSG_MAX];
	int bad;

	if ((c->single_seen & need) != need) {
		config_err(c->err, c->errlen, "--%s is required with --%s",
			   c->single_seen & 1u << CONFIG_KEY_SOCKET ? "uds-path" : "socket",
			   c->single);
		return -EINVAL;
	}
	if (config_vm_check(c->cfg, 0, &bad, why, sizeof(why)) != 0) {
		config_err(c->err, c->errlen, "%s", why);
		return -EINVAL;
	}
	return 0;
}

static int
read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	size_t cap = 0, n = 0, r;
	char *buf = NULL, *tmp;
	int rc = 0;

	if (f == NULL) {
		rc = errno == ENOENT ? -ENOENT : errno == EACCES || errno == EPERM ? -EACCES : -EIO;
		config_err(err, errlen, "--config: cannot open '%s': %s", path, strerror(errno));
		return rc;
	}
	do {
		if (n == cap) {
			if (cap >= CONFIG_FILE_MAX) {
				config_err(err, errlen, "--config: '%s' is larger than %u bytes",
					   path, CONFIG_FILE_MAX);
				rc = -EINVAL;
				break;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			tmp = realloc(buf, cap);
			if (tmp == NULL) {
				config_err(err, errlen, "--config: out of memory");
				rc = -ENOMEM;
				break;
			}
			buf = tmp;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r != 0);
	if (rc == 0 && ferror(f)) {
		config_err(err, errlen, "--config: cannot read '%s'", path);
		rc = -EIO;
	}
	fclose(f);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*text = buf;
	*len = n;
	return 0;
}

static int
cli_config_file(struct cli *c)
{
	char *text;
	size_t len;
	int rc;

	rc = read_file(c->cfg->config_file, &text, &len, c->err, c->errlen);
	if (rc != 0)
		return rc;
	rc = vv_config_parse_yaml(c->cfg, text, len, c->err, c->errlen);
	free(text);
	return rc;
}

static int
cli_option(struct cli *c, const struct opt *o, const char *val)
{
	struct vv_config *cfg = c->cfg;
	uint64_t v = 0;
	int rc;

	switch (o->id) {
	case OPT_HELP: cfg->action = VV_CONFIG_HELP; return 0;
	case OPT_VERSION: cfg->action = VV_CONFIG_VERSION; return 0;
	case OPT_CONFIG:
		if (cfg->config_file[0] != '\0') {
			config_err(c->err, c->errlen, "--config: given twice");
			return -EINVAL;
		}
		if (c->vm || c->single != NULL)
			return conflict(c, o->name);
		if (val[0] == '\0' || strlen(val) >= sizeof(cfg->config_file)) {
			config_err(c->err, c->errlen, "--config: %s",
				   val[0] == '\0' ? "empty path" : "path too long");
			return -EINVAL;
		}
		memcpy(cfg->config_file, val, strlen(val) + 1);
		return 0;
	case OPT_VM:
		if (cfg->config_file[0] != '\0' || c->single != NULL)
			return conflict(c, o->name);
		c->vm = true;
		return cli_vm(c, val);
	case OPT_IDLE_SLEEP:
		if (c->idle_sleep) {
			config_err(c->err, c->errlen, "--idle-sleep-us: given twice");
			return -EINVAL;
		}
		c->idle_sleep = true;
		rc = parse_num("--idle-sleep-us", val, IDLE_SLEEP_US_MAX, &v, c->err, c->errlen);
		cfg->idle_sleep_us = (uint32_t) v;
		return rc;
	case OPT_IDLE_POLL:
		if (c->idle_poll || cfg->busy_poll) {
			config_err(c->err, c->errlen, "--idle-poll-us: %s",
				   cfg->busy_poll ? "a busy-polling worker never sleeps "
						    "(--busy-poll)"
						  : "given twice");
			return -EINVAL;
		}
		c->idle_poll = true;
		rc = parse_num("--idle-poll-us", val, IDLE_SLEEP_US_MAX, &v, c->err, c->errlen);
		cfg->idle_poll_us = (uint32_t) v;
		return rc;
	case OPT_BUSY_POLL:
		if (c->idle_poll || cfg->busy_poll) {
			config_err(c->err, c->errlen, "--busy-poll: %s",
				   cfg->busy_poll ? "given twice"
						  : "a busy-polling worker never sleeps, "
						    "--idle-poll-us has no meaning with it");
			return -EINVAL;
		}
		cfg->busy_poll = true;
		return 0;
	case OPT_VM_KEY:
		if (cfg->config_file[0] != '\0' || c->vm)
			return conflict(c, o->name);
		return cli_vm_key(c, o->name, val);
	}
	return -EINVAL;
}

int
vv_config_parse_args(struct vv_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	struct cli c = { .cfg = cfg, .err = err, .errlen = errlen };
	int rc = 0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->idle_poll_us = VV_DEFAULT_IDLE_POLL_US;
	config_err(err, errlen, "no error");
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val;
		const struct opt *o = opt_find(arg, &val);

		if (o == NULL) {
			config_err(err, errlen, "%s '%s'",
				   arg[0] == '-' ? "unknown option" : "unexpected argument", arg);
			return -EINVAL;
		}
		if (!o->has_arg && val != NULL) {
			config_err(err, errlen, "--%s takes no value", o->name);
			return -EINVAL;
		}
		/* A following "--flag" is a forgotten value, not a path. */
		if (o->has_arg && val == NULL) {
			if (i + 1 == argc || strncmp(argv[i + 1], "--", 2) == 0) {
				config_err(err, errlen, "--%s: missing value", o->name);
				return -EINVAL;
			}
			val = argv[++i];
		}
		rc = cli_option(&c, o, val);
		if (rc != 0)
			return rc;
		/* Like --help anywhere in clap: the rest of the line is not used. */
		if (cfg->action != VV_CONFIG_RUN)
			return 0;
	}
	if (cfg->config_file[0] != '\0')
		rc = cli_config_file(&c);
	else if (c.single != NULL)
		rc = cli_single_done(&c);
	if (rc != 0)
		return rc;
	return vv_config_validate(cfg, err, errlen);
}

void
vv_config_usage(const char *prog, FILE *stream)
{
	fprintf(stream,
		"Usage: %s [EAL args --] [options]\n"
		"\n"
		"virtio-vsock devices for VMs over vhost-user. Guest vsock streams become\n"
		"Unix socket streams on the host (hybrid vsock, as Firecracker and rust-vmm\n"
		"vhost-device-vsock): a guest connecting to port P reaches <uds-path>_P; a\n"
		"host program connects to <uds-path>, writes \"CONNECT <port>\\n\" and reads\n"
		"\"OK <host port>\\n\".\n"
		"\n"
		"EAL: without EAL args the program runs with\n"
		"  --no-pci --no-huge -m 256 --file-prefix vvsock-<first guest CID>\n"
		"  --lcores 0@<cpu>,1@<cpu>   (the first two CPUs it may run on)\n"
		"EAL's -l/--lcores chooses the lcores: the first is the main lcore (control\n"
		"threads only, it does not poll), the others are worker lcores that poll\n"
		"the VMs. Log types for EAL's --log-level: vv.app, vv.vhost, vv.worker,\n"
		"vv.vsock, vv.vsock.data. Telemetry: dpdk-telemetry.py -f <file prefix>,\n"
		"commands under /vsock/.\n"
		"\n"
		"Options take their value as --opt VALUE or --opt=VALUE.\n"
		"\n"
		"One VM:\n"
		"  --guest-cid N        guest CID, 3 to 4294967294 (default %u)\n"
		"  --socket PATH        vhost-user socket the VMM connects to (required,\n"
		"                       at most %u bytes)\n"
		"  --uds-path PATH      host Unix socket of the VM (required, at most %u bytes)\n"
		"  --tx-buffer-size N   bytes buffered per connection, %u to %u\n"
		"                       (default %u)\n"
		"  --queue-size N       largest virtqueue size, a power of two from 2 to %u\n"
		"                       (default %u)\n"
		"  --groups A+B+...     the VM's groups (default \"%s\"), names of\n"
		"                       A-Z a-z 0-9 _ . - (at most %u groups of %u characters);\n"
		"                       VMs that share a group may open streams to each\n"
		"                       other (guest to guest, by CID); others get a reset\n"
		"\n"
		"Several VMs (--vm and --config exclude each other and the flags above):\n"
		"  --vm KEY=VAL,...     one VM per --vm; keys guest-cid, socket, uds-path,\n"
		"                       tx-buffer-size, queue-size, groups (A+B+...) and\n"
		"                       lcore (worker lcore to run the VM on, 0 to %u; by\n"
		"                       default VMs are spread over the workers round-robin);\n"
		"                       '_' may replace '-'\n"
		"  --config FILE        YAML file with a top-level 'vms:' list of mappings\n"
		"                       with the same keys, e.g.\n"
		"                         vms:\n"
		"                           - guest_cid: 4\n"
		"                             socket: /tmp/vhost4.socket\n"
		"                             uds_path: /tmp/vm4.vsock\n"
		"                             groups: group1+groupA\n"
		"                             lcore: 1\n"
		"\n"
		"Other options:\n"
		"  --idle-poll-us N     a worker lcore that found no work for N microseconds\n"
		"                       sleeps until a guest kicks, a host socket has data\n"
		"                       or a timer is due, then polls again (default %u;\n"
		"                       at most %u)\n"
		"  --busy-poll          worker lcores never sleep: the lowest latency, a\n"
		"                       whole core each (for hosts with isolated cores)\n"
		"  --idle-sleep-us N    no longer used (idle workers sleep on their own;\n"
		"                       see --idle-poll-us); accepted for old command lines\n"
		"  -h, --help           print this help\n"
		"  -V, --version        print the version\n",
		prog, VV_DEFAULT_GUEST_CID, VV_PATH_MAX - 1, VV_UDS_PATH_MAX, VV_TX_BUFFER_SIZE_MIN,
		VV_TX_BUFFER_SIZE_MAX, VV_DEFAULT_TX_BUFFER_SIZE, VV_QUEUE_SIZE_MAX,
		VV_DEFAULT_QUEUE_SIZE, VV_DEFAULT_GROUP, VV_GROUPS_MAX, VV_GROUP_NAME_MAX - 1,
		LCORE_MAX, VV_DEFAULT_IDLE_POLL_US, IDLE_SLEEP_US_MAX);
}
