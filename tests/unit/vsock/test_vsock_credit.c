/* SPDX-License-Identifier: BSD-3-Clause */
/* The credit helpers of vsock_priv.h on their own: wrapping u32 counters
 * (spec 5.10.6.3), a window that is never taken back, a guest that counts
 * on forwarding it was not told of, a peer that shrinks
 * buf_alloc, and when a CREDIT_UPDATE is due. Counters start just under
 * 2^32 so every case crosses the wrap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vsock_priv.h"

#define NEAR_WRAP 0xFFFFFFF0u

static void test_guest_may_send_wrap(void **state)
{
	struct conn c = { .rx_cnt = NEAR_WRAP, .fwd_cnt = NEAR_WRAP, .credit_end = NEAR_WRAP + 4096 };

	assert_int_equal(credit_guest_may_send(&c), 4096);
	/* 0x20 bytes received: rx_cnt wraps to 0x10. */
	c.rx_cnt += 0x20;
	assert_int_equal(c.rx_cnt, 0x10);
	assert_int_equal(credit_guest_may_send(&c), 4096 - 0x20);
	/* Forwarding alone gives nothing: only a header moves credit_end. */
	c.fwd_cnt += 0x18;
	assert_int_equal(credit_guest_may_send(&c), 4096 - 0x20);
	c.credit_end = credit_new_end(&c, 4096);
	assert_int_equal(credit_guest_may_send(&c), 4096 - 8);
	/* Everything forwarded and told: a full window again. */
	c.fwd_cnt = c.rx_cnt;
	c.credit_end = credit_new_end(&c, 4096);
	assert_int_equal(credit_guest_may_send(&c), 4096);
}

static void test_violated_boundary(void **state)
{
	struct conn c = { .rx_cnt = NEAR_WRAP + 0x30, .fwd_cnt = NEAR_WRAP + 0x10 };
	uint32_t room = 4096 - 0x20;

	c.credit_end = credit_new_end(&c, 4096);
	assert_int_equal(credit_guest_may_send(&c), room);
	assert_false(credit_violated(&c, 0));
	assert_false(credit_violated(&c, room));
	assert_true(credit_violated(&c, room + 1));
	assert_true(credit_violated(&c, UINT32_MAX));
	/* No room at all: only an empty packet is fine. */
	c.rx_cnt = c.credit_end;
	assert_false(credit_violated(&c, 0));
	assert_true(credit_violated(&c, 1));
}

static void test_window_never_shrinks(void **state)
{
	/* A header told the guest it may send up to fwd + 200000 (the host
	 * socket had room); the room is gone now, the window is 4096. */
	struct conn c = { .rx_cnt = NEAR_WRAP, .fwd_cnt = NEAR_WRAP };

	c.credit_end = credit_new_end(&c, 200000);
	assert_int_equal(c.credit_end, NEAR_WRAP + 200000);
	/* The next header must not take that back: the guest may already
	 * have sent on it. */
	assert_int_equal(credit_new_end(&c, 4096), NEAR_WRAP + 200000);
	/* It is a limit, not a gift: forwarding moves it on only once the
	 * smaller window reaches past it. */
	c.rx_cnt += 150000;
	c.fwd_cnt += 150000;
	assert_int_equal(credit_new_end(&c, 4096), NEAR_WRAP + 200000);
	c.fwd_cnt += 50000;
	assert_int_equal(credit_new_end(&c, 4096), NEAR_WRAP + 200000 + 4096);
	/* The guest used what it was promised: exactly up to the end. */
	c.rx_cnt = NEAR_WRAP + 200000;
	assert_false(credit_violated(&c, 0));
	assert_true(credit_violated(&c, 1));
}

/* A guest that counts on forwarding we never told it about (it cannot know
 * of it, but a sloppy one may assume it): let off while no more than
 * buf_alloc are in flight, the rule read from our side. */
static void test_violated_untold_forwarding(void **state)
{
	struct conn c = { .rx_cnt = NEAR_WRAP, .fwd_cnt = NEAR_WRAP, .buf_alloc = 4096 };

	c.credit_end = credit_new_end(&c, 4096);
	c.rx_cnt += 4000;
	c.fwd_cnt += 4000; /* forwarded, no header since */
	assert_int_equal(credit_guest_may_send(&c), 96);
	assert_false(credit_violated(&c, 4096));
	assert_true(credit_violated(&c, 4097));
	/* Past credit_end now: may_send is 0, not a wrapped huge number. */
	c.rx_cnt += 4096;
	assert_int_equal(credit_guest_may_send(&c), 0);
	assert_true(credit_violated(&c, 1));
	c.fwd_cnt += 4096;
	assert_false(credit_violated(&c, 4096));
	/* The next header covers it again. */
	c.credit_end = credit_new_end(&c, 4096);
	assert_int_equal(credit_guest_may_send(&c), 4096);
}

