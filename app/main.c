/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dpdk-vhost-vsock: virtio-vsock devices for VMs over vhost-user, on DPDK.
 *
 *   dpdk-vhost-vsock [EAL args --] [options]
 *
 * main() parses the command line, initialises EAL (with defaults that need
 * no hugepages and no NIC when no EAL args are given), launches the worker
 * lcores and then only waits for signals: SIGHUP reloads --config (lib/reload,
 * on this thread), SIGINT and SIGTERM stop. The main lcore's CPU is left to
 * the control threads (vhost-events, telemetry).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <sys/resource.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_version.h>

#include <vv_config.h>
#include <vv_reload.h>
#include <vv_telemetry.h>
#include <vv_vhost.h>
#include <vv_worker.h>

#define EAL_ARGS_MAX 64

RTE_LOG_REGISTER(vv_logtype_app, vv.app, INFO);
#define APP_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vv_logtype_app, "APP: " fmt "\n", ##__VA_ARGS__)

static char *default_eal[EAL_ARGS_MAX];
static char eal_prefix[64];
static char eal_lcores[64];

/* No EAL args: run anywhere, like vhost-device-vsock does. No hugepages and
 * no PCI (--no-huge implies legacy memory, which --in-memory refuses); a
 * per-CID file prefix so that several processes (and their telemetry
 * sockets) coexist; the first two CPUs we may run on as main and worker lcore. */
static int
build_default_eal(const char *prog, const struct vv_config *cfg)
{
	cpu_set_t set;
	int cpus[2] = { 0, 0 }, n = 0, i, argc = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (i = 0; i < CPU_SETSIZE && n < 2; i++)
			if (CPU_ISSET(i, &set))
				cpus[n++] = i;
	}
	if (n == 0)
		n = 1;
	/* With a single CPU both lcores share it (the worker must then sleep
	 * when idle: see --idle-sleep-us). */
	snprintf(eal_lcores, sizeof(eal_lcores), "0@%d,1@%d", cpus[0], cpus[n - 1]);
	snprintf(eal_prefix, sizeof(eal_prefix), "vvsock-%" PRIu64,
		 cfg->n_vms > 0 ? cfg->vms[0].guest_cid : 0);
	default_eal[argc++] = (char *) (uintptr_t) prog;
	default_eal[argc++] = (char *) (uintptr_t) "--no-pci";
	default_eal[argc++] = (char *) (uintptr_t) "--no-huge";
	default_eal[argc++] = (char *) (uintptr_t) "-m";
	default_eal[argc++] = (char *) (uintptr_t) "256";
	default_eal[argc++] = (char *) (uintptr_t) "--file-prefix";
	default_eal[argc++] = eal_prefix;
	default_eal[argc++] = (char *) (uintptr_t) "--lcores";
	default_eal[argc++] = eal_lcores;
	default_eal[argc] = NULL;
	return argc;
}

static void
die_now(int sig)
{
	/* Second signal while shutting down: leave at once. */
	_exit(128 + sig);
}

static void
control_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

/* Serve reloads until asked to stop; returns the stop signal. A signal that
 * comes during a reload waits for it to finish (bounded: the RSTs of removed
 * VMs get 500 ms). */
static int
serve(const struct vv_config *cfg)
{
	char err[512];
	sigset_t set;
	int sig = 0;

	control_signals(&set);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		if (cfg->config_file[0] == '\0') {
			APP_LOG(NOTICE, "SIGHUP: the VMs come from the command line, "
					"nothing to reload (a reload reads --config)");
			continue;
		}
		/* lib/reload logs what it did, or why the file was refused. */
		vv_reload_file(cfg->config_file, err, sizeof(err));
	}
	signal(SIGINT, die_now);
	signal(SIGTERM, die_now);
	sigdelset(&set, SIGHUP);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	return sig;
}

int
main(int argc, char **argv)
{
	struct vv_config cfg;
	char err[512] = "";
	int eal_argc = 0, app_argc = argc, i, r, sig;
	char **eal_argv = NULL, **app_argv = argv;
	sigset_t set;

	/* "[EAL args --] [options]": split at the first "--". */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			eal_argc = i;
			eal_argv = argv;
			app_argc = argc - i;
			app_argv = argv + i;
			app_argv[0] = argv[0];
			break;
		}
	}

	r = vv_config_parse_args(&cfg, app_argc, app_argv, err, sizeof(err));
	if (r != 0) {
		fprintf(stderr, "%s: %s\nTry '%s --help'.\n", argv[0], err, argv[0]);
		vv_config_free(&cfg);
		return 2;
	}
	if (cfg.action == VV_CONFIG_HELP) {
		vv_config_usage(argv[0], stdout);
		vv_config_free(&cfg);
		return 0;
	}
	if (cfg.action == VV_CONFIG_VERSION) {
		printf("dpdk-vhost-vsock %s (%s)\n", VV_VERSION, rte_version());
		vv_config_free(&cfg);
		return 0;
	}
	if (eal_argv == NULL) {
		eal_argc = build_default_eal(argv[0], &cfg);
		eal_argv = default_eal;
	}

	/* Every stream holds a host socket: allow as many as the hard limit. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	/* Signals go to the main thread only: every thread EAL and rte_vhost
	 * create inherits this mask. */
	control_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN); /* host apps that vanish give EPIPE, not death */

	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr, "%s: EAL initialisation failed (%s)%s%s%s\n", argv[0],
			rte_strerror(rte_errno),
			eal_argv == default_eal ? "; is another process running with file prefix "
						: "",
			eal_argv == default_eal ? eal_prefix : "",
			eal_argv == default_eal ? "? Give EAL args with another --file-prefix"
						: "");
		vv_config_free(&cfg);
		return 1;
	}

	r = vv_worker_init(&cfg, err, sizeof(err));
	if (r == 0)
		r = vv_worker_start(cfg.idle_sleep_us);
	if (r == 0)
		r = vv_vhost_start(err, sizeof(err));
	if (r != 0) {
		fprintf(stderr, "%s: %s\n", argv[0], err[0] ? err : strerror(-r));
		vv_vhost_stop();
		vv_worker_stop();
		vv_worker_fini();
		rte_eal_cleanup();
		vv_config_free(&cfg);
		return 1;
	}
	/* Telemetry is for operators: the VMs are served without it. */
	r = vv_telemetry_init(&cfg);
	if (r != 0)
		APP_LOG(WARNING, "telemetry commands not registered: %s", strerror(-r));
	APP_LOG(INFO, "serving %u VM(s) on %u worker lcore(s)", cfg.n_vms, rte_lcore_count() - 1);

	sig = serve(&cfg);
	APP_LOG(INFO, "%s: shutting down", strsignal(sig));
	vv_telemetry_stop();
	/* No new streams; open ones end with an RST the guests can see while
	 * their rings are still served. */
	vv_worker_drain(500);
	vv_vhost_stop();
	vv_worker_stop();
	vv_worker_fini();
	rte_eal_cleanup();
	vv_config_free(&cfg);
	return 0;
}
