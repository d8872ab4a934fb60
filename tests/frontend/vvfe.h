/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * vvfe: a native vhost-user vsock frontend for tests and benchmarks.
 *
 * vvfe plays the two roles that normally sit in front of a vhost-user vsock
 * backend: QEMU (the vhost-user front-end: feature and protocol negotiation,
 * guest memory in a memfd, split vrings, kick/call eventfds) and the Linux
 * guest's virtio-vsock driver (rx buffers, tx chains, stream sockets with
 * credit flow). Rings are split or packed, with or without indirect
 * descriptor tables. It speaks only standard vhost-user (QEMU
 * docs/interop/vhost-user.rst) and virtio-vsock (virtio 1.3, 5.10), so it
 * can drive any backend.
 *
 * Threading: one device is owned by one thread. Nothing in the library
 * starts threads; the caller drives a device with vvfe_poll(). Distinct
 * devices may be driven from distinct threads. Only plain libc is used.
 *
 * Return convention: int -> 0 or -errno; ssize_t -> count or -errno;
 * constructors -> pointer or NULL with errno set.
 */
#ifndef VVFE_H
#define VVFE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/virtio_vsock.h>

/** Well-known CID of the host (virtio 1.3, 5.10.4). */
#define VVFE_HOST_CID 2
/** Size of struct virtio_vsock_hdr on the wire. */
#define VVFE_HDR_LEN 44
_Static_assert(sizeof(struct virtio_vsock_hdr) == VVFE_HDR_LEN, "virtio_vsock_hdr is 44 bytes");
/** Largest payload Linux puts in one packet (VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define VVFE_MAX_PKT 65536
/** Longest chain vvfe puts in one indirect table (longer ones stay direct). */
#define VVFE_INDIRECT_MAX 16

/*
 * The wire format (struct virtio_vsock_hdr, its ops, types and flags) is the
 * kernel's <linux/virtio_vsock.h>. vvfe keeps a header in that struct in host
 * byte order and converts at the ring (vvfe_hdr_encode/decode).
 */

/** Encode h as the 44 little-endian bytes of struct virtio_vsock_hdr. */
void vvfe_hdr_encode(const struct virtio_vsock_hdr *h, uint8_t out[VVFE_HDR_LEN]);
/** Decode 44 little-endian bytes into h. */
void vvfe_hdr_decode(const uint8_t in[VVFE_HDR_LEN], struct virtio_vsock_hdr *h);

/**
 * Free space the peer advertises: buf_alloc - (tx_cnt - fwd_cnt).
 * All counters are free-running uint32_t, so the subtraction wraps exactly
 * as the spec's formula does. A peer that claims to have forwarded more
 * than we sent (or whose numbers exceed buf_alloc) yields 0, not a huge
 * credit.
 */
uint32_t vvfe_credit(uint32_t peer_buf_alloc, uint32_t peer_fwd_cnt, uint32_t tx_cnt);

/** Options of a device. Zero-initialise, then set what you need. */
struct vvfe_opts {
	const char *socket_path; /**< backend's vhost-user socket (required) */
	size_t mem_size;         /**< guest memory, bytes; 0 -> 64 MiB */
	uint16_t queue_size;     /**< rx and tx ring size, power of 2 (packed: any,
				      4..32768); 0 -> 256 */
	bool no_event_idx;       /**< do not negotiate VIRTIO_RING_F_EVENT_IDX */
	bool packed;             /**< packed rings (VIRTIO_F_RING_PACKED; the backend must
				      offer it) */
	bool indirect;           /**< negotiate VIRTIO_RING_F_INDIRECT_DESC and, as Linux,
				      send every chain of 2 to VVFE_INDIRECT_MAX descriptors
				      through an indirect table */
	bool spin;               /**< vvfe_poll spins instead of waiting on call fds */
	uint32_t rx_buf_size;    /**< bytes per rx chain incl. header; 0 -> 4096 */
	bool rx_hdr_split;       /**< rx header in its own 44-byte descriptor */
	uint32_t tx_seg_size;    /**< split tx payload in descriptors of this size; 0 = one */
	uint32_t tx_hdr_split_at;/**< 1..43: split the tx header in two descriptors here */
	bool tx_hdr_joined;      /**< header and payload share the first descriptor */
	uint32_t buf_alloc;      /**< per-stream receive buffer; 0 -> 256 KiB */
	uint32_t max_pkt;        /**< largest tx payload per packet; 0 -> 64 KiB */
	int connect_timeout_ms;  /**< wait for the socket to appear; 0 -> 5000 */
	int reply_timeout_ms;    /**< wait for a vhost-user reply; 0 -> 5000 */
	int vsock_connect_timeout_ms; /**< REQUEST without answer; 0 -> 2000 */
	int close_timeout_ms;    /**< SHUTDOWN without RST; 0 -> 8000 (Linux) */
	int credit_request_ms;   /**< stalled on credit this long -> CREDIT_REQUEST; 0 -> 500 */
	bool siblings;           /**< accept packets from other guests' CIDs (VM-to-VM),
				      not only from the host */
	bool no_seqpacket;       /**< do not negotiate VIRTIO_VSOCK_F_SEQPACKET */
};

