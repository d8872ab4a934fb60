/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The /vsock/ telemetry commands. Control path: runs on DPDK's telemetry
 * client threads, never on a worker lcore except through vv_worker_vm_call.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_telemetry.h>

#include <vv_dpdk_compat.h>

#include <vv_vhost.h>
#include <vv_vsock.h>
#include <vv_worker.h>

#include "vv_telemetry.h"

/*
 * DPDK 22.11 builds each reply in a 16 KiB buffer (its /info says so) and
 * drops, without a word, any entry that no longer fits. We estimate the
 * JSON of every list entry before adding it and stop early instead, so a
 * reply can say how much it left out. The slack covers the echoed command
 * name and the closing braces.
 */
#define REPLY_MAX    16384u
#define REPLY_BUDGET (REPLY_MAX - 256u)

/* Lists of records (VMs, lcores, connections) are dicts keyed by CID,
 * lcore id or "<guest port>_<host port>": 22.11 nests dicts in dicts but
 * takes only arrays of plain values in an array. */

/* Connections copied per /vsock/conns call: more than fit in one reply. */
#define CONNS_SNAPSHOT_MAX 128u

/* Serialises the commands with vv_telemetry_stop(): DPDK's client threads
 * may run a command while main() frees the VM table. */
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static bool serving;
static bool registered;
static uint32_t idle_sleep_us, idle_poll_us;
static bool busy_poll;
static char config_file[sizeof(((struct vv_config *) 0)->config_file)];

/* JSON sizes, as DPDK writes them: "name":value and a comma. */

static size_t
num_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static size_t
int_len(int v)
{
	/* 0 - (uint64_t) v is the magnitude, INT_MIN's too. (Written so that
	 * clang-format 14 to 21 agree on it: scripts/check-code runs on each
	 * Debian's own.) */
	return v < 0 ? 1 + num_len(0 - (uint64_t) v) : num_len((uint64_t) v);
}

/* Counts an escape for every character that may need one, so that the
 * estimate stays an upper bound whatever DPDK escapes. */
static size_t
str_len(const char *s)
{
	size_t n = 2;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char) *s;

		n += c == '"' || c == '\\' ? 2 : c < 0x20 ? 6 : 1;
	}
	return n;
}

static size_t
key_len(const char *name)
{
	return strlen(name) + 4;
}

/* Every adder returns the JSON size of what it added. */

static size_t
put_u64(struct rte_tel_data *d, const char *name, uint64_t v)
{
	rte_tel_data_add_dict_uint(d, name, v);
	return key_len(name) + num_len(v);
}

static size_t
put_int(struct rte_tel_data *d, const char *name, int v)
{
	rte_tel_data_add_dict_int(d, name, v);
	return key_len(name) + int_len(v);
}

static size_t
put_str(struct rte_tel_data *d, const char *name, const char *v)
{
	rte_tel_data_add_dict_string(d, name, v);
	return key_len(name) + str_len(v);
}

/* Adds c (freed with d) under name; c's own size is passed in. */
static size_t
put_container(struct rte_tel_data *d, const char *name, struct rte_tel_data *c, size_t c_len)
{
	if (rte_tel_data_add_dict_container(d, name, c, 0) != 0) {
		rte_tel_data_free(c);
		return 0;
	}
	return key_len(name) + c_len;
}

/* Adds c (c_len bytes with its key) to the list being built for a reply,
 * if the reply stays within REPLY_BUDGET with it: `used` is the rest of
 * the reply, *list_len the list so far. Otherwise frees c; false. */
static bool
list_add(struct rte_tel_data *list, const char *key, struct rte_tel_data *c, size_t c_len,
	 size_t used, size_t *list_len)
{
	if (used + *list_len + c_len > REPLY_BUDGET ||
	    rte_tel_data_add_dict_container(list, key, c, 0) != 0) {
		rte_tel_data_free(c);
		return false;
	}
	*list_len += c_len;
	return true;
}

/*
 * params: NULL, or up to max comma-separated decimal numbers. strtoull
 * alone would take signs, spaces and "0x"; the telemetry client sends
 * whatever the user typed.
 * @return how many numbers, or -EINVAL.
 */
