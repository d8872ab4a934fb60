/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SEQPACKET connections (VIRTIO_VSOCK_F_SEQPACKET): a stream, credit and
 * state machine included, that also keeps message boundaries. On the wire
 * the sender ends each message with VIRTIO_VSOCK_SEQ_EOM on its last RW
 * packet; on the host a message is one send or one receive on a
 * SOCK_SEQPACKET Unix socket. What differs from a stream lives here.
 *
 * Guest -> host. A message may arrive in many packets, spread over time,
 * and must reach the host socket in one sendmsg. Its bytes gather in the
 * connection's buffer until EOM (a packet that is a whole message, with
 * nothing waiting before it, goes straight from guest memory); whole
 * messages the socket has no room for wait there too, their lengths in a
 * FIFO. A Linux guest never sends a message larger than the buf_alloc we
 * advertise (its sendmsg says EMSGSIZE), and credit keeps the buffer big
 * enough for what it sends: so buf_alloc is made at most what one message
 * on the host socket may be, and a guest message never needs to be cut.
 *
 * Host -> guest. A recvmsg takes a whole message, or loses what does not
 * fit, so each message is read whole into a buffer and sent from there as
 * credit and rx buffers allow, EOM on its last packet. A Linux guest hands
 * a message to its reader only once all of it is queued within its
 * buf_alloc: a larger one could never be read, nor one larger than our
 * buffer be read whole, so such a message resets the connection.
 *
 * EOR (the sender's MSG_EOR) has no counterpart on a Unix socket: it is
 * not passed to host apps, and host messages reach the guest without it.
 * Sibling VMs get it unchanged. Zero-length messages are not carried
 * either way: their reader could not tell one from the end of the stream.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <rte_common.h>

#include <vv_uds.h>

#include "vsock_priv.h"

/* Linux refuses a message on a Unix datagram or seqpacket socket larger
 * than its send buffer less this (af_unix.c, unix_dgram_sendmsg). */
#define UNIX_SNDBUF_RESERVE 32u
/* Empty host messages skipped per read: a flood of them costs the other
 * connections one turn, not the poll round. */
#define EMPTY_MSG_BUDGET 16

/*
 * Make c a SEQPACKET connection; c->fd is its host socket. The send buffer
 * is asked for two messages of the largest size (Linux doubles the value
 * given, and without CAP_NET_ADMIN caps it at net.core.wmem_max); what it
 * got bounds the message size, and so our buf_alloc. SO_PASSCRED makes
 * every message, an empty one too, carry credentials: a recvmsg of 0 bytes
 * without them is the end of the stream.
 */
int
seq_conn_init(struct vv_vsock *vs, struct conn *c)
{
	uint32_t max = RTE_MIN(vs->buf_alloc, VV_VSOCK_SEQ_MSG_MAX);
	int want = (int) (max + UNIX_SNDBUF_RESERVE), got = 0, one = 1;
	socklen_t len = sizeof(got);

	c->type = VIRTIO_VSOCK_TYPE_SEQPACKET;
	c->seq = calloc(1, sizeof(*c->seq));
	if (c->seq == NULL)
		return -ENOMEM;
	if (setsockopt(c->fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) != 0)
		(void) setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
	if (getsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &got, &len) != 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0)
		return -errno;
	if (got > (int) UNIX_SNDBUF_RESERVE && (uint32_t) got - UNIX_SNDBUF_RESERVE < max)
		max = (uint32_t) got - UNIX_SNDBUF_RESERVE;
	c->buf_alloc = max;
	return 0;
}

void
seq_conn_free(struct conn *c)
{
	if (c->seq == NULL)
		return;
	free(c->seq->msg_len);
	free(c->seq->out);
	free(c->seq);
	c->seq = NULL;
}

/* --- the CONNECT line --- */

/* On <uds_path>.seqpacket the first message must be "CONNECT <port>\n",
 * all of it and nothing else. */
void
seq_read_line(struct vv_vsock *vs, struct conn *c, uint64_t now)
{
	char line[VV_UDS_LINE_MAX];
	uint32_t port;
	ssize_t n;

	n = recv(c->fd, line, sizeof(line), MSG_TRUNC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		c->io &= ~IO_READABLE;
		return;
	}
	if (n > 0 && (size_t) n <= sizeof(line) &&
	    vv_uds_parse_connect(line, (size_t) n, &port) == (int) n) {
		host_line_done(vs, c, port, now);
		return;
	}
	if (n != 0)
		host_bad_line(vs, c, VV_UDS_SEQPACKET_SUFFIX);
	else
		conn_free(vs, c);
}

/* --- guest -> host --- */

