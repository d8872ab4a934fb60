/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the vsock packet path of one VM (lib/vsock), driven by
 * a sequence of operations the input spells out, over the fake guest of
 * the unit tests (tests/unit/vsock/vsock_guest.c) and a faked host side.
 *
 * The guest sends any packet (every op and type, spoofed CIDs, lying
 * lengths, headers cut anywhere across descriptors, any credit, to a few
 * ports so that streams meet), posts rx buffers of any size, reads what
 * the device wrote. The host side is real sockets without a file system:
 * vv_uds_connect_port is wrapped (-Wl,--wrap) to hand the device one end
 * of a socketpair, or a refusal, EINPROGRESS or EAGAIN, as the input says
 * for that port; host programs read, write, half-close and close those
 * ends, or connect to the listener (an abstract socket) with a CONNECT
 * line. Time moves as the input says, so connect, line and shutdown
 * timeouts fire. The device may be paused and resumed (memory remap),
 * have a queue disabled, or shut down (quiesce).
 *
 * What must hold (abort() otherwise), besides everything ASan and UBSan
 * check: every packet the device writes fits the buffer, has a whole
 * header, comes from CID 2 to the guest's CID, is a stream packet with a
 * known op, a length that matches and payload only in RW; bytes reach each
 * side in order and unchanged (each stream carries a pattern keyed by its
 * port and offset; a reset may cut it, nothing may reorder, repeat or
 * corrupt it); the device holds at most tx_buffer_size per connection;
 * and no fd outlives the device.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <rte_log.h>

#include <vv_vsock.h>

#include "fuzz_common.h"
#include "fuzz_guest.h"

#define CID	   3u
#define QSIZE	   16u
#define NPAIRS	   12u
#define NAPPS	   48u
#define NPORTS	   8u /* host ports 5000..5007 */
#define HPORT0	   5000u
#define MAX_OPS	   160u
#define RX_BYTES   (48u * 1024) /* rx buffers outstanding at most (the zone is 96 KiB) */
#define BUF_ALLOC  8192u	/* the device's tx_buffer_size: small, so stalls come soon */
#define MAX_CONNS  6u
#define MAX_LINES  3u
#define HOST_PORT0 VV_VSOCK_HOST_PORT_BASE



/* Stream bytes: byte k of a stream keyed by key, one pattern per direction.
 * A stream's key is its host port, or the guest port for host-initiated
 * streams (their host port is the device's to choose). */
static uint8_t
pat(bool g2h, uint32_t key, uint64_t k)
{
	return (uint8_t) (k * (g2h ? 131 : 71) + (k >> 8) * 7 + key * 29 + (g2h ? 1 : 5));
}

static uint32_t
key_of(uint32_t gport, uint32_t hport)
{
	return hport >= HOST_PORT0 ? gport : hport;
}

/* A (guest port, host port) the guest talks on. */
struct pair {
	uint32_t gport, hport;
	uint16_t type;  /* VIRTIO_VSOCK_TYPE_STREAM or _SEQPACKET */
	uint64_t g_off; /* g2h bytes the guest sent in this incarnation */
	uint64_t h_off; /* h2g bytes the guest received in this incarnation */
};

/* A host program's end of one stream. */
struct app {
	int fd;
	uint32_t key;
	bool host_init, line_done, eof;
	uint64_t got, sent;
};

static struct {
	struct vg *g;
	struct vv_vsock *vs;
	uint64_t now;
	struct pair pairs[NPAIRS];
	unsigned int n_pairs;
	struct app apps[NAPPS];
	unsigned int n_apps;
	uint8_t port_mode[NPORTS]; /* 0 refused, 1 connected, 2 in progress, 3 EAGAIN */
	uint32_t rx_size[QSIZE];   /* bytes of each posted rx chain, by head */
	uint8_t rx_ndesc[QSIZE];   /* and its descriptors */
	uint32_t rx_bytes, rx_count, rx_descs;
	uint16_t tx_posted, tx_retired; /* packets posted, and those the device gave back */
	uint8_t tx_ndesc[QSIZE];	/* descriptors of each outstanding packet, in order */
	uint32_t tx_descs;
	char listen_name[64];
	uint64_t features; /* VIRTIO_VSOCK_F_SEQPACKET negotiated, or not */
} F;

