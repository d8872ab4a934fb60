/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The only file that calls rte_vhost. Everything else sees guest memory and
 * rings as struct vv_mem / vv_virtq, so the datapath is testable without it.
 *
 * Threads: every callback and message hook runs on rte_vhost's vhost-events
 * thread. They reach the datapath only through vv_worker_vm_call(), which
 * waits for the VM's lcore; the lcore never takes a vhost lock, so waiting
 * here cannot deadlock. Inside the message hooks rte_vhost holds its queue
 * locks: only lock-free getters (mem table, vring, vring base) are used there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <rte_log.h>
#include <rte_byteorder.h>
#include <rte_vhost.h>

#include <vv_uds.h>
#include <vv_worker.h>

#include "vv_vhost.h"

RTE_LOG_REGISTER(vv_logtype_vhost, vv.vhost, INFO);
#define VHOST_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vv_logtype_vhost, "VHOST: " fmt "\n", ##__VA_ARGS__)

/* vhost-user messages, laid out as in QEMU's docs/interop/vhost-user.rst;
 * rte_vhost keeps its own definitions private. The message is the first
 * member of what the hooks receive. */
enum {
	VU_SET_MEM_TABLE = 5,
	VU_SET_VRING_CALL = 13,
	VU_GET_CONFIG = 24,
};

#define VU_CONFIG_HDR_SIZE 12u
#define VU_CONFIG_MAX	   256u
/* virtio-vsock config space: le64 guest_cid (virtio spec 5.10.4). */
#define VSOCK_CONFIG_SIZE 8u

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VU_CONFIG_MAX];
} __attribute__((packed));

struct vu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	union {
		uint64_t u64;
		struct vu_config config;
	} payload;
} __attribute__((packed));

/* Must match rte_vhost's MAX_VHOST_DEVICE. */
#define VID_MAX 1024

struct port {
	struct vv_vm *vm;
	int vid;	      /* the connection that owns the device, -1 if none */
	unsigned int n_conns; /* connections on this socket (briefly 2 on a reconnect) */
	bool running;	      /* rings handed to the lcore */
	bool remapping;	      /* SET_MEM_TABLE on a running device */
	bool registered;
	uint64_t features;
	struct vv_virtq saved[2];
};

static struct port *ports;
static unsigned int n_ports;
static struct port *vid_port[VID_MAX];

static struct port *
port_of_vid(int vid)
{
	return vid >= 0 && vid < VID_MAX ? vid_port[vid] : NULL;
}

/* Read the device as rte_vhost negotiated it into our own structures,
 * checking what a hostile front-end could get wrong. */
static int
load_device(struct port *p, int vid, struct vv_mem *mem, struct vv_virtq vq[2])
{
	const struct vv_vm_config *cfg = vv_worker_vm_config(p->vm);
	struct rte_vhost_memory *m = NULL;
	uint32_t i;
	uint16_t q;

	if (rte_vhost_get_negotiated_features(vid, &p->features) != 0)
		return -EINVAL;
	if (rte_vhost_get_mem_table(vid, &m) != 0)
		return -EINVAL;
	if (m->nregions > VV_MEM_REGIONS_MAX) {
		VHOST_LOG(ERR, "cid %" PRIu64 ": %u memory regions, at most %u supported",
			  cfg->guest_cid, m->nregions, VV_MEM_REGIONS_MAX);
		free(m);
		return -E2BIG;
	}
	memset(mem, 0, sizeof(*mem));
	mem->n_regions = m->nregions;
	for (i = 0; i < m->nregions; i++) {
		mem->regions[i].gpa = m->regions[i].guest_phys_addr;
		mem->regions[i].size = m->regions[i].size;
		mem->regions[i].hva = m->regions[i].host_user_addr;
	}
	free(m);

	for (q = 0; q < 2; q++) {
		struct rte_vhost_vring vr;
		uint16_t last_avail, last_used;

		if (rte_vhost_get_vhost_vring(vid, q, &vr) != 0 || vr.desc == NULL ||
		    vr.avail == NULL || vr.used == NULL)
			return -EINVAL;
		if (vr.size == 0 || (vr.size & (vr.size - 1)) != 0 || vr.size > cfg->queue_size) {
			VHOST_LOG(ERR,
				  "cid %" PRIu64 ": queue %u has %u entries; a power of two "
				  "up to queue-size %u is required",
				  cfg->guest_cid, q, vr.size, cfg->queue_size);
			return -EINVAL;
		}
		if (((uintptr_t) vr.desc & 15) || ((uintptr_t) vr.avail & 1) ||
		    ((uintptr_t) vr.used & 3))
			return -EINVAL;
		if (rte_vhost_get_vring_base(vid, q, &last_avail, &last_used) != 0)
			return -EINVAL;
		memset(&vq[q], 0, sizeof(vq[q]));
		vq[q].desc = vr.desc;
		vq[q].avail = vr.avail;
		vq[q].used = vr.used;
		vq[q].size = vr.size;
		vq[q].last_avail_idx = last_avail;
		vq[q].used_idx = last_used;
		vq[q].callfd = vr.callfd;
		vq[q].event_idx = (p->features >> VIRTIO_RING_F_EVENT_IDX) & 1;
	}
	return 0;
}

