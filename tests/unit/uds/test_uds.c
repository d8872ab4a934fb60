/* SPDX-License-Identifier: BSD-3-Clause */
/* Hybrid vsock Unix sockets: CONNECT parser, listen and connect on real sockets. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "vv_uds.h"

static char dir[64];
static char err[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int make_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vv-uds-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int remove_dir(void **state)
{
	return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static const char *in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

/* Parser */

struct good_line {
	const char *line;
	int len;
	uint32_t port;
};

static void test_parse_good(void **state)
{
	static const struct good_line cases[] = {
		{"CONNECT 5\n", 10, 5},
		{"connect 5\r\n", 11, 5},
		{"CONNECT  5 \n", 12, 5},
		{"Connect\t1234\t\r\n", 15, 1234},
		{"  CONNECT 0\n", 12, 0},
		{"CONNECT 007\n", 12, 7},
		{"CONNECT 4294967295\n", 19, 4294967295u},
		/* Only the first line is consumed; the rest is stream data. */
		{"CONNECT 52\nhello", 11, 52},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t port = 0xdead;
		int rc = vv_uds_parse_connect(cases[i].line, strlen(cases[i].line), &port);

		if (rc != cases[i].len || port != cases[i].port)
			fail_msg("'%s': rc %d port %u", cases[i].line, rc, port);
	}
}

static void test_parse_bad(void **state)
{
	static const char *const cases[] = {
		"CONNECT 4294967296\n", "CONNECT 99999999999999999999999\n",
		"CONNECT\n", "CONNECT \n", "CONNECT5\n", "CONNECT -5\n", "CONNECT +5\n",
		"CONNECT 5x\n", "CONNECT 5 6\n", "CONNECT 0x10\n", "CONNECTS 5\n",
		"CONNEC 5\n", "5\n", "OK 5\n", "\n", "\r\n", "CONNECT 5\r\r\n",
		"CONNECT 5\rx\n", "CONNECT\r5\n",
	};
	uint32_t port = 77;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (vv_uds_parse_connect(cases[i], strlen(cases[i]), &port) != -EINVAL)
			fail_msg("'%s' accepted", cases[i]);
	/* A NUL is garbage, not the end of the line. */
	assert_int_equal(vv_uds_parse_connect("CONNECT 5\0\n", 11, &port), -EINVAL);
	assert_int_equal(port, 77);
}

static void test_parse_partial_and_long(void **state)
{
	char buf[VV_UDS_LINE_MAX + 2];
	uint32_t port = 0;

	assert_int_equal(vv_uds_parse_connect("", 0, &port), 0);
	assert_int_equal(vv_uds_parse_connect("CONN", 4, &port), 0);
	assert_int_equal(vv_uds_parse_connect("CONNECT 5", 9, &port), 0);
	assert_int_equal(vv_uds_parse_connect("CONNECT 5\r", 10, &port), 0);
	/* The newline is past len: not seen yet. */
	assert_int_equal(vv_uds_parse_connect("CONNECT 5\n", 9, &port), 0);

	/* Exactly VV_UDS_LINE_MAX bytes with the newline: accepted. */
	memset(buf, ' ', sizeof(buf));
	memcpy(buf, "CONNECT", 7);
	buf[VV_UDS_LINE_MAX - 3] = '4';
	buf[VV_UDS_LINE_MAX - 2] = '2';
	buf[VV_UDS_LINE_MAX - 1] = '\n';
	assert_int_equal(vv_uds_parse_connect(buf, VV_UDS_LINE_MAX, &port), VV_UDS_LINE_MAX);
	assert_int_equal(port, 42);

	/* One byte more: refused, whether the newline has arrived or not. */
	memset(buf, ' ', sizeof(buf));
	memcpy(buf, "CONNECT", 7);
	buf[VV_UDS_LINE_MAX - 2] = '4';
	buf[VV_UDS_LINE_MAX - 1] = '2';
	buf[VV_UDS_LINE_MAX] = '\n';
	assert_int_equal(vv_uds_parse_connect(buf, VV_UDS_LINE_MAX + 1, &port), -EINVAL);
	assert_int_equal(vv_uds_parse_connect(buf, VV_UDS_LINE_MAX, &port), -EINVAL);
	assert_int_equal(vv_uds_parse_connect(buf, VV_UDS_LINE_MAX - 1, &port), 0);
}

