/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/route: the CID table, lending, delivery with splitting, backpressure,
 * going down with buffers out, and a sender racing its receiver. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vv_route.h>

static const char g_a[][64] = { "a" };
static const char g_ab[][64] = { "b", "a" };
static const char g_c[][64] = { "c" };

struct fixture {
	struct vv_route *r;
	struct vv_route_port *p3, *p5, *p9;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->r = vv_route_create(4);
	f->p5 = vv_route_add(f->r, 5, g_ab, 2);
	f->p3 = vv_route_add(f->r, 3, g_a, 1);
	f->p9 = vv_route_add(f->r, 9, g_c, 1);
	assert_non_null(f->p3);
	assert_non_null(f->p5);
	assert_non_null(f->p9);
	vv_route_seal(f->r);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	vv_route_free(f->r);
	free(f);
	return 0;
}

/* A chain of n equal segments over a fresh buffer. */
static struct vv_chain *
chain_new(uint16_t head, unsigned int n, uint32_t seg, uint8_t **mem)
{
	struct vv_chain *c = calloc(1, sizeof(*c));
	unsigned int i;

	*mem = calloc(n, seg);
	c->head = head;
	for (i = 0; i < n; i++) {
		c->iov[i].iov_base = *mem + (size_t)i * seg;
		c->iov[i].iov_len = seg;
	}
	c->n_iov = n;
	c->len = n * seg;
	return c;
}

static void
make_hdr(uint8_t *hdr, uint16_t op, uint32_t len)
{
	memset(hdr, 0, VV_ROUTE_HDR_SIZE);
	hdr[0] = 3;                    /* src_cid */
	hdr[8] = 5;                    /* dst_cid */
	memcpy(hdr + VV_ROUTE_HDR_LEN_OFF, &len, 4);
	hdr[30] = (uint8_t)op;         /* op, le16 at 30 */
}

static uint32_t
hdr_len(const uint8_t *hdr)
{
	uint32_t v;

	memcpy(&v, hdr + VV_ROUTE_HDR_LEN_OFF, 4);
	return v;
}

static void
test_table(void **state)
{
	struct fixture *f = *state;

	assert_ptr_equal(vv_route_lookup(f->r, 3), f->p3);
	assert_ptr_equal(vv_route_lookup(f->r, 5), f->p5);
	assert_ptr_equal(vv_route_lookup(f->r, 9), f->p9);
	assert_null(vv_route_lookup(f->r, 4));
	assert_null(vv_route_lookup(f->r, 2));
	assert_true(vv_route_allowed(f->p3, f->p5));
	assert_true(vv_route_allowed(f->p5, f->p3));
	assert_false(vv_route_allowed(f->p3, f->p9));
	assert_false(vv_route_allowed(f->p9, f->p5));
	assert_false(vv_route_allowed(f->p3, f->p3));
	assert_true(vv_route_port_has_peers(f->p3));
	assert_false(vv_route_port_has_peers(f->p9));
	assert_int_equal(vv_route_port_cid(f->p9), 9);
}

static void
test_add_errors(void **state)
{
	struct vv_route *r = vv_route_create(1);

	(void)state;
	assert_non_null(vv_route_add(r, 7, g_a, 1));
	errno = 0;
	assert_null(vv_route_add(r, 7, g_a, 1));
	assert_int_equal(errno, EEXIST);
	errno = 0;
	assert_null(vv_route_add(r, 8, g_a, 1));
	assert_int_equal(errno, ENOSPC);
	vv_route_free(r);
}

static void
test_down_refuses(void **state)
{
	struct fixture *f = *state;
	uint8_t hdr[VV_ROUTE_HDR_SIZE], *m;
	struct vv_chain *src = chain_new(0, 1, 64, &m);
	uint32_t done = 0;

	make_hdr(hdr, 1, 0);
	assert_false(vv_route_port_is_up(f->p5));
	assert_int_equal(vv_route_lend_wanted(f->p5), 0);
	assert_int_equal(vv_route_deliver(f->p5, hdr, src, VV_ROUTE_HDR_SIZE, 0, &done),
			 -ENOTCONN);
	free(src);
	free(m);
}

