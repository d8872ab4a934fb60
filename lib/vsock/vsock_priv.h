/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to lib/vsock. The connection model:
 *
 *   guest REQUEST ──> HOST_CONNECTING ──(unix connect done)──> ESTABLISHED
 *   host "CONNECT p" ─> LINE ──(line parsed)──> REQUESTING ──(guest RESPONSE)──> ESTABLISHED
 *   ESTABLISHED ──(both sides shut)──> CLOSING ──(guest RST / timeout)──> freed
 *
 * A connection that must answer RST is "doomed": it leaves the lookup tables
 * and closes its host socket at once, and lives on only in the control list
 * until its RST is written to the guest.
 */
#ifndef VSOCK_PRIV_H
#define VSOCK_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <inttypes.h>
#include <string.h>
#include <sys/queue.h>
#include <linux/virtio_vsock.h>

#include <rte_byteorder.h>

#include <rte_log.h>

#include "vv_vsock.h"

extern int vv_logtype_vsock;
extern int vv_logtype_vsock_data;
#define VSOCK_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vv_logtype_vsock, "VSOCK: " fmt "\n", ##__VA_ARGS__)
#define VSOCK_DLOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vv_logtype_vsock_data, "VSOCK_DATA: " fmt "\n", ##__VA_ARGS__)

/* The wire format (virtio spec 1.3, 5.10.6) is the kernel's uapi header,
 * <linux/virtio_vsock.h>. Only what it lacks is ours: */
#define VSOCK_SHUTDOWN_BOTH (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)
_Static_assert(sizeof(struct virtio_vsock_hdr) == VV_VSOCK_HDR_SIZE,
	       "virtio_vsock_hdr is 44 bytes");

/* Little-endian on the wire, host order in our hands. The conversion is its
 * own inverse, so one function serves both ways (a no-op on x86 and arm64). */
static inline uint64_t
le_field(uint64_t v, size_t width)
{
	return width == 8   ? rte_le_to_cpu_64(v)
	       : width == 4 ? rte_le_to_cpu_32((uint32_t) v)
			    : rte_le_to_cpu_16((uint16_t) v);
}

static inline void
hdr_le_swap(struct virtio_vsock_hdr *h)
{
#define SWAP(f) h->f = (__typeof__(h->f)) le_field(h->f, sizeof(h->f));
	/* clang-format off */
	SWAP(src_cid) SWAP(dst_cid) SWAP(src_port) SWAP(dst_port) SWAP(len) SWAP(type) SWAP(op)
	SWAP(flags) SWAP(buf_alloc) SWAP(fwd_cnt)
	/* clang-format on */
#undef SWAP
}

/* Decode a header copied out of guest memory. */
static inline void
hdr_decode(const uint8_t *raw, struct virtio_vsock_hdr *h)
{
	memcpy(h, raw, sizeof(*h));
	hdr_le_swap(h);
}

enum conn_state {
	CONN_LINE,	      /* host app connected, waiting for "CONNECT <port>\n" */
	CONN_REQUESTING,      /* REQUEST sent to the guest, waiting for RESPONSE */
	CONN_HOST_CONNECTING, /* guest REQUEST, unix connect in progress */
	CONN_ESTABLISHED,
	CONN_CLOSING, /* both directions shut, draining, then RST */
	CONN_DOOMED,  /* off the tables, only an RST left to send */
};

/* Control packets a connection owes the guest (bit set in conn->ctl). */
enum {
	CTL_REQUEST = 1u << 0,
	CTL_RESPONSE = 1u << 1,
	CTL_CREDIT_UPDATE = 1u << 2,
	CTL_CREDIT_REQUEST = 1u << 3,
	CTL_SHUTDOWN = 1u << 4,
	CTL_RST = 1u << 5,
};

/* What epoll told us about the host socket, kept until acted on (edge-triggered). */
enum {
	IO_READABLE = 1u << 0,
	IO_WRITABLE = 1u << 1,
	IO_HUP = 1u << 2,   /* peer closed both directions */
	IO_RDHUP = 1u << 3, /* peer shut its sending side: EOF follows the data */
};

enum io_kind { IO_LISTENER, IO_LISTENER_SEQ, IO_CONN, IO_KICK };

struct io_tag {
	enum io_kind kind;
};

/*
 * What a SEQPACKET connection keeps beyond a stream's (vsock_seqpacket.c).
 * Guest -> host, conn->buf holds whole messages that wait for room in the
 * host socket, oldest first, then the start of a message still arriving.
 */