static int
parse_params(const char *params, uint64_t *v, int min, int max)
{
	const char *p = params;
	int n = 0;

	if (p == NULL || *p == '\0')
		return min == 0 ? 0 : -EINVAL;
	for (;;) {
		uint64_t x = 0;
		const char *start = p;

		if (n == max)
			return -EINVAL;
		while (*p >= '0' && *p <= '9') {
			unsigned int digit = (unsigned int) (*p - '0');

			if (x > (UINT64_MAX - digit) / 10)
				return -EINVAL;
			x = x * 10 + digit;
			p++;
		}
		if (p == start)
			return -EINVAL;
		v[n++] = x;
		if (*p == '\0')
			break;
		if (*p != ',')
			return -EINVAL;
		p++;
	}
	return n >= min ? n : -EINVAL;
}

/* /vsock/vms[,<first>] */
static int
cmd_vms(const char *params, struct rte_tel_data *d)
{
	unsigned int i, n = vv_worker_vm_count(), shown = 0;
	uint64_t first = 0;

	if (parse_params(params, &first, 0, 1) < 0 || first > n)
		return -EINVAL;
	/* A top-level array cannot say it was cut: past 512 VMs (more than
	 * one reply holds) the rest is read with a <first> parameter. */
	rte_tel_data_start_array(d, RTE_TEL_UINT_VAL);
	for (i = (unsigned int) first; i < n && shown < RTE_TEL_MAX_ARRAY_ENTRIES; i++, shown++)
		rte_tel_data_add_array_uint(d, vv_worker_vm_config(vv_worker_vm(i))->guest_cid);
	return 0;
}

/* The counters are single-writer 64-bit values: a relaxed load is a
 * consistent read of each one (not of the set). */
static uint64_t
load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* What the VM's front-ends did wrong: "vhost": {"refused": {reason: n}, ...}. */
static void
add_vhost_stats(struct rte_tel_data *d, const struct vv_vhost_stats *vs)
{
	struct rte_tel_data *v, *refused;
	int k;

	if (vs == NULL)
		return;
	v = rte_tel_data_alloc();
	refused = rte_tel_data_alloc();
	if (v == NULL || refused == NULL) {
		rte_tel_data_free(v);
		rte_tel_data_free(refused);
		return;
	}
	rte_tel_data_start_dict(v);
	rte_tel_data_start_dict(refused);
#define VSTAT(field) rte_tel_data_add_dict_uint(v, #field, load(&vs->field))
	VSTAT(connects);
	VSTAT(conns_refused);
	VSTAT(takeovers);
	VSTAT(remap_failed);
	VSTAT(mem_faults);
	VSTAT(disconnects);
#undef VSTAT
	for (k = 0; k < VV_REFUSE_MAX; k++)
		rte_tel_data_add_dict_uint(refused,
					   vv_vhost_refusal_name((enum vv_vhost_refusal) k),
					   load(&vs->refused[k]));
	if (rte_tel_data_add_dict_container(v, "refused", refused, 0) != 0)
		rte_tel_data_free(refused);
	if (rte_tel_data_add_dict_container(d, "vhost", v, 0) != 0)
		rte_tel_data_free(v);
}

