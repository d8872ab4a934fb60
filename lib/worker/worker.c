/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_pause.h>

#include <vv_route.h>
#include <vv_uds.h>

#include "vv_worker.h"

RTE_LOG_REGISTER(vv_logtype_worker, vv.worker, INFO);
#define WORKER_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vv_logtype_worker, "WORKER: " fmt "\n", ##__VA_ARGS__)

/* Idle rounds before an lcore starts sleeping idle_sleep_us per round. */
#define IDLE_ROUNDS_BEFORE_SLEEP 1000

struct vv_vm {
	struct vv_vm_config cfg;
	char seq_path[VV_PATH_MAX]; /* uds_path.seqpacket: host-initiated SEQPACKET */
	struct vv_vsock *vs;
	unsigned int lcore;

	/* Mailbox from control threads to the owning lcore: the caller holds
	 * lock, fills fn/arg, bumps req_seq; the lcore runs fn between two
	 * poll rounds and publishes ack_seq. */
	pthread_mutex_t lock;
	int (*fn)(struct vv_vsock *vs, void *arg);
	void *arg;
	int ret;
	uint32_t req_seq;
	uint32_t ack_seq;
};

struct lcore_ctx {
	struct vv_vm **vms;
	unsigned int n_vms;
	int epfd; /* holds every owned VM's epoll fd */
	bool *io; /* per owned VM: its epoll set has events */
	struct vv_worker_lcore_stats st;
};

static struct vv_vm *vms;
static unsigned int n_vms;
static struct vv_route *route;
static struct lcore_ctx lcores[RTE_MAX_LCORE];
static volatile bool quit;
static bool running;
static uint32_t idle_sleep;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static int
assign_lcores(char *err, size_t errlen)
{
	unsigned int i, lc, next = 0, n_workers = rte_lcore_count() - 1;
	unsigned int workers[RTE_MAX_LCORE];
	unsigned int w = 0;

	RTE_LCORE_FOREACH_WORKER (lc)
		workers[w++] = lc;
	if (n_workers == 0 || w == 0) {
		snprintf(err, errlen,
			 "no worker lcore: give EAL at least two lcores "
			 "(e.g. -l 0,1), the first one runs the control threads");
		return -EINVAL;
	}
	for (i = 0; i < n_vms; i++) {
		struct vv_vm *vm = &vms[i];

		if (vm->cfg.lcore >= 0) {
			lc = (unsigned int) vm->cfg.lcore;
			if (lc >= RTE_MAX_LCORE || !rte_lcore_is_enabled(lc) ||
			    lc == rte_get_main_lcore()) {
				snprintf(err, errlen,
					 "VM cid %" PRIu64 ": lcore %u is not an "
					 "enabled worker lcore (the main lcore %u does not poll)",
					 vm->cfg.guest_cid, lc, rte_get_main_lcore());
				return -EINVAL;
			}
		} else {
			lc = workers[next++ % w];
		}
		vm->lcore = lc;
		lcores[lc].n_vms++;
	}
	for (lc = 0; lc < RTE_MAX_LCORE; lc++) {
		if (lcores[lc].n_vms == 0)
			continue;
		lcores[lc].vms = calloc(lcores[lc].n_vms, sizeof(struct vv_vm *));
		if (lcores[lc].vms == NULL)
			return -ENOMEM;
		lcores[lc].st.n_vms = lcores[lc].n_vms;
		lcores[lc].n_vms = 0;
	}
	for (i = 0; i < n_vms; i++) {
		struct lcore_ctx *l = &lcores[vms[i].lcore];
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = l->n_vms };

		if (l->io == NULL) {
			l->io = calloc(l->st.n_vms, sizeof(bool));
			l->epfd = epoll_create1(EPOLL_CLOEXEC);
			if (l->io == NULL || l->epfd < 0)
				return -ENOMEM;
		}
		/* Nested epoll: one epoll_wait per round tells which of the
		 * lcore's VMs have host socket events. */
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, vv_vsock_epoll_fd(vms[i].vs), &ev) < 0)
			return -errno;
		l->vms[l->n_vms++] = &vms[i];
	}
	return 0;
}

