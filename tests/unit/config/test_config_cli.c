/* SPDX-License-Identifier: BSD-3-Clause */
/* Command line of dpdk-vhost-vsock: every accepted form and every refusal. */
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

#define ARGS_MAX 2100
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static char err[512];

/* argv as main() gets it: writable copies, program name first. */
static int parse(struct vv_config *cfg, const char *const *args)
{
	static char *argv[ARGS_MAX];
	int argc = 0, rc;

	argv[argc++] = strdup("dpdk-vhost-vsock");
	for (; *args != NULL; args++)
		argv[argc++] = strdup(*args);
	err[0] = '\0';
	rc = vv_config_parse_args(cfg, argc, argv, err, sizeof(err));
	while (argc > 0)
		free(argv[--argc]);
	return rc;
}

static void assert_vm(const struct vv_vm_config *vm, uint64_t cid, const char *socket,
		      const char *uds, uint32_t tx, uint32_t qs, int lcore)
{
	assert_int_equal(vm->guest_cid, cid);
	assert_string_equal(vm->socket, socket);
	assert_string_equal(vm->uds_path, uds);
	assert_int_equal(vm->tx_buffer_size, tx);
	assert_int_equal(vm->queue_size, qs);
	assert_int_equal(vm->lcore, lcore);
}

static void test_defaults(void **state)
{
	struct vv_config cfg;

	assert_int_equal(parse(&cfg, ARGS("--socket", "/tmp/v.sock", "--uds-path", "/tmp/v.vsock")), 0);
	assert_int_equal(cfg.action, VV_CONFIG_RUN);
	assert_int_equal(cfg.n_vms, 1);
	assert_int_equal(cfg.idle_sleep_us, 0);
	assert_int_equal(cfg.idle_poll_us, VV_DEFAULT_IDLE_POLL_US);
	assert_false(cfg.busy_poll);
	assert_string_equal(cfg.config_file, "");
	assert_vm(&cfg.vms[0], 3, "/tmp/v.sock", "/tmp/v.vsock", 65536, 1024, -1);
	assert_int_equal(cfg.vms[0].n_groups, 1);
	assert_string_equal(cfg.vms[0].groups[0], "default");
	vv_config_free(&cfg);
	assert_null(cfg.vms);
	assert_int_equal(cfg.n_vms, 0);
}

static void test_single_vm_equals_form(void **state)
{
	struct vv_config cfg;

	assert_int_equal(parse(&cfg, ARGS("--guest-cid=4294967294", "--socket=/s", "--uds-path=/u",
					  "--tx-buffer-size=4096", "--queue-size=2",
					  "--groups=a+B.c+d_e-9", "--idle-sleep-us=1000000",
					  "--idle-poll-us=1000000")), 0);
	assert_int_equal(cfg.n_vms, 1);
	assert_vm(&cfg.vms[0], 4294967294u, "/s", "/u", 4096, 2, -1);
	assert_int_equal(cfg.vms[0].n_groups, 3);
	assert_string_equal(cfg.vms[0].groups[0], "a");
	assert_string_equal(cfg.vms[0].groups[1], "B.c");
	assert_string_equal(cfg.vms[0].groups[2], "d_e-9");
	assert_int_equal(cfg.idle_sleep_us, 1000000);
	assert_int_equal(cfg.idle_poll_us, 1000000);
	assert_false(cfg.busy_poll);
	vv_config_free(&cfg);
}

static void test_busy_poll(void **state)
{
	struct vv_config cfg;

	assert_int_equal(parse(&cfg, ARGS("--socket", "/s", "--uds-path", "/u", "--busy-poll")), 0);
	assert_true(cfg.busy_poll);
	vv_config_free(&cfg);
	assert_int_equal(parse(&cfg, ARGS("--idle-poll-us", "0", "--socket", "/s", "--uds-path",
					  "/u")), 0);
	assert_false(cfg.busy_poll);
	assert_int_equal(cfg.idle_poll_us, 0);
	vv_config_free(&cfg);
}

