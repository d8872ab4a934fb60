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
 * The guard thread (guard_main) only reads fault counters and shuts down
 * connection sockets, under conn_lock.
 *
 * Ports (one per VM) come and go at run time: main adds and removes them
 * (a reload). The port list is under ports_lock, taken by whoever looks a
 * port up by something else than a connection: new_connection (by path),
 * the guard thread, telemetry (by VM). It is never held across a call to
 * rte_vhost that waits for the vhost-events thread, and never taken inside
 * conn_lock. Callbacks reach their port through their connection
 * (conns[vid]): a port outlives every connection of its socket.
 *
 * Front-ends are hostile (one process serves every VM; see doc/operations.md,
 * "Hostile front-ends"):
 * - every message is checked before rte_vhost sees it (vhost_msg_check.c);
 *   a refused one closes that front-end's connection, with every fd it
 *   carried, and is counted;
 * - guest memory is registered with the SIGBUS guard (lib/guard) as soon as
 *   rte_vhost mapped it; a fault in it disconnects the front-end;
 * - each connection socket gets receive and send timeouts, so a message that
 *   never arrives whole, or replies never read, stall the vhost-events
 *   thread (which serves every VM) for a bounded time only;
 * - the front-end that starts the device last has it: an older connection
 *   still holding it (a QEMU that died with messages queued) is disconnected.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <linux/sockios.h>

#include <rte_log.h>
#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_vhost.h>
#include <linux/virtio_vsock.h>

#include <vv_dpdk_compat.h>
#include <vv_guard.h>
#include <vv_uds.h>
#include <vv_worker.h>

#include "vhost_msg_check.h"
#include "vv_vhost.h"

RTE_LOG_REGISTER(vv_logtype_vhost, vv.vhost, INFO);
#define VHOST_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vv_logtype_vhost, "VHOST: " fmt "\n", ##__VA_ARGS__)

/* virtio-vsock config space: le64 guest_cid (virtio spec 5.10.4). */
#define VSOCK_CONFIG_SIZE 8u

/* Must match rte_vhost's MAX_VHOST_DEVICE. */
#define VID_MAX 1024
/* Connections one VM's socket may hold at once: the front-end, one that
 * replaces it, and slack. More would let one VM's socket use up rte_vhost's
 * 1024 device slots, which every VM shares. */
#define CONNS_PER_VM 4
/* Bound on how long one message may keep the vhost-events thread: a
 * payload that never arrives, or a reply the front-end does not read. */
#define SOCK_TIMEOUT_MS 1000
/* Replies a front-end may leave unread before it is disconnected; ahead of
 * the socket's send buffer, so a send never has to wait for room. */
#define REPLY_BACKLOG_MAX (64 * 1024)

enum dp_state {
	DP_DOWN,    /* the lcore does not touch the guest */
	DP_RUNNING, /* rings attached to the lcore */
	DP_PAUSED,  /* SET_MEM_TABLE in progress: connections kept, rings detached */
};

struct port {
	TAILQ_ENTRY(port) link;
	struct vv_vm *vm;
	unsigned int idx;     /* lib/guard owner id, unique among live ports */
	int owner;	      /* the connection whose device runs (dp != DOWN), -1 */
	unsigned int n_conns; /* connections on this socket */
	enum dp_state dp;
	bool registered;
	uint64_t features;
	struct vv_virtq saved[2];
	uint64_t faults_seen; /* guard thread only */
	struct vv_vhost_stats stats;
};

/* One front-end connection (rte_vhost's vid). */
struct conn {
	struct port *p;
	int sock;	 /* our dup of rte_vhost's socket, -1 if not found */
	bool superseded; /* a newer front-end took the device: refuse everything */
	bool broken;	 /* its memory lost its backing: refuse everything */
	struct vu_conn_state st;
	int guard[VU_REGIONS_MAX]; /* lib/guard slots of its mapped regions */
	unsigned int n_guard;
	int pending[VU_REGIONS_MAX]; /* its next table's files, until mapped */
	unsigned int n_pending;
};

static pthread_mutex_t ports_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, port) ports = TAILQ_HEAD_INITIALIZER(ports);
/* Guard owner ids in use: a removed port's id goes to the next port added. */
static bool owner_used[VV_VMS_MAX];
static struct conn *conns[VID_MAX];
/* conns[].sock and .broken: vhost-events thread and guard thread. */
static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t guard_thread;
static int guard_stop_fd = -1;
static bool guard_running;

static int ctx_fd_num(const void *ctx);
static int ctx_fd(const void *ctx, int i);

static struct conn *
conn_of(int vid)
{
	return vid >= 0 && vid < VID_MAX ? conns[vid] : NULL;
}

static struct port *
port_of_vid(int vid)
{
	struct conn *c = conn_of(vid);

	return c != NULL ? c->p : NULL;
}

static uint64_t
cid_of(const struct port *p)
{
	return vv_worker_vm_config(p->vm)->guest_cid;
}

