/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The virtio-vsock stream protocol of one VM, bridged to host Unix sockets.
 * Connections are of type STREAM, or SEQPACKET (message boundaries kept)
 * when the guest driver negotiated VIRTIO_VSOCK_F_SEQPACKET.
 *
 * A vv_vsock owns everything of one VM's datapath: its connection table,
 * its host sockets (one epoll set), and, while the guest driver runs, its
 * two virtqueues (rx = 0: device to guest, tx = 1: guest to device).
 *
 * Threading: every function except vv_vsock_create/free and the stats
 * reader runs on the one lcore that owns the VM. Nothing here locks.
 */
#ifndef VV_VSOCK_H
#define VV_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include <vv_route.h>
#include <vv_virtq.h>

#define VV_VSOCK_HOST_CID 2
#define VV_VSOCK_HDR_SIZE 44
/** Host ports of host-initiated streams are allocated from here upward. */
#define VV_VSOCK_HOST_PORT_BASE (1u << 30)
/** Connect (REQUEST without answer) and shutdown timeouts, as Firecracker. */
#define VV_VSOCK_TIMEOUT_NS (2ull * 1000 * 1000 * 1000)
/**
 * Largest SEQPACKET message, either way, whatever the buffer size: a Unix
 * socket sends a message from one kernel allocation, which must stay
 * reasonable. A connection's limit is also at most its buffer size
 * (tx_buffer_size) and what one send on its host socket can carry.
 */
#define VV_VSOCK_SEQ_MSG_MAX (1u << 20)

/** Why a packet or buffer was dropped (or answered with RST); one counter each. */
enum vv_vsock_drop {
	VV_DROP_DESC_INDEX,  /**< descriptor index out of range */
	VV_DROP_DESC_CHAIN,  /**< descriptor loop or over-long chain */
	VV_DROP_DESC_ADDR,   /**< descriptor outside guest memory */
	VV_DROP_DESC_DIR,    /**< descriptor with the wrong direction */
	VV_DROP_DESC_FLAGS,  /**< INDIRECT (not negotiated) */
	VV_DROP_RING_BROKEN, /**< avail index moved by more than the ring size */
	VV_DROP_SHORT_HDR,   /**< tx chain shorter than the 44-byte header */
	VV_DROP_BAD_SRC_CID, /**< src_cid is not the VM's CID (spoofing) */
	VV_DROP_BAD_LEN,     /**< hdr.len larger than the chain's payload */
	VV_DROP_BAD_TYPE, /**< unknown type, SEQPACKET not negotiated, or not the stream's type (RST) */
	VV_DROP_BAD_OP,	      /**< unknown op (RST) */
	VV_DROP_NO_CONN,      /**< packet for no known connection (RST) */
	VV_DROP_BAD_STATE,    /**< op not valid in the connection's state (RST) */
	VV_DROP_CREDIT,	      /**< guest sent more than our buf_alloc allows (RST) */
	VV_DROP_NO_ROUTE,     /**< dst_cid is neither the host nor a reachable VM (RST) */
	VV_DROP_CONN_LIMIT,   /**< too many connections (RST) */
	VV_DROP_RX_BUF_SHORT, /**< guest rx buffer too small for a header */
	VV_DROP_RX_BUF_IOV,   /**< rx buffer of too many descriptors to lend to siblings */
	VV_DROP_MSG_SIZE,     /**< host SEQPACKET message larger than the guest can take (RST) */
	VV_DROP_MAX,
};

