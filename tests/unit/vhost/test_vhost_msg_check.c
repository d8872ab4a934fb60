/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/vhost pre-validation: QEMU's own message sequence goes through, and
 * each rule is broken one field at a time (grout's habit) to see it refused
 * with the right reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vhost_msg_check.h"

#define OFFERED	      ((1ull << 32) | (1ull << 29) | (1ull << 30))
#define OFFERED_PROTO ((1ull << 9) | (1ull << 3))
#define MIB	      (1ull << 20)

struct m {
	uint8_t b[VU_HDR_SIZE + 300];
	size_t len;
	struct vu_fd_info fd[VU_FDS_MAX + 1];
	unsigned int nfd;
};

static void
hdr(struct m *m, uint32_t req, uint32_t flags, uint32_t size)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->b, &req, 4);
	memcpy(m->b + 4, &flags, 4);
	memcpy(m->b + 8, &size, 4);
	m->len = VU_HDR_SIZE + size;
}

static void
put32(struct m *m, size_t off, uint32_t v)
{
	memcpy(m->b + VU_HDR_SIZE + off, &v, 4);
}

static void
put64(struct m *m, size_t off, uint64_t v)
{
	memcpy(m->b + VU_HDR_SIZE + off, &v, 8);
}

static void
fd(struct m *m, enum vu_fd_kind k, uint64_t size)
{
	m->fd[m->nfd].kind = k;
	m->fd[m->nfd].size = size;
	m->nfd++;
}

static void
u64msg(struct m *m, uint32_t req, uint64_t v)
{
	hdr(m, req, VU_FLAG_VERSION, 8);
	put64(m, 0, v);
}

static void
state(struct m *m, uint32_t req, uint32_t idx, uint32_t num)
{
	hdr(m, req, VU_FLAG_VERSION, 8);
	put32(m, 0, idx);
	put32(m, 4, num);
}

/* A table of n regions: region i at gpa i GiB, uaddr 0x7f00.. + i GiB. */
static void
table(struct m *m, uint32_t n, uint64_t size)
{
	hdr(m, VU_SET_MEM_TABLE, VU_FLAG_VERSION, 8 + 32 * n);
	put32(m, 0, n);
	for (uint32_t i = 0; i < n; i++) {
		put64(m, 8 + 32 * i, (uint64_t) i << 30);
		put64(m, 8 + 32 * i + 8, size);
		put64(m, 8 + 32 * i + 16, 0x7f0000000000ull + ((uint64_t) i << 30));
		put64(m, 8 + 32 * i + 24, 0);
		fd(m, VU_FD_REGULAR, size);
	}
}

static void
region(struct m *m, uint32_t i, uint64_t gpa, uint64_t size, uint64_t uaddr, uint64_t off)
{
	put64(m, 8 + 32 * i, gpa);
	put64(m, 8 + 32 * i + 8, size);
	put64(m, 8 + 32 * i + 16, uaddr);
	put64(m, 8 + 32 * i + 24, off);
}

static void
addr(struct m *m, uint32_t idx, uint32_t flags, uint64_t desc, uint64_t used, uint64_t avail)
{
	hdr(m, VU_SET_VRING_ADDR, VU_FLAG_VERSION, 40);
	put32(m, 0, idx);
	put32(m, 4, flags);
	put64(m, 8, desc);
	put64(m, 16, used);
	put64(m, 24, avail);
}

static void
vfd(struct m *m, uint32_t req, uint64_t v, enum vu_fd_kind k)
{
	u64msg(m, req, v);
	if (!(v & VU_VRING_NOFD))
		fd(m, k, 0);
}

static void
config(struct m *m, uint32_t off, uint32_t len)
{
	hdr(m, VU_GET_CONFIG, VU_FLAG_VERSION, VU_CONFIG_HDR_SIZE + len);
	put32(m, 0, off);
	put32(m, 4, len);
}

static struct vu_conn_state st;
static struct vu_verdict v;

static bool
check(struct m *m)
{
	return vhost_msg_check(m->b, m->len, m->fd, m->nfd, &st, &v);
}

#define ACCEPT(m)                                                  \
	do {                                                       \
		bool ok_ = check(m);                               \
		if (!ok_)                                          \
			print_error("refused: %s\n", v.detail);    \
		assert_true(ok_);                                  \
		vhost_msg_apply((m)->b, &st);                      \
	} while (0)
