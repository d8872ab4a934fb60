/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A hostile guest: each case breaks one rule of the ring (split or packed,
 * indirect tables) or of virtio-vsock, then records what the backend does
 * about it. Nothing here decides pass or fail; the caller knows what it
 * expects.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vvfe_priv.h"

#define FILLER 0xA5
#define SCR_HDR 0u           /* scratch offsets */
#define SCR_PAYLOAD 4096u
#define SCR_TABLE (64u * 1024u)
#define SCR_BIG (128u * 1024u)

static const char *const names[VVFE_HOSTILE_COUNT] = {
	[VVFE_HOSTILE_BAD_ADDR] = "bad_addr",
	[VVFE_HOSTILE_CYCLIC_CHAIN] = "cyclic_chain",
	[VVFE_HOSTILE_LONG_CHAIN] = "long_chain",
	[VVFE_HOSTILE_WRITE_FLAG] = "write_flag",
	[VVFE_HOSTILE_INDIRECT] = "indirect",
	[VVFE_HOSTILE_SHORT_HDR] = "short_hdr",
	[VVFE_HOSTILE_LEN_OVERFLOW] = "len_overflow",
	[VVFE_HOSTILE_SPOOF_CID] = "spoof_cid",
	[VVFE_HOSTILE_UNKNOWN_OP] = "unknown_op",
	[VVFE_HOSTILE_UNKNOWN_TYPE] = "unknown_type",
	[VVFE_HOSTILE_CREDIT_VIOLATION] = "credit_violation",
	[VVFE_HOSTILE_TINY_FLOOD] = "tiny_flood",
	[VVFE_HOSTILE_RX_STALL] = "rx_stall",
	[VVFE_HOSTILE_AVAIL_JUMP] = "avail_jump",
	[VVFE_HOSTILE_VANISH] = "vanish",
	[VVFE_HOSTILE_INDIRECT_NESTED] = "indirect_nested",
	[VVFE_HOSTILE_INDIRECT_SIZE] = "indirect_size",
	[VVFE_HOSTILE_INDIRECT_ADDR] = "indirect_addr",
	[VVFE_HOSTILE_INDIRECT_NEXT] = "indirect_next",
};

const char *vvfe_hostile_name(enum vvfe_hostile c)
{
	return (unsigned int)c < VVFE_HOSTILE_COUNT ? names[c] : NULL;
}

int vvfe_hostile_from_name(const char *name)
{
	return vvfe_name_index(names, VVFE_HOSTILE_COUNT, name);
}

bool vvfe_hostile_applies(const struct vvfe_dev *d, enum vvfe_hostile c)
{
	bool ind = (d->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC)) != 0;

	switch (c) {
	case VVFE_HOSTILE_AVAIL_JUMP: return !d->tx.packed;
	case VVFE_HOSTILE_INDIRECT: return !ind;
	case VVFE_HOSTILE_INDIRECT_NESTED:
	case VVFE_HOSTILE_INDIRECT_SIZE:
	case VVFE_HOSTILE_INDIRECT_ADDR:
	case VVFE_HOSTILE_INDIRECT_NEXT: return ind;
	default: return (unsigned int)c < VVFE_HOSTILE_COUNT;
	}
}

int vvfe_tx_raw(struct vvfe_dev *d, uint16_t n, const struct vring_desc *descs,
		const int *next_rel, uint16_t *head)
{
	uint16_t *ids = malloc(sizeof(*ids) * n);

	if (ids == NULL)
		return -ENOMEM;
	if (vvfe_vring_alloc(&d->tx, n, ids) < 0) {
		free(ids);
		return -ENOSPC;
	}
	for (uint16_t i = 0; i < n; i++) {
		struct vring_desc *ds = &d->tx.desc[ids[i]];

		ds->addr = htole64(descs[i].addr);
		ds->len = htole32(descs[i].len);
		ds->flags = htole16(descs[i].flags);
		/* next_rel lets a case point anywhere in its own chain,
		 * including backwards; the shadow links stay linear. */
		ds->next = htole16(next_rel && next_rel[i] >= 0 ? ids[next_rel[i]] : 0);
	}
	/* No tx slot: the data lives in the scratch area. */
	d->tx_head_slot[ids[0]] = UINT16_MAX;
	vvfe_vring_publish(&d->tx, ids[0]);
	d->tx_kick_pending = true;
	*head = ids[0];
	free(ids);
	return 0;
}