struct seq_state {
	uint32_t *msg_len; /* lengths of the whole messages in conn->buf: a ring */
	uint32_t msg_cap;  /* entries of msg_len, a power of two (0: none yet) */
	uint32_t msg_head;
	uint32_t msg_n;
	uint32_t part; /* bytes of the message still arriving (no EOM yet) */
	/* host -> guest: one host message, sent as credit allows */
	uint8_t *out;	  /* conn->buf_alloc bytes, allocated on first need */
	uint32_t out_len; /* its length, 0 = none */
	uint32_t out_off; /* bytes of it sent to the guest */
};

struct conn {
	struct io_tag tag;	     /* must stay first: epoll data.ptr */
	LIST_ENTRY(conn) hash_link;  /* by (guest_port, host_port) */
	LIST_ENTRY(conn) port_link;  /* by host_port, host-initiated only */
	TAILQ_ENTRY(conn) all_link;  /* every connection, for timers and detach */
	TAILQ_ENTRY(conn) ctl_link;  /* owes the guest a control packet */
	TAILQ_ENTRY(conn) rx_link;   /* host socket has data for the guest */
	TAILQ_ENTRY(conn) line_link; /* CONN_LINE: oldest first, for eviction */
	bool in_hash, in_port, in_ctl, in_rx, in_line;

	enum conn_state state;
	bool host_initiated;
	uint16_t type;	       /* VIRTIO_VSOCK_TYPE_STREAM or _SEQPACKET */
	struct seq_state *seq; /* SEQPACKET only, else NULL */
	uint32_t guest_port;
	uint32_t host_port;
	int fd;
	uint32_t io;	       /* IO_* flags */
	uint32_t ctl;	       /* CTL_* owed */
	uint32_t shut_to_send; /* flags of the SHUTDOWN owed */
	uint32_t peer_shut;    /* SHUTDOWN flags received from the guest */
	uint32_t local_shut;   /* SHUTDOWN flags sent to the guest */
	bool host_wr_shut;     /* shutdown(SHUT_WR) done on the host socket */
	bool connect_again;    /* unix connect said EAGAIN: retry on the timer */
	bool ep_out;	       /* EPOLLOUT is in the socket's epoll mask */
	uint32_t rx_target;    /* bytes the next host read offers at least (fill_data) */
	uint64_t deadline_ns;  /* 0 = none */

	/* guest -> host. We are the receiver. fwd_cnt counts bytes the host
	 * socket took. buf_alloc is what we hold for a host app that does not
	 * read: the VM's tx_buffer_size, for SEQPACKET at most what one message
	 * on the host socket can be (seq_conn_init). A stream's window adds
	 * the room its socket still has (conn_credit_window). The guest may
	 * send until rx_cnt reaches credit_end, the fwd_cnt + buf_alloc of our
	 * last header, which never moves back (or buf_alloc past fwd_cnt, if
	 * that is more: credit_violated). Bytes the socket did not take
	 * wait in buf, so a slow host app costs the guest credit, never data:
	 * a stream's buf is a ring of buf_cap bytes that exists only while it
	 * holds bytes; a SEQPACKET connection's, one of buf_alloc bytes. */
	uint32_t buf_alloc;
	uint32_t rx_cnt;       /* bytes received from the guest */
	uint32_t fwd_cnt;      /* bytes written to the host socket */
	uint32_t fwd_cnt_sent; /* fwd_cnt last told to the guest */
	uint32_t credit_end;   /* rx_cnt the guest may reach, as last told */
	uint32_t credit_win;   /* the window credit_end was last set from, 0 none yet */
	bool sndbuf_grown;     /* sock_grow made its socket's send buffer larger */
	uint32_t sndbuf;       /* the host socket's SO_SNDBUF, 0 = not read yet */
	uint32_t sock_room;    /* payload the socket surely still takes ... */
	uint32_t room_round;   /* ... as measured in this poll round */
	uint8_t *buf;
	uint32_t buf_cap;  /* size of buf (streams) */
	uint32_t buf_head; /* offset of the first pending byte */
	uint32_t buf_len;  /* pending bytes */
	/* RW payload taken from the tx ring this round, written by one writev
	 * (tx_batch): first and last of its entries, TX_PEND_NONE if none. */
	uint16_t pend_first, pend_last;
	uint32_t pend_bytes;

