/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A reload on the main thread: the file, the plan, the checks that refuse
 * it as a whole, then removals, updates and additions through lib/worker
 * and lib/vhost. The lcores keep polling throughout; a VM the plan leaves
 * alone is never called.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_log.h>

#include <vv_uds.h>
#include <vv_vhost.h>
#include <vv_worker.h>

#include "vv_reload.h"

RTE_LOG_REGISTER(vv_logtype_reload, vv.reload, INFO);
#define RELOAD_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vv_logtype_reload, "RELOAD: " fmt "\n", ##__VA_ARGS__)

/* How long removed VMs' guests get to receive their RSTs (as at shutdown). */
#define DRAIN_MS 500u

/* The running VMs, as the plan sees them. */
struct running {
	unsigned int n;
	struct vv_vm **vm;
	struct vv_vm_config *cfg;
	unsigned int *lcore;
};

static int
running_get(struct running *r)
{
	unsigned int i;

	r->n = vv_worker_vm_count();
	r->vm = calloc(r->n + 1, sizeof(*r->vm));
	r->cfg = calloc(r->n + 1, sizeof(*r->cfg));
	r->lcore = calloc(r->n + 1, sizeof(*r->lcore));
	if (r->vm == NULL || r->cfg == NULL || r->lcore == NULL)
		return -ENOMEM;
	for (i = 0; i < r->n; i++) {
		r->vm[i] = vv_worker_vm(i);
		r->cfg[i] = *vv_worker_vm_config(r->vm[i]);
		r->lcore[i] = vv_worker_vm_lcore(r->vm[i]);
	}
	return 0;
}

static void
running_free(struct running *r)
{
	free(r->vm);
	free(r->cfg);
	free(r->lcore);
}

/* Is path one of the running VMs' that this plan removes (so it is ours
 * to free before anything is added)? */
static bool
freed_by_plan(const char *path, const struct running *run, const struct vv_reload_plan *plan)
{
	unsigned int i;

	for (i = 0; i < plan->n_steps; i++) {
		const struct vv_reload_step *s = &plan->steps[i];

		if (s->action != VV_RELOAD_REMOVE && s->action != VV_RELOAD_RESTART)
			continue;
		const struct vv_vm_config *c = &run->cfg[s->running];
		char seq[VV_PATH_MAX];

		if (strcmp(c->socket, path) == 0 || strcmp(c->uds_path, path) == 0)
			return true;
		if (vv_uds_seqpacket_path(seq, sizeof(seq), c->uds_path) == 0 &&
		    strcmp(seq, path) == 0)
			return true;
	}
	return false;
}

/* Every path an added or restarted VM will serve must be free now, or be
 * one the removals free: otherwise the file is refused before any change. */
static int
check_paths(const struct running *run, const struct vv_config *next,
	    const struct vv_reload_plan *plan, char *err, size_t errlen)
{
	unsigned int i;
	int r;

	for (i = 0; i < plan->n_steps; i++) {
		const struct vv_reload_step *s = &plan->steps[i];
		const struct vv_vm_config *c;
		char seq[VV_PATH_MAX];
		const char *paths[3];

		if (s->action != VV_RELOAD_ADD && s->action != VV_RELOAD_RESTART)
			continue;
		c = &next->vms[s->next];
		/* The config leaves room for "_<port>", longer than the suffix. */
		if (vv_uds_seqpacket_path(seq, sizeof(seq), c->uds_path) != 0)
			return -ENAMETOOLONG;
		paths[0] = c->socket;
		paths[1] = c->uds_path;
		paths[2] = seq;
		for (unsigned int k = 0; k < 3; k++) {
			if (freed_by_plan(paths[k], run, plan))
				continue;
			r = vv_uds_check_path(paths[k], err, errlen);
			if (r != 0)
				return r;
		}
	}
	return 0;
}

/* Removals and the removal half of restarts: the streams of all of them
 * end with RST together, then each is unregistered and freed. */
static void
remove_vms(const struct running *run, const struct vv_reload_plan *plan)
{
	struct vv_vm **gone = calloc(plan->n_steps + 1, sizeof(*gone));
	unsigned int i, n = 0, left;

	for (i = 0; i < plan->n_steps; i++) {
		const struct vv_reload_step *s = &plan->steps[i];

		if (s->action == VV_RELOAD_REMOVE || s->action == VV_RELOAD_RESTART) {
			if (gone != NULL)
				gone[n++] = run->vm[s->running];
			else /* no memory for the list: one at a time */
				vv_worker_drain_vms(&run->vm[s->running], 1, DRAIN_MS);
		}
	}
	left = vv_worker_drain_vms(gone, n, DRAIN_MS);
	if (left > 0)
		RELOAD_LOG(WARNING, "%u reset(s) not delivered in time, closing anyway", left);
	free(gone);
	for (i = 0; i < plan->n_steps; i++) {
		const struct vv_reload_step *s = &plan->steps[i];

		if (s->action != VV_RELOAD_REMOVE && s->action != VV_RELOAD_RESTART)
			continue;
		/* Front-end disconnected, running device destroyed, socket
		 * unlinked; then no callback can reach the VM any more. */
		vv_vhost_vm_remove(run->vm[s->running]);
		vv_worker_vm_remove(run->vm[s->running]);
		if (s->action == VV_RELOAD_REMOVE)
			RELOAD_LOG(INFO, "cid %" PRIu64 ": removed", s->guest_cid);
	}
}