static struct app *
app_add(int fd, uint32_t key, bool host_init)
{
	struct app *a;

	if (F.n_apps == NAPPS) {
		close(fd);
		return NULL;
	}
	a = &F.apps[F.n_apps++];
	memset(a, 0, sizeof(*a));
	a->fd = fd;
	a->key = key;
	a->host_init = host_init;
	a->line_done = !host_init;
	return a;
}

/* FUZZ_TRACE=1 in the environment: every operation on stderr, to read a crash. */
static bool trace;
static uint64_t room_max; /* LLVMFuzzerInitialize */
#define TRACE(...)                                    \
	do {                                          \
		if (trace)                            \
			fprintf(stderr, __VA_ARGS__); \
	} while (0)

/* --- the faked host side ------------------------------------------------ */

int __wrap_vv_uds_connect_port(const char *uds_path, uint32_t port, int type, int *fd);
int __wrap_vv_uds_connect_retry(const char *uds_path, uint32_t port, int fd);

int
__wrap_vv_uds_connect_port(const char *uds_path, uint32_t port, int type, int *fd)
{
	uint8_t mode = port - HPORT0 < NPORTS ? F.port_mode[port - HPORT0] : 0;
	int sv[2], small = 4096;

	*fd = -1;
	if (mode == 0 || F.n_apps == NAPPS)
		return -ECONNREFUSED;
	if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	/* A small socket buffer: a host app that stops reading is felt soon. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	app_add(sv[1], port, false);
	TRACE("  connect %u: app %u (mode %u)\n", port, F.n_apps - 1, mode);
	*fd = sv[0];
	return mode == 1 ? 0 : mode == 2 ? -EINPROGRESS : -EAGAIN;
}

/* The socketpair is connected from the start: a retry succeeds. */
int
__wrap_vv_uds_connect_retry(const char *uds_path, uint32_t port, int fd)
{
	return 0;
}

/* An abstract socket address: no file to create or remove. type: which
 * of the two listeners (uds_path, or uds_path.seqpacket). */
static socklen_t
listen_addr(struct sockaddr_un *sa, int type)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "%s%s", F.listen_name,
		     type == SOCK_SEQPACKET ? ".seqpacket" : "");
	return (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + (size_t) n);
}

static int
listener_new(int type)
{
	struct sockaddr_un sa;
	socklen_t sl = listen_addr(&sa, type);
	int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sl) != 0 || listen(fd, 16) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A host program connects to one of the listeners and writes a line (on
 * the SEQPACKET one, a message), good, unfinished or garbage. */
static void
host_client(struct in *in)
{
	struct sockaddr_un sa;
	uint32_t gport = 1024 + (uint32_t) take(in, 1) % 6;
	int type = take(in, 1) & 1 ? SOCK_SEQPACKET : SOCK_STREAM;
	socklen_t sl = listen_addr(&sa, type);
	char line[80];
	int fd, len;
	struct app *a;

	fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *) &sa, sl) != 0) {
		close(fd); /* no listener (quiesced) or backlog full */
		return;
	}
	a = app_add(fd, gport, true);
	if (a == NULL)
		return;
	switch (take(in, 1) % 4) {
	case 0: len = snprintf(line, sizeof(line), "CONNECT %u\n", gport); break;
	case 1: len = snprintf(line, sizeof(line), "connect  %u\r\n", gport); break;
	case 2: len = snprintf(line, sizeof(line), "CONNECT %u", gport); break; /* never ends */
	default: len = (int) (take(in, 1) % 70); memset(line, 'C', (size_t) len);
	}
	if (len > 0 && send(fd, line, (size_t) len, MSG_NOSIGNAL) != len)
		a->eof = true;
}

