/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A vv_vsock under test: a temporary directory for its Unix sockets, the
 * device attached to a vsock_guest, a clock the test moves, and the host
 * app's side as plain Unix sockets. Helpers assert with cmocka, so they are
 * for use inside tests.
 */
#ifndef VSOCK_ENV_H
#define VSOCK_ENV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <vv_vsock.h>

#include "vsock_guest.h"

#define ENV_CID 3u
#define ENV_T0 1000000000ull   /* the clock starts at 1 s */

struct env_opts {
	uint32_t buf_alloc;     /* device's per-connection buffer; 0 = 65536 */
	uint32_t max_conns;
	uint32_t max_pending;   /* host clients before their CONNECT line; 0 = default */
	uint16_t rx_size, tx_size;      /* 0 = 256 */
	uint16_t rx_start, tx_start;
	bool host_listener;     /* listen on uds_path for host-initiated streams */
	bool seq_listener;      /* and on uds_path.seqpacket for SEQPACKET ones */
	bool no_seqpacket;      /* the driver did not negotiate VIRTIO_VSOCK_F_SEQPACKET */
	uint64_t cid;           /* guest CID; 0 = ENV_CID */
	struct vv_route *route; /* VM-to-VM table holding cid, or NULL */
};

struct env {
	char dir[64];
	char uds[100];         /* fits sun_path */
	char seq_uds[112];     /* uds.seqpacket */
	struct vv_vsock *vs;
	struct vg *g;
	uint64_t cid;
	uint64_t now;
	uint32_t buf_alloc;     /* the device's tx_buffer_size */
	uint32_t window;        /* buf_alloc plus the room an empty host socket has
				   (what the device offers on an idle stream) */
	uint32_t window_max;    /* the same once lib/vsock grew the socket's send
				   buffer for an app that reads (sock_grow) */
	uint64_t features;      /* what the driver negotiated (attach) */
	int fds[64];            /* host app sockets closed by env_free */
	unsigned int n_fds;
};

/**
 * Payload the device counts as room in a host socket that holds `queued`
 * bytes of skb memory: three quarters of what its send buffer has left
 * (lib/vsock, sock_room). env_sock_room(0): an empty socket.
 */
uint32_t env_sock_room(uint32_t queued);

/** env_sock_room(0) of a socket lib/vsock grew (SO_SNDBUF 1 MiB asked). */
uint32_t env_sock_room_grown(void);

struct env *env_new(const struct env_opts *o);
/** Detach, free, close every app socket, remove the directory. */
void env_free(struct env *e);

/** cmocka setup helper: a new env stored in *state (teardown: env_teardown). */
struct env *env_start(void **state, const struct env_opts *o);
/** cmocka teardown: env_free(*state). */
int env_teardown(void **state);

/** One poll round at e->now. */
unsigned int env_poll(struct env *e);
/** Poll rounds until the device is idle (fails the test after 64). */
void env_settle(struct env *e);

/** Listen as host app on "<uds>_<port>"; the fd is closed by env_free. */
int env_listen_port(struct env *e, uint32_t port);
/** The same with a SOCK_SEQPACKET listener. */
int env_seq_listen_port(struct env *e, uint32_t port);
/** Accept one connection the device made to a listener. */
int env_accept(struct env *e, int lfd);
/** Connect to uds_path as a host app (blocking socket). */
int env_host_connect(struct env *e);
/** Connect to uds_path.seqpacket with a SOCK_SEQPACKET socket. */
int env_seq_host_connect(struct env *e);
/** Remember an fd for env_free; returns it. */
int env_track(struct env *e, int fd);
/** Close an app fd now (and forget it). */
void env_close(struct env *e, int fd);

/** Take the next rx packet; fails the test if there is none or it overran. */
void env_pop(struct env *e, struct vg_pkt *p);
/** Fail the test if the device put anything in the rx ring. */
void env_expect_no_rx(struct env *e);
/**
 * For expect_hdr's buf_alloc: any window the device may advertise on a
 * stream of the last env_new'd device: from its tx_buffer_size (a full host
 * socket) to e->window_max (an empty one the device grew). Which one
 * depends on the skb memory of what the host socket holds; the
 * never-shrinking limit is checked by the credit tests themselves.
 */