#define REFUSE(m, why)                              \
	do {                                        \
		assert_false(check(m));             \
		assert_true(v.refused);             \
		assert_int_equal(v.reason, why);    \
		assert_true(v.detail[0] != '\0');   \
	} while (0)

static int
setup(void **s)
{
	(void) s;
	memset(&st, 0, sizeof(st));
	st.offered_features = OFFERED;
	st.offered_protocol_features = OFFERED_PROTO;
	return 0;
}

/* Negotiated and with one 16 MiB region at gpa 0, rings of 256. */
/* features offered and acked, protocol features too, one 16 MiB region. */
static void
negotiated(void **s, uint64_t features)
{
	struct m m;

	setup(s);
	st.offered_features = features;
	u64msg(&m, VU_SET_PROTOCOL_FEATURES, OFFERED_PROTO);
	ACCEPT(&m);
	u64msg(&m, VU_SET_FEATURES, features);
	ACCEPT(&m);
	table(&m, 1, 16 * MIB);
	ACCEPT(&m);
}

static int
setup_running(void **s)
{
	struct m m;

	negotiated(s, OFFERED);
	state(&m, VU_SET_VRING_NUM, 0, 256);
	ACCEPT(&m);
	state(&m, VU_SET_VRING_NUM, 1, 256);
	ACCEPT(&m);
	return 0;
}

/* What QEMU 7.2's vhost-user-vsock sends, in its order. */
static void
test_qemu_sequence(void **s)
{
	const uint64_t base = 0x7f0000000000ull;
	struct m m;

	(void) s;
	hdr(&m, VU_GET_FEATURES, VU_FLAG_VERSION, 0);
	ACCEPT(&m);
	hdr(&m, VU_GET_PROTOCOL_FEATURES, VU_FLAG_VERSION, 0);
	ACCEPT(&m);
	u64msg(&m, VU_SET_PROTOCOL_FEATURES, OFFERED_PROTO);
	ACCEPT(&m);
	assert_int_equal(st.protocol_features, OFFERED_PROTO);
	hdr(&m, VU_SET_OWNER, VU_FLAG_VERSION | VU_FLAG_NEED_REPLY, 0);
	ACCEPT(&m);
	config(&m, 0, 8);
	ACCEPT(&m);
	u64msg(&m, VU_SET_FEATURES, OFFERED);
	ACCEPT(&m);
	assert_int_equal(st.features, OFFERED);
	table(&m, 2, 16 * MIB);
	ACCEPT(&m);
	assert_int_equal(st.n_regions, 2);
	for (uint32_t q = 0; q < 2; q++) {
		state(&m, VU_SET_VRING_NUM, q, 128);
		ACCEPT(&m);
		state(&m, VU_SET_VRING_BASE, q, 0);
		ACCEPT(&m);
		addr(&m, q, 0, base + q * 0x10000, base + q * 0x10000 + 0x2000,
		     base + q * 0x10000 + 0x800);
		ACCEPT(&m);
		vfd(&m, VU_SET_VRING_KICK, q, VU_FD_EVENTFD);
		ACCEPT(&m);
		vfd(&m, VU_SET_VRING_CALL, q, VU_FD_EVENTFD);
		ACCEPT(&m);
		vfd(&m, VU_SET_VRING_ERR, q, VU_FD_EVENTFD);
		ACCEPT(&m);
		state(&m, VU_SET_VRING_ENABLE, q, 1);
		ACCEPT(&m);
	}
	assert_int_equal(st.vring_num[1], 128);
	state(&m, VU_GET_VRING_BASE, 1, 0);
	ACCEPT(&m);
	/* Polling mode kick: no fd. */
	vfd(&m, VU_SET_VRING_KICK, VU_VRING_NOFD | 1, VU_FD_EVENTFD);
	ACCEPT(&m);
	hdr(&m, VU_RESET_OWNER, VU_FLAG_VERSION, 0);
	ACCEPT(&m);
	assert_int_equal(st.features, 0);
	assert_int_equal(st.n_regions, 0);
}

