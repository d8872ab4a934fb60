/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rte_vhost hands its message hooks a private structure: the message, then
 * the fds it carried. lib/compat says where the fds are for each DPDK
 * release (VV_VHOST_MSG_FDS_OFFSET). This test asks the rte_vhost the tree
 * is linked with: it serves a vhost-user socket, sends messages carrying
 * known fds, and checks that the hook finds exactly those files there.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cmocka.h>

#include <rte_eal.h>
#include <rte_vhost.h>

#include <vv_dpdk_compat.h>

#define MAX_SEEN 8

struct seen {
	uint32_t request;
	int fd_num;
	ino_t ino[VV_VHOST_MSG_FDS_MAX];
};

static struct seen seen[MAX_SEEN];
static int n_seen;

static enum rte_vhost_msg_result
pre(int vid, void *ctx)
{
	const char *c = ctx;
	struct seen s;
	int fds[VV_VHOST_MSG_FDS_MAX];

	(void) vid;
	memset(&s, 0, sizeof(s));
	memcpy(&s.request, c, sizeof(s.request));
	memcpy(&s.fd_num, c + VV_VHOST_MSG_FDS_OFFSET + sizeof(fds), sizeof(s.fd_num));
	memcpy(fds, c + VV_VHOST_MSG_FDS_OFFSET, sizeof(fds));
	for (int i = 0; i < s.fd_num && i < VV_VHOST_MSG_FDS_MAX; i++) {
		struct stat st;

		if (fstat(fds[i], &st) == 0)
			s.ino[i] = st.st_ino;
		close(fds[i]);
	}
	if (__atomic_load_n(&n_seen, __ATOMIC_ACQUIRE) < MAX_SEEN) {
		seen[n_seen] = s;
		__atomic_store_n(&n_seen, n_seen + 1, __ATOMIC_RELEASE);
	}
	/* Handled here: rte_vhost neither maps nor keeps anything. */
	return RTE_VHOST_MSG_RESULT_OK;
}

static const struct rte_vhost_user_extern_ops ext = { .pre_msg_handle = pre };

static int
new_connection(int vid)
{
	return rte_vhost_extern_callback_register(vid, &ext, NULL);
}

static const struct rte_vhost_device_ops dev_ops = { .new_connection = new_connection };

static void
send_msg(int sock, uint32_t req, const void *payload, uint32_t size, const int *fds, int nfds)
{
	uint32_t hdr[3] = { req, 1, size };
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *) (uintptr_t) payload, size } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };

	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t) (sizeof(hdr) + size));
}

static void
wait_seen(int n)
{
	for (int i = 0; i < 5000 && __atomic_load_n(&n_seen, __ATOMIC_ACQUIRE) < n; i++)
		usleep(1000);
	assert_int_equal(__atomic_load_n(&n_seen, __ATOMIC_ACQUIRE), n);
}

static ino_t
ino_of(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_ino;
}

static void
test_fds_where_compat_says(void **state)
{
	char dir[] = "/tmp/vv-layout-XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int sock, efd, memfds[3];
	uint8_t table[8 + 3 * 32];
	uint64_t idx = 0;

	(void) state;
	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vhost.sock", dir);
	assert_int_equal(rte_vhost_driver_register(sa.sun_path, 0), 0);
	assert_int_equal(rte_vhost_driver_callback_register(sa.sun_path, &dev_ops), 0);
	assert_int_equal(rte_vhost_driver_start(sa.sun_path), 0);

	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(sock, (struct sockaddr *) &sa, sizeof(sa)), 0);

	/* No fds. */
	send_msg(sock, 1 /* GET_FEATURES */, NULL, 0, NULL, 0);
	wait_seen(1);
	assert_int_equal(seen[0].request, 1);
	assert_int_equal(seen[0].fd_num, 0);

	/* One eventfd. */
	efd = eventfd(0, EFD_CLOEXEC);
	send_msg(sock, 13 /* SET_VRING_CALL */, &idx, sizeof(idx), &efd, 1);
	wait_seen(2);
	assert_int_equal(seen[1].request, 13);
	assert_int_equal(seen[1].fd_num, 1);
	assert_true(seen[1].ino[0] == ino_of(efd));

	/* Three memfds, in order. */
	memset(table, 0, sizeof(table));
	table[0] = 3;
	for (int i = 0; i < 3; i++)
		memfds[i] = memfd_create("vv-layout", MFD_CLOEXEC);
	send_msg(sock, 5 /* SET_MEM_TABLE */, table, sizeof(table), memfds, 3);
	wait_seen(3);
	assert_int_equal(seen[2].request, 5);
	assert_int_equal(seen[2].fd_num, 3);
	for (int i = 0; i < 3; i++)
		assert_true(seen[2].ino[i] == ino_of(memfds[i]));

	close(sock);
	for (int i = 0; i < 3; i++)
		close(memfds[i]);
	close(efd);
	rte_vhost_driver_unregister(sa.sun_path);
	rmdir(dir);
}

int
main(void)
{
	char prefix[64], rundir[PATH_MAX];
	int r;
	char *argv[] = { "test_vhost_layout", "--no-huge", "-m", "64", "--no-pci", "--no-shconf", "--no-telemetry",
			 "-l", "0", "--log-level", "*:error", "--file-prefix", prefix, NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fds_where_compat_says),
	};

	snprintf(prefix, sizeof(prefix), "vv-layout-%d", (int) getpid());
	if (rte_eal_init((int) (sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	r = cmocka_run_group_tests(tests, NULL, NULL);
	/* EAL leaves its (empty, with --no-shconf) runtime directory behind. */
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(rundir);
	return r;
}
