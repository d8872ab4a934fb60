/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A hostile vhost-user front-end: each case sends what QEMU never would
 * (short memory files, inflight fds, pipes as notifiers, floods, missing
 * payloads, memory truncated under a running device...) and records what
 * the backend did about it: close the connection, and how fast; for cases
 * with a running stream, whether the host end of it closed too. Nothing
 * here decides pass or fail; vv-frontend's vuhostile mode does.
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

#define KIB 1024u
#define MIB (1024u * 1024u)
/* Raw connections' guest memory: rings at 0 and 64 KiB, 4 MiB in all. */
#define RAW_MEM (4u * MIB)
#define RAW_QSIZE 64u

static const char *const names[VVFE_VUH_COUNT] = {
	[VVFE_VUH_MEM_SHORT] = "mem_short",
	[VVFE_VUH_MEM_OFFSET_END] = "mem_offset_end",
	[VVFE_VUH_MEM_TX_PAST_END] = "mem_tx_past_end",
	[VVFE_VUH_MEM_OVERLAP] = "mem_overlap",
	[VVFE_VUH_MEM_WRAP] = "mem_wrap",
	[VVFE_VUH_MEM_TOO_MANY] = "mem_too_many",
	[VVFE_VUH_MEM_SIZE_ZERO] = "mem_size_zero",
	[VVFE_VUH_MEM_BAD_FD] = "mem_bad_fd",
	[VVFE_VUH_MEM_HUGE] = "mem_huge",
	[VVFE_VUH_INFLIGHT_FD] = "inflight_fd",
	[VVFE_VUH_GET_INFLIGHT_FD] = "get_inflight_fd",
	[VVFE_VUH_POSTCOPY] = "postcopy",
	[VVFE_VUH_CALL_PIPE] = "call_pipe",
	[VVFE_VUH_KICK_PIPE] = "kick_pipe",
	[VVFE_VUH_UNKNOWN_REQUEST] = "unknown_request",
	[VVFE_VUH_BAD_FLAGS] = "bad_flags",
	[VVFE_VUH_BAD_SIZE] = "bad_size",
	[VVFE_VUH_FD_COUNT] = "fd_count",
	[VVFE_VUH_RING_OUTSIDE] = "ring_outside",
	[VVFE_VUH_VRING_NUM] = "vring_num",
	[VVFE_VUH_VRING_INDEX] = "vring_index",
	[VVFE_VUH_FEATURES] = "features",
	[VVFE_VUH_GET_CONFIG] = "get_config",
	[VVFE_VUH_MISSING_PAYLOAD] = "missing_payload",
	[VVFE_VUH_REPLY_FLOOD] = "reply_flood",
	[VVFE_VUH_CONN_FLOOD] = "conn_flood",
	[VVFE_VUH_FLOOD_CLOSE] = "flood_close",
	[VVFE_VUH_REMAP_REFUSED] = "remap_refused",
	[VVFE_VUH_REMAP_RINGS_GONE] = "remap_rings_gone",
	[VVFE_VUH_TRUNCATE_RUNNING] = "truncate_running",
	[VVFE_VUH_TRUNCATE_TX_HDR] = "truncate_tx_hdr",
};

const char *vvfe_vuhostile_name(enum vvfe_vuhostile c)
{
	return (unsigned int)c < VVFE_VUH_COUNT ? names[c] : NULL;
}

int vvfe_vuhostile_from_name(const char *name)
{
	return vvfe_name_index(names, VVFE_VUH_COUNT, name);
}

/* ------------------------------------------------------------ raw front-end */

struct raw {
	int sock;
	int memfd;
	uint8_t *mem;
	uint64_t proto;
};