/** Counters of a device; all monotonic since vvfe_dev_create(). */
struct vvfe_stats {
	uint64_t rx_pkts, tx_pkts;       /**< vsock packets received / sent */
	uint64_t rx_bytes, tx_bytes;     /**< RW payload bytes */
	uint64_t tx_zero_copy_bytes;     /**< of tx_bytes, sent from guest memory in place */
	uint64_t rx_sink_bytes;          /**< of rx_bytes, read in place by a sink */
	uint64_t kicks, kicks_suppressed;/**< eventfd kicks written / skipped */
	uint64_t calls;                  /**< call eventfd wake-ups */
	uint64_t rst_rx, rst_tx;
	uint64_t credit_update_rx, credit_update_tx;
	uint64_t credit_request_rx, credit_request_tx;
	uint64_t peer_credit_violations; /**< RW beyond our buf_alloc (dropped) */
	uint64_t proto_errors;           /**< anything the backend must not do */
	uint64_t rx_unexpected;          /**< packets for no flow, ignored */
	uint64_t rx_empty;               /**< rx buffers given back unwritten (len 0) */
	uint64_t tx_used_nonzero_len;    /**< tx chains returned with len != 0 */
	uint64_t close_timeouts;         /**< closes the peer never answered with RST */
	uint64_t ctrl_dropped;           /**< control packets dropped, queue full */
	uint64_t handshake_retries;      /**< connections the backend dropped during setup */
	char last_error[160];            /**< text of the last protocol error */
};

/** A vhost-user vsock device seen from the front-end + guest driver. */
struct vvfe_dev;
/** One guest stream socket. */
struct vvfe_stream;
/** A verifiable byte sequence (see below). */
struct vvfe_pattern;

/**
 * Connect to opts->socket_path and bring the device up like QEMU starting
 * a VM: negotiate features, SET_OWNER, GET_CONFIG (guest CID), SET_MEM_TABLE,
 * rx (0) and tx (1) rings, SET_VRING_ENABLE; then fill the rx ring.
 * @return the device, or NULL with errno: ENOENT/ECONNREFUSED (no backend
 *   within connect_timeout_ms), EPROTO (bad reply, missing VERSION_1 or
 *   PROTOCOL_F_CONFIG, bad CID), EOPNOTSUPP (opts.packed or opts.indirect
 *   and the backend does not offer it), ETIMEDOUT (no reply), ENOMEM,
 *   EINVAL (opts).
 */
struct vvfe_dev *vvfe_dev_create(const struct vvfe_opts *opts);

/**
 * Power off: GET_VRING_BASE on both rings, then close the connection.
 * All streams become closed (ECONNRESET). The device may be restarted with
 * vvfe_dev_reconnect().
 * @return 0, or -errno of the first failed message (the socket is closed anyway).
 */
int vvfe_dev_stop(struct vvfe_dev *dev);

/**
 * Reboot: (stop if running), open a new connection and set the device up
 * again with fresh rings and guest memory contents. The CID is read again
 * and must be the same. Streams of the previous boot are gone.
 * @return 0, or -errno as vvfe_dev_create(); -ESTALE when the CID changed.
 */
int vvfe_dev_reconnect(struct vvfe_dev *dev);

/** Vanish: close the vhost-user socket without GET_VRING_BASE (a crashed VM). */
void vvfe_dev_abort(struct vvfe_dev *dev);

/** Stop (if running) and free everything, including remaining streams. */
void vvfe_dev_free(struct vvfe_dev *dev);