/* Header for the target flow: the stream's, or a fresh port to probe_port. */
static void target_hdr(struct vvfe_dev *d, struct vvfe_stream *s, uint32_t probe_port,
		       uint16_t op, uint32_t len, struct virtio_vsock_hdr *h)
{
	if (s) {
		vvfe_fill_hdr(s, h, op, 0, len);
		return;
	}
	memset(h, 0, sizeof(*h));
	h->src_cid = d->cid;
	h->dst_cid = VVFE_HOST_CID;
	h->src_port = vvfe_alloc_port(d, VVFE_HOST_CID, probe_port);
	h->dst_port = probe_port;
	h->len = len;
	h->type = VIRTIO_VSOCK_TYPE_STREAM;
	h->op = op;
	h->buf_alloc = d->o.buf_alloc;
}

static void capture_start(struct vvfe_dev *d, uint32_t lport)
{
	memset(&d->cap, 0, sizeof(d->cap));
	d->cap.on = true;
	d->cap.lport = lport;
	d->cap.head = UINT32_MAX;
	d->cap.start_ns = vvfe_now_ns();
}

/*
 * Poll until an RST and the chain's return were seen, or wait_ms. Other
 * packets do not end the wait: one already in flight (a CREDIT_UPDATE)
 * may come before the RST that answers the misbehaviour.
 */
static int watch(struct vvfe_dev *d, int wait_ms, bool want_used)
{
	uint64_t end = vvfe_now_ns() + (uint64_t)wait_ms * 1000000u;

	while (vvfe_now_ns() < end) {
		int r = vvfe_poll(d, 5);

		if (r == -ENOTCONN)
			return r;
		if (d->cap.rst_seen && (!want_used || d->cap.used_returned))
			return 0;
		if (r == -EPROTO)
			return r;
	}
	return 0;
}

int vvfe_probe(struct vvfe_dev *d, uint32_t probe_port, int wait_ms)
{
	struct virtio_vsock_hdr h;
	int r;

	if (!vvfe_dev_running(d))
		return -ENOTCONN;
	target_hdr(d, NULL, probe_port, VIRTIO_VSOCK_OP_REQUEST, 0, &h);
	capture_start(d, h.src_port);
	vvfe_send_ctrl(d, &h);
	vvfe_flush_kicks(d);
	r = watch(d, wait_ms, false);
	d->cap.on = false;
	if (r == -ENOTCONN)
		return r;
	return d->cap.rst_seen;
}

static void put_hdr(struct vvfe_dev *d, size_t off, const struct virtio_vsock_hdr *h)
{
	vvfe_hdr_encode(h, d->mem + d->scratch_off + off);
}

static uint64_t scr(const struct vvfe_dev *d, size_t off)
{
	return d->scratch_off + off;
}

/* Send bytes of the stream's pattern (or filler) as properly formed RW
 * packets, ignoring credit when told to. */