/* A host program acts on its end. */
static void
app_act(struct in *in)
{
	struct app *a;
	uint8_t buf[16384];
	uint32_t n;
	ssize_t r;

	if (F.n_apps == 0)
		return;
	a = &F.apps[take(in, 1) % F.n_apps];
	if (a->fd < 0)
		return;
	n = take(in, 1) % 5;
	TRACE("app %u (key %u): %s\n", (unsigned int) (a - F.apps), a->key,
	      (const char *[]){ "read", "read", "write", "shut_wr", "close" }[n]);
	switch (n) {
	case 0:
	case 1: /* read what is there, check it */
		r = recv(a->fd, buf, sizeof(buf), MSG_DONTWAIT);
		TRACE("  read %zd at %" PRIu64 "\n", r, a->got);
		if (r == 0 || (r < 0 && errno != EAGAIN))
			a->eof = true;
		for (ssize_t i = 0; i < r; i++) {
			if (!a->line_done) {
				/* "OK <port>\n" first; the device chose the port. */
				a->line_done = buf[i] == '\n';
				continue;
			}
			check(buf[i] == pat(true, a->key, a->got));
			a->got++;
		}
		break;
	case 2: /* write */
		n = 1 + take(in, 2) % sizeof(buf);
		for (uint32_t i = 0; i < n; i++)
			buf[i] = pat(false, a->key, a->sent + i);
		r = send(a->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r > 0)
			a->sent += (uint64_t) r;
		break;
	case 3: shutdown(a->fd, SHUT_WR); break;
	default:
		close(a->fd);
		a->fd = -1;
	}
}

/* --- the guest ------------------------------------------------------------ */

static struct pair *
pair_find(uint32_t gport, uint32_t hport, uint16_t type, bool add)
{
	for (unsigned int i = 0; i < F.n_pairs; i++)
		if (F.pairs[i].gport == gport && F.pairs[i].hport == hport)
			return &F.pairs[i];
	if (!add || F.n_pairs == NPAIRS)
		return NULL;
	F.pairs[F.n_pairs] = (struct pair){ .gport = gport, .hport = hport, .type = type };
	return &F.pairs[F.n_pairs++];
}

