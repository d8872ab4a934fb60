/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A tiny vhost-user vsock device for the vvfe unit test: a server socket,
 * the vhost-user messages QEMU sends, and a vsock peer that echoes what a
 * stream on FAKEDEV_ECHO_PORT sends and refuses every other port. It is a
 * test double, written from the specs, independent of the real backend.
 * With seqpacket it offers VIRTIO_VSOCK_F_SEQPACKET and echoes a SEQPACKET
 * stream message by message: the packet that ends a message it got ends
 * the same message on the way back, with the same EOM/EOR flags.
 */
#ifndef TEST_FAKEDEV_H
#define TEST_FAKEDEV_H

#include <stdbool.h>
#include <stdint.h>

#define FAKEDEV_ECHO_PORT 7

struct fakedev_opts {
	uint64_t cid;         /* guest CID answered by GET_CONFIG */
	uint32_t buf_alloc;   /* device-side receive buffer per stream */
	bool no_event_idx;    /* do not offer VIRTIO_RING_F_EVENT_IDX */
	uint64_t peer_cid;    /* speak as this CID (a sibling guest); 0 = the host */
	bool seqpacket;       /* offer VIRTIO_VSOCK_F_SEQPACKET */
};

struct fakedev;

/* Start serving on a fresh socket path; NULL on failure. */
struct fakedev *fakedev_start(const struct fakedev_opts *o);
const char *fakedev_path(const struct fakedev *f);
/* RW packets the guest sent beyond our advertised credit. */
uint64_t fakedev_violations(const struct fakedev *f);
/* vhost-user connections served so far. */
int fakedev_sessions(const struct fakedev *f);
void fakedev_stop(struct fakedev *f);

#endif
