/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to the vvfe library: the split ring, the device and stream
 * structures shared by vvfe_ring.c, vvfe_vhost.c, vvfe_vsock.c and
 * vvfe_hostile.c. The unit test includes it to reach the ring helpers.
 */
#ifndef VVFE_PRIV_H
#define VVFE_PRIV_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>

#include "vvfe.h"

/* Ring layouts, split (virtio 1.3, 2.7) and packed (2.8), and their flags
 * are the kernel's uapi header, as the backend's; the device and this
 * driver share no code. All fields little-endian. */
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

/* vhost-user's own feature bits (not in the kernel's headers). */
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_CONFIG 9

/*
 * Driver view of one ring, split or packed. The device-visible memory is
 * only written through desc/avail and read through used; the free list and
 * chain lengths live in private shadow arrays, so a backend scribbling on
 * the shared ring cannot corrupt our bookkeeping (Linux keeps desc_extra for
 * the same reason).
 *
 * Packed: callers build chains exactly as for split, in desc[] indexed by
 * the ids vvfe_vring_alloc gives, which is then private memory; publish
 * copies the chain (in allocation order, NEXT and WRITE and INDIRECT as the
 * caller set them, next ignored) into the ring with the head id as buffer
 * id, the first descriptor's flags last.
 */
struct vvfe_vring {
	uint16_t size;
	bool packed;
	struct vring_desc *desc;
	uint16_t *avail_flags, *avail_idx, *avail_ring, *used_event;
	uint16_t *used_flags, *used_idx, *avail_event;
	struct vring_used_elem *used_ring;
	bool event_idx;
	uint16_t shadow_avail; /* next avail idx we will publish */
	uint16_t kicked_avail; /* avail idx at the last kick decision */
	uint16_t last_used;    /* next used entry to consume */
	uint16_t free_head, num_free;
	uint16_t *next;      /* shadow links: free list and chains */
	uint16_t *chain_len; /* per head: descriptors in flight, 0 = free */
	/* Packed: positions are position | wrap counter << 15. */
	struct vring_packed_desc *ring;
	struct vring_packed_desc_event *driver_ev, *device_ev;
	uint16_t p_avail;  /* where the next available descriptor goes */
	uint16_t p_used;   /* where the next used descriptor is read */
	uint16_t p_kicked; /* p_avail at the last kick decision */
};

/* Attach to ring memory at base (laid out by vvfe_vring_layout); zeroes it. */
int vvfe_vring_init(struct vvfe_vring *vr, void *base, uint16_t size, bool event_idx);
/* The same for a packed ring (vvfe_vring_layout_packed), any size 1..32768;
 * both wrap counters start at 1, as after a reset (vring base 0x8000). */
int vvfe_vring_init_packed(struct vvfe_vring *vr, void *base, uint16_t size, bool event_idx);
void vvfe_vring_fini(struct vvfe_vring *vr);
/*
 * Take n descriptors from the free list as one chain; ids[] receives them in
 * chain order (ids[0] is the head). The caller fills desc[ids[i]] and must
 * set NEXT/next itself (hostile cases lie there on purpose).
 * Returns 0 or -ENOSPC.
 */
int vvfe_vring_alloc(struct vvfe_vring *vr, uint16_t n, uint16_t *ids);
/* Put a chain head in the avail ring (store-release of avail->idx). */
void vvfe_vring_publish(struct vvfe_vring *vr, uint16_t head);
/* After publishing: does the device want a kick? (EVENT_IDX or NO_NOTIFY) */
bool vvfe_vring_kick_prepare(struct vvfe_vring *vr);
/*
 * Pop one used element. Returns 1 with *id and *len set, 0 if none, -EPROTO if the
 * device returned an id that is out of range or not in flight.
 */
int vvfe_vring_get_used(struct vvfe_vring *vr, uint32_t *id, uint32_t *len);
/* Ask for a call when the next used entry appears. Returns true if some are already there. */
bool vvfe_vring_enable_cb(struct vvfe_vring *vr);
/* Ask for no calls (spin mode). */
void vvfe_vring_disable_cb(struct vvfe_vring *vr);
/*
 * Calls off while the ring's work runs, as Linux's virtqueue_disable_cb:
 * split NO_INTERRUPT, or with EVENT_IDX used_event = 0 (the kernel's own
 * placeholder value); packed DISABLE in the driver event area.
 */