static void
guest_send(struct in *in)
{
	static const uint16_t ops[] = {
		VIRTIO_VSOCK_OP_REQUEST,	VIRTIO_VSOCK_OP_RW,	      VIRTIO_VSOCK_OP_RW,
		VIRTIO_VSOCK_OP_RW,		VIRTIO_VSOCK_OP_RESPONSE,     VIRTIO_VSOCK_OP_RST,
		VIRTIO_VSOCK_OP_SHUTDOWN,	VIRTIO_VSOCK_OP_CREDIT_UPDATE,
		VIRTIO_VSOCK_OP_CREDIT_REQUEST, VIRTIO_VSOCK_OP_INVALID,      9,
	};
	static uint8_t payload[4096];
	struct virtio_vsock_hdr h;
	uint32_t cuts[4], n_cuts, total, len = 0;
	struct pair *p;
	uint8_t how;

	/* The fake guest hands out descriptors round robin: never more
	 * outstanding than the ring has (a 5-piece packet at most). */
	while (F.tx_retired != vg_tx_used(F.g))
		F.tx_descs -= F.tx_ndesc[F.tx_retired++ % QSIZE];
	if (F.tx_descs + 5 > QSIZE || F.n_pairs == 0)
		return;
	p = &F.pairs[take(in, 1) % F.n_pairs];
	vg_hdr_init(&h, F.g, ops[take(in, 1) % (sizeof(ops) / sizeof(ops[0]))], p->gport,
		    p->hport);
	how = (uint8_t) take(in, 1);
	if (how == 0xff)
		h.src_cid = CID + 1 + take(in, 1); /* spoofed */
	if (how == 0xfe)
		h.dst_cid = CID + take(in, 1) % 8; /* not the host: another VM, itself, nobody */
	h.type = p->type;
	if (how == 0xfd)
		h.type = (uint16_t) take(in, 1);
	h.buf_alloc = (how & 3) == 0 ? take(in, 4) : (how & 3) == 1 ? 4096 : 65536;
	h.fwd_cnt = (uint32_t) p->h_off + ((how & 0x0c) == 0 ? take(in, 4) : 0);
	if (h.op == VIRTIO_VSOCK_OP_SHUTDOWN)
		h.flags = take(in, 1) & 7;
	/* SEQPACKET: where messages end (EOM) and records (EOR). */
	if (h.op == VIRTIO_VSOCK_OP_RW && p->type == VIRTIO_VSOCK_TYPE_SEQPACKET)
		h.flags = take(in, 1) & 3;
	if (h.op == VIRTIO_VSOCK_OP_REQUEST && how != 0xff && how != 0xfe)
		p->g_off = 0; /* a new incarnation, as the guest sees it */
	if (h.op == VIRTIO_VSOCK_OP_RW || how == 0xfc) {
		len = 1 + take(in, 2) % sizeof(payload);
		for (uint32_t i = 0; i < len; i++)
			payload[i] = pat(true, key_of(p->gport, p->hport), p->g_off + i);
		h.len = len;
		/* Bytes the stream carries: not those of a packet the device
		 * drops unseen (spoofed source) or sends elsewhere. */
		if (h.op == VIRTIO_VSOCK_OP_RW && how != 0xff && how != 0xfe)
			p->g_off += len;
	}
	total = VG_HDR_SIZE + len;
	TRACE("guest: op %u %u->%u len %u (g_off %" PRIu64 ") how %u buf_alloc %u fwd %u\n", h.op,
	      p->gport, p->hport, h.len, p->g_off, how, h.buf_alloc, h.fwd_cnt);
	if (how == 0xfb && len > 0)
		h.len = len + 1 + take(in, 2); /* longer than the chain */
	/* Cut the packet anywhere, header included. */
	n_cuts = take(in, 1) % 5;
	for (uint32_t i = 0, used = 0; i < n_cuts; i++) {
		cuts[i] = used >= total ? 0 : take(in, 1) % (total - used + 1);
		used += cuts[i];
	}
	{
		uint8_t *pkt = malloc(total);

		if (pkt == NULL)
			return;
		vg_hdr_encode(&h, pkt);
		memcpy(pkt + VG_HDR_SIZE, payload, len);
		vg_send_bytes(F.g, pkt, total, n_cuts ? cuts : NULL, n_cuts);
		free(pkt);
	}
	{
		uint32_t used = 0, nd = n_cuts;

		for (uint32_t i = 0; i < n_cuts; i++)
			used += cuts[i];
		nd += used < total || n_cuts == 0;
		F.tx_ndesc[F.tx_posted++ % QSIZE] = (uint8_t) nd;
		F.tx_descs += nd;
	}
}

static void
guest_post_rx(struct in *in)
{
	static const uint32_t sizes[] = { 44, 45, 100, 1024, 4096, 4096, 4140 };
	uint32_t n = 1 + take(in, 1) % 3, sz[3], total = 0;
	uint16_t head;

	if (F.rx_descs + n > QSIZE)
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t s = (uint8_t) take(in, 1);

		sz[i] = s < 200 ? sizes[s % 7] : 1 + s;
		total += sz[i];
	}
	if (F.rx_bytes + total > RX_BYTES)
		return;
	head = vg_post_rx(F.g, sz, n);
	F.rx_size[head] = total;
	F.rx_ndesc[head] = (uint8_t) n;
	F.rx_bytes += total;
	F.rx_count++;
	F.rx_descs += n;
}

