/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device around its streams: detach closes every host socket and hands
 * back the final ring indices, re-attach resumes from them, ring indices
 * cross the 16-bit wrap, queues are paused and resumed, interrupts go to
 * the call eventfd.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "vsock_env.h"

#define GPORT 1000u
#define HPORT 5000u
#define RXBUF (4096u + VG_HDR_SIZE)

/* Three live streams (two guest-, one host-initiated), two spare rx
 * buffers, and one REQUEST the device has not seen yet; then detach. */
static void open_three_and_detach(struct env *e, int fds[3], struct vv_virtq *rxq,
				  struct vv_virtq *txq)
{
	uint32_t hport;

	fds[0] = env_guest_open(e, GPORT, HPORT);
	fds[1] = env_guest_open(e, GPORT + 1, HPORT + 1);
	fds[2] = env_host_open(e, 1234, &hport);
	vg_post_rx_n(e->g, 2, RXBUF);
	env_settle(e);
	env_send_op(e, VIRTIO_VSOCK_OP_REQUEST, GPORT + 2, HPORT, 0, 0);
	vv_vsock_detach(e->vs, rxq, txq);
}

static void test_detach(void **state)
{
	const struct env_opts o = { .host_listener = true, .rx_start = 100, .tx_start = 200 };
	struct env *e = env_start(state, &o);
	const struct vv_vsock_stats *st = vv_vsock_stats(e->vs);
	struct vv_virtq rxq, txq, untouched;
	unsigned int i;
	int fds[3], late;

	open_three_and_detach(e, fds, &rxq, &txq);
	assert_false(vv_vsock_attached(e->vs));
	for (i = 0; i < 3; i++)
		app_expect_closed(fds[i]);
	assert_int_equal(st->conns_open, 0);
	assert_int_equal(st->conns_closed, 3);
	assert_int_equal(env_conns(e, NULL, 0), 0);

	/* rx: 3 buffers used (2 RESPONSEs, 1 REQUEST), 2 posted and not taken. */
	assert_int_equal(rxq.used_idx, 103);
	assert_int_equal(rxq.last_avail_idx, 103);
	assert_int_equal(fg_used_idx(e->g->rx), 103);
	assert_int_equal(e->g->rx->avail_idx, 105);
	/* tx: 3 packets consumed and returned; the last REQUEST never taken. */
	assert_int_equal(txq.used_idx, 203);
	assert_int_equal(txq.last_avail_idx, 203);
	assert_int_equal(vg_tx_used(e->g), 203);
	assert_int_equal(e->g->tx.avail_idx, 204);
	assert_ptr_equal(rxq.desc, vg_rxq(e->g)->desc);
	assert_ptr_equal(txq.used, vg_txq(e->g)->used);

	/* Detached: polling touches no ring, host apps are turned away. */
	late = env_host_connect(e);
	env_settle(e);
	app_expect_closed(late);
	assert_int_equal(vg_tx_used(e->g), 203);
	assert_int_equal(st->conns_opened, 3);
	/* A second detach is a no-op. */
	memset(&untouched, 0x5a, sizeof(untouched));
	rxq = untouched;
	vv_vsock_detach(e->vs, &rxq, NULL);
	assert_memory_equal(&rxq, &untouched, sizeof(rxq));
}

