/* SPDX-License-Identifier: BSD-3-Clause */
/* The host side of each stream: Unix sockets, all non-blocking, one epoll set per VM. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <vv_uds.h>

#include "vsock_priv.h"

/* Edge-triggered: conn->io remembers readiness until a syscall says EAGAIN,
 * so an idle connection costs nothing per poll round. out: also EPOLLOUT,
 * for a connect in progress (host_epoll_out says why not otherwise). */
int
host_epoll_add(struct vv_vsock *vs, struct conn *c, bool out)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (out ? EPOLLOUT : 0),
		.data.ptr = c,
	};

	if (epoll_ctl(vs->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return -errno;
	c->ep_out = out;
	return 0;
}

/*
 * EPOLLOUT only while a write waits for room (or a connect completes).
 * Otherwise every skb the host app consumes from a stream we feed would
 * raise an EPOLLOUT edge: a wake-up through both epoll levels on the app's
 * CPU and an epoll_wait on ours, per packet, for nothing. Adding the flag
 * back re-checks readiness, so an edge between EAGAIN and here is not lost.
 */
void
host_epoll_out(struct vv_vsock *vs, struct conn *c, bool on)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (on ? EPOLLOUT : 0),
		.data.ptr = c,
	};

	if (c->ep_out == on || c->fd < 0)
		return;
	if (epoll_ctl(vs->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->ep_out = on;
	else if (on)
		c->io |= IO_WRITABLE; /* cannot wait for it: retry the flush each event */
}

static void host_read_line(struct vv_vsock *vs, struct conn *c, uint64_t now);

/* max_pending clients wait for their line and another comes: close the
 * oldest. A client that sends its line at once never waits long enough
 * to be the oldest, so a flood of silent or slow ones only pushes out
 * each other; each of them still goes after VV_VSOCK_TIMEOUT_NS at most. */
static void
host_evict_line(struct vv_vsock *vs)
{
	struct conn *old = TAILQ_FIRST(&vs->lines);

	if (old == NULL)
		return;
	vs->stats.connect_lines_evicted++;
	conn_free(vs, old);
}

/* Host apps connecting to uds_path (type STREAM) or to uds_path.seqpacket. */
void
host_accept(struct vv_vsock *vs, int listen_fd, uint16_t type, uint64_t now)
{
	int i;

	for (i = 0; i < ACCEPT_BUDGET; i++) {
		struct conn *c;
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			/* Out of descriptors, the pending connection stays in the
			 * backlog and epoll reports it every round: say so once
			 * in a while, not every round. */
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED &&
			    vs->accept_errors++ % 10000 == 0)
				VSOCK_LOG(ERR,
					  "cid %" PRIu64 ": accept on %s: %s (%" PRIu64 " times)",
					  vs->guest_cid, vs->uds_path, strerror(errno),
					  vs->accept_errors);
			return;
		}
		/* No guest driver yet, or one without SEQPACKET: refuse at
		 * once rather than leave the host app waiting for a VM that may
		 * never boot or answer. */
		if (!vs->attached || !type_allowed(vs, type)) {
			vs->stats.connect_no_guest++;
			close(fd);
			continue;
		}
		if (vs->n_lines >= vs->max_pending)
			host_evict_line(vs);
		c = conn_new(vs, CONN_LINE, fd);
		if (c == NULL) {
			vs->stats.drops[VV_DROP_CONN_LIMIT]++;
			close(fd);
			continue;
		}
		if (type == VIRTIO_VSOCK_TYPE_SEQPACKET && seq_conn_init(vs, c) < 0) {
			conn_free(vs, c);
			continue;
		}
		c->deadline_ns = now + VV_VSOCK_TIMEOUT_NS;
		if (host_epoll_add(vs, c, false) < 0) {
			conn_free(vs, c);
			continue;
		}
		/* A client writes its line right after connect: read it now,
		 * so it is not among the evictable ones when the next
		 * accepts come (epoll would report it a round later). */
		host_read_line(vs, c, now);
	}
}

/* A host app sent something else than a CONNECT line (on uds_path, or
 * on uds_path.seqpacket: suffix): close it. Anyone allowed on the socket
 * can send garbage as fast as we accept, so the first few are logged, then
 * one in 1000. */
void
host_bad_line(struct vv_vsock *vs, struct conn *c, const char *suffix)
{
	if (vs->stats.bad_connect_lines++ < 10 || vs->stats.bad_connect_lines % 1000 == 0)
		VSOCK_LOG(INFO,
			  "cid %" PRIu64 ": bad CONNECT line on %s%s, closing it (%" PRIu64
			  " so far)",
			  vs->guest_cid, vs->uds_path, suffix, vs->stats.bad_connect_lines);
	conn_free(vs, c);
}

