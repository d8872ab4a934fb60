/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The smallest rte_vhost application: one vhost-user server socket whose
 * device callbacks do nothing. For vhost_user_stall.py, to show the stall in
 * rte_vhost itself, whatever the DPDK release:
 *
 *   cc -o vhost_user_server vhost_user_server.c $(pkg-config --cflags --libs libdpdk)
 *   ./vhost_user_server /tmp/vu.sock &
 *   python3 vhost_user_stall.py /tmp/vu.sock
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_vhost.h>

static volatile sig_atomic_t stop;

static int
new_device(int vid)
{
	(void) vid;
	return 0;
}

static void
destroy_device(int vid)
{
	(void) vid;
}

static const struct rte_vhost_device_ops ops = {
	.new_device = new_device,
	.destroy_device = destroy_device,
};

static void
on_signal(int sig)
{
	(void) sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	char *eal[] = { argv[0], "--no-pci", "--no-huge", "-m", "64", "--no-shconf",
			"--no-telemetry", "-l", "0", NULL };

	if (argc != 2) {
		fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
		return 2;
	}
	if (rte_eal_init((int) (sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0)
		return 1;
	if (rte_vhost_driver_register(argv[1], 0) != 0 ||
	    rte_vhost_driver_callback_register(argv[1], &ops) != 0 ||
	    rte_vhost_driver_start(argv[1]) != 0) {
		fprintf(stderr, "cannot serve %s\n", argv[1]);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("serving %s\n", argv[1]);
	fflush(stdout);
	while (!stop)
		pause();
	rte_vhost_driver_unregister(argv[1]);
	rte_eal_cleanup();
	return 0;
}