static void test_reattach(void **state)
{
	const struct env_opts o = { .host_listener = true, .rx_start = 100, .tx_start = 200 };
	struct env *e = env_start(state, &o);
	struct vv_virtq rxq, txq;
	struct vg_pkt p;
	uint32_t hport;
	int fds[3], fd;

	open_three_and_detach(e, fds, &rxq, &txq);
	assert_int_equal(vv_vsock_attach(e->vs, e->features, vg_mem(e->g), &rxq, &txq), 0);
	assert_true(vv_vsock_attached(e->vs));
	/* The REQUEST left in the ring is served now, into a spare buffer. */
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RESPONSE, HPORT, GPORT + 2, 0, 0, ENV_ANY_WINDOW, 0);
	fd = env_accept(e, e->fds[0]); /* the listener of HPORT, opened first */
	env_rw_to_app(e, GPORT + 2, HPORT, fd, "again", 5);
	assert_int_equal(vg_tx_used(e->g), 205);
	/* The streams of the previous attach are gone. */
	vg_post_rx_n(e->g, 1, RXBUF);
	env_send_rw(e, GPORT, HPORT, "old", 3);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RST, HPORT, GPORT, 0, 0, 0, 0);
	/* Host-initiated streams work again too. */
	fd = env_host_open(e, 1234, &hport);
	assert_true(hport >= VV_VSOCK_HOST_PORT_BASE);
	assert_int_equal(vv_vsock_stats(e->vs)->conns_open, 2);
}

static void test_attach_busy(void **state)
{
	struct env *e = env_start(state, NULL);

	assert_int_equal(vv_vsock_attach(e->vs, e->features, vg_mem(e->g), vg_rxq(e->g), vg_txq(e->g)),
			 -EBUSY);
	assert_true(vv_vsock_attached(e->vs));
}

static void test_ring_wrap(void **state)
{
	const struct env_opts o = { .rx_size = 16, .tx_size = 16,
				    .rx_start = 65530, .tx_start = 65533 };
	struct env *e = env_start(state, &o);
	struct vv_virtq rxq, txq;
	uint8_t data[100], buf[128];
	unsigned int i;
	int fd = env_guest_open(e, GPORT, HPORT);

	/* 40 packets each way on 16-entry rings: indices wrap past 65535
	 * and the rings go round more than twice. */
	for (i = 0; i < 40; i++) {
		struct vg_pkt p;

		pattern_fill(data, 20, i * 100ull, 100);
		env_send_rw(e, GPORT, HPORT, data, 100);
		pattern_fill(data, 21, i * 100ull, 100);
		app_send(fd, data, 100);
		vg_post_rx_n(e->g, 1, RXBUF);
		env_settle(e);
		assert_int_equal(app_recv(fd, buf, sizeof(buf)), 100);
		assert_true(pattern_check(buf, 20, i * 100ull, 100));
		env_pop(e, &p);
		expect_hdr(&p, VIRTIO_VSOCK_OP_RW, HPORT, GPORT, 100, 0, ENV_ANY_WINDOW,
			   (i + 1) * 100);
		assert_true(pattern_check(p.data, 21, i * 100ull, 100));
		env_expect_no_rx(e);
	}
	assert_int_equal(vg_tx_used(e->g), (uint16_t)(65533 + 41));
	assert_int_equal(fg_used_idx(e->g->rx), (uint16_t)(65530 + 41));
	assert_true(vg_tx_used(e->g) < 100);
	vv_vsock_detach(e->vs, &rxq, &txq);
	assert_int_equal(txq.used_idx, (uint16_t)(65533 + 41));
	assert_int_equal(txq.last_avail_idx, (uint16_t)(65533 + 41));
	assert_int_equal(rxq.used_idx, (uint16_t)(65530 + 41));
	assert_int_equal(rxq.last_avail_idx, (uint16_t)(65530 + 41));
	app_expect_closed(fd);
}

static void test_queue_enable(void **state)
{
	struct env *e = env_start(state, NULL);
	uint16_t used = vg_tx_used(e->g);
	struct vg_pkt p;
	int lfd = env_listen_port(e, HPORT);

	vg_post_rx_n(e->g, 1, RXBUF);
	vv_vsock_enable_queue(e->vs, 1, false);
	env_send_op(e, VIRTIO_VSOCK_OP_REQUEST, GPORT, HPORT, 0, 0);
	env_settle(e);
	assert_int_equal(vg_tx_used(e->g), used);
	/* tx back on, rx off: the request is taken, the answer waits. */
	vv_vsock_enable_queue(e->vs, 1, true);
	vv_vsock_enable_queue(e->vs, 0, false);
	env_settle(e);
	assert_int_equal(vg_tx_used(e->g), (uint16_t)(used + 1));
	env_expect_no_rx(e);
	vv_vsock_enable_queue(e->vs, 0, true);
	env_settle(e);
	env_pop(e, &p);
	expect_hdr(&p, VIRTIO_VSOCK_OP_RESPONSE, HPORT, GPORT, 0, 0, ENV_ANY_WINDOW, 0);
	env_accept(e, lfd);
}