/* /vsock/vm,<cid> */
static int
cmd_vm(const char *params, struct rte_tel_data *d)
{
	const struct vv_vm_config *vc;
	const struct vv_vsock_stats *st;
	struct vv_vhost_stats vst;
	struct rte_tel_data *drops;
	struct vv_vm *vm;
	char features[24], names[RTE_TEL_MAX_STRING_LEN];
	uint64_t cid, f;
	int k;

	if (parse_params(params, &cid, 1, 1) < 0)
		return -EINVAL;
	vm = vv_worker_vm_by_cid(cid);
	if (vm == NULL)
		return -ENOENT;
	vc = vv_worker_vm_config(vm);
	st = vv_worker_vm_stats(vm);
	drops = rte_tel_data_alloc();
	if (drops == NULL)
		return -ENOMEM;
	f = vv_vhost_vm_features(vm);
	snprintf(features, sizeof(features), "0x%" PRIx64, f);
	/* The same names as the "negotiated" log line. */
	vv_vhost_features_str(f, names, sizeof(names));

	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_uint(d, "guest_cid", vc->guest_cid);
	rte_tel_data_add_dict_string(d, "state", vv_vhost_vm_state(vm));
	rte_tel_data_add_dict_string(d, "features", features);
	rte_tel_data_add_dict_string(d, "negotiated", names);
	rte_tel_data_add_dict_int(d, "lcore", (int) vv_worker_vm_lcore(vm));
	rte_tel_data_add_dict_string(d, "socket", vc->socket);
	rte_tel_data_add_dict_string(d, "uds_path", vc->uds_path);
#define STAT(field) rte_tel_data_add_dict_uint(d, #field, load(&st->field))
	STAT(rx_pkts);
	STAT(rx_bytes);
	STAT(tx_pkts);
	STAT(tx_bytes);
	STAT(rst_sent);
	STAT(rst_rcvd);
	STAT(credit_stalls);
	STAT(host_stalls);
	STAT(conns_opened);
	STAT(conns_closed);
	STAT(conns_open);
	STAT(host_conn_refused);
	STAT(bad_connect_lines);
	STAT(connect_lines_evicted);
	STAT(connect_no_guest);
	STAT(host_buffered_bytes);
	STAT(host_buffer_mem_bytes);
	STAT(vm_tx_pkts);
	STAT(vm_tx_bytes);
	STAT(vm_rx_pkts);
	STAT(vm_rx_bytes);
	STAT(vm_stalls);
	STAT(vm_peer_resets);
	STAT(notify_failed);
	STAT(tx_calls);
#undef STAT
	rte_tel_data_start_dict(drops);
	for (k = 0; k < VV_DROP_MAX; k++)
		rte_tel_data_add_dict_uint(drops, vv_vsock_drop_name((enum vv_vsock_drop) k),
					   load(&st->drops[k]));
	if (rte_tel_data_add_dict_container(d, "drops", drops, 0) != 0)
		rte_tel_data_free(drops);
	if (vv_vhost_vm_stats(vm, &vst) == 0)
		add_vhost_stats(d, &vst);
	return 0;
}

struct conns_snapshot {
	uint64_t first;	    /* index of the first connection to copy */
	unsigned int total; /* connections visited */
	unsigned int n;	    /* copied into ci */
	struct vv_vsock_conn_info ci[CONNS_SNAPSHOT_MAX];
};

/* On the VM's lcore. state points to a string constant: safe to keep. */
static void
conn_copy(const struct vv_vsock_conn_info *ci, void *arg)
{
	struct conns_snapshot *s = arg;

	if (s->total >= s->first && s->n < CONNS_SNAPSHOT_MAX)
		s->ci[s->n++] = *ci;
	s->total++;
}

static int
conns_snapshot(struct vv_vsock *vs, void *arg)
{
	vv_vsock_conn_foreach(vs, conn_copy, arg);
	return 0;
}

static struct rte_tel_data *
conn_dict(const struct vv_vsock_conn_info *ci, size_t *len)
{
	struct rte_tel_data *c = rte_tel_data_alloc();
	size_t n = 2;

	if (c == NULL)
		return NULL;
	rte_tel_data_start_dict(c);
	n += put_u64(c, "guest_port", ci->guest_port);
	n += put_u64(c, "host_port", ci->host_port);
	n += put_str(c, "state", ci->state);
	n += put_str(c, "type", ci->seqpacket ? "seqpacket" : "stream");
	n += put_int(c, "host_initiated", ci->host_initiated);
	n += put_u64(c, "bytes_from_guest", ci->bytes_from_guest);
	n += put_u64(c, "bytes_to_guest", ci->bytes_to_guest);
	n += put_u64(c, "buf_alloc", ci->buf_alloc);
	n += put_u64(c, "peer_buf_alloc", ci->peer_buf_alloc);
	n += put_u64(c, "peer_credit", ci->peer_credit);
	n += put_u64(c, "buffered", ci->buffered);
	*len = n;
	return c;
}

