/* SPDX-License-Identifier: BSD-3-Clause */
/* One VM's vsock device: lifecycle, attach/detach of the rings, the poll round. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "vsock_priv.h"

RTE_LOG_REGISTER(vv_logtype_vsock, vv.vsock, INFO);
RTE_LOG_REGISTER(vv_logtype_vsock_data, vv.vsock.data, NOTICE);

static const char *const drop_names[VV_DROP_MAX] = {
	[VV_DROP_DESC_INDEX] = "desc_index",
	[VV_DROP_DESC_CHAIN] = "desc_chain",
	[VV_DROP_DESC_ADDR] = "desc_addr",
	[VV_DROP_DESC_DIR] = "desc_dir",
	[VV_DROP_DESC_FLAGS] = "desc_flags",
	[VV_DROP_RING_BROKEN] = "ring_broken",
	[VV_DROP_SHORT_HDR] = "short_hdr",
	[VV_DROP_BAD_SRC_CID] = "bad_src_cid",
	[VV_DROP_BAD_LEN] = "bad_len",
	[VV_DROP_BAD_TYPE] = "bad_type",
	[VV_DROP_BAD_OP] = "bad_op",
	[VV_DROP_NO_CONN] = "no_conn",
	[VV_DROP_BAD_STATE] = "bad_state",
	[VV_DROP_CREDIT] = "credit_violation",
	[VV_DROP_NO_ROUTE] = "no_route",
	[VV_DROP_CONN_LIMIT] = "conn_limit",
	[VV_DROP_RX_BUF_SHORT] = "rx_buf_short",
	[VV_DROP_RX_BUF_IOV] = "rx_buf_iov",
	[VV_DROP_MSG_SIZE] = "msg_size",
};

const char *
vv_vsock_drop_name(enum vv_vsock_drop d)
{
	return (unsigned int) d < VV_DROP_MAX ? drop_names[d] : "?";
}

enum vv_vsock_drop
vsock_virtq_drop(enum vv_virtq_err e)
{
	switch (e) {
	case VV_VIRTQ_BAD_INDEX: return VV_DROP_DESC_INDEX;
	case VV_VIRTQ_BAD_CHAIN: return VV_DROP_DESC_CHAIN;
	case VV_VIRTQ_BAD_ADDR: return VV_DROP_DESC_ADDR;
	case VV_VIRTQ_BAD_DIR: return VV_DROP_DESC_DIR;
	case VV_VIRTQ_BAD_FLAGS: return VV_DROP_DESC_FLAGS;
	default: return VV_DROP_RING_BROKEN;
	}
}

/* Is fd a listening socket of this type? */
static bool
is_listener(int fd, int type)
{
	int t = 0, acc = 0;
	socklen_t len = sizeof(t);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &len) != 0 || t != type)
		return false;
	len = sizeof(acc);
	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc == 1;
}

/* Add a listener to the epoll set. Level-triggered: accept is bounded per
 * round, the rest waits. */
static int
listener_add(struct vv_vsock *vs, int fd, struct io_tag *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(vs->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

struct vv_vsock *
vv_vsock_create(const struct vv_vsock_params *p)
{
	struct vv_vsock *vs;
	unsigned int i;
	int r;

	if (p->uds_path == NULL || strlen(p->uds_path) >= sizeof(vs->uds_path) ||
	    p->buf_alloc == 0 ||
	    (p->seq_listen_fd != -1 && !is_listener(p->seq_listen_fd, SOCK_SEQPACKET))) {
		errno = EINVAL;
		return NULL;
	}
	vs = calloc(1, sizeof(*vs));
	if (vs == NULL)
		return NULL;
	vs->listener_tag.kind = IO_LISTENER;
	vs->seq_listener_tag.kind = IO_LISTENER_SEQ;
	vs->kick_tag[0].kind = vs->kick_tag[1].kind = IO_KICK;
	vs->kick_fd[0] = vs->kick_fd[1] = -1;
	vs->guest_cid = p->guest_cid;
	snprintf(vs->uds_path, sizeof(vs->uds_path), "%s", p->uds_path);
	vs->buf_alloc = p->buf_alloc;
	vs->max_conns = p->max_conns ? p->max_conns : VSOCK_MAX_CONNS_DEFAULT;
	vs->max_pending = p->max_pending ? p->max_pending : VSOCK_MAX_PENDING_DEFAULT;
	vs->listen_fd = -1;
	vs->seq_listen_fd = -1;
	vs->next_host_port = VV_VSOCK_HOST_PORT_BASE;
	vs->route = p->route;
	vs->port = p->port;
	for (i = 0; i < CONN_HASH_SIZE; i++) {
		LIST_INIT(&vs->hash[i]);
		LIST_INIT(&vs->port_hash[i]);
	}
	TAILQ_INIT(&vs->all);
	TAILQ_INIT(&vs->ctl);
	TAILQ_INIT(&vs->rx);
	TAILQ_INIT(&vs->lines);
	for (i = 0; i < SIB_HASH_SIZE; i++)
		LIST_INIT(&vs->sib_hash[i]);
	vs->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (vs->epfd < 0) {
		int err = errno;

		free(vs);
		errno = err;
		return NULL;
	}
	r = p->listen_fd >= 0 ? listener_add(vs, p->listen_fd, &vs->listener_tag) : 0;
	if (r == 0 && p->seq_listen_fd >= 0)
		r = listener_add(vs, p->seq_listen_fd, &vs->seq_listener_tag);
	if (r != 0) {
		close(vs->epfd);
		free(vs);
		errno = -r;
		return NULL;
	}
	vs->listen_fd = p->listen_fd;
	vs->seq_listen_fd = p->seq_listen_fd;
	return vs;
}

static void
free_all_conns(struct vv_vsock *vs)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&vs->all)) != NULL)
		conn_free(vs, c);
}

