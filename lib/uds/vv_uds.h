/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Host side of hybrid vsock: Unix sockets.
 *
 * Guest-initiated streams connect to "<uds_path>_<port>". Host-initiated
 * streams connect to uds_path and write "CONNECT <port>\n"; once the guest
 * accepts they read "OK <host port>\n" (Firecracker's protocol, kept by
 * rust-vmm vhost-device-vsock).
 *
 * SEQPACKET connections are SOCK_SEQPACKET sockets at the same places, but
 * host-initiated ones come in through "<uds_path>.seqpacket", where the
 * CONNECT line and the OK line are one message each.
 */
#ifndef VV_UDS_H
#define VV_UDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** Longest CONNECT line accepted, newline included. */
#define VV_UDS_LINE_MAX 64

/**
 * Appended to uds_path for the listener of host-initiated SEQPACKET
 * connections. Shorter than "_4294967295", for which every uds_path
 * leaves room in sun_path.
 */
#define VV_UDS_SEQPACKET_SUFFIX ".seqpacket"

/**
 * Create a non-blocking, close-on-exec listening socket at path.
 * A stale socket file (nobody accepts on it) is replaced; a path served by a
 * live process, or an existing non-socket file, is refused.
 * @return fd >= 0, or -errno: -ENOENT (directory missing), -EACCES
 *   (directory not writable), -EADDRINUSE (live server), -EEXIST (not a
 *   socket), -ENAMETOOLONG (does not fit sun_path), -EINVAL (empty path),
 *   or what socket/bind/listen/unlink failed with; err says which path and why.
 */
int vv_uds_listen(const char *path, int backlog, char *err, size_t errlen);

/**
 * vv_uds_listen for a SOCK_SEQPACKET socket, with the same checks and
 * returns; a live server of another socket type at path is refused too.
 */
int vv_uds_listen_seqpacket(const char *path, int backlog, char *err, size_t errlen);

/**
 * Write "<uds_path>.seqpacket" into buf.
 * @return 0, or -ENAMETOOLONG if it does not fit in len bytes.
 */
int vv_uds_seqpacket_path(char *buf, size_t len, const char *uds_path);

/**
 * Who may connect to a socket file. Connecting to a Unix socket takes write
 * permission on the file, so its owner, group and mode decide.
 */
struct vv_uds_perm {
	int64_t uid; /**< owner, -1: the process's */
	int64_t gid; /**< group, -1: the process's */
	int mode;    /**< permission bits, 0: what the umask gives */
};

/** True if perm asks for anything (NULL asks for nothing). */
bool vv_uds_perm_given(const struct vv_uds_perm *perm);

/** What vv_uds_perm_begin returns when perm asks for nothing: the umask was not touched. */
#define VV_UDS_UMASK_KEPT ((mode_t) -1)

/**
 * Before binding a socket that perm will be applied to: while the file
 * exists with the wrong owner or mode, only this process's user may
 * connect (umask 0177). The umask is the process's: call this and
 * vv_uds_perm_apply() from the thread that binds, around the bind, with
 * no other file being created meanwhile (start-up, the control thread).
 * When perm asks for nothing the umask is left alone.
 * @return the umask to give back to vv_uds_perm_apply() or
 *   vv_uds_perm_abort(), or VV_UDS_UMASK_KEPT.
 */
mode_t vv_uds_perm_begin(const struct vv_uds_perm *perm);

/** The bind failed: give back the umask vv_uds_perm_begin() saved, if it changed it. */
void vv_uds_perm_abort(mode_t saved_umask);

/**
 * Restore the umask saved by vv_uds_perm_begin(), then give the socket file
 * at path its owner and group (first: the narrow mode protects it until
 * then), then its mode (the one asked for, else the one the saved umask
 * would have given).
 * @return 0, or -errno (-EPERM: not allowed to give the file away); err
 *   names the path, the owner or mode and why.
 */
int vv_uds_perm_apply(const char *path, const struct vv_uds_perm *perm, mode_t saved_umask,
		      char *err, size_t errlen);

/**
 * vv_uds_listen (type SOCK_STREAM) or vv_uds_listen_seqpacket (type
 * SOCK_SEQPACKET), and the file gets perm (may be NULL) before anyone but
 * this process's user can connect to it.
 * @return as vv_uds_listen, -EINVAL for another type, or a
 *   vv_uds_perm_apply error (nothing is left listening then, the file is
 *   removed).
 */
int vv_uds_listen_perm(const char *path, int type, int backlog, const struct vv_uds_perm *perm,
		       char *err, size_t errlen);

/**
 * Make path free for a server socket that something else will bind (rte_vhost):
 * a stale socket file is removed; a live server, a non-socket file, a missing
 * or read-only directory are refused with the same errors and messages as
 * vv_uds_listen.
 * @return 0 when path can be bound, or -errno.
 */
int vv_uds_claim_path(const char *path, char *err, size_t errlen);

/**
 * The checks of vv_uds_claim_path without changing anything (a stale socket
 * file stays until it is claimed): may path be served now?
 * @return 0, or the -errno and message vv_uds_claim_path would give.
 */
int vv_uds_check_path(const char *path, char *err, size_t errlen);

/**
 * Start a non-blocking connect to "<uds_path>_<port>".
 * @param type
 *   SOCK_STREAM or SOCK_SEQPACKET (else -EINVAL).
 * @param fd
 *   Receives the socket when the return is 0 or -EINPROGRESS/-EAGAIN.
 * @return 0 connected; -EINPROGRESS or -EAGAIN (listener backlog full: call
 *   vv_uds_connect_retry later); other -errno: failed, no fd left open
 *   (*fd is -1): -ENAMETOOLONG if the path does not fit sun_path, -ENOENT or
 *   -ECONNREFUSED if nobody listens, -EPROTOTYPE if the listener there is of
 *   the other socket type.
 */
int vv_uds_connect_port(const char *uds_path, uint32_t port, int type, int *fd);

/** Retry a connect that returned -EAGAIN. Same returns, fd stays open unless failed (then closed). */
int vv_uds_connect_retry(const char *uds_path, uint32_t port, int fd);

/**
 * Parse a "CONNECT <port>\n" line from the start of buf (case-insensitive
 * keyword, spaces or tabs around words, an optional '\r' before '\n').
 * @return length of the line including '\n' (> 0) with *port set;
 *   0 if no '\n' yet and len < VV_UDS_LINE_MAX; -EINVAL for a bad line or
 *   one longer than VV_UDS_LINE_MAX.
 */
int vv_uds_parse_connect(const char *buf, size_t len, uint32_t *port);

/** Format "OK <port>\n". @return its length, or -ENOSPC. */
int vv_uds_format_ok(char *buf, size_t len, uint32_t port);

#endif
