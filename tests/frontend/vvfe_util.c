/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The verifiable pattern and latency percentiles shared by the tool and
 * the tests.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vvfe_priv.h"

_Static_assert(VVFE_PATTERN_SLACK >= VVFE_PATTERN_PERIOD &&
		       VVFE_PATTERN_SLACK <= 2ull * VVFE_PATTERN_PERIOD,
	       "table_make extends the period in two copies");

static uint8_t *table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void table_make(void)
{
	uint64_t x = 0x5656464556564645ull;

	/* One shared table; streams differ by where they start in it. The
	 * period is followed by a copy of its first VVFE_PATTERN_SLACK bytes,
	 * so any run of that many bytes is contiguous: senders write and
	 * receivers compare straight from the table. If malloc fails, table
	 * stays NULL and get_table() aborts: a test tool without its pattern
	 * cannot verify anything. */
	table = malloc(VVFE_PATTERN_PERIOD + VVFE_PATTERN_SLACK + 8);
	if (table == NULL)
		return;
	for (uint32_t i = 0; i < VVFE_PATTERN_PERIOD; i += 8) {
		uint64_t v = splitmix64(&x);

		memcpy(table + i, &v, 8);
	}
	/* The slack is a bit longer than the period: extend in two steps. */
	memcpy(table + VVFE_PATTERN_PERIOD, table, VVFE_PATTERN_PERIOD);
	memcpy(table + 2 * VVFE_PATTERN_PERIOD, table, VVFE_PATTERN_SLACK - VVFE_PATTERN_PERIOD);
}

static const uint8_t *get_table(void)
{
	pthread_once(&table_once, table_make);
	if (table == NULL)
		abort();
	return table;
}

void vvfe_pattern_init(struct vvfe_pattern *p, uint64_t seed)
{
	uint64_t x = seed;

	p->start = (uint32_t)(splitmix64(&x) % VVFE_PATTERN_PERIOD);
}

static uint32_t table_index(const struct vvfe_pattern *p, uint64_t pos)
{
	return (uint32_t)((p->start + pos % VVFE_PATTERN_PERIOD) % VVFE_PATTERN_PERIOD);
}

const uint8_t *vvfe_pattern_ptr(const struct vvfe_pattern *p, uint64_t pos, size_t *contig)
{
	uint32_t i = table_index(p, pos);

	*contig = (size_t)VVFE_PATTERN_PERIOD + VVFE_PATTERN_SLACK - i;
	return get_table() + i;
}

void vvfe_pattern_fill(const struct vvfe_pattern *p, uint64_t pos, void *buf, size_t len)
{
	uint8_t *o = buf;

	while (len > 0) {
		size_t n;
		const uint8_t *t = vvfe_pattern_ptr(p, pos, &n);

		if (n > len)
			n = len;
		memcpy(o, t, n);
		o += n;
		pos += n;
		len -= n;
	}
}

ssize_t vvfe_pattern_check(const struct vvfe_pattern *p, uint64_t pos, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	size_t done = 0;

	while (done < len) {
		size_t n;
		const uint8_t *t = vvfe_pattern_ptr(p, pos + done, &n);

		if (n > len - done)
			n = len - done;
		/* One memcmp per call in practice (runs are VVFE_PATTERN_SLACK
		 * or longer); the byte loop only runs to name a bad offset. */
		if (memcmp(b + done, t, n) != 0) {
			for (size_t k = 0; k < n; k++)
				if (b[done + k] != t[k])
					return (ssize_t)(done + k);
		}
		done += n;
	}
	return -1;
}

int vvfe_lat_add(struct vvfe_lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		uint64_t *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ns;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t vvfe_lat_pct(struct vvfe_lat *l, double q)
{
	size_t rank;

	if (l->n == 0)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
	if (q <= 0)
		return l->v[0];
	if (q >= 100)
		return l->v[l->n - 1];
	/* Nearest rank: the smallest sample with at least q% at or below it. */
	rank = (size_t)((q / 100.0) * (double)l->n + 0.999999999);
	if (rank == 0)
		rank = 1;
	if (rank > l->n)
		rank = l->n;
	return l->v[rank - 1];
}

void vvfe_lat_free(struct vvfe_lat *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int vvfe_name_index(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], name) == 0)
			return i;
	return -EINVAL;
}
