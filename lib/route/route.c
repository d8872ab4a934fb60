/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_vsock.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_pause.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "vv_route.h"

_Static_assert(VV_ROUTE_HDR_LEN_OFF == offsetof(struct virtio_vsock_hdr, len), "len offset");
_Static_assert(VV_ROUTE_HDR_FLAGS_OFF == offsetof(struct virtio_vsock_hdr, flags), "flags offset");
_Static_assert(VV_ROUTE_FLAGS_END == (VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR), "EOM|EOR");

/* Both rings hold at most VV_ROUTE_LEND_MAX pointers, so an enqueue by the
 * one who holds a buffer can never fail. */
#define RING_COUNT (2 * VV_ROUTE_LEND_MAX)
/* The owner keeps this many buffers lent (in the pool or being filled). */
#define LEND_TARGET (VV_ROUTE_LEND_MAX / 2)
#define GROUPS_MAX  16

struct lent {
	uint32_t head; /* vv_chain.head: the token vv_virtq_push takes */
	uint16_t n_iov;
	uint32_t cap;
	struct iovec iov[VV_ROUTE_BUF_IOV_MAX];
	uint32_t len;
	uint8_t hdr[VV_ROUTE_HDR_SIZE];
};

struct vv_route_port {
	struct vv_route *r;
	uint64_t cid;
	unsigned int n_groups;
	unsigned int groups[GROUPS_MAX]; /* ids of r->names */
	uint32_t has_peers;		 /* atomic: moved by the control thread */

	uint32_t up;		 /* atomic */
	uint32_t gen;		 /* atomic */
	uint64_t features;	 /* written before up is set, read after it is seen */
	struct rte_ring *pool;	 /* owner enqueues, senders dequeue */
	struct rte_ring *filled; /* senders enqueue, owner dequeues */

	/* owner only */
	unsigned int lent_out;
	unsigned int n_free;
	struct lent *free_slots[VV_ROUTE_LEND_MAX];
	struct lent slots[VV_ROUTE_LEND_MAX];
};

/* One version of the CID table, never changed once published: a change
 * publishes a new version, and the one it replaces is freed once every
 * reader lcore has been through a quiescent state (no lookup of it left). */
struct table {
	unsigned int n;
	struct vv_route_port *ports[]; /* sorted by cid */
};

/* A group name and how many endpoints hold it. An id nobody holds may be
 * given to another name: no endpoint compares with it any more. */
struct group_name {
	char name[64];
	unsigned int refs;
};

struct vv_route {
	struct table *cur; /* atomic: the version lookups see */
	struct rte_rcu_qsbr *qs;
	unsigned int cap;
	uint32_t down_epoch; /* atomic */
	/* the control thread's */
	unsigned int n_names;
	struct group_name *names;
};

static struct rte_ring *
ring_new(const char *name, unsigned int flags)
{
	ssize_t sz = rte_ring_get_memsize(RING_COUNT);
	struct rte_ring *ring;

	if (sz < 0)
		return NULL;
	ring = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL((size_t) sz, RTE_CACHE_LINE_SIZE));
	if (ring == NULL)
		return NULL;
	/* Not rte_ring_create: no memzone, so it works before and without EAL
	 * memory, and tests need no EAL. */
	if (rte_ring_init(ring, name, RING_COUNT, flags) != 0) {
		free(ring);
		return NULL;
	}
	return ring;
}