static int send_data(struct vvfe_dev *d, struct vvfe_stream *s, const struct vvfe_pattern *pat,
		     uint32_t total, uint32_t pkt, bool ignore_credit, int wait_ms, uint64_t *sent)
{
	uint64_t end = vvfe_now_ns() + (uint64_t)wait_ms * 1000000u;
	uint8_t buf[VVFE_MAX_PKT];

	if (pkt > sizeof(buf))
		pkt = sizeof(buf);
	while (*sent < total) {
		uint32_t n = total - (uint32_t)*sent < pkt ? total - (uint32_t)*sent : pkt;
		ssize_t r;

		if (pat)
			vvfe_pattern_fill(pat, s->tx_cnt, buf, n);
		else
			memset(buf, FILLER, n);
		if (ignore_credit) {
			struct virtio_vsock_hdr h;
			struct vring_desc ds[2];
			uint16_t head;
			int nr[2] = {1, -1};

			vvfe_fill_hdr(s, &h, VIRTIO_VSOCK_OP_RW, 0, n);
			size_t off = SCR_BIG;

			if (off + VVFE_HDR_LEN + n > d->scratch_size)
				return -ENOSPC;
			put_hdr(d, SCR_HDR, &h);
			memcpy(d->mem + d->scratch_off + off, buf, n);
			ds[0] = (struct vring_desc){scr(d, SCR_HDR), VVFE_HDR_LEN, VRING_DESC_F_NEXT, 0};
			ds[1] = (struct vring_desc){scr(d, off), n, 0, 0};
			if (vvfe_tx_raw(d, 2, ds, nr, &head) < 0)
				return -ENOSPC;
			vvfe_flush_kicks(d);
			/* The scratch area is reused: wait until the device
			 * has read this packet before writing the next. */
			while (d->tx.num_free != d->tx.size && vvfe_now_ns() < end)
				if (vvfe_poll(d, 5) < 0)
					return -ENOTCONN;
			s->tx_cnt += n;
			d->st.tx_bytes += n;
			*sent += n;
			continue;
		}
		r = vvfe_send(s, buf, n);
		if (r > 0) {
			*sent += (uint64_t)r;
			continue;
		}
		if (r != -EAGAIN)
			return (int)r;
		if (vvfe_now_ns() >= end)
			return -ETIMEDOUT;
		if (vvfe_poll(d, 5) == -ENOTCONN)
			return -ENOTCONN;
	}
	return 0;
}

/* Wait until all tx descriptors are back (needed by cases using all of them). */
static int drain_tx(struct vvfe_dev *d, int wait_ms)
{
	uint64_t end = vvfe_now_ns() + (uint64_t)wait_ms * 1000000u;

	while (d->tx.num_free != d->tx.size || d->ctrl_n) {
		if (vvfe_now_ns() >= end)
			return -ENOSPC;
		if (vvfe_poll(d, 5) < 0)
			return -ENOTCONN;
	}
	return 0;
}

/*
 * Send valid data until the peer's window has stayed shut for a while: a
 * peer whose reader is stalled then holds all it advertised. Bounded by
 * FILL_MAX bytes and wait_ms for a peer that keeps draining.
 */
#define FILL_MAX (4u << 20)
#define FILL_SETTLE_NS (150u * 1000u * 1000u)
static int fill_window(struct vvfe_dev *d, struct vvfe_stream *s, const struct vvfe_pattern *pat,
		       int wait_ms, uint64_t *sent)
{
	uint64_t end = vvfe_now_ns() + (uint64_t)wait_ms * 1000000u, shut_since = 0;
	uint8_t buf[16384];

	while (*sent < FILL_MAX && vvfe_now_ns() < end) {
		uint32_t n = sizeof(buf);
		ssize_t r;

		if (vvfe_stream_credit(s) == 0) {
			uint64_t now = vvfe_now_ns();

			if (shut_since == 0)
				shut_since = now;
			else if (now - shut_since >= FILL_SETTLE_NS)
				break;
			if (vvfe_poll(d, 5) < 0)
				return -ENOTCONN;
			continue;
		}
		shut_since = 0;
		if (FILL_MAX - *sent < n)
			n = FILL_MAX - (uint32_t)*sent;
		if (pat)
			vvfe_pattern_fill(pat, s->tx_cnt, buf, n);
		else
			memset(buf, FILLER, n);
		r = vvfe_send(s, buf, n);
		if (r > 0) {
			*sent += (uint64_t)r;
			continue;
		}
		if (r != -EAGAIN)
			return (int)r;
		if (vvfe_poll(d, 5) < 0)
			return -ENOTCONN;
	}
	/* Let the device take what is in the ring, so the raw packets that
	 * follow are the only thing it has not seen. */
	return drain_tx(d, wait_ms) < 0 ? -ENOSPC : 0;
}