static void test_single_vm_limits(void **state)
{
	char uds[VV_UDS_PATH_MAX + 1], sock[VV_PATH_MAX], group[VV_GROUP_NAME_MAX];
	char groups[VV_GROUPS_MAX * 2];
	struct vv_config cfg;

	memset(uds, 'u', sizeof(uds) - 1);
	uds[0] = '/';
	uds[sizeof(uds) - 1] = '\0';
	memset(sock, 's', sizeof(sock) - 1);
	sock[0] = '/';
	sock[sizeof(sock) - 1] = '\0';
	memset(group, 'g', sizeof(group) - 1);
	group[sizeof(group) - 1] = '\0';
	for (unsigned int i = 0; i < VV_GROUPS_MAX; i++)
		snprintf(groups + 2 * i, sizeof(groups) - 2 * i, "%c+", 'a' + i);
	groups[2 * VV_GROUPS_MAX - 1] = '\0';    /* drop the last '+' */
	assert_int_equal(parse(&cfg, ARGS("--socket", sock, "--uds-path", uds,
					  "--tx-buffer-size", "1073741824",
					  "--queue-size", "32768", "--groups", groups)), 0);
	assert_vm(&cfg.vms[0], 3, sock, uds, 1u << 30, 32768, -1);
	assert_int_equal(cfg.vms[0].n_groups, VV_GROUPS_MAX);
	vv_config_free(&cfg);

	assert_int_equal(parse(&cfg, ARGS("--socket", "/s", "--uds-path", "/u", "--groups", group)), 0);
	assert_string_equal(cfg.vms[0].groups[0], group);
	vv_config_free(&cfg);
}

static void test_vm_dashes_and_underscores(void **state)
{
	struct vv_config cfg;

	assert_int_equal(parse(&cfg, ARGS(
		"--vm", "guest-cid=4,socket=/s4,uds-path=/u4,tx-buffer-size=8192,queue-size=256,groups=g1+g2,lcore=1",
		"--idle-sleep-us", "20",
		"--vm=guest_cid=5,socket=/s5,uds_path=/u5,tx_buffer_size=1073741824,queue_size=32768,groups=g2,lcore=1023",
		"--vm", "guest_cid=6,socket=/s6,uds-path=/u6")), 0);
	assert_int_equal(cfg.n_vms, 3);
	assert_int_equal(cfg.idle_sleep_us, 20);
	assert_vm(&cfg.vms[0], 4, "/s4", "/u4", 8192, 256, 1);
	assert_vm(&cfg.vms[1], 5, "/s5", "/u5", 1u << 30, 32768, 1023);
	assert_vm(&cfg.vms[2], 6, "/s6", "/u6", 65536, 1024, -1);
	assert_int_equal(cfg.vms[0].n_groups, 2);
	assert_string_equal(cfg.vms[0].groups[1], "g2");
	assert_string_equal(cfg.vms[2].groups[0], "default");
	assert_true(vv_config_groups_intersect(&cfg.vms[0], &cfg.vms[1]));
	assert_false(vv_config_groups_intersect(&cfg.vms[1], &cfg.vms[2]));
	vv_config_free(&cfg);
}

