/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SEQPACKET streams of the vvfe guest (VIRTIO_VSOCK_F_SEQPACKET), modelled
 * on Linux's virtio_transport_common.c: a sender cuts a message into RW
 * packets as credit allows and sets VIRTIO_VSOCK_SEQ_EOM on the last (EOR
 * too for MSG_EOR), refusing a message larger than the peer's buf_alloc
 * (EMSGSIZE); a receiver queues the bytes and hands out a message only once
 * its EOM came, whole, the rest of it dropped when the reader's buffer is
 * smaller (MSG_TRUNC). Credit is per byte, as for streams.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vvfe_priv.h"

struct vvfe_seq {
	/* Ends of the whole messages held in rbuf (values of rtail, free
	 * running), oldest first: a ring of cap entries. */
	uint32_t *end;
	bool *eor;
	uint32_t cap, head, n;
	uint32_t last_end; /* rtail at the last EOM: where the next message starts */
	bool msg_open;     /* a message is half sent: the next call continues it */
};

bool vvfe_type_ok(const struct vvfe_dev *d, uint16_t type)
{
	return type == VIRTIO_VSOCK_TYPE_STREAM ||
	       (type == VIRTIO_VSOCK_TYPE_SEQPACKET &&
		(d->features & (1ull << VIRTIO_VSOCK_F_SEQPACKET)));
}

int vvfe_stream_set_type(struct vvfe_stream *s, uint16_t type)
{
	s->type = type;
	if (type != VIRTIO_VSOCK_TYPE_SEQPACKET)
		return 0;
	s->seq = calloc(1, sizeof(*s->seq));
	if (s->seq == NULL)
		return -ENOMEM;
	s->seq->last_end = s->rtail;
	return 0;
}

void vvfe_seq_free(struct vvfe_stream *s)
{
	if (s->seq == NULL)
		return;
	free(s->seq->end);
	free(s->seq->eor);
	free(s->seq);
	s->seq = NULL;
}

uint16_t vvfe_stream_type(const struct vvfe_stream *s)
{
	return s->type;
}

/* An RW packet's bytes are in rbuf: its EOM closes a message. Every whole
 * message holds a byte at least (an EOM alone ends what came before it;
 * with nothing before it there is no message, as a Linux sender never
 * makes one), so at most buf_alloc of them wait. */
void vvfe_seq_rx(struct vvfe_stream *s, const struct virtio_vsock_hdr *h)
{
	struct vvfe_seq *q = s->seq;

	if (!(h->flags & VIRTIO_VSOCK_SEQ_EOM) || s->rtail == q->last_end)
		return;
	if (q->n == q->cap) {
		uint32_t cap = q->cap ? 2 * q->cap : 16;
		uint32_t *end = malloc(cap * sizeof(*end));
		bool *eor = malloc(cap * sizeof(*eor));

		if (end == NULL || eor == NULL) {
			free(end);
			free(eor);
			vvfe_proto_error(s->dev, "out of memory for message boundaries");
			return;
		}
		for (uint32_t i = 0; i < q->n; i++) {
			end[i] = q->end[(q->head + i) % q->cap];
			eor[i] = q->eor[(q->head + i) % q->cap];
		}
		free(q->end);
		free(q->eor);
		q->end = end;
		q->eor = eor;
		q->cap = cap;
		q->head = 0;
	}
	q->end[(q->head + q->n) % q->cap] = s->rtail;
	q->eor[(q->head + q->n) % q->cap] = (h->flags & VIRTIO_VSOCK_SEQ_EOR) != 0;
	q->n++;
	q->last_end = s->rtail;
}

ssize_t vvfe_send_msg(struct vvfe_stream *s, const void *buf, size_t len, bool eor)
{
	ssize_t r;

	if (s->seq == NULL || len == 0)
		return -EINVAL;
	/* Linux checks each call against the peer's buffer: the whole
	 * message must fit in it, or its reader could never take it. */
	if (!s->seq->msg_open && s->state == VVFE_ESTABLISHED && len > vvfe_tx_buf_alloc(s))
		return -EMSGSIZE;
	r = vvfe_send_flags(s, buf, len,
			    VIRTIO_VSOCK_SEQ_EOM | (eor ? VIRTIO_VSOCK_SEQ_EOR : 0));
	if (r > 0)
		s->seq->msg_open = (size_t)r < len;
	return r;
}

ssize_t vvfe_recv_msg(struct vvfe_stream *s, void *buf, size_t len, bool *eor)
{
	struct vvfe_seq *q = s->seq;
	uint32_t mlen, done = 0;

	if (q == NULL)
		return -EINVAL;
	if (s->state == VVFE_CONNECTING)
		return -ENOTCONN;
	if (q->n == 0) {
		/* Bytes of a message whose EOM never came are no message. */
		if (s->peer_shutdown & VIRTIO_VSOCK_SHUTDOWN_SEND)
			return 0;
		if (s->state == VVFE_CLOSED)
			return s->err ? s->err : 0;
		return -EAGAIN;
	}
	mlen = q->end[q->head] - s->rhead;
	while (done < mlen && done < len) {
		const void *p;
		size_t n = vvfe_recv_peek(s, &p);

		if (n > mlen - done)
			n = mlen - done;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)buf + done, p, n);
		s->rhead += (uint32_t)n;
		done += (uint32_t)n;
	}
	/* The rest of a message longer than buf is dropped, and all of it
	 * counts as read for the peer's credit. */
	s->rhead = q->end[q->head];
	s->fwd_cnt += mlen;
	if (eor != NULL)
		*eor = q->eor[q->head];
	q->head = (q->head + 1) % q->cap;
	q->n--;
	/* Unlike a stream reader, Linux tells the peer after every message:
	 * a half-received message cannot be read to make room, so a sender
	 * waiting for credit would wait forever on the stream heuristics. */
	if (s->state == VVFE_ESTABLISHED && !(s->peer_shutdown & VIRTIO_VSOCK_SHUTDOWN_SEND)) {
		struct virtio_vsock_hdr h;

		vvfe_fill_hdr(s, &h, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0);
		vvfe_send_ctrl(s->dev, &h);
	}
	vvfe_recv_consume(s, 0); /* end of stream, kicks */
	return (ssize_t)mlen;
}