static int
msg_push(struct seq_state *s, uint32_t len)
{
	if (s->msg_n == s->msg_cap) {
		/* Every message waiting has a byte at least in a buffer of
		 * buf_alloc bytes: the FIFO never grows past that. */
		uint32_t cap = s->msg_cap ? 2 * s->msg_cap : 8, i;
		uint32_t *n = malloc(cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		for (i = 0; i < s->msg_n; i++)
			n[i] = s->msg_len[(s->msg_head + i) & (s->msg_cap - 1)];
		free(s->msg_len);
		s->msg_len = n;
		s->msg_cap = cap;
		s->msg_head = 0;
	}
	s->msg_len[(s->msg_head + s->msg_n++) & (s->msg_cap - 1)] = len;
	return 0;
}

/* One message, one sendmsg: it is taken whole or not at all. */
static int
send_msg(int fd, struct iovec *iov, unsigned int n_iov)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = n_iov };

	if (sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		return 0;
	return errno == EINTR ? -EAGAIN : -errno;
}

/* The host socket is full: wait for EPOLLOUT. A stall begins when nothing
 * was waiting for room yet. */
static void
wait_room(struct vv_vsock *vs, struct conn *c)
{
	c->io &= ~IO_WRITABLE;
	if (!c->ep_out)
		vs->stats.host_stalls++;
	host_epoll_out(vs, c, true);
}

/* Write the whole messages waiting in the buffer, oldest first, while the
 * socket takes them. Only then do their bytes count as forwarded. */
int
seq_flush(struct vv_vsock *vs, struct conn *c)
{
	struct seq_state *s = c->seq;

	while (s->msg_n > 0) {
		uint32_t len = s->msg_len[s->msg_head];
		uint32_t first = RTE_MIN(len, c->buf_alloc - c->buf_head);
		struct iovec iov[2] = {
			{ c->buf + c->buf_head, first },
			{ c->buf, len - first },
		};
		int r = send_msg(c->fd, iov, first < len ? 2 : 1);

		if (r == -EAGAIN) {
			wait_room(vs, c);
			break;
		}
		if (r < 0)
			return r;
		conn_buf_take(vs, c, len);
		c->fwd_cnt += len;
		s->msg_head = (s->msg_head + 1) & (s->msg_cap - 1);
		s->msg_n--;
	}
	if (s->msg_n == 0)
		host_epoll_out(vs, c, false);
	conn_credit_check(vs, c);
	return 0;
}

/* The message still arriving is complete: queue it, and send what waits
 * unless the socket just said it is full. */
static int
end_message(struct vv_vsock *vs, struct conn *c, bool try_send)
{
	struct seq_state *s = c->seq;

	if (s->part == 0)
		return 0; /* nothing to carry: an empty message is not one */
	if (msg_push(s, s->part) < 0)
		return -ENOMEM;
	s->part = 0;
	return try_send ? seq_flush(vs, c) : 0;
}

/*
 * An RW packet of h->len bytes (credit checked). EOM ends the message; EOR
 * means nothing without EOM, and nothing to a Unix socket anyway; other
 * flag bits are not defined for RW and are ignored, as Linux does.
 * Returns 0, or -errno when the connection must be reset.
 */
int
seq_rw_to_host(struct vv_vsock *vs, struct conn *c, const struct vv_chain *ch,
	       const struct virtio_vsock_hdr *h)
{
	bool eom = (h->flags & VIRTIO_VSOCK_SEQ_EOM) != 0, sent = false, full = false;
	uint32_t len = h->len;

	c->rx_cnt += len;
	c->bytes_in += len;
	vs->stats.rx_bytes += len;
	if (eom && len > 0 && c->buf_len == 0) {
		/* A whole message and nothing waits: from guest memory. */
		struct iovec iov[VV_CHAIN_IOV_MAX];
		unsigned int n_iov =
			vv_chain_slice(ch, VV_VSOCK_HDR_SIZE, len, iov, VV_CHAIN_IOV_MAX);
		int r = send_msg(c->fd, iov, n_iov);

		if (r == 0) {
			sent = true;
			c->fwd_cnt += len;
			host_epoll_out(vs, c, false);
		} else if (r == -EAGAIN) {
			full = true;
			wait_room(vs, c);
		} else {
			return r;
		}
	}
	if (!sent) {
		if (len > 0 && buf_append(vs, c, ch, VV_VSOCK_HDR_SIZE, len) < 0)
			return -ENOMEM;
		c->seq->part += len;
		if (eom) {
			int r = end_message(vs, c, !full);

			if (r < 0)
				return r;
		}
	}
	conn_credit_check(vs, c);
	return 0;
}

/* The guest shut its sending side: no EOM will come for what it sent of a
 * message, so that much is the message (Linux can leave one unfinished
 * when a signal interrupts a sendmsg). */
int
seq_end_partial(struct vv_vsock *vs, struct conn *c)
{
	return end_message(vs, c, true);
}

/* --- host -> guest --- */

enum read_result {
	READ_MSG,     /* a message is in c->seq->out */
	READ_NONE,    /* nothing to read now */
	READ_EOF,     /* the app shut its sending side or closed */
	READ_EMPTIES, /* only empty messages so far; more may follow */
	READ_TOO_BIG, /* larger than the guest or our buffer can take */
	READ_ERROR,
};