#define ENV_ANY_WINDOW UINT32_MAX

/* lo <= v <= hi, with the values in the failure. cmocka's own
 * assert_in_range is deprecated from cmocka 2.0 (Debian unstable) on, and
 * its replacements do not exist in 1.1 (Debian 12 and 13). */
#define env_assert_range(v, lo, hi)                                                        \
	do {                                                                               \
		uint64_t v__ = (v), lo__ = (lo), hi__ = (hi);                              \
		if (v__ < lo__ || v__ > hi__)                                              \
			fail_msg("%s = %llu is not in [%llu, %llu]", #v,                   \
				 (unsigned long long)v__, (unsigned long long)lo__,        \
				 (unsigned long long)hi__);                                \
	} while (0)

/** Check every header field (cids and type implied: host -> this guest, stream). */
void expect_hdr(const struct vg_pkt *p, uint16_t op, uint32_t src_port, uint32_t dst_port,
		uint32_t len, uint32_t flags, uint32_t buf_alloc, uint32_t fwd_cnt);
/** expect_hdr for a guest of another CID than ENV_CID. */
void expect_hdr_to(const struct vg_pkt *p, uint64_t dst_cid, uint16_t op, uint32_t src_port,
		   uint32_t dst_port, uint32_t len, uint32_t flags, uint32_t buf_alloc,
		   uint32_t fwd_cnt);

/** Guest-initiated stream gport -> hport, answered with RESPONSE; returns the app fd. */
int env_guest_open(struct env *e, uint32_t gport, uint32_t hport);
/** Host-initiated stream to gport, accepted by the guest; returns the app fd. */
int env_host_open(struct env *e, uint32_t gport, uint32_t *hport);

/** Guest sends op on gport -> hport with its default credit. */
void env_send_op(struct env *e, uint16_t op, uint32_t gport, uint32_t hport,
		 uint32_t flags, uint32_t fwd_cnt);
/** The guest sends an RW packet carrying len bytes of data on (gport, hport). */
void env_send_rw(struct env *e, uint32_t gport, uint32_t hport, const void *data, uint32_t len);
/** The guest sends len bytes on (gport, hport); the app reads exactly them on fd. */
void env_rw_to_app(struct env *e, uint32_t gport, uint32_t hport, int fd, const void *data,
		   uint32_t len);

/** recv without blocking: bytes read, 0 on EOF, -errno (-EAGAIN: nothing yet). */
ssize_t app_recv(int fd, void *buf, size_t len);
/** The app's socket reports the other end gone (EOF or ECONNRESET). */
void app_expect_closed(int fd);
/** The app's socket has nothing to read and is still open. */
void app_expect_nothing(int fd);
/** Write all of buf (blocking socket or enough room). */
void app_send(int fd, const void *buf, size_t len);
/** Write bytes [off, off + len) of test stream `seed` (see pattern()). */
void app_send_stream(int fd, uint32_t seed, uint64_t off, uint32_t len);

/** Byte i of test stream `seed`: a pattern that shows loss, duplication and reordering. */
static inline uint8_t pattern(uint32_t seed, uint64_t i)
{
	return (uint8_t)((i * 131 + (i >> 8) * 7 + seed) & 0xff);
}
void pattern_fill(uint8_t *buf, uint32_t seed, uint64_t from, uint32_t len);
/** Check buf against the pattern; returns true if it matches. */
bool pattern_check(const uint8_t *buf, uint32_t seed, uint64_t from, uint32_t len);

/** The device's connections, in its order; returns how many (at most max stored). */
unsigned int env_conns(struct env *e, struct vv_vsock_conn_info *out, unsigned int max);

/** Counter deltas: every drop reason unchanged except `why`, which moved by n. */
void expect_drops(const struct vv_vsock_stats *before, const struct vv_vsock_stats *now,
		  int why, uint64_t n);

#endif
