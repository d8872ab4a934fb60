/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a reload (SIGHUP) builds on: vv_config_load_yaml reads the --config
 * file with the start-up checks and messages, vv_config_vm_find matches
 * VMs by CID and vv_config_vm_diff names what changed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vv_config.h"

static char tmpdir[64], path[128];
static char err[512];

static int
make_tmpdir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vv-reload-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/vms.yaml", tmpdir);
	return 0;
}

static int
remove_tmpdir(void **state)
{
	unlink(path);
	return rmdir(tmpdir);
}

static void
write_file(const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int
parse_config_arg(struct vv_config *cfg)
{
	char *argv[] = { "dpdk-vhost-vsock", "--idle-sleep-us", "7", "--config", path, NULL };

	return vv_config_parse_args(cfg, 5, argv, err, sizeof(err));
}

static void
test_load(void **state)
{
	static const char yaml[] = "vms:\n"
				   "  - {guest_cid: 3, socket: /s3, uds_path: /u3}\n"
				   "  - {guest_cid: 4, socket: /s4, uds_path: /u4, lcore: 2}\n";
	struct vv_config cfg, args;

	write_file(yaml, sizeof(yaml) - 1);
	assert_int_equal(vv_config_load_yaml(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(cfg.action, VV_CONFIG_RUN);
	assert_string_equal(cfg.config_file, path);
	assert_int_equal(cfg.idle_sleep_us, 0);
	assert_int_equal(cfg.n_vms, 2);
	assert_int_equal(cfg.vms[1].lcore, 2);
	assert_int_equal(cfg.vms[0].tx_buffer_size, VV_DEFAULT_TX_BUFFER_SIZE);

	/* --config gives the same VMs, and keeps the command line's options. */
	assert_int_equal(parse_config_arg(&args), 0);
	assert_int_equal(args.idle_sleep_us, 7);
	assert_int_equal(args.n_vms, cfg.n_vms);
	for (unsigned int i = 0; i < cfg.n_vms; i++)
		assert_int_equal(vv_config_vm_diff(&cfg.vms[i], &args.vms[i], NULL, 0), 0);
	vv_config_free(&args);
	vv_config_free(&cfg);
}

/* A bad file is refused with the very message start-up gives. */
static void
test_load_errors_as_startup(void **state)
{
	static const char *const bad[] = {
		"vms:\n  - {guest_cid: 3, socket: /s, uds_path: /u}\n"
		"  - {guest_cid: 3, socket: /t, uds_path: /v}\n",
		"vms:\n  - socket: /s\n    uds_path: /u\n    queue_size: 1000\n",
		"vms: []\n",
		"vms:\n  - socket: /s\n\tuds_path: /u\n",
		"",
	};
	static const char *const needle[] = {
		"vms.yaml line 3: duplicate guest_cid 3 (also VM #1)",
		"vms.yaml line 4: queue_size: '1000' is not a power of two",
		"no VM configured",
		"vms.yaml line 3: ",
		"vms.yaml line 1: empty file",
	};
	char startup[sizeof(err)];
	struct vv_config cfg;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(bad[i], strlen(bad[i]));
		assert_int_equal(parse_config_arg(&cfg), -EINVAL);
		vv_config_free(&cfg);
		memcpy(startup, err, sizeof(startup));
		assert_int_equal(vv_config_load_yaml(&cfg, path, err, sizeof(err)), -EINVAL);
		vv_config_free(&cfg);
		assert_string_equal(err, startup);
		if (strstr(err, needle[i]) == NULL)
			fail_msg("case %zu: '%s' not in '%s'", i, needle[i], err);
	}
}

static void
test_load_file_errors(void **state)
{
	char missing[160];
	struct vv_config cfg;
	char *big;

	snprintf(missing, sizeof(missing), "%s/missing.yaml", tmpdir);
	assert_int_equal(vv_config_load_yaml(&cfg, missing, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "--config: cannot open"));
	assert_non_null(strstr(err, missing));
	vv_config_free(&cfg);

	assert_int_equal(vv_config_load_yaml(&cfg, tmpdir, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, tmpdir));
	vv_config_free(&cfg);

	assert_int_equal(vv_config_load_yaml(&cfg, "", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--config: empty path"));
	vv_config_free(&cfg);

	/* Over 4 MiB is not a list of VMs: refused before it is parsed. */
	big = malloc((4u << 20) + 1);
	assert_non_null(big);
	memset(big, '#', (4u << 20) + 1);
	write_file(big, (4u << 20) + 1);
	assert_int_equal(vv_config_load_yaml(&cfg, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is larger than 4194304 bytes"));
	vv_config_free(&cfg);

	/* Exactly 4 MiB is within "at most 4 MiB": a list of VMs padded with
	 * a comment reads like any other file. */
	{
		static const char vms[] = "vms:\n  - guest_cid: 3\n    socket: /tmp/s3\n"
					  "    uds_path: /tmp/u3\n";

		memcpy(big, vms, sizeof(vms) - 1);
		big[(4u << 20) - 1] = '\n';
		write_file(big, 4u << 20);
	}
	free(big);
	assert_int_equal(vv_config_load_yaml(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_vms, 1);
	vv_config_free(&cfg);
}

static void
vm_init(struct vv_vm_config *vm, uint64_t cid)
{
	memset(vm, 0, sizeof(*vm));
	vm->guest_cid = cid;
	snprintf(vm->socket, sizeof(vm->socket), "/s%u", (unsigned int) cid);
	snprintf(vm->uds_path, sizeof(vm->uds_path), "/u%u", (unsigned int) cid);
	vm->tx_buffer_size = 65536;
	vm->queue_size = 1024;
	vm->n_groups = 2;
	snprintf(vm->groups[0], sizeof(vm->groups[0]), "a");
	snprintf(vm->groups[1], sizeof(vm->groups[1]), "b");
	vm->lcore = -1;
}

static void
test_vm_diff(void **state)
{
	struct vv_vm_config a, b;
	char what[64];

	vm_init(&a, 3);
	vm_init(&b, 3);
	assert_int_equal(vv_config_vm_diff(&a, &b, what, sizeof(what)), 0);
	assert_string_equal(what, "");

	/* Groups are a set: the order they were written in is no change. */
	snprintf(b.groups[0], sizeof(b.groups[0]), "b");
	snprintf(b.groups[1], sizeof(b.groups[1]), "a");
	assert_int_equal(vv_config_vm_diff(&a, &b, what, sizeof(what)), 0);

	b.tx_buffer_size = 4096;
	b.n_groups = 1;
	assert_int_equal(vv_config_vm_diff(&a, &b, what, sizeof(what)), 2);
	assert_string_equal(what, "tx_buffer_size, groups");
	assert_int_equal(vv_config_vm_diff(&b, &a, NULL, 0), 2);

	vm_init(&b, 3);
	b.lcore = 1;
	snprintf(b.uds_path, sizeof(b.uds_path), "/other");
	assert_int_equal(vv_config_vm_diff(&a, &b, what, sizeof(what)), 2);
	assert_string_equal(what, "uds_path, lcore");
	/* Cut to the room given, never past it. */
	memset(what, 'x', sizeof(what));
	assert_int_equal(vv_config_vm_diff(&a, &b, what, 6), 2);
	assert_string_equal(what, "uds_p");
	assert_int_equal(what[6], 'x');
}

static void
test_vm_find(void **state)
{
	struct vv_vm_config vms[3];
	struct vv_config cfg = { .vms = vms, .n_vms = 3 };

	vm_init(&vms[0], 3);
	vm_init(&vms[1], 9);
	vm_init(&vms[2], 4);
	assert_int_equal(vv_config_vm_find(&cfg, 9), 1);
	assert_int_equal(vv_config_vm_find(&cfg, 4), 2);
	assert_int_equal(vv_config_vm_find(&cfg, 5), -ENOENT);
	cfg.n_vms = 0;
	assert_int_equal(vv_config_vm_find(&cfg, 3), -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_load_errors_as_startup, make_tmpdir,
						remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_load_file_errors, make_tmpdir, remove_tmpdir),
		cmocka_unit_test(test_vm_diff),
		cmocka_unit_test(test_vm_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