/**
 * Carve len bytes out of guest memory (64-byte aligned), e.g. a region of
 * pattern bytes to send from. vvfe_send() sends a buffer that lies in guest
 * memory zero-copy: the descriptors point at it, so its bytes must not
 * change until the device has read them (a read-only region is the
 * intended use). The memory lasts until vvfe_dev_free(), across reboots.
 * @return the buffer, or NULL with errno ENOMEM (guest memory used up:
 *   raise vvfe_opts.mem_size).
 */
void *vvfe_dev_mem_alloc(struct vvfe_dev *dev, size_t len);

/** Guest CID read by GET_CONFIG. */
uint64_t vvfe_dev_cid(const struct vvfe_dev *dev);
/** Negotiated virtio feature bits. */
uint64_t vvfe_dev_features(const struct vvfe_dev *dev);
/** Negotiated vhost-user protocol feature bits. */
uint64_t vvfe_dev_protocol_features(const struct vvfe_dev *dev);
/** Values returned by the last GET_VRING_BASE (rx, tx), or -1 if none. */
void vvfe_dev_vring_bases(const struct vvfe_dev *dev, int *rx, int *tx);
/** True while the vhost-user connection is up and the rings usable. */
bool vvfe_dev_running(const struct vvfe_dev *dev);
/** Counters. */
const struct vvfe_stats *vvfe_dev_stats(const struct vvfe_dev *dev);
/** Number of streams not yet fully closed (including closing ones). */
unsigned int vvfe_dev_nstreams(const struct vvfe_dev *dev);

/**
 * Drive the device: consume used rings, dispatch packets, refill rx, send
 * queued control packets, kick, run timers. If nothing happened, wait up to
 * timeout_ms (-1 = forever, 0 = do not wait) on the call eventfds (or spin
 * in spin mode) and process again.
 * @return number of events handled (>= 0); -ENOTCONN when the backend closed
 *   the vhost-user connection or the device is stopped; -EPROTO when the
 *   backend broke the ring protocol (see stats.last_error).
 */
int vvfe_poll(struct vvfe_dev *dev, int timeout_ms);

/**
 * File descriptors vvfe_poll() waits on (call eventfds and the vhost-user
 * socket), for callers that multiplex several devices with poll(2).
 * @return number written to fds (<= n).
 */
int vvfe_dev_pollfds(const struct vvfe_dev *dev, int *fds, int n);

/**
 * Sleep until one of n devices has something to do, one of the caller's
 * extra descriptors is ready (their revents are filled in), or timeout_ms
 * passed (-1 = no limit; capped at the 10 ms timer tick while a device has
 * streams). It asks every running device for interrupts first and returns
 * at once if one already has used entries. Call eventfds are drained; a
 * vhost-user connection the backend closed is noticed (the device's
 * streams are reset and vvfe_poll() then returns -ENOTCONN). Devices not
 * running are skipped. It processes nothing: follow with vvfe_poll(d, 0)
 * on each device. One thread drives many devices and sockets this way.
 * @return 0, or -errno from poll(2) (-ENOMEM for a huge n).
 */
int vvfe_wait(struct vvfe_dev *const *devs, unsigned int n, struct pollfd *extra,
	      unsigned int n_extra, int timeout_ms);

/** Stream states. */
enum vvfe_state {
	VVFE_CONNECTING,  /**< REQUEST sent */
	VVFE_ESTABLISHED, /**< data may flow (maybe half-closed) */
	VVFE_CLOSING,     /**< we sent SHUTDOWN both ways, waiting for RST */
	VVFE_CLOSED,      /**< finished; see vvfe_stream_error() */
};

/**
 * Start a connection from the guest to (VVFE_HOST_CID, port); completes in
 * vvfe_poll() (state becomes ESTABLISHED, or CLOSED with -ECONNREFUSED /
 * -ETIMEDOUT).
 * @return 0 with *out set; -ENOTCONN (device down), -EADDRINUSE (no free
 *   local port), -ENOMEM.
 */
int vvfe_connect(struct vvfe_dev *dev, uint32_t port, struct vvfe_stream **out);

/**
 * Connect to (cid, port): the host (VVFE_HOST_CID) or another guest, which
 * the backend must route to (VM-to-VM). The device needs opts.siblings to
 * take the other guest's answers.
 * @return as vvfe_connect(); -EINVAL for a reserved CID or our own.
 */
int vvfe_connect_cid(struct vvfe_dev *dev, uint64_t cid, uint32_t port, struct vvfe_stream **out);

