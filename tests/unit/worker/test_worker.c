/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/worker with real lcores: VMs added and removed while two worker
 * lcores poll (each lcore adopts and releases VMs through its mailbox),
 * placement, calls that run on the owning lcore, a control thread reading
 * the VM table (as telemetry does) while VMs come and go, and no file
 * descriptor left behind. EAL runs without hugepages, PCI or telemetry,
 * with a file prefix of its own.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <rte_eal.h>
#include <rte_lcore.h>

#include <vv_worker.h>

static char dir[64], prefix[64], err[512];

static struct vv_vm_config
vm_cfg(uint64_t cid, int lcore)
{
	struct vv_vm_config c;

	memset(&c, 0, sizeof(c));
	c.guest_cid = cid;
	snprintf(c.socket, sizeof(c.socket), "%s/vm%" PRIu64 ".vhost", dir, cid);
	snprintf(c.uds_path, sizeof(c.uds_path), "%s/vm%" PRIu64 ".vsock", dir, cid);
	c.tx_buffer_size = 65536;
	c.queue_size = 1024;
	c.n_groups = 1;
	snprintf(c.groups[0], sizeof(c.groups[0]), "g");
	c.lcore = lcore;
	return c;
}

static unsigned int
fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	unsigned int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct vv_vm_config vms[2];
	struct vv_config cfg = { .n_vms = 2, .vms = vms };
	char lcores[64];
	cpu_set_t set;
	int cpus[2] = { 0, 0 }, n = 0;
	char *argv[] = { "test_worker", "--no-pci", "--no-huge", "-m", "64", "--no-telemetry",
			 "--log-level", "lib.eal:error", "--file-prefix", prefix, "--lcores",
			 lcores, NULL };

	snprintf(dir, sizeof(dir), "/tmp/vv-worker-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(prefix, sizeof(prefix), "vvut-worker-%d", (int)getpid());
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
			if (CPU_ISSET(i, &set))
				cpus[n++] = i;
	/* Two worker lcores on one CPU: they sleep when idle (start below). */
	snprintf(lcores, sizeof(lcores), "0@%d,1@%d,2@%d", cpus[0], cpus[n > 1],
		 cpus[n > 1]);
	if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0)
		return -1;
	vms[0] = vm_cfg(3, -1);
	vms[1] = vm_cfg(4, 1);
	if (vv_worker_init(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "vv_worker_init: %s\n", err);
		return -1;
	}
	return vv_worker_start(100);
}