/** Counters of one VM; written only by its lcore, read by anyone. */
struct vv_vsock_stats {
	uint64_t rx_pkts;  /**< packets taken from the guest's tx queue */
	uint64_t rx_bytes; /**< payload bytes from the guest */
	uint64_t tx_pkts;  /**< packets put in the guest's rx queue */
	uint64_t tx_bytes; /**< payload bytes to the guest */
	uint64_t rst_sent;
	uint64_t rst_rcvd;
	uint64_t credit_stalls; /**< times a host->guest stream waited for guest credit */
	uint64_t host_stalls;	/**< times a guest->host stream waited for a slow host app */
	uint64_t conns_opened;
	uint64_t conns_closed;
	uint64_t conns_open;	    /**< live connections now */
	uint64_t host_conn_refused; /**< guest REQUEST to a port with no host listener */
	uint64_t bad_connect_lines; /**< host CONNECT lines rejected or timed out */
	/** host clients closed before their CONNECT line because newer ones
	 *  came while max_pending were waiting */
	uint64_t connect_lines_evicted;
	/** host clients closed because no guest driver ran (or it went away
	 *  before their CONNECT line, or has no SEQPACKET for a .seqpacket one) */
	uint64_t connect_no_guest;
	uint64_t host_buffered_bytes;	/**< guest bytes waiting for host apps now */
	uint64_t host_buffer_mem_bytes; /**< memory of the per-connection buffers now */
	uint64_t vm_tx_pkts;		/**< packets sent to sibling VMs */
	uint64_t vm_tx_bytes;
	uint64_t vm_rx_pkts; /**< packets received from sibling VMs */
	uint64_t vm_rx_bytes;
	uint64_t vm_stalls;	 /**< times a packet to a sibling waited for its buffers */
	uint64_t vm_peer_resets; /**< streams reset because the sibling VM went away */
	uint64_t notify_failed;	 /**< guest interrupts the call eventfd refused (counter full) */
	uint64_t tx_calls;	 /**< tx completion interrupts sent (they wait for a batch) */
	uint64_t drops[VV_DROP_MAX];
};

/** What a vv_vsock needs to know about its VM. */
struct vv_vsock_params {
	uint64_t guest_cid;
	const char *uds_path; /**< host-side socket prefix (copied) */
	uint32_t buf_alloc;   /**< per-connection guest->host buffer (tx_buffer_size) */
	uint32_t max_conns;   /**< cap on live connections, 0 = default */
	uint32_t max_pending; /**< cap on host clients before their CONNECT line, 0 = default */
	int listen_fd;	      /**< listening socket on uds_path (ownership taken), -1 for none */
	/**
	 * Listening SOCK_SEQPACKET socket for host-initiated SEQPACKET
	 * connections (ownership taken on success), or -1 for none. Any other
	 * fd, such as a 0 an initializer left, fails vv_vsock_create (EINVAL).
	 */
	int seq_listen_fd;
	struct vv_route *route;	    /**< VM-to-VM table, or NULL: other CIDs get RST */
	struct vv_route_port *port; /**< this VM's endpoint in route */
};

struct vv_vsock;

/**
 * Create the protocol state of one VM. Control path.
 * @return the object, or NULL with errno set (ENOMEM, EINVAL for bad
 *   parameters, or epoll errors).
 */
struct vv_vsock *vv_vsock_create(const struct vv_vsock_params *p);

/** Close every host socket and the listener, free everything. Control path, VM detached. */
void vv_vsock_free(struct vv_vsock *vs);

/** The epoll fd of this VM's host sockets and kicks, to nest in an lcore's epoll set. */
int vv_vsock_epoll_fd(const struct vv_vsock *vs);

/** The VM's VM-to-VM endpoint (vv_vsock_params.port), or NULL. */
struct vv_route_port *vv_vsock_route_port(const struct vv_vsock *vs);

/**
 * Start moving data on the guest's rings. Owning lcore only.
 * The structures are copied; mem's regions must stay mapped until detach.
 * @param features the virtio features the driver negotiated: only
 *   VIRTIO_VSOCK_F_SEQPACKET matters here (SEQPACKET connections allowed).
 * @return 0, or -EBUSY if already attached.
 */
int vv_vsock_attach(struct vv_vsock *vs, uint64_t features, const struct vv_mem *mem,
		    const struct vv_virtq *rxq, const struct vv_virtq *txq);

/**
 * Stop touching guest memory: every connection is closed on the host side
 * (the guest is gone, so no RST can reach it). The rings' final indices are
 * copied out so the adapter can hand them back to the front-end. Also ends
 * a paused VM (vv_vsock_pause): its connections are closed the same way.
 * Owning lcore only. No-op when neither attached nor paused.
 */
void vv_vsock_detach(struct vv_vsock *vs, struct vv_virtq *rxq, struct vv_virtq *txq);

/**
 * Like vv_vsock_detach, but connections survive: used when the guest's
 * memory is remapped under a running device (vv_vsock_attach resumes).
 * Streams with sibling VMs are reset by the siblings (this VM went down).
 */
void vv_vsock_pause(struct vv_vsock *vs, struct vv_virtq *rxq, struct vv_virtq *txq);