static int
start_datapath(struct port *p, int vid, const struct vv_virtq *keep_idx)
{
	struct vv_mem mem;
	struct vv_virtq vq[2];
	int r = load_device(p, vid, &mem, vq);

	if (r != 0)
		return r;
	if (keep_idx != NULL) {
		/* Memory was remapped under a running device: the rings'
		 * addresses changed, where we were in them did not. */
		for (int q = 0; q < 2; q++) {
			vq[q].last_avail_idx = keep_idx[q].last_avail_idx;
			vq[q].used_idx = keep_idx[q].used_idx;
		}
	}
	r = vv_worker_vm_attach(p->vm, &mem, &vq[0], &vq[1]);
	if (r == 0)
		p->running = true;
	return r;
}

static void
stop_datapath(struct port *p, bool keep_conns)
{
	if (!p->running)
		return;
	if (keep_conns)
		vv_worker_vm_pause(p->vm, &p->saved[0], &p->saved[1]);
	else
		vv_worker_vm_detach(p->vm, &p->saved[0], &p->saved[1]);
	p->running = false;
}

static int
new_device(int vid)
{
	struct port *p = port_of_vid(vid);
	int r;

	if (p == NULL)
		return -1;
	if (p->running && p->vid != vid) {
		VHOST_LOG(ERR, "cid %" PRIu64 ": a second front-end tried to start the device",
			  vv_worker_vm_config(p->vm)->guest_cid);
		return -1;
	}
	p->vid = vid;
	r = start_datapath(p, vid, NULL);
	if (r != 0) {
		VHOST_LOG(ERR, "cid %" PRIu64 ": cannot start device: %s",
			  vv_worker_vm_config(p->vm)->guest_cid, strerror(-r));
		return -1;
	}
	return 0;
}

/* Called inside GET_VRING_BASE or on disconnect; guest memory is unmapped
 * as soon as we return, so the lcore must be done with it first. */
static void
destroy_device(int vid)
{
	struct port *p = port_of_vid(vid);

	if (p == NULL || !p->running || p->vid != vid)
		return;
	stop_datapath(p, false);
	/* Hand our ring positions back so GET_VRING_BASE reports them. */
	rte_vhost_set_vring_base(vid, 0, p->saved[0].last_avail_idx, p->saved[0].used_idx);
	rte_vhost_set_vring_base(vid, 1, p->saved[1].last_avail_idx, p->saved[1].used_idx);
}

struct enable_args {
	uint16_t q;
	bool on;
};

static int
do_enable(struct vv_vsock *vs, void *arg)
{
	const struct enable_args *a = arg;

	vv_vsock_enable_queue(vs, a->q, a->on);
	return 0;
}

static int
vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	struct port *p = port_of_vid(vid);
	struct enable_args a = { queue_id, enable != 0 };

	if (p != NULL && p->running && p->vid == vid && queue_id < 2)
		vv_worker_vm_call(p->vm, do_enable, &a);
	return 0;
}

struct callfd_args {
	uint16_t q;
	int fd;
};

static int
do_set_callfd(struct vv_vsock *vs, void *arg)
{
	const struct callfd_args *a = arg;

	return vv_vsock_set_callfd(vs, a->q, a->fd);
}