static int
teardown(void **state)
{
	char run[128];

	vv_worker_stop();
	vv_worker_fini();
	rte_eal_cleanup();
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	snprintf(run, sizeof(run), "/var/run/dpdk/%s", prefix);
	nftw(run, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static int
which_lcore(struct vv_vsock *vs, void *arg)
{
	return (int)rte_lcore_id();
}

static unsigned int
lcore_vms(unsigned int lc)
{
	struct vv_worker_lcore_stats st;

	assert_int_equal(vv_worker_lcore_stats(lc, &st), 0);
	return st.n_vms;
}

/* Placement, adding and removing with the lcores running, and refusals. */
static void
test_add_remove(void **state)
{
	struct vv_vm_config c;
	struct vv_vm *v5, *v6, *v4;
	unsigned int n = vv_worker_vm_count();

	/* At start: 3 went to the emptiest lcore (1, the lowest), 4 was
	 * pinned to 1 as well. */
	assert_int_equal(n, 2);
	assert_int_equal(vv_worker_vm_lcore(vv_worker_vm_by_cid(3)), 1);
	assert_int_equal(vv_worker_vm_lcore(vv_worker_vm_by_cid(4)), 1);
	assert_int_equal(lcore_vms(1), 2);
	assert_int_equal(lcore_vms(2), 0);

	/* Run time: the emptiest lcore is 2 now. */
	c = vm_cfg(5, -1);
	v5 = vv_worker_vm_add(&c, err, sizeof(err));
	assert_non_null(v5);
	assert_int_equal(vv_worker_vm_lcore(v5), 2);
	assert_int_equal(lcore_vms(2), 1);
	/* Polled by that lcore: a call runs there. */
	assert_int_equal(vv_worker_vm_call(v5, which_lcore, NULL), 2);
	assert_int_equal(access(c.uds_path, F_OK), 0);
	c = vm_cfg(6, 2);
	v6 = vv_worker_vm_add(&c, err, sizeof(err));
	assert_non_null(v6);
	assert_int_equal(vv_worker_vm_call(v6, which_lcore, NULL), 2);
	assert_int_equal(vv_worker_vm_count(), 4);
	assert_ptr_equal(vv_worker_vm(3), v6);

	/* Gone from the table, from its lcore, from the file system. */
	v4 = vv_worker_vm_by_cid(4);
	vv_worker_vm_remove(v4);
	assert_null(vv_worker_vm_by_cid(4));
	assert_int_equal(vv_worker_vm_count(), 3);
	assert_int_equal(lcore_vms(1), 1);
	c = vm_cfg(4, -1);
	assert_int_equal(access(c.uds_path, F_OK), -1);
	assert_int_equal(vv_worker_vm_call(vv_worker_vm_by_cid(3), which_lcore, NULL), 1);

	/* Refusals change nothing. */
	c = vm_cfg(7, 9);
	assert_null(vv_worker_vm_add(&c, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "VM cid 7: lcore 9 is not an enabled worker lcore"));
	c = vm_cfg(7, 0);
	assert_null(vv_worker_vm_add(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "the main lcore 0 does not poll"));
	c = vm_cfg(7, 1023); /* past RTE_MAX_LCORE */
	assert_null(vv_worker_vm_add(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "lcore 1023 is not an enabled worker lcore"));
	c = vm_cfg(3, -1); /* CID taken: its uds_path is live too */
	snprintf(c.uds_path, sizeof(c.uds_path), "%s/other.vsock", dir);
	assert_null(vv_worker_vm_add(&c, err, sizeof(err)));
	assert_int_equal(errno, EEXIST);
	assert_non_null(strstr(err, "VM cid 3"));
	assert_int_equal(access(c.uds_path, F_OK), -1);
	c = vm_cfg(8, -1); /* uds_path of a running VM */
	snprintf(c.uds_path, sizeof(c.uds_path), "%s/vm3.vsock", dir);
	assert_null(vv_worker_vm_add(&c, err, sizeof(err)));
	assert_int_equal(errno, EADDRINUSE);
	assert_int_equal(vv_worker_vm_count(), 3);
	assert_int_equal(lcore_vms(1) + lcore_vms(2), 3);

	/* Keys that apply in place, and the table in a configuration's order. */
	c = *vv_worker_vm_config(v5);
	c.queue_size = 256;
	vv_worker_vm_update(v5, &c);
	assert_int_equal(vv_worker_vm_config(v5)->queue_size, 256);
	{
		struct vv_vm_config order[3] = { vm_cfg(6, 2), vm_cfg(3, -1), vm_cfg(5, -1) };
		struct vv_config oc = { .n_vms = 3, .vms = order };

		vv_worker_vm_order(&oc);
		assert_int_equal(vv_worker_vm_config(vv_worker_vm(0))->guest_cid, 6);
		assert_int_equal(vv_worker_vm_config(vv_worker_vm(1))->guest_cid, 3);
		assert_int_equal(vv_worker_vm_config(vv_worker_vm(2))->guest_cid, 5);
	}
	vv_worker_vm_remove(v5);
	vv_worker_vm_remove(v6);
	assert_int_equal(vv_worker_vm_count(), 1);
	assert_int_equal(lcore_vms(2), 0);
}

/* A control thread that walks the table the way telemetry does, calling
 * into each VM it finds, while the main thread adds and removes VMs. */
struct reader {
	volatile int stop;
	uint64_t walks, calls, bad;
};

static void *
table_reader(void *arg)
{
	struct reader *r = arg;

	while (!r->stop) {
		vv_worker_vms_lock();
		for (unsigned int i = 0; i < vv_worker_vm_count(); i++) {
			struct vv_vm *vm = vv_worker_vm(i);
			const struct vv_vm_config *c = vv_worker_vm_config(vm);

			if (c->guest_cid < 3 || vv_worker_vm_stats(vm)->conns_open != 0)
				r->bad++;
			if (vv_worker_vm_call(vm, which_lcore, NULL) !=
			    (int)vv_worker_vm_lcore(vm))
				r->bad++;
			r->calls++;
		}
		vv_worker_vms_unlock();
		r->walks++;
	}
	return NULL;
}

static void
test_churn_no_leak(void **state)
{
	struct reader r = { 0 };
	unsigned int fds, i;
	pthread_t t;

	/* Once, so that lazily opened descriptors (EAL's) are counted. */
	{
		struct vv_vm_config c = vm_cfg(100, -1);
		struct vv_vm *vm = vv_worker_vm_add(&c, err, sizeof(err));

		assert_non_null(vm);
		vv_worker_vm_remove(vm);
	}
	fds = fd_count();
	pthread_create(&t, NULL, table_reader, &r);
	for (i = 0; i < 100; i++) {
		struct vv_vm_config a = vm_cfg(100 + i % 7, -1), b = vm_cfg(200 + i, 1 + i % 2);
		struct vv_vm *va = vv_worker_vm_add(&a, err, sizeof(err));
		struct vv_vm *vb = vv_worker_vm_add(&b, err, sizeof(err));

		assert_non_null(va);
		assert_non_null(vb);
		assert_int_equal(vv_worker_vm_call(vb, which_lcore, NULL), 1 + (int)(i % 2));
		vv_worker_vm_remove(va);
		vv_worker_vm_remove(vb);
	}
	r.stop = 1;
	pthread_join(t, NULL);
	assert_true(r.walks > 0);
	assert_true(r.calls > 0);
	assert_int_equal(r.bad, 0);
	assert_int_equal(vv_worker_vm_count(), 1);
	assert_int_equal(fd_count(), fds);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_remove),
		cmocka_unit_test(test_churn_no_leak),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
