/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/reload's plan: what a reload does to each VM given the running VMs
 * and the new file. Placement is a fake with two worker lcores, 1 and 2.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <vv_reload.h>

static char err[512];
static unsigned int placed; /* calls to fake_place */

static int
fake_place(const struct vv_vm_config *cfg, char *e, size_t elen)
{
	placed++;
	if (cfg->lcore < 0)
		return 1;
	if (cfg->lcore == 1 || cfg->lcore == 2)
		return cfg->lcore;
	snprintf(e, elen, "VM cid %" PRIu64 ": lcore %d is not an enabled worker lcore",
		 cfg->guest_cid, cfg->lcore);
	return -EINVAL;
}

static struct vv_vm_config
vm(uint64_t cid)
{
	struct vv_vm_config c;

	memset(&c, 0, sizeof(c));
	c.guest_cid = cid;
	snprintf(c.socket, sizeof(c.socket), "/run/v/vm%" PRIu64 ".vhost", cid);
	snprintf(c.uds_path, sizeof(c.uds_path), "/run/v/vm%" PRIu64 ".vsock", cid);
	c.tx_buffer_size = 65536;
	c.queue_size = 1024;
	c.n_groups = 1;
	snprintf(c.groups[0], sizeof(c.groups[0]), "default");
	c.lcore = -1;
	return c;
}

/* The step of cid; fails the test if there is none. */
static const struct vv_reload_step *
step(const struct vv_reload_plan *p, uint64_t cid)
{
	for (unsigned int i = 0; i < p->n_steps; i++)
		if (p->steps[i].guest_cid == cid)
			return &p->steps[i];
	fail_msg("no step for cid %" PRIu64, cid);
	return NULL;
}

static void
expect(const struct vv_reload_plan *p, uint64_t cid, enum vv_reload_action a, const char *changed)
{
	const struct vv_reload_step *s = step(p, cid);

	if (s->action != a)
		fail_msg("cid %" PRIu64 ": %s, expected %s (changed: %s)", cid,
			 vv_reload_action_name(s->action), vv_reload_action_name(a), s->changed);
	if (changed != NULL)
		assert_string_equal(s->changed, changed);
}

/* Three running (3, 4, 5); the file keeps 3, drops 4, changes 5's
 * tx_buffer_size, adds 6 and 7 (in this order, after the running ones). */
static void
test_add_remove_keep_restart(void **state)
{
	struct vv_vm_config run[3] = { vm(3), vm(4), vm(5) };
	unsigned int lc[3] = { 1, 2, 1 };
	struct vv_vm_config nv[4] = { vm(7), vm(5), vm(3), vm(6) };
	struct vv_config next = { .n_vms = 4, .vms = nv };
	struct vv_reload_plan p;

	nv[1].tx_buffer_size = 262144;
	placed = 0;
	assert_int_equal(vv_reload_plan(run, lc, 3, &next, fake_place, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n_steps, 5);
	expect(&p, 3, VV_RELOAD_KEEP, "");
	expect(&p, 4, VV_RELOAD_REMOVE, "");
	expect(&p, 5, VV_RELOAD_RESTART, "tx_buffer_size");
	expect(&p, 6, VV_RELOAD_ADD, "");
	expect(&p, 7, VV_RELOAD_ADD, "");
	/* Running VMs first, in their order; then the file's new ones in its order. */
	assert_int_equal(p.steps[0].guest_cid, 3);
	assert_int_equal(p.steps[1].guest_cid, 4);
	assert_int_equal(p.steps[2].guest_cid, 5);
	assert_int_equal(p.steps[3].guest_cid, 7);
	assert_int_equal(p.steps[4].guest_cid, 6);
	/* Indexes into both lists. */
	assert_int_equal(step(&p, 3)->running, 0);
	assert_int_equal(step(&p, 3)->next, 2);
	assert_int_equal(step(&p, 4)->next, -1);
	assert_int_equal(step(&p, 6)->running, -1);
	assert_int_equal(step(&p, 6)->next, 3);
	assert_int_equal(p.count[VV_RELOAD_KEEP], 1);
	assert_int_equal(p.count[VV_RELOAD_REMOVE], 1);
	assert_int_equal(p.count[VV_RELOAD_RESTART], 1);
	assert_int_equal(p.count[VV_RELOAD_ADD], 2);
	assert_int_equal(p.count[VV_RELOAD_UPDATE], 0);
	/* Placement asked for what will be added: 5, 6, 7. */
	assert_int_equal(placed, 3);
	vv_reload_plan_free(&p);
}

/* Per key: what restarts a VM and what is applied in place. */
static void
test_per_key(void **state)
{
	struct vv_vm_config run[1] = { vm(3) };
	unsigned int lc[1] = { 2 };
	struct vv_vm_config nv[1];
	struct vv_config next = { .n_vms = 1, .vms = nv };
	struct vv_reload_plan p;
	static const struct {
		const char *key;
		enum vv_reload_action a;
	} cases[] = {
		{ "socket", VV_RELOAD_RESTART },	 { "uds_path", VV_RELOAD_RESTART },
		{ "tx_buffer_size", VV_RELOAD_RESTART }, { "queue_size", VV_RELOAD_UPDATE },
		{ "groups", VV_RELOAD_RESTART },	 { "groups_same_set", VV_RELOAD_KEEP },
		{ "lcore_where_it_runs", VV_RELOAD_UPDATE },
		{ "lcore_elsewhere", VV_RELOAD_RESTART },
		{ "lcore_and_queue_size", VV_RELOAD_UPDATE },
		{ "queue_size_and_socket", VV_RELOAD_RESTART },
	};

	run[0].n_groups = 2;
	snprintf(run[0].groups[1], sizeof(run[0].groups[1]), "b");
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *k = cases[i].key;

		nv[0] = run[0];
		if (strcmp(k, "socket") == 0 || strcmp(k, "queue_size_and_socket") == 0)
			snprintf(nv[0].socket, sizeof(nv[0].socket), "/run/v/other.vhost");
		if (strcmp(k, "uds_path") == 0)
			snprintf(nv[0].uds_path, sizeof(nv[0].uds_path), "/run/v/other.vsock");
		if (strcmp(k, "tx_buffer_size") == 0)
			nv[0].tx_buffer_size = 4096;
		if (strncmp(k, "queue_size", 10) == 0 || strcmp(k, "lcore_and_queue_size") == 0)
			nv[0].queue_size = 256;
		if (strcmp(k, "groups") == 0)
			nv[0].n_groups = 1;
		if (strcmp(k, "groups_same_set") == 0) {
			snprintf(nv[0].groups[0], sizeof(nv[0].groups[0]), "b");
			snprintf(nv[0].groups[1], sizeof(nv[0].groups[1]), "default");
		}
		if (strcmp(k, "lcore_where_it_runs") == 0 || strcmp(k, "lcore_and_queue_size") == 0)
			nv[0].lcore = 2;
		if (strcmp(k, "lcore_elsewhere") == 0)
			nv[0].lcore = 1;
		assert_int_equal(vv_reload_plan(run, lc, 1, &next, fake_place, &p, err, sizeof(err)),
				 0);
		assert_int_equal(p.n_steps, 1);
		if (p.steps[0].action != cases[i].a)
			fail_msg("%s: %s, expected %s", k, vv_reload_action_name(p.steps[0].action),
				 vv_reload_action_name(cases[i].a));
		vv_reload_plan_free(&p);
	}

	/* The lcore key dropped: the VM stays where it runs, updated. */
	run[0].lcore = 2;
	nv[0] = run[0];
	nv[0].lcore = -1;
	assert_int_equal(vv_reload_plan(run, lc, 1, &next, fake_place, &p, err, sizeof(err)), 0);
	expect(&p, 3, VV_RELOAD_UPDATE, "lcore");
	vv_reload_plan_free(&p);
	/* Two keys named, in key-table order. */
	nv[0] = run[0];
	nv[0].queue_size = 128;
	nv[0].tx_buffer_size = 8192;
	assert_int_equal(vv_reload_plan(run, lc, 1, &next, fake_place, &p, err, sizeof(err)), 0);
	expect(&p, 3, VV_RELOAD_RESTART, "tx_buffer_size, queue_size");
	vv_reload_plan_free(&p);
}