void
vv_vsock_free(struct vv_vsock *vs)
{
	if (vs == NULL)
		return;
	free_all_conns(vs);
	sibling_forget_all(vs);
	if (vs->listen_fd >= 0)
		close(vs->listen_fd);
	if (vs->seq_listen_fd >= 0)
		close(vs->seq_listen_fd);
	close(vs->epfd);
	free(vs);
}

int
vv_vsock_epoll_fd(const struct vv_vsock *vs)
{
	return vs->epfd;
}

struct vv_route_port *
vv_vsock_route_port(const struct vv_vsock *vs)
{
	return vs->port;
}

bool
vv_vsock_attached(const struct vv_vsock *vs)
{
	return vs->attached;
}

/*
 * The guest's kicks wake the lcore when it sleeps: each kick eventfd sits
 * in our epoll set (level-triggered; a kick is read when it is reported).
 * While we poll, the guest is told not to kick (vv_virtq_flush).
 */
static int
kick_watch(struct vv_vsock *vs, unsigned int q, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &vs->kick_tag[q] };

	if (vs->kick_fd[q] >= 0) {
		epoll_ctl(vs->epfd, EPOLL_CTL_DEL, vs->kick_fd[q], NULL);
		vs->kick_fd[q] = -1;
	}
	if (fd < 0)
		return 0;
	if (epoll_ctl(vs->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	vs->kick_fd[q] = fd;
	return 0;
}

static void
kick_drain(struct vv_vsock *vs, const struct io_tag *t)
{
	unsigned int q = t == &vs->kick_tag[1];
	eventfd_t v;

	if (vs->kick_fd[q] >= 0)
		(void) eventfd_read(vs->kick_fd[q], &v);
}

int
vv_vsock_attach(struct vv_vsock *vs, uint64_t features, const struct vv_mem *mem,
		const struct vv_virtq *rxq, const struct vv_virtq *txq)
{
	if (vs->attached)
		return -EBUSY;
	vs->seqpacket = (features >> VIRTIO_VSOCK_F_SEQPACKET) & 1;
	vs->mem = *mem;
	vs->rxq = *rxq;
	vs->txq = *txq;
	/* Without its kick fds in our set the lcore never sleeps (see
	 * vv_vsock_sleep_prepare): a failure here costs CPU, not data. */
	if (kick_watch(vs, 0, rxq->kickfd) < 0 || kick_watch(vs, 1, txq->kickfd) < 0)
		VSOCK_LOG(WARNING, "cid %" PRIu64 ": cannot watch the kick eventfds: %s",
			  vs->guest_cid, strerror(errno));
	vs->q_enabled[0] = vs->q_enabled[1] = true;
	vs->attached = true;
	vs->paused = false;
	sibling_attach(vs, features);
	VSOCK_LOG(INFO, "cid %" PRIu64 ": guest driver up (rx %u, tx %u entries%s)", vs->guest_cid,
		  rxq->size, txq->size, vs->seqpacket ? ", seqpacket" : "");
	return 0;
}

/* Back to polling: the guest stops kicking (only rings that were asked to,
 * so a wake-up writes nothing to the rings it did not touch). */
static void
kicks_off(struct vv_virtq *vq)
{
	if (vq->kicks_wanted)
		(void) vv_virtq_want_kicks(vq, false);
}

/* Stop touching guest memory. Lent buffers come home and are returned to
 * the guest before the used indices are published and copied out. A VM
 * paused for a remap is no longer attached but still has its connections:
 * stopping it for good frees them. */
static void
stop(struct vv_vsock *vs, struct vv_virtq *rxq, struct vv_virtq *txq, bool keep_conns)
{
	if (!vs->attached && (keep_conns || !vs->paused))
		return;
	if (vs->attached) {
		sibling_detach(vs);
		kicks_off(&vs->rxq);
		kicks_off(&vs->txq);
		if (vv_virtq_flush(&vs->rxq) < 0)
			vs->stats.notify_failed++;
		if (vv_virtq_flush(&vs->txq) < 0)
			vs->stats.notify_failed++;
		tx_call_now(vs);
		/* rte_vhost closes the kick fds once we return. */
		kick_watch(vs, 0, -1);
		kick_watch(vs, 1, -1);
		vs->attached = false;
	}
	vs->paused = keep_conns;
	if (!keep_conns) {
		/* Host clients still to send a CONNECT line have no guest to
		 * reach any more: counted as those that came with none. */
		vs->stats.connect_no_guest += vs->n_lines;
		free_all_conns(vs);
		sibling_forget_all(vs);
		vs->rst_head = vs->rst_tail = 0;
	}
	if (rxq != NULL)
		*rxq = vs->rxq;
	if (txq != NULL)
		*txq = vs->txq;
	memset(&vs->mem, 0, sizeof(vs->mem));
}

void
vv_vsock_detach(struct vv_vsock *vs, struct vv_virtq *rxq, struct vv_virtq *txq)
{
	bool was = vs->attached || vs->paused;

	stop(vs, rxq, txq, false);
	if (was)
		VSOCK_LOG(INFO, "cid %" PRIu64 ": guest driver gone, host sockets closed",
			  vs->guest_cid);
}

void
vv_vsock_pause(struct vv_vsock *vs, struct vv_virtq *rxq, struct vv_virtq *txq)
{
	stop(vs, rxq, txq, true);
}

void
vv_vsock_enable_queue(struct vv_vsock *vs, unsigned int qid, bool enable)
{
	if (qid < 2)
		vs->q_enabled[qid] = enable;
}

unsigned int
vv_vsock_quiesce(struct vv_vsock *vs)
{
	struct conn *c, *next;

	vs->quiesced = true;
	if (vs->listen_fd >= 0) {
		close(vs->listen_fd); /* also leaves the epoll set */
		vs->listen_fd = -1;
	}
	if (vs->seq_listen_fd >= 0) {
		close(vs->seq_listen_fd);
		vs->seq_listen_fd = -1;
	}
	for (c = TAILQ_FIRST(&vs->all); c != NULL; c = next) {
		next = TAILQ_NEXT(c, all_link);
		if (c->state != CONN_DOOMED)
			conn_reset(vs, c);
	}
	sibling_quiesce(vs);
	return vv_vsock_resets_pending(vs);
}

unsigned int
vv_vsock_resets_pending(const struct vv_vsock *vs)
{
	/* Without a guest driver nothing can be delivered: nothing to wait for. */
	if (!vs->attached)
		return 0;
	return vs->n_conns + vs->n_sibs + (vs->rst_head - vs->rst_tail);
}

/* The guest's rx (0) or tx (1) ring. */
static struct vv_virtq *
ring_of(struct vv_vsock *vs, unsigned int qid)
{
	return qid == 0 ? &vs->rxq : &vs->txq;
}

int
vv_vsock_set_callfd(struct vv_vsock *vs, unsigned int qid, int fd)
{
	if (qid > 1)
		return -EINVAL;
	ring_of(vs, qid)->callfd = fd;
	if (fd >= 0 && vs->attached && eventfd_write(fd, 1) != 0)
		vs->stats.notify_failed++;
	return 0;
}

int
vv_vsock_set_kickfd(struct vv_vsock *vs, unsigned int qid, int fd)
{
	if (qid > 1)
		return -EINVAL;
	ring_of(vs, qid)->kickfd = fd;
	return vs->attached ? kick_watch(vs, qid, fd) : 0;
}

/* May the guest's ring q wake us by a kick (it has a kick fd in our set)?
 * Then ask for one and look once more; otherwise sleeping is not safe. */
static bool
ring_wait(struct vv_vsock *vs, unsigned int q)
{
	struct vv_virtq *vq = ring_of(vs, q);

	if (!vs->q_enabled[q] || vq->broken)
		return false;
	if (vs->kick_fd[q] < 0)
		return true;
	return vv_virtq_want_kicks(vq, true);
}

/* A packet to a sibling waits for its buffers: may its lcore's next loan
 * wake us? The sibling is looked up again (no endpoint is kept). */
static bool
sib_wait(struct vv_vsock *vs)
{
	struct vv_route_port *dst = vv_route_lookup(vs->route, vs->sib_dst_cid);

	if (dst == NULL || vv_route_port_gen(dst) != vs->sib_dst_gen)
		return true; /* gone: the next round drops the packet */
	return vv_route_port_can_take(dst);
}

bool
vv_vsock_sleep_prepare(struct vv_vsock *vs, uint64_t now, uint64_t *deadline)
{
	bool work = false, rx_wanted;

	if (host_timers_armed(vs) && vs->next_timer_ns < *deadline)
		*deadline = vs->next_timer_ns;
	if (!vs->attached)
		return false;
	/* Asleep we would owe it for as long as we sleep. */
	if (vs->txq.call_pending)
		tx_call_now(vs);
	/* tx: the guest's packets, and its credit for our streams. */
	work |= ring_wait(vs, 1);
	/* rx: only when something waits for the guest's buffers. */
	rx_wanted = vs->rst_head != vs->rst_tail || !TAILQ_EMPTY(&vs->ctl) ||
		    !TAILQ_EMPTY(&vs->rx) ||
		    (vs->port != NULL && vv_route_lend_wanted(vs->port, vs->rxq.size) > 0);
	if (rx_wanted)
		work |= ring_wait(vs, 0);
	if (vs->port != NULL) {
		/* Siblings ring our lcore (vv_route_port_set_doorbell) after
		 * they filled our buffers, lent theirs or went down. */
		work |= vv_route_port_pending(vs->port) ||
			vv_route_down_epoch(vs->route) != vs->down_epoch_seen;
		if (vs->sib_pending)
			work |= sib_wait(vs);
	}
	(void) now;
	return work;
}

void
vv_vsock_wake(struct vv_vsock *vs)
{
	if (!vs->attached)
		return;
	kicks_off(&vs->rxq);
	kicks_off(&vs->txq);
}

unsigned int
vv_vsock_poll(struct vv_vsock *vs, uint64_t now, bool host_events)
{
	struct epoll_event ev[EVENTS_MAX];
	unsigned int work = 0;
	bool accept = false, accept_seq = false;
	int i, n = 0;

	vs->round++;
	if (host_events)
		n = epoll_wait(vs->epfd, ev, EVENTS_MAX, 0);
	for (i = 0; i < n; i++) {
		struct io_tag *t = ev[i].data.ptr;

		if (t->kind == IO_LISTENER)
			accept = true;
		else if (t->kind == IO_LISTENER_SEQ)
			accept_seq = true;
		else if (t->kind == IO_KICK)
			kick_drain(vs, t);
		else
			host_event(vs, (struct conn *) t, ev[i].events, now);
	}
	/* After the batch: accepting may evict a waiting client, whose
	 * event could still be in ev[] (host_evict_line frees it). */
	if (accept)
		host_accept(vs, vs->listen_fd, VIRTIO_VSOCK_TYPE_STREAM, now);
	if (accept_seq)
		host_accept(vs, vs->seq_listen_fd, VIRTIO_VSOCK_TYPE_SEQPACKET, now);
	if (n > 0)
		work += (unsigned int) n;
	if (vs->route != NULL && vs->attached)
		sibling_reap(vs);
	work += guest_tx_poll(vs, now);
	work += guest_rx_poll(vs, now);
	if (now >= vs->next_timer_ns) {
		host_timers(vs, now);
		vs->next_timer_ns = now + TIMER_PERIOD_NS;
	}
	return work;
}

const struct vv_vsock_stats *
vv_vsock_stats(const struct vv_vsock *vs)
{
	return &vs->stats;
}

unsigned int
vv_vsock_conn_foreach(const struct vv_vsock *vs,
		      void (*cb)(const struct vv_vsock_conn_info *ci, void *arg), void *arg)
{
	const struct conn *c;
	unsigned int n = 0;

	TAILQ_FOREACH (c, &vs->all, all_link) {
		struct vv_vsock_conn_info ci = {
			.guest_port = c->guest_port,
			.host_port = c->host_port,
			.state = conn_state_name(c->state),
			.host_initiated = c->host_initiated,
			.seqpacket = c->type == VIRTIO_VSOCK_TYPE_SEQPACKET,
			.buf_alloc = c->buf_alloc,
			.bytes_from_guest = c->bytes_in,
			.bytes_to_guest = c->bytes_out,
			.peer_buf_alloc = c->peer_buf_alloc,
			.peer_credit = credit_peer_free(c),
			.buffered = c->buf_len,
		};

		cb(&ci, arg);
		n++;
	}
	return n;
}