void vvfe_vring_disable_cb_linux(struct vvfe_vring *vr);
/* Used entries waiting. */
bool vvfe_vring_has_used(const struct vvfe_vring *vr);

struct vvfe_listener;
struct vvfe_seq;

/* Private stream. */
struct vvfe_stream {
	struct vvfe_dev *dev;
	struct vvfe_stream *hnext;        /* hash chain */
	struct vvfe_stream *prev, *next;  /* all streams of the device */
	struct vvfe_stream *aq_next;      /* accept queue */
	enum vvfe_state state;
	int err;
	bool hashed, user_closed, accepted;
	uint16_t type;         /* VIRTIO_VSOCK_TYPE_STREAM or _SEQPACKET */
	struct vvfe_seq *seq;  /* SEQPACKET message state (vvfe_seqpacket.c), else NULL */
	uint64_t pcid; /* the peer's CID: the host, or a sibling guest */
	uint32_t lport, pport;
	/* Our receive side. */
	uint8_t *rbuf;
	uint32_t rcap, rmask;  /* power-of-2 capacity >= buf_alloc */
	uint32_t rhead, rtail; /* free-running; rtail - rhead = bytes held */
	uint32_t buf_alloc;    /* advertised */
	uint32_t fwd_cnt;      /* bytes consumed by the application */
	uint32_t last_fwd_cnt; /* fwd_cnt last told to the peer */
	/* Our send side. */
	uint32_t tx_cnt;
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	bool peer_credit_known;
	unsigned int peer_shutdown, local_shutdown;
	uint64_t deadline_ns;    /* connect / close timer, 0 = none */
	uint64_t stalled_since;  /* first -EAGAIN for lack of credit, 0 = not */
	uint64_t last_credit_req;
	bool rst_rx;             /* the peer ended it with RST */
	uint64_t closed_ns;      /* when it became CLOSED */
	void (*sink)(struct vvfe_stream *s, const void *data, size_t len, void *arg);
	void *sink_arg;
	void *user;
};

struct vvfe_listener {
	struct vvfe_listener *next;
	uint32_t port;
	uint16_t type; /* of the connections it takes */
	struct vvfe_stream *aq_head, *aq_tail;
};

/* A control packet waiting for tx ring space. */
struct vvfe_ctrl {
	struct virtio_vsock_hdr h;
};

/* The hostile-case observer: packets to capture_lport are recorded. */
struct vvfe_capture {
	bool on;
	uint32_t lport;
	int n;
	uint16_t first_op;
	uint32_t ops_seen;  /* bit per op (ops >= 31 share bit 31) */
	bool rst_seen;      /* an RST came for the flow (not necessarily first) */
	uint64_t start_ns;  /* when the case's packets went out */
	uint64_t rst_ns;    /* when the first RST came */
	uint32_t head; /* crafted tx chain to watch in the used ring, or UINT32_MAX */
	bool used_returned;
	uint32_t used_len;
};

#define VVFE_HASH_BITS 12