	/* host -> guest. We are the sender, limited by the guest's credit. */
	uint32_t tx_cnt; /* bytes sent to the guest */
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;
	bool stalled; /* waiting for guest credit */

	uint64_t bytes_in, bytes_out; /* totals for operators */
};

/* A stream with a sibling VM, remembered only to reset it if that VM goes
 * away; its packets pass through unchanged (credit is end to end). */
struct sib {
	LIST_ENTRY(sib) link;
	uint64_t peer_cid;
	uint32_t local_port;
	uint32_t peer_port;
	uint32_t peer_gen;
	uint16_t type; /* an RST of another type would not reach the socket */
	bool stale;    /* we were paused: the peer has reset it */
};
LIST_HEAD(sib_list, sib);
#define SIB_HASH_SIZE 1024u

LIST_HEAD(conn_list, conn);
TAILQ_HEAD(conn_tailq, conn);

#define CONN_HASH_SIZE 4096u /* power of two */
#define RST_RING_SIZE  256u  /* power of two */
/* Every connection holds a host fd: the cap keeps one VM from exhausting
 * the process's descriptors at the expense of the others. */
#define VSOCK_MAX_CONNS_DEFAULT 2048u
/* Host clients that have not sent their CONNECT line yet; a newer one
 * pushes the oldest out, so a flood of silent clients cannot keep a real
 * one out (it sends its line at once) nor fill the connection table. */
#define VSOCK_MAX_PENDING_DEFAULT 128u
#define TX_BUDGET		  256u /* guest tx packets per VM per poll round */
#define TX_BUDGET_MAX		  TX_BUDGET
/*
 * A round forwards at most about this much of one stream before the guest
 * hears of the credit it frees: a sleeping guest needs tens of microseconds
 * to wake and send more, so credit that waits for a whole window to be
 * written leaves the host socket idle meanwhile (see doc/performance.md).
 */
#define TX_ROUND_BYTES (64u * 1024)
/* SO_SNDBUF asked for a host socket whose app keeps up (sock_grow). */
#define HOST_SNDBUF_GROW (1 << 20)
/* The interrupt for tx completions waits (tx_call_maybe) until
 * 1/TX_CALL_SHARE of the ring waits for it, or this long at most. */
#define TX_CALL_SHARE	 16u
#define TX_CALL_DELAY_NS (200ull * 1000)
#define RX_BUDGET	 256u /* guest rx buffers filled per VM per poll round */
#define EVENTS_MAX	 64
#define ACCEPT_BUDGET	 16
#define TIMER_PERIOD_NS	 (20ull * 1000 * 1000)

/* One host read fills up to RX_BATCH_MAX rx buffers: Linux guests post 4 KiB
 * buffers, so 64 cover 256 KiB, the usual largest credit (buf_alloc). */
#define RX_BATCH_MAX 64u
/* A batch covers at least this much, whatever the last read found. */
#define RX_TARGET_MIN (32u * 1024)
/* readv takes at most IOV_MAX (1024) iovecs. */
#define RX_BATCH_IOV_MAX 1024u
/* Header iovecs of a batch: a header of a normal buffer is one iovec, but a
 * hostile guest may cut it into 44 descriptors. */
#define RX_BATCH_HDR_IOV_MAX 256u

/* One rx buffer of a batch: where its header goes, how much payload it offers. */
struct rx_slot {
	uint32_t head;	  /* vv_chain.head: the token vv_virtq_push takes */
	uint16_t hdr_iov; /* first of its header iovecs in rx_batch.hdr */
	uint16_t n_hdr_iov;
	uint32_t room; /* payload bytes offered to the read */
};

/* Scratch of guest_rx_poll for one batch. The buffers' payload iovecs are
 * kept in ring order in one array for readv; each array has room for one
 * more whole chain past its cap, so a chain is sliced first and checked
 * against the cap after. */
struct rx_batch {
	struct rx_slot slot[RX_BATCH_MAX];
	struct iovec hdr[RX_BATCH_HDR_IOV_MAX + VV_VSOCK_HDR_SIZE];
	struct iovec data[RX_BATCH_IOV_MAX + VV_CHAIN_IOV_MAX];
};

/* RW payload popped in one poll round and not yet written: every stream's
 * payload goes to its host socket with one writev per round (a syscall and
 * an skb per guest packet would cost more than the copy), before any other
 * packet of that connection is handled. The chains go back to the guest
 * once their bytes are written or copied. */
