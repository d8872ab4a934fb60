/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The key table that every way in reads: what a new key must get right
 * (a default its own checks accept, a flag for a required key, one name),
 * and that --help says what the checks enforce.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vv_config.h"
#include "config_private.h"

static void
test_table(void **state)
{
	assert_true(n_config_keys > 0 && n_config_keys <= CONFIG_KEYS_MAX);
	for (unsigned int k = 0; k < n_config_keys; k++) {
		const struct config_key *key = &config_keys[k];

		assert_non_null(key->name);
		assert_non_null(key->type);
		assert_non_null(key->help);
		assert_non_null(key->arg);
		/* The single-VM line cannot be complete without it. */
		if (key->flags & CONFIG_F_REQUIRED) {
			assert_non_null(key->flag);
			assert_null(key->def);
		}
		assert_true(key->min <= key->max);
		assert_true(key->offset < sizeof(struct vv_vm_config));
		for (unsigned int j = 0; j < k; j++) {
			assert_string_not_equal(key->name, config_keys[j].name);
			if (key->flag != NULL && config_keys[j].flag != NULL)
				assert_string_not_equal(key->flag, config_keys[j].flag);
		}
	}
}

/* Spelled with '-' or '_' in --vm and YAML; a flag only with '-'. */
static void
test_lookup(void **state)
{
	for (unsigned int k = 0; k < n_config_keys; k++) {
		const struct config_key *key = &config_keys[k];
		char dashed[64];

		assert_int_equal(config_key_lookup(key->name, strlen(key->name), true), k);
		snprintf(dashed, sizeof(dashed), "%s", key->name);
		for (char *c = dashed; *c != '\0'; c++)
			*c = *c == '_' ? '-' : *c;
		assert_int_equal(config_key_lookup(dashed, strlen(dashed), true), k);
		if (key->flag == NULL)
			continue;
		assert_int_equal(config_key_lookup(key->flag, strlen(key->flag), false), k);
		if (strchr(key->name, '_') != NULL)
			assert_int_equal(config_key_lookup(key->name, strlen(key->name), false), -1);
	}
	/* A length, not a C string: "socket=/x" names socket. */
	assert_int_equal(config_key_lookup("socket=/x", 6, false),
			 config_key_lookup("socket", 6, true));
	assert_int_equal(config_key_lookup("socke", 5, true), -1);
	assert_int_equal(config_key_lookup("sockets", 7, true), -1);
	assert_int_equal(config_key_lookup("", 0, true), -1);
}

/* A new VM holds the defaults, and they pass the checks a user's value would. */
static void
test_defaults_pass_checks(void **state)
{
	struct vv_config cfg = { 0 };
	char msg[CONFIG_MSG_MAX];
	uint64_t seen = 0;

	assert_int_equal(config_vm_add(&cfg, msg, sizeof(msg)), 0);
	for (unsigned int k = 0; k < n_config_keys; k++) {
		const struct config_key *key = &config_keys[k];
		bool missing = key->type->missing(key, &cfg.vms[0]);

		if (key->def != NULL) {
			if (key->type->check(key, &cfg.vms[0], key->name, msg, sizeof(msg)) != 0)
				fail_msg("default of %s refused: %s", key->name, msg);
			assert_false(missing);
		} else {
			assert_true(missing);
		}
	}
	/* A required key given makes the VM complete: nothing else is needed. */
	assert_int_equal(config_vm_check(&cfg, 0, &(int){ 0 }, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "missing socket");
	assert_int_equal(config_vm_set(&cfg.vms[0], &seen, "socket", "/s", msg, sizeof(msg)), 1);
	assert_int_equal(config_vm_set(&cfg.vms[0], &seen, "uds-path", "/u", msg, sizeof(msg)), 2);
	assert_int_equal(seen, 0x6);
	assert_int_equal(config_vm_check(&cfg, 0, &(int){ 0 }, msg, sizeof(msg)), 0);
	assert_int_equal(vv_config_validate(&cfg, msg, sizeof(msg)), 0);
	vv_config_free(&cfg);
}

/* The values that share one host namespace: any two unique path keys. */
static void
test_clash(void **state)
{
	struct vv_vm_config a, b;
	int cid = config_key_lookup("guest_cid", 9, true);
	int sock = config_key_lookup("socket", 6, true);
	int uds = config_key_lookup("uds_path", 8, true);
	int tx = config_key_lookup("tx_buffer_size", 14, true);

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	snprintf(a.socket, sizeof(a.socket), "/p");
	snprintf(b.uds_path, sizeof(b.uds_path), "/p");
	a.tx_buffer_size = b.tx_buffer_size = 4096;
	assert_true(config_key_clash(sock, &a, uds, &b));
	assert_false(config_key_clash(sock, &a, sock, &b));
	/* Not unique: two VMs may use the same size. */
	assert_false(config_key_clash(tx, &a, tx, &b));
	/* Numbers clash only with the same key, never with a path. */
	assert_true(config_key_clash(cid, &a, cid, &b));
	assert_false(config_key_clash(cid, &a, sock, &b));
}

/* --help as one line of words: wrapping only changes the spacing. */
static char *
usage_words(void)
{
	char *text = NULL, *out;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	vv_config_usage("dpdk-vhost-vsock", f);
	assert_int_equal(fclose(f), 0);
	/* No line is wider than a terminal. */
	for (char *line = text; *line != '\0';) {
		size_t l = strcspn(line, "\n");

		if (l > 79)
			fail_msg("--help line of %zu characters: '%.*s'", l, (int) l, line);
		line += l + (line[l] == '\n');
	}
	out = text;
	for (char *c = text; *c != '\0'; c++)
		if (!(*c == ' ' || *c == '\n') || (n > 0 && out[n - 1] != ' '))
			out[n++] = *c == '\n' ? ' ' : *c;
	out[n] = '\0';
	return out;
}

/* Every key is in --help as the table says it: flag or key=, what it is,
 * the limits its checks use, its default. */
static void
test_usage_from_table(void **state)
{
	char *text = usage_words();
	char want[512], limits[128];

	for (unsigned int k = 0; k < n_config_keys; k++) {
		const struct config_key *key = &config_keys[k];

		key->type->limits(key, limits, sizeof(limits));
		if (key->flag != NULL)
			snprintf(want, sizeof(want), "--%s %s %s, %s", key->flag, key->arg,
				 key->help, limits);
		else
			snprintf(want, sizeof(want), "%s=%s %s, %s", key->name, key->arg, key->help,
				 limits);
		if (strstr(text, want) == NULL)
			fail_msg("--help lacks '%s'", want);
		if (key->def != NULL) {
			snprintf(want, sizeof(want), "%s (default %s%s", limits,
				 key->def[0] <= '9' ? "" : "\"", key->def);
			if (strstr(text, want) == NULL)
				fail_msg("--help lacks '%s'", want);
		}
		snprintf(want, sizeof(want), "%s (required)", limits);
		if ((key->flags & CONFIG_F_REQUIRED) && strstr(text, want) == NULL)
			fail_msg("--help does not say %s is required", key->name);
		/* The --vm line lists every key. */
		snprintf(want, sizeof(want), " %s%s", key->name, k + 1 < n_config_keys ? "," : " (");
		if (strstr(text, want) == NULL)
			fail_msg("--help's --vm lacks '%s'", want);
	}
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_defaults_pass_checks),
		cmocka_unit_test(test_clash),
		cmocka_unit_test(test_usage_from_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
