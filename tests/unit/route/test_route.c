/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/route: the CID table, lending, delivery with splitting, backpressure,
 * going down with buffers out, and a sender racing its receiver; VMs added
 * and removed while reader threads look the table up (rte_rcu_qsbr). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_common.h>
#include <rte_pause.h>
#include <rte_rcu_qsbr.h>

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

	f->r = vv_route_create(4, NULL);
	f->p5 = vv_route_add(f->r, 5, g_ab, 2);
	f->p3 = vv_route_add(f->r, 3, g_a, 1);
	f->p9 = vv_route_add(f->r, 9, g_c, 1);
	assert_non_null(f->p3);
	assert_non_null(f->p5);
	assert_non_null(f->p9);
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
chain_new(uint32_t head, unsigned int n, uint32_t seg, uint8_t **mem)
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
	struct vv_route *r = vv_route_create(1, NULL);

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
test_add_errors_groups(void **state)
{
	static char many[17][64];
	struct vv_route *r = vv_route_create(4, NULL), *other = vv_route_create(4, NULL);
	struct vv_route_port *p;

	(void)state;
	for (unsigned int i = 0; i < 17; i++)
		snprintf(many[i], sizeof(many[i]), "g%u", i);
	errno = 0;
	assert_null(vv_route_add(r, 7, many, 17));
	assert_int_equal(errno, ENOSPC);
	assert_non_null(vv_route_add(r, 7, many, 16));
	/* A port of another table is not removed from this one. */
	p = vv_route_add(other, 8, g_a, 1);
	assert_non_null(p);
	assert_int_equal(vv_route_remove(r, p), -ENOENT);
	assert_int_equal(vv_route_count(r), 1);
	assert_int_equal(vv_route_remove(other, p), 0);
	assert_int_equal(vv_route_count(other), 0);
	vv_route_free(r);
	vv_route_free(other);
}

/* VMs removed and added at run time: lookups, who may talk, who lends. */
static void
test_remove_and_add(void **state)
{
	struct fixture *f = *state;
	uint32_t epoch = vv_route_down_epoch(f->r);
	struct vv_route_port *p4, *p5;

	/* 3 (a) and 5 (a, b) share a; 9 (c) is alone. */
	assert_int_equal(vv_route_remove(f->r, f->p5), 0);
	f->p5 = NULL;
	assert_null(vv_route_lookup(f->r, 5));
	assert_ptr_equal(vv_route_lookup(f->r, 3), f->p3);
	assert_ptr_equal(vv_route_lookup(f->r, 9), f->p9);
	assert_int_equal(vv_route_count(f->r), 2);
	/* Everyone resets streams with the VM that left. */
	assert_int_equal(vv_route_down_epoch(f->r), epoch + 1);
	/* 3 has no peer left: it lends nothing any more. */
	assert_false(vv_route_port_has_peers(f->p3));
	vv_route_port_up(f->p3, 0);
	assert_int_equal(vv_route_lend_wanted(f->p3, 1024), 0);

	/* A new VM in 9's group, and 5 again in a: peers again. */
	p4 = vv_route_add(f->r, 4, g_c, 1);
	assert_non_null(p4);
	assert_true(vv_route_port_has_peers(f->p9));
	assert_true(vv_route_allowed(p4, f->p9));
	assert_false(vv_route_allowed(p4, f->p3));
	p5 = vv_route_add(f->r, 5, g_a, 1);
	assert_non_null(p5);
	f->p5 = p5;
	assert_true(vv_route_port_has_peers(f->p3));
	assert_true(vv_route_allowed(f->p3, p5));
	assert_int_equal(vv_route_lend_wanted(f->p3, 1024), VV_ROUTE_LEND_MAX / 2);
	/* Sorted whatever the order of additions. */
	assert_ptr_equal(vv_route_lookup(f->r, 4), p4);
	assert_ptr_equal(vv_route_lookup(f->r, 5), p5);
	assert_null(vv_route_lookup(f->r, 6));
	assert_int_equal(vv_route_count(f->r), 4);
	/* Adding moves no epoch: nobody lost a peer. */
	assert_int_equal(vv_route_down_epoch(f->r), epoch + 1);
}

/* A group id nobody holds any more is given to the next new name: VMs that
 * got the old and the new id must still be told apart by their names. */
