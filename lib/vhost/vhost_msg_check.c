/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pre-validation of vhost-user messages (see vhost_msg_check.h). Every
 * field is read with memcpy: the fuzzer hands in unaligned buffers, and
 * rte_vhost's message context is packed. vhost-user numbers are in the
 * host's byte order, so no swapping.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vhost_msg_check.h"

static const char *const refusal_names[VV_REFUSE_MAX] = {
	[VV_REFUSE_REQUEST] = "request",
	[VV_REFUSE_HEADER] = "header",
	[VV_REFUSE_FDS] = "fds",
	[VV_REFUSE_FEATURES] = "features",
	[VV_REFUSE_MEM_TABLE] = "mem_table",
	[VV_REFUSE_MEM_FD] = "mem_fd",
	[VV_REFUSE_VRING] = "vring",
	[VV_REFUSE_NOTIFY_FD] = "notify_fd",
	[VV_REFUSE_CONFIG] = "config",
	[VV_REFUSE_CONN] = "connection",
};

const char *
vv_vhost_refusal_name(enum vv_vhost_refusal r)
{
	return (unsigned int) r < VV_REFUSE_MAX ? refusal_names[r] : "?";
}

/* Names for the log line; requests past the table print as numbers. */
static const char *const request_names[] = {
	[1] = "GET_FEATURES",
	[2] = "SET_FEATURES",
	[3] = "SET_OWNER",
	[4] = "RESET_OWNER",
	[5] = "SET_MEM_TABLE",
	[6] = "SET_LOG_BASE",
	[7] = "SET_LOG_FD",
	[8] = "SET_VRING_NUM",
	[9] = "SET_VRING_ADDR",
	[10] = "SET_VRING_BASE",
	[11] = "GET_VRING_BASE",
	[12] = "SET_VRING_KICK",
	[13] = "SET_VRING_CALL",
	[14] = "SET_VRING_ERR",
	[15] = "GET_PROTOCOL_FEATURES",
	[16] = "SET_PROTOCOL_FEATURES",
	[17] = "GET_QUEUE_NUM",
	[18] = "SET_VRING_ENABLE",
	[19] = "SEND_RARP",
	[20] = "NET_SET_MTU",
	[21] = "SET_BACKEND_REQ_FD",
	[22] = "IOTLB_MSG",
	[23] = "SET_VRING_ENDIAN",
	[24] = "GET_CONFIG",
	[25] = "SET_CONFIG",
	[26] = "CREATE_CRYPTO_SESSION",
	[27] = "CLOSE_CRYPTO_SESSION",
	[28] = "POSTCOPY_ADVISE",
	[29] = "POSTCOPY_LISTEN",
	[30] = "POSTCOPY_END",
	[31] = "GET_INFLIGHT_FD",
	[32] = "SET_INFLIGHT_FD",
	[33] = "GPU_SET_SOCKET",
	[34] = "RESET_DEVICE",
	[35] = "VRING_KICK",
	[36] = "GET_MAX_MEM_SLOTS",
	[37] = "ADD_MEM_REG",
	[38] = "REM_MEM_REG",
	[39] = "SET_STATUS",
	[40] = "GET_STATUS",
};

static const char *
req_name(uint32_t req, char *buf, size_t len)
{
	if (req < sizeof(request_names) / sizeof(request_names[0]) && request_names[req] != NULL)
		return request_names[req];
	snprintf(buf, len, "request %" PRIu32, req);
	return buf;
}

static uint32_t
rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t
rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

uint32_t
vhost_msg_request(const void *msg)
{
	return rd32(msg);
}