/* Read "CONNECT <port>\n" without taking a byte past the newline: whatever
 * the host app wrote after it is stream data for the guest. */
static void
host_read_line(struct vv_vsock *vs, struct conn *c, uint64_t now)
{
	char line[VV_UDS_LINE_MAX + 1];
	uint32_t port;
	ssize_t n;
	int len;

	if (c->seq != NULL) {
		seq_read_line(vs, c, now);
		return;
	}
	n = recv(c->fd, line, VV_UDS_LINE_MAX, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		c->io &= ~IO_READABLE;
		return;
	}
	if (n <= 0) {
		conn_free(vs, c);
		return;
	}
	len = vv_uds_parse_connect(line, (size_t) n, &port);
	if (len == 0) {
		c->io &= ~IO_READABLE;
		return;
	}
	if (len < 0 || recv(c->fd, line, (size_t) len, 0) != len) {
		host_bad_line(vs, c, "");
		return;
	}
	host_line_done(vs, c, port, now);
}

/* A host app asked for guest port `port`: ask the guest. */
void
host_line_done(struct vv_vsock *vs, struct conn *c, uint32_t port, uint64_t now)
{
	c->guest_port = port;
	conn_line_done(vs, c);
	if (conn_alloc_host_port(vs, c) < 0) {
		conn_free(vs, c);
		return;
	}
	c->host_initiated = true;
	conn_hash_add(vs, c);
	c->state = CONN_REQUESTING;
	c->deadline_ns = now + VV_VSOCK_TIMEOUT_NS;
	/* Data behind the line waits in the socket until the guest accepts. */
	c->io &= ~IO_READABLE;
	conn_ctl(vs, c, CTL_REQUEST);
}

static void
host_connected(struct vv_vsock *vs, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		vs->stats.host_conn_refused++;
		conn_reset(vs, c);
		return;
	}
	c->state = CONN_ESTABLISHED;
	c->deadline_ns = 0;
	conn_ctl(vs, c, CTL_RESPONSE);
}

void
host_event(struct vv_vsock *vs, struct conn *c, uint32_t events, uint64_t now)
{
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		c->io |= IO_READABLE;
	if (events & EPOLLOUT)
		c->io |= IO_WRITABLE;
	if (events & (EPOLLHUP | EPOLLERR))
		c->io |= IO_HUP;
	if (events & EPOLLRDHUP)
		c->io |= IO_RDHUP;

	switch (c->state) {
	case CONN_LINE:
		if (c->io & IO_READABLE)
			host_read_line(vs, c, now);
		return;
	case CONN_HOST_CONNECTING:
		/* A connect that returned EAGAIN is retried by the timer; only
		 * an EINPROGRESS one completes through EPOLLOUT. */
		if (!c->connect_again && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			host_connected(vs, c);
		return;
	case CONN_REQUESTING:
		/* The app gave up before the guest answered. */
		if ((c->io & IO_HUP) && c->fd >= 0)
			conn_reset(vs, c);
		return;
	case CONN_ESTABLISHED:
	case CONN_CLOSING: break;
	case CONN_DOOMED: return;
	}

	if ((c->io & IO_WRITABLE) && c->buf_len > 0 && host_flush(vs, c) < 0) {
		conn_reset(vs, c);
		return;
	}
	if (conn_has_data(c) && !(c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_RCV) &&
	    !(c->local_shut & VIRTIO_VSOCK_SHUTDOWN_SEND))
		conn_rx_ready(vs, c);
	host_try_finish(vs, c, now);
}

/* Write what the host socket refused earlier. Bytes leave the buffer only
 * when the socket took them, and only then do they count as forwarded; the
 * guest hears of them as soon as its credit runs low, not only once the
 * buffer is empty. */
int
host_flush(struct vv_vsock *vs, struct conn *c)
{
	if (c->seq != NULL)
		return seq_flush(vs, c); /* whole messages only */
	while (c->buf_len > 0) {
		struct iovec iov[2];
		uint32_t first = c->buf_cap - c->buf_head;
		int n_iov = 1;
		ssize_t n;

		if (first > c->buf_len)
			first = c->buf_len;
		iov[0].iov_base = c->buf + c->buf_head;
		iov[0].iov_len = first;
		if (first < c->buf_len) {
			iov[1].iov_base = c->buf;
			iov[1].iov_len = c->buf_len - first;
			n_iov = 2;
		}
		n = writev(c->fd, iov, n_iov);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			c->io &= ~IO_WRITABLE;
			break;
		}
		conn_buf_take(vs, c, (uint32_t) n);
		c->fwd_cnt += (uint32_t) n;
		c->room_round = vs->round - 1; /* the socket's room changed */
	}
	if (c->buf_len == 0)
		conn_buf_drop(vs, c);
	conn_credit_check(vs, c);
	return 0;
}

