/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the host side of hybrid vsock, "CONNECT <port>\n" and
 * what follows, through the real device (lib/vsock, lib/uds).
 *
 * Up to 3 host programs connect to the VM's listener (an abstract socket)
 * and write the bytes the input gives them, in pieces of 1 to 16 bytes
 * with device rounds in between, so a line arrives byte by byte, across
 * reads, or together with the stream data behind it. The fake guest (the
 * unit tests') answers each REQUEST with RESPONSE or RST as the input
 * says and reads what comes. Time passes, so lines that never end time
 * out; with 3 programs and room for 2 waiting lines, one may be pushed out.
 *
 * Checked against a reference reading of the line written here from the
 * documented rules (keyword CONNECT in any case, spaces or tabs around
 * words, a decimal port up to 4294967295, an optional CR, at most 64
 * bytes with the newline): the device asks the guest for that port and
 * for no other; a program gets "OK <port>\n" only for a good line the
 * guest accepted, with the host port of the REQUEST; the guest then
 * receives exactly the bytes the program wrote after its line; a bad line
 * (a newline within 64 bytes, or 64 bytes without one) is closed without
 * an answer.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <rte_log.h>

#include <vv_vsock.h>

#include "fuzz_common.h"
#include "fuzz_guest.h"

#define CID	 3u
#define QSIZE	 16u
#define CLIENTS	 3u
#define BYTES	 160u
#define LINE_LEN_MAX 64u

struct client {
	int fd;
	uint8_t bytes[BYTES]; /* what it writes */
	uint32_t n, sent;
	int line_len; /* reference: > 0 good line of that length, 0 not yet known, < 0 bad */
	uint32_t port;
	char answer[32]; /* what it read back */
	uint32_t answer_len;
	bool eof;
	uint32_t hport; /* from the OK line */
};

static struct client cl[CLIENTS];
static struct vv_vsock *vs;
static struct vg *g;
static uint64_t now;

/* Requests the guest saw, in order: which port, which host port, its answer. */
static struct {
	uint32_t port, hport;
	bool accepted;
	uint8_t got[BYTES];
	uint32_t n_got;
} req[16];
static unsigned int n_req;

static bool
blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* The documented line, read independently of lib/uds. */
static int
ref_line(const uint8_t *b, uint32_t n, uint32_t *port)
{
	uint32_t i = 0, end, lim = n < LINE_LEN_MAX ? n : LINE_LEN_MAX;
	uint64_t v = 0;
	static const char kw[] = "connect";

	for (end = 0; end < lim && b[end] != '\n'; end++)
		;
	if (end == lim)
		return n >= LINE_LEN_MAX ? -1 : 0;
	lim = end; /* the newline is at end */
	if (lim > 0 && b[lim - 1] == '\r')
		lim--;
	while (i < lim && blank(b[i]))
		i++;
	for (unsigned int k = 0; k < 7; k++, i++)
		if (i >= lim || (b[i] | 0x20) != kw[k])
			return -1;
	if (i >= lim || !blank(b[i]))
		return -1;
	while (i < lim && blank(b[i]))
		i++;
	if (i >= lim || b[i] < '0' || b[i] > '9')
		return -1;
	while (i < lim && b[i] >= '0' && b[i] <= '9') {
		v = v * 10 + (uint64_t) (b[i++] - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	while (i < lim && blank(b[i]))
		i++;
	if (i != lim)
		return -1;
	*port = (uint32_t) v;
	return (int) end + 1;
}

static void
guest_recv(struct in *in)
{
	struct vg_pkt pk;

	while (vg_recv(g, &pk)) {
		struct virtio_vsock_hdr h;
		unsigned int r;

		vg_post_rx_n(g, 1, 4096); /* give the buffer back at once */
		if (pk.used_len == 0)
			continue;
		check(pk.has_hdr && pk.hdr.src_cid == VG_HOST_CID && pk.hdr.dst_cid == CID);
		for (r = 0; r < n_req; r++)
			if (req[r].hport == pk.hdr.src_port)
				break;
		switch (pk.hdr.op) {
		case VIRTIO_VSOCK_OP_REQUEST:
			check(r == n_req && n_req < 16);
			req[n_req].port = pk.hdr.dst_port;
			req[n_req].hport = pk.hdr.src_port;
			req[n_req].accepted = take(in, 1) % 4 != 0;
			vg_hdr_init(&h, g,
				    req[n_req].accepted ? VIRTIO_VSOCK_OP_RESPONSE
							: VIRTIO_VSOCK_OP_RST,
				    pk.hdr.dst_port, pk.hdr.src_port);
			vg_send(g, &h, NULL);
			n_req++;
			break;
		case VIRTIO_VSOCK_OP_RW:
			check(r < n_req && req[r].accepted);
			check(req[r].n_got + pk.hdr.len <= BYTES);
			memcpy(req[r].got + req[r].n_got, pk.data, pk.hdr.len);
			req[r].n_got += pk.hdr.len;
			break;
		default: break;
		}
	}
}

static void
rounds(struct in *in, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		vv_vsock_poll(vs, now, true);
		now += 1000;
		guest_recv(in);
	}
}

static void
client_read(struct client *c)
{
	char b[64];
	ssize_t r;

	if (c->fd < 0 || c->eof)
		return;
	while ((r = recv(c->fd, b, sizeof(b), MSG_DONTWAIT)) > 0) {
		/* The answer is one line; nothing else comes from the guest. */
		check(c->answer_len + (uint32_t) r < sizeof(c->answer));
		memcpy(c->answer + c->answer_len, b, (size_t) r);
		c->answer_len += (uint32_t) r;
	}
	if (r == 0 || (r < 0 && errno != EAGAIN))
		c->eof = true;
}

static void
final_checks(void)
{
	for (unsigned int i = 0; i < CLIENTS; i++) {
		struct client *c = &cl[i];
		uint32_t port = 0;

		if (c->fd < 0)
			continue;
		c->line_len = ref_line(c->bytes, c->sent, &port);
		c->port = port;
		if (getenv("FUZZ_TRACE") != NULL)
			fprintf(stderr, "client %u: sent %u, line %d port %u, answer %.*s, eof %d\n", i,
				c->sent, c->line_len, port, (int) c->answer_len, c->answer, c->eof);
		if (c->answer_len > 0) {
			unsigned int r;

			/* Only a good line the guest accepted is answered. */
			check(c->line_len > 0);
			check(c->answer_len > 4 && c->answer[c->answer_len - 1] == '\n');
			c->answer[c->answer_len] = '\0';
			check(sscanf(c->answer, "OK %u\n", &c->hport) == 1);
			for (r = 0; r < n_req; r++)
				if (req[r].hport == c->hport)
					break;
			check(r < n_req && req[r].accepted && req[r].port == port);
			/* What came after the line, all of it, nothing else. */
			check(req[r].n_got == c->sent - (uint32_t) c->line_len);
			check(memcmp(req[r].got, c->bytes + c->line_len, req[r].n_got) == 0);
		}
		/* Bad, or still not whole after the line timeout: closed. */
		if (c->line_len <= 0)
			check(c->eof && c->answer_len == 0);
	}
	/* The guest was asked only for ports some good line named. */
	for (unsigned int r = 0; r < n_req; r++) {
		bool named = false;

		for (unsigned int i = 0; i < CLIENTS; i++)
			named |= cl[i].fd >= 0 && cl[i].line_len > 0 && cl[i].port == req[r].port;
		check(named);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	rte_log_set_level_pattern("vv.*", RTE_LOG_CRIT);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vv_vsock_params p = { 0 };
	char name[64];
	socklen_t sl;
	unsigned int n_cl = 1 + (unsigned int) take(&in, 1) % CLIENTS;
	int lfd;

	snprintf(name, sizeof(name), "vv-fuzz-line-%d", (int) getpid());
	memcpy(sa.sun_path + 1, name, strlen(name));
	sl = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	memset(cl, 0, sizeof(cl));
	memset(req, 0, sizeof(req));
	n_req = 0;
	now = 1000000000ull;
	for (unsigned int i = 0; i < CLIENTS; i++) {
		cl[i].fd = -1;
		if (i < n_cl) {
			cl[i].n = (uint32_t) take(&in, 1) % (BYTES + 1);
			for (uint32_t k = 0; k < cl[i].n; k++)
				cl[i].bytes[k] = (uint8_t) take(&in, 1);
		}
	}
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sl) != 0 || listen(lfd, 8) != 0)
		abort();
	g = guest_fresh(CID, QSIZE, 0, 0);
	p.guest_cid = CID;
	p.uds_path = "/nonexistent/fuzz";
	p.buf_alloc = 65536;
	p.max_conns = 8;
	p.max_pending = 2;
	p.listen_fd = lfd;
	p.seq_listen_fd = -1;
	vs = vv_vsock_create(&p);
	check(vs != NULL);
	check(vv_vsock_attach(vs, 0, vg_mem(g), vg_rxq(g), vg_txq(g)) == 0);
	vg_post_rx_n(g, 8, 4096);

	for (unsigned int i = 0; i < n_cl; i++) {
		cl[i].fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		check(cl[i].fd >= 0 && connect(cl[i].fd, (struct sockaddr *) &sa, sl) == 0);
		if (take(&in, 1) & 1)
			rounds(&in, 1); /* accepted before the next one comes */
	}
	/* Pieces of 1 to 16 bytes, each program in turn, device rounds between. */
	for (bool more = true; more;) {
		more = false;
		for (unsigned int i = 0; i < n_cl; i++) {
			struct client *c = &cl[i];
			uint32_t k = 1 + (uint32_t) take(&in, 1) % 16;
			ssize_t r;

			if (c->sent == c->n || c->eof)
				continue;
			if (k > c->n - c->sent)
				k = c->n - c->sent;
			r = send(c->fd, c->bytes + c->sent, k, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (r > 0)
				c->sent += (uint32_t) r;
			else
				c->eof = true; /* closed on us: what was sent stands */
			more |= c->sent < c->n && !c->eof;
			rounds(&in, 1 + (unsigned int) take(&in, 1) % 2);
			client_read(c);
		}
	}
	/* Let everything settle, then past the line timeout. */
	rounds(&in, 8);
	for (unsigned int i = 0; i < n_cl; i++)
		client_read(&cl[i]);
	now += VV_VSOCK_TIMEOUT_NS + 100000000ull;
	rounds(&in, 4);
	for (unsigned int i = 0; i < n_cl; i++)
		client_read(&cl[i]);
	final_checks();

	vv_vsock_detach(vs, NULL, NULL);
	vv_vsock_free(vs);
	for (unsigned int i = 0; i < n_cl; i++)
		close(cl[i].fd);
	return 0;
}
