/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: lib/vhost's pre-validation of vhost-user messages
 * (vhost_msg_check.c), over sequences of messages the way one connection
 * sends them, so state-dependent checks (rings inside the table in force,
 * ADD_MEM_REG against existing regions) are reached.
 *
 * Input: 16 bytes of offered features and protocol features, then records
 * [u16 length][u8 nfds][nfds x (u8 kind, u64 file size)][message bytes].
 *
 * Besides the sanitizers, it checks what the checks promise: an accepted
 * memory table has at most 8 regions, none of size 0, none wrapping, none
 * overlapping another, each inside its file; an accepted SET_FEATURES
 * offers nothing more than was offered; a refusal always says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vhost_msg_check.h"

/* The largest message rte_vhost reads (25.03's payload union). */
#define MSG_MAX (VU_HDR_SIZE + 1072)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct cursor {
	const uint8_t *p;
	size_t left;
};

static int
take(struct cursor *c, void *out, size_t n)
{
	if (c->left < n)
		return -1;
	memcpy(out, c->p, n);
	c->p += n;
	c->left -= n;
	return 0;
}

static void
must(int cond)
{
	if (!cond)
		abort();
}

static void
check_table(const uint8_t *msg, const struct vu_fd_info *fds)
{
	uint32_t n;

	memcpy(&n, msg + VU_HDR_SIZE, 4);
	must(n >= 1 && n <= VU_REGIONS_MAX);
	for (uint32_t i = 0; i < n; i++) {
		struct vu_region a;

		memcpy(&a, msg + VU_HDR_SIZE + 8 + 32 * i, sizeof(a));
		must(a.size > 0);
		must(a.size - 1 <= UINT64_MAX - a.gpa && a.size - 1 <= UINT64_MAX - a.uaddr);
		must(a.mmap_offset <= UINT64_MAX - a.size);
		must(fds[i].kind == VU_FD_REGULAR && fds[i].size >= a.mmap_offset + a.size);
		for (uint32_t j = 0; j < i; j++) {
			struct vu_region b;

			memcpy(&b, msg + VU_HDR_SIZE + 8 + 32 * j, sizeof(b));
			must(a.gpa + (a.size - 1) < b.gpa || b.gpa + (b.size - 1) < a.gpa);
			must(a.uaddr + (a.size - 1) < b.uaddr || b.uaddr + (b.size - 1) < a.uaddr);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cursor c = { data, size };
	struct vu_conn_state st;

	memset(&st, 0, sizeof(st));
	if (take(&c, &st.offered_features, 8) < 0 ||
	    take(&c, &st.offered_protocol_features, 8) < 0)
		return 0;
	for (int rec = 0; rec < 64; rec++) {
		struct vu_fd_info fds[VU_FDS_MAX + 2];
		struct vu_verdict v;
		uint16_t len;
		uint8_t nfds;
		bool ok;

		if (take(&c, &len, 2) < 0 || take(&c, &nfds, 1) < 0)
			break;
		nfds %= VU_FDS_MAX + 2;
		for (unsigned int i = 0; i < nfds; i++) {
			uint8_t kind;

			if (take(&c, &kind, 1) < 0 || take(&c, &fds[i].size, 8) < 0)
				return 0;
			fds[i].kind = (enum vu_fd_kind) (kind % 3);
		}
		if (len > MSG_MAX)
			len = MSG_MAX;
		if (len > c.left)
			len = (uint16_t) c.left;
		/* An exact-size copy: ASan sees any read past what arrived. */
		uint8_t *m = malloc(len ? len : 1);

		if (m == NULL)
			return 0;
		take(&c, m, len);
		ok = vhost_msg_check(m, len, fds, nfds, &st, &v);
		must(ok == !v.refused);
		if (!ok) {
			must(v.reason < VV_REFUSE_MAX && v.detail[0] != '\0');
		} else {
			uint32_t req = vhost_msg_request(m);

			if (req == VU_SET_MEM_TABLE)
				check_table(m, fds);
			if (req == VU_SET_FEATURES) {
				uint64_t f;

				memcpy(&f, m + VU_HDR_SIZE, 8);
				must((f & ~st.offered_features) == 0);
			}
			vhost_msg_apply(m, &st);
			must(st.n_regions <= VU_REGIONS_MAX);
		}
		free(m);
	}
	return 0;
}