static int rx_stall(struct vvfe_dev *d, uint32_t probe_port, int wait_ms,
		    struct vvfe_hostile_result *res)
{
	uint64_t end = vvfe_now_ns() + (uint64_t)wait_ms * 1000000u;
	unsigned int want = 2u * d->o.queue_size, sent = 0;
	uint64_t rst0 = d->st.rst_rx;

	d->rx_hold = true;
	/* Many REQUESTs to nobody: each deserves an RST, but the rx ring
	 * can hold at most queue_size of them. */
	while (sent < want && vvfe_now_ns() < end) {
		struct virtio_vsock_hdr h;

		if (d->ctrl_n > 0 || d->tx.num_free < 2) {
			if (vvfe_poll(d, 5) == -ENOTCONN)
				break;
			continue;
		}
		target_hdr(d, NULL, probe_port, VIRTIO_VSOCK_OP_REQUEST, 0, &h);
		vvfe_send_ctrl(d, &h);
		sent++;
		if (sent % 32 == 0)
			vvfe_flush_kicks(d);
	}
	vvfe_flush_kicks(d);
	while (vvfe_now_ns() < end)
		if (vvfe_poll(d, 5) == -ENOTCONN)
			break;
	uint64_t during = d->st.rst_rx - rst0;
	d->rx_hold = false;
	/* Give buffers back; queued RSTs may now arrive. */
	uint64_t end2 = vvfe_now_ns() + (uint64_t)wait_ms * 1000000u;
	while (vvfe_now_ns() < end2)
		if (vvfe_poll(d, 5) == -ENOTCONN)
			break;
	res->answer = d->st.rst_rx > rst0 ? VVFE_ANSWER_RST : VVFE_ANSWER_NONE;
	res->answer_op = res->answer == VVFE_ANSWER_RST ? VIRTIO_VSOCK_OP_RST : 0;
	snprintf(res->note, sizeof(res->note), "sent %u of %u REQUESTs, %llu RST while stalled, %llu after",
		 sent, want, (unsigned long long)during,
		 (unsigned long long)(d->st.rst_rx - rst0 - during));
	return 0;
}

/* Entry i of an indirect table in the scratch area, in the tx ring's layout. */
static void scr_table(struct vvfe_dev *d, unsigned int i, uint64_t addr, uint32_t len,
		      uint16_t flags, uint16_t next)
{
	uint8_t *t = d->mem + d->scratch_off + SCR_TABLE + 16u * i;

	if (d->tx.packed) {
		struct vring_packed_desc e = {htole64(addr), htole32(len), 0, htole16(flags)};

		memcpy(t, &e, sizeof(e));
	} else {
		struct vring_desc e = {htole64(addr), htole32(len), htole16(flags), htole16(next)};

		memcpy(t, &e, sizeof(e));
	}
}

/* The target packet (header, 16 filler bytes) through a table of two. */
static void scr_packet_table(struct vvfe_dev *d)
{
	scr_table(d, 0, scr(d, SCR_HDR), VVFE_HDR_LEN, d->tx.packed ? 0 : VRING_DESC_F_NEXT, 1);
	scr_table(d, 1, scr(d, SCR_PAYLOAD), 16, 0, 0);
}

int vvfe_hostile_run(struct vvfe_dev *d, enum vvfe_hostile c, struct vvfe_stream *s,
		     const struct vvfe_pattern *pat, uint32_t probe_port, int wait_ms,
		     struct vvfe_hostile_result *res)
{
	struct vring_desc ds[4];
	struct virtio_vsock_hdr h;
	uint16_t head = 0;
	uint64_t mem_end = d->mem_size;
	int r = 0, nr2[2] = {1, -1};
	bool sent_raw = true;