struct vv_route *
vv_route_create(unsigned int cap, struct rte_rcu_qsbr *qs)
{
	struct vv_route *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->cap = cap;
	r->qs = qs;
	r->cur = calloc(1, sizeof(*r->cur));
	if (r->cur == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

/* The id of a group name, held once more. -1: out of memory. */
static int
group_hold(struct vv_route *r, const char *name)
{
	struct group_name *names;
	unsigned int i, unused = r->n_names;

	for (i = 0; i < r->n_names; i++) {
		if (r->names[i].refs == 0) {
			if (unused == r->n_names)
				unused = i;
		} else if (strcmp(r->names[i].name, name) == 0) {
			r->names[i].refs++;
			return (int) i;
		}
	}
	if (unused == r->n_names) {
		names = realloc(r->names, (r->n_names + 1) * sizeof(*names));
		if (names == NULL)
			return -1;
		r->names = names;
		r->n_names++;
	}
	snprintf(r->names[unused].name, sizeof(r->names[0].name), "%s", name);
	r->names[unused].refs = 1;
	return (int) unused;
}

static void
port_free(struct vv_route_port *p)
{
	unsigned int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n_groups; i++)
		p->r->names[p->groups[i]].refs--;
	free(p->pool);
	free(p->filled);
	free(p);
}

static bool
share_group(const struct vv_route_port *a, const struct vv_route_port *b)
{
	unsigned int i, j;

	for (i = 0; i < a->n_groups; i++)
		for (j = 0; j < b->n_groups; j++)
			if (a->groups[i] == b->groups[j])
				return true;
	return false;
}

static void
set_has_peers(struct vv_route_port *p, bool v)
{
	__atomic_store_n(&p->has_peers, v ? 1u : 0u, __ATOMIC_RELAXED);
}

/* Make next the version lookups see; return once no reader can still be
 * in the one it replaced (a reader lcore reports a quiescent state every
 * poll round, and never keeps an endpoint found by a lookup past it).
 * An endpoint left out of next may be freed then. */
static void
publish(struct vv_route *r, struct table *next, bool one_gone)
{
	struct table *old = r->cur;

	__atomic_store_n(&r->cur, next, __ATOMIC_RELEASE);
	/* The epoch moves after the table: an lcore that sees the new epoch
	 * finds no such endpoint and resets its guest's streams with it. */
	if (one_gone)
		__atomic_fetch_add(&r->down_epoch, 1, __ATOMIC_ACQ_REL);
	if (r->qs != NULL) {
		/* Not rte_rcu_qsbr_synchronize, which spins: the control thread
		 * shares its CPU with the others (vhost-events, telemetry), and
		 * a round takes microseconds, so it sleeps between looks. */
		uint64_t token = rte_rcu_qsbr_start(r->qs);

		while (rte_rcu_qsbr_check(r->qs, token, false) == 0)
			usleep(10);
	}
	free(old);
}

struct vv_route_port *
vv_route_add(struct vv_route *r, uint64_t cid, const char (*groups)[64], unsigned int n_groups)
{
	const struct table *t = r->cur;
	struct vv_route_port *p;
	struct table *next;
	char name[RTE_RING_NAMESIZE];
	unsigned int i, at;
	int id;

	if (vv_route_lookup(r, cid) != NULL) {
		errno = EEXIST;
		return NULL;
	}
	if (t->n >= r->cap || n_groups > GROUPS_MAX) {
		errno = ENOSPC;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	next = malloc(sizeof(*next) + (t->n + 1) * sizeof(next->ports[0]));
	if (p == NULL || next == NULL)
		goto nomem;
	p->r = r;
	p->cid = cid;
	snprintf(name, sizeof(name), "vvpool%" PRIu64, cid);
	p->pool = ring_new(name, RING_F_SP_ENQ);
	snprintf(name, sizeof(name), "vvfill%" PRIu64, cid);
	p->filled = ring_new(name, RING_F_SC_DEQ);
	if (p->pool == NULL || p->filled == NULL)
		goto nomem;
	for (i = 0; i < n_groups; i++) {
		id = group_hold(r, groups[i]);
		if (id < 0)
			goto nomem;
		p->groups[p->n_groups++] = (unsigned int) id;
	}
	for (i = 0; i < VV_ROUTE_LEND_MAX; i++)
		p->free_slots[i] = &p->slots[i];
	p->n_free = VV_ROUTE_LEND_MAX;

	/* Its peers lend buffers from now on; it will once its guest runs. */
	for (i = 0; i < t->n; i++) {
		if (share_group(p, t->ports[i])) {
			set_has_peers(t->ports[i], true);
			set_has_peers(p, true);
		}
	}
	for (at = 0; at < t->n && t->ports[at]->cid < cid; at++)
		next->ports[at] = t->ports[at];
	next->ports[at] = p;
	for (i = at; i < t->n; i++)
		next->ports[i + 1] = t->ports[i];
	next->n = t->n + 1;
	publish(r, next, false);
	return p;

nomem:
	port_free(p);
	free(next);
	errno = ENOMEM;
	return NULL;
}

int
vv_route_remove(struct vv_route *r, struct vv_route_port *p)
{
	const struct table *t = r->cur;
	struct table *next;
	unsigned int i, j, n = 0;

	next = malloc(sizeof(*next) + t->n * sizeof(next->ports[0]));
	if (next == NULL)
		return -ENOMEM;
	for (i = 0; i < t->n; i++)
		if (t->ports[i] != p)
			next->ports[n++] = t->ports[i];
	if (n == t->n) {
		free(next);
		return -ENOENT;
	}
	next->n = n;
	publish(r, next, true);
	/* Peers that had nobody else stop lending buffers nobody can fill. */
	for (i = 0; i < n; i++) {
		bool peers = false;

		if (!share_group(p, next->ports[i]))
			continue;
		for (j = 0; j < n && !peers; j++)
			peers = j != i && share_group(next->ports[i], next->ports[j]);
		set_has_peers(next->ports[i], peers);
	}
	port_free(p);
	return 0;
}

void
vv_route_free(struct vv_route *r)
{
	unsigned int i;

	if (r == NULL)
		return;
	for (i = 0; i < r->cur->n; i++)
		port_free(r->cur->ports[i]);
	free(r->cur);
	free(r->names);
	free(r);
}

struct vv_route_port *
vv_route_lookup(const struct vv_route *r, uint64_t cid)
{
	const struct table *t = __atomic_load_n(&r->cur, __ATOMIC_ACQUIRE);
	unsigned int lo = 0, hi = t->n;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		uint64_t c = t->ports[mid]->cid;

		if (c == cid)
			return t->ports[mid];
		if (c < cid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

unsigned int
vv_route_count(const struct vv_route *r)
{
	return __atomic_load_n(&r->cur, __ATOMIC_ACQUIRE)->n;
}

bool
vv_route_allowed(const struct vv_route_port *a, const struct vv_route_port *b)
{
	return a != b && share_group(a, b);
}

uint64_t
vv_route_port_cid(const struct vv_route_port *p)
{
	return p->cid;
}

bool
vv_route_port_is_up(const struct vv_route_port *p)
{
	return __atomic_load_n(&p->up, __ATOMIC_ACQUIRE) != 0;
}

uint32_t
vv_route_port_gen(const struct vv_route_port *p)
{
	return __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE);
}

uint32_t
vv_route_down_epoch(const struct vv_route *r)
{
	return __atomic_load_n(&r->down_epoch, __ATOMIC_ACQUIRE);
}

bool
vv_route_port_has_peers(const struct vv_route_port *p)
{
	return __atomic_load_n(&p->has_peers, __ATOMIC_RELAXED) != 0;
}

void
vv_route_port_up(struct vv_route_port *p, uint64_t features)
{
	__atomic_store_n(&p->features, features, __ATOMIC_RELAXED);
	__atomic_store_n(&p->up, 1, __ATOMIC_RELEASE);
}

uint64_t
vv_route_port_features(const struct vv_route_port *p)
{
	return __atomic_load_n(&p->features, __ATOMIC_RELAXED);
}

static void
give_back(struct vv_route_port *p, struct lent *b)
{
	p->free_slots[p->n_free++] = b;
	p->lent_out--;
}

void
vv_route_port_refuse(struct vv_route_port *p)
{
	__atomic_store_n(&p->up, 0, __ATOMIC_RELEASE);
	__atomic_fetch_add(&p->gen, 1, __ATOMIC_ACQ_REL);
	__atomic_fetch_add(&p->r->down_epoch, 1, __ATOMIC_ACQ_REL);
}

void
vv_route_port_down(struct vv_route_port *p, void (*cb)(uint32_t head, uint32_t len, void *arg),
		   void *arg)
{
	void *b;

	vv_route_port_refuse(p);
	/* A sender that took a buffer before it saw us down finishes its copy
	 * (our guest memory is still mapped: we have not returned) and puts it
	 * on the filled ring; wait for every buffer to come home. */
	while (p->lent_out > 0) {
		while (rte_ring_mc_dequeue(p->pool, &b) == 0) {
			if (cb != NULL)
				cb(((struct lent *) b)->head, 0, arg);
			give_back(p, b);
		}
		while (rte_ring_sc_dequeue(p->filled, &b) == 0) {
			if (cb != NULL)
				cb(((struct lent *) b)->head, ((struct lent *) b)->len, arg);
			give_back(p, b);
		}
		if (p->lent_out > 0)
			rte_pause();
	}
}

unsigned int
vv_route_lend_wanted(const struct vv_route_port *p, unsigned int ring_size)
{
	unsigned int target = RTE_MIN(LEND_TARGET, ring_size / 4);

	if (target == 0)
		target = 1;
	if (!vv_route_port_has_peers(p) || !vv_route_port_is_up(p) || p->lent_out >= target)
		return 0;
	return target - p->lent_out;
}

int
vv_route_lend(struct vv_route_port *p, const struct vv_chain *c)
{
	struct lent *b;

	if (c->n_iov > VV_ROUTE_BUF_IOV_MAX)
		return -E2BIG;
	if (p->n_free == 0)
		return -ENOSPC;
	b = p->free_slots[--p->n_free];
	b->head = c->head;
	b->n_iov = (uint16_t) c->n_iov;
	b->cap = c->len;
	memcpy(b->iov, c->iov, c->n_iov * sizeof(c->iov[0]));
	b->len = 0;
	p->lent_out++;
	rte_ring_sp_enqueue(p->pool, b); /* cannot fail: RING_COUNT > LEND_MAX */
	return 0;
}

unsigned int
vv_route_collect(struct vv_route_port *p, struct vv_route_done *out, unsigned int max)
{
	void *bufs[VV_ROUTE_LEND_MAX];
	unsigned int i, n;

	if (max > VV_ROUTE_LEND_MAX)
		max = VV_ROUTE_LEND_MAX;
	n = rte_ring_sc_dequeue_burst(p->filled, bufs, max, NULL);
	for (i = 0; i < n; i++) {
		struct lent *b = bufs[i];

		out[i].head = b->head;
		out[i].len = b->len;
		memcpy(out[i].hdr, b->hdr, sizeof(b->hdr));
		give_back(p, b);
	}
	return n;
}

/* Write len bytes into b's buffer at offset off, from flat memory or, when
 * flat is NULL, from the src chain at soff: one copy, guest to guest. */
static void
buf_write(struct lent *b, uint32_t off, uint32_t len, const uint8_t *flat,
	  const struct vv_chain *src, uint32_t soff)
{
	unsigned int i;

	for (i = 0; i < b->n_iov && len > 0; i++) {
		uint32_t seg = (uint32_t) b->iov[i].iov_len;
		uint8_t *dst = (uint8_t *) b->iov[i].iov_base + off;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		seg -= off;
		if (seg > len)
			seg = len;
		if (flat != NULL) {
			memcpy(dst, flat, seg);
			flat += seg;
		} else {
			vv_chain_read(src, soff, dst, seg);
			soff += seg;
		}
		len -= seg;
		off = 0;
	}
}

int
vv_route_deliver(struct vv_route_port *dst, const uint8_t *hdr, const struct vv_chain *src,
		 uint32_t src_off, uint32_t len, uint32_t *done)
{
	if (!vv_route_port_is_up(dst))
		return -ENOTCONN;
	do {
		struct lent *b;
		uint32_t piece, le;

		if (rte_ring_mc_dequeue(dst->pool, (void **) &b) != 0)
			return -EAGAIN;
		piece = b->cap - VV_ROUTE_HDR_SIZE;
		if (piece > len - *done)
			piece = len - *done;
		memcpy(b->hdr, hdr, VV_ROUTE_HDR_SIZE);
		le = rte_cpu_to_le_32(piece);
		memcpy(b->hdr + VV_ROUTE_HDR_LEN_OFF, &le, sizeof(le));
		if (*done + piece < len) {
			/* The end of a SEQPACKET message (and its record) is
			 * where the payload ends: on the last piece only. */
			memcpy(&le, b->hdr + VV_ROUTE_HDR_FLAGS_OFF, sizeof(le));
			le &= ~rte_cpu_to_le_32(VV_ROUTE_FLAGS_END);
			memcpy(b->hdr + VV_ROUTE_HDR_FLAGS_OFF, &le, sizeof(le));
		}
		buf_write(b, 0, VV_ROUTE_HDR_SIZE, b->hdr, NULL, 0);
		buf_write(b, VV_ROUTE_HDR_SIZE, piece, NULL, src, src_off + *done);
		b->len = VV_ROUTE_HDR_SIZE + piece;
		*done += piece;
		rte_ring_mp_enqueue(dst->filled, b); /* cannot fail, see RING_COUNT */
	} while (*done < len);
	return 0;
}