int
vv_worker_init(const struct vv_config *cfg, char *err, size_t errlen)
{
	unsigned int i;
	int r;

	vms = calloc(cfg->n_vms, sizeof(*vms));
	route = vv_route_create(cfg->n_vms);
	if (vms == NULL || route == NULL)
		return -ENOMEM;
	/* The CID table is complete before any lcore runs, and then frozen. */
	for (i = 0; i < cfg->n_vms; i++) {
		if (vv_route_add(route, cfg->vms[i].guest_cid, cfg->vms[i].groups,
				 cfg->vms[i].n_groups) == NULL) {
			snprintf(err, errlen, "VM cid %" PRIu64 ": %s", cfg->vms[i].guest_cid,
				 strerror(errno));
			return -errno;
		}
	}
	vv_route_seal(route);
	for (i = 0; i < cfg->n_vms; i++) {
		struct vv_vm *vm = &vms[i];
		const struct vv_uds_perm perm = {
			.uid = cfg->vms[i].uds_uid,
			.gid = cfg->vms[i].uds_gid,
			.mode = cfg->vms[i].uds_mode,
		};
		struct vv_vsock_params p;
		int fd, sfd;

		vm->cfg = cfg->vms[i];
		pthread_mutex_init(&vm->lock, NULL);
		n_vms = i + 1;
		/* The config leaves room in sun_path for "_<port>", longer
		 * than the suffix: this cannot fail. */
		if (vv_uds_seqpacket_path(vm->seq_path, sizeof(vm->seq_path), vm->cfg.uds_path) < 0)
			return -ENAMETOOLONG;
		fd = vv_uds_listen_perm(vm->cfg.uds_path, SOCK_STREAM, 128, &perm, err, errlen);
		if (fd < 0)
			return fd;
		/* Host programs reach the guest through both: same owner, same mode. */
		sfd = vv_uds_listen_perm(vm->seq_path, SOCK_SEQPACKET, 128, &perm, err, errlen);
		if (sfd < 0) {
			close(fd);
			unlink(vm->cfg.uds_path);
			return sfd;
		}
		p = (struct vv_vsock_params){
			.guest_cid = vm->cfg.guest_cid,
			.uds_path = vm->cfg.uds_path,
			.buf_alloc = vm->cfg.tx_buffer_size,
			.max_conns = vm->cfg.max_connections,
			.max_pending = vm->cfg.max_pending_connects,
			.listen_fd = fd,
			.seq_listen_fd = sfd,
			.route = route,
			.port = vv_route_lookup(route, vm->cfg.guest_cid),
		};
		vm->vs = vv_vsock_create(&p);
		if (vm->vs == NULL) {
			r = -errno;
			close(fd);
			close(sfd);
			unlink(vm->cfg.uds_path);
			unlink(vm->seq_path);
			snprintf(err, errlen, "VM cid %" PRIu64 ": %s", vm->cfg.guest_cid,
				 strerror(-r));
			return r;
		}
	}
	return assign_lcores(err, errlen);
}

static void
service_mailbox(struct vv_vm *vm)
{
	uint32_t seq = __atomic_load_n(&vm->req_seq, __ATOMIC_ACQUIRE);

	if (seq == vm->ack_seq)
		return;
	vm->ret = vm->fn(vm->vs, vm->arg);
	__atomic_store_n(&vm->ack_seq, seq, __ATOMIC_RELEASE);
}

static int
lcore_main(void *arg)
{
	struct lcore_ctx *l = arg;
	unsigned int idle_rounds = 0;
	uint64_t t0 = rte_rdtsc();

	while (!quit) {
		struct epoll_event ev[64];
		unsigned int i, work = 0;
		uint64_t now = now_ns(), t1;
		int k, n = epoll_wait(l->epfd, ev, 64, 0);

		for (k = 0; k < n; k++)
			l->io[ev[k].data.u32] = true;
		for (i = 0; i < l->n_vms; i++) {
			service_mailbox(l->vms[i]);
			work += vv_vsock_poll(l->vms[i]->vs, now, l->io[i]);
			l->io[i] = false;
		}
		if (work == 0 && idle_sleep > 0 && ++idle_rounds > IDLE_ROUNDS_BEFORE_SLEEP)
			usleep(idle_sleep);
		else if (work != 0)
			idle_rounds = 0;
		else
			rte_pause();
		t1 = rte_rdtsc();
		if (work != 0)
			l->st.busy_cycles += t1 - t0;
		else
			l->st.idle_cycles += t1 - t0;
		l->st.rounds++;
		t0 = t1;
	}
	/* Answer a request that raced with the stop. */
	for (unsigned int i = 0; i < l->n_vms; i++)
		service_mailbox(l->vms[i]);
	return 0;
}

int
vv_worker_start(uint32_t idle_sleep_us)
{
	unsigned int lc;

	idle_sleep = idle_sleep_us;
	quit = false;
	RTE_LCORE_FOREACH_WORKER (lc) {
		int r = rte_eal_remote_launch(lcore_main, &lcores[lc], lc);

		if (r != 0) {
			quit = true;
			rte_eal_mp_wait_lcore();
			return r;
		}
	}
	running = true;
	return 0;
}

static int
do_quiesce(struct vv_vsock *vs, void *arg)
{
	return (int) vv_vsock_quiesce(vs);
}

static int
do_count(struct vv_vsock *vs, void *arg)
{
	return (int) vv_vsock_stats(vs)->conns_open;
}

unsigned int
vv_worker_drain(unsigned int timeout_ms)
{
	unsigned int i, left = 0, waited;

	for (i = 0; i < n_vms; i++)
		left += (unsigned int) vv_worker_vm_call(&vms[i], do_quiesce, NULL);
	for (waited = 0; left > 0 && running && waited < timeout_ms; waited += 10) {
		usleep(10000);
		left = 0;
		for (i = 0; i < n_vms; i++)
			left += (unsigned int) vv_worker_vm_call(&vms[i], do_count, NULL);
	}
	if (left > 0)
		WORKER_LOG(WARNING, "%u connection(s) not reset in time, closing them", left);
	return left;
}

