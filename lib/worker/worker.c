/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

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

/* The lcore's own eventfd in its epoll set: data.u32 of its event. */
#define WAKE_EVENT UINT32_MAX

struct vv_vm {
	struct vv_vm_config cfg;
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
	int epfd;	   /* holds every owned VM's epoll fd and wake_fd */
	int wake_fd;	   /* eventfd: control threads and other lcores wake a sleeper */
	bool *io;	   /* per owned VM: its epoll set has events */
	uint32_t sleeping; /* atomic: in (or about to enter) epoll_wait */
	uint64_t sleep_t0; /* TSC when the current sleep began, 0 awake (for readers) */
	struct vv_worker_lcore_stats st;
};

static struct vv_vm *vms;
static unsigned int n_vms;
static struct vv_route *route;
static struct lcore_ctx lcores[RTE_MAX_LCORE];
static volatile bool quit;
static bool running;
static bool busy_poll;
static uint64_t idle_poll_cycles;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

/*
 * Wake the lcore if it sleeps: after the caller made work for it (a
 * mailbox request, a sibling's packet). The store of that work, this
 * barrier and the read of `sleeping` pair with lcore_sleep's store of
 * `sleeping`, barrier and look at the work: one of the two sees the other.
 */
static void
lcore_ring(void *arg)
{
	struct lcore_ctx *l = arg;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&l->sleeping, __ATOMIC_RELAXED))
		(void) eventfd_write(l->wake_fd, 1);
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
			struct epoll_event wev = { .events = EPOLLIN, .data.u32 = WAKE_EVENT };

			l->io = calloc(l->st.n_vms, sizeof(bool));
			l->epfd = epoll_create1(EPOLL_CLOEXEC);
			l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (l->io == NULL || l->epfd < 0 || l->wake_fd < 0 ||
			    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &wev) < 0)
				return -ENOMEM;
		}
		if (vv_vsock_route_port(vms[i].vs) != NULL)
			vv_route_port_set_doorbell(vv_vsock_route_port(vms[i].vs), lcore_ring, l);
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
		struct vv_vsock_params p;
		int fd;

		vm->cfg = cfg->vms[i];
		pthread_mutex_init(&vm->lock, NULL);
		n_vms = i + 1;
		fd = vv_uds_listen(vm->cfg.uds_path, 128, err, errlen);
		if (fd < 0)
			return fd;
		p = (struct vv_vsock_params){
			.guest_cid = vm->cfg.guest_cid,
			.uds_path = vm->cfg.uds_path,
			.buf_alloc = vm->cfg.tx_buffer_size,
			.listen_fd = fd,
			.route = route,
			.port = vv_route_lookup(route, vm->cfg.guest_cid),
		};
		vm->vs = vv_vsock_create(&p);
		if (vm->vs == NULL) {
			r = -errno;
			close(fd);
			unlink(vm->cfg.uds_path);
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

/* Remember which VMs' epoll sets have events; clear the wake eventfd. */
static void
note_events(struct lcore_ctx *l, const struct epoll_event *ev, int n)
{
	eventfd_t v;
	int k;

	for (k = 0; k < n; k++) {
		if (ev[k].data.u32 == WAKE_EVENT)
			(void) eventfd_read(l->wake_fd, &v);
		else
			l->io[ev[k].data.u32] = true;
	}
}

/*
 * Nothing to do for a while: sleep until a guest kicks, a host socket or
 * a control thread or sibling VM has something, or a timer is due (DPDK's
 * l3fwd-power does the same with Rx interrupts). Every VM first asks its
 * guest for kicks and looks once more (vv_vsock_sleep_prepare), after
 * `sleeping` is visible to those who would ring us (lcore_ring).
 */
static void
lcore_sleep(struct lcore_ctx *l)
{
	uint64_t now = now_ns(), deadline = UINT64_MAX, t0, t1;
	struct epoll_event ev[64];
	bool work = false;
	unsigned int i;
	int timeout = -1, n;

	__atomic_store_n(&l->sleeping, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (i = 0; i < l->n_vms; i++) {
		struct vv_vm *vm = l->vms[i];

		if (__atomic_load_n(&vm->req_seq, __ATOMIC_ACQUIRE) != vm->ack_seq)
			work = true;
		if (vv_vsock_sleep_prepare(vm->vs, now, &deadline))
			work = true;
	}
	if (deadline != UINT64_MAX)
		timeout = deadline <= now ? 0 : (int) ((deadline - now + 999999) / 1000000);
	if (!work && !quit && timeout != 0) {
		t0 = rte_rdtsc();
		__atomic_store_n(&l->sleep_t0, t0, __ATOMIC_RELAXED);
		l->st.sleeps++;
		n = epoll_wait(l->epfd, ev, 64, timeout);
		t1 = rte_rdtsc();
		__atomic_store_n(&l->sleep_t0, 0, __ATOMIC_RELAXED);
		l->st.sleep_cycles += t1 - t0;
		if (n > 0)
			note_events(l, ev, n);
	}
	__atomic_store_n(&l->sleeping, 0, __ATOMIC_RELAXED);
	for (i = 0; i < l->n_vms; i++)
		vv_vsock_wake(l->vms[i]->vs);
}

static int
lcore_main(void *arg)
{
	struct lcore_ctx *l = arg;
	uint64_t t0 = rte_rdtsc(), idle_since = 0;

	while (!quit) {
		struct epoll_event ev[64];
		unsigned int i, work = 0;
		uint64_t now = now_ns(), t1;
		int n = epoll_wait(l->epfd, ev, 64, 0);

		if (n > 0)
			note_events(l, ev, n);
		for (i = 0; i < l->n_vms; i++) {
			service_mailbox(l->vms[i]);
			work += vv_vsock_poll(l->vms[i]->vs, now, l->io[i]);
			l->io[i] = false;
		}
		t1 = rte_rdtsc();
		if (work != 0) {
			l->st.busy_cycles += t1 - t0;
			idle_since = 0;
		} else {
			l->st.idle_cycles += t1 - t0;
			if (idle_since == 0)
				idle_since = t1;
			if (!busy_poll && t1 - idle_since >= idle_poll_cycles) {
				lcore_sleep(l);
				idle_since = 0;
				t1 = rte_rdtsc(); /* the sleep is counted apart */
			} else {
				rte_pause();
			}
		}
		l->st.rounds++;
		t0 = t1;
	}
	/* Answer a request that raced with the stop. */
	for (unsigned int i = 0; i < l->n_vms; i++)
		service_mailbox(l->vms[i]);
	return 0;
}

int
vv_worker_start(bool busy, uint32_t idle_poll_us)
{
	unsigned int lc;

	busy_poll = busy;
	idle_poll_cycles = rte_get_tsc_hz() / 1000000 * idle_poll_us;
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
	for (i = 0; i < RTE_MAX_LCORE; i++)
		if (lcores[i].io != NULL)
			lcore_ring(&lcores[i]);
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
		if (vms[i].vs != NULL)
			unlink(vms[i].cfg.uds_path);
		pthread_mutex_destroy(&vms[i].lock);
	}
	for (i = 0; i < RTE_MAX_LCORE; i++) {
		free(lcores[i].vms);
		free(lcores[i].io);
		if (lcores[i].io != NULL) {
			close(lcores[i].epfd);
			close(lcores[i].wake_fd);
		}
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
	lcore_ring(&lcores[vm->lcore]);
	/* The lcore answers within one poll round (microseconds, or one
	 * idle sleep); control threads can afford to sleep-wait. */
	while (__atomic_load_n(&vm->ack_seq, __ATOMIC_ACQUIRE) != vm->req_seq)
		usleep(10);
	ret = vm->ret;
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

struct attach_args {
	const struct vv_mem *mem;
	const struct vv_virtq *rxq, *txq;
};

static int
do_attach(struct vv_vsock *vs, void *arg)
{
	struct attach_args *a = arg;

	return vv_vsock_attach(vs, a->mem, a->rxq, a->txq);
}

int
vv_worker_vm_attach(struct vv_vm *vm, const struct vv_mem *mem, const struct vv_virtq *rxq,
		    const struct vv_virtq *txq)
{
	struct attach_args a = { mem, rxq, txq };

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
	uint64_t t0;

	if (lcore >= RTE_MAX_LCORE || !rte_lcore_is_enabled(lcore) || lcore == rte_get_main_lcore())
		return -EINVAL;
	*st = lcores[lcore].st;
	/* A sleep in progress counts too: an idle lcore may sleep for hours.
	 * The fields are read without a lock; a figure may lag a round. */
	t0 = __atomic_load_n(&lcores[lcore].sleep_t0, __ATOMIC_RELAXED);
	if (t0 != 0 && rte_rdtsc() > t0)
		st->sleep_cycles += rte_rdtsc() - t0;
	return 0;
}
