/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vvguest: the guest half of the dpdk-vhost-vsock end-to-end tests.
 *
 * Built static (gcc -static) by tests/e2e/mkguest and started by the
 * initramfs /init as "vvguest agent 1000". The host test reaches the agent
 * through the backend (CONNECT 1000 on the hybrid vsock uds_path), writes
 * one command line and reads one JSON result line. Each connection is
 * served by a forked child, so a test can keep several commands running at
 * once (e.g. a send and a recv for the bidirectional case).
 *
 * Commands:
 *   send <port> <bytes> <writesize> [cid]
 *                                    connect to <cid> (default 2, the host)
 *                                    <port>, write <bytes> of the pattern
 *                                    in <writesize> writes
 *   recv <port> <bytes>              listen on <port>, accept one stream,
 *                                    verify every byte against the pattern
 *   echo <port>                      listen on <port>, accept one, echo
 *                                    until EOF
 *   connect-fail <port> [cid]        connect to <cid> (default 2) <port>
 *                                    (expected to fail), report errno, ms
 *   ping <port> <cid> <count> <size> connect to <cid> <port> (an echo),
 *                                    time <count> round trips of <size>
 *                                    bytes, report p50/p99 in microseconds
 *   cid                              local CID, boot id, uptime
 *   reboot                           reply, then reboot -f
 *
 * SEQPACKET (message i has seq_len(i) bytes; its bytes are the pattern at
 * offsets running on across messages):
 *   seq-send <port> <count> <max> [cid [over]]
 *                                    connect SOCK_SEQPACKET to <cid>
 *                                    (default 2) <port>, send the messages,
 *                                    MSG_EOR on every third; with "over",
 *                                    then one message of max + 1 bytes,
 *                                    whose errno is reported (EMSGSIZE when
 *                                    max is the peer's buffer); shut down
 *                                    sending, wait for the peer to close
 *   seq-recv <port> <count> <max> [eor]
 *                                    listen SOCK_SEQPACKET on <port>, accept
 *                                    one, check each message: its length
 *                                    (never MSG_TRUNC), its bytes, MSG_EOR
 *                                    (on every third with "eor", which only
 *                                    a guest sender sets, else never), then
 *                                    the end of the stream
 *   seq-connect-fail <port> [cid]    connect-fail with SOCK_SEQPACKET
 *
 * The same commands can be run directly for debugging:
 *   vvguest send 5000 1048576 65536   (result on stdout)
 * plus, only directly, "vvguest pattern <offset> <bytes>" which writes the
 * raw pattern to stdout so tests/e2e/run --selftest can check that its
 * Python generator matches this one.
 *
 * Stream pattern (mirrored by tests/e2e/run): the stream is a sequence of
 * little-endian 64-bit words, word w = lo(w & 0xffff) ^ hi(w >> 16) with
 * lo(x) = splitmix64(x) and hi(x) = splitmix64(x ^ PAT_HI_SALT). Splitting
 * the word index lets the Python side build a 512 KiB block with one
 * big-integer XOR instead of a Python loop per word, while any shifted,
 * dropped, duplicated or reordered 8-byte run still changes the bytes.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the pattern is defined on little-endian words"
#endif

#define PAT_HI_SALT 0xa5a5a5a5a5a5a5a5ull
#define PAT_LO_WORDS 65536u

/* A command that takes longer than this is stuck: the child dies so the
 * host sees the connection close instead of waiting forever. */
#define CMD_TIMEOUT_S 900
#define IO_BUF_SIZE (256u * 1024u)
#define MAX_WRITESIZE (16u * 1024u * 1024u)
#define LINE_MAX_LEN 256

static uint64_t pat_lo[PAT_LO_WORDS];

static uint64_t
splitmix64(uint64_t x)
{
	uint64_t z = x + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void
pat_init(void)
{
	for (uint32_t i = 0; i < PAT_LO_WORDS; i++)
		pat_lo[i] = splitmix64(i);
}

/* Fill buf with stream bytes [off, off + n). */
static void
pat_fill(uint8_t *buf, uint64_t off, size_t n)
{
	while (n > 0) {
		uint64_t w = off >> 3;
		unsigned int b = off & 7;
		uint64_t hi = splitmix64((w >> 16) ^ PAT_HI_SALT);

		if (b != 0 || n < 8) {
			/* Partial word: byte b of a little-endian word. */
			uint64_t v = pat_lo[w & 0xffff] ^ hi;
			size_t k = 8 - b < n ? 8 - b : n;

			memcpy(buf, (const uint8_t *)&v + b, k);
			buf += k;
			off += k;
			n -= k;
			continue;
		}
		/* Whole words up to the end of this hi block. */
		uint64_t block_end = ((w >> 16) + 1) << 16;
		uint64_t nw = n / 8;

		if (nw > block_end - w)
			nw = block_end - w;
		for (uint64_t i = 0; i < nw; i++) {
			uint64_t v = pat_lo[(w + i) & 0xffff] ^ hi;

			memcpy(buf + 8 * i, &v, 8);
		}
		buf += 8 * nw;
		off += 8 * nw;
		n -= 8 * nw;
	}
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double
ms_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

static const char *
errname(int e)
{
	const char *n = strerrorname_np(e);

	return n != NULL ? n : "E?";
}

static int
write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = write(fd, p, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One result line, also echoed to the console so the serial log tells
 * what the guest saw when a case fails. */
static void __attribute__((format(printf, 2, 3)))
reply(int fd, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	line[n] = '\0';
	if (fd != STDOUT_FILENO)
		fprintf(stderr, "vvguest: %s", line);
	write_all(fd, line, (size_t)n);
}

static void
reply_fail(int fd, const char *cmd, const char *what, int err)
{
	reply(fd, "{\"ok\":false,\"cmd\":\"%s\",\"error\":\"%s: %s\","
	      "\"errno\":%d,\"errname\":\"%s\"}",
	      cmd, what, strerror(err), err, errname(err));
}

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0' || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int
vs_listen_type(uint32_t port, int type)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
		.svm_port = port,
	};
	int fd = socket(AF_VSOCK, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static int
vs_listen(uint32_t port)
{
	return vs_listen_type(port, SOCK_STREAM);
}

static int
vs_accept_one_type(uint32_t port, int type)
{
	int lfd = vs_listen_type(port, type);
	int fd;

	if (lfd < 0)
		return lfd;
	fprintf(stderr, "vvguest: listening on port %" PRIu32 "\n", port);
	do {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		fd = -errno;
	close(lfd);
	return fd;
}

static int
vs_accept_one(uint32_t port)
{
	return vs_accept_one_type(port, SOCK_STREAM);
}

static int
vs_connect_type(uint32_t cid, uint32_t port, int type)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK,
		.svm_cid = cid,
		.svm_port = port,
	};
	int fd = socket(AF_VSOCK, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static int
vs_connect(uint32_t cid, uint32_t port)
{
	return vs_connect_type(cid, port, SOCK_STREAM);
}

/* Read exactly len bytes; -EPIPE on an early EOF. */
static int
read_exact(int fd, uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t r = read(fd, buf, len);

		if (r == 0)
			return -EPIPE;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Read until EOF, counting bytes (used after our side finished writing,
 * so the command ends only once the host has seen everything). */
static int64_t
drain(int fd)
{
	uint8_t buf[4096];
	int64_t total = 0;

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r == 0)
			return total;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		total += r;
	}
}

static int
cmd_send(int out, uint32_t cid, uint32_t port, uint64_t total, size_t wsize)
{
	uint8_t *buf = malloc(wsize);
	uint64_t off = 0, t0;
	int fd, rc;
	int64_t extra;
	double ms;

	if (buf == NULL) {
		reply_fail(out, "send", "malloc", ENOMEM);
		return -ENOMEM;
	}
	t0 = now_ns();
	fd = vs_connect(cid, port);
	if (fd < 0) {
		reply_fail(out, "send", "connect", -fd);
		free(buf);
		return fd;
	}
	while (off < total) {
		size_t k = total - off < wsize ? (size_t)(total - off) : wsize;

		pat_fill(buf, off, k);
		rc = write_all(fd, buf, k);
		if (rc < 0) {
			reply(out, "{\"ok\":false,\"cmd\":\"send\",\"error\":"
			      "\"write at offset %" PRIu64 ": %s\",\"errno\":%d,"
			      "\"errname\":\"%s\",\"bytes\":%" PRIu64 "}",
			      off, strerror(-rc), -rc, errname(-rc), off);
			close(fd);
			free(buf);
			return rc;
		}
		off += k;
	}
	free(buf);
	shutdown(fd, SHUT_WR);
	extra = drain(fd);
	ms = ms_since(t0);
	close(fd);
	if (extra < 0) {
		reply_fail(out, "send", "read after send", (int)-extra);
		return (int)extra;
	}
	reply(out, "{\"ok\":true,\"cmd\":\"send\",\"bytes\":%" PRIu64
	      ",\"ms\":%.1f,\"mbps\":%.2f,\"extra\":%" PRId64 "}",
	      off, ms, ms > 0 ? (double)off / 1e3 / ms : 0.0, extra);
	return 0;
}

static int
cmd_recv(int out, uint32_t port, uint64_t expect)
{
	uint8_t *buf = malloc(IO_BUF_SIZE);
	uint8_t *ref = malloc(IO_BUF_SIZE);
	uint64_t off = 0, t0 = 0;
	int fd;

	if (buf == NULL || ref == NULL) {
		reply_fail(out, "recv", "malloc", ENOMEM);
		free(buf);
		free(ref);
		return -ENOMEM;
	}
	fd = vs_accept_one(port);
	if (fd < 0) {
		reply_fail(out, "recv", "listen/accept", -fd);
		free(buf);
		free(ref);
		return fd;
	}
	t0 = now_ns();
	for (;;) {
		ssize_t r = read(fd, buf, IO_BUF_SIZE);

		if (r == 0)
			break;
		if (r < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			reply(out, "{\"ok\":false,\"cmd\":\"recv\",\"error\":"
			      "\"read at offset %" PRIu64 ": %s\",\"errno\":%d,"
			      "\"errname\":\"%s\",\"bytes\":%" PRIu64 "}",
			      off, strerror(e), e, errname(e), off);
			goto out;
		}
		pat_fill(ref, off, (size_t)r);
		if (memcmp(buf, ref, (size_t)r) != 0) {
			size_t i = 0;

			while (buf[i] == ref[i])
				i++;
			reply(out, "{\"ok\":false,\"cmd\":\"recv\",\"error\":"
			      "\"pattern mismatch at offset %" PRIu64
			      ": got 0x%02x want 0x%02x\",\"bytes\":%" PRIu64
			      ",\"bad_offset\":%" PRIu64 "}",
			      off + i, buf[i], ref[i], off + (uint64_t)r,
			      off + i);
			goto out;
		}
		off += (uint64_t)r;
	}
	{
		double ms = ms_since(t0);

		reply(out, "{\"ok\":%s,\"cmd\":\"recv\",\"bytes\":%" PRIu64
		      ",\"expected\":%" PRIu64 ",\"ms\":%.1f,\"mbps\":%.2f%s}",
		      off == expect ? "true" : "false", off, expect, ms,
		      ms > 0 ? (double)off / 1e3 / ms : 0.0,
		      off == expect ? "" : ",\"error\":\"byte count differs\"");
	}
out:
	close(fd);
	free(buf);
	free(ref);
	return 0;
}

static int
cmd_echo(int out, uint32_t port)
{
	uint8_t buf[65536];
	uint64_t total = 0;
	int fd = vs_accept_one(port);

	if (fd < 0) {
		reply_fail(out, "echo", "listen/accept", -fd);
		return fd;
	}
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		int rc;

		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			reply_fail(out, "echo", "read", errno);
			close(fd);
			return -1;
		}
		rc = write_all(fd, buf, (size_t)r);
		if (rc < 0) {
			reply_fail(out, "echo", "write", -rc);
			close(fd);
			return rc;
		}
		total += (uint64_t)r;
	}
	close(fd);
	reply(out, "{\"ok\":true,\"cmd\":\"echo\",\"bytes\":%" PRIu64 "}",
	      total);
	return 0;
}

static int
cmd_connect_fail(int out, uint32_t cid, uint32_t port, int type)
{
	const char *cmd = type == SOCK_STREAM ? "connect-fail" : "seq-connect-fail";
	uint64_t t0 = now_ns();
	int fd = vs_connect_type(cid, port, type);
	double ms = ms_since(t0);

	if (fd >= 0) {
		close(fd);
		reply(out, "{\"ok\":true,\"cmd\":\"%s\","
		      "\"connected\":true,\"errno\":0,\"errname\":\"\","
		      "\"ms\":%.1f}", cmd, ms);
		return 0;
	}
	reply(out, "{\"ok\":true,\"cmd\":\"%s\",\"connected\":false,"
	      "\"errno\":%d,\"errname\":\"%s\",\"ms\":%.1f}",
	      cmd, -fd, errname(-fd), ms);
	return 0;
}

/*
 * The SEQPACKET message sizes, mirrored by tests/e2e/run (seq_lengths):
 * a few small ones, then each power of two from 512 up to max with its
 * neighbours, max itself, then `count` sizes in [1, max] from a xorshift64
 * sequence. Returns how many were written to len (at most cap).
 */
static unsigned int
seq_lengths(size_t *len, unsigned int cap, uint64_t count, size_t max)
{
	static const size_t small[] = { 1, 2, 3, 7, 43, 44, 45, 100, 1000 };
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned int n = 0;

	for (unsigned int i = 0; i < sizeof(small) / sizeof(small[0]) && n < cap; i++)
		if (small[i] <= max)
			len[n++] = small[i];
	for (size_t p = 512; p <= max; p *= 2)
		for (size_t q = p - 1; q <= p + 1 && n < cap; q++)
			if (q <= max)
				len[n++] = q;
	if (n > 0 && n < cap && len[n - 1] != max)
		len[n++] = max;
	for (uint64_t i = 0; i < count && n < cap; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len[n++] = 1 + (size_t)(x % max);
	}
	return n;
}

#define SEQ_MSGS_MAX 4096u
#define SEQ_MAX (4u << 20)

static int
cmd_seq_send(int out, uint32_t cid, uint32_t port, uint64_t count, size_t max, bool over)
{
	size_t *len = calloc(SEQ_MSGS_MAX, sizeof(*len));
	uint8_t *buf = malloc(max + 1);
	unsigned int n, i;
	uint64_t off = 0, t0 = now_ns();
	int fd = -1, over_err = 0, rc = 0;
	int64_t extra;

	if (len == NULL || buf == NULL) {
		reply_fail(out, "seq-send", "malloc", ENOMEM);
		rc = -ENOMEM;
		goto out;
	}
	n = seq_lengths(len, SEQ_MSGS_MAX, count, max);
	fd = vs_connect_type(cid, port, SOCK_SEQPACKET);
	if (fd < 0) {
		reply_fail(out, "seq-send", "connect", -fd);
		rc = fd;
		goto out;
	}
	for (i = 0; i < n; i++) {
		ssize_t r;

		pat_fill(buf, off, len[i]);
		do
			r = send(fd, buf, len[i], i % 3 == 0 ? MSG_EOR : 0);
		while (r < 0 && errno == EINTR);
		if (r != (ssize_t)len[i]) {
			int e = r < 0 ? errno : EIO;

			reply(out, "{\"ok\":false,\"cmd\":\"seq-send\",\"error\":"
			      "\"message %u of %zu bytes: %s\",\"errno\":%d,"
			      "\"errname\":\"%s\",\"messages\":%u}",
			      i, len[i], r < 0 ? strerror(e) : "short send", e, errname(e), i);
			rc = -e;
			goto out;
		}
		off += len[i];
	}
	if (over) {
		/* One byte over the largest: the peer's buffer, so Linux says
		 * EMSGSIZE and sends nothing of it. */
		pat_fill(buf, off, max + 1);
		if (send(fd, buf, max + 1, 0) < 0)
			over_err = errno;
	}
	shutdown(fd, SHUT_WR);
	extra = drain(fd);
	{
		double ms = ms_since(t0);

		reply(out, "{\"ok\":true,\"cmd\":\"seq-send\",\"messages\":%u,"
		      "\"bytes\":%" PRIu64 ",\"ms\":%.1f,\"mbps\":%.2f,\"extra\":%" PRId64
		      ",\"over_errno\":%d,\"over_errname\":\"%s\"}",
		      n, off, ms, ms > 0 ? (double)off / 1e3 / ms : 0.0, extra, over_err,
		      over_err ? errname(over_err) : "");
	}
out:
	if (fd >= 0)
		close(fd);
	free(len);
	free(buf);
	return rc;
}

static int
cmd_seq_recv(int out, uint32_t port, uint64_t count, size_t max, bool want_eor)
{
	size_t *len = calloc(SEQ_MSGS_MAX, sizeof(*len));
	uint8_t *buf = malloc(max + 1), *ref = malloc(max + 1);
	unsigned int n, i;
	uint64_t off = 0, t0 = 0;
	int fd = -1, rc = 0, mflags = 0;
	const char *why = NULL;
	ssize_t r = 0;

	if (len == NULL || buf == NULL || ref == NULL) {
		reply_fail(out, "seq-recv", "malloc", ENOMEM);
		rc = -ENOMEM;
		goto out;
	}
	n = seq_lengths(len, SEQ_MSGS_MAX, count, max);
	fd = vs_accept_one_type(port, SOCK_SEQPACKET);
	if (fd < 0) {
		reply_fail(out, "seq-recv", "listen/accept", -fd);
		rc = fd;
		goto out;
	}
	t0 = now_ns();
	for (i = 0; i <= n; i++) {
		struct iovec iov = { buf, max + 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

		do
			r = recvmsg(fd, &m, 0);
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			reply(out, "{\"ok\":false,\"cmd\":\"seq-recv\",\"error\":"
			      "\"message %u: %s\",\"errno\":%d,\"errname\":\"%s\","
			      "\"messages\":%u}",
			      i, strerror(errno), errno, errname(errno), i);
			rc = -errno;
			goto out;
		}
		mflags = m.msg_flags;
		if (i == n) {
			if (r != 0)
				why = "a message past the last one";
			break;
		}
		if (r == 0)
			why = "end of stream";
		else if ((size_t)r != len[i] || (m.msg_flags & MSG_TRUNC))
			why = "length differs: a boundary moved";
		else if (!(m.msg_flags & MSG_EOR) != !(want_eor && i % 3 == 0))
			why = m.msg_flags & MSG_EOR ? "MSG_EOR where none was sent"
						    : "MSG_EOR lost";
		if (why == NULL) {
			pat_fill(ref, off, len[i]);
			if (memcmp(buf, ref, len[i]) != 0)
				why = "bytes differ";
		}
		if (why != NULL)
			break;
		off += len[i];
	}
	if (why != NULL) {
		reply(out, "{\"ok\":false,\"cmd\":\"seq-recv\",\"error\":\"message %u "
		      "(%zu bytes sent, %zd came, flags 0x%x): %s\",\"messages\":%u}",
		      i, i < n ? len[i] : 0, r, (unsigned int)mflags, why, i);
		goto out;
	}
	{
		double ms = ms_since(t0);

		reply(out, "{\"ok\":true,\"cmd\":\"seq-recv\",\"messages\":%u,"
		      "\"bytes\":%" PRIu64 ",\"ms\":%.1f,\"mbps\":%.2f}",
		      n, off, ms, ms > 0 ? (double)off / 1e3 / ms : 0.0);
	}
out:
	if (fd >= 0)
		close(fd);
	free(len);
	free(buf);
	free(ref);
	return rc;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Round trips against an echo server (another guest, for VM-to-VM). */
static int
cmd_ping(int out, uint32_t port, uint32_t cid, uint64_t count, size_t size)
{
	uint64_t *lat = calloc(count, sizeof(*lat));
	uint8_t *buf = malloc(size), *back = malloc(size);
	uint64_t i;
	int fd, rc = 0;

	if (lat == NULL || buf == NULL || back == NULL) {
		reply_fail(out, "ping", "malloc", ENOMEM);
		rc = -ENOMEM;
		goto out;
	}
	fd = vs_connect(cid, port);
	if (fd < 0) {
		reply_fail(out, "ping", "connect", -fd);
		rc = fd;
		goto out;
	}
	for (i = 0; i < count; i++) {
		uint64_t t0 = now_ns();

		pat_fill(buf, i * size, size);
		rc = write_all(fd, buf, size);
		if (rc == 0)
			rc = read_exact(fd, back, size);
		if (rc == 0 && memcmp(buf, back, size) != 0)
			rc = -EBADMSG;
		if (rc < 0) {
			reply(out, "{\"ok\":false,\"cmd\":\"ping\",\"error\":"
			      "\"round trip %" PRIu64 ": %s\"}", i, strerror(-rc));
			close(fd);
			goto out;
		}
		lat[i] = now_ns() - t0;
	}
	close(fd);
	qsort(lat, count, sizeof(*lat), cmp_u64);
	reply(out, "{\"ok\":true,\"cmd\":\"ping\",\"count\":%" PRIu64
	      ",\"p50_us\":%.1f,\"p99_us\":%.1f}", count,
	      (double)lat[count / 2] / 1e3, (double)lat[count * 99 / 100] / 1e3);
out:
	free(lat);
	free(buf);
	free(back);
	return rc;
}

static int
cmd_pattern(uint64_t off, uint64_t n)
{
	uint8_t buf[65536];

	while (n > 0) {
		size_t k = n < sizeof(buf) ? (size_t)n : sizeof(buf);

		pat_fill(buf, off, k);
		if (write_all(STDOUT_FILENO, buf, k) < 0)
			return 1;
		off += k;
		n -= k;
	}
	return 0;
}

static void
read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r = -1;

	buf[0] = '\0';
	if (fd < 0)
		return;
	r = read(fd, buf, len - 1);
	close(fd);
	if (r < 0)
		r = 0;
	buf[r] = '\0';
	/* First token only: the files end in a newline. */
	buf[strcspn(buf, " \n")] = '\0';
}

static int
cmd_cid(int out)
{
	char boot_id[64], uptime[32];
	unsigned int cid = 0;
	int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		reply_fail(out, "cid", "open /dev/vsock", errno);
		return -1;
	}
	if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0) {
		reply_fail(out, "cid", "IOCTL_VM_SOCKETS_GET_LOCAL_CID", errno);
		close(fd);
		return -1;
	}
	close(fd);
	read_small("/proc/sys/kernel/random/boot_id", boot_id, sizeof(boot_id));
	read_small("/proc/uptime", uptime, sizeof(uptime));
	reply(out, "{\"ok\":true,\"cmd\":\"cid\",\"cid\":%u,"
	      "\"boot_id\":\"%s\",\"uptime\":\"%s\"}", cid, boot_id, uptime);
	return 0;
}