#define TX_PEND_NONE	  UINT16_MAX
#define TX_BATCH_IOV_MAX  2048u
#define TX_WRITEV_IOV_MAX 1024u /* IOV_MAX */
struct tx_pend {
	struct conn *c; /* NULL once written */
	uint32_t len;
	uint32_t head; /* vv_chain.head: the token vv_virtq_push takes */
	uint16_t next; /* the connection's next entry, or TX_PEND_NONE */
	uint16_t iov_first, n_iov;
};
struct tx_batch {
	struct tx_pend p[TX_BUDGET_MAX];
	uint16_t n_pend;
	uint16_t n_iov;
	uint32_t round_bytes; /* the most any connection has queued this round */
	struct iovec iov[TX_BATCH_IOV_MAX];
	struct iovec out[TX_WRITEV_IOV_MAX];
};

struct vv_vsock {
	struct io_tag listener_tag;
	struct io_tag seq_listener_tag;
	struct io_tag kick_tag[2]; /* a guest kick on the rx (0) or tx (1) ring */
	int kick_fd[2];		   /* the kick eventfds in our epoll set, -1 if none */
	uint64_t guest_cid;
	char uds_path[108];
	uint32_t buf_alloc;
	uint32_t max_conns;
	uint32_t max_pending; /* connections in CONN_LINE */
	int listen_fd;
	int seq_listen_fd; /* host-initiated SEQPACKET connections, or -1 */
	int epfd;

	bool attached;
	bool seqpacket; /* the driver negotiated VIRTIO_VSOCK_F_SEQPACKET */
	bool quiesced;	/* being removed or shut down: new streams get RST */
	bool paused;	/* vv_vsock_pause: not attached, connections kept */
	bool q_enabled[2];
	struct vv_mem mem;
	struct vv_virtq rxq; /* queue 0: device -> guest */
	struct vv_virtq txq; /* queue 1: guest -> device */

	struct conn_list hash[CONN_HASH_SIZE];
	struct conn_list port_hash[CONN_HASH_SIZE];
	struct conn_tailq all;
	struct conn_tailq ctl;
	struct conn_tailq rx;
	struct conn_tailq lines; /* CONN_LINE connections, oldest first */
	uint32_t n_conns;
	uint32_t n_lines;
	uint32_t next_host_port;
	uint64_t next_timer_ns;
	uint64_t tx_call_due_ns; /* when an owed tx interrupt goes out anyway, 0 none */
	uint64_t accept_errors;
	uint32_t round; /* poll rounds, for values measured once per round */

	/* RSTs for packets that match no connection; a full ring pauses the
	 * tx queue (the guest's packets wait in its ring, nothing is lost). */
	struct virtio_vsock_hdr rst_ring[RST_RING_SIZE];
	uint32_t rst_head, rst_tail;

	/* VM-to-VM */
	struct vv_route *route;
	struct vv_route_port *port;
	struct sib_list sib_hash[SIB_HASH_SIZE];
	uint32_t n_sibs;
	uint32_t down_epoch_seen;
	/* A packet to a sibling that found no buffer: it stays taken from the
	 * tx ring and is finished before any later packet (FIFO order). The
	 * sibling is found again by CID each round (a reload may remove it:
	 * no endpoint is kept past a poll round), and must be the same boot. */
	bool sib_pending;
	uint64_t sib_dst_cid;
	uint32_t sib_dst_gen;
	uint32_t sib_done;
	uint32_t sib_len;
	uint8_t sib_raw[VV_VSOCK_HDR_SIZE];
	struct vv_chain sib_chain;

	struct vv_vsock_stats stats;
	struct vv_chain chain;	  /* scratch, too big for the stack */
	struct rx_batch rx_batch; /* scratch of guest_rx_poll, ~26 KiB */
	struct tx_batch tx_batch; /* scratch of guest_tx_poll, ~53 KiB */
};

/* --- credit: wrapping u32 counters, as in the virtio spec 5.10.6.3 --- */

/* Bytes the guest may still send us: up to credit_end, the limit our last
 * header gave it (0 once rx_cnt went past it: see credit_violated).
 * Differences of the wrapping counters are right across the 2^32 wrap. */
static inline uint32_t
credit_guest_may_send(const struct conn *c)
{
	int32_t left = (int32_t) (c->credit_end - c->rx_cnt);

	return left > 0 ? (uint32_t) left : 0;
}

