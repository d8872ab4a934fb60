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
#include <sys/socket.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_pause.h>
#include <rte_rcu_qsbr.h>

#include <vv_route.h>
#include <vv_uds.h>

#include "vv_worker.h"

RTE_LOG_REGISTER(vv_logtype_worker, vv.worker, INFO);
#define WORKER_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vv_logtype_worker, "WORKER: " fmt "\n", ##__VA_ARGS__)

/*
 * A control thread's call to an lcore: the caller holds lock, fills
 * fn/obj/arg and bumps req_seq; the lcore runs fn between two poll rounds
 * and publishes ack_seq. The lcore never takes the lock, so a caller
 * waiting for it cannot deadlock with it.
 */
struct lcore_ctx;

struct mailbox {
	pthread_mutex_t lock;
	struct lcore_ctx *lcore; /* the one that answers: rung after a request */
	int (*fn)(void *obj, void *arg);
	void *obj;
	void *arg;
	int ret;
	uint32_t req_seq;
	uint32_t ack_seq;
};

struct vv_vm {
	struct vv_vm_config cfg;
	char seq_path[VV_PATH_MAX]; /* uds_path.seqpacket: host-initiated SEQPACKET */
	struct vv_vsock *vs;
	struct vv_route_port *port;
	unsigned int lcore;
	bool io; /* the owning lcore's: its host sockets have events this round */
	struct mailbox mb;
};

struct lcore_ctx {
	bool worker;
	/* The VMs the lcore polls: changed only on the lcore itself (through
	 * its mailbox) once it runs. */
	struct vv_vm **vms; /* VV_VMS_MAX slots */
	unsigned int n_vms;
	/* Every owned VM's epoll fd (data.ptr = the VM) and wake_fd
	 * (data.ptr = NULL). */
	int epfd;
	int wake_fd;	   /* eventfd: control threads and other lcores wake a sleeper */
	uint32_t sleeping; /* atomic: in (or about to enter) epoll_wait */
	uint64_t sleep_t0; /* TSC when the current sleep began, 0 awake (for readers) */
	struct mailbox mb;
	struct vv_worker_lcore_stats st;
	unsigned int n_placed; /* the control thread's count, for placement */
};

/*
 * The VM table, in configuration order. Only the thread that adds and
 * removes VMs (main) changes it, holding table_lock; other control threads
 * (telemetry) hold the lock while they use what they found in it.
 */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vv_vm **table;
static unsigned int n_table, cap_table;

static struct vv_route *route;
static struct rte_rcu_qsbr *qs;
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

/* --- mailboxes --- */

static void
mb_init(struct mailbox *mb, struct lcore_ctx *l)
{
	memset(mb, 0, sizeof(*mb));
	pthread_mutex_init(&mb->lock, NULL);
	mb->lcore = l;
}

/* A request waits (lcore_sleep looks before sleeping). */
static bool
mb_pending(const struct mailbox *mb)
{
	return __atomic_load_n(&mb->req_seq, __ATOMIC_ACQUIRE) != mb->ack_seq;
}

/* On the lcore, between two poll rounds. */
static void
mb_service(struct mailbox *mb)
{
	uint32_t seq = __atomic_load_n(&mb->req_seq, __ATOMIC_ACQUIRE);

	if (seq == mb->ack_seq)
		return;
	mb->ret = mb->fn(mb->obj, mb->arg);
	__atomic_store_n(&mb->ack_seq, seq, __ATOMIC_RELEASE);
}

/* Run fn(obj, arg) on the lcore behind mb and wait (directly when the
 * lcores do not run). Control threads only. */