/* The bounds and the sockets' owners: defaults, names and numbers. */
static void test_bounds_and_owners(void **state)
{
	struct vv_config cfg;

	assert_int_equal(parse(&cfg, ARGS("--socket", "/s", "--uds-path", "/u")), 0);
	assert_int_equal(cfg.vms[0].max_connections, VV_DEFAULT_MAX_CONNECTIONS);
	assert_int_equal(cfg.vms[0].max_pending_connects, VV_DEFAULT_MAX_PENDING_CONNECTS);
	assert_int_equal(cfg.vms[0].socket_mode, VV_MODE_UNSET);
	assert_int_equal(cfg.vms[0].uds_mode, VV_MODE_UNSET);
	assert_true(cfg.vms[0].socket_uid == VV_ID_UNSET && cfg.vms[0].socket_gid == VV_ID_UNSET);
	assert_true(cfg.vms[0].uds_uid == VV_ID_UNSET && cfg.vms[0].uds_gid == VV_ID_UNSET);
	vv_config_free(&cfg);

	/* Octal as chmod reads it, with or without the leading 0; names
	 * resolved now (root is user and group 0 on every Linux). */
	assert_int_equal(parse(&cfg, ARGS("--socket", "/s", "--uds-path", "/u",
					  "--max-connections", "65536", "--max-pending-connects", "1",
					  "--socket-mode", "0660", "--socket-user", "root",
					  "--socket-group", "4242", "--uds-mode", "600",
					  "--uds-user", "77", "--uds-group", "root")), 0);
	assert_int_equal(cfg.vms[0].max_connections, 65536);
	assert_int_equal(cfg.vms[0].max_pending_connects, 1);
	assert_int_equal(cfg.vms[0].socket_mode, 0660);
	assert_int_equal(cfg.vms[0].socket_uid, 0);
	assert_int_equal(cfg.vms[0].socket_gid, 4242);
	assert_int_equal(cfg.vms[0].uds_mode, 0600);
	assert_int_equal(cfg.vms[0].uds_uid, 77);
	assert_int_equal(cfg.vms[0].uds_gid, 0);
	vv_config_free(&cfg);

	assert_int_equal(parse(&cfg, ARGS("--vm", "socket=/s,uds_path=/u,socket-mode=0777,"
						  "uds_mode=0001,max-connections=1")), 0);
	assert_int_equal(cfg.vms[0].socket_mode, 0777);
	assert_int_equal(cfg.vms[0].uds_mode, 01);
	assert_int_equal(cfg.vms[0].max_connections, 1);
	vv_config_free(&cfg);
}

static void test_help_and_version(void **state)
{
	struct vv_config cfg;

	assert_int_equal(parse(&cfg, ARGS("--help")), 0);
	assert_int_equal(cfg.action, VV_CONFIG_HELP);
	vv_config_free(&cfg);
	/* Help wins over what follows, even nonsense, as with clap. */
	assert_int_equal(parse(&cfg, ARGS("--socket", "/s", "-h", "--bogus")), 0);
	assert_int_equal(cfg.action, VV_CONFIG_HELP);
	vv_config_free(&cfg);
	assert_int_equal(parse(&cfg, ARGS("--version")), 0);
	assert_int_equal(cfg.action, VV_CONFIG_VERSION);
	assert_int_equal(cfg.n_vms, 0);
	vv_config_free(&cfg);
	assert_int_equal(parse(&cfg, ARGS("-V")), 0);
	assert_int_equal(cfg.action, VV_CONFIG_VERSION);
	vv_config_free(&cfg);
}

struct bad {
	const char *args[8];
	const char *needles[4];
};

#define S "--socket", "/s"
#define U "--uds-path", "/u"
#define LONG_PATH_108 "/" \
	"sssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss" \
	"ssssssssssssssssssssss"
#define LONG_PATH_97 "/" \
	"uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"
#define GROUP_64 "gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg"

