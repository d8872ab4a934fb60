/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user front-end (QEMU docs/interop/vhost-user.rst): the messages QEMU
 * sends to a vhost-user-vsock backend when a VM starts, stops and reboots.
 * Only rx (0) and tx (1) are handed to the backend: QEMU keeps the event
 * queue itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vvfe_priv.h"

#define VU_HDR_LEN 12u
#define VU_MAX_PAYLOAD 512u

struct vu_state {
	uint32_t index, num;
};

struct vu_addr {
	uint32_t index, flags;
	uint64_t desc, used, avail, log;
};

struct vu_region {
	uint64_t gpa, size, uaddr, mmap_offset;
};

struct vu_mem {
	uint32_t nregions, padding;
	struct vu_region r[1];
};

struct vu_config {
	uint32_t offset, size, flags;
	uint8_t data[8];
};

static int vu_timeout(const struct vvfe_dev *d)
{
	return d->o.reply_timeout_ms > 0 ? d->o.reply_timeout_ms : 5000;
}

int vvfe_vu_sendmsg(int sock, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		    const int *fds, int nfds)
{
	uint32_t hdr[3] = {req, VU_VERSION | flags, size};
	struct iovec iov[2] = {
		{.iov_base = hdr, .iov_len = sizeof(hdr)},
		{.iov_base = (void *)(uintptr_t)payload, .iov_len = size},
	};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = size ? 2 : 1};
	ssize_t n;

	if (sock < 0)
		return -ENOTCONN;
	if (nfds > 8)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Unix stream sockets send small messages whole; a short write means
	 * the peer is gone. */
	if ((size_t)n != sizeof(hdr) + size)
		return -EPIPE;
	return 0;
}

static int vu_send(struct vvfe_dev *d, uint32_t req, uint32_t flags, const void *payload,
		   uint32_t size, const int *fds, int nfds)
{
	return vvfe_vu_sendmsg(d->sock, req, flags, payload, size, fds, nfds);
}