static int uds_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int memfd_of(size_t size)
{
	int fd = memfd_create("vvfe-hostile", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void raw_close(struct raw *r)
{
	if (r->sock >= 0)
		close(r->sock);
	if (r->mem)
		munmap(r->mem, RAW_MEM);
	if (r->memfd >= 0)
		close(r->memfd);
	memset(r, 0, sizeof(*r));
	r->sock = r->memfd = -1;
}

static int raw_open(struct raw *r, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->memfd = -1;
	r->sock = uds_connect(path);
	if (r->sock < 0)
		return r->sock;
	r->memfd = memfd_of(RAW_MEM);
	if (r->memfd < 0)
		goto fail;
	r->mem = mmap(NULL, RAW_MEM, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
	if (r->mem == MAP_FAILED) {
		r->mem = NULL;
		goto fail;
	}
	return 0;
fail:
	raw_close(r);
	return -ENOMEM;
}

static int raw_send(struct raw *r, uint32_t req, const void *pl, uint32_t size, const int *fds,
		    int nfds)
{
	return vvfe_vu_sendmsg(r->sock, req, VU_VERSION, pl, size, fds, nfds);
}

static int raw_get(struct raw *r, uint32_t req, uint64_t *v)
{
	uint32_t hdr[3];
	int e = raw_send(r, req, NULL, 0, NULL, 0);

	if (e == 0)
		e = vvfe_vu_read(r->sock, hdr, sizeof(hdr), 2000);
	if (e == 0 && (hdr[0] != req || hdr[2] != 8))
		e = -EPROTO;
	if (e == 0)
		e = vvfe_vu_read(r->sock, v, 8, 2000);
	return e;
}

/* What QEMU does before it sends memory: features, protocol features
 * (CONFIG only, no REPLY_ACK: a refusal shows as a closed connection). */
static int raw_negotiate(struct raw *r)
{
	uint64_t f, pf, want;
	int e = raw_get(r, VHOST_USER_GET_FEATURES, &f);

	if (e == 0)
		e = raw_get(r, VHOST_USER_GET_PROTOCOL_FEATURES, &pf);
	if (e < 0)
		return e;
	r->proto = pf & (1ull << VHOST_USER_PROTOCOL_F_CONFIG);
	want = f & ((1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
	e = raw_send(r, VHOST_USER_SET_PROTOCOL_FEATURES, &r->proto, 8, NULL, 0);
	if (e == 0)
		e = raw_send(r, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0);
	if (e == 0)
		e = raw_send(r, VHOST_USER_SET_FEATURES, &want, 8, NULL, 0);
	return e;
}

struct region {
	uint64_t gpa, size, uaddr, off;
};

static int raw_table(struct raw *r, uint32_t n, const struct region *rg, const int *fds,
		     int nfds)
{
	uint8_t pl[8 + 9 * 32];

	memset(pl, 0, sizeof(pl));
	memcpy(pl, &n, 4);
	for (uint32_t i = 0; i < n && i < 9; i++)
		memcpy(pl + 8 + 32 * i, &rg[i], 32);
	return raw_send(r, VHOST_USER_SET_MEM_TABLE, pl, 8 + 32 * (n < 9 ? n : 9), fds, nfds);
}

/* The one good region: all of the raw memory at gpa 0. */
static int raw_good_table(struct raw *r)
{
	struct region rg = {0, RAW_MEM, (uint64_t)(uintptr_t)r->mem, 0};

	return raw_table(r, 1, &rg, &r->memfd, 1);
}

static int raw_state(struct raw *r, uint32_t req, uint32_t idx, uint32_t num)
{
	uint32_t st[2] = {idx, num};

	return raw_send(r, req, st, sizeof(st), NULL, 0);
}

static int raw_vring_fd(struct raw *r, uint32_t req, uint64_t u, int fd)
{
	return raw_send(r, req, &u, 8, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
}

static int raw_addr(struct raw *r, uint32_t idx, uint64_t desc, uint64_t used, uint64_t avail)
{
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} a = {idx, 0, desc, used, avail, 0};

	return raw_send(r, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

/* Rings of RAW_QSIZE at 0 (rx) and 64 KiB (tx), with eventfds. */
static int raw_rings(struct raw *r)
{
	struct vvfe_vring_layout l;
	int e = 0;

	vvfe_vring_layout(RAW_QSIZE, &l);
	for (uint32_t q = 0; q < 2 && e == 0; q++) {
		uint64_t base = (uint64_t)(uintptr_t)r->mem + q * 64u * KIB;
		int kfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		int cfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		e = raw_state(r, VHOST_USER_SET_VRING_NUM, q, RAW_QSIZE);
		if (e == 0)
			e = raw_state(r, VHOST_USER_SET_VRING_BASE, q, 0);
		if (e == 0)
			e = raw_addr(r, q, base + l.desc, base + l.used, base + l.avail);
		if (e == 0)
			e = raw_vring_fd(r, VHOST_USER_SET_VRING_KICK, q, kfd);
		if (e == 0)
			e = raw_vring_fd(r, VHOST_USER_SET_VRING_CALL, q, cfd);
		close(kfd);
		close(cfd);
	}
	return e;
}

static uint64_t now_ms(void)
{
	return vvfe_now_ns() / 1000000u;
}

/*
 * Wait until the backend closes sock (reading and dropping any replies).
 * @return milliseconds it took, or -1 if still open after ms.
 */
static int wait_closed(int sock, int ms)
{
	uint64_t t0 = now_ms(), end = t0 + (uint64_t)ms;
	char buf[4096];

	for (;;) {
		uint64_t now = now_ms();
		struct pollfd p = {.fd = sock, .events = POLLIN};
		ssize_t n;

		if (now >= end)
			return -1;
		if (poll(&p, 1, (int)(end - now)) <= 0)
			continue;
		n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return (int)(now_ms() - t0);
	}
}

/* Close time of a connection that misbehaved right after it was set up
 * to level prep (0: nothing, 1: negotiated, 2: + memory, 3: + rings). */
enum prep { P_NONE, P_NEGOTIATED, P_MEMORY, P_RINGS };

static int raw_prep(struct raw *r, const char *path, enum prep p)
{
	int e = raw_open(r, path);

	if (e == 0 && p >= P_NEGOTIATED)
		e = raw_negotiate(r);
	if (e == 0 && p >= P_MEMORY)
		e = raw_good_table(r);
	if (e == 0 && p >= P_RINGS)
		e = raw_rings(r);
	return e;
}

/* One bad message on a fresh connection; the result gathers the variants. */
struct variants {
	struct vvfe_vuh_result *res;
	int n, closed, worst_ms;
	char *note;
	size_t note_len;
};

static void variant_done(struct variants *v, struct raw *r, int wait_ms, const char *what)
{
	int ms = wait_closed(r->sock, wait_ms);
	size_t used = strlen(v->note);

	v->n++;
	if (ms >= 0) {
		v->closed++;
		if (ms > v->worst_ms)
			v->worst_ms = ms;
	}
	if (ms < 0 && used + strlen(what) + 16 < v->note_len)
		snprintf(v->note + used, v->note_len - used, "%s%s stayed open", used ? "; " : "",
			 what);
	raw_close(r);
}

static void variants_finish(struct variants *v)
{
	v->res->closed = v->n > 0 && v->closed == v->n;
	v->res->close_ms = v->res->closed ? v->worst_ms : -1;
	if (v->note[0] == '\0')
		snprintf(v->note, v->note_len, "%d of %d connections closed, slowest in %d ms",
			 v->closed, v->n, v->worst_ms);
}

static int mem_case(struct variants *v, const char *path, int wait_ms, enum vvfe_vuhostile c)
{
	struct raw r;
	struct region rg[9];
	int fds[9], nfds = 1, e, fd = -1;
	uint32_t n = 1;

	e = raw_prep(&r, path, P_NEGOTIATED);
	if (e < 0)
		return e;
	memset(rg, 0, sizeof(rg));
	rg[0] = (struct region){0, RAW_MEM, (uint64_t)(uintptr_t)r.mem, 0};
	fds[0] = r.memfd;
	switch (c) {
	case VVFE_VUH_MEM_SHORT:
	case VVFE_VUH_MEM_TX_PAST_END:
		/* The memfd of 192 KiB behind a 4 MiB region. */
		fd = memfd_of(192 * KIB);
		fds[0] = fd;
		break;
	case VVFE_VUH_MEM_OFFSET_END:
		rg[0].off = RAW_MEM;
		rg[0].size = 4096;
		break;
	case VVFE_VUH_MEM_OVERLAP:
		n = 2;
		nfds = 2;
		fds[1] = r.memfd;
		rg[1] = (struct region){2 * MIB, MIB, rg[0].uaddr + 8 * MIB, 0};
		break;
	case VVFE_VUH_MEM_WRAP:
		rg[0].gpa = UINT64_MAX - MIB;
		break;
	case VVFE_VUH_MEM_TOO_MANY:
		/* Nine regions; the socket carries at most 8 fds per message. */
		n = 9;
		nfds = 8;
		for (int i = 0; i < 9; i++) {
			rg[i] = (struct region){(uint64_t)i * 4096, 4096,
						rg[0].uaddr + (uint64_t)i * 4096, (uint64_t)i * 4096};
			fds[i] = r.memfd;
		}
		break;
	case VVFE_VUH_MEM_SIZE_ZERO:
		rg[0].size = 0;
		break;
	case VVFE_VUH_MEM_BAD_FD: {
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0)
			return -errno;
		close(p[1]);
		fd = p[0];
		fds[0] = fd;
		break;
	}
	case VVFE_VUH_MEM_HUGE:
		rg[0].size = 1ull << 62;
		break;
	default:
		break;
	}
	e = raw_table(&r, n, rg, fds, nfds);
	if (e == 0 && c == VVFE_VUH_MEM_SHORT) {
		/* QEMU would go on with the rings; rte_vhost 22.11 touched the
		 * short file here (SIGBUS in translate_ring_addresses). */
		raw_rings(&r);
	}
	if (fd >= 0)
		close(fd);
	variant_done(v, &r, wait_ms, names[c]);
	return 0;
}

/* SET_INFLIGHT_FD as in the issue: 4 KiB memfd, 256 queues of 65535. */
static int inflight_case(struct variants *v, const char *path, int wait_ms, bool get)
{
	struct {
		uint64_t mmap_size, mmap_offset;
		uint16_t num_queues, queue_size;
	} in = {4096, 0, 256, 65535};
	struct raw r;
	int fd, e = raw_prep(&r, path, P_NONE);

	if (e < 0)
		return e;
	fd = memfd_of(4096);
	e = raw_send(&r, get ? VHOST_USER_GET_INFLIGHT_FD : VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in),
		     get ? NULL : &fd, get ? 0 : 1);
	close(fd);
	variant_done(v, &r, wait_ms, get ? "GET_INFLIGHT_FD" : "SET_INFLIGHT_FD");
	return e;
}

/* A pipe nobody reads as a notifier, 576 times as in the issue. */
static int pipe_case(struct variants *v, const char *path, int wait_ms, uint32_t req)
{
	struct raw r;
	int p[2], e = raw_prep(&r, path, P_RINGS);

	if (e < 0)
		return e;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	for (int i = 0; i < 576 && e == 0; i++)
		e = raw_vring_fd(&r, req, (uint64_t)(i & 1), p[1]);
	close(p[0]);
	close(p[1]);
	variant_done(v, &r, wait_ms, req == VHOST_USER_SET_VRING_CALL ? "call pipe" : "kick pipe");
	return 0;
}

/* Each bad message of a kind on its own connection. */
static int message_variants(struct variants *v, const char *path, int wait_ms,
			    enum vvfe_vuhostile c)
{
	char what[48];
	int k = 0, e;

	for (;;) {
		struct raw r;
		uint64_t u;
		int efd;

		e = raw_prep(&r, path, c == VVFE_VUH_RING_OUTSIDE ? P_MEMORY : P_NEGOTIATED);
		if (e < 0)
			return e;
		efd = eventfd(0, EFD_CLOEXEC);
		switch (c) {
		case VVFE_VUH_UNKNOWN_REQUEST: {
			static const uint32_t reqs[] = {0, 23, 41, 99, 1000, 0x7fffffff};

			if (k >= 6)
				goto done;
			snprintf(what, sizeof(what), "request %u", reqs[k]);
			raw_send(&r, reqs[k], NULL, 0, NULL, 0);
			break;
		}
		case VVFE_VUH_BAD_FLAGS: {
			static const uint32_t flags[] = {0, 2, 3, VU_VERSION | 4, VU_VERSION | 0x100};
			uint32_t hdr[3];

			if (k >= 5)
				goto done;
			snprintf(what, sizeof(what), "flags %#x", flags[k]);
			hdr[0] = VHOST_USER_GET_FEATURES;
			hdr[1] = flags[k];
			hdr[2] = 0;
			if (send(r.sock, hdr, sizeof(hdr), MSG_NOSIGNAL) < 0)
				break;
			break;
		}
		case VVFE_VUH_BAD_SIZE:
			u = 0;
			if (k == 0) {
				snprintf(what, sizeof(what), "GET_FEATURES of 8 bytes");
				raw_send(&r, VHOST_USER_GET_FEATURES, &u, 8, NULL, 0);
			} else if (k == 1) {
				snprintf(what, sizeof(what), "SET_VRING_NUM of 4 bytes");
				raw_send(&r, VHOST_USER_SET_VRING_NUM, &u, 4, NULL, 0);
			} else if (k == 2) {
				uint32_t one = 1;

				snprintf(what, sizeof(what), "SET_MEM_TABLE of 8 bytes for 1 region");
				raw_send(&r, VHOST_USER_SET_MEM_TABLE, &one, 4, &r.memfd, 1);
			} else {
				goto done;
			}
			break;
		case VVFE_VUH_FD_COUNT:
			if (k == 0) {
				snprintf(what, sizeof(what), "GET_FEATURES with an fd");
				raw_send(&r, VHOST_USER_GET_FEATURES, NULL, 0, &efd, 1);
			} else if (k == 1) {
				snprintf(what, sizeof(what), "SET_VRING_KICK without fd");
				raw_vring_fd(&r, VHOST_USER_SET_VRING_KICK, 0, -1);
			} else if (k == 2) {
				struct region rg[2] = {{0, MIB, (uint64_t)(uintptr_t)r.mem, 0},
						       {2 * MIB, MIB, (uint64_t)(uintptr_t)r.mem + 2 * MIB,
							2 * MIB}};

				snprintf(what, sizeof(what), "2 regions, 1 fd");
				raw_table(&r, 2, rg, &r.memfd, 1);
			} else if (k == 3) {
				int two[2] = {efd, efd};

				snprintf(what, sizeof(what), "SET_VRING_CALL with 2 fds");
				raw_send(&r, VHOST_USER_SET_VRING_CALL, &(uint64_t){0}, 8, two, 2);
			} else {
				goto done;
			}
			break;
		case VVFE_VUH_RING_OUTSIDE: {
			uint64_t out = (uint64_t)(uintptr_t)r.mem + RAW_MEM + 64 * KIB;
			uint64_t in = (uint64_t)(uintptr_t)r.mem;

			if (k >= 3)
				goto done;
			raw_state(&r, VHOST_USER_SET_VRING_NUM, 0, RAW_QSIZE);
			snprintf(what, sizeof(what), "%s outside memory",
				 k == 0 ? "desc" : k == 1 ? "used" : "avail");
			raw_addr(&r, 0, k == 0 ? out : in, k == 1 ? out : in + 8 * KIB,
				 k == 2 ? out : in + 4 * KIB);
			break;
		}
		case VVFE_VUH_VRING_NUM: {
			static const uint32_t nums[] = {0, 3, 65536};

			if (k >= 3)
				goto done;
			snprintf(what, sizeof(what), "SET_VRING_NUM %u", nums[k]);
			raw_state(&r, VHOST_USER_SET_VRING_NUM, 0, nums[k]);
			break;
		}
		case VVFE_VUH_VRING_INDEX: {
			static const uint32_t idx[] = {2, 3, 255};

			if (k >= 6)
				goto done;
			snprintf(what, sizeof(what), "%s index %u", k < 3 ? "SET_VRING_NUM" : "SET_VRING_CALL",
				 idx[k % 3]);
			if (k < 3)
				raw_state(&r, VHOST_USER_SET_VRING_NUM, idx[k], 64);
			else
				raw_vring_fd(&r, VHOST_USER_SET_VRING_CALL, idx[k % 3], efd);
			break;
		}
		case VVFE_VUH_FEATURES:
			if (k == 0) {
				u = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_IN_ORDER);
				snprintf(what, sizeof(what), "SET_FEATURES %#llx", (unsigned long long)u);
				raw_send(&r, VHOST_USER_SET_FEATURES, &u, 8, NULL, 0);
			} else if (k == 1) {
				u = (1ull << VIRTIO_F_VERSION_1) | (1ull << 33); /* ACCESS_PLATFORM */
				snprintf(what, sizeof(what), "SET_FEATURES %#llx", (unsigned long long)u);
				raw_send(&r, VHOST_USER_SET_FEATURES, &u, 8, NULL, 0);
			} else if (k == 2) {
				u = 1ull << 12; /* INFLIGHT_SHMFD */
				snprintf(what, sizeof(what), "SET_PROTOCOL_FEATURES %#llx",
					 (unsigned long long)u);
				raw_send(&r, VHOST_USER_SET_PROTOCOL_FEATURES, &u, 8, NULL, 0);
			} else {
				goto done;
			}
			break;
		case VVFE_VUH_GET_CONFIG: {
			static const uint32_t cfg[][2] = {{0, 0}, {256, 8}, {250, 8}, {0, 257}};
			uint32_t pl[3 + 66];

			if (k >= 5)
				goto done;
			memset(pl, 0, sizeof(pl));
			if (k < 4) {
				pl[0] = cfg[k][0];
				pl[1] = cfg[k][1];
				snprintf(what, sizeof(what), "GET_CONFIG %u bytes at %u", pl[1], pl[0]);
				raw_send(&r, VHOST_USER_GET_CONFIG, pl, 12 + 8, NULL, 0);
			} else {
				pl[1] = 8;
				snprintf(what, sizeof(what), "GET_CONFIG of 8 bytes for 8");
				raw_send(&r, VHOST_USER_GET_CONFIG, pl, 8, NULL, 0);
			}
			break;
		}
		case VVFE_VUH_POSTCOPY:
			if (k >= 3)
				goto done;
			snprintf(what, sizeof(what), "POSTCOPY_ADVISE #%d", k + 1);
			raw_send(&r, VHOST_USER_POSTCOPY_ADVISE, NULL, 0, NULL, 0);
			break;
		default:
			goto done;
		}
		close(efd);
		variant_done(v, &r, wait_ms, what);
		k++;
		continue;
done:
		close(efd);
		raw_close(&r);
		break;
	}
	return 0;
}

/* A header that announces 8 bytes of payload which never come. Meanwhile
 * a second front-end asks for the features: how long does it wait? */
static int missing_payload(struct variants *v, const char *path, int wait_ms)
{
	struct raw r, other;
	uint32_t hdr[3] = {VHOST_USER_SET_FEATURES, VU_VERSION, 8};
	uint64_t t0, f;
	int e = raw_prep(&r, path, P_NEGOTIATED), other_ms = -1;

	if (e < 0)
		return e;
	if (send(r.sock, hdr, sizeof(hdr), MSG_NOSIGNAL) < 0)
		return -errno;
	usleep(50 * 1000);
	t0 = now_ms();
	if (raw_open(&other, path) == 0) {
		if (raw_get(&other, VHOST_USER_GET_FEATURES, &f) == 0)
			other_ms = (int)(now_ms() - t0);
		raw_close(&other);
	}
	v->res->other_ms = other_ms;
	variant_done(v, &r, wait_ms + 2000, "missing payload");
	return 0;
}

/* Thousands of GET_FEATURES whose replies are never read. */
static int reply_flood(struct variants *v, const char *path, int wait_ms)
{
	struct raw r;
	int e = raw_prep(&r, path, P_NONE), sent = 0;
	struct timeval tv = {0, 200 * 1000};

	if (e < 0)
		return e;
	/* Our own send may block once the backend stops reading. */
	setsockopt(r.sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (sent < 20000 && raw_send(&r, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0) == 0)
		sent++;
	v->res->sent = (uint32_t)sent;
	/* Nothing is read: the backend must give up on us by itself. */
	{
		struct pollfd p = {.fd = r.sock, .events = POLLRDHUP};
		uint64_t t0 = now_ms();
		int ms = -1;

		while (now_ms() - t0 < (uint64_t)wait_ms + 2000) {
			if (poll(&p, 1, 50) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
				ms = (int)(now_ms() - t0);
				break;
			}
		}
		v->n++;
		if (ms >= 0) {
			v->closed++;
			v->worst_ms = ms;
		} else {
			snprintf(v->note, v->note_len, "still open after %d GET_FEATURES unread",
				 sent);
		}
		raw_close(&r);
	}
	return 0;
}

/* More connections than a VM may have: the surplus is closed at once. */
static int conn_flood(struct variants *v, const char *path, int wait_ms)
{
	int fds[10], closed = 0;

	for (int i = 0; i < 10; i++)
		fds[i] = uds_connect(path);
	usleep(200 * 1000);
	for (int i = 0; i < 10; i++) {
		if (fds[i] < 0 || wait_closed(fds[i], i < 4 ? 50 : wait_ms) >= 0)
			closed++;
	}
	for (int i = 0; i < 10; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	v->n = 1;
	v->closed = closed >= 6 ? 1 : 0;
	v->worst_ms = 0;
	snprintf(v->note, v->note_len, "%d of 10 idle connections closed by the backend", closed);
	return 0;
}

/* ------------------------------------------------------------ device cases */

/* Listen on <uds>_<port> for the host end of a guest stream. */
static int host_listen(const struct vvfe_vuh_opts *ho, char *path, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	snprintf(path, len, "%s_%u", ho->uds_path, ho->port);
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* A running device with one established stream and its host end. */
struct running {
	struct vvfe_dev *d;
	struct vvfe_stream *s;
	int lfd, host;
	char lpath[128];
};

static void running_close(struct running *rn)
{
	if (rn->d)
		vvfe_dev_free(rn->d);
	if (rn->host >= 0)
		close(rn->host);
	if (rn->lfd >= 0) {
		close(rn->lfd);
		unlink(rn->lpath);
	}
	memset(rn, 0, sizeof(*rn));
	rn->lfd = rn->host = -1;
}

static int running_open(struct running *rn, const struct vvfe_opts *o,
			const struct vvfe_vuh_opts *ho)
{
	uint64_t end;
	struct pollfd p;
	int e;

	memset(rn, 0, sizeof(*rn));
	rn->host = -1;
	rn->lfd = host_listen(ho, rn->lpath, sizeof(rn->lpath));
	if (rn->lfd < 0)
		return rn->lfd;
	rn->d = vvfe_dev_create(o);
	if (rn->d == NULL) {
		e = -errno;
		running_close(rn);
		return e;
	}
	e = vvfe_connect(rn->d, ho->port, &rn->s);
	end = vvfe_now_ns() + 5000ull * 1000000u;
	while (e == 0 && vvfe_stream_state(rn->s) == VVFE_CONNECTING && vvfe_now_ns() < end)
		if (vvfe_poll(rn->d, 10) < 0)
			e = -ENOTCONN;
	p = (struct pollfd){.fd = rn->lfd, .events = POLLIN};
	if (e == 0 && vvfe_stream_state(rn->s) == VVFE_ESTABLISHED && poll(&p, 1, 2000) == 1)
		rn->host = accept4(rn->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (e == 0 && rn->host < 0)
		e = -ECONNREFUSED;
	if (e < 0)
		running_close(rn);
	return e;
}

/* After the misbehaviour: the vhost-user connection and the stream's host
 * end must both close. */
static void running_watch(struct running *rn, struct vvfe_vuh_result *res, int wait_ms)
{
	uint64_t t0 = now_ms();
	int ms = wait_closed(rn->d->sock, wait_ms);

	res->closed = ms >= 0;
	res->close_ms = ms;
	ms = wait_closed(rn->host, wait_ms);
	res->host_eof = ms >= 0;
	res->host_eof_ms = ms >= 0 ? (int)(now_ms() - t0) : -1;
}

static int remap_case(struct vvfe_vuh_result *res, const struct vvfe_opts *o,
		      const struct vvfe_vuh_opts *ho, int wait_ms, bool rings_gone)
{
	struct running rn;
	struct region rg;
	int fd, e = running_open(&rn, o, ho);
	uint8_t *m;

	if (e < 0)
		return e;
	if (rings_gone) {
		/* A valid table whose one region no longer holds the rings:
		 * 1 MiB at front-end addresses nothing else uses. */
		fd = memfd_of(MIB);
		m = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		rg = (struct region){0, MIB, (uint64_t)(uintptr_t)m, 0};
	} else {
		/* The file is shorter than the region: refused. */
		fd = memfd_of(192 * KIB);
		m = MAP_FAILED;
		rg = (struct region){0, rn.d->mem_size, (uint64_t)(uintptr_t)rn.d->mem, 0};
	}
	{
		uint8_t pl[8 + 32];
		uint32_t n = 1;

		memset(pl, 0, sizeof(pl));
		memcpy(pl, &n, 4);
		memcpy(pl + 8, &rg, 32);
		e = vvfe_vu_sendmsg(rn.d->sock, VHOST_USER_SET_MEM_TABLE, VU_VERSION, pl, sizeof(pl), &fd, 1);
	}
	close(fd);
	if (e == 0)
		running_watch(&rn, res, wait_ms);
	if (m != MAP_FAILED)
		munmap(m, MIB);
	vvfe_dev_abort(rn.d);
	running_close(&rn);
	return e;
}

/* Guest RAM shrinks under a running device (memfd without F_SEAL_SHRINK):
 * all of it, or all but the rings, with a tx header past the new end. */
static int truncate_case(struct vvfe_vuh_result *res, const struct vvfe_opts *o,
			 const struct vvfe_vuh_opts *ho, int wait_ms, bool tx_hdr)
{
	struct vvfe_opts small = *o;
	struct running rn;
	size_t keep = 0;
	int e;

	/* Small rings and rx buffers: they fit below the scratch area, which
	 * is where the file is cut. */
	small.queue_size = 64;
	small.rx_buf_size = 256;
	e = running_open(&rn, &small, ho);
	if (e < 0)
		return e;
	if (tx_hdr) {
		struct vring_desc ds = {.addr = 2 * MIB, .len = VVFE_HDR_LEN, .flags = 0};
		uint16_t head;

		keep = rn.d->scratch_off;
		if (ftruncate(rn.d->memfd, (off_t)keep) < 0)
			e = -errno;
		/* Only ring memory is written: the header itself is gone. */
		if (e == 0)
			e = vvfe_tx_raw(rn.d, 1, &ds, NULL, &head);
		if (e == 0)
			vvfe_flush_kicks(rn.d);
	} else if (ftruncate(rn.d->memfd, 0) < 0) {
		e = -errno;
	}
	if (e == 0)
		running_watch(&rn, res, wait_ms);
	/* Give the file its size back before we touch our own mapping. */
	if (ftruncate(rn.d->memfd, (off_t)rn.d->mem_size) < 0)
		e = e ? e : -errno;
	snprintf(res->note, sizeof(res->note), "guest RAM cut to %zu bytes%s", keep,
		 tx_hdr ? ", tx header at 2 MiB" : "");
	vvfe_dev_abort(rn.d);
	running_close(&rn);
	return e;
}

/*
 * A running device; then hundreds of messages are queued and the
 * connection closed before the backend read them, as a QEMU that dies
 * mid-way. A correct front-end connecting right after must get the device.
 */
static int flood_close(struct vvfe_vuh_result *res, const struct vvfe_opts *o, int wait_ms)
{
	int rounds = 5, ok = 0, worst = 0;

	for (int i = 0; i < rounds; i++) {
		struct vvfe_dev *d = vvfe_dev_create(o), *next;
		uint64_t t0;
		int n = 100 + 50 * i;

		if (d == NULL)
			return -errno;
		for (int k = 0; k < n; k++) {
			uint32_t st[2] = {(uint32_t)(k & 1), 1};

			if (k % 3 == 0)
				vvfe_vu_sendmsg(d->sock, VHOST_USER_GET_FEATURES, VU_VERSION, NULL, 0, NULL, 0);
			else
				vvfe_vu_sendmsg(d->sock, VHOST_USER_SET_VRING_ENABLE, VU_VERSION, st, 8, NULL, 0);
		}
		vvfe_dev_abort(d);
		vvfe_dev_free(d);
		t0 = now_ms();
		next = vvfe_dev_create(o);
		if (next != NULL && vvfe_probe(next, 0x7ffffff0u, wait_ms) == 1) {
			ok++;
			if ((int)(now_ms() - t0) > worst)
				worst = (int)(now_ms() - t0);
		}
		vvfe_dev_free(next);
	}
	res->closed = ok == rounds;
	res->close_ms = worst;
	snprintf(res->note, sizeof(res->note),
		 "%d of %d correct front-ends served after one left 100-300 messages unread, "
		 "slowest in %d ms",
		 ok, rounds, worst);
	return 0;
}

int vvfe_vuhostile_run(enum vvfe_vuhostile c, const struct vvfe_opts *o,
		       const struct vvfe_vuh_opts *ho, int wait_ms, struct vvfe_vuh_result *res)
{
	struct variants v = {.res = res};
	const char *path = o->socket_path;
	int e = 0;

	memset(res, 0, sizeof(*res));
	res->close_ms = res->host_eof_ms = res->other_ms = -1;
	v.note = res->note;
	v.note_len = sizeof(res->note);
	switch (c) {
	case VVFE_VUH_MEM_SHORT:
	case VVFE_VUH_MEM_OFFSET_END:
	case VVFE_VUH_MEM_TX_PAST_END:
	case VVFE_VUH_MEM_OVERLAP:
	case VVFE_VUH_MEM_WRAP:
	case VVFE_VUH_MEM_TOO_MANY:
	case VVFE_VUH_MEM_SIZE_ZERO:
	case VVFE_VUH_MEM_BAD_FD:
	case VVFE_VUH_MEM_HUGE:
		e = mem_case(&v, path, wait_ms, c);
		break;
	case VVFE_VUH_INFLIGHT_FD:
	case VVFE_VUH_GET_INFLIGHT_FD:
		e = inflight_case(&v, path, wait_ms, c == VVFE_VUH_GET_INFLIGHT_FD);
		break;
	case VVFE_VUH_CALL_PIPE:
	case VVFE_VUH_KICK_PIPE:
		e = pipe_case(&v, path, wait_ms,
			      c == VVFE_VUH_CALL_PIPE ? VHOST_USER_SET_VRING_CALL : VHOST_USER_SET_VRING_KICK);
		break;
	case VVFE_VUH_MISSING_PAYLOAD:
		e = missing_payload(&v, path, wait_ms);
		break;
	case VVFE_VUH_REPLY_FLOOD:
		e = reply_flood(&v, path, wait_ms);
		break;
	case VVFE_VUH_CONN_FLOOD:
		e = conn_flood(&v, path, wait_ms);
		break;
	case VVFE_VUH_FLOOD_CLOSE:
		return flood_close(res, o, wait_ms);
	case VVFE_VUH_REMAP_REFUSED:
	case VVFE_VUH_REMAP_RINGS_GONE:
		return remap_case(res, o, ho, wait_ms, c == VVFE_VUH_REMAP_RINGS_GONE);
	case VVFE_VUH_TRUNCATE_RUNNING:
	case VVFE_VUH_TRUNCATE_TX_HDR:
		return truncate_case(res, o, ho, wait_ms, c == VVFE_VUH_TRUNCATE_TX_HDR);
	case VVFE_VUH_COUNT:
		return -EINVAL;
	default:
		e = message_variants(&v, path, wait_ms, c);
		break;
	}
	if (e < 0)
		return e;
	variants_finish(&v);
	return 0;
}