/* /vsock/conns,<cid>[,<first>] */
static int
cmd_conns(const char *params, struct rte_tel_data *d)
{
	struct conns_snapshot *s;
	struct rte_tel_data *list;
	unsigned int i, shown = 0;
	uint64_t v[2] = { 0, 0 };
	size_t used, list_len = 2;
	struct vv_vm *vm;
	int n;

	n = parse_params(params, v, 1, 2);
	if (n < 0)
		return -EINVAL;
	vm = vv_worker_vm_by_cid(v[0]);
	if (vm == NULL)
		return -ENOENT;
	s = calloc(1, sizeof(*s));
	list = rte_tel_data_alloc();
	if (s == NULL || list == NULL) {
		free(s);
		rte_tel_data_free(list);
		return -ENOMEM;
	}
	s->first = v[1];
	/* The connection table is the lcore's: copy it there, between two
	 * poll rounds, and format the copy here. */
	vv_worker_vm_call(vm, conns_snapshot, s);

	rte_tel_data_start_dict(d);
	/* The five counts below, at their largest. */
	used = put_u64(d, "guest_cid", v[0]) + put_u64(d, "first", v[1]) +
	       4 * (key_len("not_shown") + num_len(UINT32_MAX)) + key_len("conns");
	rte_tel_data_start_dict(list);
	for (i = 0; i < s->n; i++) {
		struct rte_tel_data *c;
		char key[32];
		size_t len;

		/* A stream is one (guest port, host port) pair of this VM. */
		snprintf(key, sizeof(key), "%" PRIu32 "_%" PRIu32, s->ci[i].guest_port,
			 s->ci[i].host_port);
		c = conn_dict(&s->ci[i], &len);
		if (c == NULL)
			break;
		if (!list_add(list, key, c, len + key_len(key), used, &list_len))
			break;
		shown++;
	}
	put_u64(d, "total", s->total);
	put_u64(d, "shown", shown);
	/* Before <first> and after the last one shown. */
	put_u64(d, "not_shown", s->total - shown);
	put_container(d, "conns", list, list_len);
	free(s);
	return 0;
}

static uint64_t
percent(uint64_t part, uint64_t total)
{
	return total == 0 ? 0 : (uint64_t) ((double) part * 100.0 / (double) total);
}

static struct rte_tel_data *
lcore_dict(unsigned int lc, const struct vv_worker_lcore_stats *st, size_t *len)
{
	struct rte_tel_data *c = rte_tel_data_alloc(), *vms = rte_tel_data_alloc();
	uint64_t total = st->busy_cycles + st->idle_cycles + st->sleep_cycles;
	unsigned int i, n = vv_worker_vm_count(), listed = 0;
	size_t n_len = 2, vms_len = 2;

	if (c == NULL || vms == NULL) {
		rte_tel_data_free(c);
		rte_tel_data_free(vms);
		return NULL;
	}
	rte_tel_data_start_array(vms, RTE_TEL_UINT_VAL);
	for (i = 0; i < n && listed < RTE_TEL_MAX_ARRAY_ENTRIES; i++) {
		const struct vv_vm *vm = vv_worker_vm(i);
		uint64_t cid = vv_worker_vm_config(vm)->guest_cid;

		if (vv_worker_vm_lcore(vm) != lc)
			continue;
		rte_tel_data_add_array_uint(vms, cid);
		vms_len += num_len(cid) + 1;
		listed++;
	}
	rte_tel_data_start_dict(c);
	n_len += put_u64(c, "lcore", lc);
	n_len += put_u64(c, "n_vms", st->n_vms);
	n_len += put_container(c, "vms", vms, vms_len);
	/* Working, polling without finding work, asleep in epoll: TSC cycles. */
	n_len += put_u64(c, "busy_cycles", st->busy_cycles);
	n_len += put_u64(c, "idle_cycles", st->idle_cycles);
	n_len += put_u64(c, "sleep_cycles", st->sleep_cycles);
	n_len += put_u64(c, "sleeps", st->sleeps);
	n_len += put_u64(c, "rounds", st->rounds);
	/* Since start; the load now is the difference of two readings. */
	n_len += put_u64(c, "busy_percent", percent(st->busy_cycles, total));
	n_len += put_u64(c, "idle_percent", percent(st->idle_cycles, total));
	n_len += put_u64(c, "sleep_percent", percent(st->sleep_cycles, total));
	*len = n_len;
	return c;
}