static int
mb_call(struct mailbox *mb, int (*fn)(void *obj, void *arg), void *obj, void *arg)
{
	int ret;

	pthread_mutex_lock(&mb->lock);
	if (!running) {
		ret = fn(obj, arg);
		pthread_mutex_unlock(&mb->lock);
		return ret;
	}
	mb->fn = fn;
	mb->obj = obj;
	mb->arg = arg;
	__atomic_store_n(&mb->req_seq, mb->req_seq + 1, __ATOMIC_RELEASE);
	lcore_ring(mb->lcore);
	/* The lcore answers within one poll round (microseconds, or one
	 * idle sleep); control threads can afford to sleep-wait. */
	while (__atomic_load_n(&mb->ack_seq, __ATOMIC_ACQUIRE) != mb->req_seq)
		usleep(10);
	ret = mb->ret;
	pthread_mutex_unlock(&mb->lock);
	return ret;
}

/* --- which lcore polls which VM --- */

/* On the VM's lcore: poll it from the next round on. */
static int
lcore_adopt(void *obj, void *arg)
{
	struct lcore_ctx *l = obj;
	struct vv_vm *vm = arg;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = vm };

	if (l->n_vms >= VV_VMS_MAX)
		return -ENOSPC;
	/* Siblings ring this lcore when they have work for the VM. */
	vv_route_port_set_doorbell(vm->port, lcore_ring, l);
	/* Nested epoll: one epoll_wait per round tells which of the lcore's
	 * VMs have host socket events. */
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, vv_vsock_epoll_fd(vm->vs), &ev) < 0)
		return -errno;
	vm->io = true;
	l->vms[l->n_vms++] = vm;
	l->st.n_vms = l->n_vms;
	return 0;
}

/* On the VM's lcore: never touch it again. Its epoll fd leaves the set
 * before the next epoll_wait, so no event can name it later. */
static int
lcore_release(void *obj, void *arg)
{
	struct lcore_ctx *l = obj;
	struct vv_vm *vm = arg;
	unsigned int i;

	for (i = 0; i < l->n_vms && l->vms[i] != vm; i++)
		;
	if (i == l->n_vms)
		return -ENOENT;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, vv_vsock_epoll_fd(vm->vs), NULL);
	memmove(&l->vms[i], &l->vms[i + 1], (l->n_vms - i - 1) * sizeof(l->vms[0]));
	l->n_vms--;
	l->st.n_vms = l->n_vms;
	return 0;
}

static bool
is_worker(unsigned int lc)
{
	return lc < RTE_MAX_LCORE && lcores[lc].worker;
}

int
vv_worker_place(const struct vv_vm_config *cfg, char *err, size_t errlen)
{
	unsigned int lc, best = RTE_MAX_LCORE;

	if (cfg->lcore >= 0) {
		lc = (unsigned int) cfg->lcore;
		if (!is_worker(lc)) {
			snprintf(err, errlen,
				 "VM cid %" PRIu64 ": lcore %u is not an enabled worker lcore "
				 "(the main lcore %u does not poll)",
				 cfg->guest_cid, lc, rte_get_main_lcore());
			return -EINVAL;
		}
		return (int) lc;
	}
	/* The fewest VMs, the lowest lcore on a tie: round-robin in
	 * configuration order when nothing is pinned. */
	for (lc = 0; lc < RTE_MAX_LCORE; lc++)
		if (lcores[lc].worker &&
		    (best == RTE_MAX_LCORE || lcores[lc].n_placed < lcores[best].n_placed))
			best = lc;
	if (best == RTE_MAX_LCORE) {
		snprintf(err, errlen, "no worker lcore");
		return -EINVAL;
	}
	return (int) best;
}