static void
test_group_ids_reused(void **state)
{
	static const char g_x[][64] = { "x" };
	static const char g_y[][64] = { "y" };
	static const char g_xy[][64] = { "y", "x" };
	struct vv_route *r = vv_route_create(8, NULL);
	struct vv_route_port *a, *b, *c, *d;

	(void)state;
	a = vv_route_add(r, 3, g_x, 1);
	assert_int_equal(vv_route_remove(r, a), 0);
	b = vv_route_add(r, 4, g_y, 1); /* takes the id "x" had */
	c = vv_route_add(r, 5, g_x, 1); /* "x" again: another id */
	d = vv_route_add(r, 6, g_xy, 2);
	assert_non_null(b);
	assert_non_null(c);
	assert_non_null(d);
	assert_false(vv_route_allowed(b, c));
	assert_true(vv_route_allowed(b, d));
	assert_true(vv_route_allowed(c, d));
	for (unsigned int i = 0; i < 100; i++) {
		struct vv_route_port *e = vv_route_add(r, 7, g_x, 1);

		assert_non_null(e);
		assert_true(vv_route_allowed(e, c));
		assert_false(vv_route_allowed(e, b));
		assert_int_equal(vv_route_remove(r, e), 0);
	}
	vv_route_free(r);
}

/* --- readers on other threads, as worker lcores are --- */

#define READER_ID 1u

static struct rte_rcu_qsbr *
qsbr_new(void)
{
	size_t sz = rte_rcu_qsbr_get_memsize(4);
	struct rte_rcu_qsbr *v = aligned_alloc(RTE_CACHE_LINE_SIZE,
					       RTE_ALIGN_CEIL(sz, RTE_CACHE_LINE_SIZE));

	assert_non_null(v);
	assert_int_equal(rte_rcu_qsbr_init(v, 4), 0);
	return v;
}

struct holder {
	struct vv_route *r;
	struct rte_rcu_qsbr *qs;
	volatile int holding, quiescent;
	uint64_t cid_seen;
};

/* Finds 9, keeps its endpoint a while (a poll round that takes long), reads
 * it, and only then reports a quiescent state. */
static void *
hold_then_quiesce(void *arg)
{
	struct holder *h = arg;
	struct vv_route_port *p;

	rte_rcu_qsbr_thread_register(h->qs, READER_ID);
	rte_rcu_qsbr_thread_online(h->qs, READER_ID);
	p = vv_route_lookup(h->r, 9);
	h->holding = 1;
	usleep(100000);
	h->cid_seen = vv_route_port_cid(p); /* freed already? ASan says */
	__atomic_store_n(&h->quiescent, 1, __ATOMIC_SEQ_CST);
	rte_rcu_qsbr_quiescent(h->qs, READER_ID);
	while (vv_route_lookup(h->r, 9) != NULL)
		rte_rcu_qsbr_quiescent(h->qs, READER_ID);
	rte_rcu_qsbr_thread_offline(h->qs, READER_ID);
	rte_rcu_qsbr_thread_unregister(h->qs, READER_ID);
	return NULL;
}

static void
test_remove_waits_for_readers(void **state)
{
	struct rte_rcu_qsbr *qs = qsbr_new();
	struct vv_route *r = vv_route_create(4, qs);
	struct holder h = { .r = r, .qs = qs };
	struct vv_route_port *p9;
	pthread_t t;

	(void)state;
	assert_non_null(vv_route_add(r, 3, g_a, 1));
	p9 = vv_route_add(r, 9, g_c, 1);
	assert_non_null(p9);
	pthread_create(&t, NULL, hold_then_quiesce, &h);
	while (!h.holding)
		rte_pause();
	/* Returns only once the reader is past its use of the endpoint. */
	assert_int_equal(vv_route_remove(r, p9), 0);
	assert_int_equal(__atomic_load_n(&h.quiescent, __ATOMIC_SEQ_CST), 1);
	pthread_join(t, NULL);
	assert_int_equal(h.cid_seen, 9);

	/* An offline reader (an lcore asleep) holds nothing: no wait. */
	rte_rcu_qsbr_thread_register(qs, READER_ID);
	rte_rcu_qsbr_thread_online(qs, READER_ID);
	rte_rcu_qsbr_thread_offline(qs, READER_ID);
	p9 = vv_route_add(r, 9, g_c, 1);
	assert_int_equal(vv_route_remove(r, p9), 0);
	rte_rcu_qsbr_thread_unregister(qs, READER_ID);
	vv_route_free(r);
	free(qs);
}

/* Readers look up, check and deliver-probe endpoints as fast as they can,
 * reporting a quiescent state each "round", while the control thread adds
 * and removes VMs: every endpoint found is whole (its CID is the one looked
 * up), stable VMs are always found, and ASan sees no endpoint or table
 * version used after it was freed. */
struct churn {
	struct vv_route *r;
	struct rte_rcu_qsbr *qs;
	unsigned int id;
	volatile int *stop;
	uint64_t rounds, found, bad;
};

#define CHURN_STABLE 3u /* CIDs 10, 20, 30 stay; 11..18 come and go */

