/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unix sockets of hybrid vsock. Every socket is non-blocking: the datapath
 * lcore polls them and must never sleep in connect() or accept().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vv_uds.h"

#define SOCK_FLAGS (SOCK_NONBLOCK | SOCK_CLOEXEC)

__attribute__((format(printf, 4, 5))) static int
fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int
start_connect(int fd, const struct sockaddr_un *sa)
{
	if (connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) == 0)
		return 0;
	switch (errno) {
	case EISCONN: return 0;
	case EALREADY: return -EINPROGRESS;
	default: return -errno;
	}
}

/* Is someone accepting on sa? -ECONNREFUSED means the file is stale;
 * -EPROTOTYPE, that a server of the other socket type lives there. */
static int
probe(const struct sockaddr_un *sa, int type)
{
	int fd = socket(AF_UNIX, type | SOCK_FLAGS, 0), rc;

	if (fd < 0)
		return -errno;
	rc = start_connect(fd, sa);
	close(fd);
	return rc;
}

/* Make path bindable: check its directory, replace a stale socket file
 * (unless only checking), refuse a live server or another kind of file.
 * Fills sa. */
static int
claim(const char *path, int type, bool check_only, struct sockaddr_un *sa, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	size_t len = strlen(path);
	char dir[sizeof(sa->sun_path)];
	struct stat st;
	int rc;

	if (len == 0)
		return fail(-EINVAL, err, errlen, "empty socket path");
	if (len >= sizeof(sa->sun_path))
		return fail(-ENAMETOOLONG, err, errlen,
			    "%s: path too long for a Unix socket (%zu bytes, at most %zu)", path,
			    len, sizeof(sa->sun_path) - 1);
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, len + 1);

	/* bind() would only say ENOENT or EACCES, without saying about what. */
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int) (slash - path), path);
	if (access(dir, W_OK | X_OK) != 0) {
		rc = errno;
		if (rc == ENOENT || rc == ENOTDIR)
			return fail(-ENOENT, err, errlen, "%s: directory '%s' does not exist", path,
				    dir);
		if (rc == EACCES || rc == EPERM || rc == EROFS)
			return fail(-EACCES, err, errlen, "%s: directory '%s' is not writable",
				    path, dir);
		return fail(-rc, err, errlen, "%s: directory '%s': %s", path, dir, strerror(rc));
	}

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return fail(-EEXIST, err, errlen, "%s: exists and is not a socket", path);
		/* A full backlog (-EAGAIN) still means someone listens. */
		rc = probe(sa, type);
		if (rc == 0 || rc == -EAGAIN || rc == -EPROTOTYPE)
			return fail(-EADDRINUSE, err, errlen,
				    "%s: already served by a live process", path);
		if (rc != -ECONNREFUSED)
			return fail(rc, err, errlen, "%s: cannot probe existing socket: %s", path,
				    strerror(-rc));
		if (check_only)
			return 0;
		if (unlink(path) != 0 && errno != ENOENT)
			return fail(-errno, err, errlen, "%s: cannot remove stale socket: %s", path,
				    strerror(errno));
	}
	return 0;
}

int
vv_uds_claim_path(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;

	return claim(path, SOCK_STREAM, false, &sa, err, errlen);
}

int
vv_uds_check_path(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;

	/* A stream probe also finds a live SEQPACKET listener (EPROTOTYPE). */
	return claim(path, SOCK_STREAM, true, &sa, err, errlen);
}

bool
vv_uds_perm_given(const struct vv_uds_perm *perm)
{
	return perm != NULL && (perm->uid != -1 || perm->gid != -1 || perm->mode != 0);
}

mode_t
vv_uds_perm_begin(const struct vv_uds_perm *perm)
{
	/* Nothing asked: the umask is not touched, not even for a moment
	 * (another thread may be creating a file), and the file gets what it
	 * gives, as before. */
	if (!vv_uds_perm_given(perm))
		return VV_UDS_UMASK_KEPT;
	return umask(0177);
}

void
vv_uds_perm_abort(mode_t saved_umask)
{
	if (saved_umask != VV_UDS_UMASK_KEPT)
		umask(saved_umask);
}

int
vv_uds_perm_apply(const char *path, const struct vv_uds_perm *perm, mode_t saved_umask, char *err,
		  size_t errlen)
{
	mode_t mode;
	struct stat st;

	if (!vv_uds_perm_given(perm))
		return 0;
	umask(saved_umask);
	mode = perm->mode != 0 ? (mode_t) perm->mode : 0777 & ~saved_umask;
	/* lchown and the S_ISSOCK check: never follow a link someone put in
	 * the socket's place into changing another file. */
	if ((perm->uid != -1 || perm->gid != -1) &&
	    lchown(path, (uid_t) perm->uid, (gid_t) perm->gid) != 0) {
		char who[64];

		if (perm->uid == -1)
			snprintf(who, sizeof(who), "group %" PRId64, perm->gid);
		else if (perm->gid == -1)
			snprintf(who, sizeof(who), "user %" PRId64, perm->uid);
		else
			snprintf(who, sizeof(who), "user %" PRId64 " and group %" PRId64, perm->uid,
				 perm->gid);
		return fail(-errno, err, errlen, "%s: cannot give the socket to %s: %s", path, who,
			    strerror(errno));
	}
	if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
		return fail(-EEXIST, err, errlen, "%s: no longer our socket", path);
	if (chmod(path, mode) != 0)
		return fail(-errno, err, errlen, "%s: cannot set mode %04o: %s", path,
			    (unsigned int) mode, strerror(errno));
	return 0;
}