static void
test_header(void **s)
{
	struct m m;

	(void) s;
	hdr(&m, VU_GET_FEATURES, VU_FLAG_VERSION, 0);
	m.len = 11;
	REFUSE(&m, VV_REFUSE_HEADER);
	hdr(&m, VU_GET_FEATURES, 2, 0);
	REFUSE(&m, VV_REFUSE_HEADER);
	hdr(&m, VU_GET_FEATURES, 0, 0);
	REFUSE(&m, VV_REFUSE_HEADER);
	hdr(&m, VU_GET_FEATURES, VU_FLAG_VERSION | VU_FLAG_REPLY, 0);
	REFUSE(&m, VV_REFUSE_HEADER);
	hdr(&m, VU_GET_FEATURES, VU_FLAG_VERSION | 0x10, 0);
	REFUSE(&m, VV_REFUSE_HEADER);
	/* The header claims more payload than arrived. */
	u64msg(&m, VU_SET_FEATURES, OFFERED);
	m.len -= 1;
	REFUSE(&m, VV_REFUSE_HEADER);
	/* Wrong payload sizes for fixed-size requests. */
	hdr(&m, VU_GET_FEATURES, VU_FLAG_VERSION, 8);
	REFUSE(&m, VV_REFUSE_HEADER);
	hdr(&m, VU_SET_FEATURES, VU_FLAG_VERSION, 4);
	REFUSE(&m, VV_REFUSE_HEADER);
	state(&m, VU_SET_VRING_NUM, 0, 256);
	hdr(&m, VU_SET_VRING_NUM, VU_FLAG_VERSION, 12);
	REFUSE(&m, VV_REFUSE_HEADER);
	hdr(&m, VU_SET_VRING_CALL, VU_FLAG_VERSION, 4);
	fd(&m, VU_FD_EVENTFD, 0);
	REFUSE(&m, VV_REFUSE_HEADER);
}

static void
test_requests_not_served(void **s)
{
	static const uint32_t reqs[] = {
		0,  VU_SET_LOG_BASE, VU_SET_LOG_FD, VU_GET_QUEUE_NUM, 19, 20, 21, 22, 23,
		VU_SET_CONFIG, 26, 27, VU_POSTCOPY_ADVISE, 29, 30, VU_GET_INFLIGHT_FD,
		VU_SET_INFLIGHT_FD, 33, 34, 35, VU_GET_MAX_MEM_SLOTS, VU_ADD_MEM_REG,
		VU_REM_MEM_REG, 39, 40, 41, 1000, UINT32_MAX,
	};
	struct m m;

	(void) s;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		hdr(&m, reqs[i], VU_FLAG_VERSION, 8);
		REFUSE(&m, VV_REFUSE_REQUEST);
	}
	/* SET_INFLIGHT_FD of the issue: a 4 KiB memfd, no negotiation. */
	hdr(&m, VU_SET_INFLIGHT_FD, VU_FLAG_VERSION, 24);
	fd(&m, VU_FD_REGULAR, 4096);
	REFUSE(&m, VV_REFUSE_REQUEST);
	/* GET_CONFIG needs PROTOCOL_F_CONFIG acked. */
	config(&m, 0, 8);
	REFUSE(&m, VV_REFUSE_REQUEST);
}

static void
test_features(void **s)
{
	struct m m;

	(void) s;
	u64msg(&m, VU_SET_FEATURES, OFFERED | (1ull << 28)); /* INDIRECT_DESC */
	REFUSE(&m, VV_REFUSE_FEATURES);
	u64msg(&m, VU_SET_FEATURES, OFFERED | (1ull << 33)); /* ACCESS_PLATFORM */
	REFUSE(&m, VV_REFUSE_FEATURES);
	u64msg(&m, VU_SET_PROTOCOL_FEATURES, OFFERED_PROTO | (1ull << 12)); /* INFLIGHT */
	REFUSE(&m, VV_REFUSE_FEATURES);
	u64msg(&m, VU_SET_FEATURES, 1ull << 32);
	ACCEPT(&m);
}

