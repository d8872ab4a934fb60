/* SPDX-License-Identifier: BSD-3-Clause */
/* --config YAML: accepted documents, and refusals that name the line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "vv_config.h"

static char err[512];

static int parse(struct vv_config *cfg, const char *text)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->config_file, sizeof(cfg->config_file), "config.yaml");
	err[0] = '\0';
	return vv_config_parse_yaml(cfg, text, strlen(text), err, sizeof(err));
}

static void test_good(void **state)
{
	static const char yaml[] =
		"# dpdk-vhost-vsock VMs\n"
		"vms:\n"
		"  - guest_cid: 4\n"
		"    socket: /tmp/vhost4.socket\n"
		"    uds_path: /tmp/vm4.vsock\n"
		"    tx_buffer_size: 65536\n"
		"    queue_size: 1024\n"
		"    groups: group1+groupA\n"
		"    lcore: 1          # pin to a worker lcore\n"
		"    max_connections: 1023\n"
		"    socket_mode: 0660  # octal as written, not YAML 1.1's 432\n"
		"    socket_group: root\n"
		"    uds-mode: '600'\n"
		"  - guest-cid: \"5\"\n"
		"    socket: '/tmp/vhost5.socket'\n"
		"    uds-path: /tmp/vm5.vsock\n"
		"    tx-buffer-size: 8192\n"
		"    queue-size: 256\n"
		"    groups: groupA\n"
		"  - {guest_cid: 6, socket: /s6, uds_path: /u6}\n";
	struct vv_config cfg;

	assert_int_equal(parse(&cfg, yaml), 0);
	assert_int_equal(cfg.n_vms, 3);
	assert_int_equal(cfg.vms[0].guest_cid, 4);
	assert_string_equal(cfg.vms[0].socket, "/tmp/vhost4.socket");
	assert_string_equal(cfg.vms[0].uds_path, "/tmp/vm4.vsock");
	assert_int_equal(cfg.vms[0].tx_buffer_size, 65536);
	assert_int_equal(cfg.vms[0].queue_size, 1024);
	assert_int_equal(cfg.vms[0].n_groups, 2);
	assert_string_equal(cfg.vms[0].groups[0], "group1");
	assert_string_equal(cfg.vms[0].groups[1], "groupA");
	assert_int_equal(cfg.vms[0].lcore, 1);
	assert_int_equal(cfg.vms[0].max_connections, 1023);
	assert_int_equal(cfg.vms[0].socket_mode, 0660);
	assert_int_equal(cfg.vms[0].socket_gid, 0);
	assert_int_equal(cfg.vms[0].socket_uid, VV_ID_UNSET);
	assert_int_equal(cfg.vms[0].uds_mode, 0600);
	assert_int_equal(cfg.vms[1].socket_mode, VV_MODE_UNSET);
	assert_int_equal(cfg.vms[1].max_connections, VV_DEFAULT_MAX_CONNECTIONS);
	assert_int_equal(cfg.vms[1].guest_cid, 5);
	assert_string_equal(cfg.vms[1].socket, "/tmp/vhost5.socket");
	assert_string_equal(cfg.vms[1].uds_path, "/tmp/vm5.vsock");
	assert_int_equal(cfg.vms[1].tx_buffer_size, 8192);
	assert_int_equal(cfg.vms[1].queue_size, 256);
	assert_int_equal(cfg.vms[1].lcore, -1);
	assert_int_equal(cfg.vms[2].guest_cid, 6);
	assert_int_equal(cfg.vms[2].queue_size, 1024);
	assert_string_equal(cfg.vms[2].groups[0], "default");
	assert_true(vv_config_groups_intersect(&cfg.vms[0], &cfg.vms[1]));
	assert_false(vv_config_groups_intersect(&cfg.vms[0], &cfg.vms[2]));
	assert_int_equal(vv_config_validate(&cfg, err, sizeof(err)), 0);
	vv_config_free(&cfg);
}

static void test_empty_list(void **state)
{
	struct vv_config cfg;

	/* Well-formed; that there is nothing to run is vv_config_validate's call. */
	assert_int_equal(parse(&cfg, "vms: []\n"), 0);
	assert_int_equal(cfg.n_vms, 0);
	assert_int_equal(vv_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no VM"));
	vv_config_free(&cfg);
}

/* A second document is checked against the VMs already there. */
static void test_appends(void **state)
{
	static const char second[] = "vms: [{guest_cid: 8, socket: /c, uds_path: /d}]\n";
	static const char clash[] = "vms:\n - {guest_cid: 7, socket: /e, uds_path: /f}\n";
	struct vv_config cfg;

	assert_int_equal(parse(&cfg, "vms: [{guest_cid: 7, socket: /a, uds_path: /b}]\n"), 0);
	assert_int_equal(vv_config_parse_yaml(&cfg, second, strlen(second), err, sizeof(err)), 0);
	assert_int_equal(cfg.n_vms, 2);
	assert_int_equal(cfg.vms[1].guest_cid, 8);
	assert_int_equal(vv_config_parse_yaml(&cfg, clash, strlen(clash), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "config.yaml line 2: duplicate guest_cid 7 (also VM #1)"));
	vv_config_free(&cfg);
}

static void test_unnamed(void **state)
{
	struct vv_config cfg = {0};

	assert_int_equal(vv_config_parse_yaml(&cfg, "vm: []\n", strlen("vm: []\n"), err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "YAML line 1: unknown top-level key 'vm'"));
	vv_config_free(&cfg);
}

struct bad {
	const char *yaml;
	const char *needles[3];
};