static void test_callfd(void **state)
{
	struct env *e = env_start(state, NULL);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint64_t v = 0;

	assert_true(efd >= 0);
	env_track(e, efd);
	assert_int_equal(vv_vsock_set_callfd(e->vs, 2, efd), -EINVAL);
	/* A new fd gets one interrupt at once. */
	assert_int_equal(vv_vsock_set_callfd(e->vs, 0, efd), 0);
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	/* A packet to the guest interrupts it. */
	vg_post_rx_n(e->g, 2, RXBUF);
	env_send_op(e, VIRTIO_VSOCK_OP_RW, GPORT, HPORT, 0, 0);
	env_settle(e);
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	/* -1: no interrupts any more. */
	assert_int_equal(vv_vsock_set_callfd(e->vs, 0, -1), 0);
	env_send_op(e, VIRTIO_VSOCK_OP_RW, GPORT, HPORT, 0, 0);
	env_settle(e);
	assert_int_equal(vg_rx_pending(e->g), 2);
	assert_int_equal(read(efd, &v, sizeof(v)), -1);
	assert_int_equal(errno, EAGAIN);
}

/* Interrupts the call eventfd holds now (0 if none). */
static uint64_t calls_taken(int efd)
{
	uint64_t v = 0;

	if (read(efd, &v, sizeof(v)) != sizeof(v)) {
		assert_int_equal(errno, EAGAIN);
		return 0;
	}
	return v;
}

/*
 * Tx completions are used at once, but their interrupt waits until 1/16
 * of the ring waits for it, 200 us after it was owed, or the lcore's
 * sleep (vsock_tx.c, tx_call_maybe).
 */