static void
test_fd_counts(void **s)
{
	struct m m;

	(void) s;
	hdr(&m, VU_GET_FEATURES, VU_FLAG_VERSION, 0);
	fd(&m, VU_FD_EVENTFD, 0);
	REFUSE(&m, VV_REFUSE_FDS);
	u64msg(&m, VU_SET_VRING_KICK, 0);
	REFUSE(&m, VV_REFUSE_FDS);
	vfd(&m, VU_SET_VRING_KICK, 0, VU_FD_EVENTFD);
	fd(&m, VU_FD_EVENTFD, 0);
	REFUSE(&m, VV_REFUSE_FDS);
	u64msg(&m, VU_SET_VRING_CALL, VU_VRING_NOFD);
	fd(&m, VU_FD_EVENTFD, 0);
	REFUSE(&m, VV_REFUSE_FDS);
	table(&m, 2, MIB);
	m.nfd = 1;
	REFUSE(&m, VV_REFUSE_FDS);
	table(&m, 1, MIB);
	fd(&m, VU_FD_REGULAR, MIB);
	REFUSE(&m, VV_REFUSE_FDS);
	hdr(&m, VU_GET_FEATURES, VU_FLAG_VERSION, 0);
	m.nfd = VU_FDS_MAX + 1;
	REFUSE(&m, VV_REFUSE_FDS);
}

static void
test_mem_table(void **s)
{
	struct m m;

	(void) s;
	table(&m, 1, 4 * MIB);
	ACCEPT(&m);
	table(&m, 8, 4 * MIB);
	ACCEPT(&m);
	table(&m, 0, 4 * MIB);
	REFUSE(&m, VV_REFUSE_MEM_TABLE);
	table(&m, 8, 4 * MIB);
	put32(&m, 0, 9);
	REFUSE(&m, VV_REFUSE_MEM_TABLE);
	/* Payload too short for its region count. */
	table(&m, 2, 4 * MIB);
	hdr(&m, VU_SET_MEM_TABLE, VU_FLAG_VERSION, 8 + 32);
	put32(&m, 0, 2);
	fd(&m, VU_FD_REGULAR, MIB);
	fd(&m, VU_FD_REGULAR, MIB);
	REFUSE(&m, VV_REFUSE_HEADER);
	/* Size 0, and wrapping addresses or offsets. */
	table(&m, 1, 4 * MIB);
	region(&m, 0, 0, 0, 0x7f0000000000ull, 0);
	REFUSE(&m, VV_REFUSE_MEM_TABLE);
	table(&m, 1, 4 * MIB);
	region(&m, 0, UINT64_MAX - MIB, 4 * MIB, 0x7f0000000000ull, 0);
	REFUSE(&m, VV_REFUSE_MEM_TABLE);
	table(&m, 1, 4 * MIB);
	region(&m, 0, 0, 4 * MIB, UINT64_MAX - 4095, 0);
	REFUSE(&m, VV_REFUSE_MEM_TABLE);
	table(&m, 1, 4 * MIB);
	region(&m, 0, 0, 4 * MIB, 0x7f0000000000ull, UINT64_MAX - MIB);
	REFUSE(&m, VV_REFUSE_MEM_TABLE);
	/* Ending exactly at 2^64 is no wrap. */
	table(&m, 1, 4 * MIB);
	region(&m, 0, 0, 4 * MIB, UINT64_MAX - 4 * MIB + 1, 0);
	ACCEPT(&m);
	/* Overlaps: guest-physical, then front-end addresses. */
	table(&m, 2, 4 * MIB);
	region(&m, 1, 2 * MIB, 4 * MIB, 0x7e0000000000ull, 0);
	REFUSE(&m, VV_REFUSE_MEM_TABLE);
	table(&m, 2, 4 * MIB);
	region(&m, 1, 1ull << 32, 4 * MIB, 0x7f0000000000ull + 4 * MIB - 1, 0);
	REFUSE(&m, VV_REFUSE_MEM_TABLE);
	table(&m, 2, 4 * MIB);
	region(&m, 1, 4 * MIB, 4 * MIB, 0x7f0000000000ull + 4 * MIB, 0);
	ACCEPT(&m);
}

