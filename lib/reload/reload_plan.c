/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a reload does to each VM, from the running VMs' keys and the new
 * file's: a pure comparison (lib/config's diff), testable without EAL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vv_reload.h"

static const char *const action_names[VV_RELOAD_ACTIONS] = {
	[VV_RELOAD_KEEP] = "unchanged",	   [VV_RELOAD_UPDATE] = "updated",
	[VV_RELOAD_RESTART] = "restarted", [VV_RELOAD_REMOVE] = "removed",
	[VV_RELOAD_ADD] = "added",
};

const char *
vv_reload_action_name(enum vv_reload_action a)
{
	return (unsigned int) a < VV_RELOAD_ACTIONS ? action_names[a] : "?";
}

/* Keep, update in place, or restart a VM found in both. */
static enum vv_reload_action
compare(const struct vv_vm_config *run, unsigned int run_lcore, const struct vv_vm_config *next,
	char *what, size_t whatlen)
{
	struct vv_vm_config in_place = *next;

	if (vv_config_vm_diff(run, next, what, whatlen) == 0)
		return VV_RELOAD_KEEP;
	/* Alike but for queue_size and lcore? */
	in_place.queue_size = run->queue_size;
	in_place.lcore = run->lcore;
	if (vv_config_vm_diff(run, &in_place, NULL, 0) != 0)
		return VV_RELOAD_RESTART;
	/* A new lcore key moves the VM unless it already runs there; a
	 * dropped one leaves it where it is. */
	if (next->lcore >= 0 && (unsigned int) next->lcore != run_lcore)
		return VV_RELOAD_RESTART;
	return VV_RELOAD_UPDATE;
}

int
vv_reload_plan(const struct vv_vm_config *running, const unsigned int *running_lcore,
	       unsigned int n_running, const struct vv_config *next, vv_reload_place_fn place,
	       struct vv_reload_plan *plan, char *err, size_t errlen)
{
	unsigned int i, n = 0;
	int j, r;

	memset(plan, 0, sizeof(*plan));
	plan->steps = calloc(n_running + next->n_vms + 1, sizeof(plan->steps[0]));
	if (plan->steps == NULL)
		return -ENOMEM;
	for (i = 0; i < n_running; i++) {
		struct vv_reload_step *s = &plan->steps[n++];

		s->guest_cid = running[i].guest_cid;
		s->running = (int) i;
		j = vv_config_vm_find(next, running[i].guest_cid);
		s->next = j < 0 ? -1 : j;
		s->action = j < 0 ? VV_RELOAD_REMOVE
				  : compare(&running[i], running_lcore[i], &next->vms[j],
					    s->changed, sizeof(s->changed));
	}
	for (i = 0; i < next->n_vms; i++) {
		struct vv_reload_step *s;
		bool found = false;

		for (unsigned int k = 0; k < n_running && !found; k++)
			found = running[k].guest_cid == next->vms[i].guest_cid;
		if (found)
			continue;
		s = &plan->steps[n++];
		s->action = VV_RELOAD_ADD;
		s->guest_cid = next->vms[i].guest_cid;
		s->running = -1;
		s->next = (int) i;
	}
	plan->n_steps = n;
	for (i = 0; i < n; i++) {
		const struct vv_reload_step *s = &plan->steps[i];

		plan->count[s->action]++;
		/* Where it will run is asked before anything changes, so that a
		 * pinned lcore that is no worker refuses the whole file. */
		if (s->action == VV_RELOAD_ADD || s->action == VV_RELOAD_RESTART) {
			r = place(&next->vms[s->next], err, errlen);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

void
vv_reload_plan_free(struct vv_reload_plan *plan)
{
	free(plan->steps);
	memset(plan, 0, sizeof(*plan));
}