/* Credentials are all we let in: an fd passed along would not fit, and
 * the kernel closes what does not fit (MSG_CTRUNC). Closed anyway, if
 * some ever came. */
static void
close_passed_fds(struct msghdr *m)
{
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(m); cm != NULL; cm = CMSG_NXTHDR(m, cm)) {
		size_t i, n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int fd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

static enum read_result
read_msg(struct vv_vsock *vs, struct conn *c, uint32_t *size)
{
	struct seq_state *s = c->seq;
	int i;

	if (s->out == NULL) {
		s->out = malloc(c->buf_alloc);
		if (s->out == NULL)
			return READ_ERROR;
		/* A host message waits here whole: memory of this stream too. */
		vs->stats.host_buffer_mem_bytes += c->buf_alloc;
	}
	for (i = 0; i < EMPTY_MSG_BUDGET; i++) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(struct ucred))];
		} ctl;
		struct iovec iov = { s->out, c->buf_alloc };
		struct msghdr m = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = &ctl,
			.msg_controllen = sizeof(ctl),
		};
		/* MSG_TRUNC: the length of the message, even past the buffer. */
		ssize_t n = recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? READ_NONE : READ_ERROR;
		close_passed_fds(&m);
		if (n == 0 && m.msg_controllen == 0)
			return READ_EOF;
		if (n == 0)
			continue;
		*size = (uint32_t) RTE_MIN((size_t) n, (size_t) UINT32_MAX);
		if ((size_t) n > c->buf_alloc || (size_t) n > c->peer_buf_alloc)
			return READ_TOO_BIG;
		s->out_len = (uint32_t) n;
		s->out_off = 0;
		return READ_MSG;
	}
	return READ_EMPTIES;
}

/*
 * Fill rx buffer ch (popped by the caller) with c's next packet: the next
 * piece of the message being sent, or of one read now, or the SHUTDOWN at
 * the end of the stream. Credit is not 0 (data_ready). Connections take
 * turns a packet each. Returns 1 for ch used, or for a turn spent on empty
 * messages (ch given back, the poll budget counts it), 0 for ch given back.
 */
unsigned int
seq_fill(struct vv_vsock *vs, struct conn *c, struct vv_chain *ch, uint64_t now)
{
	struct seq_state *s = c->seq;
	struct virtio_vsock_hdr h;
	uint32_t k, size = 0;

	if (s->out_off == s->out_len) {
		enum read_result r = read_msg(vs, c, &size);

		switch (r) {
		case READ_MSG: break;
		case READ_EOF:
			eof_hdr(vs, c, &h);
			put_hdr(vs, ch, &h);
			host_try_finish(vs, c, now);
			return 1;
		case READ_NONE:
			vv_virtq_unpop(&vs->rxq);
			c->io &= ~IO_READABLE;
			conn_rx_unready(vs, c);
			return 0;
		case READ_EMPTIES:
			vv_virtq_unpop(&vs->rxq);
			conn_rx_unready(vs, c);
			conn_rx_ready(vs, c);
			return 1;
		case READ_TOO_BIG:
			vs->stats.drops[VV_DROP_MSG_SIZE]++;
			VSOCK_LOG(INFO,
				  "cid %" PRIu64 ": %u->%u: a host message of %u bytes, over the "
				  "%u the connection takes (guest buffer %u), resets it",
				  vs->guest_cid, c->host_port, c->guest_port, size, c->buf_alloc,
				  c->peer_buf_alloc);
			/* fall through */
		case READ_ERROR:
			vv_virtq_unpop(&vs->rxq);
			conn_reset(vs, c);
			return 0;
		}
	}
	if (ch->len == VV_VSOCK_HDR_SIZE) {
		/* No room for a byte: give it back empty, as for streams. */
		vs->stats.drops[VV_DROP_RX_BUF_SHORT]++;
		vv_virtq_push(&vs->rxq, ch->head, 0);
		return 1;
	}
	k = RTE_MIN(ch->len - VV_VSOCK_HDR_SIZE, credit_peer_free(c));
	k = RTE_MIN(k, s->out_len - s->out_off);
	conn_hdr(vs, c, &h, VIRTIO_VSOCK_OP_RW);
	h.len = k;
	if (s->out_off + k == s->out_len)
		h.flags = VIRTIO_VSOCK_SEQ_EOM;
	vv_chain_write(ch, VV_VSOCK_HDR_SIZE, s->out + s->out_off, k);
	put_hdr(vs, ch, &h);
	c->tx_cnt += k;
	c->bytes_out += k;
	s->out_off += k;
	if (s->out_off == s->out_len)
		s->out_off = s->out_len = 0;
	conn_rx_unready(vs, c);
	conn_rx_ready(vs, c);
	return 1;
}