/** Pause or resume one ring (SET_VRING_ENABLE). Owning lcore only. */
void vv_vsock_enable_queue(struct vv_vsock *vs, unsigned int qid, bool enable);

/**
 * Replace a ring's call eventfd (SET_VRING_CALL on a running device); -1
 * stops interrupts until the next call. A new fd gets one interrupt at once,
 * in case one was due while there was none. Owning lcore only.
 * @return 0, or -EINVAL for a bad qid.
 */
int vv_vsock_set_callfd(struct vv_vsock *vs, unsigned int qid, int fd);

/**
 * Replace a ring's kick eventfd (SET_VRING_KICK on a running device); -1
 * first, while the old fd is still open, so that it leaves the epoll set
 * before it is closed. Owning lcore only.
 * @return 0, -EINVAL for a bad qid, or -errno of epoll_ctl.
 */
int vv_vsock_set_kickfd(struct vv_vsock *vs, unsigned int qid, int fd);

/**
 * The owning lcore wants to sleep on vv_vsock_epoll_fd (host sockets and
 * the guest's kicks): ask the guest to kick on every ring we wait on, then
 * look once more at everything that does not raise an event by itself.
 * Call vv_vsock_wake() afterwards in any case. Called before the lcore
 * reports itself offline to the route's RCU (it may look up a sibling).
 * @param deadline in: the lcore's wake-up time so far; out: earlier if a
 *   timer of this VM is due before (connect, CONNECT line, shutdown).
 * @return true if there is work now: do not sleep.
 */
bool vv_vsock_sleep_prepare(struct vv_vsock *vs, uint64_t now_ns, uint64_t *deadline);

/** Back to polling after a sleep (or a sleep_prepare that found work): kicks off. */
void vv_vsock_wake(struct vv_vsock *vs);

/**
 * Shutting down, or the VM is being removed: stop accepting host
 * connections (the listener is closed) and end every stream, with an RST to
 * the guest where it knows the stream. Sibling VMs can no longer reach this
 * one (its route endpoint goes down: they reset their streams with it), and
 * its guest's streams with them are reset too. From now on every new stream
 * the guest opens is refused with RST. The RSTs go out in the following poll
 * rounds. Owning lcore only.
 * @return vv_vsock_resets_pending().
 */
unsigned int vv_vsock_quiesce(struct vv_vsock *vs);

/**
 * RSTs the guest is still owed (connections waiting for theirs, sibling
 * streams to reset, queued RSTs); 0 when no guest driver runs, as nothing
 * can reach it then. Owning lcore only.
 */
unsigned int vv_vsock_resets_pending(const struct vv_vsock *vs);

bool vv_vsock_attached(const struct vv_vsock *vs);

/**
 * One poll round: host socket events, guest tx ring, guest rx ring, timers.
 * @param now_ns monotonic time in nanoseconds.
 * @param host_events false if the caller knows this VM's epoll set has
 *   nothing ready (it nests vv_vsock_epoll_fd in its own): saves a syscall.
 * @return units of work done (packets, events); 0 means the round was idle.
 */
unsigned int vv_vsock_poll(struct vv_vsock *vs, uint64_t now_ns, bool host_events);

/** The VM's counters (a live pointer; fields are single-writer 64-bit values). */
const struct vv_vsock_stats *vv_vsock_stats(const struct vv_vsock *vs);

/** Name of a drop reason, for logs and telemetry. */
const char *vv_vsock_drop_name(enum vv_vsock_drop d);

/** One connection as shown to operators. */
struct vv_vsock_conn_info {
	uint32_t guest_port;
	uint32_t host_port;
	const char *state;
	bool host_initiated;
	bool seqpacket;	    /**< type SEQPACKET (else STREAM) */
	uint32_t buf_alloc; /**< our buffer, advertised; for SEQPACKET also the largest message */
	uint64_t bytes_from_guest;
	uint64_t bytes_to_guest;
	uint32_t peer_buf_alloc;
	uint32_t peer_credit; /**< bytes we may still send to the guest */
	uint32_t buffered;    /**< guest bytes waiting for the host app */
};

/**
 * Visit every connection. Owning lcore only (telemetry asks through the worker).
 * @return number of connections visited.
 */
unsigned int vv_vsock_conn_foreach(const struct vv_vsock *vs,
				   void (*cb)(const struct vv_vsock_conn_info *ci, void *arg),
				   void *arg);

#endif