/**
 * vvfe_connect_cid for a connection of a given type: VIRTIO_VSOCK_TYPE_STREAM,
 * or VIRTIO_VSOCK_TYPE_SEQPACKET (messages: vvfe_send_msg, vvfe_recv_msg).
 * @return as vvfe_connect_cid(); -EOPNOTSUPP for SEQPACKET when the device
 *   did not negotiate VIRTIO_VSOCK_F_SEQPACKET, -EINVAL for another type.
 */
int vvfe_connect_type(struct vvfe_dev *dev, uint64_t cid, uint32_t port, uint16_t type,
		      struct vvfe_stream **out);

/**
 * Listen on a guest port: REQUESTs from the host, or with opts.siblings
 * from other guests too. @return 0, -EADDRINUSE, -ENOMEM.
 */
int vvfe_listen(struct vvfe_dev *dev, uint32_t port);
/**
 * vvfe_listen for connections of one type; a REQUEST of another type is
 * answered with RST, as Linux does. @return as vvfe_listen(); -EOPNOTSUPP,
 * -EINVAL as vvfe_connect_type().
 */
int vvfe_listen_type(struct vvfe_dev *dev, uint32_t port, uint16_t type);
/** Stop listening (queued, unaccepted streams are reset). @return 0 or -ENOENT. */
int vvfe_unlisten(struct vvfe_dev *dev, uint32_t port);
/** Take an established stream from port's accept queue, or NULL. */
struct vvfe_stream *vvfe_accept(struct vvfe_dev *dev, uint32_t port);

/**
 * Queue up to len bytes as RW packets, limited by the peer's credit, free tx
 * descriptors and packet slots. Never blocks. The bytes are copied into the
 * packet, unless buf lies in guest memory (vvfe_dev_mem_alloc()): then they
 * are sent from there (not with tx_hdr_joined, which needs them contiguous
 * with the header).
 * @return bytes accepted (> 0); -EAGAIN (no credit or ring space: poll and
 *   retry); -EPIPE (we or the peer shut this direction down); -ENOTCONN
 *   (not established); -ECONNRESET (reset by peer); -EINVAL (len == 0).
 */
ssize_t vvfe_send(struct vvfe_stream *s, const void *buf, size_t len);

/**
 * SEQPACKET: send the rest of a message, len bytes, as Linux's sendmsg
 * does: RW packets as credit allows, VIRTIO_VSOCK_SEQ_EOM on the one that
 * carries the last byte (and VIRTIO_VSOCK_SEQ_EOR with it if eor, the
 * sender's MSG_EOR). Call again with the bytes not accepted yet: a message
 * may take many calls, and another message must not start meanwhile.
 * @return bytes accepted (> 0); -EMSGSIZE when a message begins that is
 *   larger than the peer's buf_alloc (Linux's limit); -EINVAL (not a
 *   SEQPACKET stream, or len == 0); otherwise as vvfe_send().
 */
ssize_t vvfe_send_msg(struct vvfe_stream *s, const void *buf, size_t len, bool eor);

/**
 * SEQPACKET: take the next whole message (one that ended with EOM). Up to
 * len bytes are copied, the rest of a longer message is dropped (MSG_TRUNC).
 * @param eor set to whether the message came with VIRTIO_VSOCK_SEQ_EOR (may be NULL).
 * @return the message's length (> 0, even if larger than len); -EAGAIN (no
 *   whole message yet); 0 at end of stream; -ECONNRESET; -EINVAL (not a
 *   SEQPACKET stream); -ENOTCONN (still connecting).
 */
ssize_t vvfe_recv_msg(struct vvfe_stream *s, void *buf, size_t len, bool *eor);

/** VIRTIO_VSOCK_TYPE_STREAM or VIRTIO_VSOCK_TYPE_SEQPACKET. */
uint16_t vvfe_stream_type(const struct vvfe_stream *s);

/**
 * Copy up to len received bytes out (STREAM only: -EINVAL for SEQPACKET).
 * @return bytes (> 0); 0 at end of stream (peer shut down sending, all
 *   read); -EAGAIN (nothing yet); -ECONNRESET (reset before end of stream);
 *   -ENOTCONN (still connecting).
 */
ssize_t vvfe_recv(struct vvfe_stream *s, void *buf, size_t len);

/** Zero-copy read: *p and the returned length describe contiguous received bytes. */
size_t vvfe_recv_peek(struct vvfe_stream *s, const void **p);
/** Mark n peeked bytes consumed (may send CREDIT_UPDATE). @return 0 or -EINVAL (n too big). */
int vvfe_recv_consume(struct vvfe_stream *s, size_t n);