/* /vsock/lcores */
static int
cmd_lcores(const char *params, struct rte_tel_data *d)
{
	struct rte_tel_data *list;
	size_t used, list_len = 2;
	unsigned int lc, shown = 0, total = 0;
	bool full = false;

	if (params != NULL && *params != '\0')
		return -EINVAL;
	list = rte_tel_data_alloc();
	if (list == NULL)
		return -ENOMEM;
	rte_tel_data_start_dict(d);
	used = put_u64(d, "tsc_hz", rte_get_tsc_hz()) +
	       2 * (key_len("lcores_not_shown") + num_len(UINT32_MAX)) + key_len("lcores");
	rte_tel_data_start_dict(list);
	RTE_LCORE_FOREACH_WORKER (lc) {
		struct vv_worker_lcore_stats st;
		struct rte_tel_data *c;
		char key[16];
		size_t len;

		if (vv_worker_lcore_stats(lc, &st) != 0)
			continue;
		total++;
		if (full)
			continue;
		c = lcore_dict(lc, &st, &len);
		if (c == NULL)
			continue;
		snprintf(key, sizeof(key), "%u", lc);
		if (!list_add(list, key, c, len + key_len(key), used, &list_len)) {
			full = true;
			continue;
		}
		shown++;
	}
	put_u64(d, "n_lcores", total);
	put_u64(d, "lcores_not_shown", total - shown);
	put_container(d, "lcores", list, list_len);
	return 0;
}

/* <what>_user, <what>_group, <what>_mode of a VM, those that were given.
 * @return their JSON size. */
static size_t
put_perm(struct rte_tel_data *c, const char *what, int64_t uid, int64_t gid, int mode)
{
	char key[32], val[16];
	size_t n = 0;

	if (uid != VV_ID_UNSET) {
		snprintf(key, sizeof(key), "%s_user", what);
		n += put_u64(c, key, (uint64_t) uid);
	}
	if (gid != VV_ID_UNSET) {
		snprintf(key, sizeof(key), "%s_group", what);
		n += put_u64(c, key, (uint64_t) gid);
	}
	if (mode != VV_MODE_UNSET) {
		snprintf(key, sizeof(key), "%s_mode", what);
		snprintf(val, sizeof(val), "%04o", (unsigned int) mode);
		n += put_str(c, key, val);
	}
	return n;
}

/* One VM's keys into the dict c, as --vm and the YAML file spell them.
 * @return the JSON size of c. */
static size_t
vm_config_fill(struct rte_tel_data *c, const struct vv_vm_config *vc)
{
	struct rte_tel_data *groups = rte_tel_data_alloc();
	size_t n = 2, g_len = 2;
	unsigned int i;

	rte_tel_data_start_dict(c);
	n += put_u64(c, "guest_cid", vc->guest_cid);
	n += put_str(c, "socket", vc->socket);
	n += put_str(c, "uds_path", vc->uds_path);
	n += put_u64(c, "tx_buffer_size", vc->tx_buffer_size);
	n += put_u64(c, "queue_size", vc->queue_size);
	if (groups != NULL) {
		rte_tel_data_start_array(groups, RTE_TEL_STRING_VAL);
		for (i = 0; i < vc->n_groups; i++) {
			rte_tel_data_add_array_string(groups, vc->groups[i]);
			g_len += str_len(vc->groups[i]) + 1;
		}
		n += put_container(c, "groups", groups, g_len);
	}
	/* Absent when the VM was left to round-robin, as in the YAML file. */
	if (vc->lcore >= 0)
		n += put_int(c, "lcore", vc->lcore);
	n += put_u64(c, "max_connections", vc->max_connections);
	n += put_u64(c, "max_pending_connects", vc->max_pending_connects);
	/* Who may connect, when given: ids as numbers (a name lookup could
	 * block the telemetry thread on NSS), modes as their octal text. */
	n += put_perm(c, "socket", vc->socket_uid, vc->socket_gid, vc->socket_mode);
	n += put_perm(c, "uds", vc->uds_uid, vc->uds_gid, vc->uds_mode);
	return n;
}