static int
cmd_reboot(int out)
{
	struct pollfd pfd = { .fd = out, .events = POLLIN };

	reply(out, "{\"ok\":true,\"cmd\":\"reboot\"}");
	/* Give the reply time to leave the guest: wait for the host to close
	 * (it does so once it has read the line), at most 3 s. */
	if (out != STDOUT_FILENO)
		poll(&pfd, 1, 3000);
	sync();
	fprintf(stderr, "vvguest: rebooting\n");
	reboot(RB_AUTOBOOT);
	return -errno;
}

/* Split line into at most max words; returns the count. */
static int
split_words(char *line, char **argv, int max)
{
	int n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " \t\r\n", &save); t != NULL && n < max;
	     t = strtok_r(NULL, " \t\r\n", &save))
		argv[n++] = t;
	return n;
}

static int
dispatch(int out, int argc, char **argv)
{
	uint64_t port = 0, bytes = 0, wsize = 0, cid = VMADDR_CID_HOST, count = 0;
	const char *cmd = argc > 0 ? argv[0] : "";

	if (argc >= 2 && parse_u64(argv[1], UINT32_MAX, &port) < 0) {
		reply_fail(out, cmd, "bad port", EINVAL);
		return -EINVAL;
	}
	if (strcmp(cmd, "send") == 0 && (argc == 4 || argc == 5)) {
		if (parse_u64(argv[2], UINT64_MAX / 2, &bytes) < 0 ||
		    parse_u64(argv[3], MAX_WRITESIZE, &wsize) < 0 || wsize == 0 ||
		    (argc == 5 && parse_u64(argv[4], UINT32_MAX, &cid) < 0)) {
			reply_fail(out, cmd, "bad bytes/writesize/cid", EINVAL);
			return -EINVAL;
		}
		return cmd_send(out, (uint32_t)cid, (uint32_t)port, bytes, (size_t)wsize);
	}
	if (strcmp(cmd, "ping") == 0 && argc == 5) {
		if (parse_u64(argv[2], UINT32_MAX, &cid) < 0 ||
		    parse_u64(argv[3], 10000000, &count) < 0 || count == 0 ||
		    parse_u64(argv[4], MAX_WRITESIZE, &wsize) < 0 || wsize == 0) {
			reply_fail(out, cmd, "bad cid/count/size", EINVAL);
			return -EINVAL;
		}
		return cmd_ping(out, (uint32_t)port, (uint32_t)cid, count, (size_t)wsize);
	}
	if (strcmp(cmd, "recv") == 0 && argc == 3) {
		if (parse_u64(argv[2], UINT64_MAX / 2, &bytes) < 0) {
			reply_fail(out, cmd, "bad bytes", EINVAL);
			return -EINVAL;
		}
		return cmd_recv(out, (uint32_t)port, bytes);
	}
	if (strcmp(cmd, "echo") == 0 && argc == 2)
		return cmd_echo(out, (uint32_t)port);
	if ((strcmp(cmd, "connect-fail") == 0 || strcmp(cmd, "seq-connect-fail") == 0) &&
	    (argc == 2 || argc == 3)) {
		if (argc == 3 && parse_u64(argv[2], UINT32_MAX, &cid) < 0) {
			reply_fail(out, cmd, "bad cid", EINVAL);
			return -EINVAL;
		}
		return cmd_connect_fail(out, (uint32_t)cid, (uint32_t)port,
					cmd[0] == 's' ? SOCK_SEQPACKET : SOCK_STREAM);
	}
	if ((strcmp(cmd, "seq-send") == 0 && argc >= 4 && argc <= 6) ||
	    (strcmp(cmd, "seq-recv") == 0 && (argc == 4 || argc == 5))) {
		bool send = cmd[4] == 's', flag = false;

		if (parse_u64(argv[2], SEQ_MSGS_MAX, &count) < 0 ||
		    parse_u64(argv[3], SEQ_MAX, &wsize) < 0 || wsize == 0 ||
		    (send && argc >= 5 && parse_u64(argv[4], UINT32_MAX, &cid) < 0)) {
			reply_fail(out, cmd, "bad count/max/cid", EINVAL);
			return -EINVAL;
		}
		if (send && argc == 6)
			flag = strcmp(argv[5], "over") == 0;
		if (!send && argc == 5)
			flag = strcmp(argv[4], "eor") == 0;
		if (argc == (send ? 6 : 5) && !flag) {
			reply_fail(out, cmd, "bad last word (over / eor)", EINVAL);
			return -EINVAL;
		}
		if (send)
			return cmd_seq_send(out, (uint32_t)cid, (uint32_t)port, count,
					    (size_t)wsize, flag);
		return cmd_seq_recv(out, (uint32_t)port, count, (size_t)wsize, flag);
	}
	if (strcmp(cmd, "cid") == 0 && argc == 1)
		return cmd_cid(out);
	if (strcmp(cmd, "reboot") == 0 && argc == 1)
		return cmd_reboot(out);
	/* The command text is not echoed: it could break the JSON line. */
	reply(out, "{\"ok\":false,\"cmd\":\"?\",\"error\":\"unknown command "
	      "or wrong argument count\"}");
	return -EINVAL;
}

