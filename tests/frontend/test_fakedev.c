/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fake vhost-user vsock device for the vvfe unit test (see test_fakedev.h).
 * Single thread: serves one vhost-user connection at a time and processes
 * the rings only when kicked, so a guest that forgets a kick hangs the test
 * instead of being rescued by polling.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test_fakedev.h"
#include "vvfe_priv.h"

#define NFLOWS 16
#define NREPLY 512
#define NENDS 4096 /* message ends a SEQPACKET flow holds */

struct fq {
	bool ready;
	uint16_t size, last_avail, uidx; /* uidx: next used index */
	struct vring_desc *desc;
	uint16_t *avail; /* flags, idx, ring[], used_event */
	uint16_t *used;  /* flags, idx, then elems, then avail_event */
	int kick, call;
};

struct flow {
	bool on;
	uint32_t gport, hport;
	uint8_t *buf;
	uint32_t head, tail;  /* bytes held = tail - head */
	uint32_t fwd_cnt, tx_cnt;
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	uint16_t type;
	uint32_t end[NENDS]; /* SEQPACKET: tail at each EOM, and its flags */
	uint32_t end_flags[NENDS];
	uint32_t end_head, end_n;
};

struct fakedev {
	struct fakedev_opts o;
	char path[108];
	int lfd, stop_pipe[2];
	pthread_t th;
	uint64_t violations;
	int sessions;
	/* Session. */
	int cfd;
	uint8_t *mem;
	size_t mem_size;
	uint64_t uaddr;
	uint64_t features;
	struct fq q[2];
	struct flow fl[NFLOWS];
	struct virtio_vsock_hdr reply[NREPLY];
	int nreply;
};

static void *gpa(struct fakedev *f, uint64_t a, uint32_t len)
{
	if (a >= f->mem_size || len > f->mem_size - a)
		return NULL;
	return f->mem + a;
}

static void *uva(struct fakedev *f, uint64_t a)
{
	return a >= f->uaddr && a - f->uaddr < f->mem_size ? f->mem + (a - f->uaddr) : NULL;
}

static bool ei(const struct fakedev *f)
{
	return f->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
}

static void push_used(struct fakedev *f, struct fq *q, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = (struct vring_used_elem *)(q->used + 2);

	e[q->uidx & (q->size - 1)].id = htole32(head);
	e[q->uidx & (q->size - 1)].len = htole32(len);
	q->uidx++;
	__atomic_store_n(&q->used[1], htole16(q->uidx), __ATOMIC_RELEASE);
	(void)f;
}

static void signal_guest(struct fakedev *f, struct fq *q, uint16_t old)
{
	bool need;
	uint64_t one = 1;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (ei(f))
		need = vvfe_need_event(le16toh(q->avail[2 + q->size]), q->uidx, old);
	else
		need = !(le16toh(q->avail[0]) & VRING_AVAIL_F_NO_INTERRUPT);
	if (need && q->call >= 0 && write(q->call, &one, 8) < 0)
		return;
}

/* Who the device's vsock peer is: the host, or another guest. */
static uint64_t peer_cid(const struct fakedev *f)
{
	return f->o.peer_cid ? f->o.peer_cid : VVFE_HOST_CID;
}

static struct flow *find_flow(struct fakedev *f, uint32_t gport, uint32_t hport)
{
	for (int i = 0; i < NFLOWS; i++)
		if (f->fl[i].on && f->fl[i].gport == gport && f->fl[i].hport == hport)
			return &f->fl[i];
	return NULL;
}

static void queue_reply(struct fakedev *f, struct flow *fl, const struct virtio_vsock_hdr *in, uint16_t op)
{
	struct virtio_vsock_hdr *h = &f->reply[f->nreply++];

	memset(h, 0, sizeof(*h));
	h->src_cid = peer_cid(f);
	h->dst_cid = f->o.cid;
	h->src_port = in->dst_port;
	h->dst_port = in->src_port;
	h->type = fl ? fl->type : in->type;
	h->op = op;
	if (fl) {
		h->buf_alloc = f->o.buf_alloc;
		h->fwd_cnt = fl->fwd_cnt;
	}
}