/* A VM to add or restart pinned to no worker: the whole plan is refused,
 * with what placement said. A kept VM is not asked about. */
static void
test_lcore_refused(void **state)
{
	struct vv_vm_config run[2] = { vm(3), vm(4) };
	unsigned int lc[2] = { 1, 1 };
	struct vv_vm_config nv[3] = { vm(3), vm(4), vm(9) };
	struct vv_config next = { .n_vms = 3, .vms = nv };
	struct vv_reload_plan p;

	nv[2].lcore = 7;
	assert_int_equal(vv_reload_plan(run, lc, 2, &next, fake_place, &p, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "VM cid 9: lcore 7 is not an enabled worker lcore"));
	vv_reload_plan_free(&p);

	/* A restart to a missing lcore too. */
	nv[2].lcore = -1;
	nv[1].lcore = 5;
	assert_int_equal(vv_reload_plan(run, lc, 2, &next, fake_place, &p, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "VM cid 4: lcore 5"));
	vv_reload_plan_free(&p);

	/* A running VM pinned (at start) where it runs, kept: no question. */
	run[1].lcore = 1;
	nv[1].lcore = 1;
	placed = 0;
	assert_int_equal(vv_reload_plan(run, lc, 2, &next, fake_place, &p, err, sizeof(err)), 0);
	expect(&p, 4, VV_RELOAD_KEEP, "");
	assert_int_equal(placed, 1); /* 9 only */
	vv_reload_plan_free(&p);
}

/* Everything removed, or nothing running: the plan is only removals or
 * only additions. 1024 VMs each way. */
static void
test_all_or_nothing(void **state)
{
	enum { N = 1024 };
	struct vv_vm_config *run = calloc(N, sizeof(*run)), *nv = calloc(N, sizeof(*nv));
	unsigned int *lc = calloc(N, sizeof(*lc));
	struct vv_config next = { .n_vms = 1, .vms = nv };
	struct vv_reload_plan p;

	assert_non_null(run);
	assert_non_null(nv);
	assert_non_null(lc);
	for (unsigned int i = 0; i < N; i++) {
		run[i] = vm(3 + i);
		nv[i] = vm(10000 + i);
		lc[i] = 1 + i % 2;
	}
	assert_int_equal(vv_reload_plan(run, lc, N, &next, fake_place, &p, err, sizeof(err)), 0);
	assert_int_equal(p.count[VV_RELOAD_REMOVE], N);
	assert_int_equal(p.count[VV_RELOAD_ADD], 1);
	vv_reload_plan_free(&p);
	next.n_vms = N;
	assert_int_equal(vv_reload_plan(run, lc, 0, &next, fake_place, &p, err, sizeof(err)), 0);
	assert_int_equal(p.count[VV_RELOAD_ADD], N);
	assert_int_equal(p.n_steps, N);
	vv_reload_plan_free(&p);
	free(run);
	free(nv);
	free(lc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_remove_keep_restart),
		cmocka_unit_test(test_per_key),
		cmocka_unit_test(test_lcore_refused),
		cmocka_unit_test(test_all_or_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