/* Bytes we may send the guest. A guest that shrinks buf_alloc below what is
 * in flight gets 0, not a huge wrapped number. */
static inline uint32_t
credit_peer_free(const struct conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* Has c something for the guest: a readable host socket, or the rest of a
 * SEQPACKET message read earlier. */
static inline bool
conn_has_data(const struct conn *c)
{
	return (c->io & IO_READABLE) || (c->seq != NULL && c->seq->out_off < c->seq->out_len);
}

/* Would accepting len more bytes exceed what we advertised? A guest that
 * counts on bytes we forwarded but did not tell it about yet is let off
 * too, as long as no more than buf_alloc are in flight (the spec's rule,
 * read from our side). */
static inline bool
credit_violated(const struct conn *c, uint32_t len)
{
	uint32_t in_flight = c->rx_cnt - c->fwd_cnt;

	if (len <= credit_guest_may_send(c))
		return false;
	return in_flight >= c->buf_alloc || len > c->buf_alloc - in_flight;
}

/*
 * The end of the window to advertise now: fwd_cnt plus `window` bytes,
 * unless an earlier header already promised more (a promise is never taken
 * back: the guest may have sent on it, and a Linux 6.1 sender would compute
 * a wrapped credit if buf_alloc fell below its bytes in flight).
 */
static inline uint32_t
credit_new_end(const struct conn *c, uint32_t window)
{
	uint32_t end = c->fwd_cnt + window;

	return (int32_t) (end - c->credit_end) > 0 ? end : c->credit_end;
}

/*
 * Bytes the guest believes it may still send: what our last header allowed
 * (credit_end), but a Linux guest also caps its bytes in flight at its own
 * buf_alloc (min(peer_buf_alloc, buf_alloc) in virtio_transport_common.c
 * since 2026, 6.1.y stable included), so it stops at fwd_cnt_sent plus its
 * buf_alloc (c->peer_buf_alloc, from its headers) even when our window is
 * larger. An older guest that does not cap only hears from us earlier.
 */
static inline uint32_t
credit_guest_cap(const struct conn *c, uint32_t window)
{
	/* 0 says nothing (a guest that cannot receive): no cap known. */
	return c->peer_buf_alloc != 0 && c->peer_buf_alloc < window ? c->peer_buf_alloc : window;
}

static inline uint32_t
credit_guest_view(const struct conn *c)
{
	uint32_t told = c->credit_end - c->fwd_cnt_sent;
	uint32_t end = c->fwd_cnt_sent + credit_guest_cap(c, told);
	int32_t left = (int32_t) (end - c->rx_cnt);

	return left > 0 ? (uint32_t) left : 0;
}

/* Tell the guest about forwarded bytes once its view of its credit has
 * dropped under half the window it can use (ours, or its own buf_alloc if
 * that is less): earlier wastes packets (and interrupts), later risks a
 * stall, and stalls cost more than extra messages. Waiting for our window
 * alone would never come for a guest that caps at its buf_alloc: it
 * stops sending and waits for us. */
static inline bool
credit_update_due(const struct conn *c, uint32_t window)
{
	if (c->fwd_cnt == c->fwd_cnt_sent)
		return false;
	return credit_guest_view(c) < credit_guest_cap(c, window) / 2;
}

/* --- vsock.c --- */
enum vv_vsock_drop vsock_virtq_drop(enum vv_virtq_err e);

/* Is type one this VM's guest may use? */
static inline bool
type_allowed(const struct vv_vsock *vs, uint16_t type)
{
	return type == VIRTIO_VSOCK_TYPE_STREAM ||
	       (type == VIRTIO_VSOCK_TYPE_SEQPACKET && vs->seqpacket);
}

/* --- vsock_conn.c --- */
struct conn *conn_lookup(struct vv_vsock *vs, uint32_t guest_port, uint32_t host_port);
struct conn *conn_new(struct vv_vsock *vs, enum conn_state st, int fd);
void conn_hash_add(struct vv_vsock *vs, struct conn *c);
int conn_alloc_host_port(struct vv_vsock *vs, struct conn *c);
void conn_free(struct vv_vsock *vs, struct conn *c);
void conn_ctl(struct vv_vsock *vs, struct conn *c, uint32_t ctl);
void conn_rx_ready(struct vv_vsock *vs, struct conn *c);
void conn_rx_unready(struct vv_vsock *vs, struct conn *c);
uint32_t conn_credit_window(struct vv_vsock *vs, struct conn *c);
void conn_credit_check(struct vv_vsock *vs, struct conn *c);
void conn_buf_drop(struct vv_vsock *vs, struct conn *c);
int conn_buf_put_iov(struct vv_vsock *vs, struct conn *c, const struct iovec *iov,
		     unsigned int n_iov, size_t skip, uint32_t len);
void conn_line_done(struct vv_vsock *vs, struct conn *c);
void conn_buf_put(struct vv_vsock *vs, struct conn *c, uint32_t n);
void conn_buf_take(struct vv_vsock *vs, struct conn *c, uint32_t n);
void conn_reset(struct vv_vsock *vs, struct conn *c);
void conn_close_host(struct vv_vsock *vs, struct conn *c);
const char *conn_state_name(enum conn_state st);

/* --- vsock_host.c: the host socket side --- */
int host_epoll_add(struct vv_vsock *vs, struct conn *c, bool out);
void host_epoll_out(struct vv_vsock *vs, struct conn *c, bool on);
void host_event(struct vv_vsock *vs, struct conn *c, uint32_t events, uint64_t now);
void host_accept(struct vv_vsock *vs, int listen_fd, uint16_t type, uint64_t now);
void host_line_done(struct vv_vsock *vs, struct conn *c, uint32_t port, uint64_t now);
int host_flush(struct vv_vsock *vs, struct conn *c);
void host_try_finish(struct vv_vsock *vs, struct conn *c, uint64_t now);
void host_timers(struct vv_vsock *vs, uint64_t now);
bool host_timers_armed(const struct vv_vsock *vs);
void host_bad_line(struct vv_vsock *vs, struct conn *c, const char *suffix);

/* --- vsock_tx.c: packets from the guest --- */
void reply_rst(struct vv_vsock *vs, const struct virtio_vsock_hdr *h, enum vv_vsock_drop why);
int buf_append(struct vv_vsock *vs, struct conn *c, const struct vv_chain *ch, uint32_t off,
	       uint32_t len);
unsigned int guest_tx_poll(struct vv_vsock *vs, uint64_t now);
void tx_call_now(struct vv_vsock *vs);

/* --- vsock_sibling.c: packets to and from sibling VMs --- */
enum tx_verdict { TX_DONE, TX_HELD, TX_TAKEN };
enum tx_verdict sibling_send(struct vv_vsock *vs, const struct vv_chain *ch,
			     const struct virtio_vsock_hdr *h, const uint8_t *raw);
bool sibling_continue(struct vv_vsock *vs);
unsigned int sibling_rx(struct vv_vsock *vs);
void sibling_reap(struct vv_vsock *vs);
void sibling_attach(struct vv_vsock *vs, uint64_t features);
void sibling_detach(struct vv_vsock *vs);
void sibling_forget_all(struct vv_vsock *vs);
void sibling_quiesce(struct vv_vsock *vs);

/* --- vsock_rx.c: packets to the guest --- */
unsigned int guest_rx_poll(struct vv_vsock *vs, uint64_t now);
bool rst_ring_full(const struct vv_vsock *vs);
void rst_ring_put(struct vv_vsock *vs, const struct virtio_vsock_hdr *in);
void conn_hdr(struct vv_vsock *vs, struct conn *c, struct virtio_vsock_hdr *h, uint16_t op);
void put_hdr(struct vv_vsock *vs, const struct vv_chain *ch, const struct virtio_vsock_hdr *h);
void eof_hdr(struct vv_vsock *vs, struct conn *c, struct virtio_vsock_hdr *h);

/* --- vsock_seqpacket.c: what SEQPACKET connections do differently --- */
int seq_conn_init(struct vv_vsock *vs, struct conn *c);
void seq_conn_free(struct conn *c);
void seq_read_line(struct vv_vsock *vs, struct conn *c, uint64_t now);
int seq_rw_to_host(struct vv_vsock *vs, struct conn *c, const struct vv_chain *ch,
		   const struct virtio_vsock_hdr *h);
int seq_end_partial(struct vv_vsock *vs, struct conn *c);
int seq_flush(struct vv_vsock *vs, struct conn *c);
unsigned int seq_fill(struct vv_vsock *vs, struct conn *c, struct vv_chain *ch, uint64_t now);

#endif