/* Counters have two writers (vhost-events and guard threads). */
static void
count(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* The connection socket rte_vhost accepted. rte_vhost does not tell us its
 * fd; it is the one accepted socket bound to this VM's path that no other
 * connection of ours holds. We keep a dup: the socket then stays ours to
 * set timeouts on and to shut down, and its number can never be reused
 * under us after rte_vhost closes its copy. */

static bool
sock_known(const struct stat *st)
{
	for (int v = 0; v < VID_MAX; v++) {
		struct stat o;

		if (conns[v] != NULL && conns[v]->sock >= 0 && fstat(conns[v]->sock, &o) == 0 &&
		    o.st_ino == st->st_ino && o.st_dev == st->st_dev)
			return true;
	}
	return false;
}

static int
find_conn_sock(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		struct sockaddr_un sa;
		socklen_t len = sizeof(sa);
		int fd, listening = 0;
		socklen_t ol = sizeof(listening);
		struct stat st;
		char *end;
		long v = strtol(e->d_name, &end, 10);

		if (*end != '\0' || end == e->d_name || v < 0 || v == dirfd(d))
			continue;
		fd = (int) v;
		if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
			continue;
		memset(&sa, 0, sizeof(sa));
		if (getsockname(fd, (struct sockaddr *) &sa, &len) != 0 ||
		    sa.sun_family != AF_UNIX ||
		    strncmp(sa.sun_path, path, sizeof(sa.sun_path)) != 0)
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol) != 0 || listening)
			continue;
		if (sock_known(&st))
			continue;
		found = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		break;
	}
	closedir(d);
	return found;
}