int
vv_uds_listen_perm(const char *path, int type, int backlog, const struct vv_uds_perm *perm,
		   char *err, size_t errlen)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd, rc;

	if (type != SOCK_STREAM && type != SOCK_SEQPACKET)
		return fail(-EINVAL, err, errlen, "%s: not a stream or seqpacket socket", path);
	rc = claim(path, type, false, &sa, err, errlen);
	if (rc != 0)
		return rc;
	fd = socket(AF_UNIX, type | SOCK_FLAGS, 0);
	if (fd < 0)
		return fail(-errno, err, errlen, "%s: socket: %s", path, strerror(errno));
	old = vv_uds_perm_begin(perm);
	if (bind(fd, (const struct sockaddr *) &sa, sizeof(sa)) != 0) {
		rc = errno;
		vv_uds_perm_abort(old);
		close(fd);
		return fail(-rc, err, errlen, "%s: cannot listen: %s", path, strerror(rc));
	}
	/* Owner and mode before listen: nobody else can be queued meanwhile. */
	rc = vv_uds_perm_apply(path, perm, old, err, errlen);
	if (rc == 0 && listen(fd, backlog) != 0)
		rc = fail(-errno, err, errlen, "%s: cannot listen: %s", path, strerror(errno));
	if (rc != 0) {
		close(fd);
		unlink(path);
		return rc;
	}
	return fd;
}

int
vv_uds_listen(const char *path, int backlog, char *err, size_t errlen)
{
	return vv_uds_listen_perm(path, SOCK_STREAM, backlog, NULL, err, errlen);
}

int
vv_uds_listen_seqpacket(const char *path, int backlog, char *err, size_t errlen)
{
	return vv_uds_listen_perm(path, SOCK_SEQPACKET, backlog, NULL, err, errlen);
}

int
vv_uds_seqpacket_path(char *buf, size_t len, const char *uds_path)
{
	int n = snprintf(buf, len, "%s" VV_UDS_SEQPACKET_SUFFIX, uds_path);

	if (n < 0 || (size_t) n >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int
port_addr(struct sockaddr_un *sa, const char *uds_path, uint32_t port)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s_%" PRIu32, uds_path, port);
	if (n < 0 || (size_t) n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

static bool
pending(int rc)
{
	return rc == -EINPROGRESS || rc == -EAGAIN;
}

int
vv_uds_connect_retry(const char *uds_path, uint32_t port, int fd)
{
	struct sockaddr_un sa;
	int rc = port_addr(&sa, uds_path, port);

	if (rc == 0)
		rc = start_connect(fd, &sa);
	if (rc != 0 && !pending(rc))
		close(fd);
	return rc;
}

int
vv_uds_connect_port(const char *uds_path, uint32_t port, int type, int *fd)
{
	int s, rc;

	*fd = -1;
	if (type != SOCK_STREAM && type != SOCK_SEQPACKET)
		return -EINVAL;
	s = socket(AF_UNIX, type | SOCK_FLAGS, 0);
	if (s < 0)
		return -errno;
	rc = vv_uds_connect_retry(uds_path, port, s);
	if (rc == 0 || pending(rc))
		*fd = s;
	return rc;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static const char *
skip_blanks(const char *p, const char *end)
{
	while (p < end && is_blank(*p))
		p++;
	return p;
}

int
vv_uds_parse_connect(const char *buf, size_t len, uint32_t *port)
{
	static const char keyword[] = "connect";
	const size_t kwlen = sizeof(keyword) - 1;
	const char *nl = memchr(buf, '\n', len < VV_UDS_LINE_MAX ? len : VV_UDS_LINE_MAX);
	const char *p, *end;
	uint64_t v = 0;

	if (nl == NULL)
		return len < VV_UDS_LINE_MAX ? 0 : -EINVAL;
	end = nl;
	if (end > buf && end[-1] == '\r')
		end--;
	p = skip_blanks(buf, end);
	if ((size_t) (end - p) <= kwlen || strncasecmp(p, keyword, kwlen) != 0 ||
	    !is_blank(p[kwlen]))
		return -EINVAL;
	p = skip_blanks(p + kwlen, end);
	if (p == end || *p < '0' || *p > '9')
		return -EINVAL;
	/* At most VV_UDS_LINE_MAX digits: checking each step cannot overflow v. */
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t) (*p - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (skip_blanks(p, end) != end)
		return -EINVAL;
	*port = (uint32_t) v;
	return (int) (nl - buf + 1);
}

int
vv_uds_format_ok(char *buf, size_t len, uint32_t port)
{
	int n = snprintf(buf, len, "OK %" PRIu32 "\n", port);

	if (n < 0 || (size_t) n >= len)
		return -ENOSPC;
	return n;
}