/* Read one command line byte by byte: nothing after the newline may be
 * consumed, though the host sends nothing more anyway. */
static int
read_line(int fd, char *line, size_t max)
{
	size_t n = 0;

	while (n + 1 < max) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EPIPE;
		if (c == '\n')
			break;
		line[n++] = c;
	}
	line[n] = '\0';
	return (int)n;
}

static void
serve(int fd)
{
	char line[LINE_MAX_LEN];
	char *argv[8];
	int argc;

	alarm(CMD_TIMEOUT_S);
	if (read_line(fd, line, sizeof(line)) < 0)
		_exit(1);
	fprintf(stderr, "vvguest: command: %s\n", line);
	argc = split_words(line, argv, 8);
	dispatch(fd, argc, argv);
	close(fd);
	_exit(0);
}

static int
agent(uint32_t port)
{
	int lfd = vs_listen(port);

	if (lfd < 0) {
		fprintf(stderr, "vvguest: agent cannot listen on vsock port %"
			PRIu32 ": %s\n", port, strerror(-lfd));
		return 1;
	}
	/* Children are never waited for: let the kernel reap them. */
	signal(SIGCHLD, SIG_IGN);
	fprintf(stderr, "vvguest: agent listening on vsock port %" PRIu32 "\n",
		port);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pid_t pid;

		if (fd < 0) {
			if (errno != EINTR) {
				fprintf(stderr, "vvguest: accept: %s\n",
					strerror(errno));
				sleep(1);
			}
			continue;
		}
		pid = fork();
		if (pid == 0) {
			close(lfd);
			serve(fd);
		}
		if (pid < 0)
			fprintf(stderr, "vvguest: fork: %s\n", strerror(errno));
		close(fd);
	}
}

int
main(int argc, char **argv)
{
	uint64_t port;

	/* A peer that vanishes must give EPIPE, not kill the child. */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stderr, NULL, _IOLBF, 0);
	pat_init();
	if (argc == 3 && strcmp(argv[1], "agent") == 0) {
		if (parse_u64(argv[2], UINT32_MAX, &port) < 0) {
			fprintf(stderr, "vvguest: bad port %s\n", argv[2]);
			return 2;
		}
		return agent((uint32_t)port);
	}
	if (argc == 4 && strcmp(argv[1], "pattern") == 0) {
		uint64_t off, n;

		if (parse_u64(argv[2], UINT64_MAX / 2, &off) < 0 ||
		    parse_u64(argv[3], UINT64_MAX / 2, &n) < 0)
			return 2;
		return cmd_pattern(off, n);
	}
	if (argc >= 2)
		return dispatch(STDOUT_FILENO, argc - 1, argv + 1) < 0 ? 1 : 0;
	fprintf(stderr, "usage: vvguest agent <port> | vvguest <command...>\n");
	return 2;
}