static void test_format_ok(void **state)
{
	char buf[32];

	assert_int_equal(vv_uds_format_ok(buf, sizeof(buf), 1234), 8);
	assert_string_equal(buf, "OK 1234\n");
	assert_int_equal(vv_uds_format_ok(buf, sizeof(buf), 4294967295u), 14);
	assert_string_equal(buf, "OK 4294967295\n");
	/* The terminating NUL needs room too. */
	assert_int_equal(vv_uds_format_ok(buf, 9, 1234), 8);
	assert_int_equal(vv_uds_format_ok(buf, 8, 1234), -ENOSPC);
	assert_int_equal(vv_uds_format_ok(NULL, 0, 1), -ENOSPC);
}

/* Listen */

static void assert_listening_socket(int fd, const char *path)
{
	struct stat st;

	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
}

/* A socket file that nobody serves: bound, then closed without unlink. */
static void make_stale(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
}

static void test_listen_fresh_and_stale(void **state)
{
	char path[128];
	int fd;

	in_dir(path, sizeof(path), "fresh");
	fd = vv_uds_listen(path, 8, err, sizeof(err));
	assert_listening_socket(fd, path);
	close(fd);

	/* The closed listener left its file: it is stale and gets replaced. */
	fd = vv_uds_listen(path, 8, err, sizeof(err));
	assert_listening_socket(fd, path);
	close(fd);

	in_dir(path, sizeof(path), "stale");
	make_stale(path);
	fd = vv_uds_listen(path, 8, err, sizeof(err));
	assert_listening_socket(fd, path);
	close(fd);
}

static void test_listen_live_refused(void **state)
{
	char path[128];
	int fd, fd2;

	in_dir(path, sizeof(path), "live");
	fd = vv_uds_listen(path, 8, err, sizeof(err));
	assert_true(fd >= 0);
	fd2 = vv_uds_listen(path, 8, err, sizeof(err));
	assert_int_equal(fd2, -EADDRINUSE);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "already served by a live process"));
	close(fd);

	/* A listener whose backlog is full is busy, not stale. */
	in_dir(path, sizeof(path), "full_1");
	fd = vv_uds_listen(path, 0, err, sizeof(err));
	assert_true(fd >= 0);
	in_dir(path, sizeof(path), "full");
	assert_int_equal(vv_uds_connect_port(path, 1, SOCK_STREAM, &fd2), 0);
	in_dir(path, sizeof(path), "full_1");
	assert_int_equal(vv_uds_listen(path, 8, err, sizeof(err)), -EADDRINUSE);
	close(fd2);
	close(fd);
}

