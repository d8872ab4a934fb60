/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Reload (SIGHUP): read the --config file again and make the running VMs
 * match it, without restarting the process and without touching the VMs
 * the file leaves as they are.
 *
 * VMs are matched by guest CID. What happens to each:
 *
 *  - in the file only: **added** (its sockets, its lcore, its CID table
 *    entry), as at start-up;
 *  - running only: **removed**: its streams end with RST (host and sibling
 *    streams), its front-end is disconnected, its sockets are unlinked and
 *    its memory freed;
 *  - in both, configured alike: **unchanged**, not even paused;
 *  - in both, only keys that apply in place differ: **updated** in place.
 *    They are queue_size (checked the next time the guest driver starts)
 *    and lcore when the VM already runs on the new lcore, or the key is
 *    dropped (the VM stays where it runs);
 *  - in both, any other key differs (socket, uds_path, tx_buffer_size,
 *    groups, lcore naming another lcore): **restarted**: removed, then
 *    added with its new keys. Its front-end is disconnected like a removed
 *    VM's; QEMU must then be restarted (it does not reconnect).
 *
 * Refused as a whole, nothing changed, the running set stays: a file that
 * does not pass the start-up checks (same messages), a VM whose lcore key
 * names no worker lcore (same message as at start-up), a path of an added
 * or restarted VM that cannot be served now (missing or read-only
 * directory, a live server, a file that is not a socket). A VM that still
 * cannot be added after these checks (out of memory, a race for its path)
 * is logged and left out; the rest of the reload is done.
 *
 * The order: removals (and the removal half of restarts) first, all their
 * streams reset together (one wait of at most 500 ms for the RSTs to reach
 * the guests), then updates, then additions; a path a removed VM freed may
 * be taken by an added one.
 */
#ifndef VV_RELOAD_H
#define VV_RELOAD_H

#include <stddef.h>
#include <stdint.h>

#include <vv_config.h>

/** What a reload does to one VM. */
enum vv_reload_action {
	VV_RELOAD_KEEP = 0, /**< configured alike: not touched */
	VV_RELOAD_UPDATE,   /**< only keys that apply in place differ */
	VV_RELOAD_RESTART,  /**< removed, then added with its new keys */
	VV_RELOAD_REMOVE,   /**< not in the file any more */
	VV_RELOAD_ADD,	    /**< new in the file */
	VV_RELOAD_ACTIONS,
};

/** One VM's step. */
struct vv_reload_step {
	enum vv_reload_action action;
	uint64_t guest_cid;
	int running;	   /**< index among the running VMs, -1 for ADD */
	int next;	   /**< index in the new configuration, -1 for REMOVE */
	char changed[160]; /**< UPDATE, RESTART: the keys that differ, "a, b" */
};

/** Every VM's step: the running VMs in their order, then the added ones in the file's. */
struct vv_reload_plan {
	unsigned int n_steps;
	struct vv_reload_step *steps;
	unsigned int count[VV_RELOAD_ACTIONS]; /**< steps per action */
};

/** How the planner asks where a VM would run (vv_worker_place in the program). */
typedef int (*vv_reload_place_fn)(const struct vv_vm_config *cfg, char *err, size_t errlen);

/**
 * Compare the running VMs with a new configuration. Changes nothing.
 *
 * @param running
 *   The running VMs' keys, n_running of them (lcore: as configured, -1
 *   when left to placement).
 * @param running_lcore
 *   The lcore each running VM runs on.
 * @param next
 *   The new configuration, checked (vv_config_load_yaml).
 * @param place
 *   Gives the lcore a VM of these keys would run on, or -EINVAL with a
 *   message: asked for every VM to add or restart.
 * @param plan
 *   Filled on success; release with vv_reload_plan_free (also on failure).
 * @return
 *   0; -EINVAL with err (what place said) when a VM to add or restart
 *   could not be placed; -ENOMEM.
 */
int vv_reload_plan(const struct vv_vm_config *running, const unsigned int *running_lcore,
		   unsigned int n_running, const struct vv_config *next, vv_reload_place_fn place,
		   struct vv_reload_plan *plan, char *err, size_t errlen);

/** Release a plan. */
void vv_reload_plan_free(struct vv_reload_plan *plan);

/** "unchanged", "updated", "restarted", "removed", "added". */
const char *vv_reload_action_name(enum vv_reload_action a);

/**
 * The whole reload of path, on the main thread while the lcores run:
 * load and check the file, plan, check the paths to serve, apply, and log
 * what was done per CID and a summary line (log type vv.reload).
 *
 * @return
 *   0 when the running VMs now match the file;
 *   a vv_config_load_yaml error, -EINVAL (lcore), or a path error
 *   (vv_uds_check_path) when refused as a whole: err says why, nothing
 *   changed;
 *   -EIO when some VM could not be added: err names the first, the rest of
 *   the reload was applied.
 */
int vv_reload_file(const char *path, char *err, size_t errlen);

#endif