/* Add one VM of next (a new one, or the second half of a restart). */
static int
add_vm(const struct vv_reload_step *s, const struct vv_config *next, char *err, size_t errlen)
{
	const struct vv_vm_config *c = &next->vms[s->next];
	struct vv_vm *vm = vv_worker_vm_add(c, err, errlen);
	int r;

	if (vm == NULL)
		return -errno;
	r = vv_vhost_vm_add(vm, err, errlen);
	if (r != 0) {
		vv_worker_vm_remove(vm);
		return r;
	}
	if (s->action == VV_RELOAD_ADD)
		RELOAD_LOG(INFO, "cid %" PRIu64 ": added on lcore %u", s->guest_cid,
			   vv_worker_vm_lcore(vm));
	else
		RELOAD_LOG(INFO, "cid %" PRIu64 ": restarted on lcore %u (changed: %s)",
			   s->guest_cid, vv_worker_vm_lcore(vm), s->changed);
	return 0;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static int
refuse(const char *path, int r, char *err)
{
	RELOAD_LOG(ERR, "%s refused, running VMs unchanged: %s", path, err);
	return r;
}

int
vv_reload_file(const char *path, char *err, size_t errlen)
{
	struct vv_reload_plan plan = { 0 };
	struct running run = { 0 };
	struct vv_config next;
	char why[512];
	uint64_t t0 = now_ms();
	unsigned int i, failed = 0;
	int r;

	RELOAD_LOG(INFO, "reading %s", path);
	r = vv_config_load_yaml(&next, path, err, errlen);
	if (r == 0)
		r = running_get(&run);
	if (r == 0)
		r = vv_reload_plan(run.cfg, run.lcore, run.n, &next, vv_worker_place, &plan, err,
				   errlen);
	if (r == 0)
		r = check_paths(&run, &next, &plan, err, errlen);
	if (r != 0) {
		if (r == -ENOMEM)
			snprintf(err, errlen, "%s", strerror(ENOMEM));
		refuse(path, r, err);
		goto out;
	}

	remove_vms(&run, &plan);
	for (i = 0; i < plan.n_steps; i++) {
		const struct vv_reload_step *s = &plan.steps[i];

		if (s->action == VV_RELOAD_UPDATE) {
			vv_worker_vm_update(run.vm[s->running], &next.vms[s->next]);
			RELOAD_LOG(INFO, "cid %" PRIu64 ": updated in place (changed: %s)",
				   s->guest_cid, s->changed);
		}
	}
	/* Additions in the file's order, so that placement is what a start
	 * with this file would give the VMs that are new. */
	for (unsigned int k = 0; k < next.n_vms; k++) {
		for (i = 0; i < plan.n_steps; i++) {
			const struct vv_reload_step *s = &plan.steps[i];

			if (s->next != (int) k ||
			    (s->action != VV_RELOAD_ADD && s->action != VV_RELOAD_RESTART))
				continue;
			r = add_vm(s, &next, why, sizeof(why));
			if (r != 0) {
				RELOAD_LOG(
					ERR, "cid %" PRIu64 ": %s, but not added: %s", s->guest_cid,
					s->action == VV_RELOAD_ADD ? "new" : "removed to restart",
					why);
				if (failed++ == 0)
					snprintf(err, errlen, "cid %" PRIu64 ": %s", s->guest_cid,
						 why);
			}
		}
	}
	vv_worker_vm_order(&next);
	RELOAD_LOG(INFO,
		   "%s: %u added, %u removed, %u restarted, %u updated, %u unchanged, "
		   "%u failed (%" PRIu64 " ms)",
		   path, plan.count[VV_RELOAD_ADD], plan.count[VV_RELOAD_REMOVE],
		   plan.count[VV_RELOAD_RESTART], plan.count[VV_RELOAD_UPDATE],
		   plan.count[VV_RELOAD_KEEP], failed, now_ms() - t0);
	r = failed > 0 ? -EIO : 0;
out:
	vv_reload_plan_free(&plan);
	running_free(&run);
	vv_config_free(&next);
	return r;
}