static const struct bad bad_cases[] = {
	/* guest CID */
	{{"--guest-cid", "2", S, U}, {"--guest-cid: '2' is reserved (0, 1 and 2 are not guest CIDs)"}},
	{{"--guest-cid", "0", S, U}, {"--guest-cid", "'0'", "reserved"}},
	{{"--guest-cid=1", S, U}, {"--guest-cid", "'1'", "reserved"}},
	{{"--guest-cid", "4294967295", S, U}, {"--guest-cid", "'4294967295'", "too large"}},
	{{"--guest-cid", "18446744073709551615", S, U}, {"--guest-cid", "18446744073709551615"}},
	{{"--guest-cid", "18446744073709551616", S, U}, {"--guest-cid", "'18446744073709551616'", "too large"}},
	{{"--guest-cid", "-3", S, U}, {"--guest-cid", "'-3'", "negative"}},
	{{"--guest-cid=", S, U}, {"--guest-cid", "empty value"}},
	{{"--guest-cid", "12a", S, U}, {"--guest-cid", "'12a'", "not a number"}},
	{{"--guest-cid", " 5", S, U}, {"--guest-cid", "' 5'", "not a number"}},
	{{"--guest-cid", "+5", S, U}, {"--guest-cid", "'+5'", "not a number"}},
	{{"--guest-cid", "0x10", S, U}, {"--guest-cid", "'0x10'", "not a number"}},
	/* sizes */
	{{"--tx-buffer-size", "4095", S, U}, {"--tx-buffer-size", "'4095'", "out of range"}},
	{{"--tx-buffer-size", "1073741825", S, U}, {"--tx-buffer-size", "'1073741825'"}},
	{{"--tx-buffer-size", "4294967296", S, U}, {"--tx-buffer-size", "'4294967296'", "too large"}},
	{{"--queue-size", "0", S, U}, {"--queue-size", "'0'", "power of two"}},
	{{"--queue-size", "1", S, U}, {"--queue-size", "'1'", "power of two"}},
	{{"--queue-size", "1000", S, U}, {"--queue-size", "'1000'", "power of two"}},
	{{"--queue-size", "65536", S, U}, {"--queue-size", "'65536'", "power of two"}},
	/* groups */
	{{"--groups", "", S, U}, {"--groups", "empty group name"}},
	{{"--groups", "a++b", S, U}, {"--groups", "empty group name", "'a++b'"}},
	{{"--groups", "a+", S, U}, {"--groups", "empty group name", "'a+'"}},
	{{"--groups", "a+b c", S, U}, {"--groups", "'b c'", "A-Z"}},
	{{"--groups", "a/b", S, U}, {"--groups", "'a/b'"}},
	{{"--groups", GROUP_64, S, U}, {"--groups", "'" GROUP_64 "'", "too long"}},
	{{"--groups", "a+b+c+d+e+f+g+h+i+j+k+l+m+n+o+p+q", S, U}, {"--groups", "17 groups"}},
	/* paths */
	{{"--socket", LONG_PATH_108, U}, {"--socket", LONG_PATH_108, "too long"}},
	{{"--socket", "", U}, {"--socket", "empty path"}},
	{{"--uds-path", LONG_PATH_97, S}, {"--uds-path", LONG_PATH_97, "too long", "at most 96"}},
	{{"--socket", "/x", "--uds-path", "/x"}, {"same path", "'/x'"}},
	{{S}, {"--uds-path is required"}},
	{{"--guest-cid", "4", U}, {"--socket is required"}},
	{{"--idle-sleep-us", "5"}, {"no VM configured"}},
	/* flags */
	{{"--sockett", "/x", U}, {"unknown option", "'--sockett'"}},
	{{"--sock", "/x", U}, {"unknown option", "'--sock'"}},
	{{"-x", S, U}, {"unknown option", "'-x'"}},
	{{"-hV"}, {"unknown option", "'-hV'"}},
	{{S, U, "extra"}, {"unexpected argument", "'extra'"}},
	{{U, "--socket"}, {"--socket: missing value"}},
	{{"--socket", "--uds-path", "/u"}, {"--socket: missing value"}},
	{{"--help=yes"}, {"--help takes no value"}},
	{{S, U, "--socket", "/t"}, {"--socket: given twice"}},
	{{S, U, "--guest-cid", "4", "--guest-cid", "5"}, {"--guest-cid: given twice"}},
	{{S, U, "--idle-sleep-us", "1", "--idle-sleep-us", "2"}, {"--idle-sleep-us: given twice"}},
	{{S, U, "--idle-sleep-us", "1000001"}, {"--idle-sleep-us", "'1000001'", "too large"}},
	{{S, U, "--idle-sleep-us", "x"}, {"--idle-sleep-us", "'x'", "not a number"}},
	{{S, U, "--idle-poll-us", "1", "--idle-poll-us", "2"}, {"--idle-poll-us: given twice"}},
	{{S, U, "--idle-poll-us", "1000001"}, {"--idle-poll-us", "'1000001'", "too large"}},
	{{S, U, "--idle-poll-us", "-1"}, {"--idle-poll-us", "'-1'"}},
	{{S, U, "--busy-poll", "--busy-poll"}, {"--busy-poll: given twice"}},
	{{S, U, "--busy-poll=1"}, {"--busy-poll takes no value"}},
	{{S, U, "--busy-poll", "--idle-poll-us", "5"}, {"--idle-poll-us", "never sleeps"}},
	{{S, U, "--idle-poll-us", "5", "--busy-poll"}, {"--busy-poll", "--idle-poll-us has no meaning"}},
	/* conflicts */
	{{"--vm", "socket=/s,uds_path=/u", "--guest-cid", "4"}, {"--guest-cid cannot be used with --vm"}},
	{{"--queue-size", "4", "--vm", "socket=/s,uds_path=/u"}, {"--vm cannot be used with --queue-size"}},
	{{"--config", "/c.yaml", "--vm", "socket=/s,uds_path=/u"}, {"--vm cannot be used with --config"}},
	{{"--vm", "socket=/s,uds_path=/u", "--config", "/c.yaml"}, {"--config cannot be used with --vm"}},
	{{"--groups", "a", "--config", "/c.yaml"}, {"--config cannot be used with --groups"}},
	{{"--config", "/c.yaml", "--tx-buffer-size", "4096"}, {"--tx-buffer-size cannot be used with --config"}},
	{{"--config", "/a.yaml", "--config", "/b.yaml"}, {"--config: given twice"}},
	{{"--config="}, {"--config: empty path"}},
	/* --vm */
	{{"--vm", "socket=/a,uds_path=/b", "--vm", "guest_cid=4,sockett=/c"}, {"--vm #2: unknown key 'sockett'"}},
	{{"--vm", "socket=/a,socket=/b,uds_path=/c"}, {"--vm #1: socket: given twice"}},
	{{"--vm", "guest_cid=4,guest-cid=5,socket=/a,uds_path=/c"}, {"--vm #1: guest-cid: given twice"}},
	{{"--vm", "socket=/a,uds_path"}, {"--vm #1", "'uds_path'", "key=value"}},
	{{"--vm", "socket=/a,,uds_path=/b"}, {"--vm #1", "''", "key=value"}},
	{{"--vm", "uds_path=/u"}, {"--vm #1: missing socket"}},
	{{"--vm", "socket=/s"}, {"--vm #1: missing uds_path"}},
	{{"--vm", "guest_cid=4,socket=/a,uds_path=/b", "--vm", "guest_cid=4,socket=/c,uds_path=/d"},
	 {"--vm #2: duplicate guest_cid 4 (also VM #1)"}},
	{{"--vm", "socket=/a,uds_path=/b", "--vm", "socket=/c,uds_path=/d"},
	 {"--vm #2: duplicate guest_cid 3 (also VM #1)"}},
	{{"--vm", "guest_cid=4,socket=/a,uds_path=/b", "--vm", "guest_cid=5,socket=/b,uds_path=/d"},
	 {"--vm #2", "duplicate socket '/b'", "uds_path of VM #1"}},
	{{"--vm", "guest_cid=4,socket=/a,uds_path=/b", "--vm", "guest_cid=5,socket=/c,uds_path=/b"},
	 {"--vm #2", "duplicate uds_path '/b'", "uds_path of VM #1"}},
	{{"--vm", "guest_cid=4,socket=/a,uds_path=/b", "--vm", "guest_cid=5,socket=/a,uds_path=/d"},
	 {"--vm #2", "duplicate socket '/a'", "socket of VM #1"}},
	{{"--vm", "guest_cid=4,socket=/a,uds_path=/b", "--vm", "guest_cid=5,socket=/c,uds_path=/a"},
	 {"--vm #2", "duplicate uds_path '/a'", "socket of VM #1"}},
	{{"--vm", "socket=/a,uds_path=/a"}, {"--vm #1", "same path '/a'"}},
	{{"--vm", "socket=/a,uds_path=/b,lcore=1024"}, {"--vm #1: lcore: '1024' is out of range"}},
	{{"--vm", "socket=/a,uds_path=/b,lcore=-1"}, {"--vm #1: lcore: '-1' is negative"}},
	{{"--vm", "socket=/a,uds_path=/b,groups=a+b+"}, {"--vm #1: groups: empty group name", "'a+b+'"}},
	{{"--vm", "socket=/a,uds_path=/b,queue_size=abc"}, {"--vm #1: queue_size: 'abc' is not a number"}},
	{{"--vm", "socket=/a,uds_path=/b,queue-size="}, {"--vm #1: queue-size: empty value"}},
	{{"--vm", "guest_cid=2,socket=/a,uds_path=/b"}, {"--vm #1: guest_cid: '2' is reserved"}},
	{{"--vm", "socket=/a,uds_path=/b,Socket=/c"}, {"--vm #1: unknown key 'Socket'"}},
	{{"--vm", "socket=/a,uds__path=/b"}, {"--vm #1: unknown key 'uds__path'"}},
	/* bounds */
	{{"--max-connections", "0", S, U}, {"--max-connections", "'0'", "out of range"}},
	{{"--max-connections", "65537", S, U}, {"--max-connections", "'65537'", "out of range"}},
	{{"--vm", "socket=/a,uds_path=/b,max_pending_connects=0"},
	 {"--vm #1: max_pending_connects: '0' is out of range"}},
	/* who may connect */
	{{"--socket-mode", "0", S, U}, {"--socket-mode", "'0'", "nobody but root"}},
	{{"--socket-mode", "0668", S, U}, {"--socket-mode", "'0668'", "octal mode"}},
	{{"--socket-mode", "rw-rw----", S, U}, {"--socket-mode", "not an octal mode"}},
	{{"--socket-mode", "-660", S, U}, {"--socket-mode", "not an octal mode"}},
	{{"--uds-mode", "1777", S, U}, {"--uds-mode", "'1777'", "out of range", "0001 to 0777"}},
	{{"--uds-mode", "000660", S, U}, {"--uds-mode", "not an octal mode"}},
	{{"--socket-user", "no-such-user-vv", S, U}, {"--socket-user", "no user 'no-such-user-vv'"}},
	{{"--vm", "socket=/a,uds_path=/b,uds_group=no-such-group-vv"},
	 {"--vm #1: uds_group: no group 'no-such-group-vv'"}},
	{{"--socket-group", "", S, U}, {"--socket-group: empty value"}},
	{{"--uds-user", "4294967295", S, U}, {"--uds-user", "too large"}},
};