/* The rows: memfds shorter than their region. */
static void
test_mem_fd(void **s)
{
	struct m m;

	(void) s;
	table(&m, 1, 4 * MIB);
	m.fd[0].kind = VU_FD_OTHER;
	REFUSE(&m, VV_REFUSE_MEM_FD);
	table(&m, 1, 4 * MIB);
	m.fd[0].kind = VU_FD_EVENTFD;
	REFUSE(&m, VV_REFUSE_MEM_FD);
	/* memfd 192 KiB, region 4 MiB. */
	table(&m, 1, 4 * MIB);
	m.fd[0].size = 192 * 1024;
	REFUSE(&m, VV_REFUSE_MEM_FD);
	/* mmap_offset at the end of the file, and beyond it. */
	table(&m, 1, 4 * MIB);
	region(&m, 0, 0, 4 * MIB, 0x7f0000000000ull, 4 * MIB);
	REFUSE(&m, VV_REFUSE_MEM_FD);
	table(&m, 1, 4 * MIB);
	region(&m, 0, 0, 4096, 0x7f0000000000ull, 8 * MIB);
	REFUSE(&m, VV_REFUSE_MEM_FD);
	/* One byte short, then exactly enough. */
	table(&m, 1, 4 * MIB);
	region(&m, 0, 0, 4 * MIB, 0x7f0000000000ull, 4096);
	m.fd[0].size = 4 * MIB + 4095;
	REFUSE(&m, VV_REFUSE_MEM_FD);
	m.fd[0].size = 4 * MIB + 4096;
	ACCEPT(&m);
	/* The second region is the short one. */
	table(&m, 2, 4 * MIB);
	m.fd[1].size = MIB;
	REFUSE(&m, VV_REFUSE_MEM_FD);
}

static void
test_vring_state(void **s)
{
	static const uint32_t bad_idx[] = { 2, 3, 255, 256, UINT32_MAX };
	static const uint32_t bad_num[] = { 0, 3, 100, 65536, 65535, UINT32_MAX };
	struct m m;

	(void) s;
	for (size_t i = 0; i < 5; i++) {
		state(&m, VU_SET_VRING_NUM, bad_idx[i], 256);
		REFUSE(&m, VV_REFUSE_VRING);
		state(&m, VU_GET_VRING_BASE, bad_idx[i], 0);
		REFUSE(&m, VV_REFUSE_VRING);
		state(&m, VU_SET_VRING_ENABLE, bad_idx[i], 1);
		REFUSE(&m, VV_REFUSE_VRING);
		vfd(&m, VU_SET_VRING_CALL, bad_idx[i] & 0xff, VU_FD_EVENTFD);
		if ((bad_idx[i] & 0xff) >= 2)
			REFUSE(&m, VV_REFUSE_VRING);
	}
	for (size_t i = 0; i < 6; i++) {
		state(&m, VU_SET_VRING_NUM, 0, bad_num[i]);
		REFUSE(&m, VV_REFUSE_VRING);
	}
	state(&m, VU_SET_VRING_NUM, 1, 32768);
	ACCEPT(&m);
	state(&m, VU_SET_VRING_NUM, 1, 1);
	ACCEPT(&m);
	state(&m, VU_SET_VRING_BASE, 0, 65536);
	REFUSE(&m, VV_REFUSE_VRING);
	state(&m, VU_SET_VRING_BASE, 0, 65535);
	ACCEPT(&m);
	state(&m, VU_SET_VRING_ENABLE, 0, 2);
	REFUSE(&m, VV_REFUSE_VRING);
}

static void
test_vring_addr(void **s)
{
	const uint64_t base = 0x7f0000000000ull;
	struct m m;

	(void) s;
	addr(&m, 0, 0, base, base + 0x2000, base + 0x1000);
	ACCEPT(&m);
	addr(&m, 2, 0, base, base + 0x2000, base + 0x1000);
	REFUSE(&m, VV_REFUSE_VRING);
	addr(&m, 0, 1, base, base + 0x2000, base + 0x1000); /* LOG */
	REFUSE(&m, VV_REFUSE_VRING);
	addr(&m, 0, 0, base + 8, base + 0x2000, base + 0x1000);
	REFUSE(&m, VV_REFUSE_VRING);
	addr(&m, 0, 0, base, base + 0x2002, base + 0x1000);
	REFUSE(&m, VV_REFUSE_VRING);
	addr(&m, 0, 0, base, base + 0x2000, base + 0x1001);
	REFUSE(&m, VV_REFUSE_VRING);
	/* Outside the one 16 MiB region, or straddling its end. */
	addr(&m, 0, 0, base - 0x10000, base + 0x2000, base + 0x1000);
	REFUSE(&m, VV_REFUSE_VRING);
	addr(&m, 0, 0, base, base + 16 * MIB + 0x2000, base + 0x1000);
	REFUSE(&m, VV_REFUSE_VRING);
	addr(&m, 0, 0, base + 16 * MIB - 16 * 128, base + 0x2000, base + 0x1000);
	REFUSE(&m, VV_REFUSE_VRING);
	addr(&m, 0, 0, base + 16 * MIB - 16 * 256, base + 0x2000, base + 0x1000);
	ACCEPT(&m);
	addr(&m, 0, 0, base, base + 16 * MIB - (6 + 8 * 256) - 2, base + 0x1000);
	ACCEPT(&m);
	addr(&m, 0, 0, base, base + 16 * MIB - (6 + 8 * 256) + 4, base + 0x1000);
	REFUSE(&m, VV_REFUSE_VRING);
}

