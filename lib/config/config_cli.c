/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The command-line front door: the single-VM flags of rust-vmm
 * vhost-device-vsock, repeated --vm key=val,..., or --config FILE, which
 * exclude each other, and the options of the whole program. A VM key goes
 * to config_vm_set as text; this file only knows which flag or --vm it
 * came from, and puts that in front of the message. The flags of the VM
 * keys are those of the key table (config_keys.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vv_config.h"
#include "config_private.h"

enum opt_id {
	OPT_HELP,
	OPT_VERSION,
	OPT_CONFIG,
	OPT_VM,
	OPT_IDLE_SLEEP,
	OPT_IDLE_POLL,
	OPT_BUSY_POLL,
	OPT_VM_KEY, /* a single-VM flag: a key of the table */
};

struct opt {
	const char *name; /* without "--" */
	char short_name;
	enum opt_id id;
	bool has_arg;
};

/* The options that are not VM keys. */
static const struct opt opts[] = {
	{ "help", 'h', OPT_HELP, false },
	{ "version", 'V', OPT_VERSION, false },
	{ "config", 0, OPT_CONFIG, true },
	{ "vm", 0, OPT_VM, true },
	{ "idle-sleep-us", 0, OPT_IDLE_SLEEP, true },
	{ "idle-poll-us", 0, OPT_IDLE_POLL, true },
	{ "busy-poll", 0, OPT_BUSY_POLL, false },
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

/* What has been seen so far, to refuse mixing the three ways to give VMs. */
struct cli {
	struct vv_config *cfg;
	char *err;
	size_t errlen;
	const char *config;   /* --config's value, NULL if none */
	const char *single;   /* first single-VM flag, NULL if none */
	uint64_t single_seen; /* keys given by single-VM flags */
	bool vm;
	bool idle_sleep;
	bool idle_poll;
};

/* "--name" or "--name=value" (arg without its dashes). */
static bool
long_match(const char *arg, const char *name, const char **val)
{
	size_t len = strlen(name);

	if (strncmp(arg, name, len) != 0 || (arg[len] != '=' && arg[len] != '\0'))
		return false;
	if (arg[len] == '=')
		*val = arg + len + 1;
	return true;
}

static bool
opt_find(const char *arg, struct opt *o, const char **val)
{
	*val = NULL;
	if (arg[0] != '-' || arg[1] == '\0')
		return false;
	for (size_t i = 0; i < N_OPTS; i++) {
		if (arg[1] != '-' ? arg[2] == '\0' && opts[i].short_name == arg[1]
				  : long_match(arg + 2, opts[i].name, val)) {
			*o = opts[i];
			return true;
		}
	}
	if (arg[1] != '-')
		return false;
	for (unsigned int k = 0; k < n_config_keys; k++) {
		const char *flag = config_keys[k].flag;

		if (flag != NULL && long_match(arg + 2, flag, val)) {
			/* Not a compound literal: clang-format 14 and 19 space
			 * those differently, and check-code runs on both. */
			const struct opt key_opt = { flag, 0, OPT_VM_KEY, true };

			*o = key_opt;
			return true;
		}
	}
	return false;
}

static int
conflict(struct cli *c, const char *flag)
{
	const char *other = NULL;

	if (c->config != NULL)
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
	uint64_t seen = 0;
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
	/* The flag is a spelling of its key: messages read "--flag: ...". */
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
	char why[CONFIG_MSG_MAX];
	int bad;

	/* Named by flag, which "missing socket" would not be. */
	for (unsigned int k = 0; k < n_config_keys; k++) {
		const struct config_key *key = &config_keys[k];

		if ((key->flags & CONFIG_F_REQUIRED) && !(c->single_seen & (1ull << k))) {
			config_err(c->err, c->errlen, "--%s is required with --%s", key->flag,
				   c->single);
			return -EINVAL;
		}
	}
	if (config_vm_check(c->cfg, 0, &bad, why, sizeof(why)) != 0) {
		config_err(c->err, c->errlen, "%s", why);
		return -EINVAL;
	}
	return 0;
}

/* The VMs are the file's; the options of the command line are kept. */
static int
cli_config_file(struct cli *c)
{
	struct vv_config *cfg = c->cfg;
	uint32_t idle_sleep_us = cfg->idle_sleep_us, idle_poll_us = cfg->idle_poll_us;
	bool busy_poll = cfg->busy_poll;
	int rc;

	rc = vv_config_load_yaml(cfg, c->config, c->err, c->errlen);
	cfg->idle_sleep_us = idle_sleep_us;
	cfg->idle_poll_us = idle_poll_us;
	cfg->busy_poll = busy_poll;
	return rc;
}

/* A duration flag in microseconds (the idle ones), given at most once. */
static int
cli_us(struct cli *c, const char *name, bool *seen, const char *val, uint32_t *out)
{
	uint64_t v = 0;
	int rc;

	if (*seen) {
		config_err(c->err, c->errlen, "%s: given twice", name);
		return -EINVAL;
	}
	*seen = true;
	rc = config_parse_u64(name, val, CONFIG_IDLE_SLEEP_US_MAX, &v, c->err, c->errlen);
	*out = (uint32_t) v;
	return rc;
}

static int
cli_option(struct cli *c, const struct opt *o, const char *val)
{
	struct vv_config *cfg = c->cfg;

	switch (o->id) {
	case OPT_HELP: cfg->action = VV_CONFIG_HELP; return 0;
	case OPT_VERSION: cfg->action = VV_CONFIG_VERSION; return 0;
	case OPT_CONFIG:
		if (c->config != NULL) {
			config_err(c->err, c->errlen, "--config: given twice");
			return -EINVAL;
		}
		if (c->vm || c->single != NULL)
			return conflict(c, o->name);
		/* Read once the whole line is known to be good. */
		c->config = val;
		return 0;
	case OPT_VM:
		if (c->config != NULL || c->single != NULL)
			return conflict(c, o->name);
		c->vm = true;
		return cli_vm(c, val);
	case OPT_IDLE_SLEEP:
		return cli_us(c, "--idle-sleep-us", &c->idle_sleep, val, &cfg->idle_sleep_us);
	case OPT_IDLE_POLL:
		if (cfg->busy_poll) {
			config_err(
				c->err, c->errlen,
				"--idle-poll-us: a busy-polling worker never sleeps (--busy-poll)");
			return -EINVAL;
		}
		return cli_us(c, "--idle-poll-us", &c->idle_poll, val, &cfg->idle_poll_us);
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
		if (c->config != NULL || c->vm)
			return conflict(c, o->name);
		return cli_vm_key(c, o->name, val);
	}
	return -EINVAL;
}

int
vv_config_parse_args(struct vv_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	struct cli c = { .cfg = cfg, .err = err, .errlen = errlen };
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	cfg->idle_poll_us = VV_DEFAULT_IDLE_POLL_US;
	config_err(err, errlen, "no error");
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val;
		struct opt o;

		if (!opt_find(arg, &o, &val)) {
			config_err(err, errlen, "%s '%s'",
				   arg[0] == '-' ? "unknown option" : "unexpected argument", arg);
			return -EINVAL;
		}
		if (!o.has_arg && val != NULL) {
			config_err(err, errlen, "--%s takes no value", o.name);
			return -EINVAL;
		}
		/* A following "--flag" is a forgotten value, not a path. */
		if (o.has_arg && val == NULL) {
			if (i + 1 == argc || strncmp(argv[i + 1], "--", 2) == 0) {
				config_err(err, errlen, "--%s: missing value", o.name);
				return -EINVAL;
			}
			val = argv[++i];
		}
		rc = cli_option(&c, &o, val);
		if (rc != 0)
			return rc;
		/* Like --help anywhere in clap: the rest of the line is not used. */
		if (cfg->action != VV_CONFIG_RUN)
			return 0;
	}
	/* The file's own checks are vv_config_load_yaml's, as on a reload. */
	if (c.config != NULL)
		return cli_config_file(&c);
	if (c.single != NULL) {
		rc = cli_single_done(&c);
		if (rc != 0)
			return rc;
	}
	return vv_config_validate(cfg, err, errlen);
}