static void
test_split_and_backpressure(void **state)
{
	struct fixture *f = *state;
	uint8_t hdr[VV_ROUTE_HDR_SIZE], *sm, *b1, *b2, *b3;
	/* 10000 payload bytes behind the header, over three descriptors */
	struct vv_chain *src = chain_new(40, 3, 3348, &sm);
	struct vv_chain *r1 = chain_new(1, 1, 4096, &b1);
	struct vv_chain *r2 = chain_new(2, 1, 4096, &b2);
	struct vv_chain *r3 = chain_new(3, 2, 2048, &b3);
	struct vv_route_done d[8];
	uint32_t done = 0, i;

	for (i = 0; i < 10000; i++)
		sm[VV_ROUTE_HDR_SIZE + i] = (uint8_t)(i * 7 + 1);
	make_hdr(hdr, 5, 10000);
	vv_route_port_up(f->p5, 0);
	assert_int_equal(vv_route_lend_wanted(f->p5), VV_ROUTE_LEND_MAX / 2);

	/* Nothing lent: the sender must wait, nothing delivered. */
	assert_int_equal(vv_route_deliver(f->p5, hdr, src, VV_ROUTE_HDR_SIZE, 10000, &done),
			 -EAGAIN);
	assert_int_equal(done, 0);

	assert_int_equal(vv_route_lend(f->p5, r1), 0);
	assert_int_equal(vv_route_deliver(f->p5, hdr, src, VV_ROUTE_HDR_SIZE, 10000, &done),
			 -EAGAIN);
	assert_int_equal(done, 4096 - VV_ROUTE_HDR_SIZE);
	assert_int_equal(vv_route_lend(f->p5, r2), 0);
	assert_int_equal(vv_route_lend(f->p5, r3), 0);
	assert_int_equal(vv_route_deliver(f->p5, hdr, src, VV_ROUTE_HDR_SIZE, 10000, &done), 0);
	assert_int_equal(done, 10000);

	assert_int_equal(vv_route_collect(f->p5, d, 8), 3);
	assert_int_equal(d[0].head, 1);
	assert_int_equal(d[0].len, 4096);
	assert_int_equal(hdr_len(d[0].hdr), 4096 - VV_ROUTE_HDR_SIZE);
	assert_int_equal(d[1].head, 2);
	assert_int_equal(d[2].head, 3);
	assert_int_equal(d[2].len, VV_ROUTE_HDR_SIZE + 10000 - 2 * (4096 - VV_ROUTE_HDR_SIZE));
	/* The header written into the guest buffer is the patched one. */
	assert_int_equal(hdr_len(b3), 10000 - 2 * (4096 - VV_ROUTE_HDR_SIZE));
	assert_memory_equal(b1, d[0].hdr, VV_ROUTE_HDR_SIZE);
	/* Payload arrives in order, byte for byte, across the 2-descriptor buffer. */
	assert_memory_equal(b1 + VV_ROUTE_HDR_SIZE, sm + VV_ROUTE_HDR_SIZE, 4052);
	assert_memory_equal(b2 + VV_ROUTE_HDR_SIZE, sm + VV_ROUTE_HDR_SIZE + 4052, 4052);
	assert_memory_equal(b3 + VV_ROUTE_HDR_SIZE, sm + VV_ROUTE_HDR_SIZE + 8104, 1896);
	assert_int_equal(vv_route_lend_wanted(f->p5), VV_ROUTE_LEND_MAX / 2);
	vv_route_port_down(f->p5, NULL, NULL); /* nothing out: callback unused */
	free(src); free(r1); free(r2); free(r3);
	free(sm); free(b1); free(b2); free(b3);
}

static void
test_control_one_buffer(void **state)
{
	struct fixture *f = *state;
	uint8_t hdr[VV_ROUTE_HDR_SIZE], *sm, *b1, *b2;
	struct vv_chain *src = chain_new(9, 1, VV_ROUTE_HDR_SIZE, &sm);
	struct vv_chain *r1 = chain_new(1, 1, 4096, &b1);
	struct vv_chain *r2 = chain_new(2, 1, 4096, &b2);
	struct vv_route_done d[4];
	uint32_t done = 0;

	vv_route_port_up(f->p3, 0);
	make_hdr(hdr, 1, 0);
	vv_route_lend(f->p3, r1);
	vv_route_lend(f->p3, r2);
	assert_int_equal(vv_route_deliver(f->p3, hdr, src, VV_ROUTE_HDR_SIZE, 0, &done), 0);
	assert_int_equal(vv_route_collect(f->p3, d, 4), 1);
	assert_int_equal(d[0].len, VV_ROUTE_HDR_SIZE);
	assert_int_equal(d[0].hdr[30], 1);
	vv_route_port_down(f->p3, NULL, NULL);
	free(src); free(r1); free(r2); free(sm); free(b1); free(b2);
}