static void
test_notify_fds(void **s)
{
	struct m m;

	(void) s;
	vfd(&m, VU_SET_VRING_CALL, 0, VU_FD_OTHER); /* a pipe */
	REFUSE(&m, VV_REFUSE_NOTIFY_FD);
	vfd(&m, VU_SET_VRING_KICK, 1, VU_FD_REGULAR);
	REFUSE(&m, VV_REFUSE_NOTIFY_FD);
	vfd(&m, VU_SET_VRING_ERR, 1, VU_FD_OTHER);
	REFUSE(&m, VV_REFUSE_NOTIFY_FD);
	vfd(&m, VU_SET_VRING_CALL, 0x200, VU_FD_EVENTFD);
	REFUSE(&m, VV_REFUSE_VRING);
	vfd(&m, VU_SET_VRING_CALL, 1ull << 40, VU_FD_EVENTFD);
	REFUSE(&m, VV_REFUSE_VRING);
}

static void
test_get_config(void **s)
{
	struct m m;

	(void) s;
	config(&m, 0, 8);
	ACCEPT(&m);
	config(&m, 4, 4);
	ACCEPT(&m);
	config(&m, 0, 256);
	ACCEPT(&m);
	config(&m, 0, 0);
	REFUSE(&m, VV_REFUSE_CONFIG);
	config(&m, 256, 8);
	REFUSE(&m, VV_REFUSE_CONFIG);
	config(&m, 250, 8);
	REFUSE(&m, VV_REFUSE_CONFIG);
	config(&m, UINT32_MAX, 8);
	REFUSE(&m, VV_REFUSE_CONFIG);
	hdr(&m, VU_GET_CONFIG, VU_FLAG_VERSION, VU_CONFIG_HDR_SIZE + 8);
	put32(&m, 0, 0);
	put32(&m, 4, 257);
	REFUSE(&m, VV_REFUSE_CONFIG);
	/* config.size says 8, the message carries 4. */
	config(&m, 0, 8);
	hdr(&m, VU_GET_CONFIG, VU_FLAG_VERSION, VU_CONFIG_HDR_SIZE + 4);
	put32(&m, 4, 8);
	REFUSE(&m, VV_REFUSE_HEADER);
	hdr(&m, VU_GET_CONFIG, VU_FLAG_VERSION, 8);
	REFUSE(&m, VV_REFUSE_HEADER);
	config(&m, 0, 8);
	fd(&m, VU_FD_REGULAR, 4096);
	REFUSE(&m, VV_REFUSE_FDS);
}

/* ADD_MEM_REG is only served with CONFIGURE_MEM_SLOTS, which the device
 * does not offer; the checks still hold if it ever does. */
static void
test_add_mem_reg(void **s)
{
	struct m m;

	(void) s;
	st.protocol_features |= 1ull << VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS;
	hdr(&m, VU_ADD_MEM_REG, VU_FLAG_VERSION, 40);
	region(&m, 0, 0, 0, 0, 0);
	put64(&m, 8, 64 * MIB);
	put64(&m, 16, MIB);
	put64(&m, 24, 0x7e0000000000ull);
	fd(&m, VU_FD_REGULAR, MIB);
	ACCEPT(&m);
	assert_int_equal(st.n_regions, 2);
	/* Overlaps the existing region at gpa 0. */
	hdr(&m, VU_ADD_MEM_REG, VU_FLAG_VERSION, 40);
	put64(&m, 8, MIB);
	put64(&m, 16, MIB);
	put64(&m, 24, 0x7d0000000000ull);
	fd(&m, VU_FD_REGULAR, MIB);
	REFUSE(&m, VV_REFUSE_MEM_TABLE);
	/* Short file. */
	hdr(&m, VU_ADD_MEM_REG, VU_FLAG_VERSION, 40);
	put64(&m, 8, 128 * MIB);
	put64(&m, 16, MIB);
	put64(&m, 24, 0x7d0000000000ull);
	fd(&m, VU_FD_REGULAR, 4096);
	REFUSE(&m, VV_REFUSE_MEM_FD);
	hdr(&m, VU_ADD_MEM_REG, VU_FLAG_VERSION, 40);
	REFUSE(&m, VV_REFUSE_FDS);
	hdr(&m, VU_REM_MEM_REG, VU_FLAG_VERSION, 40);
	put64(&m, 8, 64 * MIB);
	put64(&m, 16, MIB);
	ACCEPT(&m);
	assert_int_equal(st.n_regions, 1);
}