int
vv_worker_init(const struct vv_config *cfg, char *err, size_t errlen)
{
	unsigned int i, lc, n_workers = 0;
	size_t sz;

	RTE_LCORE_FOREACH_WORKER (lc) {
		struct lcore_ctx *l = &lcores[lc];
		struct epoll_event wev = { .events = EPOLLIN, .data.ptr = NULL };

		l->worker = true;
		l->vms = calloc(VV_VMS_MAX, sizeof(l->vms[0]));
		l->epfd = epoll_create1(EPOLL_CLOEXEC);
		l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		mb_init(&l->mb, l);
		if (l->vms == NULL || l->epfd < 0 || l->wake_fd < 0 ||
		    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &wev) < 0) {
			snprintf(err, errlen, "lcore %u: %s", lc, strerror(errno));
			return -ENOMEM;
		}
		n_workers++;
	}
	if (n_workers == 0) {
		snprintf(err, errlen,
			 "no worker lcore: give EAL at least two lcores "
			 "(e.g. -l 0,1), the first one runs the control threads");
		return -EINVAL;
	}
	/* Every lcore id may be a reader of the CID table. */
	sz = rte_rcu_qsbr_get_memsize(RTE_MAX_LCORE);
	qs = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL(sz, RTE_CACHE_LINE_SIZE));
	if (qs == NULL || rte_rcu_qsbr_init(qs, RTE_MAX_LCORE) != 0) {
		snprintf(err, errlen, "cannot set up the quiescent-state variable");
		return -ENOMEM;
	}
	route = vv_route_create(VV_VMS_MAX, qs);
	if (route == NULL) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	for (i = 0; i < cfg->n_vms; i++)
		if (vv_worker_vm_add(&cfg->vms[i], err, errlen) == NULL)
			return -errno;
	return 0;
}

/* Undo vv_worker_vm_add step by step; lcore_release was done if adopted. */
static void
vm_free(struct vv_vm *vm, bool listening)
{
	vv_vsock_free(vm->vs);
	if (listening) {
		unlink(vm->cfg.uds_path);
		unlink(vm->seq_path);
	}
	if (vm->port != NULL && vv_route_remove(route, vm->port) != 0)
		WORKER_LOG(ERR, "cid %" PRIu64 ": route endpoint not freed", vm->cfg.guest_cid);
	pthread_mutex_destroy(&vm->mb.lock);
	free(vm);
}