static bool refuse(struct vu_verdict *v, enum vv_vhost_refusal r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool
refuse(struct vu_verdict *v, enum vv_vhost_refusal r, const char *fmt, ...)
{
	va_list ap;

	v->refused = true;
	v->reason = r;
	va_start(ap, fmt);
	vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
	va_end(ap);
	return false;
}

/* The message being checked, decoded once. */
struct msg {
	uint32_t req, flags, size;
	const uint8_t *pl; /* payload, size bytes */
	const struct vu_fd_info *fds;
	unsigned int nfds;
	const struct vu_conn_state *st;
	const char *name;
};

static bool
want(const struct msg *m, struct vu_verdict *v, uint32_t size, unsigned int nfds)
{
	if (m->size != size)
		return refuse(v, VV_REFUSE_HEADER, "%s: payload of %" PRIu32 " bytes, not %" PRIu32,
			      m->name, m->size, size);
	if (m->nfds != nfds)
		return refuse(v, VV_REFUSE_FDS, "%s: %u fds, not %u", m->name, m->nfds, nfds);
	return true;
}

/* [a, a + len) as a closed interval [a, last]; false if it wraps past 2^64. */
static bool
range_last(uint64_t a, uint64_t len, uint64_t *last)
{
	if (len == 0 || len - 1 > UINT64_MAX - a)
		return false;
	*last = a + (len - 1);
	return true;
}

static bool
ranges_overlap(uint64_t a, uint64_t a_last, uint64_t b, uint64_t b_last)
{
	return a <= b_last && b <= a_last;
}

/* One region and the fd that backs it. */
static bool
check_region(const struct msg *m, unsigned int i, const struct vu_region *r,
	     const struct vu_fd_info *fd, struct vu_verdict *v)
{
	uint64_t last;

	if (r->size == 0)
		return refuse(v, VV_REFUSE_MEM_TABLE, "%s: region %u has size 0", m->name, i);
	if (!range_last(r->gpa, r->size, &last) || !range_last(r->uaddr, r->size, &last))
		return refuse(v, VV_REFUSE_MEM_TABLE,
			      "%s: region %u (gpa %#" PRIx64 ", size %#" PRIx64
			      ") wraps the address space",
			      m->name, i, r->gpa, r->size);
	/* rte_vhost maps mmap_offset + size bytes from offset 0. */
	if (r->mmap_offset > UINT64_MAX - r->size)
		return refuse(v, VV_REFUSE_MEM_TABLE,
			      "%s: region %u: mmap_offset %#" PRIx64 " + size overflows", m->name,
			      i, r->mmap_offset);
	if (fd->kind != VU_FD_REGULAR)
		return refuse(v, VV_REFUSE_MEM_FD,
			      "%s: region %u: fd is not a regular file (memfd, tmpfs, hugetlbfs)",
			      m->name, i);
	/* A shorter file maps fine and faults (SIGBUS) on first touch. */
	if (fd->size < r->mmap_offset + r->size)
		return refuse(v, VV_REFUSE_MEM_FD,
			      "%s: region %u: file of %" PRIu64 " bytes, the region needs %" PRIu64
			      " (mmap_offset + size)",
			      m->name, i, fd->size, r->mmap_offset + r->size);
	return true;
}

/* Regions a and b must not share guest-physical or front-end addresses.
 * Both passed check_region, so their ranges do not wrap. */
static bool
check_disjoint(const struct msg *m, unsigned int ia, const struct vu_region *a, unsigned int ib,
	       const struct vu_region *b, struct vu_verdict *v)
{
	uint64_t al = 0, bl = 0;

	if (!range_last(a->gpa, a->size, &al) || !range_last(b->gpa, b->size, &bl) ||
	    ranges_overlap(a->gpa, al, b->gpa, bl))
		return refuse(v, VV_REFUSE_MEM_TABLE,
			      "%s: regions %u and %u overlap in guest-physical addresses", m->name,
			      ia, ib);
	if (!range_last(a->uaddr, a->size, &al) || !range_last(b->uaddr, b->size, &bl) ||
	    ranges_overlap(a->uaddr, al, b->uaddr, bl))
		return refuse(v, VV_REFUSE_MEM_TABLE,
			      "%s: regions %u and %u overlap in front-end addresses", m->name, ia,
			      ib);
	return true;
}

static void
rd_region(const uint8_t *p, struct vu_region *r)
{
	r->gpa = rd64(p);
	r->size = rd64(p + 8);
	r->uaddr = rd64(p + 16);
	r->mmap_offset = rd64(p + 24);
}

static bool
check_mem_table(const struct msg *m, struct vu_verdict *v)
{
	struct vu_region r[VU_REGIONS_MAX];
	uint32_t n;
	unsigned int i, j;

	if (m->size < 8)
		return refuse(v, VV_REFUSE_HEADER, "%s: payload of %" PRIu32 " bytes", m->name,
			      m->size);
	n = rd32(m->pl);
	if (n == 0 || n > VU_REGIONS_MAX)
		return refuse(v, VV_REFUSE_MEM_TABLE, "%s: %" PRIu32 " regions, 1 to %u supported",
			      m->name, n, VU_REGIONS_MAX);
	/* QEMU sends just the regions in use; the full table is accepted too. */
	if (m->size < 8 + 32 * n || m->size > 8 + 32 * VU_REGIONS_MAX)
		return refuse(v, VV_REFUSE_HEADER,
			      "%s: payload of %" PRIu32 " bytes for %" PRIu32 " regions", m->name,
			      m->size, n);
	if (m->nfds != n)
		return refuse(v, VV_REFUSE_FDS, "%s: %u fds for %" PRIu32 " regions", m->name,
			      m->nfds, n);
	for (i = 0; i < n; i++) {
		rd_region(m->pl + 8 + 32 * i, &r[i]);
		if (!check_region(m, i, &r[i], &m->fds[i], v))
			return false;
	}
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (!check_disjoint(m, i, &r[i], j, &r[j], v))
				return false;
	return true;
}

/* ADD_MEM_REG: one region, disjoint from those already in the table. */
static bool
check_add_mem_reg(const struct msg *m, struct vu_verdict *v)
{
	struct vu_region r;
	unsigned int i;

	if (!want(m, v, 40, 1))
		return false;
	if (m->st->n_regions >= VU_REGIONS_MAX)
		return refuse(v, VV_REFUSE_MEM_TABLE, "%s: already %u regions", m->name,
			      VU_REGIONS_MAX);
	rd_region(m->pl + 8, &r);
	if (!check_region(m, m->st->n_regions, &r, &m->fds[0], v))
		return false;
	for (i = 0; i < m->st->n_regions && i < VU_REGIONS_MAX; i++)
		if (!check_disjoint(m, i, &m->st->regions[i], m->st->n_regions, &r, v))
			return false;
	return true;
}

static bool
check_index(const struct msg *m, uint32_t idx, struct vu_verdict *v)
{
	if (idx >= VU_VRINGS)
		return refuse(v, VV_REFUSE_VRING,
			      "%s: ring %" PRIu32 ", the device has rings 0 (rx) and 1 (tx)",
			      m->name, idx);
	return true;
}

/* The driver took packed rings (SET_FEATURES comes before the rings). */
static bool
packed(const struct msg *m)
{
	return (m->st->features >> VIRTIO_F_RING_PACKED) & 1;
}

static bool
check_vring_state(const struct msg *m, struct vu_verdict *v)
{
	uint32_t idx, num;

	if (!want(m, v, 8, 0))
		return false;
	idx = rd32(m->pl);
	num = rd32(m->pl + 4);
	if (!check_index(m, idx, v))
		return false;
	switch (m->req) {
	case VU_SET_VRING_NUM:
		/* virtio 2.8.10: a packed ring's size need not be a power of two. */
		if (num == 0 || num > VU_VRING_SIZE_MAX || (!packed(m) && (num & (num - 1)) != 0))
			return refuse(v, VV_REFUSE_VRING,
				      "%s: %" PRIu32 " entries, %s up to %u is required", m->name,
				      num, packed(m) ? "a size" : "a power of two",
				      VU_VRING_SIZE_MAX);
		break;
	case VU_SET_VRING_BASE:
		/* A split ring's index is 16 bits. A packed ring's base is two
		 * positions (bits 0-14 available, 16-30 used) with their wrap
		 * counters (bits 15, 31), as QEMU sends it; a position must lie
		 * inside the ring. */
		if (!packed(m)) {
			if (num > UINT16_MAX)
				return refuse(v, VV_REFUSE_VRING,
					      "%s: base %" PRIu32 " is not a 16-bit index", m->name,
					      num);
		} else if (m->st->vring_num[idx] != 0 &&
			   ((num & 0x7fff) >= m->st->vring_num[idx] ||
			    ((num >> 16) & 0x7fff) >= m->st->vring_num[idx])) {
			return refuse(v, VV_REFUSE_VRING,
				      "%s: packed base %#" PRIx32 " has a position past %" PRIu32
				      " entries",
				      m->name, num, m->st->vring_num[idx]);
		}
		break;
	case VU_SET_VRING_ENABLE:
		if (num > 1)
			return refuse(v, VV_REFUSE_VRING, "%s: state %" PRIu32 ", not 0 or 1",
				      m->name, num);
		break;
	}
	return true;
}

/* [a, a + len) inside one region of the front-end's address space. */
static bool
in_memory(const struct vu_conn_state *st, uint64_t a, uint64_t len)
{
	uint64_t last;
	uint32_t i;

	if (!range_last(a, len, &last))
		return false;
	for (i = 0; i < st->n_regions && i < VU_REGIONS_MAX; i++) {
		const struct vu_region *r = &st->regions[i];

		if (a >= r->uaddr && last - r->uaddr < r->size)
			return true;
	}
	return false;
}

static bool
check_vring_addr(const struct msg *m, struct vu_verdict *v)
{
	uint32_t idx, flags, num;
	uint64_t desc, used, avail;

	if (!want(m, v, sizeof(struct vu_vring_addr), 0))
		return false;
	idx = rd32(m->pl);
	flags = rd32(m->pl + 4);
	desc = rd64(m->pl + 8);
	used = rd64(m->pl + 16);
	avail = rd64(m->pl + 24);
	if (!check_index(m, idx, v))
		return false;
	/* The only flag is LOG (dirty logging), which needs VHOST_F_LOG_ALL. */
	if (flags != 0)
		return refuse(v, VV_REFUSE_VRING, "%s: flags %#" PRIx32 " (logging not negotiated)",
			      m->name, flags);
	/* virtio 1.x 2.7 and 2.8.10.1: the alignment each part of a ring
	 * needs (a packed ring's driver and device areas, in the places of
	 * avail and used, are 4-aligned). */
	if ((desc & 15) || (avail & (packed(m) ? 3 : 1)) || (used & 3))
		return refuse(v, VV_REFUSE_VRING, "%s: ring %" PRIu32 " misaligned", m->name, idx);
	/* Rings are checked against the table in force; before any table
	 * rte_vhost only stores the addresses and translates them later, and
	 * new_device checks the translated rings again. */
	num = m->st->vring_num[idx] ? m->st->vring_num[idx] : 1;
	if (m->st->n_regions > 0 && (!in_memory(m->st, desc, 16ull * num) ||
				     !in_memory(m->st, avail, packed(m) ? 4 : 6 + 2ull * num) ||
				     !in_memory(m->st, used, packed(m) ? 4 : 6 + 8ull * num)))
		return refuse(v, VV_REFUSE_VRING, "%s: ring %" PRIu32 " is outside guest memory",
			      m->name, idx);
	return true;
}

static bool
check_vring_fd(const struct msg *m, struct vu_verdict *v)
{
	uint64_t u;

	if (m->size != 8)
		return refuse(v, VV_REFUSE_HEADER, "%s: payload of %" PRIu32 " bytes, not 8",
			      m->name, m->size);
	u = rd64(m->pl);
	if (u & ~(uint64_t) (VU_VRING_IDX_MASK | VU_VRING_NOFD))
		return refuse(v, VV_REFUSE_VRING, "%s: payload %#" PRIx64 " has unknown bits",
			      m->name, u);
	if (!check_index(m, (uint32_t) (u & VU_VRING_IDX_MASK), v))
		return false;
	if (u & VU_VRING_NOFD) {
		if (m->nfds != 0)
			return refuse(v, VV_REFUSE_FDS, "%s: NOFD with %u fds", m->name, m->nfds);
		return true;
	}
	if (m->nfds != 1)
		return refuse(v, VV_REFUSE_FDS, "%s: %u fds, not 1", m->name, m->nfds);
	/* We write call fds from the datapath: only an eventfd (made
	 * non-blocking by the adapter) is known never to block there. */
	if (m->fds[0].kind != VU_FD_EVENTFD)
		return refuse(v, VV_REFUSE_NOTIFY_FD, "%s: fd is not an eventfd", m->name);
	return true;
}

static bool
check_get_config(const struct msg *m, struct vu_verdict *v)
{
	uint32_t off, len;

	if (m->nfds != 0)
		return refuse(v, VV_REFUSE_FDS, "%s: %u fds, not 0", m->name, m->nfds);
	if (m->size < VU_CONFIG_HDR_SIZE)
		return refuse(v, VV_REFUSE_HEADER, "%s: payload of %" PRIu32 " bytes", m->name,
			      m->size);
	off = rd32(m->pl);
	len = rd32(m->pl + 4);
	if (len == 0 || len > VU_CONFIG_MAX || off > VU_CONFIG_MAX - len)
		return refuse(v, VV_REFUSE_CONFIG,
			      "%s: %" PRIu32 " bytes at offset %" PRIu32
			      " are outside the %u-byte config space",
			      m->name, len, off, VU_CONFIG_MAX);
	if (m->size != VU_CONFIG_HDR_SIZE + len)
		return refuse(v, VV_REFUSE_HEADER,
			      "%s: payload of %" PRIu32 " bytes for %" PRIu32 " config bytes",
			      m->name, m->size, len);
	return true;
}

static bool
proto_acked(const struct vu_conn_state *st, unsigned int bit)
{
	return (st->protocol_features >> bit) & 1;
}

bool
vhost_msg_check(const void *msg, size_t len, const struct vu_fd_info *fds, unsigned int nfds,
		const struct vu_conn_state *st, struct vu_verdict *v)
{
	const uint8_t *b = msg;
	char nbuf[24];
	struct msg m;
	uint64_t u;

	memset(v, 0, sizeof(*v));
	if (len < VU_HDR_SIZE)
		return refuse(v, VV_REFUSE_HEADER, "message of %zu bytes, shorter than a header",
			      len);
	m.req = rd32(b);
	m.flags = rd32(b + 4);
	m.size = rd32(b + 8);
	m.pl = b + VU_HDR_SIZE;
	m.fds = fds;
	m.nfds = nfds;
	m.st = st;
	m.name = req_name(m.req, nbuf, sizeof(nbuf));
	if ((m.flags & VU_FLAG_VERSION_MASK) != VU_FLAG_VERSION || (m.flags & VU_FLAG_REPLY) ||
	    (m.flags & ~(VU_FLAG_VERSION_MASK | VU_FLAG_REPLY | VU_FLAG_NEED_REPLY)))
		return refuse(v, VV_REFUSE_HEADER, "%s: flags %#" PRIx32, m.name, m.flags);
	if (m.size > len - VU_HDR_SIZE)
		return refuse(v, VV_REFUSE_HEADER, "%s: payload of %" PRIu32 " bytes, %zu present",
			      m.name, m.size, len - VU_HDR_SIZE);
	if (nfds > VU_FDS_MAX)
		return refuse(v, VV_REFUSE_FDS, "%s: %u fds", m.name, nfds);

	switch (m.req) {
	case VU_GET_FEATURES:
	case VU_SET_OWNER:
	case VU_RESET_OWNER:
	case VU_GET_PROTOCOL_FEATURES: return want(&m, v, 0, 0);
	case VU_SET_FEATURES:
	case VU_SET_PROTOCOL_FEATURES:
		if (!want(&m, v, 8, 0))
			return false;
		u = rd64(m.pl);
		if (m.req == VU_SET_FEATURES && (u & ~st->offered_features))
			return refuse(v, VV_REFUSE_FEATURES,
				      "%s: %#" PRIx64 " includes features not offered (%#" PRIx64
				      ")",
				      m.name, u, st->offered_features);
		if (m.req == VU_SET_PROTOCOL_FEATURES && (u & ~st->offered_protocol_features))
			return refuse(v, VV_REFUSE_FEATURES,
				      "%s: %#" PRIx64
				      " includes protocol features not offered (%#" PRIx64 ")",
				      m.name, u, st->offered_protocol_features);
		return true;
	case VU_SET_MEM_TABLE: return check_mem_table(&m, v);
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
	case VU_GET_VRING_BASE:
	case VU_SET_VRING_ENABLE: return check_vring_state(&m, v);
	case VU_SET_VRING_ADDR: return check_vring_addr(&m, v);
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR: return check_vring_fd(&m, v);
	case VU_GET_CONFIG:
		if (!proto_acked(st, VU_PROTOCOL_F_CONFIG))
			break;
		return check_get_config(&m, v);
	case VU_ADD_MEM_REG:
		if (!proto_acked(st, VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
			break;
		return check_add_mem_reg(&m, v);
	case VU_GET_MAX_MEM_SLOTS:
		if (!proto_acked(st, VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
			break;
		return want(&m, v, 0, 0);
	case VU_REM_MEM_REG:
		if (!proto_acked(st, VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
			break;
		/* The region is named by its addresses; an fd may come along. */
		if (m.size != 40)
			return refuse(v, VV_REFUSE_HEADER,
				      "%s: payload of %" PRIu32 " bytes, not 40", m.name, m.size);
		if (m.nfds > 1)
			return refuse(v, VV_REFUSE_FDS, "%s: %u fds", m.name, m.nfds);
		return true;
	}
	/* Everything else: requests of features never offered (logging,
	 * inflight tracking, postcopy, IOTLB, backend channel, status...)
	 * and unknown codes. Refusing them keeps rte_vhost code paths that
	 * vsock does not use unreachable. */
	return refuse(v, VV_REFUSE_REQUEST, "%s: not served (feature not negotiated)", m.name);
}

void
vhost_msg_apply(const void *msg, struct vu_conn_state *st)
{
	const uint8_t *b = msg;
	const uint8_t *pl = b + VU_HDR_SIZE;
	uint32_t i, n, idx;
	struct vu_region r;

	switch (rd32(b)) {
	case VU_SET_FEATURES: st->features = rd64(pl); break;
	case VU_SET_PROTOCOL_FEATURES: st->protocol_features = rd64(pl); break;
	case VU_RESET_OWNER:
		/* rte_vhost forgets the negotiation and unmaps the memory. */
		st->features = 0;
		st->protocol_features = 0;
		st->n_regions = 0;
		memset(st->vring_num, 0, sizeof(st->vring_num));
		break;
	case VU_SET_MEM_TABLE:
		n = rd32(pl);
		st->n_regions = n <= VU_REGIONS_MAX ? n : 0;
		for (i = 0; i < st->n_regions; i++)
			rd_region(pl + 8 + 32 * i, &st->regions[i]);
		break;
	case VU_ADD_MEM_REG:
		if (st->n_regions < VU_REGIONS_MAX)
			rd_region(pl + 8, &st->regions[st->n_regions++]);
		break;
	case VU_REM_MEM_REG:
		rd_region(pl + 8, &r);
		for (i = 0; i < st->n_regions; i++) {
			if (st->regions[i].gpa == r.gpa && st->regions[i].size == r.size) {
				st->regions[i] = st->regions[--st->n_regions];
				break;
			}
		}
		break;
	case VU_SET_VRING_NUM:
		idx = rd32(pl);
		if (idx < VU_VRINGS)
			st->vring_num[idx] = rd32(pl + 4);
		break;
	}
}