/* Half-closes and the end of a stream. The guest's SHUTDOWN(SEND) becomes
 * shutdown(SHUT_WR) once its last byte reached the host app; a stream shut
 * both ways ends with our RST, which a Linux guest waits for. */
void
host_try_finish(struct vv_vsock *vs, struct conn *c, uint64_t now)
{
	if (c->state != CONN_ESTABLISHED && c->state != CONN_CLOSING)
		return;
	if (c->buf_len > 0) {
		if (c->peer_shut == VSOCK_SHUTDOWN_BOTH && c->state != CONN_CLOSING) {
			c->state = CONN_CLOSING;
			c->deadline_ns = now + VV_VSOCK_TIMEOUT_NS;
		}
		return;
	}
	/* The guest closed: the host socket's close tells the app EOF too
	 * (what it has not read stays readable), no shutdown first. */
	if (c->peer_shut == VSOCK_SHUTDOWN_BOTH) {
		conn_reset(vs, c);
		return;
	}
	if ((c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) && !c->host_wr_shut && c->fd >= 0) {
		shutdown(c->fd, SHUT_WR);
		c->host_wr_shut = true;
	}
	/* Both sides are done sending, nothing can flow any more. The guest's
	 * close() still sends SHUTDOWN(both) and waits for our RST: wait for it
	 * (or its own RST) up to the shutdown timeout instead of resetting
	 * under it, which would make its SHUTDOWN a packet for no stream. */
	if ((c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) &&
	    (c->local_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) && c->state != CONN_CLOSING) {
		c->state = CONN_CLOSING;
		c->deadline_ns = now + VV_VSOCK_TIMEOUT_NS;
		return;
	}
	/* The host app closed and the guest was told: give it the shutdown
	 * timeout to answer with RST, then reset it ourselves. */
	if (c->local_shut == VSOCK_SHUTDOWN_BOTH && c->state != CONN_CLOSING) {
		c->state = CONN_CLOSING;
		c->deadline_ns = now + VV_VSOCK_TIMEOUT_NS;
	}
	/* The guest will not read: a host app that went away cannot be seen
	 * through reads, so end the stream on the hang-up itself. */
	if ((c->io & IO_HUP) && (c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_RCV) &&
	    !(c->local_shut & VIRTIO_VSOCK_SHUTDOWN_SEND)) {
		c->shut_to_send = VSOCK_SHUTDOWN_BOTH;
		c->local_shut = VSOCK_SHUTDOWN_BOTH;
		conn_ctl(vs, c, CTL_SHUTDOWN);
		c->state = CONN_CLOSING;
		c->deadline_ns = now + VV_VSOCK_TIMEOUT_NS;
	}
}

static void
host_connect_retry(struct vv_vsock *vs, struct conn *c)
{
	int r = vv_uds_connect_retry(vs->uds_path, c->host_port, c->fd);

	if (r == -EAGAIN)
		return;
	c->connect_again = false;
	if (r == 0) {
		c->state = CONN_ESTABLISHED;
		c->deadline_ns = 0;
		conn_ctl(vs, c, CTL_RESPONSE);
	} else if (r != -EINPROGRESS) {
		c->fd = -1; /* closed by vv_uds_connect_retry */
		vs->stats.host_conn_refused++;
		conn_reset(vs, c);
	}
}

void
host_timers(struct vv_vsock *vs, uint64_t now)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&vs->all); c != NULL; c = next) {
		next = TAILQ_NEXT(c, all_link);
		if (c->state == CONN_HOST_CONNECTING && c->connect_again && now < c->deadline_ns) {
			host_connect_retry(vs, c);
			continue;
		}
		if (c->deadline_ns == 0 || now < c->deadline_ns)
			continue;
		switch (c->state) {
		case CONN_LINE:
			vs->stats.bad_connect_lines++;
			conn_free(vs, c);
			break;
		case CONN_HOST_CONNECTING:
			vs->stats.host_conn_refused++;
			conn_reset(vs, c);
			break;
		case CONN_REQUESTING:
		case CONN_CLOSING:
		case CONN_ESTABLISHED:
			VSOCK_LOG(DEBUG, "cid %" PRIu64 ": %u->%u %s timed out, RST", vs->guest_cid,
				  c->guest_port, c->host_port, conn_state_name(c->state));
			conn_reset(vs, c);
			break;
		case CONN_DOOMED: break;
		}
	}
}

/* Does any connection wait for a timer (a deadline, or a connect to retry)? */
bool
host_timers_armed(const struct vv_vsock *vs)
{
	const struct conn *c;

	TAILQ_FOREACH (c, &vs->all, all_link)
		if (c->deadline_ns != 0 || c->connect_again)
			return true;
	return false;
}