static void handle_pkt(struct fakedev *f, const struct virtio_vsock_hdr *h, const uint8_t *pl)
{
	struct flow *fl = find_flow(f, h->src_port, h->dst_port);

	if (fl) {
		fl->peer_buf_alloc = h->buf_alloc;
		fl->peer_fwd_cnt = h->fwd_cnt;
	}
	switch (h->op) {
	case VIRTIO_VSOCK_OP_REQUEST:
		if (h->dst_port != FAKEDEV_ECHO_PORT || fl ||
		    (h->type != VIRTIO_VSOCK_TYPE_STREAM &&
		     !(h->type == VIRTIO_VSOCK_TYPE_SEQPACKET &&
		       (f->features & (1ull << VIRTIO_VSOCK_F_SEQPACKET))))) {
			queue_reply(f, NULL, h, VIRTIO_VSOCK_OP_RST);
			return;
		}
		for (int i = 0; i < NFLOWS; i++) {
			if (f->fl[i].on)
				continue;
			fl = &f->fl[i];
			memset(fl, 0, sizeof(*fl));
			fl->buf = malloc(f->o.buf_alloc);
			fl->on = fl->buf != NULL;
			fl->gport = h->src_port;
			fl->hport = h->dst_port;
			fl->type = h->type;
			fl->peer_buf_alloc = h->buf_alloc;
			fl->peer_fwd_cnt = h->fwd_cnt;
			queue_reply(f, fl, h, VIRTIO_VSOCK_OP_RESPONSE);
			return;
		}
		queue_reply(f, NULL, h, VIRTIO_VSOCK_OP_RST);
		return;
	case VIRTIO_VSOCK_OP_RW:
		if (!fl) {
			queue_reply(f, NULL, h, VIRTIO_VSOCK_OP_RST);
			return;
		}
		if (fl->tail - fl->head + h->len > f->o.buf_alloc) {
			f->violations++;
			return;
		}
		for (uint32_t i = 0; i < h->len; i++)
			fl->buf[(fl->tail + i) % f->o.buf_alloc] = pl[i];
		fl->tail += h->len;
		if (fl->type == VIRTIO_VSOCK_TYPE_SEQPACKET && (h->flags & VIRTIO_VSOCK_SEQ_EOM)) {
			uint32_t k = (fl->end_head + fl->end_n) % NENDS;

			if (fl->end_n == NENDS)
				abort(); /* more whole messages than the test needs */
			fl->end[k] = fl->tail;
			fl->end_flags[k] = h->flags & (VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR);
			fl->end_n++;
		}
		return;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		if (fl)
			queue_reply(f, fl, h, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
		return;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (fl && (h->flags & 3) == 3) {
			queue_reply(f, fl, h, VIRTIO_VSOCK_OP_RST);
			free(fl->buf);
			fl->on = false;
		}
		return;
	case VIRTIO_VSOCK_OP_RST:
		if (fl) {
			free(fl->buf);
			fl->on = false;
		}
		return;
	default:
		return;
	}
}

/* Gather one tx chain into buf; returns bytes or -1. */
static int gather(struct fakedev *f, struct fq *q, uint16_t head, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	uint16_t i = head;

	for (int k = 0; k < q->size; k++) {
		struct vring_desc *d = &q->desc[i];
		uint32_t len = le32toh(d->len);
		void *p = gpa(f, le64toh(d->addr), len);

		if (p == NULL || n + len > cap || (le16toh(d->flags) & VRING_DESC_F_WRITE))
			return -1;
		memcpy(buf + n, p, len);
		n += len;
		if (!(le16toh(d->flags) & VRING_DESC_F_NEXT))
			return (int)n;
		i = le16toh(d->next) & (q->size - 1);
	}
	return -1;
}

static void process_tx(struct fakedev *f)
{
	static uint8_t buf[VVFE_HDR_LEN + (1u << 20)];
	struct fq *q = &f->q[1];
	uint16_t old = q->uidx;

	if (!q->ready)
		return;
	for (;;) {
		uint16_t avail = le16toh(__atomic_load_n(&q->avail[1], __ATOMIC_ACQUIRE));

		if (q->last_avail == avail) {
			/* Re-arm and look once more, as a device must. */
			if (ei(f))
				q->used[2 + 4 * q->size] = htole16(q->last_avail);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (q->last_avail == le16toh(q->avail[1]))
				break;
			continue;
		}
		if (f->nreply > NREPLY - 4)
			break; /* out of room for replies: stop taking tx */
		uint16_t head = le16toh(q->avail[2 + (q->last_avail & (q->size - 1))]);
		int n = gather(f, q, head, buf, sizeof(buf));
		struct virtio_vsock_hdr h;

		q->last_avail++;
		if (n >= VVFE_HDR_LEN) {
			vvfe_hdr_decode(buf, &h);
			if (h.len <= (uint32_t)n - VVFE_HDR_LEN && h.src_cid == f->o.cid &&
			    h.dst_cid == peer_cid(f))
				handle_pkt(f, &h, buf + VVFE_HDR_LEN);
		}
		push_used(f, q, head, 0);
	}
	signal_guest(f, q, old);
}

/* Write one packet into the next rx chain; false if none. */
static bool put_rx(struct fakedev *f, const struct virtio_vsock_hdr *h, const uint8_t *pl, uint32_t cap_needed)
{
	struct fq *q = &f->q[0];
	uint8_t hb[VVFE_HDR_LEN];
	uint16_t avail = le16toh(__atomic_load_n(&q->avail[1], __ATOMIC_ACQUIRE));
	uint32_t total = VVFE_HDR_LEN + h->len, off = 0;
	uint16_t head, i;

	(void)cap_needed;
	if (q->last_avail == avail)
		return false;
	head = le16toh(q->avail[2 + (q->last_avail & (q->size - 1))]);
	vvfe_hdr_encode(h, hb);
	i = head;
	for (int k = 0; k < q->size && off < total; k++) {
		struct vring_desc *d = &q->desc[i];
		uint32_t len = le32toh(d->len), n;
		uint8_t *p = gpa(f, le64toh(d->addr), len);

		if (p == NULL || !(le16toh(d->flags) & VRING_DESC_F_WRITE))
			abort();
		n = total - off < len ? total - off : len;
		for (uint32_t b = 0; b < n; b++, off++)
			p[b] = off < VVFE_HDR_LEN ? hb[off] : pl[off - VVFE_HDR_LEN];
		if (!(le16toh(d->flags) & VRING_DESC_F_NEXT))
			break;
		i = le16toh(d->next) & (q->size - 1);
	}
	if (off < total)
		abort(); /* the guest gave a buffer smaller than a packet we size for it */
	q->last_avail++;
	push_used(f, q, head, total);
	return true;
}

static uint32_t rx_capacity(struct fakedev *f)
{
	struct fq *q = &f->q[0];
	uint16_t head = le16toh(q->avail[2 + (q->last_avail & (q->size - 1))]), i = head;
	uint32_t cap = 0;

	for (int k = 0; k < q->size; k++) {
		cap += le32toh(q->desc[i].len);
		if (!(le16toh(q->desc[i].flags) & VRING_DESC_F_NEXT))
			break;
		i = le16toh(q->desc[i].next) & (q->size - 1);
	}
	return cap;
}

static void process_rx(struct fakedev *f)
{
	static uint8_t pl[1u << 20];
	struct fq *q = &f->q[0];
	uint16_t old = q->uidx;
	int r = 0;

	if (!q->ready)
		return;
	while (r < f->nreply && put_rx(f, &f->reply[r], NULL, 0))
		r++;
	memmove(f->reply, f->reply + r, sizeof(f->reply[0]) * (size_t)(f->nreply - r));
	f->nreply -= r;
	for (int i = 0; i < NFLOWS && f->nreply == 0; i++) {
		struct flow *fl = &f->fl[i];

		while (fl->on && fl->tail != fl->head) {
			uint16_t avail = le16toh(__atomic_load_n(&q->avail[1], __ATOMIC_ACQUIRE));
			uint32_t credit = vvfe_credit(fl->peer_buf_alloc, fl->peer_fwd_cnt, fl->tx_cnt);
			uint32_t n = fl->tail - fl->head, flags = 0;
			struct virtio_vsock_hdr h;

			if (fl->type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
				/* Only whole messages go back, a packet never
				 * straddles the end of one. */
				if (fl->end_n == 0)
					break;
				n = fl->end[fl->end_head] - fl->head;
			}
			if (q->last_avail == avail || credit == 0)
				break;
			if (n > credit)
				n = credit;
			if (n > rx_capacity(f) - VVFE_HDR_LEN)
				n = rx_capacity(f) - VVFE_HDR_LEN;
			if (fl->type == VIRTIO_VSOCK_TYPE_SEQPACKET &&
			    fl->head + n == fl->end[fl->end_head]) {
				flags = fl->end_flags[fl->end_head];
				fl->end_head = (fl->end_head + 1) % NENDS;
				fl->end_n--;
			}
			for (uint32_t b = 0; b < n; b++)
				pl[b] = fl->buf[(fl->head + b) % f->o.buf_alloc];
			fl->head += n;
			fl->fwd_cnt += n;
			memset(&h, 0, sizeof(h));
			h.src_cid = peer_cid(f);
			h.dst_cid = f->o.cid;
			h.src_port = fl->hport;
			h.dst_port = fl->gport;
			h.len = n;
			h.type = fl->type;
			h.op = VIRTIO_VSOCK_OP_RW;
			h.flags = flags;
			h.buf_alloc = f->o.buf_alloc;
			h.fwd_cnt = fl->fwd_cnt;
			put_rx(f, &h, pl, 0);
			fl->tx_cnt += n;
		}
	}
	if (ei(f))
		q->used[2 + 4 * q->size] = htole16(q->last_avail);
	signal_guest(f, q, old);
}

static void end_session(struct fakedev *f)
{
	for (int i = 0; i < 2; i++) {
		if (f->q[i].kick >= 0)
			close(f->q[i].kick);
		if (f->q[i].call >= 0)
			close(f->q[i].call);
		memset(&f->q[i], 0, sizeof(f->q[i]));
		f->q[i].kick = f->q[i].call = -1;
	}
	for (int i = 0; i < NFLOWS; i++) {
		if (f->fl[i].on)
			free(f->fl[i].buf);
		f->fl[i].on = false;
	}
	if (f->mem)
		munmap(f->mem, f->mem_size);
	f->mem = NULL;
	f->nreply = 0;
	close(f->cfd);
	f->cfd = -1;
}

static int recv_msg(int fd, uint32_t *hdr, uint8_t *pl, int *fds, int *nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr a;
	} u;
	struct iovec iov = {hdr, 12};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			    .msg_controllen = sizeof(u.b)};
	ssize_t n = recvmsg(fd, &mh, MSG_WAITALL);

	*nfds = 0;
	if (n != 12)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_type == SCM_RIGHTS) {
			*nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)*nfds);
		}
	if (hdr[2] > 512 || (hdr[2] && recv(fd, pl, hdr[2], MSG_WAITALL) != (ssize_t)hdr[2]))
		return -1;
	return 0;
}