/**
 * Send SHUTDOWN with how = VIRTIO_VSOCK_SHUTDOWN_RCV and/or VIRTIO_VSOCK_SHUTDOWN_SEND.
 * @return 0, -ENOTCONN (not established), -EINVAL (bad flags).
 */
int vvfe_shutdown(struct vvfe_stream *s, unsigned int how);

/**
 * Close like Linux: SHUTDOWN both ways if not done, then wait in the
 * background for the peer's RST (or send one after close_timeout_ms).
 * The handle must not be used afterwards; the library frees it.
 */
void vvfe_close(struct vvfe_stream *s);

/** Abort: send RST and free the stream now. */
void vvfe_reset(struct vvfe_stream *s);

enum vvfe_state vvfe_stream_state(const struct vvfe_stream *s);
/** 0, or -ECONNREFUSED / -ECONNRESET / -ETIMEDOUT / -EPROTO once CLOSED. */
int vvfe_stream_error(const struct vvfe_stream *s);
/** Bytes waiting to be read. */
size_t vvfe_stream_readable(const struct vvfe_stream *s);
/** Bytes the peer currently lets us send. */
uint32_t vvfe_stream_credit(const struct vvfe_stream *s);
/** SHUTDOWN flags received from the peer. */
unsigned int vvfe_stream_peer_shutdown(const struct vvfe_stream *s);
uint32_t vvfe_stream_local_port(const struct vvfe_stream *s);
/** The peer's CID: VVFE_HOST_CID or another guest's. */
uint64_t vvfe_stream_peer_cid(const struct vvfe_stream *s);
uint32_t vvfe_stream_peer_port(const struct vvfe_stream *s);
/** The peer's last advertised buf_alloc. */
uint32_t vvfe_stream_peer_buf_alloc(const struct vvfe_stream *s);
/**
 * Bytes sent on the stream that the peer has not yet reported forwarded
 * (tx_cnt - the peer's last fwd_cnt, wrapping u32). A backend counts bytes
 * as forwarded once its host socket took them.
 */
uint32_t vvfe_stream_unacked(const struct vvfe_stream *s);
/** True once the peer ended the stream with RST (refused, reset or closed). */
bool vvfe_stream_rst_received(const struct vvfe_stream *s);
/** CLOCK_MONOTONIC time (ns) at which the stream became CLOSED, 0 while open. */
uint64_t vvfe_stream_closed_ns(const struct vvfe_stream *s);
/**
 * Receive in place: from now on, RW payload that arrives while nothing is
 * buffered goes to fn straight from the rx buffer (no copy) and counts as
 * read at once, so credit flows back to the peer. Bytes already buffered
 * (and any that arrive before they are read) still come through
 * vvfe_recv()/vvfe_recv_peek(), so the order is kept. fn runs inside
 * vvfe_poll() and must not call back into the device. NULL fn turns it off.
 * A SEQPACKET stream never uses the sink (messages keep their boundaries).
 */
void vvfe_stream_set_sink(struct vvfe_stream *s,
			  void (*fn)(struct vvfe_stream *s, const void *data, size_t len, void *arg),
			  void *arg);
void vvfe_stream_set_user(struct vvfe_stream *s, void *user);
void *vvfe_stream_user(const struct vvfe_stream *s);

/* ------------------------------------------------------------------------ */
/* Hostile guest. Each case misbehaves in one way, then watches what the
 * backend does. They model a buggy or malicious guest kernel. */