/* The same with packed rings (and indirect tables) negotiated. */
#define OFFERED_PACKED (OFFERED | (1ull << 34) | (1ull << 28))

static int
setup_running_packed(void **s)
{
	negotiated(s, OFFERED_PACKED);
	return 0;
}

/* Packed rings: any size, a base of two positions with wrap counters (as
 * QEMU sends it: 0x80008000 for a fresh ring), 4-byte event areas. */
static void
test_vring_packed(void **s)
{
	const uint64_t base = 0x7f0000000000ull;
	struct m m;

	(void) s;
	state(&m, VU_SET_VRING_NUM, 0, 0);
	REFUSE(&m, VV_REFUSE_VRING);
	state(&m, VU_SET_VRING_NUM, 0, 32769);
	REFUSE(&m, VV_REFUSE_VRING);
	state(&m, VU_SET_VRING_NUM, 0, 100);
	ACCEPT(&m);
	state(&m, VU_SET_VRING_BASE, 0, 0x80008000u);
	ACCEPT(&m);
	state(&m, VU_SET_VRING_BASE, 0, 0x00638063u); /* positions 99, wrap counters 0 and 1 */
	ACCEPT(&m);
	state(&m, VU_SET_VRING_BASE, 0, 0x80008064u); /* available position 100 */
	REFUSE(&m, VV_REFUSE_VRING);
	state(&m, VU_SET_VRING_BASE, 0, 0x80648000u); /* used position 100 */
	REFUSE(&m, VV_REFUSE_VRING);
	/* Driver and device areas are 4 bytes, 4-aligned. */
	addr(&m, 0, 0, base, base + 0x2004, base + 0x2000);
	ACCEPT(&m);
	addr(&m, 0, 0, base, base + 0x2004, base + 0x2002);
	REFUSE(&m, VV_REFUSE_VRING);
	addr(&m, 0, 0, base, base + 0x2006, base + 0x2000);
	REFUSE(&m, VV_REFUSE_VRING);
	addr(&m, 0, 0, base, base + 16 * MIB - 4, base + 16 * MIB - 8);
	ACCEPT(&m);
	addr(&m, 0, 0, base, base + 16 * MIB - 2, base + 16 * MIB - 8);
	REFUSE(&m, VV_REFUSE_VRING);
	addr(&m, 0, 0, base + 16 * MIB - 16 * 100, base + 0x2004, base + 0x2000);
	ACCEPT(&m);
	addr(&m, 0, 0, base + 16 * MIB - 16 * 99, base + 0x2004, base + 0x2000);
	REFUSE(&m, VV_REFUSE_VRING);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_qemu_sequence, setup),
		cmocka_unit_test_setup(test_header, setup),
		cmocka_unit_test_setup(test_requests_not_served, setup),
		cmocka_unit_test_setup(test_features, setup),
		cmocka_unit_test_setup(test_fd_counts, setup),
		cmocka_unit_test_setup(test_mem_table, setup),
		cmocka_unit_test_setup(test_mem_fd, setup),
		cmocka_unit_test_setup(test_vring_state, setup_running),
		cmocka_unit_test_setup(test_vring_addr, setup_running),
		cmocka_unit_test_setup(test_vring_packed, setup_running_packed),
		cmocka_unit_test_setup(test_notify_fds, setup_running),
		cmocka_unit_test_setup(test_get_config, setup_running),
		cmocka_unit_test_setup(test_add_mem_reg, setup_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
