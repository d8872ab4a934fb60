/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Command line and YAML configuration of dpdk-vhost-vsock.
 *
 * The command line is a drop-in for rust-vmm vhost-device-vsock 0.3:
 * single-VM flags (--guest-cid, --socket, --uds-path, --tx-buffer-size,
 * --queue-size, --groups), or repeated --vm key=val,..., or --config FILE.yaml.
 * Every way in runs the same checks and writes the same messages.
 * Parsing never exits and never prints: errors are returned as text.
 */
#ifndef VV_CONFIG_H
#define VV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** sun_path holds 108 bytes; "<uds_path>_<port>" must fit with a 10-digit port. */
#define VV_PATH_MAX	  108u
#define VV_UDS_PATH_MAX	  (VV_PATH_MAX - 1 - 11)
#define VV_GROUP_NAME_MAX 64u
#define VV_GROUPS_MAX	  16u
#define VV_VMS_MAX	  1024u

#define VV_DEFAULT_GUEST_CID	  3u
#define VV_DEFAULT_TX_BUFFER_SIZE 65536u
#define VV_DEFAULT_QUEUE_SIZE	  1024u
#define VV_DEFAULT_GROUP	  "default"

/* Connections per VM: each holds a host socket and up to tx_buffer_size
 * bytes, so this bounds one VM's fds and memory (doc/configuration.md). */
#define VV_DEFAULT_MAX_CONNECTIONS	2048u
#define VV_MAX_CONNECTIONS_MAX		65536u
#define VV_DEFAULT_MAX_PENDING_CONNECTS 128u

/** socket_mode / uds_mode not given: the file keeps what the umask gave it.
 * Mode 0000 is refused (it would let only root connect), so 0 can mean this. */
#define VV_MODE_UNSET 0
/** socket_user, socket_group, uds_user, uds_group not given: left as created. */
#define VV_ID_UNSET (-1)

#define VV_TX_BUFFER_SIZE_MIN 4096u
#define VV_TX_BUFFER_SIZE_MAX (1u << 30)
#define VV_QUEUE_SIZE_MAX     32768u

/** Configuration of one VM (one vhost-user device). */
struct vv_vm_config {
	uint64_t guest_cid;
	char socket[VV_PATH_MAX];   /**< vhost-user server socket (QEMU connects here) */
	char uds_path[VV_PATH_MAX]; /**< host-side hybrid vsock socket */
	uint32_t tx_buffer_size;    /**< per-connection buffer, advertised as buf_alloc */
	uint32_t queue_size;	    /**< largest vring size accepted, power of two */
	unsigned int n_groups;
	char groups[VV_GROUPS_MAX][VV_GROUP_NAME_MAX];
	int lcore;		       /**< worker lcore id, or -1 for round-robin */
	uint32_t max_connections;      /**< live streams of the VM; more get RST */
	uint32_t max_pending_connects; /**< host clients still to send their CONNECT line */
	/* Who may connect to the vhost-user socket (socket_*) and to uds_path
	 * (uds_*): owner, group and mode applied when the file is created. */
	int64_t socket_uid, socket_gid; /**< VV_ID_UNSET: as created */
	int socket_mode;		/**< permission bits; VV_MODE_UNSET: from the umask */
	int64_t uds_uid, uds_gid;
	int uds_mode;
};

enum vv_config_action {
	VV_CONFIG_RUN = 0,
	VV_CONFIG_HELP,
	VV_CONFIG_VERSION,
};

/** The whole program configuration (everything after EAL's "--"). */
struct vv_config {
	enum vv_config_action action;
	unsigned int n_vms;
	struct vv_vm_config *vms; /**< array of n_vms, owned, freed by vv_config_free */
	char config_file[4096];	  /**< --config path, empty if none */
	uint32_t idle_sleep_us; /**< --idle-sleep-us: no longer used, kept for old command lines */
	bool busy_poll;		/**< --busy-poll: worker lcores never sleep */
	uint32_t idle_poll_us;	/**< --idle-poll-us: idle polling before a worker sleeps */
};

/** Default of --idle-poll-us (see doc/performance.md for how it was chosen). */
#define VV_DEFAULT_IDLE_POLL_US 200u