/** The misbehaviours. */
enum vvfe_hostile {
	VVFE_HOSTILE_BAD_ADDR,        /**< tx descriptor outside guest memory */
	VVFE_HOSTILE_CYCLIC_CHAIN,    /**< two descriptors pointing at each other (packed:
				           NEXT on the last one, into one not available) */
	VVFE_HOSTILE_LONG_CHAIN,      /**< chain through every descriptor and back (packed:
				           NEXT on every descriptor of the ring) */
	VVFE_HOSTILE_WRITE_FLAG,      /**< device-writable descriptor on tx */
	VVFE_HOSTILE_INDIRECT,        /**< INDIRECT flag, never negotiated (runs without
				           opts.indirect only) */
	VVFE_HOSTILE_SHORT_HDR,       /**< chain shorter than the 44-byte header */
	VVFE_HOSTILE_LEN_OVERFLOW,    /**< hdr.len larger than the buffer */
	VVFE_HOSTILE_SPOOF_CID,       /**< src_cid not our CID */
	VVFE_HOSTILE_UNKNOWN_OP,      /**< op 42 */
	VVFE_HOSTILE_UNKNOWN_TYPE,    /**< type 7 (spec: device MUST answer RST) */
	VVFE_HOSTILE_CREDIT_VIOLATION,/**< RW beyond the peer's buf_alloc */
	VVFE_HOSTILE_TINY_FLOOD,      /**< thousands of 1-byte RW packets */
	VVFE_HOSTILE_RX_STALL,        /**< no rx buffers, many REQUESTs */
	VVFE_HOSTILE_AVAIL_JUMP,      /**< avail idx advanced by more than the ring size
				           (split only: a packed ring has no index) */
	VVFE_HOSTILE_VANISH,          /**< close the socket without GET_VRING_BASE */
	/* With opts.indirect only: */
	VVFE_HOSTILE_INDIRECT_NESTED, /**< a table holding an INDIRECT descriptor */
	VVFE_HOSTILE_INDIRECT_SIZE,   /**< a table whose length is not whole descriptors */
	VVFE_HOSTILE_INDIRECT_ADDR,   /**< a table past the end of guest memory */
	VVFE_HOSTILE_INDIRECT_NEXT,   /**< INDIRECT together with NEXT */
	VVFE_HOSTILE_COUNT
};

/**
 * What came back for the misbehaving flow within the wait. An RST anywhere
 * in the window counts, even after other packets: a CREDIT_UPDATE already
 * in flight may arrive before the answer.
 */
enum vvfe_answer {
	VVFE_ANSWER_NONE,       /**< nothing within the wait */
	VVFE_ANSWER_RST,        /**< an RST (maybe after other packets) */
	VVFE_ANSWER_OTHER,      /**< only packets other than RST (answer_op: the first) */
	VVFE_ANSWER_DISCONNECT, /**< the backend closed the vhost-user connection */
};

/** Observations of one hostile case. */
struct vvfe_hostile_result {
	enum vvfe_answer answer;
	uint16_t answer_op;   /**< VIRTIO_VSOCK_OP_RST if one came, else the first packet's op */
	uint32_t ops_seen;    /**< bit (1 << op) for every op that came for the flow */
	uint32_t rst_us;      /**< microseconds from the misbehaviour to the RST */
	bool used_returned;   /**< the crafted chain came back in the used ring */
	uint32_t used_len;    /**< its used length */
	bool stream_ok;       /**< the stream passed in is still established */
	bool alive;           /**< afterwards the device still answers a probe */
	uint64_t sent_bytes;  /**< RW payload bytes the case sent on the stream */
	char note[96];        /**< short human-readable detail */
};

/** Name of a case ("bad_addr", ...), or NULL. */
const char *vvfe_hostile_name(enum vvfe_hostile c);
/**
 * Whether case c can run on dev as negotiated (avail_jump: split rings;
 * indirect: INDIRECT_DESC not negotiated; indirect_*: negotiated).
 */
bool vvfe_hostile_applies(const struct vvfe_dev *dev, enum vvfe_hostile c);
/** Case by name. @return the case, or -EINVAL. */
int vvfe_hostile_from_name(const char *name);

/**
 * Run one hostile case. s, when not NULL, is an established stream the case
 * aims at (required for CREDIT_VIOLATION and TINY_FLOOD; others then use
 * its ports); without it, the case uses an unused local port and peer port
 * probe_port. The case waits up to wait_ms for an answer (returning early
 * once an RST came and the crafted chain is back), then probes
 * liveness (a REQUEST to probe_port, which nobody should serve, must be
 * answered by RST). Malformed packets carry 0xA5 filler that a receiver
 * checking the stream's pattern must never see; legitimate data
 * (CREDIT_VIOLATION, TINY_FLOOD, VANISH) follows pat (when not NULL) at
 * the stream offset equal to the bytes sent so far on s.
 * CREDIT_VIOLATION first sends within credit until the peer's window stays
 * shut (at most 4 MiB or 4 * wait_ms), then one max-size packet more, so a
 * peer whose reader is stalled (the caller pauses it) really is overrun;
 * with a reader that keeps up, the extra bytes may fit the peer's space.

 * @return 0 (the observations are in res), -EINVAL (case needs a stream),
 *   -EOPNOTSUPP (not for this device, see vvfe_hostile_applies), -ENOTCONN
 *   (device not running), -ENOSPC (ring too full to start).
 */