struct vvfe_dev {
	struct vvfe_opts o;
	char *socket_path;
	int sock;
	int memfd;
	uint8_t *mem;
	size_t mem_size;
	bool running, broken;
	bool trace; /* VVFE_TRACE set: log packets to stderr */
	uint64_t features, proto;
	bool reply_ack;
	uint64_t cid;
	int kick_fd[2], call_fd[2];
	struct vvfe_vring rx, tx;
	/* Memory map (offsets in guest memory == guest physical addresses). */
	size_t rx_ring_off, tx_ring_off;
	size_t rx_hdr_off, rx_buf_off; /* per-descriptor rx areas */
	size_t tx_slot_off, tx_slot_size;
	uint16_t tx_nslots;
	uint16_t *tx_slot_free;   /* stack of free slots */
	uint16_t tx_slot_nfree;
	uint16_t *tx_head_slot;   /* head descriptor -> slot, UINT16_MAX = none */
	size_t scratch_off, scratch_size;
	size_t ind_off; /* indirect tables: rx then tx, one per head id */
	size_t user_next; /* vvfe_dev_mem_alloc: next free offset, up to mem_size */
	int vring_base[2];
	/* Streams. */
	struct vvfe_stream *hash[1u << VVFE_HASH_BITS];
	struct vvfe_stream *all;
	unsigned int nstreams;
	struct vvfe_listener *listeners;
	uint32_t next_port;
	struct vvfe_ctrl *ctrlq;
	unsigned int ctrl_head, ctrl_n, ctrl_cap;
	bool tx_kick_pending, rx_kick_pending;
	/* linux_irq: calls on for the ring (0 rx, 1 tx), i.e. it waits for
	 * its interrupt and is not looked at until then. */
	bool cb_on[2];
	bool rx_hold; /* hostile RX_STALL: do not refill rx */
	uint64_t next_timer_scan;
	unsigned int timer_calls; /* vvfe_process calls since the last clock read */
	struct vvfe_capture cap;
	struct vvfe_stats st;
};

/* vhost-user front-end requests (QEMU docs/interop/vhost-user.rst): those
 * vvfe sends as QEMU does, and those the hostile cases send anyway. */
enum {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_POSTCOPY_ADVISE = 28,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
};

#define VU_VERSION 0x1u
#define VU_REPLY 0x4u
#define VU_NEED_REPLY 0x8u

/* vvfe_vhost.c */
/* One vhost-user message on a socket: header, payload, fds (at most 8).
 * 0, or -errno (-EPIPE on a short write). */
int vvfe_vu_sendmsg(int sock, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		    const int *fds, int nfds);
/* Read exactly len bytes within timeout_ms per wait: 0, -ETIMEDOUT,
 * -ECONNRESET (peer closed), -errno. */
int vvfe_vu_read(int fd, void *buf, size_t len, int timeout_ms);
int vvfe_vhost_start(struct vvfe_dev *d);
void vvfe_vhost_close(struct vvfe_dev *d);
int vvfe_vhost_get_bases(struct vvfe_dev *d);
void vvfe_kick(struct vvfe_dev *d, int q);

/* vvfe_util.c */
/* Index of name in names[0..n), or -EINVAL. */
int vvfe_name_index(const char *const *names, int n, const char *name);

/* vvfe_vsock.c */
uint64_t vvfe_now_ns(void);
void vvfe_proto_error(struct vvfe_dev *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int vvfe_rx_fill(struct vvfe_dev *d);
void vvfe_flush_kicks(struct vvfe_dev *d);
void vvfe_reset_all_streams(struct vvfe_dev *d, int err);
int vvfe_send_ctrl(struct vvfe_dev *d, const struct virtio_vsock_hdr *h);
void vvfe_fill_hdr(struct vvfe_stream *s, struct virtio_vsock_hdr *h, uint16_t op, uint32_t flags, uint32_t len);
int vvfe_process(struct vvfe_dev *d);
uint32_t vvfe_alloc_port(struct vvfe_dev *d, uint64_t pcid, uint32_t pport);
int vvfe_tx_raw(struct vvfe_dev *d, uint16_t n, const struct vring_desc *descs, const int *next_rel, uint16_t *head);
int vvfe_tx_slot_get(struct vvfe_dev *d, uint16_t head);
uint8_t *vvfe_tx_slot_ptr(struct vvfe_dev *d, uint16_t head, uint64_t *gpa);
ssize_t vvfe_send_flags(struct vvfe_stream *s, const void *buf, size_t len, uint32_t last_flags);
/* The peer's buf_alloc capped at ours, as a Linux sender counts credit. */
uint32_t vvfe_tx_buf_alloc(const struct vvfe_stream *s);

/* vvfe_seqpacket.c */
bool vvfe_type_ok(const struct vvfe_dev *d, uint16_t type);
int vvfe_stream_set_type(struct vvfe_stream *s, uint16_t type);
void vvfe_seq_free(struct vvfe_stream *s);
void vvfe_seq_rx(struct vvfe_stream *s, const struct virtio_vsock_hdr *h);

#endif