static void
test_lend_limits(void **state)
{
	struct fixture *f = *state;
	uint8_t *m, *big;
	struct vv_chain *frag = chain_new(1, VV_ROUTE_BUF_IOV_MAX + 1, 64, &m);
	struct vv_chain *ok = chain_new(2, 1, 4096, &big);
	unsigned int i;

	vv_route_port_up(f->p3, 0);
	assert_int_equal(vv_route_lend(f->p3, frag), -E2BIG);
	for (i = 0; i < VV_ROUTE_LEND_MAX; i++)
		assert_int_equal(vv_route_lend(f->p3, ok), 0);
	assert_int_equal(vv_route_lend(f->p3, ok), -ENOSPC);
	assert_int_equal(vv_route_lend_wanted(f->p3), 0);
	vv_route_port_down(f->p3, NULL, NULL);
	free(frag); free(ok); free(m); free(big);
}

struct homecoming {
	unsigned int n;
	uint16_t heads[VV_ROUTE_LEND_MAX];
	uint32_t lens[VV_ROUTE_LEND_MAX];
};

static void
note_home(uint16_t head, uint32_t len, void *arg)
{
	struct homecoming *h = arg;

	h->heads[h->n] = head;
	h->lens[h->n++] = len;
}

static void
note_home_many(uint16_t head, uint32_t len, void *arg)
{
	note_home(head, len, arg);
}

static void
test_down_returns_everything(void **state)
{
	struct fixture *f = *state;
	uint8_t hdr[VV_ROUTE_HDR_SIZE], *sm, *b1, *b2, *b3;
	struct vv_chain *src = chain_new(9, 1, VV_ROUTE_HDR_SIZE + 100, &sm);
	struct vv_chain *r1 = chain_new(11, 1, 4096, &b1);
	struct vv_chain *r2 = chain_new(12, 1, 4096, &b2);
	struct vv_chain *r3 = chain_new(13, 1, 4096, &b3);
	struct homecoming h = { 0 };
	uint32_t gen = vv_route_port_gen(f->p5), epoch = vv_route_down_epoch(f->r), done = 0;

	vv_route_port_up(f->p5, 0);
	vv_route_lend(f->p5, r1);
	vv_route_lend(f->p5, r2);
	vv_route_lend(f->p5, r3);
	make_hdr(hdr, 5, 100);
	assert_int_equal(vv_route_deliver(f->p5, hdr, src, VV_ROUTE_HDR_SIZE, 100, &done), 0);
	vv_route_port_down(f->p5, note_home, &h);
	/* Every lent buffer came home: the filled one with its length. */
	assert_int_equal(h.n, 3);
	assert_int_equal(h.heads[0] + h.heads[1] + h.heads[2], 11 + 12 + 13);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(h.lens[i], h.heads[i] == 11 ? VV_ROUTE_HDR_SIZE + 100 : 0);
	assert_int_equal(vv_route_port_gen(f->p5), gen + 1);
	assert_int_equal(vv_route_down_epoch(f->r), epoch + 1);
	done = 0;
	assert_int_equal(vv_route_deliver(f->p5, hdr, src, VV_ROUTE_HDR_SIZE, 100, &done),
			 -ENOTCONN);
	free(src); free(r1); free(r2); free(r3); free(sm); free(b1); free(b2); free(b3);
}

/* A sender lcore streams a counting pattern while the owner lends and
 * collects; then the owner goes down while the sender keeps trying. */
struct race {
	struct vv_route_port *dst;
	volatile int stop;
	uint32_t sent;      /* payload bytes delivered */
	int last_rc;
};

#define RACE_BYTES (4u << 20)