int vvfe_hostile_run(struct vvfe_dev *dev, enum vvfe_hostile c, struct vvfe_stream *s,
		     const struct vvfe_pattern *pat, uint32_t probe_port, int wait_ms,
		     struct vvfe_hostile_result *res);

/**
 * Liveness probe: send REQUEST to probe_port from a fresh local port and wait
 * up to wait_ms for the RST that must come back (nobody listens there).
 * @return 1 answered by RST, 0 no answer, -ENOTCONN device down.
 */
int vvfe_probe(struct vvfe_dev *dev, uint32_t probe_port, int wait_ms);

/* ------------------------------------------------------------------------ */
/* Hostile vhost-user front-end. Each case does to the backend what a
 * compromised, buggy or dying QEMU could: messages QEMU never sends, memory
 * files that do not cover their regions or shrink under a running device,
 * notifiers that are not eventfds, floods. The cases model issue 17. */

enum vvfe_vuhostile {
	VVFE_VUH_MEM_SHORT,        /**< memfd of 192 KiB behind a 4 MiB region, then rings */
	VVFE_VUH_MEM_OFFSET_END,   /**< mmap_offset at the end of the file */
	VVFE_VUH_MEM_TX_PAST_END,  /**< rings inside the file, the rest of the region not */
	VVFE_VUH_MEM_OVERLAP,      /**< two regions sharing guest-physical addresses */
	VVFE_VUH_MEM_WRAP,         /**< gpa + size past 2^64 */
	VVFE_VUH_MEM_TOO_MANY,     /**< 9 regions */
	VVFE_VUH_MEM_SIZE_ZERO,    /**< a region of size 0 */
	VVFE_VUH_MEM_BAD_FD,       /**< a pipe as the region's fd */
	VVFE_VUH_MEM_HUGE,         /**< a 2^62-byte region over a small file */
	VVFE_VUH_INFLIGHT_FD,      /**< SET_INFLIGHT_FD, 4 KiB memfd, 256 queues of 65535 */
	VVFE_VUH_GET_INFLIGHT_FD,  /**< GET_INFLIGHT_FD */
	VVFE_VUH_POSTCOPY,         /**< POSTCOPY_ADVISE, three times */
	VVFE_VUH_CALL_PIPE,        /**< a pipe nobody reads as call fd, 576 SET_VRING_CALL */
	VVFE_VUH_KICK_PIPE,        /**< a pipe as kick fd */
	VVFE_VUH_UNKNOWN_REQUEST,  /**< request codes 0, 23, 41, 99, 1000, 2^31-1 */
	VVFE_VUH_BAD_FLAGS,        /**< version 0, 2, 3, the REPLY bit, unknown bits */
	VVFE_VUH_BAD_SIZE,         /**< payload sizes that do not match the request */
	VVFE_VUH_FD_COUNT,         /**< fds where none belong, none where one does */
	VVFE_VUH_RING_OUTSIDE,     /**< desc, used or avail outside guest memory */
	VVFE_VUH_VRING_NUM,        /**< SET_VRING_NUM 0, 3, 65536 */
	VVFE_VUH_VRING_INDEX,      /**< ring indexes 2, 3 and 255 */
	VVFE_VUH_FEATURES,         /**< features and protocol features not offered */
	VVFE_VUH_GET_CONFIG,       /**< GET_CONFIG with bad sizes and offsets */
	VVFE_VUH_MISSING_PAYLOAD,  /**< a header announcing a payload that never comes */
	VVFE_VUH_REPLY_FLOOD,      /**< thousands of GET_FEATURES, replies never read */
	VVFE_VUH_CONN_FLOOD,       /**< ten idle connections to one VM's socket */
	VVFE_VUH_FLOOD_CLOSE,      /**< hundreds of messages queued, then gone; a correct one next */
	VVFE_VUH_REMAP_REFUSED,    /**< SET_MEM_TABLE refused on a running device with a stream */
	VVFE_VUH_REMAP_RINGS_GONE, /**< SET_MEM_TABLE valid but without the rings */
	VVFE_VUH_TRUNCATE_RUNNING, /**< guest RAM truncated to 0 under a running device */
	VVFE_VUH_TRUNCATE_TX_HDR,  /**< guest RAM cut after the rings; a tx header past the end */
	VVFE_VUH_COUNT
};

/** Where the device cases find the host side of their stream. */
struct vvfe_vuh_opts {
	const char *uds_path; /**< the backend's hybrid vsock path */
	uint32_t port;        /**< vsock port; the case listens on <uds_path>_<port> */
};