	memset(res, 0, sizeof(*res));
	if ((unsigned int)c >= VVFE_HOSTILE_COUNT)
		return -EINVAL;
	if (!vvfe_dev_running(d))
		return -ENOTCONN;
	if (s == NULL && (c == VVFE_HOSTILE_CREDIT_VIOLATION || c == VVFE_HOSTILE_TINY_FLOOD))
		return -EINVAL;
	if (s && s->state != VVFE_ESTABLISHED)
		return -EINVAL;
	if (!vvfe_hostile_applies(d, c)) {
		snprintf(res->note, sizeof(res->note), "not for this device (%s ring, indirect %s)",
			 d->tx.packed ? "packed" : "split",
			 (d->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC)) ? "on" : "off");
		return -EOPNOTSUPP;
	}
	/* Most cases need a few descriptors; the long chain needs all. */
	if (drain_tx(d, wait_ms) < 0)
		return -ENOSPC;
	memset(d->mem + d->scratch_off, FILLER, d->scratch_size);
	target_hdr(d, s, probe_port, VIRTIO_VSOCK_OP_RW, 16, &h);
	capture_start(d, h.src_port);

	switch (c) {
	case VVFE_HOSTILE_BAD_ADDR:
		/* A valid header whose payload straddles the end of guest
		 * memory: checking only the start address is not enough. */
		put_hdr(d, SCR_HDR, &h);
		ds[0] = (struct vring_desc){scr(d, SCR_HDR), VVFE_HDR_LEN, VRING_DESC_F_NEXT, 0};
		ds[1] = (struct vring_desc){mem_end - 8, 16, 0, 0};
		r = vvfe_tx_raw(d, 2, ds, nr2, &head);
		if (r == 0) {
			/* And a chain wholly outside memory. */
			uint16_t h2;

			ds[0] = (struct vring_desc){mem_end + (1ull << 30), VVFE_HDR_LEN + 16, 0, 0};
			r = vvfe_tx_raw(d, 1, ds, NULL, &h2);
		}
		break;
	case VVFE_HOSTILE_CYCLIC_CHAIN: {
		/* Split: the second points back at the first. Packed has no
		 * links: its NEXT leads into the slot after the list, which
		 * the driver has not made available. */
		int nr[2] = {1, 0};

		put_hdr(d, SCR_HDR, &h);
		ds[0] = (struct vring_desc){scr(d, SCR_HDR), VVFE_HDR_LEN, VRING_DESC_F_NEXT, 0};
		ds[1] = (struct vring_desc){scr(d, SCR_PAYLOAD), 16, VRING_DESC_F_NEXT, 0};
		r = vvfe_tx_raw(d, 2, ds, nr, &head);
		break;
	}
	case VVFE_HOSTILE_LONG_CHAIN: {
		uint16_t n = d->tx.size;
		struct vring_desc *big = calloc(n, sizeof(*big));
		int *nr = calloc(n, sizeof(*nr));

		if (big == NULL || nr == NULL || (size_t)n * 16u + SCR_PAYLOAD > d->scratch_size) {
			free(big);
			free(nr);
			r = -ENOMEM;
			break;
		}
		h.len = (uint32_t)(n - 1) * 16u;
		put_hdr(d, SCR_HDR, &h);
		big[0] = (struct vring_desc){scr(d, SCR_HDR), VVFE_HDR_LEN, VRING_DESC_F_NEXT, 0};
		for (uint16_t i = 1; i < n; i++)
			big[i] = (struct vring_desc){scr(d, SCR_PAYLOAD + (size_t)(i - 1) * 16u), 16,
						     VRING_DESC_F_NEXT, 0};
		for (uint16_t i = 0; i < n; i++)
			nr[i] = (i + 1) % n; /* split: the last one leads back to the head;
					       packed: NEXT on all, the whole ring */
		r = vvfe_tx_raw(d, n, big, nr, &head);
		free(big);
		free(nr);
		break;
	}
	case VVFE_HOSTILE_WRITE_FLAG:
		put_hdr(d, SCR_HDR, &h);
		ds[0] = (struct vring_desc){scr(d, SCR_HDR), VVFE_HDR_LEN + 16, VRING_DESC_F_WRITE, 0};
		/* Header and filler must be contiguous for a one-descriptor packet. */
		memset(d->mem + d->scratch_off + SCR_HDR + VVFE_HDR_LEN, FILLER, 16);
		r = vvfe_tx_raw(d, 1, ds, NULL, &head);
		break;
	case VVFE_HOSTILE_INDIRECT:
		/* A well-formed table, but the feature was never negotiated. */
		put_hdr(d, SCR_HDR, &h);
		scr_packet_table(d);
		ds[0] = (struct vring_desc){scr(d, SCR_TABLE), 32, VRING_DESC_F_INDIRECT, 0};
		r = vvfe_tx_raw(d, 1, ds, NULL, &head);
		break;
	case VVFE_HOSTILE_INDIRECT_NESTED:
		/* The payload entry is itself a table (of the same two). */
		put_hdr(d, SCR_HDR, &h);
		scr_packet_table(d);
		scr_table(d, 1, scr(d, SCR_TABLE), 32, VRING_DESC_F_INDIRECT, 0);
		ds[0] = (struct vring_desc){scr(d, SCR_TABLE), 32, VRING_DESC_F_INDIRECT, 0};
		r = vvfe_tx_raw(d, 1, ds, NULL, &head);
		break;
	case VVFE_HOSTILE_INDIRECT_SIZE:
		/* One and a half descriptors. */
		put_hdr(d, SCR_HDR, &h);
		scr_packet_table(d);
		ds[0] = (struct vring_desc){scr(d, SCR_TABLE), 24, VRING_DESC_F_INDIRECT, 0};
		r = vvfe_tx_raw(d, 1, ds, NULL, &head);
		break;
	case VVFE_HOSTILE_INDIRECT_ADDR:
		/* A table running past the end of guest memory. */
		ds[0] = (struct vring_desc){mem_end - 16, 32, VRING_DESC_F_INDIRECT, 0};
		r = vvfe_tx_raw(d, 1, ds, NULL, &head);
		break;
	case VVFE_HOSTILE_INDIRECT_NEXT:
		/* A table with something after it in the chain (split) or in
		 * the list (packed): neither layout allows it. */
		put_hdr(d, SCR_HDR, &h);
		scr_packet_table(d);
		ds[0] = (struct vring_desc){scr(d, SCR_TABLE), 32,
					    VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 0};
		ds[1] = (struct vring_desc){scr(d, SCR_PAYLOAD), 16, 0, 0};
		r = vvfe_tx_raw(d, 2, ds, nr2, &head);
		break;
	case VVFE_HOSTILE_SHORT_HDR:
		h.len = 0;
		h.op = s ? VIRTIO_VSOCK_OP_CREDIT_REQUEST : VIRTIO_VSOCK_OP_REQUEST;
		put_hdr(d, SCR_HDR, &h);
		ds[0] = (struct vring_desc){scr(d, SCR_HDR), 20, 0, 0};
		r = vvfe_tx_raw(d, 1, ds, NULL, &head);
		break;
	case VVFE_HOSTILE_LEN_OVERFLOW:
		h.len = 4096;
		put_hdr(d, SCR_HDR, &h);
		ds[0] = (struct vring_desc){scr(d, SCR_HDR), VVFE_HDR_LEN, VRING_DESC_F_NEXT, 0};
		ds[1] = (struct vring_desc){scr(d, SCR_PAYLOAD), 16, 0, 0};
		r = vvfe_tx_raw(d, 2, ds, nr2, &head);
		break;
	case VVFE_HOSTILE_SPOOF_CID:
		h.src_cid = d->cid + 1;
		put_hdr(d, SCR_HDR, &h);
		ds[0] = (struct vring_desc){scr(d, SCR_HDR), VVFE_HDR_LEN, VRING_DESC_F_NEXT, 0};
		ds[1] = (struct vring_desc){scr(d, SCR_PAYLOAD), 16, 0, 0};
		r = vvfe_tx_raw(d, 2, ds, nr2, &head);
		break;
	case VVFE_HOSTILE_UNKNOWN_OP:
	case VVFE_HOSTILE_UNKNOWN_TYPE:
		h.len = 0;
		if (c == VVFE_HOSTILE_UNKNOWN_OP) {
			h.op = 42;
		} else {
			h.type = 7;
			h.op = VIRTIO_VSOCK_OP_REQUEST;
		}
		put_hdr(d, SCR_HDR, &h);
		ds[0] = (struct vring_desc){scr(d, SCR_HDR), VVFE_HDR_LEN, 0, 0};
		r = vvfe_tx_raw(d, 1, ds, NULL, &head);
		break;
	case VVFE_HOSTILE_CREDIT_VIOLATION: {
		uint32_t total;

		sent_raw = false;
		r = fill_window(d, s, pat, wait_ms * 4, &res->sent_bytes);
		if (r < 0)
			break;
		d->cap.start_ns = vvfe_now_ns();
		/* Everything the peer still allows, plus one max-size packet
		 * more, sent without waiting for credit. */
		total = (uint32_t)res->sent_bytes + vvfe_stream_credit(s) + VVFE_MAX_PKT;
		r = send_data(d, s, pat, total, d->o.max_pkt, true, wait_ms * 4, &res->sent_bytes);
		break;
	}
	case VVFE_HOSTILE_TINY_FLOOD:
		sent_raw = false;
		r = send_data(d, s, pat, 4096, 1, false, wait_ms * 8, &res->sent_bytes);
		break;
	case VVFE_HOSTILE_RX_STALL:
		d->cap.on = false;
		r = rx_stall(d, probe_port, wait_ms, res);
		goto after;
	case VVFE_HOSTILE_AVAIL_JUMP:
		sent_raw = false;
		__atomic_store_n(d->tx.avail_idx,
				 htole16((uint16_t)(d->tx.shadow_avail + d->tx.size + 7)),
				 __ATOMIC_RELEASE);
		vvfe_kick(d, 1);
		break;
	case VVFE_HOSTILE_VANISH: {
		uint64_t sent = 0;

		sent_raw = false;
		if (s)
			send_data(d, s, pat, 256u * 1024u, d->o.max_pkt, false, wait_ms,
				  &sent);
		res->sent_bytes = sent;
		vvfe_dev_abort(d);
		res->answer = VVFE_ANSWER_NONE;
		snprintf(res->note, sizeof(res->note), "closed the socket after %llu bytes",
			 (unsigned long long)sent);
		return 0;
	}
	case VVFE_HOSTILE_COUNT:
		break;
	}
	if (r < 0) {
		d->cap.on = false;
		snprintf(res->note, sizeof(res->note), "could not send: %s", strerror(-r));
		if (r == -ENOTCONN)
			res->answer = VVFE_ANSWER_DISCONNECT;
		goto after;
	}
	if (sent_raw)
		d->cap.head = head;
	vvfe_flush_kicks(d);
	r = watch(d, wait_ms, sent_raw);
	if (c == VVFE_HOSTILE_AVAIL_JUMP && d->running) {
		/* Put the index back so a device that only refused the bogus
		 * jump can continue. */
		__atomic_store_n(d->tx.avail_idx, htole16(d->tx.shadow_avail), __ATOMIC_RELEASE);
		vvfe_kick(d, 1);
		watch(d, wait_ms / 4 + 1, false);
	}
	if (r == -ENOTCONN)
		res->answer = VVFE_ANSWER_DISCONNECT;
	else if (d->cap.rst_seen)
		res->answer = VVFE_ANSWER_RST;
	else if (d->cap.n == 0)
		res->answer = VVFE_ANSWER_NONE;
	else
		res->answer = VVFE_ANSWER_OTHER;
	res->answer_op = d->cap.rst_seen ? VIRTIO_VSOCK_OP_RST : d->cap.first_op;
	res->ops_seen = d->cap.ops_seen;
	if (d->cap.rst_seen)
		res->rst_us = (uint32_t)((d->cap.rst_ns - d->cap.start_ns) / 1000u);
	res->used_returned = d->cap.used_returned;
	res->used_len = d->cap.used_len;
	d->cap.on = false;
	d->cap.head = UINT32_MAX;
after:
	res->stream_ok = s && s->state == VVFE_ESTABLISHED;
	if (vvfe_dev_running(d))
		res->alive = vvfe_probe(d, probe_port, wait_ms) == 1;
	if (!d->running && res->answer != VVFE_ANSWER_DISCONNECT)
		res->answer = VVFE_ANSWER_DISCONNECT;
	return 0;
}