static void test_tx_call_batched(void **state)
{
	struct env *e = env_start(state, NULL); /* a 256-entry tx ring: 16 */
	int efd = env_track(e, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	uint64_t deadline = UINT64_MAX;
	uint16_t used = 0;

	assert_true(efd >= 0);
	assert_int_equal(vv_vsock_set_callfd(e->vs, 1, efd), 0);
	assert_int_equal(calls_taken(efd), 1); /* the one a new fd gets */
	vg_post_rx_n(e->g, 64, RXBUF);
	/* One packet (for no stream: RST): used, no interrupt yet. */
	env_send_op(e, VIRTIO_VSOCK_OP_RW, GPORT, HPORT, 0, 0);
	env_settle(e);
	used = vg_tx_used(e->g);
	assert_int_equal(used, 1);
	assert_int_equal(calls_taken(efd), 0);
	/* 200 us later it goes out. */
	e->now += 199 * 1000;
	env_poll(e);
	assert_int_equal(calls_taken(efd), 0);
	e->now += 1000;
	env_poll(e);
	assert_int_equal(calls_taken(efd), 1);
	/* 16 packets: at once. */
	for (int i = 0; i < 16; i++)
		env_send_op(e, VIRTIO_VSOCK_OP_RW, GPORT + 1 + (uint32_t) i, HPORT, 0, 0);
	env_poll(e);
	assert_int_equal(vg_tx_used(e->g), used + 16);
	assert_int_equal(calls_taken(efd), 1);
	/* One more, then the lcore is about to sleep: it goes out. */
	env_send_op(e, VIRTIO_VSOCK_OP_RW, GPORT, HPORT, 0, 0);
	env_settle(e);
	assert_int_equal(calls_taken(efd), 0);
	(void) vv_vsock_sleep_prepare(e->vs, e->now, &deadline);
	assert_int_equal(calls_taken(efd), 1);
	assert_int_equal(vv_vsock_stats(e->vs)->tx_calls, 3);
}

/* Is the device's epoll set (host sockets and kicks) readable now? */
static bool epoll_ready(struct env *e)
{
	struct pollfd p = { .fd = vv_vsock_epoll_fd(e->vs), .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/*
 * Before its lcore sleeps the device asks the guest for kicks and looks
 * once more; a kick makes its epoll set readable, and a poll round takes
 * it. The rx ring is armed only when something waits for the guest's
 * buffers; timers bound the sleep.
 */
static void test_sleep_and_kick(void **state)
{
	const struct env_opts o = { .host_listener = true };
	struct env *e = env_start(state, &o);
	int kick[2], fd, app;
	uint64_t deadline = UINT64_MAX, v;

	for (int q = 0; q < 2; q++) {
		kick[q] = env_track(e, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
		assert_int_equal(vv_vsock_set_kickfd(e->vs, (unsigned int)q, kick[q]), 0);
	}
	assert_int_equal(vv_vsock_set_kickfd(e->vs, 2, kick[0]), -EINVAL);
	fd = env_guest_open(e, GPORT, HPORT);
	env_settle(e);
	/* Idle: nothing to do, no timer. While polling the guest must not
	 * kick; asked, it kicks on its next packet. */
	assert_false(vv_vsock_sleep_prepare(e->vs, e->now, &deadline));
	assert_int_equal(deadline, UINT64_MAX);
	assert_false(epoll_ready(e));
	env_send_op(e, VIRTIO_VSOCK_OP_CREDIT_UPDATE, GPORT, HPORT, 0, 0);
	assert_true(fg_kick_prepare(&e->g->tx));
	assert_int_equal(eventfd_write(kick[1], 1), 0);
	assert_true(epoll_ready(e));
	vv_vsock_wake(e->vs);
	env_settle(e);
	/* The round read the kick: the set is quiet again. */
	assert_false(epoll_ready(e));
	assert_int_equal(read(kick[1], &v, sizeof(v)), -1);
	/* Polling again: the guest's packets need no kick. */
	env_send_op(e, VIRTIO_VSOCK_OP_CREDIT_UPDATE, GPORT, HPORT, 0, 0);
	assert_false(fg_kick_prepare(&e->g->tx));
	/* A packet that came before the look: do not sleep. */
	assert_true(vv_vsock_sleep_prepare(e->vs, e->now, &deadline));
	vv_vsock_wake(e->vs);
	env_settle(e);
	/* Data for a guest that posted no rx buffer: the rx ring is armed. */
	app_send(fd, "abc", 3);
	env_settle(e);
	assert_false(vv_vsock_sleep_prepare(e->vs, e->now, &deadline));
	vg_post_rx_n(e->g, 1, RXBUF);
	assert_true(fg_kick_prepare(e->g->rx));
	vv_vsock_wake(e->vs);
	env_settle(e);
	assert_int_equal(vg_rx_pending(e->g), 1);
	/* A host app that has not sent its CONNECT line: its timeout is a
	 * timer the sleep must not outlast. */
	app = env_host_connect(e);
	env_settle(e);
	assert_false(vv_vsock_sleep_prepare(e->vs, e->now, &deadline));
	vv_vsock_wake(e->vs);
	assert_true(deadline != UINT64_MAX);
	assert_true(deadline <= e->now + VV_VSOCK_TIMEOUT_NS);
	(void)app;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_detach, env_teardown),
		cmocka_unit_test_teardown(test_reattach, env_teardown),
		cmocka_unit_test_teardown(test_attach_busy, env_teardown),
		cmocka_unit_test_teardown(test_ring_wrap, env_teardown),
		cmocka_unit_test_teardown(test_queue_enable, env_teardown),
		cmocka_unit_test_teardown(test_callfd, env_teardown),
		cmocka_unit_test_teardown(test_tx_call_batched, env_teardown),
		cmocka_unit_test_teardown(test_sleep_and_kick, env_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