static enum rte_vhost_msg_result
get_config(struct port *p, struct vu_msg *msg)
{
	uint64_t cid = rte_cpu_to_le_64(vv_worker_vm_config(p->vm)->guest_cid);
	struct vu_config *c = &msg->payload.config;
	uint32_t off = c->offset, len = c->size;

	if (msg->size < VU_CONFIG_HDR_SIZE || len > VU_CONFIG_MAX || off > VU_CONFIG_MAX ||
	    len > VU_CONFIG_MAX - off)
		return RTE_VHOST_MSG_RESULT_ERR;
	memset(c->region, 0, len);
	if (off < VSOCK_CONFIG_SIZE) {
		uint32_t k = VSOCK_CONFIG_SIZE - off;

		memcpy(c->region, (const uint8_t *) &cid + off, k < len ? k : len);
	}
	msg->size = VU_CONFIG_HDR_SIZE + len;
	return RTE_VHOST_MSG_RESULT_REPLY;
}

/* Before rte_vhost handles a message. */
static enum rte_vhost_msg_result
pre_msg(int vid, void *m)
{
	struct port *p = port_of_vid(vid);
	struct vu_msg *msg = m;
	struct callfd_args a;

	if (p == NULL)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	switch (msg->request) {
	case VU_GET_CONFIG:
		/* rte_vhost answers GET_CONFIG only for vDPA devices. */
		return get_config(p, msg);
	case VU_SET_MEM_TABLE:
		/* rte_vhost unmaps the old regions while handling it. */
		if (p->running && p->vid == vid) {
			stop_datapath(p, true);
			p->remapping = true;
		}
		break;
	case VU_SET_VRING_CALL:
		/* rte_vhost closes the old eventfd while handling it: the
		 * lcore must stop using it first. */
		if (p->running && p->vid == vid && (msg->payload.u64 & 0xff) < 2) {
			a.q = msg->payload.u64 & 0xff;
			a.fd = -1;
			vv_worker_vm_call(p->vm, do_set_callfd, &a);
		}
		break;
	}
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

/* After rte_vhost handled a message (also after ours: answer nothing twice). */
static enum rte_vhost_msg_result
post_msg(int vid, void *m)
{
	struct port *p = port_of_vid(vid);
	struct vu_msg *msg = m;
	struct rte_vhost_vring vr;
	struct callfd_args a;

	if (p == NULL)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	switch (msg->request) {
	case VU_SET_MEM_TABLE:
		if (p->remapping) {
			p->remapping = false;
			if (start_datapath(p, vid, p->saved) != 0)
				VHOST_LOG(ERR,
					  "cid %" PRIu64 ": rings unusable after "
					  "SET_MEM_TABLE, device stopped",
					  vv_worker_vm_config(p->vm)->guest_cid);
		}
		break;
	case VU_SET_VRING_CALL:
		a.q = msg->payload.u64 & 0xff;
		if (p->running && p->vid == vid && a.q < 2 &&
		    rte_vhost_get_vhost_vring(vid, a.q, &vr) == 0) {
			a.fd = vr.callfd;
			vv_worker_vm_call(p->vm, do_set_callfd, &a);
		}
		break;
	}
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static const struct rte_vhost_user_extern_ops extern_ops = {
	.pre_msg_handle = pre_msg,
	.post_msg_handle = post_msg,
};

static int
new_connection(int vid)
{
	char path[PATH_MAX];
	struct vv_vm *vm;
	unsigned int i;

	if (vid < 0 || vid >= VID_MAX || rte_vhost_get_ifname(vid, path, sizeof(path)) != 0)
		return -1;
	vm = vv_worker_vm_by_socket(path);
	for (i = 0; i < n_ports; i++) {
		if (ports[i].vm != vm)
			continue;
		/* A VM that reconnects at once can come in before rte_vhost
		 * has processed the old connection's hang-up (same thread):
		 * accept it, the old one's teardown follows. Only one
		 * connection at a time owns the running device. */
		if (ports[i].n_conns > 0)
			VHOST_LOG(WARNING,
				  "%s: new front-end while the previous one is "
				  "still connected",
				  path);
		vid_port[vid] = &ports[i];
		if (rte_vhost_extern_callback_register(vid, &extern_ops, NULL) != 0) {
			vid_port[vid] = NULL;
			return -1;
		}
		ports[i].n_conns++;
		if (!ports[i].running)
			ports[i].vid = vid;
		VHOST_LOG(INFO, "cid %" PRIu64 ": front-end connected on %s",
			  vv_worker_vm_config(vm)->guest_cid, path);
		return 0;
	}
	return -1;
}

static void
destroy_connection(int vid)
{
	struct port *p = port_of_vid(vid);

	if (p == NULL)
		return;
	vid_port[vid] = NULL;
	p->n_conns--;
	if (p->vid != vid)
		return;		 /* an old or refused connection */
	stop_datapath(p, false); /* normally done by destroy_device already */
	p->vid = -1;
	p->features = 0;
	for (int v = 0; v < VID_MAX; v++) {
		if (vid_port[v] == p) {
			p->vid = v; /* the newer connection takes over */
			break;
		}
	}
	VHOST_LOG(INFO, "cid %" PRIu64 ": front-end disconnected",
		  vv_worker_vm_config(p->vm)->guest_cid);
}

static const struct rte_vhost_device_ops device_ops = {
	.new_device = new_device,
	.destroy_device = destroy_device,
	.vring_state_changed = vring_state_changed,
	.new_connection = new_connection,
	.destroy_connection = destroy_connection,
};

static int
register_port(struct port *p, char *err, size_t errlen)
{
	const struct vv_vm_config *vc = vv_worker_vm_config(p->vm);
	const struct vv_uds_perm perm = {
		.uid = vc->socket_uid,
		.gid = vc->socket_gid,
		.mode = vc->socket_mode,
	};
	const char *path = vc->socket;
	mode_t old_umask;
	int r;

	r = vv_uds_claim_path(path, err, errlen);
	if (r != 0)
		return r;
	if (rte_vhost_driver_register(path, 0) != 0) {
		snprintf(err, errlen, "%s: cannot register the vhost-user socket", path);
		return -EINVAL;
	}
	p->registered = true;
	if (rte_vhost_driver_set_features(path, VV_VHOST_FEATURES) != 0 ||
	    rte_vhost_driver_set_protocol_features(path, VV_VHOST_PROTOCOL_FEATURES) != 0 ||
	    rte_vhost_driver_callback_register(path, &device_ops) != 0) {
		snprintf(err, errlen, "%s: cannot start the vhost-user socket", path);
		return -EINVAL;
	}
	/* rte_vhost binds and listens in driver_start: until the owner and
	 * mode are set, only our own user may connect (vv_uds_perm_begin). */
	old_umask = vv_uds_perm_begin(&perm);
	r = rte_vhost_driver_start(path);
	if (r != 0) {
		umask(old_umask);
		snprintf(err, errlen, "%s: cannot start the vhost-user socket", path);
		return -EINVAL;
	}
	return vv_uds_perm_apply(path, &perm, old_umask, err, errlen);
}

int
vv_vhost_start(char *err, size_t errlen)
{
	unsigned int i;
	int r;

	n_ports = vv_worker_vm_count();
	ports = calloc(n_ports, sizeof(*ports));
	if (ports == NULL)
		return -ENOMEM;
	for (i = 0; i < n_ports; i++) {
		ports[i].vm = vv_worker_vm(i);
		ports[i].vid = -1;
	}
	for (i = 0; i < n_ports; i++) {
		r = register_port(&ports[i], err, errlen);
		if (r != 0)
			return r;
		VHOST_LOG(INFO, "cid %" PRIu64 ": vhost-user socket %s, host sockets %s",
			  vv_worker_vm_config(ports[i].vm)->guest_cid,
			  vv_worker_vm_config(ports[i].vm)->socket,
			  vv_worker_vm_config(ports[i].vm)->uds_path);
	}
	return 0;
}

void
vv_vhost_stop(void)
{
	unsigned int i;

	for (i = 0; i < n_ports; i++) {
		const char *path = vv_worker_vm_config(ports[i].vm)->socket;

		if (!ports[i].registered)
			continue;
		/* Destroys a running device first (destroy_device runs). */
		if (rte_vhost_driver_unregister(path) != 0)
			VHOST_LOG(WARNING, "%s: unregister failed", path);
		unlink(path);
		ports[i].registered = false;
	}
	free(ports);
	ports = NULL;
	n_ports = 0;
}

uint64_t
vv_vhost_vm_features(unsigned int i)
{
	return i < n_ports ? ports[i].features : 0;
}

const char *
vv_vhost_vm_state(unsigned int i)
{
	if (i >= n_ports)
		return "?";
	if (ports[i].running)
		return "running";
	return ports[i].vid >= 0 ? "connected" : "waiting";
}