/** What the backend did about one case. */
struct vvfe_vuh_result {
	bool closed;     /**< it closed the connection(s) (flood_close: served the next) */
	int close_ms;    /**< slowest close (or start of the next front-end), -1 if none */
	bool host_eof;   /**< device cases: the stream's host end closed */
	int host_eof_ms; /**< when, -1 if not */
	int other_ms;    /**< missing_payload: another front-end's GET_FEATURES reply, ms */
	uint32_t sent;   /**< reply_flood: messages sent before the backend stopped reading */
	char note[160];
};

/** Name of a case ("mem_short", ...), or NULL. */
const char *vvfe_vuhostile_name(enum vvfe_vuhostile c);
/** Case by name. @return the case, or -EINVAL. */
int vvfe_vuhostile_from_name(const char *name);

/**
 * Run one case against the backend at opts->socket_path, each misbehaving
 * connection waited on for up to wait_ms. Cases with a running stream
 * (remap_*, truncate_*) listen on <ho->uds_path>_<ho->port>.
 * @return 0 (observations in res), -errno if the case could not be set up.
 */
int vvfe_vuhostile_run(enum vvfe_vuhostile c, const struct vvfe_opts *opts,
		       const struct vvfe_vuh_opts *ho, int wait_ms, struct vvfe_vuh_result *res);

/* ------------------------------------------------------------------------ */
/* Verifiable data pattern. Every stream carries a deterministic byte
 * sequence derived from a seed; the receiver checks each byte at its stream
 * offset. The sequence has a long prime period so that dropped, duplicated
 * or reordered packets and data from another stream are detected. */

/** Period of the pattern in bytes (a prime, so no packet size divides it). */
#define VVFE_PATTERN_PERIOD 1048573u
/** Any run of this many pattern bytes is contiguous in the table (>= the period). */
#define VVFE_PATTERN_SLACK (1u << 20)

/** A pattern instance. */
struct vvfe_pattern {
	uint32_t start; /**< offset in the shared table for stream byte 0 */
};

/** Initialise p from a seed (distinct seeds give distinct streams). */
void vvfe_pattern_init(struct vvfe_pattern *p, uint64_t seed);
/**
 * The stream's bytes from offset pos, straight from the shared read-only
 * table: at least VVFE_PATTERN_SLACK of them (*contig says how many) are
 * contiguous. Writers send from it and readers compare against it without
 * generating anything.
 */
const uint8_t *vvfe_pattern_ptr(const struct vvfe_pattern *p, uint64_t pos, size_t *contig);
/** Write len bytes of the stream starting at stream offset pos. */
void vvfe_pattern_fill(const struct vvfe_pattern *p, uint64_t pos, void *buf, size_t len);
/**
 * Check len bytes found at stream offset pos.
 * @return -1 if all match, else the index in buf of the first wrong byte.
 */
ssize_t vvfe_pattern_check(const struct vvfe_pattern *p, uint64_t pos, const void *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* Latency samples. */

/** A growable array of samples in nanoseconds. */
struct vvfe_lat {
	uint64_t *v;
	size_t n, cap;
};

/** Append a sample. @return 0 or -ENOMEM. */
int vvfe_lat_add(struct vvfe_lat *l, uint64_t ns);
/** Percentile q in [0,100] (nearest rank; sorts in place). @return ns, 0 if empty. */
uint64_t vvfe_lat_pct(struct vvfe_lat *l, double q);
void vvfe_lat_free(struct vvfe_lat *l);

/* ------------------------------------------------------------------------ */
/* Virtqueue layout, driver side. Exposed for unit tests and hostile cases. */

/** Byte offsets of a split ring's parts for a ring of size n, and its total size. */
struct vvfe_vring_layout {
	size_t desc, avail, used, total;
};
/** Compute the layout (desc 16-aligned, avail 2, used 4096 like legacy QEMU). */
void vvfe_vring_layout(uint16_t n, struct vvfe_vring_layout *l);
/**
 * The same for a packed ring: desc is the descriptor ring, avail the driver
 * event area, used the device event area (the addresses vhost-user's
 * SET_VRING_ADDR carries for them). Never larger than the split layout.
 */
void vvfe_vring_layout_packed(uint16_t n, struct vvfe_vring_layout *l);

/**
 * The event index test of virtio 1.3 2.7.7.2: after moving an index from
 * old to new_idx, notify iff event_idx lies in [old, new_idx), modulo 2^16.
 */
static inline bool vvfe_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

#endif