static void test_bad_args(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad *b = &bad_cases[i];
		struct vv_config cfg;
		int rc = parse(&cfg, b->args);

		if (rc != -EINVAL)
			fail_msg("case %zu (%s ...): rc %d, err '%s'", i, b->args[0], rc, err);
		for (size_t j = 0; j < 4 && b->needles[j] != NULL; j++)
			if (strstr(err, b->needles[j]) == NULL)
				fail_msg("case %zu (%s ...): '%s' not in '%s'", i, b->args[0],
					 b->needles[j], err);
		vv_config_free(&cfg);
	}
}

static void test_too_many_vms(void **state)
{
	static char vm_args[VV_VMS_MAX + 1][64];
	static const char *args[2 * (VV_VMS_MAX + 1) + 1];
	struct vv_config cfg;
	int n = 0;

	for (unsigned int i = 0; i <= VV_VMS_MAX; i++) {
		snprintf(vm_args[i], sizeof(vm_args[i]), "guest_cid=%d,socket=/s%d,uds_path=/u%d",
			 i + 3, i, i);
		args[n++] = "--vm";
		args[n++] = vm_args[i];
	}
	args[n - 2] = NULL;      /* exactly VV_VMS_MAX first */
	assert_int_equal(parse(&cfg, args), 0);
	assert_int_equal(cfg.n_vms, VV_VMS_MAX);
	assert_int_equal(cfg.vms[VV_VMS_MAX - 1].guest_cid, VV_VMS_MAX + 2);
	vv_config_free(&cfg);

	args[n - 2] = "--vm";
	args[n] = NULL;
	assert_int_equal(parse(&cfg, args), -EINVAL);
	assert_non_null(strstr(err, "too many VMs"));
	vv_config_free(&cfg);
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vv-config-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int remove_tmpdir(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/c.yaml", tmpdir);
	unlink(path);
	return rmdir(tmpdir);
}

static void test_config_file(void **state)
{
	static const char yaml[] =
		"vms:\n"
		"  - guest_cid: 4\n"
		"    socket: /tmp/vhost4.socket\n"
		"    uds_path: /tmp/vm4.vsock\n"
		"  - guest-cid: 5\n"
		"    socket: /tmp/vhost5.socket\n"
		"    uds-path: /tmp/vm5.vsock\n"
		"    queue-size: 4096\n";
	char path[128], missing[128];
	struct vv_config cfg;
	FILE *f;

	snprintf(path, sizeof(path), "%s/c.yaml", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(yaml, 1, sizeof(yaml) - 1, f), sizeof(yaml) - 1);
	assert_int_equal(fclose(f), 0);

	assert_int_equal(parse(&cfg, ARGS("--idle-sleep-us", "100", "--config", path)), 0);
	assert_string_equal(cfg.config_file, path);
	assert_int_equal(cfg.idle_sleep_us, 100);
	assert_int_equal(cfg.n_vms, 2);
	assert_vm(&cfg.vms[0], 4, "/tmp/vhost4.socket", "/tmp/vm4.vsock", 65536, 1024, -1);
	assert_vm(&cfg.vms[1], 5, "/tmp/vhost5.socket", "/tmp/vm5.vsock", 65536, 4096, -1);
	vv_config_free(&cfg);

	snprintf(missing, sizeof(missing), "%s/missing.yaml", tmpdir);
	assert_int_equal(parse(&cfg, ARGS("--config", missing)), -ENOENT);
	assert_non_null(strstr(err, missing));
	vv_config_free(&cfg);

	/* A directory opens but does not read. */
	assert_int_equal(parse(&cfg, ARGS("--config", tmpdir)), -EIO);
	assert_non_null(strstr(err, tmpdir));
	vv_config_free(&cfg);
}

static void test_validate(void **state)
{
	struct vv_vm_config vms[2];
	struct vv_config cfg = {.vms = vms, .n_vms = 2};
	char e[256];

	memset(vms, 0, sizeof(vms));
	for (int i = 0; i < 2; i++) {
		vms[i].guest_cid = 3 + i;
		snprintf(vms[i].socket, sizeof(vms[i].socket), "/s%d", i);
		snprintf(vms[i].uds_path, sizeof(vms[i].uds_path), "/u%d", i);
		vms[i].tx_buffer_size = 4096;
		vms[i].queue_size = 128;
		vms[i].n_groups = 1;
		snprintf(vms[i].groups[0], sizeof(vms[i].groups[0]), "g");
		vms[i].lcore = -1;
		vms[i].max_connections = 1;
		vms[i].max_pending_connects = 1;
		vms[i].socket_uid = vms[i].socket_gid = VV_ID_UNSET;
		vms[i].uds_uid = vms[i].uds_gid = VV_ID_UNSET;
	}
	assert_int_equal(vv_config_validate(&cfg, e, sizeof(e)), 0);

	vms[1].guest_cid = 0xFFFFFFFFull;
	assert_int_equal(vv_config_validate(&cfg, e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "VM #2: guest_cid: '4294967295' is too large"));
	vms[1].guest_cid = 1ull << 40;
	assert_int_equal(vv_config_validate(&cfg, e, sizeof(e)), -EINVAL);
	vms[1].guest_cid = 3;
	assert_int_equal(vv_config_validate(&cfg, e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "VM #2: duplicate guest_cid 3 (also VM #1)"));
	vms[1].guest_cid = 4;

	memset(vms[1].socket, 's', sizeof(vms[1].socket));    /* no NUL at all */
	assert_int_equal(vv_config_validate(&cfg, e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "VM #2: socket"));
	assert_non_null(strstr(e, "too long"));
	snprintf(vms[1].socket, sizeof(vms[1].socket), "/s1");

	vms[0].n_groups = 0;
	assert_int_equal(vv_config_validate(&cfg, e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "VM #1: groups: 0 groups"));
	vms[0].n_groups = 1;
	vms[0].lcore = -2;
	assert_int_equal(vv_config_validate(&cfg, e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "VM #1: lcore: '-2'"));
	vms[0].lcore = 0;
	vms[0].queue_size = 96;
	assert_int_equal(vv_config_validate(&cfg, e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "VM #1: queue_size: '96'"));
	vms[0].queue_size = 128;
	cfg.idle_sleep_us = 1000001;
	assert_int_equal(vv_config_validate(&cfg, e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "--idle-sleep-us"));
	cfg.idle_sleep_us = 0;
	assert_int_equal(vv_config_validate(&cfg, e, sizeof(e)), 0);

	/* Help and version need no VM; running does. */
	cfg.n_vms = 0;
	assert_int_equal(vv_config_validate(&cfg, e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "no VM"));
	cfg.action = VV_CONFIG_HELP;
	assert_int_equal(vv_config_validate(&cfg, e, sizeof(e)), 0);
}

static void test_groups_intersect(void **state)
{
	struct vv_vm_config a = {.n_groups = 2, .groups = {"x", "shared"}};
	struct vv_vm_config b = {.n_groups = 3, .groups = {"y", "z", "shared"}};
	struct vv_vm_config c = {.n_groups = 1, .groups = {"shared2"}};
	struct vv_vm_config none = {.n_groups = 0};

	assert_true(vv_config_groups_intersect(&a, &b));
	assert_true(vv_config_groups_intersect(&b, &a));
	assert_false(vv_config_groups_intersect(&a, &c));
	assert_false(vv_config_groups_intersect(&b, &c));
	assert_false(vv_config_groups_intersect(&a, &none));
	assert_true(vv_config_groups_intersect(&c, &c));
}

static void test_usage(void **state)
{
	static const char *const words[] = {
		"dpdk-vhost-vsock [EAL args --] [options]",
		"--no-pci --no-huge -m 256 --file-prefix vvsock-<first guest CID>",
		"--lcores 0@<cpu>,1@<cpu>", "-l/--lcores", "vv.vsock.data", "/vsock/",
		"--opt=VALUE", "0 to 1023",
		"--guest-cid", "--socket", "--uds-path", "--tx-buffer-size", "--queue-size",
		"--groups", "--vm", "--config", "lcore", "--idle-sleep-us", "--idle-poll-us",
		"--busy-poll", "isolated cores", "--max-connections", "--max-pending-connects",
		"--socket-mode", "--uds-group",
		"-h, --help", "-V, --version",
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	vv_config_usage("dpdk-vhost-vsock", f);
	assert_int_equal(fclose(f), 0);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(text, words[i]) == NULL)
			fail_msg("usage lacks '%s'", words[i]);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_single_vm_equals_form),
		cmocka_unit_test(test_busy_poll),
		cmocka_unit_test(test_single_vm_limits),
		cmocka_unit_test(test_vm_dashes_and_underscores),
		cmocka_unit_test(test_bounds_and_owners),
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_too_many_vms),
		cmocka_unit_test_setup_teardown(test_config_file, make_tmpdir, remove_tmpdir),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_groups_intersect),
		cmocka_unit_test(test_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