static void *
sender(void *arg)
{
	struct race *r = arg;
	uint8_t hdr[VV_ROUTE_HDR_SIZE], *m;
	struct vv_chain *src = chain_new(0, 1, VV_ROUTE_HDR_SIZE + 1000, &m);

	make_hdr(hdr, 5, 1000);
	while (!r->stop && r->sent < RACE_BYTES) {
		uint32_t done = 0;
		int rc;

		for (uint32_t i = 0; i < 1000; i++)
			m[VV_ROUTE_HDR_SIZE + i] = (uint8_t)(r->sent + i);
		do {
			rc = vv_route_deliver(r->dst, hdr, src, VV_ROUTE_HDR_SIZE, 1000, &done);
		} while (rc == -EAGAIN); /* after down it says -ENOTCONN */
		r->last_rc = rc;
		if (rc != 0)
			break;
		r->sent += 1000;
	}
	free(src);
	free(m);
	return NULL;
}

static void
test_sender_races_owner(void **state)
{
	struct fixture *f = *state;
	struct race r = { .dst = f->p5 };
	static uint8_t bufmem[VV_ROUTE_LEND_MAX][600];
	uint8_t out[VV_ROUTE_LEND_MAX] = { 0 };
	struct vv_chain *c = calloc(1, sizeof(*c));
	struct vv_route_done d[VV_ROUTE_LEND_MAX];
	struct homecoming h = { 0 };
	unsigned int i, n, n_out = 0;
	uint32_t got = 0;
	pthread_t t;

	vv_route_port_up(f->p5, 0);
	pthread_create(&t, NULL, sender, &r);
	while (got < RACE_BYTES / 2) {
		unsigned int want = vv_route_lend_wanted(f->p5);

		/* head = slot index, so a collected head says where its bytes are */
		for (i = 0; i < VV_ROUTE_LEND_MAX && want > 0; i++) {
			if (out[i])
				continue;
			c->head = (uint16_t)i;
			c->n_iov = 1;
			c->iov[0].iov_base = bufmem[i];
			c->iov[0].iov_len = sizeof(bufmem[i]);
			c->len = sizeof(bufmem[i]);
			assert_int_equal(vv_route_lend(f->p5, c), 0);
			out[i] = 1;
			n_out++;
			want--;
		}
		n = vv_route_collect(f->p5, d, VV_ROUTE_LEND_MAX);
		for (i = 0; i < n; i++) {
			uint32_t plen = d[i].len - VV_ROUTE_HDR_SIZE;

			assert_int_equal(hdr_len(d[i].hdr), plen);
			for (uint32_t k = 0; k < plen; k++)
				assert_int_equal(bufmem[d[i].head][VV_ROUTE_HDR_SIZE + k],
						 (uint8_t)(got + k));
			got += plen;
			out[d[i].head] = 0;
			n_out--;
		}
	}
	/* Go down while the sender is still pushing: whatever it was copying
	 * completes, every buffer comes home exactly once, and bytes that were
	 * filled continue the stream in order. */
	vv_route_port_down(f->p5, note_home_many, &h);
	r.stop = 1;
	pthread_join(t, NULL);
	assert_int_equal(h.n, n_out);
	for (i = 0; i < h.n; i++) {
		assert_int_equal(out[h.heads[i]], 1);
		out[h.heads[i]] = 0;
		if (h.lens[i] > 0) {
			for (uint32_t k = 0; k < h.lens[i] - VV_ROUTE_HDR_SIZE; k++)
				assert_int_equal(bufmem[h.heads[i]][VV_ROUTE_HDR_SIZE + k],
						 (uint8_t)(got + k));
			got += h.lens[i] - VV_ROUTE_HDR_SIZE;
		}
	}
	/* A message cut by the receiver going down leaves a prefix in the
	 * dying guest's buffers; the sender was told -ENOTCONN (and resets
	 * the stream): at most one message less than a whole one. */
	assert_true(got >= r.sent && got - r.sent < 1000);
	assert_int_equal(r.last_rc, -ENOTCONN);
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table, setup, teardown),
		cmocka_unit_test(test_add_errors),
		cmocka_unit_test_setup_teardown(test_down_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_and_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_one_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lend_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_down_returns_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sender_races_owner, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