/* Everything the device wrote: well formed, and stream bytes in order. */
static void
guest_recv(void)
{
	struct vg_pkt pk;

	while (vg_recv(F.g, &pk)) {
		const struct virtio_vsock_hdr *h = &pk.hdr;
		struct pair *p;

		check(pk.head < QSIZE && F.rx_count > 0);
		F.rx_bytes -= F.rx_size[pk.head];
		F.rx_count--;
		check(!pk.overrun && pk.used_len <= F.rx_size[pk.head]);
		F.rx_descs -= F.rx_ndesc[pk.head];
		if (pk.used_len == 0)
			continue; /* too small for a header: given back empty */
		check(pk.has_hdr && h->dst_cid == CID);
		check(h->op >= VIRTIO_VSOCK_OP_REQUEST && h->op <= VIRTIO_VSOCK_OP_CREDIT_REQUEST);
		check(h->len == pk.data_len);
		check(h->op == VIRTIO_VSOCK_OP_RW ? h->len > 0 : h->len == 0);
		TRACE("  device: op %u %u->%u len %u buf_alloc %u fwd %u\n", h->op, h->src_port,
		      h->dst_port, h->len, h->buf_alloc, h->fwd_cnt);
		/* An RST answering a packet that had no stream mirrors it (from
		 * the CID it was sent to, of its type); all else is ours. */
		if (h->op != VIRTIO_VSOCK_OP_RST)
			check(h->src_cid == VG_HOST_CID &&
			      (h->type == VIRTIO_VSOCK_TYPE_STREAM ||
			       (F.features && h->type == VIRTIO_VSOCK_TYPE_SEQPACKET)) &&
			      h->buf_alloc > 0 && h->buf_alloc <= BUF_ALLOC + room_max);
		p = pair_find(h->dst_port, h->src_port, h->type, h->op == VIRTIO_VSOCK_OP_REQUEST);
		if (p == NULL)
			continue;
		if (h->op == VIRTIO_VSOCK_OP_REQUEST || h->op == VIRTIO_VSOCK_OP_RESPONSE)
			p->h_off = 0; /* a new incarnation on the device's side */
		if (h->op == VIRTIO_VSOCK_OP_REQUEST)
			p->g_off = 0;
		if (h->op != VIRTIO_VSOCK_OP_RW)
			continue;
		for (uint32_t i = 0; i < h->len; i++)
			check(pk.data[i] == pat(false, key_of(p->gport, p->hport), p->h_off + i));
		p->h_off += h->len;
	}
}

/* --- the run --------------------------------------------------------------- */