/**
 * Parse the application's arguments (argv[0] is the program name) into a
 * complete, checked configuration. With --config the VMs are read from the
 * file by vv_config_load_yaml(). Nothing is printed, nothing exits.
 *
 * @param cfg
 *   Zeroed first (free a previous parse before reuse), filled on success;
 *   on failure it may be partly filled and must still be released with
 *   vv_config_free().
 * @param err
 *   Receives a one-line message naming the bad flag, key, value or YAML line.
 * @return
 *   0 on success (check cfg->action for help/version);
 *   -EINVAL on a bad flag, key or value, or conflicting options;
 *   -ENOENT/-EACCES/-EIO when --config cannot be read;
 *   -ENOMEM on allocation failure.
 */
int vv_config_parse_args(struct vv_config *cfg, int argc, char **argv, char *err, size_t errlen);

/**
 * Read a YAML file of VMs (what --config names) into a complete, checked
 * configuration: the start-up checks and messages, for a reload as well.
 * Options that only the command line sets (idle_sleep_us) are left at 0:
 * a reload keeps the running ones. Nothing is printed, nothing exits.
 *
 * @param cfg
 *   Zeroed first, config_file set to path; on failure it may be partly
 *   filled and must still be released with vv_config_free().
 * @param path
 *   The file; messages name it ("vms.yaml line 4: ...").
 * @param err
 *   Receives a one-line message.
 * @return
 *   0 on success;
 *   -ENOENT if the file does not exist, -EACCES if it may not be read,
 *   -EIO if it cannot be read (e.g. a directory);
 *   -EINVAL on a bad document, key or value, a file over 4 MiB, an empty
 *   or too long path, or no VM;
 *   -ENOMEM on allocation failure.
 */
int vv_config_load_yaml(struct vv_config *cfg, const char *path, char *err, size_t errlen);

/**
 * Parse a YAML document with a top-level `vms:` list and append its VMs to
 * cfg->vms, each checked against the VMs already there. Messages name
 * cfg->config_file (or "YAML" when it is empty) and the line. The
 * configuration as a whole is vv_config_validate()'s to check.
 *
 * @return
 *   0 on success;
 *   -EINVAL on a YAML syntax error, an unexpected structure, a bad key or
 *   value, or too many VMs;
 *   -ENOMEM on allocation failure.
 */
int vv_config_parse_yaml(struct vv_config *cfg, const char *text, size_t len, char *err,
			 size_t errlen);

/**
 * Check the whole configuration: every key's value and limits, CIDs (not
 * 0, 1, 2, not >= 0xFFFFFFFF), duplicate CIDs and paths, at least one VM
 * to run, --idle-sleep-us. Called by vv_config_parse_args and
 * vv_config_load_yaml; for a configuration built by other means.
 *
 * @return
 *   0, or -EINVAL with a message naming the VM ("VM #2: ...") and key.
 */
int vv_config_validate(const struct vv_config *cfg, char *err, size_t errlen);

/**
 * Compare two VMs key by key, as a reload tells a changed VM from one to
 * leave alone. Groups compare as sets ("a+b" is "b+a").
 *
 * @param what
 *   If not NULL, receives the names of the keys that differ, in key order,
 *   separated by ", " (empty when none); cut to whatlen.
 * @return
 *   The number of keys that differ: 0 when the two are configured alike.
 */
unsigned int vv_config_vm_diff(const struct vv_vm_config *a, const struct vv_vm_config *b,
			       char *what, size_t whatlen);

/**
 * Find a VM by its CID, the identity of a VM across a reload.
 *
 * @return
 *   Its index in cfg->vms, or -ENOENT if no VM has that CID.
 */
int vv_config_vm_find(const struct vv_config *cfg, uint64_t guest_cid);

/** True if the two VMs share at least one group name. */
bool vv_config_groups_intersect(const struct vv_vm_config *a, const struct vv_vm_config *b);

/** Release what vv_config_parse_args allocated; cfg may be reused after. */
void vv_config_free(struct vv_config *cfg);

/** Print the --help text. */
void vv_config_usage(const char *prog, FILE *stream);

#endif