static void reply(struct fakedev *f, uint32_t req, const void *pl, uint32_t size)
{
	uint32_t hdr[3] = {req, 0x1 | 0x4, size};
	uint8_t b[12 + 512];

	memcpy(b, hdr, 12);
	memcpy(b + 12, pl, size);
	if (send(f->cfd, b, 12 + size, MSG_NOSIGNAL) < 0)
		return;
}

/* One vhost-user message. Returns -1 to end the session. */
static int handle_msg(struct fakedev *f)
{
	uint32_t hdr[3];
	uint8_t pl[512];
	int fds[8], nfds;
	uint64_t u;
	bool replied = false;

	if (recv_msg(f->cfd, hdr, pl, fds, &nfds) < 0)
		return -1;
	memcpy(&u, pl, 8);
	switch (hdr[0]) {
	case 1: /* GET_FEATURES */
		u = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
		if (!f->o.no_event_idx)
			u |= 1ull << VIRTIO_RING_F_EVENT_IDX;
		if (f->o.seqpacket)
			u |= 1ull << VIRTIO_VSOCK_F_SEQPACKET;
		reply(f, 1, &u, 8);
		replied = true;
		break;
	case 2: /* SET_FEATURES */
		f->features = u;
		break;
	case 15: /* GET_PROTOCOL_FEATURES */
		u = (1ull << VHOST_USER_PROTOCOL_F_CONFIG) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
		reply(f, 15, &u, 8);
		replied = true;
		break;
	case 24: { /* GET_CONFIG */
		uint32_t c[5] = {0, 8, 0, (uint32_t)f->o.cid, (uint32_t)(f->o.cid >> 32)};

		reply(f, 24, c, 20);
		replied = true;
		break;
	}
	case 5: { /* SET_MEM_TABLE: one region */
		uint64_t r[4];

		memcpy(r, pl + 8, sizeof(r));
		f->mem_size = r[1];
		f->uaddr = r[2];
		f->mem = mmap(NULL, r[1], PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
		close(fds[0]);
		if (f->mem == MAP_FAILED)
			return -1;
		break;
	}
	case 8: /* SET_VRING_NUM */
		f->q[pl[0] & 1].size = (uint16_t)(pl[4] | pl[5] << 8);
		break;
	case 9: { /* SET_VRING_ADDR */
		uint32_t idx;
		uint64_t a[4];

		memcpy(&idx, pl, 4);
		memcpy(a, pl + 8, sizeof(a));
		f->q[idx & 1].desc = uva(f, a[0]);
		f->q[idx & 1].used = uva(f, a[1]);
		f->q[idx & 1].avail = uva(f, a[2]);
		break;
	}
	case 10: /* SET_VRING_BASE */
		f->q[pl[0] & 1].last_avail = (uint16_t)(pl[4] | pl[5] << 8);
		f->q[pl[0] & 1].uidx = f->q[pl[0] & 1].last_avail;
		break;
	case 11: { /* GET_VRING_BASE */
		uint32_t st[2] = {pl[0], f->q[pl[0] & 1].last_avail};

		f->q[pl[0] & 1].ready = false;
		reply(f, 11, st, 8);
		replied = true;
		break;
	}
	case 12: /* SET_VRING_KICK */
		f->q[u & 1].kick = nfds ? fds[0] : -1;
		break;
	case 13: /* SET_VRING_CALL */
		f->q[u & 1].call = nfds ? fds[0] : -1;
		break;
	case 18: /* SET_VRING_ENABLE */
		f->q[pl[0] & 1].ready = pl[4] != 0;
		break;
	default: /* SET_OWNER, SET_PROTOCOL_FEATURES, ... */
		break;
	}
	if ((hdr[1] & 0x8) && !replied) {
		u = 0;
		reply(f, hdr[0], &u, 8);
	}
	return 0;
}

static void *serve(void *arg)
{
	struct fakedev *f = arg;

	for (;;) {
		struct pollfd p[2] = {{f->lfd, POLLIN, 0}, {f->stop_pipe[0], POLLIN, 0}};

		if (poll(p, 2, -1) < 0 || p[1].revents)
			return NULL;
		f->cfd = accept(f->lfd, NULL, NULL);
		if (f->cfd < 0)
			continue;
		__atomic_add_fetch(&f->sessions, 1, __ATOMIC_SEQ_CST);
		for (;;) {
			struct pollfd s[4] = {{f->cfd, POLLIN, 0},
					      {f->stop_pipe[0], POLLIN, 0},
					      {f->q[0].kick, POLLIN, 0},
					      {f->q[1].kick, POLLIN, 0}};
			uint64_t v;

			if (poll(s, 4, -1) < 0)
				break;
			if (s[1].revents) {
				end_session(f);
				return NULL;
			}
			if (s[0].revents && handle_msg(f) < 0)
				break;
			if (s[2].revents && read(f->q[0].kick, &v, 8) < 0)
				break;
			if (s[3].revents && read(f->q[1].kick, &v, 8) < 0)
				break;
			if (s[2].revents || s[3].revents) {
				process_tx(f);
				process_rx(f);
			}
		}
		end_session(f);
	}
}

struct fakedev *fakedev_start(const struct fakedev_opts *o)
{
	struct fakedev *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	static int seq;

	if (f == NULL)
		return NULL;
	f->o = *o;
	f->cfd = -1;
	f->q[0].kick = f->q[0].call = f->q[1].kick = f->q[1].call = -1;
	snprintf(f->path, sizeof(f->path), "/tmp/vvfe-fake-%d-%d.sock", (int)getpid(),
		 __atomic_add_fetch(&seq, 1, __ATOMIC_SEQ_CST));
	unlink(f->path);
	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(f->lfd, 4) < 0 || pipe(f->stop_pipe) < 0 ||
	    pthread_create(&f->th, NULL, serve, f) != 0) {
		free(f);
		return NULL;
	}
	return f;
}

const char *fakedev_path(const struct fakedev *f)
{
	return f->path;
}

uint64_t fakedev_violations(const struct fakedev *f)
{
	return f->violations;
}

int fakedev_sessions(const struct fakedev *f)
{
	return __atomic_load_n(&f->sessions, __ATOMIC_SEQ_CST);
}

void fakedev_stop(struct fakedev *f)
{
	if (write(f->stop_pipe[1], "x", 1) < 0)
		return;
	pthread_join(f->th, NULL);
	close(f->lfd);
	close(f->stop_pipe[0]);
	close(f->stop_pipe[1]);
	unlink(f->path);
	free(f);
}