static void test_listen_refusals(void **state)
{
	char path[VV_UDS_LINE_MAX * 2 + 128], sub[128];
	int fd;

	in_dir(sub, sizeof(sub), "missing");
	snprintf(path, sizeof(path), "%s/sock", sub);
	assert_int_equal(vv_uds_listen(path, 8, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, sub));
	assert_non_null(strstr(err, "does not exist"));

	in_dir(path, sizeof(path), "plain");
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(vv_uds_listen(path, 8, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(access(path, F_OK), 0);    /* left alone */

	/* 108 bytes: one too many for sun_path with its NUL. */
	snprintf(path, sizeof(path), "%s/%0*d", dir, (int)(108 - strlen(dir) - 1), 0);
	assert_int_equal(strlen(path), 108);
	assert_int_equal(vv_uds_listen(path, 8, err, sizeof(err)), -ENAMETOOLONG);
	assert_non_null(strstr(err, "too long"));
	path[107] = '\0';
	fd = vv_uds_listen(path, 8, err, sizeof(err));
	assert_listening_socket(fd, path);
	close(fd);

	assert_int_equal(vv_uds_listen("", 8, err, sizeof(err)), -EINVAL);
}

/* A reload checks the paths of the VMs it adds before it changes anything:
 * the answers of a claim, and nothing touched. */
static void test_check_path(void **state)
{
	char path[256], sub[128];
	struct stat st;
	int fd;

	in_dir(path, sizeof(path), "chk_free");
	assert_int_equal(vv_uds_check_path(path, err, sizeof(err)), 0);
	assert_int_equal(access(path, F_OK), -1);

	in_dir(path, sizeof(path), "chk_stale");
	make_stale(path);
	assert_int_equal(vv_uds_check_path(path, err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &st), 0); /* still there: only checked */
	assert_true(S_ISSOCK(st.st_mode));

	in_dir(path, sizeof(path), "chk_live");
	fd = vv_uds_listen(path, 8, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(vv_uds_check_path(path, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "already served by a live process"));
	close(fd);

	in_dir(sub, sizeof(sub), "chk_missing");
	snprintf(path, sizeof(path), "%s/sock", sub);
	assert_int_equal(vv_uds_check_path(path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "does not exist"));

	in_dir(path, sizeof(path), "chk_plainfile");
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(vv_uds_check_path(path, err, sizeof(err)), -EEXIST);
}

/* access() lets root write anywhere, so the check runs as nobody in a child. */
static void test_listen_dir_not_writable(void **state)
{
	char sub[128], path[160];
	pid_t pid;
	int status;

	in_dir(sub, sizeof(sub), "ro");
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/sock", sub);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc;

		if (geteuid() == 0) {
			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(100);
		} else if (chmod(sub, 0555) != 0) {
			_exit(101);
		}
		rc = vv_uds_listen(path, 8, err, sizeof(err));
		_exit(rc == -EACCES && strstr(err, sub) != NULL &&
		      strstr(err, "not writable") != NULL ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(chmod(sub, 0755), 0);
}

/* Who may connect */

static void assert_perm(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_uid, uid);
	assert_int_equal(st.st_gid, gid);
	assert_int_equal(st.st_mode & 07777, mode);
}

static void test_listen_perm(void **state)
{
	const struct vv_uds_perm none = {.uid = -1, .gid = -1, .mode = 0};
	const struct vv_uds_perm mode_only = {.uid = -1, .gid = -1, .mode = 0604};
	mode_t old = umask(022);
	char path[128];
	int fd;

	assert_false(vv_uds_perm_given(NULL));
	assert_false(vv_uds_perm_given(&none));
	assert_true(vv_uds_perm_given(&mode_only));
	/* Asking for nothing leaves the umask alone; asking narrows it until
	 * the owner and mode are set (or the bind failed). */
	assert_true(vv_uds_perm_begin(&none) == VV_UDS_UMASK_KEPT);
	assert_int_equal(umask(022), 022);
	assert_int_equal(vv_uds_perm_begin(&mode_only), 022);
	assert_int_equal(umask(0177), 0177);
	vv_uds_perm_abort(022);
	assert_int_equal(umask(022), 022);
	vv_uds_perm_abort(VV_UDS_UMASK_KEPT);
	assert_int_equal(umask(022), 022);

	/* Nothing asked: what the umask gives, as vv_uds_listen. */
	in_dir(path, sizeof(path), "p-none");
	fd = vv_uds_listen_perm(path, SOCK_STREAM, 8, &none, err, sizeof(err));
	assert_listening_socket(fd, path);
	assert_perm(path, geteuid(), getegid(), 0755);
	close(fd);

	in_dir(path, sizeof(path), "p-mode");
	fd = vv_uds_listen_perm(path, SOCK_STREAM, 8, &mode_only, err, sizeof(err));
	assert_listening_socket(fd, path);
	assert_perm(path, geteuid(), getegid(), 0604);
	close(fd);

	/* A group only: the mode the umask would have given. */
	in_dir(path, sizeof(path), "p-group");
	fd = vv_uds_listen_perm(path, SOCK_STREAM, 8, &(struct vv_uds_perm){.uid = -1, .gid = getegid()}, err,
				sizeof(err));
	assert_listening_socket(fd, path);
	assert_perm(path, geteuid(), getegid(), 0755);
	close(fd);

	/* The same for a SEQPACKET listener; another type is refused. */
	in_dir(path, sizeof(path), "p-seq");
	fd = vv_uds_listen_perm(path, SOCK_SEQPACKET, 8, &mode_only, err, sizeof(err));
	assert_true(fd >= 0);
	assert_perm(path, geteuid(), getegid(), 0604);
	close(fd);
	in_dir(path, sizeof(path), "p-dgram");
	assert_int_equal(vv_uds_listen_perm(path, SOCK_DGRAM, 8, &mode_only, err, sizeof(err)),
			 -EINVAL);

	/* The process's umask is back as it was. */
	assert_int_equal(umask(old), 022);
	if (geteuid() != 0)
		return;
	in_dir(path, sizeof(path), "p-owner");
	fd = vv_uds_listen_perm(path, SOCK_STREAM, 8, &(struct vv_uds_perm){.uid = 4242, .gid = 4343, .mode = 0660},
				err, sizeof(err));
	assert_listening_socket(fd, path);
	assert_perm(path, 4242, 4343, 0660);
	close(fd);
}

/* Not allowed to give the file away: a clear error, no file, no listener. */
static void test_listen_perm_refused(void **state)
{
	char sub[128], path[160];
	pid_t pid;
	int status;

	if (geteuid() != 0)
		skip();
	in_dir(sub, sizeof(sub), "perm");
	assert_int_equal(mkdir(sub, 0777), 0);
	assert_int_equal(chmod(sub, 0777), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/sock", sub);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vv_uds_perm p = {.uid = -1, .gid = 0, .mode = 0660};
		int rc;

		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(100);
		rc = vv_uds_listen_perm(path, SOCK_STREAM, 8, &p, err, sizeof(err));
		_exit(rc == -EPERM && strstr(err, path) != NULL && strstr(err, "to group 0") != NULL &&
		      access(path, F_OK) != 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Connect */

static void test_connect_port(void **state)
{
	char uds[128], path[160];
	int lfd, fd, afd;

	in_dir(uds, sizeof(uds), "vm.vsock");
	snprintf(path, sizeof(path), "%s_1234", uds);
	lfd = vv_uds_listen(path, 8, err, sizeof(err));
	assert_true(lfd >= 0);

	assert_int_equal(vv_uds_connect_port(uds, 1234, SOCK_STREAM, &fd), 0);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	{
		char c = 0;

		assert_int_equal(read(afd, &c, 1), 1);
		assert_int_equal(c, 'x');
	}
	close(afd);
	close(fd);

	/* Nothing at <uds>_1235; a stale file at <uds>_1236. */
	fd = 42;
	assert_int_equal(vv_uds_connect_port(uds, 1235, SOCK_STREAM, &fd), -ENOENT);
	assert_int_equal(fd, -1);
	snprintf(path, sizeof(path), "%s_1236", uds);
	make_stale(path);
	assert_int_equal(vv_uds_connect_port(uds, 1236, SOCK_STREAM, &fd), -ECONNREFUSED);
	assert_int_equal(fd, -1);
	close(lfd);
}

/* A listener with backlog 0 holds one pending connection; the next waits. */
static void test_connect_backlog_full(void **state)
{
	char uds[128], path[160];
	int lfd, fd1, fd2, afd;

	in_dir(uds, sizeof(uds), "busy");
	snprintf(path, sizeof(path), "%s_7", uds);
	lfd = vv_uds_listen(path, 0, err, sizeof(err));
	assert_true(lfd >= 0);

	assert_int_equal(vv_uds_connect_port(uds, 7, SOCK_STREAM, &fd1), 0);
	assert_int_equal(vv_uds_connect_port(uds, 7, SOCK_STREAM, &fd2), -EAGAIN);
	assert_true(fd2 >= 0);
	assert_int_equal(vv_uds_connect_retry(uds, 7, fd2), -EAGAIN);
	assert_true(fcntl(fd2, F_GETFD) >= 0);       /* still open */

	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(vv_uds_connect_retry(uds, 7, fd2), 0);
	close(afd);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	close(afd);
	close(fd1);
	close(fd2);

	/* A failed retry closes the socket: the listener is gone. */
	assert_int_equal(vv_uds_connect_port(uds, 7, SOCK_STREAM, &fd1), 0);
	assert_int_equal(vv_uds_connect_port(uds, 7, SOCK_STREAM, &fd2), -EAGAIN);
	close(lfd);
	assert_int_equal(vv_uds_connect_retry(uds, 7, fd2), -ECONNREFUSED);
	assert_int_equal(fcntl(fd2, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	close(fd1);
}

static void test_connect_name_too_long(void **state)
{
	char uds[VV_UDS_LINE_MAX * 2];
	int fd = 42;

	/* 96 bytes + "_4294967295" fills sun_path exactly; 97 does not fit. */
	memset(uds, 'u', 97);
	uds[0] = '/';
	uds[97] = '\0';
	assert_int_equal(vv_uds_connect_port(uds, 4294967295u, SOCK_STREAM, &fd), -ENAMETOOLONG);
	assert_int_equal(fd, -1);
	uds[96] = '\0';
	assert_int_equal(vv_uds_connect_port(uds, 4294967295u, SOCK_STREAM, &fd), -ENOENT);
	assert_int_equal(fd, -1);
}

/* SEQPACKET */

static int sock_type(int fd)
{
	int t = -1;
	socklen_t len = sizeof(t);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &len), 0);
	return t;
}

static void test_seqpacket_listen_and_connect(void **state)
{
	char uds[128], path[160];
	int lfd, sfd, fd, afd;

	in_dir(uds, sizeof(uds), "sp.vsock");
	assert_int_equal(vv_uds_seqpacket_path(path, sizeof(path), uds), 0);
	assert_non_null(strstr(path, "sp.vsock.seqpacket"));
	assert_int_equal(vv_uds_seqpacket_path(path, strlen(uds) + 10, uds), -ENAMETOOLONG);
	assert_int_equal(vv_uds_seqpacket_path(path, sizeof(path), uds), 0);

	/* A seqpacket listener; stale files replaced, live ones refused,
	 * a live one of the other type too. */
	sfd = vv_uds_listen_seqpacket(path, 8, err, sizeof(err));
	assert_true(sfd >= 0);
	assert_int_equal(sock_type(sfd), SOCK_SEQPACKET);
	assert_int_equal(vv_uds_listen_seqpacket(path, 8, err, sizeof(err)), -EADDRINUSE);
	assert_int_equal(vv_uds_listen(path, 8, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "already served by a live process"));
	close(sfd);
	sfd = vv_uds_listen_seqpacket(path, 8, err, sizeof(err));
	assert_true(sfd >= 0);
	close(sfd);
	lfd = vv_uds_listen(path, 8, err, sizeof(err));
	assert_true(lfd >= 0);
	assert_int_equal(vv_uds_listen_seqpacket(path, 8, err, sizeof(err)), -EADDRINUSE);
	close(lfd);

	/* Connect by type: the right one connects, the other says EPROTOTYPE. */
	snprintf(path, sizeof(path), "%s_9", uds);
	lfd = vv_uds_listen_seqpacket(path, 8, err, sizeof(err));
	assert_true(lfd >= 0);
	assert_int_equal(vv_uds_connect_port(uds, 9, SOCK_SEQPACKET, &fd), 0);
	assert_int_equal(sock_type(fd), SOCK_SEQPACKET);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(send(fd, "ab", 2, 0), 2);
	assert_int_equal(send(fd, "c", 1, 0), 1);
	{
		char b[8];

		assert_int_equal(recv(afd, b, sizeof(b), 0), 2);
		assert_int_equal(recv(afd, b, sizeof(b), 0), 1);
	}
	close(afd);
	close(fd);
	fd = 42;
	assert_int_equal(vv_uds_connect_port(uds, 9, SOCK_STREAM, &fd), -EPROTOTYPE);
	assert_int_equal(fd, -1);
	assert_int_equal(vv_uds_connect_port(uds, 9, SOCK_DGRAM, &fd), -EINVAL);
	assert_int_equal(fd, -1);
	close(lfd);
	snprintf(path, sizeof(path), "%s_10", uds);
	lfd = vv_uds_listen(path, 8, err, sizeof(err));
	assert_int_equal(vv_uds_connect_port(uds, 10, SOCK_SEQPACKET, &fd), -EPROTOTYPE);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_partial_and_long),
		cmocka_unit_test(test_format_ok),
		cmocka_unit_test(test_listen_fresh_and_stale),
		cmocka_unit_test(test_listen_live_refused),
		cmocka_unit_test(test_listen_refusals),
		cmocka_unit_test(test_listen_dir_not_writable),
		cmocka_unit_test(test_listen_perm),
		cmocka_unit_test(test_listen_perm_refused),
		cmocka_unit_test(test_check_path),
		cmocka_unit_test(test_connect_port),
		cmocka_unit_test(test_connect_backlog_full),
		cmocka_unit_test(test_connect_name_too_long),
		cmocka_unit_test(test_seqpacket_listen_and_connect),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