static void *
churn_reader(void *arg)
{
	struct churn *c = arg;

	rte_rcu_qsbr_thread_register(c->qs, c->id);
	rte_rcu_qsbr_thread_online(c->qs, c->id);
	while (!*c->stop) {
		for (uint64_t cid = 10; cid <= 30; cid++) {
			struct vv_route_port *p = vv_route_lookup(c->r, cid);

			if (p == NULL) {
				if (cid % 10 == 0)
					c->bad++;
				continue;
			}
			c->found++;
			if (vv_route_port_cid(p) != cid || vv_route_port_is_up(p))
				c->bad++;
		}
		c->rounds++;
		rte_rcu_qsbr_quiescent(c->qs, c->id);
	}
	rte_rcu_qsbr_thread_offline(c->qs, c->id);
	rte_rcu_qsbr_thread_unregister(c->qs, c->id);
	return NULL;
}

static void
test_churn_with_readers(void **state)
{
	struct rte_rcu_qsbr *qs = qsbr_new();
	struct vv_route *r = vv_route_create(16, qs);
	struct vv_route_port *moving[8] = { NULL };
	struct churn c[2];
	volatile int stop = 0;
	pthread_t t[2];
	unsigned int i, k;

	(void)state;
	for (i = 1; i <= CHURN_STABLE; i++)
		assert_non_null(vv_route_add(r, 10u * i, g_a, 1));
	for (k = 0; k < 2; k++) {
		c[k] = (struct churn){ .r = r, .qs = qs, .id = k + 1, .stop = &stop };
		pthread_create(&t[k], NULL, churn_reader, &c[k]);
	}
	/* Both online before the churn: then every change waits for them. */
	for (k = 0; k < 2; k++)
		while (__atomic_load_n(&c[k].rounds, __ATOMIC_RELAXED) == 0)
			rte_pause();
	/* Each change waits for both readers: a few hundred are enough to
	 * interleave with them on a busy two-CPU machine. */
	for (i = 0; i < 400; i++) {
		unsigned int slot = i % 8;

		if (moving[slot] != NULL) {
			assert_int_equal(vv_route_remove(r, moving[slot]), 0);
			moving[slot] = NULL;
		} else {
			moving[slot] = vv_route_add(r, 11 + slot, (i & 8) ? g_a : g_c, 1);
			assert_non_null(moving[slot]);
		}
	}
	stop = 1;
	for (k = 0; k < 2; k++) {
		pthread_join(t[k], NULL);
		assert_true(c[k].rounds > 0);
		assert_true(c[k].found >= c[k].rounds * CHURN_STABLE);
		assert_int_equal(c[k].bad, 0);
	}
	vv_route_free(r);
	free(qs);
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
	assert_int_equal(vv_route_lend_wanted(f->p5, 1024), 0);
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
	assert_int_equal(vv_route_lend_wanted(f->p5, 1024), VV_ROUTE_LEND_MAX / 2);
	/* A small rx ring lends a quarter of itself, at least one buffer: the
	 * rest stays for the owner's own host traffic. */
	assert_int_equal(vv_route_lend_wanted(f->p5, 32), 8);
	assert_int_equal(vv_route_lend_wanted(f->p5, 2), 1);

	/* Nothing lent: the sender must wait, nothing delivered. */
	assert_int_equal(vv_route_deliver(f->p5, hdr, src, VV_ROUTE_HDR_SIZE, 10000, &done),
			 -EAGAIN);
	assert_int_equal(done, 0);

	assert_int_equal(vv_route_lend(f->p5, r1), 0);
	assert_int_equal(vv_route_lend_wanted(f->p5, 2), 0);
	assert_int_equal(vv_route_lend_wanted(f->p5, 32), 7);
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
	assert_int_equal(vv_route_lend_wanted(f->p5, 1024), VV_ROUTE_LEND_MAX / 2);
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
	assert_int_equal(vv_route_lend_wanted(f->p3, 1024), 0);
	vv_route_port_down(f->p3, NULL, NULL);
	free(frag); free(ok); free(m); free(big);
}

struct homecoming {
	unsigned int n;
	uint32_t heads[VV_ROUTE_LEND_MAX];
	uint32_t lens[VV_ROUTE_LEND_MAX];
};

static void
note_home(uint32_t head, uint32_t len, void *arg)
{
	struct homecoming *h = arg;

	h->heads[h->n] = head;
	h->lens[h->n++] = len;
}

static void
note_home_many(uint32_t head, uint32_t len, void *arg)
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
		unsigned int want = vv_route_lend_wanted(f->p5, 1024);

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
		cmocka_unit_test(test_add_errors_groups),
		cmocka_unit_test_setup_teardown(test_remove_and_add, setup, teardown),
		cmocka_unit_test(test_group_ids_reused),
		cmocka_unit_test(test_remove_waits_for_readers),
		cmocka_unit_test(test_churn_with_readers),
		cmocka_unit_test_setup_teardown(test_down_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_and_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_one_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lend_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_down_returns_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sender_races_owner, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