int vvfe_vu_read(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;

	while (len > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int r = poll(&pfd, 1, timeout_ms);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read the reply to req into payload (up to cap bytes); *size gets its size. */
static int vu_recv(struct vvfe_dev *d, uint32_t req, void *payload, uint32_t cap, uint32_t *size)
{
	uint32_t hdr[3];
	uint8_t junk[VU_MAX_PAYLOAD];
	int r;

	r = vvfe_vu_read(d->sock, hdr, sizeof(hdr), vu_timeout(d));
	if (r < 0)
		return r;
	if (hdr[0] != req || (hdr[1] & 0x3u) != VU_VERSION || !(hdr[1] & VU_REPLY) ||
	    hdr[2] > VU_MAX_PAYLOAD) {
		vvfe_proto_error(d, "vhost-user reply to %u: request %u flags %#x size %u", req,
				 hdr[0], hdr[1], hdr[2]);
		return -EPROTO;
	}
	r = vvfe_vu_read(d->sock, hdr[2] <= cap ? payload : junk, hdr[2], vu_timeout(d));
	if (r < 0)
		return r;
	if (hdr[2] > cap) {
		vvfe_proto_error(d, "vhost-user reply to %u: %u bytes, expected at most %u", req,
				 hdr[2], cap);
		return -EPROTO;
	}
	*size = hdr[2];
	return 0;
}

static int vu_get_u64(struct vvfe_dev *d, uint32_t req, uint64_t *v)
{
	uint32_t size;
	int r = vu_send(d, req, 0, NULL, 0, NULL, 0);

	if (r < 0)
		return r;
	r = vu_recv(d, req, v, sizeof(*v), &size);
	if (r < 0)
		return r;
	if (size != sizeof(*v)) {
		vvfe_proto_error(d, "vhost-user reply to %u has %u bytes, not 8", req, size);
		return -EPROTO;
	}
	return 0;
}

/* A request without a reply body; with REPLY_ACK, ask for and check the ack. */
static int vu_request(struct vvfe_dev *d, uint32_t req, const void *payload, uint32_t size,
		      const int *fds, int nfds)
{
	uint64_t ack;
	uint32_t asize;
	int r;

	r = vu_send(d, req, d->reply_ack ? VU_NEED_REPLY : 0, payload, size, fds, nfds);
	if (r < 0 || !d->reply_ack)
		return r;
	r = vu_recv(d, req, &ack, sizeof(ack), &asize);
	if (r < 0)
		return r;
	if (asize != sizeof(ack)) {
		vvfe_proto_error(d, "REPLY_ACK for %u has %u bytes", req, asize);
		return -EPROTO;
	}
	if (ack != 0) {
		vvfe_proto_error(d, "backend refused request %u (ack %llu)", req,
				 (unsigned long long)ack);
		return -EPROTO;
	}
	return 0;
}

static int vu_connect(struct vvfe_dev *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int timeout = d->o.connect_timeout_ms > 0 ? d->o.connect_timeout_ms : 5000;
	uint64_t end = vvfe_now_ns() + (uint64_t)timeout * 1000000u;

	if (strlen(d->socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, d->socket_path, strlen(d->socket_path) + 1);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int err;

		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			d->sock = fd;
			return 0;
		}
		err = errno;
		close(fd);
		/* The backend may still be starting: retry until the deadline. */
		if ((err != ENOENT && err != ECONNREFUSED && err != EAGAIN) || vvfe_now_ns() > end)
			return -err;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static int set_vring(struct vvfe_dev *d, int q, struct vvfe_vring *vr, size_t ring_off)
{
	struct vvfe_vring_layout l;
	struct vu_state st = {.index = (uint32_t)q, .num = vr->size};
	struct vu_addr a;
	uint64_t u;
	int r;

	if (vr->packed)
		vvfe_vring_layout_packed(vr->size, &l);
	else
		vvfe_vring_layout(vr->size, &l);
	r = vu_request(d, VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
	if (r < 0)
		return r;
	/* Where the rings start: split index 0; packed position 0 with both
	 * wrap counters 1 (bit 15 avail, bit 31 used, as QEMU sends them). */
	st.num = vr->packed ? 0x80008000u : 0;
	r = vu_request(d, VHOST_USER_SET_VRING_BASE, &st, sizeof(st), NULL, 0);
	if (r < 0)
		return r;
	/* Ring addresses are front-end user addresses (no IOMMU), as QEMU sends. */
	memset(&a, 0, sizeof(a));
	a.index = (uint32_t)q;
	a.desc = (uint64_t)(uintptr_t)(d->mem + ring_off + l.desc);
	a.avail = (uint64_t)(uintptr_t)(d->mem + ring_off + l.avail);
	a.used = (uint64_t)(uintptr_t)(d->mem + ring_off + l.used);
	r = vu_request(d, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	if (r < 0)
		return r;
	u = (uint64_t)q;
	r = vu_request(d, VHOST_USER_SET_VRING_KICK, &u, sizeof(u), &d->kick_fd[q], 1);
	if (r < 0)
		return r;
	return vu_request(d, VHOST_USER_SET_VRING_CALL, &u, sizeof(u), &d->call_fd[q], 1);
}

static int make_eventfds(struct vvfe_dev *d)
{
	for (int q = 0; q < 2; q++) {
		if (d->kick_fd[q] < 0)
			d->kick_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (d->call_fd[q] < 0)
			d->call_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (d->kick_fd[q] < 0 || d->call_fd[q] < 0)
			return -errno;
	}
	return 0;
}

int vvfe_vhost_start(struct vvfe_dev *d)
{
	uint64_t f, want, pf, cid;
	struct vu_config cfg;
	struct vu_mem m;
	uint32_t size;
	int r;

	d->reply_ack = false;
	d->broken = false;
	r = make_eventfds(d);
	if (r < 0)
		return r;
	r = vu_connect(d);
	if (r < 0)
		return r;

	/* Same order as QEMU's vhost_dev_init + vhost-user-vsock realize. */
	r = vu_get_u64(d, VHOST_USER_GET_FEATURES, &f);
	if (r < 0)
		goto fail;
	if (!(f & (1ull << VIRTIO_F_VERSION_1)) || !(f & (1ull << VHOST_USER_F_PROTOCOL_FEATURES))) {
		vvfe_proto_error(d, "backend features %#llx lack VERSION_1 or PROTOCOL_FEATURES",
				 (unsigned long long)f);
		r = -EPROTO;
		goto fail;
	}
	r = vu_get_u64(d, VHOST_USER_GET_PROTOCOL_FEATURES, &pf);
	if (r < 0)
		goto fail;
	if (!(pf & (1ull << VHOST_USER_PROTOCOL_F_CONFIG))) {
		vvfe_proto_error(d, "backend protocol features %#llx lack CONFIG",
				 (unsigned long long)pf);
		r = -EPROTO;
		goto fail;
	}
	d->proto = pf & ((1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
			 (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK));
	r = vu_request(d, VHOST_USER_SET_PROTOCOL_FEATURES, &d->proto, sizeof(d->proto), NULL, 0);
	if (r < 0)
		goto fail;
	d->reply_ack = (d->proto & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK)) != 0;
	r = vu_request(d, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0);
	if (r < 0)
		goto fail;

	memset(&cfg, 0, sizeof(cfg));
	cfg.size = sizeof(cfg.data);
	r = vu_send(d, VHOST_USER_GET_CONFIG, 0, &cfg, sizeof(cfg), NULL, 0);
	if (r < 0)
		goto fail;
	r = vu_recv(d, VHOST_USER_GET_CONFIG, &cfg, sizeof(cfg), &size);
	if (r < 0)
		goto fail;
	/* The spec: a zero-sized payload signals an error; otherwise the size
	 * must match what we asked for. */
	if (size != sizeof(cfg) || cfg.size != sizeof(cfg.data) || cfg.offset != 0) {
		vvfe_proto_error(d, "GET_CONFIG reply size %u (config size %u offset %u)", size,
				 size >= 8 ? cfg.size : 0, size >= 4 ? cfg.offset : 0);
		r = -EPROTO;
		goto fail;
	}
	cid = 0;
	for (int i = 7; i >= 0; i--)
		cid = cid << 8 | cfg.data[i];
	if (cid <= VVFE_HOST_CID || cid >= 0xffffffffull) {
		vvfe_proto_error(d, "GET_CONFIG gives reserved guest CID %llu",
				 (unsigned long long)cid);
		r = -EPROTO;
		goto fail;
	}
	if (d->cid != 0 && d->cid != cid) {
		vvfe_proto_error(d, "guest CID changed from %llu to %llu on reconnect",
				 (unsigned long long)d->cid, (unsigned long long)cid);
		r = -ESTALE;
		goto fail;
	}
	d->cid = cid;

	want = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	if (!d->o.no_event_idx)
		want |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (!d->o.no_seqpacket)
		want |= 1ull << VIRTIO_VSOCK_F_SEQPACKET;
	if (d->o.packed)
		want |= 1ull << VIRTIO_F_RING_PACKED;
	if (d->o.indirect)
		want |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	/* Asked for, so a test relies on it: not offered is an error, not
	 * a quiet fall back to what the test did not mean to run. */
	if ((want & ~f) & ((1ull << VIRTIO_F_RING_PACKED) | (1ull << VIRTIO_RING_F_INDIRECT_DESC))) {
		vvfe_proto_error(d, "backend features %#llx lack %s", (unsigned long long)f,
				 (want & ~f & (1ull << VIRTIO_F_RING_PACKED)) ? "RING_PACKED"
									: "INDIRECT_DESC");
		r = -EOPNOTSUPP;
		goto fail;
	}
	d->features = f & want;
	r = vu_request(d, VHOST_USER_SET_FEATURES, &d->features, sizeof(d->features), NULL, 0);
	if (r < 0)
		goto fail;

	memset(&m, 0, sizeof(m));
	m.nregions = 1;
	m.r[0].gpa = 0;
	m.r[0].size = d->mem_size;
	m.r[0].uaddr = (uint64_t)(uintptr_t)d->mem;
	m.r[0].mmap_offset = 0;
	r = vu_request(d, VHOST_USER_SET_MEM_TABLE, &m, sizeof(m), &d->memfd, 1);
	if (r < 0)
		goto fail;

	{
		bool ei = (d->features & (1ull << VIRTIO_RING_F_EVENT_IDX)) != 0;
		int (*init)(struct vvfe_vring *, void *, uint16_t, bool) =
			d->o.packed ? vvfe_vring_init_packed : vvfe_vring_init;

		vvfe_vring_fini(&d->rx);
		vvfe_vring_fini(&d->tx);
		r = init(&d->rx, d->mem + d->rx_ring_off, d->o.queue_size, ei);
		if (r == 0)
			r = init(&d->tx, d->mem + d->tx_ring_off, d->o.queue_size, ei);
		if (r < 0)
			goto fail;
	}
	r = set_vring(d, 0, &d->rx, d->rx_ring_off);
	if (r < 0)
		goto fail;
	r = set_vring(d, 1, &d->tx, d->tx_ring_off);
	if (r < 0)
		goto fail;
	for (uint32_t q = 0; q < 2; q++) {
		struct vu_state st = {.index = q, .num = 1};

		r = vu_request(d, VHOST_USER_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0);
		if (r < 0)
			goto fail;
	}
	d->running = true;
	return 0;
fail:
	vvfe_vhost_close(d);
	return r;
}

int vvfe_vhost_get_bases(struct vvfe_dev *d)
{
	int first = 0;

	d->vring_base[0] = d->vring_base[1] = -1;
	for (uint32_t q = 0; q < 2; q++) {
		struct vu_state st = {.index = q, .num = 0};
		uint32_t size;
		int r = vu_send(d, VHOST_USER_GET_VRING_BASE, 0, &st, sizeof(st), NULL, 0);

		if (r == 0)
			r = vu_recv(d, VHOST_USER_GET_VRING_BASE, &st, sizeof(st), &size);
		if (r == 0 && (size != sizeof(st) || st.index != q)) {
			vvfe_proto_error(d, "GET_VRING_BASE %u reply: size %u index %u", q, size,
					 st.index);
			r = -EPROTO;
		}
		if (r == 0)
			d->vring_base[q] = (int)st.num;
		else if (first == 0)
			first = r;
	}
	return first;
}

void vvfe_vhost_close(struct vvfe_dev *d)
{
	if (d->sock >= 0)
		close(d->sock);
	d->sock = -1;
	d->running = false;
	/* Fresh eventfds per boot, so a stale signal from the old session
	 * cannot wake the new one. */
	for (int q = 0; q < 2; q++) {
		if (d->kick_fd[q] >= 0)
			close(d->kick_fd[q]);
		if (d->call_fd[q] >= 0)
			close(d->call_fd[q]);
		d->kick_fd[q] = d->call_fd[q] = -1;
	}
}

void vvfe_kick(struct vvfe_dev *d, int q)
{
	uint64_t one = 1;

	if (write(d->kick_fd[q], &one, sizeof(one)) == sizeof(one))
		d->st.kicks++;
}
