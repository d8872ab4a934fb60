/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The YAML front door (--config FILE, and a reload of that file): a
 * top-level mapping whose only key is `vms`, a list of mappings with the
 * VM keys. Read with libyaml's event API; each "key: value" goes to
 * config_vm_set as a --vm item does, and this file only adds the line to
 * the message. It knows nothing of the command line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "vv_config.h"
#include "config_private.h"

/* Bigger than any sane list of VMs; refuses to slurp a wrong file. */
#define CONFIG_FILE_MAX (4u << 20)

struct yaml_ctx {
	yaml_parser_t parser;
	yaml_event_t event; /* the current event, valid if have_event */
	bool have_event;
	const char *name; /* file name for messages */
	char *err;
	size_t errlen;
};

static size_t
event_line(const yaml_event_t *ev)
{
	return ev->start_mark.line;
}

/* line is libyaml's 0-based mark; people count from 1. */
__attribute__((format(printf, 3, 4))) static int
yaml_err(struct yaml_ctx *y, size_t line, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(y->err, y->errlen, "%s line %zu: ", y->name, line + 1);
	if (n >= 0 && (size_t) n < y->errlen) {
		va_start(ap, fmt);
		vsnprintf(y->err + n, y->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int
next(struct yaml_ctx *y)
{
	const yaml_parser_t *p = &y->parser;
	const char *problem;

	if (y->have_event)
		yaml_event_delete(&y->event);
	y->have_event = false;
	if (!yaml_parser_parse(&y->parser, &y->event)) {
		if (p->error == YAML_MEMORY_ERROR) {
			config_err(y->err, y->errlen, "%s: out of memory", y->name);
			return -ENOMEM;
		}
		problem = p->problem != NULL ? p->problem : "syntax error";
		/* The context often starts lines before the problem shows. */
		if (p->context != NULL)
			return yaml_err(y, p->problem_mark.line, "%s (%s at line %zu)", problem,
					p->context, p->context_mark.line + 1);
		return yaml_err(y, p->problem_mark.line, "%s", problem);
	}
	y->have_event = true;
	return 0;
}

static bool
is_scalar(const yaml_event_t *ev)
{
	return ev->type == YAML_SCALAR_EVENT;
}

static const char *
scalar(const yaml_event_t *ev)
{
	return (const char *) ev->data.scalar.value;
}

static int
expect(struct yaml_ctx *y, yaml_event_type_t type, const char *what)
{
	int rc = next(y);

	if (rc == 0 && y->event.type != type)
		rc = yaml_err(y, event_line(&y->event), "expected %s", what);
	return rc;
}

/* kev is the key event; y->event is its value. */
static int
vm_key(struct yaml_ctx *y, struct vv_vm_config *vm, uint64_t *seen, size_t *key_line,
       const yaml_event_t *kev)
{
	const yaml_event_t *vev = &y->event;
	char why[CONFIG_MSG_MAX];
	int k;

	if (!is_scalar(kev))
		return yaml_err(y, event_line(kev), "expected a key name");
	if (!is_scalar(vev))
		return yaml_err(y, event_line(vev), "%s: expected a single value", scalar(kev));
	if (strlen(scalar(vev)) != vev->data.scalar.length)
		return yaml_err(y, event_line(vev), "%s: value contains a NUL byte", scalar(kev));
	k = config_vm_set(vm, seen, scalar(kev), scalar(vev), why, sizeof(why));
	if (k < 0)
		return yaml_err(y, event_line(kev), "%s", why);
	key_line[k] = event_line(kev);
	return 0;
}

static int
parse_vm(struct yaml_ctx *y, struct vv_config *cfg)
{
	size_t start = event_line(&y->event), key_line[CONFIG_KEYS_MAX] = { 0 };
	char why[CONFIG_MSG_MAX];
	uint64_t seen = 0;
	int idx, rc, bad;

	idx = config_vm_add(cfg, why, sizeof(why));
	if (idx < 0) {
		yaml_err(y, start, "%s", why);
		return idx;
	}
	for (;;) {
		yaml_event_t kev;

		rc = next(y);
		if (rc != 0)
			return rc;
		if (y->event.type == YAML_MAPPING_END_EVENT)
			break;
		/* Keep the key event while reading its value. */
		kev = y->event;
		y->have_event = false;
		rc = next(y);
		if (rc == 0)
			rc = vm_key(y, &cfg->vms[idx], &seen, key_line, &kev);
		yaml_event_delete(&kev);
		if (rc != 0)
			return rc;
	}
	if (config_vm_check(cfg, idx, &bad, why, sizeof(why)) != 0)
		/* A clash on a default value has no line of its own. */
		return yaml_err(y, bad >= 0 && (seen & 1ull << bad) ? key_line[bad] : start, "%s",
				why);
	return 0;
}

static int
parse_vms(struct yaml_ctx *y, struct vv_config *cfg)
{
	int rc = expect(y, YAML_SEQUENCE_START_EVENT, "'vms' to be a list of VMs");

	while (rc == 0) {
		rc = next(y);
		if (rc != 0 || y->event.type == YAML_SEQUENCE_END_EVENT)
			break;
		if (y->event.type != YAML_MAPPING_START_EVENT)
			return yaml_err(y, event_line(&y->event),
					"each VM in 'vms' must be a mapping of key: value");
		rc = parse_vm(y, cfg);
	}
	return rc;
}

static int
parse_document(struct yaml_ctx *y, struct vv_config *cfg)
{
	bool have_vms = false;
	int rc;

	rc = expect(y, YAML_STREAM_START_EVENT, "a YAML stream");
	if (rc == 0)
		rc = next(y);
	if (rc != 0)
		return rc;
	if (y->event.type != YAML_DOCUMENT_START_EVENT)
		return yaml_err(y, event_line(&y->event), "empty file, expected 'vms:'");
	rc = expect(y, YAML_MAPPING_START_EVENT, "a mapping with a 'vms:' list");
	while (rc == 0) {
		rc = next(y);
		if (rc != 0 || y->event.type == YAML_MAPPING_END_EVENT)
			break;
		if (!is_scalar(&y->event) || strcmp(scalar(&y->event), "vms") != 0)
			return yaml_err(y, event_line(&y->event), "unknown top-level key '%s'",
					is_scalar(&y->event) ? scalar(&y->event) : "?");
		if (have_vms)
			return yaml_err(y, event_line(&y->event), "'vms' given twice");
		have_vms = true;
		rc = parse_vms(y, cfg);
	}
	if (rc != 0)
		return rc;
	if (!have_vms)
		return yaml_err(y, event_line(&y->event), "no 'vms:' list");
	rc = expect(y, YAML_DOCUMENT_END_EVENT, "the end of the document");
	if (rc == 0)
		rc = expect(y, YAML_STREAM_END_EVENT, "a single YAML document");
	return rc;
}

int
vv_config_parse_yaml(struct vv_config *cfg, const char *text, size_t len, char *err, size_t errlen)
{
	struct yaml_ctx y = {
		.name = cfg->config_file[0] != '\0' ? cfg->config_file : "YAML",
		.err = err,
		.errlen = errlen,
	};
	int rc;

	if (!yaml_parser_initialize(&y.parser)) {
		config_err(err, errlen, "%s: out of memory", y.name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&y.parser, (const unsigned char *) text, len);
	rc = parse_document(&y, cfg);
	if (y.have_event)
		yaml_event_delete(&y.event);
	yaml_parser_delete(&y.parser);
	return rc;
}

static int
read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	size_t cap = 0, n = 0, r;
	char *buf = NULL, *tmp;
	int rc = 0;

	/* "--config:" although a reload reads it too: it is the file that
	 * option named, and the operator knows it by that name. */
	if (f == NULL) {
		rc = errno == ENOENT ? -ENOENT : errno == EACCES || errno == EPERM ? -EACCES : -EIO;
		config_err(err, errlen, "--config: cannot open '%s': %s", path, strerror(errno));
		return rc;
	}
	do {
		if (n == cap) {
			/* One byte past the limit tells a file of exactly the
			 * limit (accepted) from a larger one. */
			if (cap > CONFIG_FILE_MAX) {
				config_err(err, errlen, "--config: '%s' is larger than %u bytes",
					   path, CONFIG_FILE_MAX);
				rc = -EINVAL;
				break;
			}
			cap = cap == 0			  ? 4096
			      : cap * 2 > CONFIG_FILE_MAX ? CONFIG_FILE_MAX + 1
							  : cap * 2;
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

int
vv_config_load_yaml(struct vv_config *cfg, const char *path, char *err, size_t errlen)
{
	size_t len = strlen(path);
	char *text;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (len == 0 || len >= sizeof(cfg->config_file)) {
		config_err(err, errlen, "--config: %s", len == 0 ? "empty path" : "path too long");
		return -EINVAL;
	}
	memcpy(cfg->config_file, path, len + 1);
	rc = read_file(path, &text, &len, err, errlen);
	if (rc != 0)
		return rc;
	rc = vv_config_parse_yaml(cfg, text, len, err, errlen);
	free(text);
	if (rc != 0)
		return rc;
	return vv_config_validate(cfg, err, errlen);
}