/* /vsock/config[,<cid>] */
static int
cmd_config(const char *params, struct rte_tel_data *d)
{
	unsigned int i, n = vv_worker_vm_count(), shown = 0;
	struct rte_tel_data *list;
	size_t used, list_len = 2;
	uint64_t cid;
	int r;

	r = parse_params(params, &cid, 0, 1);
	if (r < 0)
		return r;
	if (r == 1) {
		const struct vv_vm *vm = vv_worker_vm_by_cid(cid);

		if (vm == NULL)
			return -ENOENT;
		vm_config_fill(d, vv_worker_vm_config(vm));
		return 0;
	}
	list = rte_tel_data_alloc();
	if (list == NULL)
		return -ENOMEM;
	rte_tel_data_start_dict(d);
	used = put_u64(d, "idle_sleep_us", idle_sleep_us) +
	       put_u64(d, "idle_poll_us", idle_poll_us) + put_u64(d, "busy_poll", busy_poll) +
	       put_str(d, "config_file", config_file) +
	       2 * (key_len("vms_not_shown") + num_len(UINT32_MAX)) + key_len("vms");
	rte_tel_data_start_dict(list);
	for (i = 0; i < n; i++) {
		const struct vv_vm_config *vc = vv_worker_vm_config(vv_worker_vm(i));
		struct rte_tel_data *c = rte_tel_data_alloc();
		char key[24];

		if (c == NULL)
			break;
		snprintf(key, sizeof(key), "%" PRIu64, vc->guest_cid);
		if (!list_add(list, key, c, vm_config_fill(c, vc) + key_len(key), used, &list_len))
			break;
		shown++;
	}
	put_u64(d, "n_vms", n);
	put_u64(d, "vms_not_shown", n - shown);
	put_container(d, "vms", list, list_len);
	return 0;
}

struct command {
	const char *name;
	int (*fn)(const char *params, struct rte_tel_data *d);
	const char *help; /* DPDK keeps at most 63 characters */
};

static const struct command commands[] = {
	{ "/vsock/vms", cmd_vms, "Guest CIDs. Parameter: first index (optional)" },
	{ "/vsock/vm", cmd_vm, "State, lcore, paths, counters. Parameter: CID" },
	{ "/vsock/conns", cmd_conns, "Connections. Parameters: CID[,first index]" },
	{ "/vsock/lcores", cmd_lcores,
	  "Worker lcores: VMs, busy/idle/sleep cycles. No parameters" },
	{ "/vsock/config", cmd_config, "Running configuration. Parameter: CID (optional)" },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* DPDK passes no user pointer: the command name picks the handler. */
static int
dispatch(const char *cmd, const char *params, struct rte_tel_data *d)
{
	int r = -ENOENT;
	size_t i;

	pthread_mutex_lock(&gate);
	if (!serving) {
		pthread_mutex_unlock(&gate);
		return -EAGAIN;
	}
	/* A reload adds and removes VMs: none goes while a command runs. */
	vv_worker_vms_lock();
	for (i = 0; i < N_COMMANDS; i++) {
		if (strcmp(cmd, commands[i].name) == 0) {
			r = commands[i].fn(params, d);
			break;
		}
	}
	vv_worker_vms_unlock();
	pthread_mutex_unlock(&gate);
	return r;
}

int
vv_telemetry_init(const struct vv_config *cfg)
{
	size_t i;
	int r;

	pthread_mutex_lock(&gate);
	if (registered) {
		pthread_mutex_unlock(&gate);
		return -EALREADY;
	}
	idle_sleep_us = cfg->idle_sleep_us;
	idle_poll_us = cfg->idle_poll_us;
	busy_poll = cfg->busy_poll;
	snprintf(config_file, sizeof(config_file), "%s", cfg->config_file);
	registered = true;
	serving = true;
	pthread_mutex_unlock(&gate);
	for (i = 0; i < N_COMMANDS; i++) {
		r = rte_telemetry_register_cmd(commands[i].name, dispatch, commands[i].help);
		if (r != 0)
			return r < 0 ? r : -r;
	}
	return 0;
}

void
vv_telemetry_stop(void)
{
	pthread_mutex_lock(&gate);
	serving = false;
	pthread_mutex_unlock(&gate);
}