void
vv_worker_stop(void)
{
	unsigned int i;

	if (!running)
		return;
	/* Holding every mailbox lock: no call is in flight while lcores stop. */
	for (i = 0; i < n_vms; i++)
		pthread_mutex_lock(&vms[i].lock);
	quit = true;
	rte_eal_mp_wait_lcore();
	running = false;
	for (i = 0; i < n_vms; i++)
		pthread_mutex_unlock(&vms[i].lock);
}

void
vv_worker_fini(void)
{
	unsigned int i;

	for (i = 0; i < n_vms; i++) {
		vv_vsock_free(vms[i].vs);
		if (vms[i].vs != NULL) {
			unlink(vms[i].cfg.uds_path);
			unlink(vms[i].seq_path);
		}
		pthread_mutex_destroy(&vms[i].lock);
	}
	for (i = 0; i < RTE_MAX_LCORE; i++) {
		free(lcores[i].vms);
		free(lcores[i].io);
		if (lcores[i].io != NULL)
			close(lcores[i].epfd);
		memset(&lcores[i], 0, sizeof(lcores[i]));
	}
	free(vms);
	vms = NULL;
	n_vms = 0;
	vv_route_free(route);
	route = NULL;
}

unsigned int
vv_worker_vm_count(void)
{
	return n_vms;
}

struct vv_vm *
vv_worker_vm(unsigned int i)
{
	return i < n_vms ? &vms[i] : NULL;
}

struct vv_vm *
vv_worker_vm_by_socket(const char *path)
{
	unsigned int i;

	for (i = 0; i < n_vms; i++)
		if (strcmp(vms[i].cfg.socket, path) == 0)
			return &vms[i];
	return NULL;
}

struct vv_vm *
vv_worker_vm_by_cid(uint64_t cid)
{
	unsigned int i;

	for (i = 0; i < n_vms; i++)
		if (vms[i].cfg.guest_cid == cid)
			return &vms[i];
	return NULL;
}

const struct vv_vm_config *
vv_worker_vm_config(const struct vv_vm *vm)
{
	return &vm->cfg;
}

unsigned int
vv_worker_vm_lcore(const struct vv_vm *vm)
{
	return vm->lcore;
}

const struct vv_vsock_stats *
vv_worker_vm_stats(const struct vv_vm *vm)
{
	return vv_vsock_stats(vm->vs);
}

int
vv_worker_vm_call(struct vv_vm *vm, int (*fn)(struct vv_vsock *vs, void *arg), void *arg)
{
	int ret;

	pthread_mutex_lock(&vm->lock);
	if (!running) {
		ret = fn(vm->vs, arg);
		pthread_mutex_unlock(&vm->lock);
		return ret;
	}
	vm->fn = fn;
	vm->arg = arg;
	__atomic_store_n(&vm->req_seq, vm->req_seq + 1, __ATOMIC_RELEASE);
	/* The lcore answers within one poll round (microseconds, or one
	 * idle sleep); control threads can afford to sleep-wait. */
	while (__atomic_load_n(&vm->ack_seq, __ATOMIC_ACQUIRE) != vm->req_seq)
		usleep(10);
	ret = vm->ret;
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

struct attach_args {
	uint64_t features;
	const struct vv_mem *mem;
	const struct vv_virtq *rxq, *txq;
};

static int
do_attach(struct vv_vsock *vs, void *arg)
{
	struct attach_args *a = arg;

	return vv_vsock_attach(vs, a->features, a->mem, a->rxq, a->txq);
}

int
vv_worker_vm_attach(struct vv_vm *vm, uint64_t features, const struct vv_mem *mem,
		    const struct vv_virtq *rxq, const struct vv_virtq *txq)
{
	struct attach_args a = { features, mem, rxq, txq };

	return vv_worker_vm_call(vm, do_attach, &a);
}

struct detach_args {
	struct vv_virtq *rxq, *txq;
	bool keep_conns;
};

static int
do_detach(struct vv_vsock *vs, void *arg)
{
	struct detach_args *a = arg;

	if (a->keep_conns)
		vv_vsock_pause(vs, a->rxq, a->txq);
	else
		vv_vsock_detach(vs, a->rxq, a->txq);
	return 0;
}

void
vv_worker_vm_detach(struct vv_vm *vm, struct vv_virtq *rxq, struct vv_virtq *txq)
{
	struct detach_args a = { rxq, txq, false };

	vv_worker_vm_call(vm, do_detach, &a);
}

void
vv_worker_vm_pause(struct vv_vm *vm, struct vv_virtq *rxq, struct vv_virtq *txq)
{
	struct detach_args a = { rxq, txq, true };

	vv_worker_vm_call(vm, do_detach, &a);
}

int
vv_worker_lcore_stats(unsigned int lcore, struct vv_worker_lcore_stats *st)
{
	if (lcore >= RTE_MAX_LCORE || !rte_lcore_is_enabled(lcore) || lcore == rte_get_main_lcore())
		return -EINVAL;
	*st = lcores[lcore].st;
	return 0;
}