struct vv_vm *
vv_worker_vm_add(const struct vv_vm_config *cfg, char *err, size_t errlen)
{
	/* Made on the control thread (start-up, reload) alone: the umask that
	 * vv_uds_listen_perm sets for a moment is the process's. */
	const struct vv_uds_perm perm = {
		.uid = cfg->uds_uid,
		.gid = cfg->uds_gid,
		.mode = cfg->uds_mode,
	};
	struct vv_vsock_params p;
	struct vv_vm *vm, **grown;
	int lc, fd, sfd, r;

	lc = vv_worker_place(cfg, err, errlen);
	if (lc < 0) {
		errno = -lc;
		return NULL;
	}
	vm = calloc(1, sizeof(*vm));
	if (vm == NULL) {
		snprintf(err, errlen, "VM cid %" PRIu64 ": %s", cfg->guest_cid, strerror(ENOMEM));
		errno = ENOMEM;
		return NULL;
	}
	vm->cfg = *cfg;
	vm->lcore = (unsigned int) lc;
	mb_init(&vm->mb, &lcores[lc]);
	/* The config leaves room in sun_path for "_<port>", longer than the
	 * suffix: this cannot fail. */
	if (vv_uds_seqpacket_path(vm->seq_path, sizeof(vm->seq_path), cfg->uds_path) < 0) {
		snprintf(err, errlen, "VM cid %" PRIu64 ": %s", cfg->guest_cid,
			 strerror(ENAMETOOLONG));
		vm_free(vm, false);
		errno = ENAMETOOLONG;
		return NULL;
	}
	fd = vv_uds_listen_perm(cfg->uds_path, SOCK_STREAM, 128, &perm, err, errlen);
	if (fd < 0) {
		vm_free(vm, false);
		errno = -fd;
		return NULL;
	}
	/* Host programs reach the guest through both: same owner, same mode. */
	sfd = vv_uds_listen_perm(vm->seq_path, SOCK_SEQPACKET, 128, &perm, err, errlen);
	if (sfd < 0) {
		close(fd);
		unlink(cfg->uds_path);
		vm_free(vm, false);
		errno = -sfd;
		return NULL;
	}
	vm->port = vv_route_add(route, cfg->guest_cid, cfg->groups, cfg->n_groups);
	if (vm->port == NULL) {
		r = errno;
		close(fd);
		close(sfd);
		snprintf(err, errlen, "VM cid %" PRIu64 ": %s", cfg->guest_cid,
			 r == ENOSPC ? "no room in the CID table" : strerror(r));
		vm_free(vm, true);
		errno = r;
		return NULL;
	}
	/* Member by member: clang-format 14 and 19 space a compound literal
	 * differently, and check-code runs on both. */
	memset(&p, 0, sizeof(p));
	p.guest_cid = cfg->guest_cid;
	p.uds_path = vm->cfg.uds_path;
	p.buf_alloc = cfg->tx_buffer_size;
	p.max_conns = cfg->max_connections;
	p.max_pending = cfg->max_pending_connects;
	p.listen_fd = fd;
	p.seq_listen_fd = sfd;
	p.route = route;
	p.port = vm->port;
	vm->vs = vv_vsock_create(&p);
	if (vm->vs == NULL) {
		r = errno;
		close(fd);
		close(sfd);
		snprintf(err, errlen, "VM cid %" PRIu64 ": %s", cfg->guest_cid, strerror(r));
		vm_free(vm, true);
		errno = r;
		return NULL;
	}
	r = 0;
	if (n_table == cap_table) {
		pthread_mutex_lock(&table_lock);
		grown = realloc(table, (cap_table + 16) * sizeof(*table));
		if (grown != NULL) {
			table = grown;
			cap_table += 16;
		}
		pthread_mutex_unlock(&table_lock);
		r = grown == NULL ? -ENOMEM : 0;
	}
	/* Polled first, listed after: a VM telemetry finds is always polled. */
	if (r == 0)
		r = mb_call(&lcores[lc].mb, lcore_adopt, &lcores[lc], vm);
	if (r != 0) {
		snprintf(err, errlen, "VM cid %" PRIu64 ": lcore %d: %s", cfg->guest_cid, lc,
			 r == -ENOSPC ? "polls too many VMs" : strerror(-r));
		vm_free(vm, true);
		errno = -r;
		return NULL;
	}
	pthread_mutex_lock(&table_lock);
	table[n_table++] = vm;
	pthread_mutex_unlock(&table_lock);
	lcores[lc].n_placed++;
	return vm;
}

void
vv_worker_vm_remove(struct vv_vm *vm)
{
	unsigned int i;

	/* Out of the table first: telemetry can no longer find it (and a
	 * command that did has finished: it held the lock). */
	pthread_mutex_lock(&table_lock);
	for (i = 0; i < n_table && table[i] != vm; i++)
		;
	if (i < n_table) {
		memmove(&table[i], &table[i + 1], (n_table - i - 1) * sizeof(table[0]));
		n_table--;
	}
	pthread_mutex_unlock(&table_lock);
	/* Normally lib/vhost detached it already (the device was destroyed). */
	vv_worker_vm_detach(vm, NULL, NULL);
	mb_call(&lcores[vm->lcore].mb, lcore_release, &lcores[vm->lcore], vm);
	lcores[vm->lcore].n_placed--;
	/* No lcore touches it now; its endpoint goes after a grace period. */
	vm_free(vm, true);
}