static void
poll_rounds(unsigned int n)
{
	const struct vv_vsock_stats *st = vv_vsock_stats(F.vs);

	for (unsigned int i = 0; i < n; i++) {
		vv_vsock_poll(F.vs, F.now, true);
		F.now += 1000;
	}
	/* The bound: what waits for host apps is at most the window a
	 * connection was offered, tx_buffer_size plus the room its socket
	 * promised (more than tx_buffer_size only when the socket took less
	 * than that, tiny writes); the ring doubles as it grows; a SEQPACKET
	 * connection may hold a second buffer for a host message. */
	check(st->host_buffered_bytes <= st->conns_open * (BUF_ALLOC + room_max));
	check(st->host_buffer_mem_bytes <= 2 * st->conns_open * (BUF_ALLOC + room_max));
	check(st->conns_open <= MAX_CONNS);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		abort();
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The device's logs (a line per guest driver up and down) only slow it. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int sv[2], v = 0;
	socklen_t len = sizeof(v);

	trace = getenv("FUZZ_TRACE") != NULL;
	/* The most a window adds for the socket's room: 3/4 of a socket's
	 * send buffer (lib/vsock sock_room), as large as lib/vsock's
	 * sock_grow makes it for an app that reads (SO_SNDBUF 1 MiB, what
	 * net.core.wmem_max allows, doubled). */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
		int grown = 1 << 20;

		if (getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &len) == 0 && v > 0)
			room_max = (uint64_t) v / 4 * 3;
		len = sizeof(v);
		if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &grown, sizeof(grown)) == 0 &&
		    getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &len) == 0 && v > 0 &&
		    (uint64_t) v / 4 * 3 > room_max)
			room_max = (uint64_t) v / 4 * 3;
		close(sv[0]);
		close(sv[1]);
	}
	/* As the program: a host app that left gives EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
	rte_log_set_level_pattern("vv.*", trace ? RTE_LOG_DEBUG : RTE_LOG_CRIT);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t steps[] = { 1000000ull, 25000000ull, 500000000ull, 2100000000ull };
	struct in in = { data, size };
	struct vv_vsock_params prm = { 0 };
	uint16_t rx_start, tx_start;
	int lfd, sfd, fds0 = count_fds();

	memset(&F.pairs, 0, sizeof(F.pairs));
	F.n_pairs = 0;
	F.n_apps = 0;
	F.rx_bytes = F.rx_count = F.rx_descs = F.tx_descs = 0;
	F.now = 1000000000ull;
	snprintf(F.listen_name, sizeof(F.listen_name), "vv-fuzz-vsock-%d", (int) getpid());
	for (unsigned int i = 0; i < NPORTS; i++)
		F.port_mode[i] = (uint8_t) (take(&in, 1) % 4);
	rx_start = (uint16_t) (take(&in, 1) & 1 ? 0xfff8u : 0);
	F.features = take(&in, 1) & 1 ? 0 : 1ull << VIRTIO_VSOCK_F_SEQPACKET;
	tx_start = (uint16_t) (take(&in, 1) & 1 ? 0xfffau : 0);
	for (unsigned int i = 0; i < 8; i++)
		pair_find(1024 + i % 6, HPORT0 + (i * 3) % (NPORTS + 1),
			  i % 3 == 2 ? VIRTIO_VSOCK_TYPE_SEQPACKET : VIRTIO_VSOCK_TYPE_STREAM, true);
	F.g = guest_fresh(CID, QSIZE, rx_start, tx_start);
	if (F.g == NULL)
		return 0;
	F.tx_posted = F.tx_retired = tx_start;
	lfd = listener_new(SOCK_STREAM);
	sfd = listener_new(SOCK_SEQPACKET);
	prm.guest_cid = CID;
	prm.uds_path = "/nonexistent/fuzz";
	prm.buf_alloc = BUF_ALLOC;
	prm.max_conns = MAX_CONNS;
	prm.max_pending = MAX_LINES;
	prm.listen_fd = lfd;
	prm.seq_listen_fd = sfd;
	F.vs = vv_vsock_create(&prm);
	if (F.vs == NULL) {
		if (lfd >= 0)
			close(lfd);
		if (sfd >= 0)
			close(sfd);
		return 0;
	}
	check(vv_vsock_attach(F.vs, F.features, vg_mem(F.g), vg_rxq(F.g), vg_txq(F.g)) == 0);

	for (unsigned int op = 0; op < MAX_OPS && in.n > 0; op++) {
		struct vv_virtq rq, tq;

		uint8_t o = (uint8_t) (take(&in, 1) % 16);

		if (o >= 7 && o <= 9)
			TRACE("op %u\n", o);
		switch (o) {
		case 0:
		case 1:
		case 2:
		case 3: guest_send(&in); break;
		case 4:
		case 5: guest_post_rx(&in); break;
		case 6: guest_recv(); break;
		case 7:
		case 8: poll_rounds(1 + take(&in, 1) % 3); break;
		case 9: F.now += steps[take(&in, 1) % 4]; break;
		case 10:
		case 11: app_act(&in); break;
		case 12: host_client(&in); break;
		case 13: F.port_mode[take(&in, 1) % NPORTS] = (uint8_t) (take(&in, 1) % 4); break;
		case 14:
			switch (take(&in, 1) % 8) {
			case 0: /* memory remap under a running device */
				vv_vsock_pause(F.vs, &rq, &tq);
				check(vv_vsock_attach(F.vs, F.features, vg_mem(F.g), &rq, &tq) == 0);
				break;
			case 1: vv_vsock_enable_queue(F.vs, take(&in, 1) & 1, take(&in, 1) & 1); break;
			case 2: vv_vsock_quiesce(F.vs); break;
			default: break;
			}
			break;
		default:
			poll_rounds(1);
			guest_recv();
		}
	}
	poll_rounds(4);
	guest_recv();
	vv_vsock_detach(F.vs, NULL, NULL);
	vv_vsock_free(F.vs);
	for (unsigned int i = 0; i < F.n_apps; i++)
		if (F.apps[i].fd >= 0)
			close(F.apps[i].fd);
	/* Every fd of the run is closed. */
	check(count_fds() == fds0);
	return 0;
}