static void test_peer_free_wrap(void **state)
{
	struct conn c = { .tx_cnt = NEAR_WRAP, .peer_fwd_cnt = NEAR_WRAP,
			  .peer_buf_alloc = 65536 };

	assert_int_equal(credit_peer_free(&c), 65536);
	c.tx_cnt += 0x1000; /* wraps to 0xff0 */
	assert_int_equal(c.tx_cnt, 0xff0);
	assert_int_equal(credit_peer_free(&c), 65536 - 0x1000);
	c.peer_fwd_cnt += 0x800; /* wraps to 0x7f0 */
	assert_int_equal(credit_peer_free(&c), 65536 - 0x800);
	c.tx_cnt += 65536 - 0x800;
	assert_int_equal(credit_peer_free(&c), 0);
}

static void test_peer_shrinks_buf_alloc(void **state)
{
	/* 3000 bytes in flight across the wrap. */
	struct conn c = { .tx_cnt = NEAR_WRAP + 3000, .peer_fwd_cnt = NEAR_WRAP,
			  .peer_buf_alloc = 65536 };

	assert_int_equal(credit_peer_free(&c), 65536 - 3000);
	c.peer_buf_alloc = 3001;
	assert_int_equal(credit_peer_free(&c), 1);
	c.peer_buf_alloc = 3000;
	assert_int_equal(credit_peer_free(&c), 0);
	/* Below what is in flight: no credit, never a wrapped 4 GiB. */
	c.peer_buf_alloc = 1024;
	assert_int_equal(credit_peer_free(&c), 0);
	c.peer_buf_alloc = 0;
	assert_int_equal(credit_peer_free(&c), 0);
	/* The guest consumed what was in flight: the small buffer is usable. */
	c.peer_buf_alloc = 1024;
	c.peer_fwd_cnt = c.tx_cnt;
	assert_int_equal(credit_peer_free(&c), 1024);
}

static void test_peer_fwd_cnt_ahead(void **state)
{
	/* A guest claiming to have consumed more than was sent: the in-flight
	 * difference wraps to a huge value, which must mean "no credit". */
	struct conn c = { .tx_cnt = 0x10, .peer_fwd_cnt = 0x20, .peer_buf_alloc = 65536 };

	assert_int_equal(credit_peer_free(&c), 0);
}

static void test_update_due_threshold(void **state)
{
	const uint32_t w = 8192;
	struct conn c = { .rx_cnt = NEAR_WRAP, .fwd_cnt = NEAR_WRAP, .fwd_cnt_sent = NEAR_WRAP };

	c.credit_end = credit_new_end(&c, w);
	/* Nothing forwarded since the last header: never due. */
	c.rx_cnt = c.credit_end;
	assert_false(credit_update_due(&c, w));
	/* Forwarded, but the guest still believes it has half the window. */
	c.rx_cnt = NEAR_WRAP + w / 2;
	c.fwd_cnt = c.rx_cnt;
	assert_false(credit_update_due(&c, w));
	/* One byte more and its credit is under half: due (past 2^32). */
	c.rx_cnt = NEAR_WRAP + w / 2 + 1;
	assert_true(c.rx_cnt < NEAR_WRAP);
	assert_true(credit_update_due(&c, w));
	/* A larger window now (the socket drained): due earlier. */
	c.rx_cnt = NEAR_WRAP + w / 4;
	assert_false(credit_update_due(&c, w));
	assert_true(credit_update_due(&c, 2 * w));
	/* Telling resets the guest's view. */
	c.fwd_cnt = c.rx_cnt;
	c.fwd_cnt_sent = c.fwd_cnt;
	c.credit_end = credit_new_end(&c, w);
	assert_false(credit_update_due(&c, w));
	c.rx_cnt += w / 2 + 1;
	c.fwd_cnt += 1;
	assert_true(credit_update_due(&c, w));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_may_send_wrap),
		cmocka_unit_test(test_violated_boundary),
		cmocka_unit_test(test_window_never_shrinks),
		cmocka_unit_test(test_violated_untold_forwarding),
		cmocka_unit_test(test_peer_free_wrap),
		cmocka_unit_test(test_peer_shrinks_buf_alloc),
		cmocka_unit_test(test_peer_fwd_cnt_ahead),
		cmocka_unit_test(test_update_due_threshold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