/* Remember which VMs' epoll sets have events; clear the wake eventfd. */
static void
note_events(struct lcore_ctx *l, const struct epoll_event *ev, int n)
{
	eventfd_t v;
	int k;

	for (k = 0; k < n; k++) {
		if (ev[k].data.ptr == NULL)
			(void) eventfd_read(l->wake_fd, &v);
		else
			((struct vv_vm *) ev[k].data.ptr)->io = true;
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
lcore_sleep(struct lcore_ctx *l, unsigned int lc)
{
	uint64_t now = now_ns(), deadline = UINT64_MAX, t0, t1;
	struct epoll_event ev[64];
	unsigned int i;
	int timeout = -1, n;
	bool work;

	__atomic_store_n(&l->sleeping, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	work = mb_pending(&l->mb);
	for (i = 0; i < l->n_vms; i++) {
		struct vv_vm *vm = l->vms[i];

		if (mb_pending(&vm->mb))
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
		/* Asleep, the lcore is no reader of the CID table: nobody
		 * waits for it (it holds nothing it found there). */
		rte_rcu_qsbr_thread_offline(qs, lc);
		n = epoll_wait(l->epfd, ev, 64, timeout);
		rte_rcu_qsbr_thread_online(qs, lc);
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
	unsigned int lc = rte_lcore_id();
	uint64_t t0 = rte_rdtsc(), idle_since = 0;

	rte_rcu_qsbr_thread_register(qs, lc);
	rte_rcu_qsbr_thread_online(qs, lc);
	while (!quit) {
		struct epoll_event ev[64];
		unsigned int i, work = 0;
		uint64_t now, t1;
		int n;

		/* Between two rounds this lcore holds nothing it found in the
		 * CID table: a table version or endpoint retired before now
		 * may be freed. */
		rte_rcu_qsbr_quiescent(qs, lc);
		mb_service(&l->mb);
		now = now_ns();
		n = epoll_wait(l->epfd, ev, 64, 0);
		if (n > 0)
			note_events(l, ev, n);
		for (i = 0; i < l->n_vms; i++) {
			struct vv_vm *vm = l->vms[i];

			mb_service(&vm->mb);
			work += vv_vsock_poll(vm->vs, now, vm->io);
			vm->io = false;
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
				lcore_sleep(l, lc);
				idle_since = 0;
				t1 = rte_rdtsc(); /* the sleep is counted apart */
			} else {
				rte_pause();
			}
		}
		l->st.rounds++;
		t0 = t1;
	}
	/* Answer requests that raced with the stop. */
	mb_service(&l->mb);
	for (unsigned int i = 0; i < l->n_vms; i++)
		mb_service(&l->vms[i]->mb);
	rte_rcu_qsbr_thread_offline(qs, lc);
	rte_rcu_qsbr_thread_unregister(qs, lc);
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
	return (int) vv_vsock_resets_pending(vs);
}

unsigned int
vv_worker_drain_vms(struct vv_vm *const *vms, unsigned int n, unsigned int timeout_ms)
{
	unsigned int i, left = 0, waited;

	for (i = 0; i < n; i++)
		left += (unsigned int) vv_worker_vm_call(vms[i], do_quiesce, NULL);
	for (waited = 0; left > 0 && running && waited < timeout_ms; waited += 10) {
		usleep(10000);
		left = 0;
		for (i = 0; i < n; i++)
			left += (unsigned int) vv_worker_vm_call(vms[i], do_count, NULL);
	}
	return left;
}

unsigned int
vv_worker_drain(unsigned int timeout_ms)
{
	unsigned int left = vv_worker_drain_vms(table, n_table, timeout_ms);

	if (left > 0)
		WORKER_LOG(WARNING, "%u connection(s) not reset in time, closing them", left);
	return left;
}

void
vv_worker_stop(void)
{
	unsigned int i, lc;

	if (!running)
		return;
	/* Holding every mailbox lock: no call is in flight while lcores stop. */
	RTE_LCORE_FOREACH_WORKER (lc)
		pthread_mutex_lock(&lcores[lc].mb.lock);
	for (i = 0; i < n_table; i++)
		pthread_mutex_lock(&table[i]->mb.lock);
	quit = true;
	RTE_LCORE_FOREACH_WORKER (lc)
		lcore_ring(&lcores[lc]);
	rte_eal_mp_wait_lcore();
	running = false;
	for (i = 0; i < n_table; i++)
		pthread_mutex_unlock(&table[i]->mb.lock);
	RTE_LCORE_FOREACH_WORKER (lc)
		pthread_mutex_unlock(&lcores[lc].mb.lock);
}

void
vv_worker_fini(void)
{
	unsigned int lc;

	while (n_table > 0)
		vv_worker_vm_remove(table[n_table - 1]);
	for (lc = 0; lc < RTE_MAX_LCORE; lc++) {
		if (!lcores[lc].worker)
			continue;
		free(lcores[lc].vms);
		if (lcores[lc].epfd >= 0)
			close(lcores[lc].epfd);
		if (lcores[lc].wake_fd >= 0)
			close(lcores[lc].wake_fd);
		pthread_mutex_destroy(&lcores[lc].mb.lock);
		memset(&lcores[lc], 0, sizeof(lcores[lc]));
	}
	free(table);
	table = NULL;
	cap_table = 0;
	vv_route_free(route);
	route = NULL;
	free(qs);
	qs = NULL;
}

void
vv_worker_vms_lock(void)
{
	pthread_mutex_lock(&table_lock);
}

void
vv_worker_vms_unlock(void)
{
	pthread_mutex_unlock(&table_lock);
}

unsigned int
vv_worker_vm_count(void)
{
	return n_table;
}

struct vv_vm *
vv_worker_vm(unsigned int i)
{
	return i < n_table ? table[i] : NULL;
}

struct vv_vm *
vv_worker_vm_by_cid(uint64_t cid)
{
	unsigned int i;

	for (i = 0; i < n_table; i++)
		if (table[i]->cfg.guest_cid == cid)
			return table[i];
	return NULL;
}

void
vv_worker_vm_update(struct vv_vm *vm, const struct vv_vm_config *cfg)
{
	/* Plain stores of two words: lib/vhost reads queue_size when a guest
	 * driver starts, telemetry under the table lock. */
	pthread_mutex_lock(&table_lock);
	vm->cfg.queue_size = cfg->queue_size;
	vm->cfg.lcore = cfg->lcore;
	pthread_mutex_unlock(&table_lock);
}

void
vv_worker_vm_order(const struct vv_config *cfg)
{
	unsigned int i, j, n = 0;

	/* Each VM of cfg to the front in turn: n_table is small (1024). */
	pthread_mutex_lock(&table_lock);
	for (i = 0; i < cfg->n_vms; i++) {
		for (j = n; j < n_table; j++) {
			if (table[j]->cfg.guest_cid == cfg->vms[i].guest_cid) {
				struct vv_vm *vm = table[j];

				memmove(&table[n + 1], &table[n], (j - n) * sizeof(table[0]));
				table[n++] = vm;
				break;
			}
		}
	}
	pthread_mutex_unlock(&table_lock);
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

struct vm_call {
	int (*fn)(struct vv_vsock *vs, void *arg);
	void *arg;
};

static int
run_vm_call(void *obj, void *arg)
{
	const struct vm_call *c = arg;

	return c->fn(((struct vv_vm *) obj)->vs, c->arg);
}

int
vv_worker_vm_call(struct vv_vm *vm, int (*fn)(struct vv_vsock *vs, void *arg), void *arg)
{
	struct vm_call c = { fn, arg };

	return mb_call(&vm->mb, run_vm_call, vm, &c);
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
	uint64_t t0;

	if (!is_worker(lcore))
		return -EINVAL;
	*st = lcores[lcore].st;
	/* A sleep in progress counts too: an idle lcore may sleep for hours.
	 * The fields are read without a lock; a figure may lag a round. */
	t0 = __atomic_load_n(&lcores[lcore].sleep_t0, __ATOMIC_RELAXED);
	if (t0 != 0 && rte_rdtsc() > t0)
		st->sleep_cycles += rte_rdtsc() - t0;
	return 0;
}
