/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The unit tests' fake vsock guest (tests/unit/vsock/vsock_guest.c), made
 * fresh for every run of a target at a fraction of vg_new's cost. A target
 * uses one CID and one queue size for all its runs.
 */
#ifndef FUZZ_GUEST_H
#define FUZZ_GUEST_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vsock_guest.h"

/*
 * A guest as vg_new makes it, without making one per run: a fresh one
 * costs page faults on 600 KiB. One per pair of start indices is kept with
 * a copy of what vg_new gave (its structures and its ring region); the
 * data regions may keep old bytes, as rx buffers are filled before they
 * are posted and packets are written where they are sent.
 */
static inline struct vg *
guest_fresh(uint64_t cid, uint16_t qsize, uint16_t rx_start, uint16_t tx_start)
{
	static struct {
		struct vg *g, vg0;
		struct fg fg0;
		uint8_t *ring0;
	} kept[4];
	unsigned int i = (rx_start != 0) * 2 + (tx_start != 0);

	if (kept[i].g == NULL) {
		kept[i].g = vg_new(cid, qsize, qsize, rx_start, tx_start);
		kept[i].ring0 = malloc(FG_RING_SIZE);
		if (kept[i].g == NULL || kept[i].ring0 == NULL)
			abort();
		kept[i].vg0 = *kept[i].g;
		kept[i].fg0 = *kept[i].g->rx;
		memcpy(kept[i].ring0, fg_hva(kept[i].g->rx, FG_RING_GPA), FG_RING_SIZE);
	}
	*kept[i].g = kept[i].vg0;
	*kept[i].g->rx = kept[i].fg0;
	memcpy(fg_hva(kept[i].g->rx, FG_RING_GPA), kept[i].ring0, FG_RING_SIZE);
	return kept[i].g;
}

#endif