static void
sock_set_timeouts(int sock)
{
	struct timeval tv = { SOCK_TIMEOUT_MS / 1000, (SOCK_TIMEOUT_MS % 1000) * 1000 };

	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Make rte_vhost see the front-end hang up: its next poll reads EOF (or,
 * with messages still queued, the next one is refused). */
static void
conn_shutdown(struct conn *c)
{
	if (c->sock >= 0)
		shutdown(c->sock, SHUT_RDWR);
}

/* ------------------------------------------------------------------ */
/* Guest memory in the SIGBUS guard. */

static void
guard_pending_forget(struct conn *c)
{
	for (unsigned int i = 0; i < c->n_pending; i++)
		vv_guard_del(c->pending[i]);
	c->n_pending = 0;
}

static void
guard_forget(struct conn *c)
{
	for (unsigned int i = 0; i < c->n_guard; i++)
		vv_guard_del(c->guard[i]);
	c->n_guard = 0;
	guard_pending_forget(c);
}

/* A table was checked and goes to rte_vhost, which maps it and may read
 * its rings before the post hook can register the addresses: until then
 * its files are guarded by identity. */
static void
guard_pending(struct conn *c, const void *ctx)
{
	int n = ctx_fd_num(ctx);

	guard_pending_forget(c);
	for (int i = 0; i < n && c->n_pending < VU_REGIONS_MAX; i++) {
		struct stat st;
		size_t page = 4096;
		int id;

		if (fstat(ctx_fd(ctx, i), &st) != 0)
			continue;
		if (st.st_blksize > 0 &&
		    ((size_t) st.st_blksize & ((size_t) st.st_blksize - 1)) == 0)
			page = (size_t) st.st_blksize;
		id = vv_guard_add_file((uint64_t) st.st_dev, (uint64_t) st.st_ino, page, c->p->idx);
		if (id >= 0)
			c->pending[c->n_pending++] = id;
	}
}

/* After rte_vhost mapped a memory table: guard each region as mapped (it
 * maps from file offset 0, rounded up to the file's block size). */
static void
guard_register(struct conn *c, int vid)
{
	struct rte_vhost_memory *m = NULL;

	guard_forget(c);
	if (rte_vhost_get_mem_table(vid, &m) != 0)
		return;
	for (uint32_t i = 0; i < m->nregions && c->n_guard < VU_REGIONS_MAX; i++) {
		const struct rte_vhost_mem_region *r = &m->regions[i];
		struct stat st;
		size_t page = 4096;
		int slot;

		if (r->mmap_addr == NULL || r->mmap_size == 0)
			continue;
		if (fstat(r->fd, &st) == 0 && st.st_blksize > 0 &&
		    ((size_t) st.st_blksize & ((size_t) st.st_blksize - 1)) == 0)
			page = (size_t) st.st_blksize;
		slot = vv_guard_add((uintptr_t) r->mmap_addr, r->mmap_size, page, c->p->idx);
		if (slot < 0) {
			VHOST_LOG(ERR, "cid %" PRIu64 ": guest memory region %u not guarded: %s",
				  cid_of(c->p), i, strerror(-slot));
			continue;
		}
		c->guard[c->n_guard++] = slot;
	}
	free(m);
	guard_pending_forget(c);
}

/* The guard survived a fault: find the VMs it hit and disconnect their
 * front-ends. rte_vhost then tears the device down as for any hang-up
 * (destroy_device: streams reset, host sockets closed). */
static void
guard_check(void)
{
	struct port *p;

	pthread_mutex_lock(&ports_lock);
	TAILQ_FOREACH (p, &ports, link) {
		uint64_t f = vv_guard_faults(p->idx);

		if (f == p->faults_seen)
			continue;
		__atomic_store_n(&p->stats.mem_faults, f, __ATOMIC_RELAXED);
		VHOST_LOG(WARNING,
			  "cid %" PRIu64 ": guest memory lost its backing at %#" PRIxPTR
			  " (%" PRIu64
			  " pages; the memory file shrank?): disconnecting the front-end",
			  cid_of(p), vv_guard_last_addr(p->idx), f - p->faults_seen);
		p->faults_seen = f;
		pthread_mutex_lock(&conn_lock);
		for (int v = 0; v < VID_MAX; v++) {
			if (conns[v] == NULL || conns[v]->p != p || conns[v]->broken)
				continue;
			__atomic_store_n(&conns[v]->broken, true, __ATOMIC_RELEASE);
			conn_shutdown(conns[v]);
			count(&p->stats.disconnects);
		}
		pthread_mutex_unlock(&conn_lock);
	}
	pthread_mutex_unlock(&ports_lock);
}

static void *
guard_main(void *arg)
{
	struct pollfd pfd[2] = {
		{ .fd = vv_guard_eventfd(), .events = POLLIN },
		{ .fd = guard_stop_fd, .events = POLLIN },
	};
	uint64_t v;

	(void) arg;
	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pfd[0].revents && read(pfd[0].fd, &v, sizeof(v)) == sizeof(v))
			guard_check();
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The datapath of a port. */

/* Read one vring as rte_vhost set it up (for packed rings desc, avail and
 * used are its descriptor ring, driver and device areas), checking what a
 * hostile front-end could get wrong: sizes, alignment (virtio 2.7 and
 * 2.8.10.1), and ring positions from SET_VRING_BASE that a packed ring
 * would index with. */
static int
load_vring(const struct port *p, int vid, uint16_t q, struct vv_virtq *vq)
{
	const struct vv_vm_config *cfg = vv_worker_vm_config(p->vm);
	bool packed = (p->features >> VIRTIO_F_RING_PACKED) & 1;
	struct rte_vhost_vring vr;
	uint16_t last_avail, last_used;

	if (rte_vhost_get_vhost_vring(vid, q, &vr) != 0 || vr.desc == NULL || vr.avail == NULL ||
	    vr.used == NULL)
		return -EINVAL;
	if (vr.size == 0 || vr.size > cfg->queue_size ||
	    (!packed && (vr.size & (vr.size - 1)) != 0)) {
		VHOST_LOG(ERR,
			  "cid %" PRIu64 ": queue %u has %u entries; %s up to queue-size %u "
			  "is required",
			  cfg->guest_cid, q, vr.size, packed ? "a size" : "a power of two",
			  cfg->queue_size);
		return -EINVAL;
	}
	/* The driver area (avail ring / driver event) is 2-aligned split, 4 packed. */
	if (((uintptr_t) vr.desc & 15) || ((uintptr_t) vr.avail & (packed ? 3 : 1)) ||
	    ((uintptr_t) vr.used & 3))
		return -EINVAL;
	if (rte_vhost_get_vring_base(vid, q, &last_avail, &last_used) != 0)
		return -EINVAL;
	/* Packed positions carry the wrap counter in bit 15. */
	if (packed && ((last_avail & 0x7fff) >= vr.size || (last_used & 0x7fff) >= vr.size)) {
		VHOST_LOG(ERR,
			  "cid %" PRIu64 ": queue %u: ring base %#x/%#x is past its %u entries",
			  cfg->guest_cid, q, last_avail, last_used, vr.size);
		return -EINVAL;
	}
	memset(vq, 0, sizeof(*vq));
	vq->desc = vr.desc;
	vq->avail = vr.avail;
	vq->used = vr.used;
	vq->size = vr.size;
	vq->last_avail_idx = last_avail;
	vq->used_idx = last_used;
	vq->callfd = vr.callfd;
	vq->kickfd = vr.kickfd;
	vq->event_idx = (p->features >> VIRTIO_RING_F_EVENT_IDX) & 1;
	vq->packed = packed;
	vq->indirect = (p->features >> VIRTIO_RING_F_INDIRECT_DESC) & 1;
	return 0;
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
		int r = load_vring(p, vid, q, &vq[q]);

		if (r != 0)
			return r;
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
	r = vv_worker_vm_attach(p->vm, p->features, &mem, &vq[0], &vq[1]);
	if (r == 0) {
		p->dp = DP_RUNNING;
		p->owner = vid;
	}
	return r;
}

/* keep_conns: pause for a memory remap. Otherwise the device ends: from
 * RUNNING or PAUSED alike, every stream is reset and host sockets closed. */
static void
stop_datapath(struct port *p, bool keep_conns)
{
	if (p->dp == DP_DOWN)
		return;
	if (keep_conns) {
		if (p->dp == DP_RUNNING)
			vv_worker_vm_pause(p->vm, &p->saved[0], &p->saved[1]);
		p->dp = DP_PAUSED;
		return;
	}
	vv_worker_vm_detach(p->vm, &p->saved[0], &p->saved[1]);
	p->dp = DP_DOWN;
}

/* The device of the owner ends and its front-end is told by a hang-up. */
static void
end_device(struct port *p, const char *why)
{
	struct conn *c = conn_of(p->owner);

	VHOST_LOG(WARNING, "cid %" PRIu64 ": %s: device stopped, front-end disconnected", cid_of(p),
		  why);
	stop_datapath(p, false);
	p->owner = -1;
	if (c != NULL) {
		pthread_mutex_lock(&conn_lock);
		c->superseded = true;
		conn_shutdown(c);
		pthread_mutex_unlock(&conn_lock);
		count(&p->stats.disconnects);
	}
}

/* A newer front-end took over: the older one gets nothing more. */
static void
supersede(struct port *p, int vid)
{
	struct conn *c = conn_of(vid);

	if (c == NULL || c->superseded)
		return;
	pthread_mutex_lock(&conn_lock);
	c->superseded = true;
	conn_shutdown(c);
	pthread_mutex_unlock(&conn_lock);
	count(&p->stats.takeovers);
}

static int
new_device(int vid)
{
	struct port *p = port_of_vid(vid);
	int r;

	if (p == NULL)
		return -1;
	/* The front-end that starts the device last has it. The one that had
	 * it is disconnected: it is a QEMU that died with messages still
	 * queued (rte_vhost handles them after the new one connected), or a
	 * second front-end on the same socket. It gets nothing more, so it
	 * cannot take the device back with its queued messages. */
	if (p->owner >= 0 && p->owner != vid) {
		int old = p->owner;

		VHOST_LOG(WARNING,
			  "cid %" PRIu64 ": a new front-end takes over the device: the previous "
			  "one is disconnected and its streams reset",
			  cid_of(p));
		stop_datapath(p, false);
		p->owner = -1;
		supersede(p, old);
	}
	/* Once per start of the device: what this boot's driver took. */
	if (rte_vhost_get_negotiated_features(vid, &p->features) == 0) {
		char names[256];

		vv_vhost_features_str(p->features, names, sizeof(names));
		VHOST_LOG(INFO, "cid %" PRIu64 ": negotiated %s", cid_of(p), names);
	}
	r = start_datapath(p, vid, NULL);
	if (r != 0) {
		VHOST_LOG(ERR, "cid %" PRIu64 ": cannot start device: %s", cid_of(p), strerror(-r));
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

	if (p == NULL || p->owner != vid)
		return;
	stop_datapath(p, false);
	p->owner = -1;
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

	if (p != NULL && p->dp == DP_RUNNING && p->owner == vid && queue_id < 2)
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

static int
do_set_kickfd(struct vv_vsock *vs, void *arg)
{
	const struct callfd_args *a = arg;

	return vv_vsock_set_kickfd(vs, a->q, a->fd);
}

/* ------------------------------------------------------------------ */
/* Message hooks. ctx is rte_vhost's message context: the message first,
 * its fds at VV_VHOST_MSG_FDS_OFFSET (lib/compat), packed. */

static int
ctx_fd_num(const void *ctx)
{
	int n;

	memcpy(&n,
	       (const char *) ctx + VV_VHOST_MSG_FDS_OFFSET + VV_VHOST_MSG_FDS_MAX * sizeof(int),
	       sizeof(n));
	return n;
}

static int
ctx_fd(const void *ctx, int i)
{
	int fd;

	memcpy(&fd, (const char *) ctx + VV_VHOST_MSG_FDS_OFFSET + (size_t) i * sizeof(int),
	       sizeof(fd));
	return fd;
}

/* A refused message's fds: rte_vhost would keep them (it closes only those
 * of messages nobody handled), so they are closed here. */
static void
ctx_close_fds(void *ctx)
{
	int n = ctx_fd_num(ctx), none = -1, zero = 0;

	for (int i = 0; i < n && i < VV_VHOST_MSG_FDS_MAX; i++) {
		int fd = ctx_fd(ctx, i);

		if (fd >= 0)
			close(fd);
		memcpy((char *) ctx + VV_VHOST_MSG_FDS_OFFSET + (size_t) i * sizeof(int), &none,
		       sizeof(none));
	}
	memcpy((char *) ctx + VV_VHOST_MSG_FDS_OFFSET + VV_VHOST_MSG_FDS_MAX * sizeof(int), &zero,
	       sizeof(zero));
}

static void
classify_fd(int fd, struct vu_fd_info *fi)
{
	char path[32], link[32];
	struct stat st;
	ssize_t n;

	fi->kind = VU_FD_OTHER;
	fi->size = 0;
	if (fstat(fd, &st) != 0)
		return;
	if (S_ISREG(st.st_mode)) {
		fi->kind = VU_FD_REGULAR;
		fi->size = st.st_size > 0 ? (uint64_t) st.st_size : 0;
		return;
	}
	/* An eventfd is an anonymous inode that names itself. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		if (strcmp(link, "anon_inode:[eventfd]") == 0)
			fi->kind = VU_FD_EVENTFD;
	}
}

/* Refuse: the message's fds are closed and, with NEED_REPLY cleared,
 * rte_vhost answers the error by closing this connection only. */
static enum rte_vhost_msg_result
refuse(struct port *p, void *ctx, enum vv_vhost_refusal why, const char *detail)
{
	uint32_t flags;

	count(&p->stats.refused[why]);
	VHOST_LOG(WARNING, "cid %" PRIu64 ": front-end refused (%s), connection closed: %s",
		  cid_of(p), vv_vhost_refusal_name(why), detail);
	ctx_close_fds(ctx);
	memcpy(&flags, (char *) ctx + 4, sizeof(flags));
	flags &= ~VU_FLAG_NEED_REPLY;
	memcpy((char *) ctx + 4, &flags, sizeof(flags));
	return RTE_VHOST_MSG_RESULT_ERR;
}

/* Replies the front-end left unread (bytes in flight on the socket). */
static int
reply_backlog(const struct conn *c)
{
	int n = 0;

	if (c->sock < 0 || ioctl(c->sock, SIOCOUTQ, &n) != 0)
		return 0;
	return n;
}

static enum rte_vhost_msg_result
get_config(struct port *p, void *ctx)
{
	uint64_t cid = rte_cpu_to_le_64(cid_of(p));
	uint8_t *pl = (uint8_t *) ctx + VU_HDR_SIZE;
	uint32_t off, len, size;

	/* vhost_msg_check kept offset and size inside the config space. */
	memcpy(&off, pl, sizeof(off));
	memcpy(&len, pl + 4, sizeof(len));
	if (len > VU_CONFIG_MAX || off > VU_CONFIG_MAX - len)
		return refuse(p, ctx, VV_REFUSE_CONFIG, "GET_CONFIG outside the config space");
	memset(pl + VU_CONFIG_HDR_SIZE, 0, len);
	if (off < VSOCK_CONFIG_SIZE) {
		uint32_t k = VSOCK_CONFIG_SIZE - off;

		memcpy(pl + VU_CONFIG_HDR_SIZE, (const uint8_t *) &cid + off, k < len ? k : len);
	}
	size = VU_CONFIG_HDR_SIZE + len;
	memcpy((char *) ctx + 8, &size, sizeof(size));
	return RTE_VHOST_MSG_RESULT_REPLY;
}

/* A SET_MEM_TABLE paused the device and its post hook never came (rte_vhost
 * failed it and answered with a NACK): the device cannot resume. */
static void
finish_failed_remap(struct port *p)
{
	if (p->dp != DP_PAUSED)
		return;
	count(&p->stats.remap_failed);
	end_device(p, "SET_MEM_TABLE failed on the running device");
}

/* Before rte_vhost handles a message. */
static enum rte_vhost_msg_result
pre_msg(int vid, void *ctx)
{
	struct conn *c = conn_of(vid);
	struct vu_fd_info fi[VU_FDS_MAX];
	struct callfd_args a;
	struct vu_verdict v;
	struct port *p;
	uint32_t req, size;
	uint64_t u;
	int nfd, backlog;

	if (c == NULL)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	p = c->p;
	/* The previous table is mapped (post hook) or failed by now. */
	guard_pending_forget(c);
	if (p->owner == vid)
		finish_failed_remap(p);
	nfd = ctx_fd_num(ctx);
	if (nfd < 0 || nfd > VV_VHOST_MSG_FDS_MAX) {
		/* Cannot happen with the layout lib/compat gives; if it does,
		 * nothing in the message can be trusted to be closed either. */
		count(&p->stats.refused[VV_REFUSE_CONN]);
		VHOST_LOG(ERR,
			  "cid %" PRIu64 ": message context has %d fds: rte_vhost layout "
			  "differs from lib/compat's",
			  cid_of(p), nfd);
		return RTE_VHOST_MSG_RESULT_ERR;
	}
	if (__atomic_load_n(&c->superseded, __ATOMIC_ACQUIRE))
		return refuse(p, ctx, VV_REFUSE_CONN, "a newer front-end has the device");
	if (__atomic_load_n(&c->broken, __ATOMIC_ACQUIRE))
		return refuse(p, ctx, VV_REFUSE_CONN, "its guest memory lost its backing");
	backlog = reply_backlog(c);
	if (backlog > REPLY_BACKLOG_MAX) {
		char why[64];

		snprintf(why, sizeof(why), "%d bytes of replies left unread", backlog);
		return refuse(p, ctx, VV_REFUSE_CONN, why);
	}
	for (int i = 0; i < nfd; i++)
		classify_fd(ctx_fd(ctx, i), &fi[i]);
	memcpy(&size, (char *) ctx + 8, sizeof(size));
	if (size > VV_VHOST_MSG_PAYLOAD_MAX)
		return refuse(p, ctx, VV_REFUSE_HEADER, "payload larger than any message");
	if (!vhost_msg_check(ctx, VU_HDR_SIZE + size, fi, (unsigned int) nfd, &c->st, &v))
		return refuse(p, ctx, v.reason, v.detail);
	vhost_msg_apply(ctx, &c->st);

	req = vhost_msg_request(ctx);
	switch (req) {
	case VU_GET_CONFIG:
		/* rte_vhost answers GET_CONFIG only for vDPA devices. */
		return get_config(p, ctx);
	case VU_SET_MEM_TABLE:
		/* rte_vhost unmaps the old regions while handling it: out of
		 * the guard first, and the lcore must stop touching them. */
		guard_forget(c);
		guard_pending(c, ctx);
		if (p->owner == vid)
			stop_datapath(p, true);
		break;
	case VU_RESET_OWNER:
		guard_forget(c); /* rte_vhost unmaps everything */
		break;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		memcpy(&u, (char *) ctx + VU_HDR_SIZE, sizeof(u));
		/* An eventfd write blocks only when its counter is full,
		 * which the front-end controls: never let it block an lcore. */
		if (!(u & VU_VRING_NOFD)) {
			int fd = ctx_fd(ctx, 0), fl = fcntl(fd, F_GETFL);

			if (fl >= 0)
				fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		}
		/* rte_vhost closes the old call or kick eventfd while
		 * handling it: the lcore must stop using it first (a kick fd
		 * leaves the epoll set it sleeps on while still open). */
		if (req != VU_SET_VRING_ERR && p->owner == vid && p->dp == DP_RUNNING) {
			a.q = (uint16_t) (u & VU_VRING_IDX_MASK);
			a.fd = -1;
			vv_worker_vm_call(p->vm,
					  req == VU_SET_VRING_CALL ? do_set_callfd : do_set_kickfd,
					  &a);
		}
		break;
	}
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

/* After rte_vhost handled a message (also after ours: answer nothing twice).
 * Not called when rte_vhost failed it. */
static enum rte_vhost_msg_result
post_msg(int vid, void *ctx)
{
	struct conn *c = conn_of(vid);
	struct rte_vhost_vring vr;
	struct callfd_args a;
	struct port *p;
	uint64_t u;

	if (c == NULL)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	p = c->p;
	switch (vhost_msg_request(ctx)) {
	case VU_SET_MEM_TABLE:
		guard_register(c, vid);
		if (p->owner == vid && p->dp == DP_PAUSED) {
			p->dp = DP_DOWN; /* the lcore detached at pause */
			if (start_datapath(p, vid, p->saved) != 0) {
				/* Back to PAUSED so that end_device resets
				 * the connections the pause kept. */
				p->dp = DP_PAUSED;
				count(&p->stats.remap_failed);
				end_device(p, "rings unusable after SET_MEM_TABLE");
			}
		}
		break;
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_KICK:
		memcpy(&u, (char *) ctx + VU_HDR_SIZE, sizeof(u));
		a.q = (uint16_t) (u & VU_VRING_IDX_MASK);
		if (p->owner == vid && p->dp == DP_RUNNING && a.q < 2 &&
		    rte_vhost_get_vhost_vring(vid, a.q, &vr) == 0) {
			bool call = vhost_msg_request(ctx) == VU_SET_VRING_CALL;

			a.fd = call ? vr.callfd : vr.kickfd;
			vv_worker_vm_call(p->vm, call ? do_set_callfd : do_set_kickfd, &a);
		}
		break;
	}
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static const struct rte_vhost_user_extern_ops extern_ops = {
	.pre_msg_handle = pre_msg,
	.post_msg_handle = post_msg,
};

/* ------------------------------------------------------------------ */
/* Connections. */

static int
new_connection(int vid)
{
	char path[PATH_MAX];
	struct port *p;
	struct conn *c;

	if (vid < 0 || vid >= VID_MAX || rte_vhost_get_ifname(vid, path, sizeof(path)) != 0)
		return -1;
	/* The port cannot go while we use it: removing it waits for this
	 * callback to return (rte_vhost_driver_unregister). */
	pthread_mutex_lock(&ports_lock);
	TAILQ_FOREACH (p, &ports, link)
		if (strcmp(vv_worker_vm_config(p->vm)->socket, path) == 0)
			break;
	pthread_mutex_unlock(&ports_lock);
	if (p == NULL)
		return -1;
	if (p->n_conns >= CONNS_PER_VM) {
		count(&p->stats.conns_refused);
		VHOST_LOG(WARNING,
			  "cid %" PRIu64 ": %u front-ends already connected on %s: the new one is "
			  "closed",
			  cid_of(p), p->n_conns, path);
		return -1;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->p = p;
	c->st.offered_features = VV_VHOST_FEATURES;
	c->st.offered_protocol_features = VV_VHOST_PROTOCOL_FEATURES;
	c->sock = find_conn_sock(path);
	if (c->sock >= 0)
		sock_set_timeouts(c->sock);
	else
		VHOST_LOG(WARNING,
			  "cid %" PRIu64 ": connection socket not found in /proc/self/fd: no "
			  "message timeouts for this front-end",
			  cid_of(p));
	pthread_mutex_lock(&conn_lock);
	conns[vid] = c;
	pthread_mutex_unlock(&conn_lock);
	if (rte_vhost_extern_callback_register(vid, &extern_ops, NULL) != 0) {
		pthread_mutex_lock(&conn_lock);
		conns[vid] = NULL;
		pthread_mutex_unlock(&conn_lock);
		if (c->sock >= 0)
			close(c->sock);
		free(c);
		return -1;
	}
	if (p->n_conns > 0)
		VHOST_LOG(WARNING, "%s: new front-end while %u other(s) are connected", path,
			  p->n_conns);
	p->n_conns++;
	count(&p->stats.connects);
	VHOST_LOG(INFO, "cid %" PRIu64 ": front-end connected on %s", cid_of(p), path);
	return 0;
}

static void
destroy_connection(int vid)
{
	struct conn *c = conn_of(vid);
	struct port *p;

	if (c == NULL)
		return;
	p = c->p;
	/* Before rte_vhost unmaps this connection's memory. */
	guard_forget(c);
	if (p->owner == vid) {
		stop_datapath(p, false); /* normally done by destroy_device already */
		p->owner = -1;
	}
	pthread_mutex_lock(&conn_lock);
	conns[vid] = NULL;
	pthread_mutex_unlock(&conn_lock);
	if (c->sock >= 0)
		close(c->sock);
	p->n_conns--;
	if (p->owner < 0)
		p->features = 0;
	free(c);
	VHOST_LOG(INFO, "cid %" PRIu64 ": front-end disconnected", cid_of(p));
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
		vv_uds_perm_abort(old_umask);
		snprintf(err, errlen, "%s: cannot start the vhost-user socket", path);
		return -EINVAL;
	}
	return vv_uds_perm_apply(path, &perm, old_umask, err, errlen);
}

static int
guard_start(char *err, size_t errlen)
{
	/* Owners are ports, VV_VMS_MAX at most at once (ids are reused). */
	int r = vv_guard_init(VV_VMS_MAX);

	if (r == 0) {
		guard_stop_fd = eventfd(0, EFD_CLOEXEC);
		if (guard_stop_fd < 0)
			r = -errno;
	}
	if (r == 0) {
		r = -pthread_create(&guard_thread, NULL, guard_main, NULL);
		if (r == 0) {
			pthread_setname_np(guard_thread, "vv-guard");
			guard_running = true;
		}
	}
	if (r != 0)
		snprintf(err, errlen, "cannot start the guest memory guard: %s", strerror(-r));
	return r;
}

/* Free a connection rte_vhost forgot without destroy_connection (it calls
 * none when a socket is unregistered). Its socket is shut down, not only
 * closed: rte_vhost's event thread may hold it in a poll() for up to a
 * second more, and the front-end would see the hang-up only then. */
static void
conn_forget(int v)
{
	struct conn *c = conns[v];

	pthread_mutex_lock(&conn_lock);
	conns[v] = NULL;
	pthread_mutex_unlock(&conn_lock);
	guard_forget(c);
	conn_shutdown(c);
	if (c->sock >= 0)
		close(c->sock);
	free(c);
}

/* Unregister and free p. Not holding ports_lock: rte_vhost waits for the
 * vhost-events thread to leave the socket's callbacks, and runs
 * destroy_device for a running device on this thread. */
static void
unregister_port(struct port *p)
{
	const char *path = vv_worker_vm_config(p->vm)->socket;

	/* Destroys a running device first (destroy_device runs), closes every
	 * connection: the front-end sees the socket hang up. */
	if (p->registered && rte_vhost_driver_unregister(path) != 0)
		VHOST_LOG(WARNING, "%s: unregister failed", path);
	if (p->registered)
		unlink(path);
	for (int v = 0; v < VID_MAX; v++)
		if (conns[v] != NULL && conns[v]->p == p)
			conn_forget(v);
	pthread_mutex_lock(&ports_lock);
	TAILQ_REMOVE(&ports, p, link);
	owner_used[p->idx] = false;
	pthread_mutex_unlock(&ports_lock);
	free(p);
}

int
vv_vhost_vm_add(struct vv_vm *vm, char *err, size_t errlen)
{
	const struct vv_vm_config *cfg = vv_worker_vm_config(vm);
	struct port *p = calloc(1, sizeof(*p));
	unsigned int id = 0;
	int r;

	if (p == NULL) {
		snprintf(err, errlen, "%s: %s", cfg->socket, strerror(ENOMEM));
		return -ENOMEM;
	}
	p->vm = vm;
	p->owner = -1;
	pthread_mutex_lock(&ports_lock);
	while (id < VV_VMS_MAX && owner_used[id])
		id++;
	if (id < VV_VMS_MAX) {
		owner_used[id] = true;
		p->idx = id;
		/* Faults counted for an earlier port with this id are not ours. */
		p->faults_seen = vv_guard_faults(id);
		TAILQ_INSERT_TAIL(&ports, p, link);
	}
	pthread_mutex_unlock(&ports_lock);
	if (id == VV_VMS_MAX) {
		free(p);
		snprintf(err, errlen, "%s: more than %u vhost-user sockets", cfg->socket,
			 VV_VMS_MAX);
		return -ENOSPC;
	}
	r = register_port(p, err, errlen);
	if (r != 0) {
		unregister_port(p);
		return r;
	}
	VHOST_LOG(INFO, "cid %" PRIu64 ": vhost-user socket %s, host sockets %s", cfg->guest_cid,
		  cfg->socket, cfg->uds_path);
	return 0;
}

static struct port *
find_port(const struct vv_vm *vm)
{
	struct port *p;

	TAILQ_FOREACH (p, &ports, link)
		if (p->vm == vm)
			return p;
	return NULL;
}

void
vv_vhost_vm_remove(struct vv_vm *vm)
{
	struct port *p;

	/* Only main removes ports: p stays valid after the lock. */
	pthread_mutex_lock(&ports_lock);
	p = find_port(vm);
	pthread_mutex_unlock(&ports_lock);
	if (p != NULL)
		unregister_port(p);
}

int
vv_vhost_start(char *err, size_t errlen)
{
	unsigned int i;
	int r;

	r = guard_start(err, errlen);
	if (r != 0)
		return r;
	for (i = 0; i < vv_worker_vm_count(); i++) {
		r = vv_vhost_vm_add(vv_worker_vm(i), err, errlen);
		if (r != 0)
			return r;
	}
	return 0;
}

void
vv_vhost_stop(void)
{
	struct port *p;
	uint64_t one = 1;

	if (guard_running) {
		if (write(guard_stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(guard_thread, NULL);
		guard_running = false;
	}
	/* Only main removes ports: the list holds still between the lookups. */
	while ((p = TAILQ_FIRST(&ports)) != NULL)
		unregister_port(p);
	vv_guard_fini();
	if (guard_stop_fd >= 0)
		close(guard_stop_fd);
	guard_stop_fd = -1;
}

/* Names as the virtio spec gives them (without the VIRTIO_F_ / VIRTIO_RING_F_
 * / VIRTIO_VSOCK_F_ prefixes), in the order of the log line. Bits of the
 * spec that <linux/virtio_config.h> does not name here are numbered. */
static const struct {
	unsigned int bit;
	const char *name;
} feature_names[] = {
	{ VIRTIO_F_VERSION_1, "VERSION_1" },
	{ VIRTIO_RING_F_EVENT_IDX, "EVENT_IDX" },
	{ VIRTIO_F_RING_PACKED, "RING_PACKED" },
	{ VIRTIO_RING_F_INDIRECT_DESC, "INDIRECT_DESC" },
	{ VIRTIO_VSOCK_F_SEQPACKET, "SEQPACKET" },
	{ 0, "STREAM" }, /* VIRTIO_VSOCK_F_STREAM (virtio 1.3, 5.10.3) */
	{ 2, "NO_IMPLIED_STREAM" },
	{ VIRTIO_F_NOTIFY_ON_EMPTY, "NOTIFY_ON_EMPTY" },
	{ VIRTIO_F_ANY_LAYOUT, "ANY_LAYOUT" },
	{ VIRTIO_F_ACCESS_PLATFORM, "ACCESS_PLATFORM" },
	{ VIRTIO_F_IN_ORDER, "IN_ORDER" },
	{ VIRTIO_F_ORDER_PLATFORM, "ORDER_PLATFORM" },
	{ VIRTIO_F_SR_IOV, "SR_IOV" },
	{ 38, "NOTIFICATION_DATA" },
	{ 39, "NOTIF_CONFIG_DATA" },
	{ VIRTIO_F_RING_RESET, "RING_RESET" },
};

int
vv_vhost_features_str(uint64_t features, char *buf, size_t len)
{
	uint64_t left = features & ~(1ull << VV_VHOST_USER_F_PROTOCOL_FEATURES);
	size_t used = 0;
	unsigned int i;

	buf[0] = '\0';
	/* snprintf returns what it would have written: used counts the full
	 * text, and writing stops once it passed len. */
	for (i = 0; i < RTE_DIM(feature_names); i++) {
		uint64_t bit = 1ull << feature_names[i].bit;

		if (!(left & bit))
			continue;
		left &= ~bit;
		used += snprintf(buf + RTE_MIN(used, len - 1), len - RTE_MIN(used, len - 1), "%s%s",
				 used ? " " : "", feature_names[i].name);
	}
	for (i = 0; i < 64; i++) {
		if (!(left & (1ull << i)))
			continue;
		used += snprintf(buf + RTE_MIN(used, len - 1), len - RTE_MIN(used, len - 1),
				 "%sbit%u", used ? " " : "", i);
	}
	if (used == 0)
		used = snprintf(buf, len, "none");
	return (int) used;
}

uint64_t
vv_vhost_vm_features(const struct vv_vm *vm)
{
	struct port *p;
	uint64_t f = 0;

	pthread_mutex_lock(&ports_lock);
	p = find_port(vm);
	if (p != NULL)
		f = p->features;
	pthread_mutex_unlock(&ports_lock);
	return f;
}

int
vv_vhost_vm_stats(const struct vv_vm *vm, struct vv_vhost_stats *st)
{
	struct port *p;
	int r = -ENOENT;

	/* A copy: the port may be freed by a reload once the lock is gone. */
	pthread_mutex_lock(&ports_lock);
	p = find_port(vm);
	if (p != NULL) {
		*st = p->stats;
		r = 0;
	}
	pthread_mutex_unlock(&ports_lock);
	return r;
}

const char *
vv_vhost_vm_state(const struct vv_vm *vm)
{
	const char *st = "?";
	struct port *p;

	pthread_mutex_lock(&ports_lock);
	p = find_port(vm);
	if (p != NULL)
		st = p->dp == DP_RUNNING ? "running" : p->n_conns > 0 ? "connected" : "waiting";
	pthread_mutex_unlock(&ports_lock);
	return st;
}