static const struct bad bad_cases[] = {
	{"vms:\n"
	 "  - guest_cid: 4\n"
	 "    socket: /tmp/vhost4.socket\n"
	 "    uds_path: /tmp/vm4.vsock\n"
	 "  - socket: /tmp/vhost5.socket\n"
	 "    uds_path: /tmp/vm5.vsock\n"
	 "    guest_cid: 4\n",
	 {"config.yaml line 7: duplicate guest_cid 4 (also VM #1)"}},
	/* Both VMs take the default CID: the clash is the second VM's. */
	{"vms:\n"
	 "  - socket: /a\n"
	 "    uds_path: /b\n"
	 "  - socket: /c\n"
	 "    uds_path: /d\n",
	 {"config.yaml line 4: duplicate guest_cid 3 (also VM #1)"}},
	{"vms:\n"
	 "  - {guest_cid: 4, socket: /a, uds_path: /b}\n"
	 "  - guest_cid: 5\n"
	 "    uds_path: /d\n"
	 "    socket: /b\n",
	 {"config.yaml line 5: duplicate socket '/b' (also uds_path of VM #1)"}},
	{"vms:\n"
	 "  - guest_cid: 4\n"
	 "    sockett: /s\n",
	 {"config.yaml line 3: unknown key 'sockett'"}},
	{"vms:\n"
	 "  - socket: /s\n"
	 "    uds_path: /u\n"
	 "    queue_size: 1000\n",
	 {"config.yaml line 4: queue_size: '1000' is not a power of two"}},
	{"vms:\n"
	 "  - socket: /s\n"
	 "    uds-path: /u\n"
	 "    socket: /t\n",
	 {"config.yaml line 4: socket: given twice"}},
	{"vms:\n"
	 "  - socket: /s\n"
	 "    uds_path: /u\n"
	 "    guest_cid: -4\n",
	 {"config.yaml line 4: guest_cid: '-4' is negative"}},
	{"vms:\n"
	 "  - socket: /s\n"
	 "    uds_path: /u\n"
	 "    lcore:\n",
	 {"config.yaml line 4: lcore: empty value"}},
	{"vms:\n"
	 "  - socket: /s\n"
	 "    uds_path: /u\n"
	 "    tx_buffer_size: 99999999999999999999\n",
	 {"config.yaml line 4: tx_buffer_size: '99999999999999999999' is too large"}},
	{"vms:\n"
	 "  - socket: /s\n"
	 "    uds_path: /u\n"
	 "    groups: [a, b]\n",
	 {"config.yaml line 4: groups: expected a single value"}},
	{"vms:\n"
	 "  - socket: /s\n"
	 "    uds_path: /u\n"
	 "    groups: a+b+\n",
	 {"config.yaml line 4: groups: empty group name", "'a+b+'"}},
	{"vms:\n"
	 "  - guest_cid: 4\n"
	 "    uds_path: /u\n",
	 {"config.yaml line 2: missing socket"}},
	{"vms:\n"
	 "\n"
	 "  - guest_cid: 4\n"
	 "    socket: /s\n"
	 "    uds_path: /s\n",
	 {"config.yaml line 5: socket and uds_path are the same path '/s'"}},
	{"vms:\n"
	 "  - socket: \"/s\n"
	 "    uds_path: /u\n",
	 {"config.yaml line 4: ", "quoted scalar at line 2"}},
	{"vms:\n"
	 "  - socket: /s\n"
	 "\tuds_path: /u\n",
	 {"config.yaml line 3: ", "tab"}},
	{"vms:\n"
	 "  - socket: /s\n"
	 "    uds_path: /u\n"
	 "  bad\n",
	 {"config.yaml line 5: ", "':'", "simple key at line 4"}},
	{"vms: 4\n", {"config.yaml line 1: expected 'vms' to be a list of VMs"}},
	{"vms:\n  - 4\n", {"config.yaml line 2: each VM in 'vms' must be a mapping"}},
	{"vms:\n  - &a {socket: /s, uds_path: /u}\n  - *a\n",
	 {"config.yaml line 3: each VM in 'vms' must be a mapping"}},
	{"vms:\n  - [a]: 1\n", {"config.yaml line 2: expected a key name"}},
	{"vm:\n  - socket: /s\n", {"config.yaml line 1: unknown top-level key 'vm'"}},
	{"vms: []\nvms: []\n", {"config.yaml line 2: 'vms' given twice"}},
	{"- socket: /s\n", {"config.yaml line 1: expected a mapping with a 'vms:' list"}},
	{"{}\n", {"config.yaml line 1: no 'vms:' list"}},
	{"", {"config.yaml line 1: empty file"}},
	{"# only a comment\n", {"config.yaml", "empty file"}},
	{"vms: []\n---\nvms: []\n", {"config.yaml line 2: expected a single YAML document"}},
};

static void test_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad *b = &bad_cases[i];
		struct vv_config cfg;
		int rc = parse(&cfg, b->yaml);

		if (rc != -EINVAL)
			fail_msg("case %zu: rc %d, err '%s'", i, rc, err);
		for (size_t j = 0; j < 3 && b->needles[j] != NULL; j++)
			if (strstr(err, b->needles[j]) == NULL)
				fail_msg("case %zu: '%s' not in '%s'", i, b->needles[j], err);
		vv_config_free(&cfg);
	}
}

/* libyaml reads a length, not a C string: a NUL inside is data, refused. */
static void test_nul_in_value(void **state)
{
	static const char yaml[] = "vms:\n  - socket: \"/s\\0x\"\n    uds_path: /u\n";
	struct vv_config cfg;

	assert_int_equal(parse(&cfg, yaml), -EINVAL);
	assert_non_null(strstr(err, "config.yaml line 2: socket: value contains a NUL byte"));
	vv_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_empty_list),
		cmocka_unit_test(test_appends),
		cmocka_unit_test(test_unnamed),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_nul_in_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
