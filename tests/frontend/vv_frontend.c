/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vv-frontend: drive vhost-user vsock backends for tests and benchmarks.
 * The tool plays both ends of every stream: the guest end through vvfe
 * (vhost-user + virtio-vsock) and the host end through the backend's
 * hybrid-vsock Unix sockets. Every byte is verified. One JSON object goes
 * to stdout per run, a human summary to stderr; the exit status is non-zero
 * on any verification failure or protocol error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vvfe.h"

#define MAX_VMS 256
#define SEED_G2H 0x1000u
#define SEED_H2G 0x2000u

struct cfg {
	const char *mode;
	const char *sock[MAX_VMS];
	const char *uds[MAX_VMS];
	int nsock, nuds;
	uint32_t port;
	uint64_t bytes;
	size_t write_size, read_size, size;
	uint64_t count;
	int streams;
	int timeout_s;
	int wait_ms;
	uint32_t probe_port;
	const char *hostile_case;
	bool copy; /* copy payload into each packet instead of sending from guest memory */
	int64_t busy_poll_ns; /* stay awake this long without work before sleeping; -1 = default */
	int kill;             /* vm2vm: VMs that vanish mid-transfer */
	int raw_cpu[2];       /* raw: writer and reader CPUs, -1 = not pinned */
	bool raw_poll;        /* raw: non-blocking ends that spin instead of sleeping */
	int rst_ms;           /* vm2vm: their peers' streams must see RST within this */
	bool linux_guest;     /* --guest linux (default) or poll */
	bool guest_given;     /* --guest given explicitly */
	int backend_pid;      /* --backend-pid: the backend, for --idle-check and RSS */
	bool idle_check;      /* --idle-check: the backend's CPU once the VM went idle */
	int stuck_ms;         /* stuck: serve the device this long before the host reads */
	uint64_t host_delay_ns; /* g2h/bidir: the host app reads at most once per this (slow app) */
	uint64_t rate;        /* g2h, h2g, bidir, hold: bytes/s per direction, 0 = no limit */
	struct vvfe_opts fe;
};

static struct cfg cfg = {
	.port = 1234,
	.bytes = 64u << 20,
	.write_size = 65536,
	.read_size = 65536,
	.size = 64,
	.count = 10000,
	.streams = 1,
	.timeout_s = 120,
	.wait_ms = 500,
	.probe_port = 0x7ffffff0u,
	.busy_poll_ns = -1,
	.rst_ms = 1000,
	.stuck_ms = 2000,
	.raw_cpu = {-1, -1},
};

/* ------------------------------------------------------------ failures */

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char fail_msg[512];
static volatile int failed;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&fail_lock);
	if (!failed) {
		va_start(ap, fmt);
		vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
		va_end(ap);
		__atomic_store_n(&failed, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&fail_lock);
}

static bool is_failed(void)
{
	return __atomic_load_n(&failed, __ATOMIC_ACQUIRE) != 0;
}

/* The run's first failure was the backend's malformed packets, found once
 * every byte had been verified (the JSON says "error_kind":"protocol"):
 * the figures stand, the backend broke the protocol. A Linux guest drops
 * such packets (an RST answers an unknown type) and goes on. */
static bool proto_only;

static void fail_protocol(const struct vvfe_stats *st)
{
	if (!st->proto_errors)
		return;
	if (!is_failed())
		proto_only = true;
	fail("backend protocol error: %s (%" PRIu64 " malformed packet(s))", st->last_error,
	     st->proto_errors);
}

/* What the run is waiting for, for the timeout message. */
static pthread_mutex_t progress_lock = PTHREAD_MUTEX_INITIALIZER;
static char progress[200] = "starting";

static void set_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_progress(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&progress_lock);
	va_start(ap, fmt);
	vsnprintf(progress, sizeof(progress), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&progress_lock);
}

/*
 * Watchdog: at the deadline, fail the run with what it was waiting for;
 * the loops notice and the normal JSON is printed. If they do not wind
 * down (a thread stuck in a blocking call), print a minimal JSON line and
 * leave.
 */
static void *watchdog(void *arg)
{
	char what[sizeof(progress)];

	(void)arg;
	sleep((unsigned int)cfg.timeout_s);
	pthread_mutex_lock(&progress_lock);
	memcpy(what, progress, sizeof(what));
	pthread_mutex_unlock(&progress_lock);
	fail("timeout after %d s: %s", cfg.timeout_s, what);
	sleep(5);
	printf("{\"mode\":\"%s\",\"ok\":false,\"error\":\"timeout after %d s, stuck\"}\n", cfg.mode,
	       cfg.timeout_s);
	fflush(stdout);
	fprintf(stderr, "vv-frontend %s: FAILED: timeout after %d s: %s\n", cfg.mode, cfg.timeout_s,
		what);
	_exit(3);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	double t = 0;

	/* Children too: raw's writer is a process of its own (reaped before
	 * the end is read). */
	for (int who = 0; who < 2; who++) {
		getrusage(who ? RUSAGE_CHILDREN : RUSAGE_SELF, &ru);
		t += (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	}
	return t;
}

/* ----------------------------------------------------------- host side */

static int uds_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

/* Listen on "<uds>_<port>", where the backend sends guest connections
 * (type SOCK_STREAM, or SOCK_SEQPACKET for SEQPACKET ones). */
static int host_listen_type(const char *uds, uint32_t port, int type)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
	struct sockaddr_un sa;
	int fd;

	snprintf(path, sizeof(path), "%s_%" PRIu32, uds, port);
	if (uds_addr(&sa, path) < 0) {
		fail("path too long: %s", path);
		return -1;
	}
	unlink(path);
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0) {
		fail("listen on %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int host_listen(const char *uds, uint32_t port)
{
	return host_listen_type(uds, port, SOCK_STREAM);
}

static void host_unlisten(const char *uds, uint32_t port, int fd)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];

	snprintf(path, sizeof(path), "%s_%" PRIu32, uds, port);
	unlink(path);
	if (fd >= 0)
		close(fd);
}

static int wait_fd(int fd, short ev, int ms)
{
	struct pollfd p = {.fd = fd, .events = ev};
	int r;

	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	return r;
}

static int host_accept(int lfd, int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;

	while (!is_failed() && now_ns() < end) {
		if (wait_fd(lfd, POLLIN, 50) > 0) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0)
				return fd;
		}
	}
	return -1;
}

/* ---------------------------------------------------------- guest side */

static void note_dev(struct vvfe_dev *d);

static struct vvfe_dev *guest_open(int vm)
{
	struct vvfe_opts o = cfg.fe;
	struct vvfe_dev *d;

	o.socket_path = cfg.sock[vm];
	d = vvfe_dev_create(&o);
	if (d == NULL && errno == EOPNOTSUPP) {
		fail("vhost-user setup with %s: the backend does not offer %s", cfg.sock[vm],
		     o.packed ? "RING_PACKED (--packed) or INDIRECT_DESC (--indirect)"
			      : "INDIRECT_DESC (--indirect)");
		return NULL;
	}
	if (d == NULL) {
		fail("vhost-user setup with %s: %s", cfg.sock[vm], strerror(errno));
		return NULL;
	}
	if (vm == 0)
		note_dev(d);
	return d;
}

/* One poll step; records a failure on device errors. */
static int gpoll(struct vvfe_dev *d)
{
	int r = vvfe_poll(d, cfg.fe.spin ? 2 : 20);

	if (r < 0) {
		fail("device: %s (%s)", strerror(-r), vvfe_dev_stats(d)->last_error);
		return r;
	}
	return is_failed() ? -ECANCELED : 0;
}

static int g_established(struct vvfe_dev *d, struct vvfe_stream *s)
{
	while (vvfe_stream_state(s) == VVFE_CONNECTING)
		if (gpoll(d) < 0)
			return -1;
	if (vvfe_stream_state(s) != VVFE_ESTABLISHED) {
		fail("guest connect to port %" PRIu32 ": %s", vvfe_stream_peer_port(s),
		     strerror(-vvfe_stream_error(s)));
		return -1;
	}
	return 0;
}

/* Send len pattern bytes from pos, in write_size calls. */
static int g_send(struct vvfe_dev *d, struct vvfe_stream *s, const struct vvfe_pattern *pat,
		  uint64_t pos, uint64_t len, uint8_t *buf)
{
	uint64_t done = 0;
	size_t have = 0, off = 0;

	while (done < len) {
		ssize_t r;

		if (off == have) {
			have = (size_t)(len - done < cfg.write_size ? len - done : cfg.write_size);
			vvfe_pattern_fill(pat, pos + done, buf, have);
			off = 0;
		}
		r = vvfe_send(s, buf + off, have - off);
		if (r > 0) {
			off += (size_t)r;
			done += (uint64_t)r;
			continue;
		}
		if (r != -EAGAIN) {
			fail("guest send: %s after %" PRIu64 " bytes", strerror((int)-r), pos + done);
			return -1;
		}
		if (gpoll(d) < 0)
			return -1;
	}
	return 0;
}

/* Consume what is readable, verifying; returns 1 at EOF, 0 otherwise, -1 error. */
static int g_recv_verify(struct vvfe_stream *s, const struct vvfe_pattern *pat, uint64_t *pos,
			 const char *what)
{
	for (;;) {
		const void *p;
		size_t n = vvfe_recv_peek(s, &p);
		ssize_t bad;

		if (n == 0)
			break;
		bad = vvfe_pattern_check(pat, *pos, p, n);
		if (bad >= 0) {
			fail("%s: wrong byte at offset %" PRIu64, what, *pos + (uint64_t)bad);
			return -1;
		}
		*pos += n;
		vvfe_recv_consume(s, n);
	}
	{
		uint8_t b;
		ssize_t r = vvfe_recv(s, &b, 1);

		if (r == 0)
			return 1;
		if (r == -EAGAIN)
			return 0;
		fail("%s: recv: %s at offset %" PRIu64, what, strerror((int)-r), *pos);
		return -1;
	}
}

/* Let lingering closes finish (bounded), then power off. */
/* CPU seconds the backend process (all its threads) used so far, or -1. */
static double backend_cpu_seconds(void)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", cfg.backend_pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* Fields after the command name in parentheses: state is the 3rd,
	 * utime and stime the 14th and 15th. */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* --idle-check: the VM stays up with nothing to say; the backend's CPU from
 * 1 s to 3 s after the last packet. */
#define IDLE_AFTER_NS 1000000000ull
#define IDLE_WINDOW_NS 2000000000ull
static double idle_cpu = -1;

static void idle_probe(struct vvfe_dev *d)
{
	uint64_t last = now_ns();
	double c0 = -1;
	bool started = false;

	set_progress("idle check");
	while (!is_failed() && vvfe_dev_running(d)) {
		uint64_t t = now_ns();

		if (!started && t >= last + IDLE_AFTER_NS) {
			c0 = backend_cpu_seconds();
			started = true;
		}
		if (t >= last + IDLE_AFTER_NS + IDLE_WINDOW_NS)
			break;
		if (vvfe_poll(d, 50) < 0)
			return;
	}
	if (c0 >= 0 && backend_cpu_seconds() >= c0)
		idle_cpu = (backend_cpu_seconds() - c0) / (IDLE_WINDOW_NS / 1e9);
	if (idle_cpu < 0)
		fail("idle check: cannot read the CPU time of process %d", cfg.backend_pid);
}

static void guest_finish(struct vvfe_dev *d, struct vvfe_stats *out)
{
	uint64_t end = now_ns() + 3000000000ull;

	while (vvfe_dev_nstreams(d) > 0 && now_ns() < end && vvfe_dev_running(d))
		if (vvfe_poll(d, 20) < 0)
			break;
	if (cfg.idle_check && !is_failed() && vvfe_dev_running(d))
		idle_probe(d);
	if (vvfe_dev_running(d) && vvfe_dev_stop(d) < 0)
		fail("GET_VRING_BASE at power-off failed (%s)", vvfe_dev_stats(d)->last_error);
	*out = *vvfe_dev_stats(d);
	fail_protocol(out);
}

/* --------------------------------------------------------------- output */

#define STALLS_KEPT 8

struct result {
	uint64_t bytes;
	uint64_t t0, t1;
	double cpu0, cpu1;
	uint64_t ops;
	struct vvfe_lat lat;
	struct vvfe_stats st;
	bool have_st;
	uint64_t cid, features, proto;
	bool have_stall;
	double stall_ms_max; /* g2h, h2g, bidir: longest wait for the next verified bytes */
	uint64_t stalls[STALLS_KEPT][2]; /* the longest waits: start, end (CLOCK_MONOTONIC ns) */
};

static struct result res;

/* --backend-pid with conns or multi: the backend's memory before the streams
 * open and while all of them are open and idle (every byte moved, nothing
 * closed yet). RssAnon is what it allocated; guest memory it touched is
 * shared memory and counts in VmRSS only. */
static struct {
	bool measured;
	uint64_t conns;
	uint64_t anon[2], vm[2]; /* KiB: before, idle */
	int devs_up, go;        /* atomic: guest devices up; streams may start */
	int h_ready, g_ready;   /* atomic: streams done both ways, host and guest side */
	int release;            /* atomic: the host ends may shut down */
	uint64_t hold_ns;       /* how long the streams were held idle */
} rss;

/* RssAnon and VmRSS of the backend, KiB. */
static int backend_rss(uint64_t *anon, uint64_t *vm)
{
	char path[64], line[256];
	FILE *f;
	int got = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", cfg.backend_pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long long v;

		if (sscanf(line, "RssAnon: %llu", &v) == 1) {
			*anon = v;
			got |= 1;
		} else if (sscanf(line, "VmRSS: %llu", &v) == 1) {
			*vm = v;
			got |= 2;
		}
	}
	fclose(f);
	return got == 3 ? 0 : -1;
}
static unsigned int host_connect_retries; /* h2g: CONNECTs closed before the guest was up */

static void note_dev(struct vvfe_dev *d)
{
	res.cid = vvfe_dev_cid(d);
	res.features = vvfe_dev_features(d);
	res.proto = vvfe_dev_protocol_features(d);
}
static uint64_t t_start, t_end; /* shared between threads */
static double cpu_start;

static void mark_start(void)
{
	uint64_t zero = 0, now = now_ns();

	if (__atomic_compare_exchange_n(&t_start, &zero, now, false, __ATOMIC_SEQ_CST,
					__ATOMIC_SEQ_CST))
		cpu_start = cpu_seconds();
}

static void mark_end(void)
{
	__atomic_store_n(&t_end, now_ns(), __ATOMIC_SEQ_CST);
}

/* The modes with no backend and no guest: the floors and ceilings. */
static bool is_raw_mode(void)
{
	return strcmp(cfg.mode, "raw") == 0 || strcmp(cfg.mode, "rawpp") == 0 ||
	       strcmp(cfg.mode, "rawconn") == 0;
}

/* Which guest produced the figures: every JSON line says it. */
static const char *guest_mode_name(void)
{
	if (is_raw_mode())
		return "none";
	if (cfg.linux_guest)
		return "linux";
	return cfg.fe.spin ? "poll-spin" : "poll";
}

static void print_json(const char *extra)
{
	double sec = (t_end > t_start + rss.hold_ns && t_start)
			     ? (double)(t_end - t_start - rss.hold_ns) / 1e9
			     : 0;
	double cpu = cpu_seconds() - cpu_start;
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("{\"mode\":\"%s\",\"guest_mode\":\"%s\",\"ok\":%s,\"bytes\":%" PRIu64
	       ",\"seconds\":%.6f,\"MBps\":%.2f,"
	       "\"cpu_seconds\":%.3f,\"cpu_user\":%.3f,\"cpu_sys\":%.3f",
	       cfg.mode, guest_mode_name(), is_failed() ? "false" : "true", res.bytes, sec,
	       sec > 0 ? (double)res.bytes / sec / 1e6 : 0.0, cpu,
	       (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	if (res.ops)
		printf(",\"ops\":%" PRIu64 ",\"ops_per_sec\":%.1f", res.ops,
		       sec > 0 ? (double)res.ops / sec : 0.0);
	if (res.lat.n) {
		size_t n = res.lat.n;
		uint64_t p50 = vvfe_lat_pct(&res.lat, 50), p99 = vvfe_lat_pct(&res.lat, 99),
			 p999 = vvfe_lat_pct(&res.lat, 99.9), mx = vvfe_lat_pct(&res.lat, 100);

		printf(",\"latency_us\":{\"n\":%zu,\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f,"
		       "\"max\":%.2f}",
		       n, p50 / 1e3, p99 / 1e3, p999 / 1e3, mx / 1e3);
	}
	if (res.have_st)
		printf(",\"guest\":{\"kicks\":%" PRIu64 ",\"kicks_suppressed\":%" PRIu64
		       ",\"calls\":%" PRIu64 ",\"rx_pkts\":%" PRIu64 ",\"tx_pkts\":%" PRIu64
		       ",\"credit_update_rx\":%" PRIu64 ",\"credit_update_tx\":%" PRIu64
		       ",\"credit_request_tx\":%" PRIu64 ",\"rst_rx\":%" PRIu64
		       ",\"close_timeouts\":%" PRIu64 ",\"handshake_retries\":%" PRIu64
		       ",\"rx_empty\":%" PRIu64 ",\"proto_errors\":%" PRIu64 "}",
		       res.st.kicks, res.st.kicks_suppressed, res.st.calls, res.st.rx_pkts,
		       res.st.tx_pkts, res.st.credit_update_rx, res.st.credit_update_tx,
		       res.st.credit_request_tx, res.st.rst_rx, res.st.close_timeouts,
		       res.st.handshake_retries, res.st.rx_empty, res.st.proto_errors);
	if (host_connect_retries)
		printf(",\"host_connect_retries\":%u", host_connect_retries);
	if (idle_cpu >= 0)
		printf(",\"idle\":{\"after_s\":%.1f,\"window_s\":%.1f,\"backend_cpu_percent\":%.2f}",
		       IDLE_AFTER_NS / 1e9, IDLE_WINDOW_NS / 1e9, 100 * idle_cpu);
	if (rss.measured)
		printf(",\"rss\":{\"conns\":%" PRIu64 ",\"anon_kib_before\":%" PRIu64
		       ",\"anon_kib_idle\":%" PRIu64 ",\"vmrss_kib_before\":%" PRIu64
		       ",\"vmrss_kib_idle\":%" PRIu64 ",\"anon_bytes_per_conn\":%.0f}",
		       rss.conns, rss.anon[0], rss.anon[1], rss.vm[0], rss.vm[1],
		       rss.conns ? ((double)rss.anon[1] - (double)rss.anon[0]) * 1024 / (double)rss.conns
				 : 0.0);
	if (res.have_stall) {
		printf(",\"stall_ms_max\":%.1f,\"stalls\":[", res.stall_ms_max);
		for (int i = 0, n = 0; i < STALLS_KEPT; i++)
			if (res.stalls[i][1])
				printf("%s[%.6f,%.6f]", n++ ? "," : "", res.stalls[i][0] / 1e9,
				       res.stalls[i][1] / 1e9);
		printf("]");
	}
	if (res.cid)
		printf(",\"cid\":%" PRIu64 ",\"features\":\"%#" PRIx64 "\",\"protocol_features\":\"%#" PRIx64
		       "\"", res.cid, res.features, res.proto);
	if (extra)
		printf(",%s", extra);
	if (is_failed()) {
		printf(",\"error\":\"");
		for (const char *c = fail_msg; *c; c++)
			printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
		printf("\"");
		if (proto_only)
			printf(",\"error_kind\":\"protocol\"");
	}
	printf("}\n");
	fflush(stdout);
	fprintf(stderr, "vv-frontend %s: %s: %" PRIu64 " bytes in %.3f s = %.1f MB/s, cpu %.2f s",
		cfg.mode, is_failed() ? "FAILED" : "ok", res.bytes, sec,
		sec > 0 ? (double)res.bytes / sec / 1e6 : 0.0, cpu);
	if (res.lat.n)
		fprintf(stderr, ", p50 %.1f us p99 %.1f us", vvfe_lat_pct(&res.lat, 50) / 1e3,
			vvfe_lat_pct(&res.lat, 99) / 1e3);
	if (is_failed())
		fprintf(stderr, ": %s", fail_msg);
	fprintf(stderr, "\n");
}

/* ---------------------------------------------------- g2h / h2g / bidir */

struct host_arg {
	int lfd;
	int vm;
	uint64_t got;
	uint64_t expect;
	int nstreams;
	volatile int ready;
};

/* Poll like a Linux guest that busy-polls: stay awake --busy-poll-us after
 * the last work, then sleep (never with --spin). True when the caller should
 * sleep now; *idle_since is when the current idle stretch began, 0 if none. */
static bool idle_should_sleep(bool busy, uint64_t *idle_since)
{
	if (busy || cfg.fe.spin) {
		*idle_since = 0;
		return false;
	}
	if (*idle_since == 0 && cfg.busy_poll_ns > 0) {
		*idle_since = now_ns();
		return false;
	}
	if (cfg.busy_poll_ns > 0 && now_ns() - *idle_since < (uint64_t)cfg.busy_poll_ns)
		return false;
	*idle_since = 0;
	return true;
}

/*
 * One thread plays both ends of the stream: the guest through vvfe, the
 * host app through a non-blocking socket. Each side is as cheap as raw
 * mode's writer and reader, so what limits the rate is the backend:
 *  - the guest sends zero-copy from a copy of the pattern table in guest
 *    memory (descriptors point into it) and receives in place (a sink
 *    compares the rx buffer with memcmp; nothing is copied);
 *  - the host writes straight from the pattern table and reads into one
 *    buffer that memcmp checks.
 * No thread hand-offs: with the tool pinned to one CPU, a wake-up of one
 * side cannot wait for the other side's time slice. --spin never sleeps.
 *
 * While the guest's stream is open, the host end reads what the backend
 * has reported forwarded (the fwd_cnt of its credit updates: bytes its
 * socket took, so the backend is done writing them). Beyond that it reads
 * only once the guest has been unable to send for XFER_BLIND_NS (the
 * backend then waits for socket space, not for the guest), again that
 * long after each read that found the socket empty, and at least every
 * millisecond. A reader spinning on a socket the backend is writing that
 * very moment contends with the backend's writev for the socket's locks
 * and memory accounting (measured with 64 KiB credit: 18 us per round
 * trip instead of 11), so the tool would slow down what it measures.
 * Every byte is still read from the socket and checked.
 */
#define XFER_BLIND_NS 20000u /* about two credit round trips */
struct xfer {
	struct vvfe_dev *d;
	struct vvfe_stream *s;
	int fd;                 /* host end of the stream */
	bool g2h, h2g;
	const uint8_t *table;   /* the pattern table */
	const uint8_t *greg;    /* its copy in guest memory, or NULL (copying sends) */
	struct vvfe_pattern pg, ph;
	uint64_t g_sent, h_got; /* guest -> host */
	uint64_t h_sent, g_got; /* host -> guest */
	bool h_eof, g_eof;
	uint64_t h_poke_ns;     /* read the host socket by then regardless */
	uint64_t h_next_ns;     /* --host-delay-us: no read before this */
	uint64_t g_blocked_ns;  /* since when the guest cannot send or is done, 0 = sending */
	uint8_t *rbuf;
	/* --guest linux: the host application runs in threads of its own */
	int lfd;                /* where the backend connects (g2h, bidir, pingpong) */
	int host_done;          /* the host application finished (atomic) */
	bool paced;             /* --rate held a sender back this turn */
	uint64_t last_ns[2];    /* when verified bytes last arrived, per direction */
	uint64_t stall_ns;      /* the longest gap between two such arrivals */
};

/* --rate: bytes one direction may have sent by now (one write ahead). */
static uint64_t paced_budget(void)
{
	uint64_t t0 = __atomic_load_n(&t_start, __ATOMIC_SEQ_CST);

	if (cfg.rate == 0 || t0 == 0)
		return UINT64_MAX;
	return (uint64_t)((double)(now_ns() - t0) * (double)cfg.rate / 1e9) + cfg.write_size;
}

/* Verified bytes arrived (dir 0: guest to host, 1: host to guest): a stream
 * that pauses shows as a long gap (with --rate, bytes come steadily). The
 * STALLS_KEPT longest gaps are kept with their times, so that a test can
 * tell a pause at a moment it caused from scheduling noise elsewhere. */
static void xfer_progress(struct xfer *x, int dir)
{
	uint64_t now = now_ns(), gap = x->last_ns[dir] ? now - x->last_ns[dir] : 0;
	int shortest = 0;

	x->last_ns[dir] = now;
	if (gap == 0)
		return;
	if (gap > x->stall_ns)
		x->stall_ns = gap;
	for (int i = 1; i < STALLS_KEPT; i++)
		if (res.stalls[i][1] - res.stalls[i][0] < res.stalls[shortest][1] - res.stalls[shortest][0])
			shortest = i;
	if (gap > res.stalls[shortest][1] - res.stalls[shortest][0]) {
		res.stalls[shortest][0] = now - gap;
		res.stalls[shortest][1] = now;
	}
}

/* Should the host end read now (see above)? */
static bool xfer_host_due(struct xfer *x)
{
	uint64_t now;

	/* A slow host app: one read per --host-delay-us, whatever is there. */
	if (cfg.host_delay_ns)
		return now_ns() >= x->h_next_ns;

	if (x->s == NULL || x->g_sent - vvfe_stream_unacked(x->s) > x->h_got)
		return true;
	now = now_ns();
	if (x->g_blocked_ns && now - x->g_blocked_ns >= XFER_BLIND_NS)
		return true;
	return now >= x->h_poke_ns;
}

/* The guest's bytes from pos: in guest memory when the region exists. */
static const uint8_t *xfer_gptr(const struct xfer *x, uint64_t pos, size_t *contig)
{
	const uint8_t *t = vvfe_pattern_ptr(&x->pg, pos, contig);

	return x->greg ? x->greg + (t - x->table) : t;
}

/* Copy the pattern table into guest memory once, so sends need no copy. */
static const uint8_t *guest_pattern_region(struct vvfe_dev *d, const uint8_t **table)
{
	struct vvfe_pattern base = {.start = 0};
	size_t n;
	uint8_t *g;

	*table = vvfe_pattern_ptr(&base, 0, &n);
	if (cfg.copy)
		return NULL;
	g = vvfe_dev_mem_alloc(d, n);
	if (g != NULL)
		memcpy(g, *table, n);
	return g;
}

static void xfer_sink(struct vvfe_stream *s, const void *data, size_t len, void *arg)
{
	struct xfer *x = arg;
	ssize_t bad = vvfe_pattern_check(&x->ph, x->g_got, data, len);

	(void)s;
	if (bad >= 0)
		fail("guest: wrong byte at offset %" PRIu64, x->g_got + (uint64_t)bad);
	x->g_got += len;
	xfer_progress(x, 1);
}

/* Guest connects (g2h, bidir): until established and accepted on the host. */
static int xfer_connect_guest(struct xfer *x, int lfd)
{
	if (vvfe_connect(x->d, cfg.port, &x->s) < 0) {
		fail("guest connect: out of ports or memory");
		return -1;
	}
	while (!is_failed() && (x->fd < 0 || vvfe_stream_state(x->s) == VVFE_CONNECTING)) {
		if (x->fd < 0) {
			x->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (x->fd >= 0)
				continue;
		}
		if (vvfe_stream_state(x->s) == VVFE_CLOSED)
			break;
		if (vvfe_poll(x->d, 1) < 0)
			break;
	}
	if (vvfe_stream_state(x->s) != VVFE_ESTABLISHED || x->fd < 0) {
		fail("guest connect to port %" PRIu32 ": %s", cfg.port,
		     vvfe_stream_error(x->s) ? strerror(-vvfe_stream_error(x->s))
					     : "host end never accepted");
		return -1;
	}
	return 0;
}

/* The backend closed a host connection before the guest driver was up:
 * count it, let the device run a while, and have the caller connect again. */
static int host_connect_refused(struct xfer *x)
{
	close(x->fd);
	x->fd = -1;
	host_connect_retries++;
	return vvfe_poll(x->d, 10) < 0 ? -1 : 0;
}

/*
 * Host connects (h2g): CONNECT line, guest accepts, "OK <port>" comes back.
 * A backend closes host connections while the guest driver is not up yet
 * (its datapath attaches a moment after the vhost-user setup is acked), so
 * a close before any answer is retried for a while, and counted.
 */
static int xfer_connect_host(struct xfer *x)
{
	uint64_t give_up = now_ns() + 3000000000ull;
	struct sockaddr_un sa;
	char line[64];
	size_t n = 0;
	int len;

	if (vvfe_listen(x->d, cfg.port) < 0 || uds_addr(&sa, cfg.uds[0]) < 0) {
		fail("guest listen on %" PRIu32 " failed", cfg.port);
		return -1;
	}
again:
	x->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (x->fd < 0 || connect(x->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fail("connect %s: %s", cfg.uds[0], strerror(errno));
		return -1;
	}
	len = snprintf(line, sizeof(line), "CONNECT %" PRIu32 "\n", cfg.port);
	if (write(x->fd, line, (size_t)len) != len) {
		/* Closed even before the line went out: the same refusal. */
		if ((errno == EPIPE || errno == ECONNRESET) && x->s == NULL &&
		    now_ns() < give_up) {
			if (host_connect_refused(x) < 0)
				return -1;
			goto again;
		}
		fail("write CONNECT: %s", strerror(errno));
		return -1;
	}
	fcntl(x->fd, F_SETFL, fcntl(x->fd, F_GETFL) | O_NONBLOCK);
	/* Byte by byte: what follows the line is stream data. */
	while (!is_failed() && (n == 0 || line[n - 1] != '\n')) {
		ssize_t r;

		if (x->s == NULL)
			x->s = vvfe_accept(x->d, cfg.port);
		r = read(x->fd, line + n, 1);
		if (r == 1) {
			if (++n == sizeof(line) - 1)
				break;
			continue;
		}
		if ((r == 0 || errno == ECONNRESET) && n == 0 && x->s == NULL &&
		    now_ns() < give_up) {
			if (host_connect_refused(x) < 0)
				return -1;
			goto again;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			fail("CONNECT %" PRIu32 ": connection closed after %zu bytes (%s)", cfg.port,
			     n, r == 0 ? "EOF" : strerror(errno));
			return -1;
		}
		if (vvfe_poll(x->d, 1) < 0) {
			fail("device: %s", vvfe_dev_stats(x->d)->last_error);
			return -1;
		}
	}
	line[n] = 0;
	if (strncmp(line, "OK ", 3) != 0 || n == 0 || line[n - 1] != '\n') {
		fail("CONNECT %" PRIu32 ": bad answer \"%s\"", cfg.port, line);
		return -1;
	}
	while (x->s == NULL && !is_failed())
		if ((x->s = vvfe_accept(x->d, cfg.port)) == NULL && gpoll(x->d) < 0)
			return -1;
	return x->s ? 0 : -1;
}

/* Guest side of one loop turn. Returns true if it did something. */
static bool xfer_guest(struct xfer *x)
{
	bool busy = false;

	while (x->g2h && x->s && x->g_sent < cfg.bytes) {
		size_t n;
		const uint8_t *p = xfer_gptr(x, x->g_sent, &n);
		uint64_t left = cfg.bytes - x->g_sent, allowed = paced_budget();
		ssize_t k;

		if (x->g_sent >= allowed) {
			x->paced = true;
			break;
		}
		if (left > allowed - x->g_sent)
			left = allowed - x->g_sent;
		if (n > cfg.write_size)
			n = cfg.write_size;
		if (n > left)
			n = (size_t)left;
		k = vvfe_send(x->s, p, n);
		if (k == -EAGAIN) {
			if (x->g_blocked_ns == 0)
				x->g_blocked_ns = now_ns();
			break;
		}
		if (k < 0) {
			fail("guest send: %s after %" PRIu64 " bytes", strerror((int)-k), x->g_sent);
			return false;
		}
		x->g_sent += (uint64_t)k;
		x->g_blocked_ns = x->g_sent == cfg.bytes ? now_ns() : 0;
		busy = true;
		if (x->g_sent == cfg.bytes) {
			/* Still reading (bidir): only our direction ends. */
			if (x->h2g && !x->g_eof) {
				vvfe_shutdown(x->s, VIRTIO_VSOCK_SHUTDOWN_SEND);
			} else {
				vvfe_close(x->s);
				x->s = NULL;
			}
		}
	}
	if (x->h2g && x->s && !x->g_eof) {
		uint64_t before = x->g_got;
		int r = g_recv_verify(x->s, &x->ph, &x->g_got, "guest");

		busy |= x->g_got != before;
		if (r < 0)
			return false;
		if (r == 1) {
			x->g_eof = true;
			if (x->g_got != cfg.bytes)
				fail("guest: EOF after %" PRIu64 " of %" PRIu64 " bytes", x->g_got,
				     cfg.bytes);
			if (!x->g2h || x->g_sent == cfg.bytes) {
				vvfe_close(x->s);
				x->s = NULL;
			}
			busy = true;
		}
	}
	return busy;
}

/* Host side of one loop turn. Returns true if it did something. */
static bool xfer_host(struct xfer *x)
{
	bool busy = false;

	while (x->g2h && !x->h_eof && xfer_host_due(x)) {
		ssize_t r = recv(x->fd, x->rbuf, cfg.read_size, MSG_DONTWAIT), bad;

		if (r > 0 && cfg.host_delay_ns)
			x->h_next_ns = now_ns() + cfg.host_delay_ns;
		if (r > 0) {
			bad = vvfe_pattern_check(&x->pg, x->h_got, x->rbuf, (size_t)r);
			if (bad >= 0) {
				fail("host: wrong byte at offset %" PRIu64, x->h_got + (uint64_t)bad);
				return false;
			}
			x->h_got += (uint64_t)r;
			xfer_progress(x, 0);
			busy = true;
			if (x->h_got > cfg.bytes) {
				fail("host: more bytes than sent (%" PRIu64 ")", x->h_got);
				return false;
			}
			continue;
		}
		if (r == 0) {
			x->h_eof = true;
			busy = true;
			if (x->h_got != cfg.bytes)
				fail("host: EOF after %" PRIu64 " of %" PRIu64 " bytes", x->h_got,
				     cfg.bytes);
		} else if (errno == EAGAIN) {
			/* Drained: the next blind read comes a pause later. */
			uint64_t now = now_ns();

			x->h_poke_ns = now + 1000000u;
			if (x->g_blocked_ns)
				x->g_blocked_ns = now;
		} else if (errno != EINTR) {
			fail("host read: %s after %" PRIu64 " bytes", strerror(errno), x->h_got);
		}
		break;
	}
	while (x->h2g && x->h_sent < cfg.bytes) {
		size_t n;
		const uint8_t *p = vvfe_pattern_ptr(&x->ph, x->h_sent, &n);
		uint64_t left = cfg.bytes - x->h_sent, allowed = paced_budget();
		ssize_t r;

		if (x->h_sent >= allowed) {
			x->paced = true;
			break;
		}
		if (left > allowed - x->h_sent)
			left = allowed - x->h_sent;
		if (n > cfg.write_size)
			n = cfg.write_size;
		if (n > left)
			n = (size_t)left;
		r = send(x->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				fail("host write: %s after %" PRIu64 " bytes", strerror(errno),
				     x->h_sent);
			break;
		}
		x->h_sent += (uint64_t)r;
		busy = true;
		if (x->h_sent == cfg.bytes)
			shutdown(x->fd, SHUT_WR);
	}
	return busy;
}

/* Patterns, a host read buffer of rbuf_len, the host listener when the guest
 * connects (*lfd, else -1) and the guest device with its pattern region.
 * Returns -1 when nothing needs undoing, 0 with x->d set, 1 when the guest
 * device failed (xfer_close undoes the rest). */
static int xfer_open(struct xfer *x, size_t rbuf_len, bool listen, int *lfd)
{
	*lfd = -1;
	vvfe_pattern_init(&x->pg, SEED_G2H);
	vvfe_pattern_init(&x->ph, SEED_H2G);
	x->rbuf = malloc(rbuf_len);
	if (x->rbuf == NULL)
		return -1;
	if (listen) {
		*lfd = host_listen(cfg.uds[0], cfg.port);
		if (*lfd < 0) {
			free(x->rbuf);
			return -1;
		}
		fcntl(*lfd, F_SETFL, fcntl(*lfd, F_GETFL) | O_NONBLOCK);
	}
	x->d = guest_open(0);
	if (x->d == NULL)
		return 1;
	x->greg = guest_pattern_region(x->d, &x->table);
	return 0;
}

/* Undo xfer_open: the guest's statistics go to res. */
static void xfer_close(struct xfer *x, int lfd)
{
	if (x->s)
		vvfe_close(x->s);
	x->s = NULL;
	if (x->d) {
		guest_finish(x->d, &res.st);
		res.have_st = true;
		vvfe_dev_free(x->d);
	}
	if (x->fd >= 0)
		close(x->fd);
	if (lfd >= 0)
		host_unlisten(cfg.uds[0], cfg.port, lfd);
	free(x->rbuf);
}

static int run_xfer(bool g2h, bool h2g)
{
	struct xfer x = {.g2h = g2h, .h2g = h2g, .fd = -1};
	bool ended = false;
	uint64_t idle_since = 0;
	int lfd, opened = xfer_open(&x, cfg.read_size, g2h, &lfd);

	if (opened < 0)
		return 1;
	if (opened > 0)
		goto out;
	set_progress("connecting");
	if ((g2h ? xfer_connect_guest(&x, lfd) : xfer_connect_host(&x)) < 0)
		goto out;
	if (h2g)
		vvfe_stream_set_sink(x.s, xfer_sink, &x);
	mark_start();
	while (!is_failed()) {
		int r = vvfe_poll(x.d, 0);
		bool busy = r > 0;

		x.paced = false;
		if (r < 0) {
			fail("device: %s (%s)", strerror(-r), vvfe_dev_stats(x.d)->last_error);
			break;
		}
		busy |= xfer_guest(&x);
		busy |= xfer_host(&x);
		if (!ended && (!g2h || x.h_got == cfg.bytes) && (!h2g || x.g_got == cfg.bytes)) {
			mark_end();
			ended = true;
			set_progress("all bytes verified, waiting for the ends of the stream");
		}
		if ((!g2h || x.h_eof) && (!h2g || x.g_eof))
			break;
		/* Without --spin: stay awake busy_poll_ns after the last
		 * work, then sleep (a guest that polls briefly before
		 * waiting for an interrupt, as Linux busy polling does). */
		if (idle_should_sleep(busy, &idle_since)) {
			/* Sleep on the host socket when the guest cannot send
			 * (or is closed); otherwise the device's wake-ups say
			 * when to read (see xfer_host_due). */
			bool rd = g2h && !x.h_eof && (x.s == NULL || x.g_blocked_ns) &&
				  now_ns() >= x.h_next_ns;
			bool wr = h2g && x.h_sent < cfg.bytes && !x.paced;
			struct pollfd pf = {.fd = x.fd,
					    .events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0))};
			/* Paced: back for the next slice of --rate in a millisecond. */
			int w = vvfe_wait(&x.d, 1, &pf, 1, (g2h && !x.h_eof) || x.paced ? 1 : 100);

			if (w < 0) {
				fail("poll: %s", strerror(-w));
				break;
			}
		}
	}
out:
	res.bytes = x.h_got + x.g_got;
	res.have_stall = true;
	res.stall_ms_max = (double)x.stall_ns / 1e6;
	xfer_close(&x, lfd);
	return 0;
}

/* ----------------------------------------------------------------- hold */

/* Has the backend closed the vhost-user socket? Only looks (no byte may
 * arrive there: we opened no back-end channel). */
static bool backend_closed(int sock)
{
	char c;
	ssize_t n = recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

/*
 * A guest that streams to the host (g2h, paced by --rate) until the backend
 * takes its device away: the stream must end with an RST, then the backend
 * must close the vhost-user connection (a VM removed by a reload). Bytes
 * that reached the host are verified; none may come after the RST. The run
 * fails if the backend never disconnects (within --timeout).
 *
 * It waits on the call eventfds and the vhost-user socket itself, and
 * processes the used rings once more when the socket hangs up: vvfe_poll()
 * would reset the streams at the hang-up, before an RST already in the
 * ring is read.
 */
static int run_hold(void)
{
	struct xfer x = {.g2h = true, .fd = -1};
	uint64_t deadline, rst_ns = 0, gone_ns = 0;
	struct pollfd pf[3];
	char extra[160];
	int fds[3], nfd, lfd, opened = xfer_open(&x, cfg.read_size, true, &lfd);

	if (opened < 0)
		return 1;
	if (opened > 0)
		goto out;
	set_progress("connecting");
	if (xfer_connect_guest(&x, lfd) < 0)
		goto out;
	nfd = vvfe_dev_pollfds(x.d, fds, 3); /* call fds, then the socket */
	for (int i = 0; i < nfd; i++)
		pf[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	mark_start();
	deadline = now_ns() + (uint64_t)(cfg.timeout_s > 10 ? cfg.timeout_s - 10 : 1) * 1000000000ull;
	set_progress("streaming until the backend resets the stream and disconnects");
	while (!is_failed() && now_ns() < deadline) {
		bool hung_up = false;
		int r = vvfe_poll(x.d, 0);

		if (r < 0) {
			fail("device: %s (%s)", strerror(-r), vvfe_dev_stats(x.d)->last_error);
			break;
		}
		if (rst_ns == 0 && vvfe_stream_state(x.s) == VVFE_CLOSED) {
			if (!vvfe_stream_rst_received(x.s)) {
				fail("stream closed without RST (%s)",
				     strerror(-vvfe_stream_error(x.s)));
				break;
			}
			rst_ns = vvfe_stream_closed_ns(x.s);
		}
		if (gone_ns != 0)
			break; /* the rings were read once more after the hang-up */
		while (rst_ns == 0 && x.g_sent < paced_budget()) {
			size_t n;
			const uint8_t *p = xfer_gptr(&x, x.g_sent, &n);
			ssize_t k;

			if (n > cfg.write_size)
				n = cfg.write_size;
			k = vvfe_send(x.s, p, n);
			if (k <= 0)
				break; /* no credit now, or reset: seen next turn */
			x.g_sent += (uint64_t)k;
		}
		for (;;) {
			ssize_t k = recv(x.fd, x.rbuf, cfg.read_size, MSG_DONTWAIT), bad;

			if (k <= 0)
				break; /* EOF or reset: the backend closes it with the stream */
			bad = vvfe_pattern_check(&x.pg, x.h_got, x.rbuf, (size_t)k);
			if (bad >= 0 || x.h_got + (uint64_t)k > x.g_sent) {
				fail("host: wrong or extra byte at offset %" PRIu64, x.h_got);
				break;
			}
			x.h_got += (uint64_t)k;
		}
		if (poll(pf, (nfds_t)nfd, 1) > 0) {
			for (int i = 0; i < nfd - 1; i++) {
				uint64_t v;

				if (pf[i].revents & POLLIN && read(pf[i].fd, &v, sizeof(v)) < 0)
					break;
			}
			hung_up = pf[nfd - 1].revents && backend_closed(pf[nfd - 1].fd);
		}
		if (hung_up)
			gone_ns = now_ns();
	}
	if (!is_failed() && gone_ns == 0)
		fail("the backend never closed the vhost-user connection%s",
		     rst_ns ? "" : " (nor reset the stream)");
	else if (!is_failed() && rst_ns == 0)
		fail("the backend disconnected without resetting the stream first");
	/* Times on CLOCK_MONOTONIC, as a test's own clock reads them. */
	snprintf(extra, sizeof(extra),
		 "\"reset\":%s,\"disconnected\":%s,\"rst_at\":%.6f,\"disconnected_at\":%.6f",
		 rst_ns ? "true" : "false", gone_ns ? "true" : "false", (double)rst_ns / 1e9,
		 (double)gone_ns / 1e9);
	res.bytes = x.h_got;
	x.s = NULL; /* closed: the device frees it */
	xfer_close(&x, lfd);
	print_json(extra);
	return 2;
out:
	res.bytes = x.h_got;
	xfer_close(&x, lfd);
	return 0;
}

/* ------------------------------------------------------------- pingpong */

/* The guest's side: echo every whole message received (credit allowing).
 * Returns true if it sent something. */
static bool pp_echo(struct xfer *x)
{
	bool busy = false;

	while ((x->g_sent / cfg.size + 1) * cfg.size <= x->g_got) {
		size_t n;
		const uint8_t *p = xfer_gptr(x, x->g_sent, &n);
		uint64_t want = cfg.size - x->g_sent % cfg.size; /* rest of this message */
		ssize_t w;

		if (n > want)
			n = (size_t)want;
		w = vvfe_send(x->s, p, n);
		if (w == -EAGAIN)
			break;
		if (w < 0) {
			fail("guest send: %s", strerror((int)-w));
			break;
		}
		x->g_sent += (uint64_t)w;
		busy = true;
	}
	return busy;
}

/*
 * The host app writes a message, the guest echoes it once complete, the
 * host times the round trip. Like the transfer modes, one thread plays both
 * ends (no hand-off between threads inside a measured round trip); without
 * --spin it polls --busy-poll-us before sleeping.
 */
static int run_pingpong(void)
{
	struct xfer x = {.g2h = true, .h2g = true, .fd = -1};
	uint64_t warm = cfg.count / 10 < 1000 ? cfg.count / 10 : 1000, total = cfg.count + warm;
	uint64_t i = 0, t0 = 0, idle_since = 0;
	int lfd, opened = xfer_open(&x, cfg.size, true, &lfd);

	if (opened < 0)
		return 1;
	if (opened > 0 || xfer_connect_guest(&x, lfd) < 0)
		goto out;
	vvfe_stream_set_sink(x.s, xfer_sink, &x);
	while (!is_failed() && i < total) {
		int r = vvfe_poll(x.d, 0);
		bool busy = r > 0;

		if (r < 0) {
			fail("device: %s (%s)", strerror(-r), vvfe_dev_stats(x.d)->last_error);
			break;
		}
		/* Host: write message i. */
		while (x.h_sent < (i + 1) * cfg.size) {
			size_t n;
			const uint8_t *p = vvfe_pattern_ptr(&x.ph, x.h_sent, &n);
			ssize_t w;

			if (x.h_sent == i * cfg.size) {
				if (i == warm)
					mark_start();
				t0 = now_ns();
			}
			if (n > (i + 1) * cfg.size - x.h_sent)
				n = (size_t)((i + 1) * cfg.size - x.h_sent);
			w = send(x.fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w < 0) {
				if (errno != EAGAIN && errno != EINTR)
					fail("host write: %s", strerror(errno));
				break;
			}
			x.h_sent += (uint64_t)w;
			busy = true;
		}
		/* Guest: what the sink did not take, then echo whole messages. */
		{
			uint64_t before = x.g_got;

			if (g_recv_verify(x.s, &x.ph, &x.g_got, "guest") != 0) {
				if (!is_failed())
					fail("guest: stream ended after %" PRIu64 " bytes", x.g_got);
				break;
			}
			busy |= x.g_got != before;
		}
		busy |= pp_echo(&x);
		/* Host: read and check the echo; a whole one ends the round trip. */
		for (;;) {
			size_t want = (size_t)((i + 1) * cfg.size - x.h_got);
			ssize_t got = recv(x.fd, x.rbuf, want, MSG_DONTWAIT), bad;

			if (got <= 0) {
				if (got == 0 || (errno != EAGAIN && errno != EINTR))
					fail("host read: %s", got ? strerror(errno) : "EOF");
				break;
			}
			bad = vvfe_pattern_check(&x.pg, x.h_got, x.rbuf, (size_t)got);
			if (bad >= 0) {
				fail("host: wrong byte at offset %" PRIu64, x.h_got + (uint64_t)bad);
				break;
			}
			x.h_got += (uint64_t)got;
			busy = true;
			if (x.h_got == (i + 1) * cfg.size) {
				if (i >= warm) {
					vvfe_lat_add(&res.lat, now_ns() - t0);
					res.bytes += 2 * cfg.size;
					res.ops++;
				}
				i++;
				break;
			}
		}
		if (idle_should_sleep(busy, &idle_since)) {
			struct pollfd pf = {.fd = x.fd, .events = POLLIN};
			int w = vvfe_wait(&x.d, 1, &pf, 1, 100);

			if (w < 0) {
				fail("poll: %s", strerror(-w));
				break;
			}
		}
	}
	mark_end();
out:
	xfer_close(&x, lfd);
	return 0;
}

/* ------------------------------------------------ the Linux-like guest */

/*
 * --guest linux (the default): the tool behaves like a Linux guest beside
 * ordinary host applications, and nobody spins.
 *  - This thread is the guest's vCPU. After doing what it can it sleeps in
 *    vvfe_poll() on the call eventfds, each ring having asked for its
 *    interrupt the way drivers/virtio/virtio_ring.c does (used_event =
 *    last_used, full barrier, look again), and it looks at a ring only after
 *    that ring's interrupt (vvfe_opts.linux_irq). A send without credit
 *    waits for the next interrupt that brings some (a CREDIT_UPDATE or any
 *    packet), as a Linux sender sleeps in vsock_connectible_sendmsg until
 *    sk_write_space. Rings of 128 entries and rx buffers of 4 KiB plus the
 *    header, refilled below half, as QEMU's vhost-user-vsock and Linux set up.
 *  - The host application is one thread per direction, in blocking read()
 *    and write() on its socket, like any program on the host.
 * The sends are still zero-copy from guest memory and the receives checked in
 * place, so what the tool itself costs stays small.
 */

/* Directions (of all streams) still verifying; the last one ends the phase. */
static int lx_dirs_left;

static void lx_dir_done(void)
{
	if (__atomic_sub_fetch(&lx_dirs_left, 1, __ATOMIC_ACQ_REL) == 0)
		mark_end();
}

/* The host application's writer: blocking writes of write_size, then EOF. */
static void lx_host_write(struct xfer *x, int fd)
{
	while (x->h_sent < cfg.bytes && !is_failed()) {
		size_t n;
		const uint8_t *p = vvfe_pattern_ptr(&x->ph, x->h_sent, &n);
		uint64_t left = cfg.bytes - x->h_sent;
		ssize_t r;

		if (n > cfg.write_size)
			n = cfg.write_size;
		if (n > left)
			n = (size_t)left;
		r = send(fd, p, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fail("host write: %s after %" PRIu64 " bytes", strerror(errno), x->h_sent);
			return;
		}
		x->h_sent += (uint64_t)r;
	}
	shutdown(fd, SHUT_WR);
}

static void *lx_host_write_main(void *arg)
{
	struct xfer *x = arg;

	lx_host_write(x, x->fd);
	return NULL;
}

/* The host application's reader (g2h, bidir): reads and checks the
 * backend's connection x->fd until EOF; with bidir a second thread writes. */
static void *lx_host_read(void *arg)
{
	struct xfer *x = arg;
	pthread_t wr;
	bool writer = false;
	int fd = x->fd;

	if (x->h2g)
		writer = pthread_create(&wr, NULL, lx_host_write_main, x) == 0;
	for (;;) {
		ssize_t r = read(fd, x->rbuf, cfg.read_size), bad;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fail("host read: %s after %" PRIu64 " bytes", strerror(errno), x->h_got);
			break;
		}
		if (r == 0) {
			if (x->h_got != cfg.bytes)
				fail("host: EOF after %" PRIu64 " of %" PRIu64 " bytes", x->h_got,
				     cfg.bytes);
			break;
		}
		bad = vvfe_pattern_check(&x->pg, x->h_got, x->rbuf, (size_t)r);
		if (bad >= 0) {
			fail("host: wrong byte at offset %" PRIu64, x->h_got + (uint64_t)bad);
			break;
		}
		x->h_got += (uint64_t)r;
		if (x->h_got > cfg.bytes) {
			fail("host: more bytes than sent (%" PRIu64 ")", x->h_got);
			break;
		}
		if (x->h_got == cfg.bytes)
			lx_dir_done();
	}
	if (writer)
		pthread_join(wr, NULL);
	__atomic_store_n(&x->host_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* g2h, bidir: the host application takes the backend's connections, one per
 * stream in the order the guest opened them (one at a time), and reads each
 * in a thread of its own. x is the array of cfg.streams streams. */
static void *lx_host_accept(void *arg)
{
	struct xfer *x = arg;
	pthread_t *th = calloc((size_t)cfg.streams, sizeof(*th));
	int i, n = 0;

	for (i = 0; th != NULL && i < cfg.streams && !is_failed(); i++) {
		x[i].fd = host_accept(x[i].lfd, 10000);
		if (x[i].fd < 0) {
			fail("host: the backend never connected to %s_%" PRIu32 " (stream %d)",
			     cfg.uds[0], cfg.port, i);
			break;
		}
		if (pthread_create(&th[i], NULL, lx_host_read, &x[i]) != 0)
			break;
		n++;
	}
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	for (i = n; i < cfg.streams; i++)
		__atomic_store_n(&x[i].host_done, 1, __ATOMIC_RELEASE);
	free(th);
	return NULL;
}

/*
 * h2g: the host application connects through the backend (CONNECT line,
 * "OK <port>" back), blocking, then writes. A close before any answer is
 * the backend refusing while the guest driver is not up yet: retried for a
 * while and counted, as in xfer_connect_host.
 */
static void *lx_host_h2g(void *arg)
{
	struct xfer *x = arg;
	uint64_t give_up = now_ns() + 3000000000ull;
	struct sockaddr_un sa;
	char line[64];
	size_t n;
	int fd, len;

	if (uds_addr(&sa, cfg.uds[0]) < 0) {
		fail("path too long: %s", cfg.uds[0]);
		goto out;
	}
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fail("connect %s: %s", cfg.uds[0], strerror(errno));
			goto out;
		}
		len = snprintf(line, sizeof(line), "CONNECT %" PRIu32 "\n", cfg.port);
		n = 0;
		if (send(fd, line, (size_t)len, MSG_NOSIGNAL) == len) {
			/* Byte by byte: what follows the line is stream data. */
			while (n < sizeof(line) - 1 && (n == 0 || line[n - 1] != '\n') &&
			       read(fd, line + n, 1) == 1)
				n++;
		}
		if (n > 0 || now_ns() >= give_up || is_failed())
			break;
		close(fd);
		host_connect_retries++;
		usleep(10000);
	}
	line[n] = 0;
	if (strncmp(line, "OK ", 3) != 0 || line[n - 1] != '\n') {
		fail("CONNECT %" PRIu32 ": bad answer \"%s\"", cfg.port, line);
		close(fd);
		goto out;
	}
	x->fd = fd;
	lx_host_write(x, fd);
out:
	__atomic_store_n(&x->host_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Guest side until its stream is established (and accepted, for h2g). */
static int lx_guest_establish(struct xfer *x)
{
	while (!is_failed() && (x->s == NULL || vvfe_stream_state(x->s) == VVFE_CONNECTING)) {
		if (x->s == NULL && !x->g2h)
			x->s = vvfe_accept(x->d, cfg.port);
		if (x->s == NULL || vvfe_stream_state(x->s) == VVFE_CONNECTING)
			if (gpoll(x->d) < 0)
				return -1;
	}
	if (x->s == NULL || vvfe_stream_state(x->s) != VVFE_ESTABLISHED) {
		fail("guest connect to port %" PRIu32 ": %s", cfg.port,
		     x->s && vvfe_stream_error(x->s) ? strerror(-vvfe_stream_error(x->s))
						     : "no stream");
		return -1;
	}
	return 0;
}

/* Start the host application's thread, then the guest's end of the stream
 * (g2h, bidir: it connects; h2g: it listens and the host connects). */
static int lx_open_stream(struct xfer *x, pthread_t *th, void *(*host)(void *))
{
	if (!x->g2h && vvfe_listen(x->d, cfg.port) < 0) {
		fail("guest listen on %" PRIu32 " failed", cfg.port);
		return -1;
	}
	if (pthread_create(th, NULL, host, x) != 0) {
		fail("pthread_create: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Guest side of stream x: connect (g2h, bidir) and wait until established. */
static int lx_guest_connect(struct xfer *x)
{
	if (x->g2h && vvfe_connect(x->d, cfg.port, &x->s) < 0) {
		fail("guest connect: out of ports or memory");
		return -1;
	}
	return lx_guest_establish(x);
}

/* All streams closed by the guest and ended on the host? */
static bool lx_all_done(const struct xfer *x, int n)
{
	for (int i = 0; i < n; i++)
		if (x[i].s != NULL || !__atomic_load_n(&x[i].host_done, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

/* g2h with --streams N: N streams from the guest at once, each with its own
 * pattern and host reader; their bytes add up. */
static int run_xfer_linux(bool g2h, bool h2g)
{
	int n = cfg.streams, lfd, opened;
	struct xfer *x = calloc((size_t)n, sizeof(*x));
	pthread_t th;
	bool started = false, g_done = false;

	if (x == NULL)
		return 1;
	x[0] = (struct xfer){.g2h = g2h, .h2g = h2g, .fd = -1};
	opened = xfer_open(&x[0], cfg.read_size, g2h, &lfd);
	if (opened < 0) {
		free(x);
		return 1;
	}
	lx_dirs_left = n * (g2h + h2g);
	x[0].lfd = lfd;
	for (int i = 1; i < n; i++) {
		x[i] = x[0];
		x[i].rbuf = malloc(cfg.read_size);
		vvfe_pattern_init(&x[i].pg, SEED_G2H + (uint64_t)i);
		if (x[i].rbuf == NULL) {
			fail("out of memory");
			n = i;
			goto out;
		}
	}
	if (opened > 0)
		goto out;
	set_progress("connecting");
	started = lx_open_stream(&x[0], &th, g2h ? lx_host_accept : lx_host_h2g) == 0;
	for (int i = 0; started && i < n; i++)
		if (lx_guest_connect(&x[i]) < 0)
			goto out;
	if (h2g)
		vvfe_stream_set_sink(x[0].s, xfer_sink, &x[0]);
	mark_start();
	set_progress("streaming");
	while (!is_failed()) {
		for (int i = 0; i < n; i++)
			xfer_guest(&x[i]);
		if (h2g && !g_done && x[0].g_got == cfg.bytes) {
			g_done = true;
			lx_dir_done();
		}
		if (lx_all_done(x, n))
			break;
		if (gpoll(x[0].d) < 0)
			break;
	}
out:
	if (started)
		pthread_join(th, NULL);
	for (int i = 0; i < n; i++) {
		res.bytes += x[i].h_got + x[i].g_got;
		if (i > 0) {
			/* The device and listener belong to stream 0. */
			if (x[i].s)
				vvfe_close(x[i].s);
			if (x[i].fd >= 0)
				close(x[i].fd);
			free(x[i].rbuf);
		}
	}
	xfer_close(&x[0], lfd);
	free(x);
	return 0;
}

/* The host application of a --guest linux ping-pong: write a message, block
 * until its echo is back and checked, time it. */
static void *lx_pp_host(void *arg)
{
	struct xfer *x = arg;
	uint64_t warm = cfg.count / 10 < 1000 ? cfg.count / 10 : 1000, total = cfg.count + warm;
	int fd = host_accept(x->lfd, 10000);

	if (fd < 0) {
		fail("host: the backend never connected to %s_%" PRIu32, cfg.uds[0], cfg.port);
		goto out;
	}
	x->fd = fd;
	for (uint64_t i = 0; i < total && !is_failed(); i++) {
		uint64_t t0, end = (i + 1) * cfg.size;

		if (i == warm)
			mark_start();
		t0 = now_ns();
		while (x->h_sent < end) {
			size_t n;
			const uint8_t *p = vvfe_pattern_ptr(&x->ph, x->h_sent, &n);
			ssize_t w;

			if (n > end - x->h_sent)
				n = (size_t)(end - x->h_sent);
			w = send(fd, p, n, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				fail("host write: %s", strerror(errno));
				goto out;
			}
			x->h_sent += (uint64_t)w;
		}
		while (x->h_got < end) {
			ssize_t got = read(fd, x->rbuf, (size_t)(end - x->h_got)), bad;

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				fail("host read: %s", got ? strerror(errno) : "EOF");
				goto out;
			}
			bad = vvfe_pattern_check(&x->pg, x->h_got, x->rbuf, (size_t)got);
			if (bad >= 0) {
				fail("host: wrong byte at offset %" PRIu64, x->h_got + (uint64_t)bad);
				goto out;
			}
			x->h_got += (uint64_t)got;
		}
		if (i >= warm) {
			vvfe_lat_add(&res.lat, now_ns() - t0);
			res.bytes += 2 * cfg.size;
			res.ops++;
		}
	}
	mark_end();
out:
	__atomic_store_n(&x->host_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int run_pingpong_linux(void)
{
	struct xfer x = {.g2h = true, .h2g = true, .fd = -1};
	pthread_t th;
	bool started = false;
	int lfd, opened = xfer_open(&x, cfg.size, true, &lfd);

	if (opened < 0)
		return 1;
	x.lfd = lfd;
	if (opened > 0)
		goto out;
	started = lx_open_stream(&x, &th, lx_pp_host) == 0;
	if (!started || lx_guest_connect(&x) < 0)
		goto out;
	vvfe_stream_set_sink(x.s, xfer_sink, &x);
	set_progress("ping-pong");
	while (!is_failed() && !__atomic_load_n(&x.host_done, __ATOMIC_ACQUIRE)) {
		if (g_recv_verify(x.s, &x.ph, &x.g_got, "guest") != 0) {
			if (!is_failed())
				fail("guest: stream ended after %" PRIu64 " bytes", x.g_got);
			break;
		}
		pp_echo(&x);
		if (gpoll(x.d) < 0)
			break;
	}
out:
	if (started)
		pthread_join(th, NULL);
	xfer_close(&x, lfd);
	return 0;
}

/* -------------------------------------------------------------- connrate */

static void *connrate_host(void *arg)
{
	struct host_arg *h = arg;

	for (uint64_t i = 0; i < cfg.count && !is_failed(); i++) {
		uint8_t b[8], junk;
		size_t got = 0;
		uint64_t v = 0;
		int fd = host_accept(h->lfd, 10000);

		if (fd < 0) {
			fail("host: connection %" PRIu64 " never came", i);
			break;
		}
		while (got < 8) {
			ssize_t r = read(fd, b + got, 8 - got);

			if (r <= 0) {
				fail("host: connection %" PRIu64 ": short read", i);
				break;
			}
			got += (size_t)r;
		}
		for (int k = 7; k >= 0; k--)
			v = v << 8 | b[k];
		if (got == 8 && v != i)
			fail("host: connection %" PRIu64 " carried index %" PRIu64, i, v);
		/* The guest closes after its 8 bytes: expect EOF. */
		if (got == 8 && read(fd, &junk, 1) != 0)
			fail("host: connection %" PRIu64 ": no EOF after the index", i);
		close(fd);
	}
	mark_end();
	return NULL;
}

static int run_connrate(void)
{
	struct host_arg h = {.vm = 0};
	struct vvfe_dev *d;
	pthread_t th;

	h.lfd = host_listen(cfg.uds[0], cfg.port);
	if (h.lfd < 0)
		return 1;
	pthread_create(&th, NULL, connrate_host, &h);
	d = guest_open(0);
	if (d) {
		mark_start();
		for (uint64_t i = 0; i < cfg.count && !is_failed(); i++) {
			struct vvfe_stream *s;
			uint8_t b[8];
			uint64_t t = now_ns();

			if (vvfe_connect(d, cfg.port, &s) < 0) {
				fail("guest connect: out of ports or memory");
				break;
			}
			if (g_established(d, s) < 0)
				break;
			vvfe_lat_add(&res.lat, now_ns() - t);
			for (int k = 0; k < 8; k++)
				b[k] = (uint8_t)(i >> (8 * k));
			while (vvfe_send(s, b, 8) == -EAGAIN)
				if (gpoll(d) < 0)
					break;
			vvfe_close(s);
			res.ops++;
			res.bytes += 8;
		}
		/* Keep the device going until the host saw all of them. */
		while (!is_failed() && __atomic_load_n(&t_end, __ATOMIC_SEQ_CST) == 0)
			if (gpoll(d) < 0)
				break;
	} else {
		mark_end();
	}
	pthread_join(th, NULL);
	if (d) {
		guest_finish(d, &res.st);
		res.have_st = true;
		vvfe_dev_free(d);
	}
	host_unlisten(cfg.uds[0], cfg.port, h.lfd);
	return 0;
}

/* ------------------------------------------------- conns / multi (many) */

/*
 * Many concurrent streams per VM: each guest stream sends an 8-byte index
 * then `bytes` of its own pattern; the host verifies, answers with `bytes`
 * of another pattern and shuts down; the guest verifies that and EOF.
 */
struct vm {
	int idx;
	int lfd;
	int nstreams;
	uint64_t host_bytes, guest_bytes;
	volatile int host_done;
	struct vvfe_stats st;
};

struct hconn {
	int fd;
	int64_t id;
	uint8_t idb[8];
	size_t idn;
	uint64_t got, sent;
	bool eof, wdone, shut, ready;
	struct vvfe_pattern pin, pout;
};

/* --backend-pid: a stream's host end shuts down only once every stream is
 * idle and the backend's memory was read (see rss). */
static void hconn_done_both_ways(struct hconn *h)
{
	if (cfg.bytes == 0)
		h->wdone = true;
	if (!h->ready && h->wdone && h->got == cfg.bytes) {
		h->ready = true;
		__atomic_add_fetch(&rss.h_ready, 1, __ATOMIC_ACQ_REL);
	}
	if (h->wdone && !h->shut && __atomic_load_n(&rss.release, __ATOMIC_ACQUIRE)) {
		h->shut = true;
		shutdown(h->fd, SHUT_WR);
	}
}

static uint64_t seed_of(int vm, int64_t stream, bool g2h)
{
	return (g2h ? 0x100000000ull : 0x200000000ull) + (uint64_t)vm * 0x1000000ull +
	       (uint64_t)stream;
}

static void *many_host(void *arg)
{
	struct vm *v = arg;
	struct hconn *c = calloc((size_t)v->nstreams, sizeof(*c));
	struct pollfd *p = calloc((size_t)v->nstreams + 1, sizeof(*p));
	uint8_t *buf = malloc(cfg.read_size > cfg.write_size ? cfg.read_size : cfg.write_size);
	int nc = 0, done = 0;

	while (!is_failed() && done < v->nstreams) {
		int np = 0;

		p[np++] = (struct pollfd){.fd = nc < v->nstreams ? v->lfd : -1, .events = POLLIN};
		for (int i = 0; i < nc; i++)
			p[np++] = (struct pollfd){
				.fd = c[i].fd,
				.events = (short)((c[i].eof ? 0 : POLLIN) |
						  (c[i].id >= 0 && c[i].got == cfg.bytes && !c[i].wdone
							   ? POLLOUT
							   : 0))};
		if (poll(p, (nfds_t)np, 100) <= 0) {
			/* Idle streams held open (rss): shut them once released. */
			for (int i = 0; i < nc; i++)
				if (c[i].fd >= 0 && c[i].id >= 0)
					hconn_done_both_ways(&c[i]);
			continue;
		}
		if (p[0].revents & POLLIN) {
			int fd = accept4(v->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (fd >= 0) {
				c[nc] = (struct hconn){.fd = fd, .id = -1};
				nc++;
			}
		}
		for (int i = 0; i < nc; i++) {
			struct hconn *h = &c[i];
			short re = p[i + 1].revents;

			if (h->fd < 0 || p[i + 1].fd != h->fd)
				continue;
			if (re & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t r = recv(h->fd, buf, cfg.read_size, MSG_DONTWAIT), k = 0;

				if (r == 0) {
					h->eof = true;
					if (h->got != cfg.bytes)
						fail("vm %d host: stream %" PRId64 " EOF at %" PRIu64,
						     v->idx, h->id, h->got);
				} else if (r < 0 && errno != EAGAIN) {
					fail("vm %d host: read: %s", v->idx, strerror(errno));
				}
				while (r > 0 && h->idn < 8 && k < r)
					h->idb[h->idn++] = buf[k++];
				if (h->id < 0 && h->idn == 8) {
					h->id = 0;
					for (int b = 7; b >= 0; b--)
						h->id = h->id << 8 | h->idb[b];
					if (h->id >= v->nstreams)
						fail("vm %d host: bad stream index %" PRId64, v->idx, h->id);
					vvfe_pattern_init(&h->pin, seed_of(v->idx, h->id, true));
					vvfe_pattern_init(&h->pout, seed_of(v->idx, h->id, false));
				}
				if (r > k) {
					ssize_t bad = vvfe_pattern_check(&h->pin, h->got, buf + k,
									 (size_t)(r - k));

					if (bad >= 0)
						fail("vm %d host: stream %" PRId64 " wrong byte at %" PRIu64,
						     v->idx, h->id, h->got + (uint64_t)bad);
					h->got += (uint64_t)(r - k);
					v->host_bytes += (uint64_t)(r - k);
					if (h->got > cfg.bytes)
						fail("vm %d host: stream %" PRId64 " too long", v->idx, h->id);
				}
			}
			if ((re & POLLOUT) && !h->wdone) {
				size_t n = (size_t)(cfg.bytes - h->sent < cfg.write_size
							    ? cfg.bytes - h->sent
							    : cfg.write_size);
				ssize_t r;

				vvfe_pattern_fill(&h->pout, h->sent, buf, n);
				r = send(h->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
				if (r > 0)
					h->sent += (uint64_t)r;
				else if (r < 0 && errno != EAGAIN)
					fail("vm %d host: write: %s", v->idx, strerror(errno));
				if (h->sent == cfg.bytes)
					h->wdone = true;
			}
			if (h->fd >= 0 && h->id >= 0)
				hconn_done_both_ways(h);
			if (h->eof && (h->wdone || cfg.bytes == 0)) {
				if (!h->shut)
					shutdown(h->fd, SHUT_WR);
				close(h->fd);
				h->fd = -1;
				done++;
			}
		}
	}
	for (int i = 0; i < nc; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	v->host_done = 1;
	free(c);
	free(p);
	free(buf);
	return NULL;
}

struct gconn {
	struct vvfe_stream *s;
	uint64_t sent, got;
	bool hdr_sent, eof, closed;
	struct vvfe_pattern pout, pin;
};

static void *many_guest(void *arg)
{
	struct vm *v = arg;
	struct gconn *g = calloc((size_t)v->nstreams, sizeof(*g));
	uint8_t *buf = malloc(cfg.write_size);
	struct vvfe_dev *d = guest_open(v->idx);
	int closed = 0, est = 0;

	if (d == NULL || g == NULL)
		goto out;
	/* rss: the backend's memory is read with every device up, before any
	 * stream opens. */
	__atomic_add_fetch(&rss.devs_up, 1, __ATOMIC_ACQ_REL);
	while (!is_failed() && !__atomic_load_n(&rss.go, __ATOMIC_ACQUIRE))
		if (gpoll(d) < 0)
			goto out;
	for (int i = 0; i < v->nstreams; i++) {
		vvfe_pattern_init(&g[i].pout, seed_of(v->idx, i, true));
		vvfe_pattern_init(&g[i].pin, seed_of(v->idx, i, false));
		if (vvfe_connect(d, cfg.port, &g[i].s) < 0) {
			fail("vm %d guest: connect %d failed", v->idx, i);
			goto out;
		}
	}
	/* All connections are in flight at once; wait for all of them. */
	while (!is_failed() && est < v->nstreams) {
		est = 0;
		for (int i = 0; i < v->nstreams; i++) {
			enum vvfe_state st = vvfe_stream_state(g[i].s);

			if (st == VVFE_CLOSED) {
				fail("vm %d guest: stream %d: %s", v->idx, i,
				     strerror(-vvfe_stream_error(g[i].s)));
				goto out;
			}
			est += st == VVFE_ESTABLISHED;
		}
		if (est < v->nstreams && gpoll(d) < 0)
			goto out;
	}
	mark_start();
	set_progress("vm %d: streams established", v->idx);
	while (!is_failed() && closed < v->nstreams) {
		for (int i = 0; i < v->nstreams && !is_failed(); i++) {
			struct gconn *c = &g[i];
			ssize_t n;

			if (c->closed)
				continue;
			if (!c->hdr_sent) {
				uint8_t b[8];

				for (int k = 0; k < 8; k++)
					b[k] = (uint8_t)((uint64_t)i >> (8 * k));
				/* The 8 bytes go in one packet or not at all: our
				 * credit and ring checks are all-or-nothing at 8. */
				n = vvfe_send(c->s, b, 8);
				if (n == 8)
					c->hdr_sent = true;
				else if (n > 0)
					fail("vm %d guest: partial index write", v->idx);
				else if (n != -EAGAIN)
					fail("vm %d guest: send: %s", v->idx, strerror((int)-n));
			}
			while (c->hdr_sent && c->sent < cfg.bytes) {
				size_t len = (size_t)(cfg.bytes - c->sent < cfg.write_size
							      ? cfg.bytes - c->sent
							      : cfg.write_size);

				vvfe_pattern_fill(&c->pout, c->sent, buf, len);
				n = vvfe_send(c->s, buf, len);
				if (n == -EAGAIN)
					break;
				if (n < 0) {
					fail("vm %d guest: send: %s", v->idx, strerror((int)-n));
					break;
				}
				c->sent += (uint64_t)n;
			}
			if (!c->eof) {
				uint64_t before = c->got;
				int r = g_recv_verify(c->s, &c->pin, &c->got, "guest");

				if (c->got == cfg.bytes && before < cfg.bytes)
					__atomic_add_fetch(&rss.g_ready, 1, __ATOMIC_ACQ_REL);
				if (r == 1) {
					if (c->got != cfg.bytes)
						fail("vm %d guest: stream %d EOF at %" PRIu64, v->idx, i,
						     c->got);
					c->eof = true;
				}
			}
			if (c->eof && c->sent == cfg.bytes && c->hdr_sent) {
				vvfe_close(c->s);
				c->closed = true;
				closed++;
				v->guest_bytes += c->got + c->sent;
			}
		}
		if (closed < v->nstreams && gpoll(d) < 0)
			break;
		if (v->idx == 0) {
			int eofs = 0, sent = 0;

			for (int i = 0; i < v->nstreams; i++) {
				eofs += g[i].eof;
				sent += g[i].sent == cfg.bytes;
			}
			set_progress("vm 0: %d streams, %d sent all, %d got EOF from the host, %d closed",
				     v->nstreams, sent, eofs, closed);
		}
	}
	/* The host finishes when it sees every EOF; keep serving it. */
	while (!is_failed() && !v->host_done)
		if (gpoll(d) < 0)
			break;
out:
	if (d) {
		guest_finish(d, &v->st);
		vvfe_dev_free(d);
	}
	free(g);
	free(buf);
	return NULL;
}

/* Wait until the flag counts want (or the run failed). */
static bool wait_count(int *flag, uint64_t want)
{
	while (!is_failed() && (uint64_t)__atomic_load_n(flag, __ATOMIC_ACQUIRE) < want)
		usleep(1000);
	return !is_failed();
}

/* --backend-pid: the backend's memory with every device up and no stream,
 * then with every stream open and idle, then let the streams end. */
static void many_rss(int nvms, uint64_t conns)
{
	struct timespec settle = {0, 300 * 1000 * 1000};

	set_progress("rss: waiting for %d devices", nvms);
	if (wait_count(&rss.devs_up, (uint64_t)nvms)) {
		/* The backend attaches a device a moment after its set-up. */
		nanosleep(&settle, NULL);
		if (backend_rss(&rss.anon[0], &rss.vm[0]) < 0)
			fail("rss: cannot read the memory of process %d", cfg.backend_pid);
	}
	__atomic_store_n(&rss.go, 1, __ATOMIC_RELEASE);
	set_progress("rss: waiting for %" PRIu64 " idle streams", conns);
	if (wait_count(&rss.h_ready, conns) && wait_count(&rss.g_ready, conns)) {
		uint64_t t0 = now_ns();

		nanosleep(&settle, NULL);
		if (backend_rss(&rss.anon[1], &rss.vm[1]) == 0) {
			rss.conns = conns;
			rss.measured = true;
		}
		/* The pause is no part of the transfer's time. */
		rss.hold_ns = now_ns() - t0;
	}
	__atomic_store_n(&rss.release, 1, __ATOMIC_RELEASE);
}

static int run_many(int nvms, int nstreams)
{
	struct vm vms[MAX_VMS];
	pthread_t gt[MAX_VMS], ht[MAX_VMS];

	memset(vms, 0, sizeof(vms));
	for (int i = 0; i < nvms; i++) {
		vms[i].idx = i;
		vms[i].nstreams = nstreams;
		vms[i].lfd = host_listen(cfg.uds[i], cfg.port);
		if (vms[i].lfd < 0)
			return 1;
	}
	rss.release = cfg.backend_pid <= 0;
	rss.go = cfg.backend_pid <= 0;
	for (int i = 0; i < nvms; i++) {
		pthread_create(&ht[i], NULL, many_host, &vms[i]);
		pthread_create(&gt[i], NULL, many_guest, &vms[i]);
	}
	if (cfg.backend_pid > 0)
		many_rss(nvms, (uint64_t)nvms * (uint64_t)nstreams);
	for (int i = 0; i < nvms; i++) {
		pthread_join(gt[i], NULL);
		if (!vms[i].host_done)
			fail("vm %d: guest ended before the host was done", i);
		pthread_join(ht[i], NULL);
	}
	mark_end();
	for (int i = 0; i < nvms; i++) {
		res.bytes += vms[i].guest_bytes;
		res.ops += (uint64_t)nstreams;
		host_unlisten(cfg.uds[i], cfg.port, vms[i].lfd);
	}
	res.st = vms[0].st;
	res.have_st = true;
	return 0;
}

/* ------------------------------------------------------ connlimit / stuck */

/* Accept every connection waiting on a non-blocking listener into fds. */
static void accept_all(int lfd, int *fds, uint64_t *n, uint64_t max)
{
	int fd;

	while (*n < max && (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0)
		fds[(*n)++] = fd;
}

/* End of a many-stream mode: close the streams still open, power the
 * guest off (its counters go to res), close host ends and the listener. */
static void many_close(struct vvfe_dev *d, struct vvfe_stream **s, uint64_t n, int *hfd,
		       uint64_t n_hfd, int lfd)
{
	if (d != NULL) {
		for (uint64_t i = 0; i < n; i++)
			if (s[i] != NULL && vvfe_stream_state(s[i]) != VVFE_CLOSED)
				vvfe_close(s[i]);
		guest_finish(d, &res.st);
		res.have_st = true;
		vvfe_dev_free(d);
	}
	for (uint64_t h = 0; hfd != NULL && h < n_hfd; h++)
		if (hfd[h] >= 0)
			close(hfd[h]);
	if (lfd >= 0)
		host_unlisten(cfg.uds[0], cfg.port, lfd);
}

/* The many-stream modes (connlimit, stuck, hostgone): a non-blocking
 * listener on "<uds>_<port>", then the guest; false (fail() said why)
 * when either is missing. */
static bool many_open(int *lfd, struct vvfe_dev **d)
{
	*lfd = host_listen(cfg.uds[0], cfg.port);
	if (*lfd < 0)
		return false;
	fcntl(*lfd, F_SETFL, fcntl(*lfd, F_GETFL) | O_NONBLOCK);
	*d = guest_open(0);
	return *d != NULL;
}

/*
 * connlimit: --count guest streams at once to the host listener. A backend
 * with a connection cap answers those past it with RST; the JSON says how
 * many were established and how many refused. Each established stream
 * carries its index (8 bytes) to the host, which checks that every
 * connection it got belongs to exactly one established stream.
 */
static int run_connlimit(void)
{
	uint64_t n = cfg.count, est = 0, refused = 0, accepted = 0, checked = 0;
	struct vvfe_stream **s = calloc(n, sizeof(*s));
	int *hfd = calloc(n, sizeof(*hfd));
	bool *seen = calloc(n, sizeof(*seen));
	struct vvfe_dev *d = NULL;
	char json[128];
	int lfd = -1;

	if (s == NULL || hfd == NULL || seen == NULL || !many_open(&lfd, &d))
		goto out;
	mark_start();
	for (uint64_t i = 0; i < n; i++)
		if (vvfe_connect(d, cfg.port, &s[i]) < 0) {
			fail("guest connect %" PRIu64 ": out of ports or memory", i);
			goto out;
		}
	set_progress("connlimit: %" PRIu64 " streams connecting", n);
	for (;;) {
		uint64_t connecting = 0;

		for (uint64_t i = 0; i < n; i++)
			connecting += vvfe_stream_state(s[i]) == VVFE_CONNECTING;
		accept_all(lfd, hfd, &accepted, n);
		if (connecting == 0)
			break;
		if (gpoll(d) < 0)
			goto out;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint8_t b[8];

		if (vvfe_stream_state(s[i]) != VVFE_ESTABLISHED) {
			if (!vvfe_stream_rst_received(s[i]))
				fail("stream %" PRIu64 " closed without RST: %s", i,
				     strerror(-vvfe_stream_error(s[i])));
			refused++;
			continue;
		}
		est++;
		for (int k = 0; k < 8; k++)
			b[k] = (uint8_t)(i >> (8 * k));
		while (vvfe_send(s[i], b, 8) == -EAGAIN)
			if (gpoll(d) < 0)
				goto out;
	}
	set_progress("connlimit: %" PRIu64 " established, host checking them", est);
	/* Every established stream reaches the host once, with its index. */
	while (!is_failed() && checked < est) {
		accept_all(lfd, hfd, &accepted, n);
		for (uint64_t h = 0; h < accepted; h++) {
			uint8_t b[8];
			uint64_t idx = 0;

			if (hfd[h] < 0 || recv(hfd[h], b, 8, MSG_PEEK | MSG_DONTWAIT) != 8)
				continue;
			if (recv(hfd[h], b, 8, MSG_DONTWAIT) != 8)
				fail("host: short read of an index");
			for (int k = 7; k >= 0; k--)
				idx = idx << 8 | b[k];
			if (idx >= n || seen[idx] || vvfe_stream_state(s[idx]) != VVFE_ESTABLISHED)
				fail("host: connection carried index %" PRIu64
				     ", not one established stream's",
				     idx);
			else
				seen[idx] = true;
			close(hfd[h]);
			hfd[h] = -1;
			checked++;
		}
		if (checked < est && gpoll(d) < 0)
			break;
	}
	if (accepted != est)
		fail("host accepted %" PRIu64 " connections for %" PRIu64 " established streams",
		     accepted, est);
	mark_end();
	res.bytes = checked * 8;
	res.ops = est;
out:
	many_close(d, s, s != NULL ? n : 0, hfd, accepted, lfd);
	free(s);
	free(hfd);
	free(seen);
	snprintf(json, sizeof(json), "\"established\":%" PRIu64 ",\"refused\":%" PRIu64, est,
		 refused);
	print_json(json);
	return 2;
}

/* No stream moved for this long: every one is out of credit. */
#define STUCK_QUIET_NS 500000000ull

/*
 * stuck: --count guest streams whose host end accepts and reads nothing (a
 * stuck host app). The guest sends each stream's own pattern until no
 * stream has moved for STUCK_QUIET_NS: each host socket is full, the
 * backend holds what it may for each stream, and the guest has no credit.
 * Then "STUCK streams=N bytes=B credit=C" (C: what the guest may still
 * send, all streams together) goes to stderr on a line of its own (a
 * harness measures the backend now), the tool serves the device for
 * --stuck-ms, and only then the host reads: every byte sent must arrive, in
 * order, then EOF after the guest's close.
 */
static int run_stuck(void)
{
	uint64_t n = cfg.count, accepted = 0, total = 0, quiet_since, drained = 0;
	struct vvfe_stream **s = calloc(n, sizeof(*s));
	uint64_t *sent = calloc(n, sizeof(*sent)), *got = calloc(n, sizeof(*got));
	int *hfd = calloc(n, sizeof(*hfd)), lfd = -1;
	uint8_t *buf = malloc(cfg.write_size > cfg.read_size ? cfg.write_size : cfg.read_size);
	struct vvfe_pattern *pat = calloc(n, sizeof(*pat));
	struct vvfe_dev *d = NULL;
	char json[128];

	if (!s || !sent || !got || !hfd || !buf || !pat || !many_open(&lfd, &d))
		goto out;
	for (uint64_t i = 0; i < n; i++) {
		vvfe_pattern_init(&pat[i], seed_of(0, (int64_t)i, true));
		if (vvfe_connect(d, cfg.port, &s[i]) < 0) {
			fail("guest connect %" PRIu64 ": out of ports or memory", i);
			goto out;
		}
	}
	mark_start();
	set_progress("stuck: %" PRIu64 " streams connecting", n);
	for (uint64_t est = 0; est < n || accepted < n;) {
		est = 0;
		for (uint64_t i = 0; i < n; i++) {
			if (vvfe_stream_state(s[i]) == VVFE_CLOSED) {
				fail("stream %" PRIu64 ": %s", i, strerror(-vvfe_stream_error(s[i])));
				goto out;
			}
			est += vvfe_stream_state(s[i]) == VVFE_ESTABLISHED;
		}
		accept_all(lfd, hfd, &accepted, n);
		if ((est < n || accepted < n) && gpoll(d) < 0)
			goto out;
	}
	set_progress("stuck: %" PRIu64 " streams sending to a host that does not read", n);
	quiet_since = now_ns();
	while (!is_failed() && now_ns() - quiet_since < STUCK_QUIET_NS) {
		for (uint64_t i = 0; i < n; i++) {
			size_t len = vvfe_stream_credit(s[i]);
			ssize_t r;

			if (len == 0)
				continue;
			if (len > cfg.write_size)
				len = cfg.write_size;
			vvfe_pattern_fill(&pat[i], sent[i], buf, len);
			r = vvfe_send(s[i], buf, len);
			if (r > 0) {
				sent[i] += (uint64_t)r;
				total += (uint64_t)r;
				quiet_since = now_ns();
			} else if (r != -EAGAIN) {
				fail("guest send on stream %" PRIu64 ": %s", i, strerror((int)-r));
				goto out;
			}
		}
		if (gpoll(d) < 0)
			goto out;
	}
	{
		uint64_t credit = 0;

		/* What the backend still lets the guest send: nothing, once every
		 * stream's buffer is full. */
		for (uint64_t i = 0; i < n; i++)
			credit += vvfe_stream_credit(s[i]);
		fprintf(stderr, "STUCK streams=%" PRIu64 " bytes=%" PRIu64 " credit=%" PRIu64 "\n", n,
			total, credit);
	}
	fflush(stderr);
	set_progress("stuck: holding %d ms", cfg.stuck_ms);
	for (uint64_t end = now_ns() + (uint64_t)cfg.stuck_ms * 1000000u; now_ns() < end;)
		if (gpoll(d) < 0)
			goto out;
	set_progress("stuck: the host reads %" PRIu64 " bytes", total);
	/* Host connections come in any order: each says which stream it is by
	 * the first bytes of its pattern, which only that stream's seed has. */
	while (!is_failed() && drained < n) {
		for (uint64_t h = 0; h < n; h++) {
			ssize_t r;

			if (hfd[h] < 0)
				continue;
			r = recv(hfd[h], buf, cfg.read_size, MSG_DONTWAIT);
			if (r < 0 && errno != EAGAIN)
				fail("host read: %s", strerror(errno));
			if (r <= 0)
				continue;
			if (got[h] == 0 && vvfe_pattern_check(&pat[h], 0, buf, (size_t)r) >= 0) {
				/* Find the stream whose pattern this is, swap it to h. */
				uint64_t j;

				for (j = 0; j < n; j++)
					if (got[j] == 0 &&
					    vvfe_pattern_check(&pat[j], 0, buf, (size_t)r) < 0)
						break;
				if (j == n) {
					fail("host: connection %" PRIu64 " is no stream's", h);
					goto out;
				}
				int tfd = hfd[h];

				hfd[h] = hfd[j];
				hfd[j] = tfd;
				h = j;
			}
			if (vvfe_pattern_check(&pat[h], got[h], buf, (size_t)r) >= 0) {
				fail("host: stream %" PRIu64 " wrong byte after %" PRIu64, h, got[h]);
				goto out;
			}
			got[h] += (uint64_t)r;
			res.bytes += (uint64_t)r;
			if (got[h] > sent[h])
				fail("host: stream %" PRIu64 " longer than sent", h);
			if (got[h] == sent[h])
				drained++;
		}
		if (drained < n && gpoll(d) < 0)
			goto out;
	}
	for (uint64_t i = 0; i < n; i++) {
		vvfe_close(s[i]);
		s[i] = NULL;
	}
	/* EOF on every host end after the guest's close. */
	for (uint64_t h = 0, eofs = 0; !is_failed() && eofs < n;) {
		ssize_t r = hfd[h] < 0 ? -1 : recv(hfd[h], buf, 1, MSG_DONTWAIT);

		if (r == 0) {
			close(hfd[h]);
			hfd[h] = -1;
			eofs++;
		} else if (r > 0) {
			fail("host: byte past the end of stream %" PRIu64, h);
		}
		if (++h == n) {
			h = 0;
			if (gpoll(d) < 0)
				break;
		}
	}
	mark_end();
	res.ops = n;
out:
	many_close(d, s, s != NULL ? n : 0, hfd, accepted, lfd);
	snprintf(json, sizeof(json), "\"streams\":%" PRIu64 ",\"stuck_bytes\":%" PRIu64, n, total);
	free(s);
	free(sent);
	free(got);
	free(hfd);
	free(buf);
	free(pat);
	print_json(json);
	return 2;
}

/*
 * hostgone: --count streams (default 8) carry --bytes each way (default
 * 4M); the host app of stream i reads and checks (i + 1) / (count + 1) of
 * what the guest sends, then vanishes: close() with bytes unread, never
 * reading the rest nor writing all of its own. Every guest stream must
 * then end, by RST or by EOF, within HOSTGONE_END_MS, with what it
 * received a correct prefix of the host's bytes; the guest closes it. The
 * backend's side of the streams must not hang nor corrupt anything.
 */
#define HOSTGONE_END_MS 3000u

struct gone {
	struct vvfe_stream *s;
	int fd;                      /* host end, -1 once gone */
	uint64_t g_sent, g_got;      /* guest side */
	uint64_t h_got, h_sent, cut; /* host side: it vanishes at h_got == cut */
	uint64_t gone_ns;
	bool ended;
	struct vvfe_pattern pg, ph;
};

static void hostgone_host(struct gone *c, uint8_t *buf, uint64_t *vanished)
{
	ssize_t r;

	while (c->fd >= 0 && c->h_got < c->cut) {
		size_t want = cfg.read_size < c->cut - c->h_got ? cfg.read_size
								 : (size_t)(c->cut - c->h_got);

		r = recv(c->fd, buf, want, MSG_DONTWAIT);
		if (r <= 0) {
			if (r == 0 || (errno != EAGAIN && errno != EINTR))
				fail("host: stream ended before the app left (%s)",
				     r == 0 ? "EOF" : strerror(errno));
			break;
		}
		if (vvfe_pattern_check(&c->pg, c->h_got, buf, (size_t)r) >= 0)
			fail("host: wrong byte after %" PRIu64, c->h_got);
		c->h_got += (uint64_t)r;
	}
	if (c->fd >= 0 && c->h_sent < cfg.bytes / 2) {
		size_t n = cfg.write_size;

		if (n > cfg.bytes / 2 - c->h_sent)
			n = (size_t)(cfg.bytes / 2 - c->h_sent);
		vvfe_pattern_fill(&c->ph, c->h_sent, buf, n);
		r = send(c->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r > 0)
			c->h_sent += (uint64_t)r;
	}
	if (c->fd >= 0 && c->h_got == c->cut) {
		close(c->fd); /* unread bytes in the socket: the backend sees a reset */
		c->fd = -1;
		c->gone_ns = now_ns();
		(*vanished)++;
	}
}

static void hostgone_guest(struct gone *c, uint8_t *buf)
{
	ssize_t r;

	if (c->ended)
		return;
	while (c->g_sent < cfg.bytes) {
		size_t n = cfg.write_size < cfg.bytes - c->g_sent ? cfg.write_size
								  : (size_t)(cfg.bytes - c->g_sent);

		vvfe_pattern_fill(&c->pg, c->g_sent, buf, n);
		r = vvfe_send(c->s, buf, n);
		if (r <= 0)
			break; /* no credit, or the stream ended: seen below */
		c->g_sent += (uint64_t)r;
	}
	/* What came must be the host's bytes in order; the end may be EOF
	 * or RST (unread bytes made the host's close a reset). */
	for (const void *p; (r = (ssize_t)vvfe_recv_peek(c->s, &p)) > 0;) {
		if (vvfe_pattern_check(&c->ph, c->g_got, p, (size_t)r) >= 0)
			fail("guest: wrong byte after %" PRIu64, c->g_got);
		c->g_got += (uint64_t)r;
		vvfe_recv_consume(c->s, (size_t)r);
	}
	r = vvfe_recv(c->s, buf, 1);
	if (r > 0)
		fail("guest: byte past what it peeked");
	if (r == 0 || r == -ECONNRESET || vvfe_stream_state(c->s) == VVFE_CLOSED) {
		c->ended = true;
		vvfe_close(c->s);
		c->s = NULL;
		return;
	}
	if (c->gone_ns && now_ns() - c->gone_ns > HOSTGONE_END_MS * 1000000ull)
		fail("guest: stream still open %u ms after its host app left", HOSTGONE_END_MS);
}

static int run_hostgone(void)
{
	uint64_t n = cfg.count, accepted = 0, ended = 0, vanished = 0;
	struct gone *c = calloc(n, sizeof(*c));
	int *hfd = calloc(n, sizeof(*hfd)), lfd = -1;
	uint8_t *buf = malloc(cfg.write_size > cfg.read_size ? cfg.write_size : cfg.read_size);
	struct vvfe_dev *d = NULL;

	if (!c || !hfd || !buf || !many_open(&lfd, &d))
		goto out;
	mark_start();
	/* One stream at a time up to established: the host end's order is
	 * then the guest's. */
	for (uint64_t i = 0; i < n; i++) {
		c[i].fd = -1;
		c[i].cut = cfg.bytes * (i + 1) / (n + 1);
		vvfe_pattern_init(&c[i].pg, seed_of(0, (int64_t)i, true));
		vvfe_pattern_init(&c[i].ph, seed_of(0, (int64_t)i, false));
		if (vvfe_connect(d, cfg.port, &c[i].s) < 0 || g_established(d, c[i].s) < 0)
			goto out;
		while (accepted <= i && !is_failed()) {
			accept_all(lfd, hfd, &accepted, i + 1);
			if (accepted <= i && gpoll(d) < 0)
				goto out;
		}
		c[i].fd = hfd[i];
	}
	set_progress("hostgone: %" PRIu64 " streams, their host apps leave one by one", n);
	while (!is_failed() && ended < n) {
		ended = 0;
		for (uint64_t i = 0; i < n; i++) {
			hostgone_host(&c[i], buf, &vanished);
			hostgone_guest(&c[i], buf);
			ended += c[i].ended;
		}
		if (ended < n && gpoll(d) < 0)
			break;
	}
	mark_end();
	for (uint64_t i = 0; i < n; i++)
		res.bytes += c[i].h_got + c[i].g_got;
	res.ops = vanished;
out:
	if (d != NULL) {
		for (uint64_t i = 0; i < n; i++)
			if (c[i].s != NULL)
				vvfe_close(c[i].s);
		guest_finish(d, &res.st);
		res.have_st = true;
		vvfe_dev_free(d);
	}
	for (uint64_t i = 0; c != NULL && i < n; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	if (lfd >= 0)
		host_unlisten(cfg.uds[0], cfg.port, lfd);
	free(c);
	free(hfd);
	free(buf);
	return 0;
}

/* ------------------------------------------------------------------ raw */

/*
 * The ceiling: one Unix stream socket between two host processes, nothing
 * in between. The writer (a child process) writes from the pattern table,
 * as the transfer modes' host end does; the reader (this process) checks
 * every byte. --raw-cpus places the two processes; --raw-poll makes both
 * ends non-blocking and spinning, as a busy-polling backend and the
 * transfer modes' host end are, instead of sleeping in read and write.
 */

/* Pin the calling process or thread to cpu (if >= 0). */
static int pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* The writer process: returns its exit status. */
static int raw_writer(int fd)
{
	struct vvfe_pattern pat;
	uint64_t done = 0;

	if (pin_self(cfg.raw_cpu[0]) != 0) {
		fprintf(stderr, "vv-frontend raw: cannot pin the writer to CPU %d: %s\n",
			cfg.raw_cpu[0], strerror(errno));
		return 1;
	}
	vvfe_pattern_init(&pat, SEED_G2H);
	while (done < cfg.bytes) {
		size_t n;
		const uint8_t *p = vvfe_pattern_ptr(&pat, done, &n);
		ssize_t r;

		if (n > cfg.write_size)
			n = cfg.write_size;
		if (n > cfg.bytes - done)
			n = (size_t)(cfg.bytes - done);
		r = send(fd, p, n, MSG_NOSIGNAL | (cfg.raw_poll ? MSG_DONTWAIT : 0));
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0) {
			fprintf(stderr, "vv-frontend raw: write: %s\n", strerror(errno));
			return 1;
		}
		done += (uint64_t)r;
	}
	shutdown(fd, SHUT_WR);
	return 0;
}

static int run_raw(void)
{
	struct vvfe_pattern pat;
	uint8_t *buf = malloc(cfg.read_size);
	int fd[2], st = 0;
	pid_t pid;

	vvfe_pattern_init(&pat, SEED_G2H);
	if (buf == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) < 0) {
		fail("socketpair: %s", strerror(errno));
		free(buf);
		return 1;
	}
	if (pin_self(cfg.raw_cpu[1]) != 0)
		fail("raw: cannot pin the reader to CPU %d: %s", cfg.raw_cpu[1], strerror(errno));
	mark_start();
	pid = fork();
	if (pid == 0) {
		close(fd[1]);
		/* The reader's watchdog may leave without waiting for us. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(raw_writer(fd[0]));
	}
	close(fd[0]);
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	while (pid > 0 && !is_failed()) {
		ssize_t r = recv(fd[1], buf, cfg.read_size, cfg.raw_poll ? MSG_DONTWAIT : 0), bad;

		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		bad = vvfe_pattern_check(&pat, res.bytes, buf, (size_t)r);
		if (bad >= 0) {
			fail("raw: wrong byte at %" PRIu64, res.bytes + (uint64_t)bad);
			break;
		}
		res.bytes += (uint64_t)r;
	}
	mark_end();
	close(fd[1]);
	if (pid > 0 && (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0))
		fail("raw: the writer process failed (status %d)", st);
	if (res.bytes != cfg.bytes)
		fail("raw: got %" PRIu64 " of %" PRIu64, res.bytes, cfg.bytes);
	free(buf);
	return 0;
}

/*
 * The ping-pong floor: two threads on one Unix socket pair, each asleep in
 * read() until the other writes, placed by --raw-cpus A,B as a vhost path
 * places the host application (A: it writes a message and times the echo)
 * and the backend (B: it echoes). No guest, no virtqueue: what the round
 * trip between two sleeping programs costs on this machine anyway.
 */
struct rawpp {
	int fd;
	int cpu;
};

/* Read exactly len bytes (blocking); false at EOF or on an error. */
static bool read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

static void *rawpp_echo(void *arg)
{
	struct rawpp *e = arg;
	uint8_t *buf = malloc(cfg.size);

	if (buf == NULL || pin_self(e->cpu) != 0) {
		fail("rawpp: echo thread set-up failed");
		shutdown(e->fd, SHUT_RDWR);
	}
	while (buf != NULL && read_full(e->fd, buf, cfg.size))
		if (send(e->fd, buf, cfg.size, MSG_NOSIGNAL) != (ssize_t)cfg.size)
			break;
	free(buf);
	return NULL;
}

static int run_rawpp(void)
{
	uint64_t warm = cfg.count / 10 < 1000 ? cfg.count / 10 : 1000, total = cfg.count + warm;
	struct vvfe_pattern pat;
	struct rawpp echo;
	uint8_t *buf = malloc(cfg.size);
	pthread_t th;
	int fd[2];

	vvfe_pattern_init(&pat, SEED_H2G);
	if (buf == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) < 0) {
		fail("socketpair: %s", strerror(errno));
		free(buf);
		return 1;
	}
	echo = (struct rawpp){.fd = fd[1], .cpu = cfg.raw_cpu[1]};
	if (pin_self(cfg.raw_cpu[0]) != 0)
		fail("rawpp: cannot pin to CPU %d: %s", cfg.raw_cpu[0], strerror(errno));
	pthread_create(&th, NULL, rawpp_echo, &echo);
	for (uint64_t i = 0; i < total && !is_failed(); i++) {
		size_t n;
		const uint8_t *p = vvfe_pattern_ptr(&pat, i * cfg.size, &n);
		uint64_t t0;

		if (i == warm)
			mark_start();
		t0 = now_ns();
		if (send(fd[0], p, cfg.size, MSG_NOSIGNAL) != (ssize_t)cfg.size ||
		    !read_full(fd[0], buf, cfg.size)) {
			fail("rawpp: round trip %" PRIu64 ": %s", i, strerror(errno));
			break;
		}
		if (i >= warm) {
			vvfe_lat_add(&res.lat, now_ns() - t0);
			res.bytes += 2 * cfg.size;
			res.ops++;
		}
		if (vvfe_pattern_check(&pat, i * cfg.size, buf, cfg.size) >= 0) {
			fail("rawpp: the echo of message %" PRIu64 " differs", i);
			break;
		}
	}
	mark_end();
	shutdown(fd[0], SHUT_WR);
	pthread_join(th, NULL);
	close(fd[0]);
	close(fd[1]);
	free(buf);
	return 0;
}

/*
 * The connection set-up ceiling: the connections a backend makes to the
 * host application, made by a plain client with nothing before it. The
 * client, on --raw-cpus W (where the backend runs), connects, writes the
 * 8-byte index and closes, one connection after the other; the host
 * application is connrate's own (accept, read the index, read EOF, close)
 * on R. A Unix connect completes without waiting for accept, so the client
 * never sleeps: this is what the host's sockets alone allow on this
 * machine, before any guest, virtqueue or protocol is involved.
 */
static int run_rawconn(void)
{
	char dir[] = "/tmp/vvfe-rawconn-XXXXXX", host_uds[64];
	struct host_arg h = {.vm = 0, .lfd = -1};
	struct sockaddr_un sa;
	pthread_t hth;
	bool host_on = false;

	if (mkdtemp(dir) == NULL) {
		fail("rawconn: mkdtemp: %s", strerror(errno));
		return 1;
	}
	snprintf(host_uds, sizeof(host_uds), "%s/host", dir);
	h.lfd = host_listen(host_uds, cfg.port);
	if (h.lfd < 0)
		goto out;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%" PRIu32, host_uds, cfg.port);
	if (pin_self(cfg.raw_cpu[1]) != 0)
		fail("rawconn: cannot pin the host application to CPU %d: %s", cfg.raw_cpu[1],
		     strerror(errno));
	host_on = pthread_create(&hth, NULL, connrate_host, &h) == 0;
	if (!host_on || pin_self(cfg.raw_cpu[0]) != 0) {
		fail("rawconn: set-up: %s", strerror(errno));
		goto out;
	}
	mark_start();
	for (uint64_t i = 0; i < cfg.count && !is_failed(); i++) {
		uint64_t t = now_ns();
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		uint8_t b[8];

		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fail("rawconn: connection %" PRIu64 ": %s", i, strerror(errno));
			if (fd >= 0)
				close(fd);
			break;
		}
		vvfe_lat_add(&res.lat, now_ns() - t);
		for (int j = 0; j < 8; j++)
			b[j] = (uint8_t)(i >> (8 * j));
		if (write(fd, b, 8) != 8)
			fail("rawconn: connection %" PRIu64 ": write: %s", i, strerror(errno));
		close(fd);
		res.ops++;
		res.bytes += 8;
	}
out:
	if (host_on)
		pthread_join(hth, NULL);
	else
		mark_end();
	host_unlisten(host_uds, cfg.port, h.lfd);
	rmdir(dir);
	return 0;
}

/* -------------------------------------------------------------- hostile */

/* Host end of the healthy stream: verifies everything it reads. */
struct sink {
	int lfd;
	uint64_t seed;
	uint64_t got;
	volatile int eof, err, corrupt, accepted;
	volatile int pause; /* stop reading: the backend's buffer fills up */
	pthread_t th;
};

static void *sink_main(void *arg)
{
	struct sink *k = arg;
	struct vvfe_pattern pat;
	uint8_t buf[65536];
	int fd;

	vvfe_pattern_init(&pat, k->seed);
	fd = host_accept(k->lfd, 5000);
	if (fd < 0) {
		k->err = 1;
		return NULL;
	}
	k->accepted = 1;
	for (;;) {
		ssize_t r, bad;

		if (__atomic_load_n(&k->pause, __ATOMIC_ACQUIRE)) {
			usleep(1000);
			continue;
		}
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0)
				k->err = errno;
			break;
		}
		bad = vvfe_pattern_check(&pat, k->got, buf, (size_t)r);
		if (bad >= 0) {
			k->corrupt = 1;
			break;
		}
		__atomic_add_fetch(&k->got, (uint64_t)r, __ATOMIC_SEQ_CST);
	}
	k->eof = 1;
	close(fd);
	return NULL;
}

static bool wait_until(struct vvfe_dev *d, volatile int *flag, uint64_t *counter, uint64_t want,
		       int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;

	while (now_ns() < end) {
		if (flag && *flag)
			return true;
		if (counter && __atomic_load_n(counter, __ATOMIC_SEQ_CST) >= want)
			return true;
		if (d && vvfe_dev_running(d)) {
			if (vvfe_poll(d, 5) < 0)
				d = NULL;
		} else {
			usleep(5000);
		}
	}
	return false;
}

static const char *answer_name(enum vvfe_answer a)
{
	static const char *const n[] = {"none", "rst", "other", "disconnect"};

	return n[a];
}

/* Send len pattern bytes on s without failing the run; false if stuck. */
static bool try_send(struct vvfe_dev *d, struct vvfe_stream *s, const struct vvfe_pattern *pat,
		     uint64_t pos, uint64_t len, int ms)
{
	uint8_t buf[4096];
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u, done = 0;

	while (done < len && now_ns() < end) {
		size_t n = len - done < sizeof(buf) ? (size_t)(len - done) : sizeof(buf);
		ssize_t r;

		vvfe_pattern_fill(pat, pos + done, buf, n);
		r = vvfe_send(s, buf, n);
		if (r > 0) {
			done += (uint64_t)r;
			continue;
		}
		if (r != -EAGAIN || vvfe_poll(d, 5) < 0)
			return false;
	}
	return done == len;
}

/* One case's verdict into the run's counts. */
static void count_case(const char *why, int *npass, int *nfail)
{
	if (why != NULL && why[0] != '\0')
		(*nfail)++;
	else
		(*npass)++;
	res.ops++;
}

/* Close the JSON cases array; the run fails if any case did. */
static void cases_end(FILE *js, int npass, int nfail, const char *what)
{
	fprintf(js, "],\"passed\":%d,\"failed\":%d", npass, nfail);
	fclose(js);
	mark_end();
	if (nfail)
		fail("%d %s case(s) failed", nfail, what);
}

static int run_hostile(void)
{
	struct vvfe_dev *d = guest_open(0);
	char *json = NULL;
	size_t jlen = 0;
	FILE *js = open_memstream(&json, &jlen);
	int first_case = 0, last_case = VVFE_HOSTILE_COUNT - 1, npass = 0, nfail = 0;
	int lfd = host_listen(cfg.uds[0], cfg.port);

	if (d == NULL || lfd < 0 || js == NULL)
		return 1;
	if (cfg.hostile_case && strcmp(cfg.hostile_case, "all") != 0) {
		first_case = last_case = vvfe_hostile_from_name(cfg.hostile_case);
		if (first_case < 0) {
			fail("unknown hostile case %s", cfg.hostile_case);
			return 1;
		}
	}
	mark_start();
	fprintf(js, "\"cases\":[");
	for (int c = first_case; c <= last_case; c++) {
		struct vvfe_hostile_result r;
		struct sink k = {.lfd = lfd, .seed = 0x3000u + (uint64_t)c};
		struct vvfe_pattern pat;
		struct vvfe_stream *s = NULL;
		char why[160] = "";
		const uint64_t pre = 64 * 1024, post = 64 * 1024;
		uint64_t expect;
		bool alive_after;
		int rc;

		if (first_case != last_case && !vvfe_hostile_applies(d, (enum vvfe_hostile)c)) {
			fprintf(js, "%s{\"case\":\"%s\",\"pass\":true,\"skipped\":true}",
				c > first_case ? "," : "", vvfe_hostile_name(c));
			continue;
		}
		if (!vvfe_dev_running(d) && vvfe_dev_reconnect(d) < 0) {
			snprintf(why, sizeof(why), "backend did not take a new connection");
			fprintf(js, "%s{\"case\":\"%s\",\"pass\":false,\"why\":\"%s\"}",
				c > first_case ? "," : "", vvfe_hostile_name(c), why);
			nfail++;
			break;
		}
		vvfe_pattern_init(&pat, k.seed);
		pthread_create(&k.th, NULL, sink_main, &k);
		if (vvfe_connect(d, cfg.port, &s) < 0 || g_established(d, s) < 0) {
			k.err = 1;
			pthread_join(k.th, NULL);
			break;
		}
		if (!try_send(d, s, &pat, 0, pre, 5000) ||
		    !wait_until(d, NULL, &k.got, pre, 5000)) {
			fail("healthy stream did not carry its first %" PRIu64 " bytes", pre);
			pthread_join(k.th, NULL);
			break;
		}
		/* A host app that stops reading makes the backend hold all the
		 * credit it gave: only then is sending more a real overrun. */
		if (c == VVFE_HOSTILE_CREDIT_VIOLATION)
			__atomic_store_n(&k.pause, 1, __ATOMIC_RELEASE);
		rc = vvfe_hostile_run(d, (enum vvfe_hostile)c, s, &pat, cfg.probe_port, cfg.wait_ms,
				      &r);
		__atomic_store_n(&k.pause, 0, __ATOMIC_RELEASE);
		expect = pre + r.sent_bytes;
		if (rc < 0)
			snprintf(why, sizeof(why), "case could not run: %s", strerror(-rc));
		/* After the case: the stream should still carry data. */
		bool stream_after = false;
		if (r.stream_ok && r.alive && vvfe_dev_running(d) &&
		    try_send(d, s, &pat, expect, post, 4 * cfg.wait_ms) &&
		    wait_until(d, NULL, &k.got, expect + post, 4 * cfg.wait_ms)) {
			stream_after = true;
			expect += post;
		}
		/* A device that no longer answers cannot carry our RST: take
		 * the VM down, as a watchdog would; its host end must close. */
		if (!r.alive && vvfe_dev_running(d))
			vvfe_dev_abort(d);
		if (vvfe_dev_running(d))
			vvfe_reset(s);
		else
			vvfe_close(s);
		/* The host end must end too: a dead guest must not leave it open. */
		bool host_eof = wait_until(d, &k.eof, NULL, 0, 4 * cfg.wait_ms + 2000);
		if (!host_eof) {
			/* Unblock the sink so we can go on; this is a finding. */
			vvfe_dev_abort(d);
			host_eof = wait_until(NULL, &k.eof, NULL, 0, 3000);
		}
		if (!k.eof)
			pthread_cancel(k.th);
		pthread_join(k.th, NULL);
		alive_after = r.alive;
		if (!alive_after) {
			/* A device may legitimately give up on a broken ring;
			 * the backend itself must still accept a new VM boot. */
			if (vvfe_dev_reconnect(d) == 0)
				alive_after = vvfe_probe(d, cfg.probe_port, 2000) == 1;
		}
		if (!why[0] && k.corrupt)
			snprintf(why, sizeof(why), "host received bytes that were never validly sent");
		else if (!why[0] && k.got > expect)
			snprintf(why, sizeof(why), "host received %" PRIu64 " bytes, only %" PRIu64
				 " were valid", k.got, expect);
		else if (!why[0] && !alive_after)
			snprintf(why, sizeof(why), "backend no longer answers, even after reconnect");
		else if (!why[0] && !host_eof)
			snprintf(why, sizeof(why), "host end of the stream never closed");
		else if (!why[0] && c == VVFE_HOSTILE_UNKNOWN_TYPE && r.answer != VVFE_ANSWER_RST)
			snprintf(why, sizeof(why), "unknown type must be answered by RST (spec MUST)");
		else if (!why[0] && c == VVFE_HOSTILE_TINY_FLOOD && !stream_after)
			snprintf(why, sizeof(why), "stream broken by a flood of valid tiny packets");
		else if (!why[0] && c == VVFE_HOSTILE_CREDIT_VIOLATION && r.stream_ok &&
			 k.got < pre + r.sent_bytes)
			snprintf(why, sizeof(why), "stream kept open but %" PRIu64
				 " bytes silently lost", pre + r.sent_bytes - k.got);
		fprintf(js,
			"%s{\"case\":\"%s\",\"pass\":%s,\"answer\":\"%s\",\"answer_op\":%u,"
			"\"ops_seen\":%u,\"rst_us\":%u,\"used_returned\":%s,\"used_len\":%u,\"stream_ok\":%s,\"stream_after\":%s,"
			"\"alive\":%s,\"alive_after_reconnect\":%s,\"host_bytes\":%" PRIu64
			",\"valid_bytes\":%" PRIu64 ",\"host_eof\":%s,\"note\":\"%s\"%s%s%s}",
			c > first_case ? "," : "", vvfe_hostile_name(c), why[0] ? "false" : "true",
			answer_name(r.answer), r.answer_op, r.ops_seen, r.rst_us,
			r.used_returned ? "true" : "false",
			r.used_len, r.stream_ok ? "true" : "false", stream_after ? "true" : "false",
			r.alive ? "true" : "false", alive_after ? "true" : "false", k.got, expect,
			host_eof ? "true" : "false", r.note, why[0] ? ",\"why\":\"" : "", why,
			why[0] ? "\"" : "");
		fprintf(stderr, "hostile %-17s %s answer=%s used=%d stream_ok=%d after=%d alive=%d %s%s\n",
			vvfe_hostile_name(c), why[0] ? "FAIL" : "pass", answer_name(r.answer),
			r.used_returned, r.stream_ok, stream_after, r.alive, r.note, why);
		count_case(why, &npass, &nfail);
	}
	cases_end(js, npass, nfail, "hostile");
	host_unlisten(cfg.uds[0], cfg.port, lfd);
	res.st = *vvfe_dev_stats(d);
	vvfe_dev_free(d);
	print_json(json);
	free(json);
	return 2; /* printed */
}

/* ----------------------------------------------------------- vuhostile */

/*
 * Hostile vhost-user front-end (vvfe_vuhostile.c) against VM 0: every case
 * must end with the backend closing the misbehaving connection (and, for
 * cases with a running stream, the stream's host end), and a correct
 * front-end must be served right after it. The backend's own fds and
 * counters are checked by the caller (tests/integration).
 */
static const char *vuh_failure(enum vvfe_vuhostile c, const struct vvfe_vuh_result *r)
{
	switch (c) {
	case VVFE_VUH_REMAP_REFUSED:
	case VVFE_VUH_REMAP_RINGS_GONE:
	case VVFE_VUH_TRUNCATE_RUNNING:
	case VVFE_VUH_TRUNCATE_TX_HDR:
		if (!r->closed)
			return "the front-end was not disconnected";
		if (!r->host_eof)
			return "the stream's host end stayed open";
		return NULL;
	case VVFE_VUH_MISSING_PAYLOAD:
		if (!r->closed)
			return "the connection stayed open";
		/* The vhost-events thread serves every VM: what one stalled
		 * read costs the others must stay bounded. */
		if (r->other_ms < 0 || r->other_ms > 3000)
			return "another front-end waited too long for its reply";
		return NULL;
	case VVFE_VUH_FLOOD_CLOSE:
		return r->closed ? NULL : "a correct front-end was not served after the flood";
	default:
		return r->closed ? NULL : "the connection stayed open";
	}
}

static int run_vuhostile(void)
{
	struct vvfe_vuh_opts ho = {.uds_path = cfg.uds[0], .port = cfg.port};
	struct vvfe_opts o = cfg.fe;
	int first = 0, last = VVFE_VUH_COUNT - 1, npass = 0, nfail = 0;
	char *json = NULL;
	size_t jlen = 0;
	FILE *js = open_memstream(&json, &jlen);

	if (js == NULL)
		return 1;
	o.socket_path = cfg.sock[0];
	if (cfg.hostile_case && strcmp(cfg.hostile_case, "all") != 0) {
		first = last = vvfe_vuhostile_from_name(cfg.hostile_case);
		if (first < 0) {
			fail("unknown vuhostile case %s", cfg.hostile_case);
			return 1;
		}
	}
	mark_start();
	fprintf(js, "\"cases\":[");
	for (int c = first; c <= last && !is_failed(); c++) {
		struct vvfe_vuh_result r;
		const char *why;
		struct vvfe_dev *d;
		bool served = false;
		uint64_t t0;
		int rc, serve_ms = -1;

		set_progress("vuhostile %s", vvfe_vuhostile_name(c));
		rc = vvfe_vuhostile_run((enum vvfe_vuhostile)c, &o, &ho, cfg.wait_ms, &r);
		why = rc < 0 ? "the case could not be set up" : vuh_failure(c, &r);
		/* Whatever happened, the VM must serve a correct front-end now. */
		t0 = now_ns();
		d = vvfe_dev_create(&o);
		if (d != NULL && vvfe_probe(d, cfg.probe_port, cfg.wait_ms > 2000 ? cfg.wait_ms : 2000) == 1) {
			served = true;
			serve_ms = (int)((now_ns() - t0) / 1000000u);
		}
		vvfe_dev_free(d);
		if (why == NULL && !served)
			why = "no correct front-end served afterwards";
		fprintf(js,
			"%s{\"case\":\"%s\",\"pass\":%s,\"closed\":%s,\"close_ms\":%d,"
			"\"host_eof\":%s,\"host_eof_ms\":%d,\"other_ms\":%d,\"sent\":%u,"
			"\"served_after\":%s,\"serve_ms\":%d,\"setup\":%d,\"note\":\"%s\"%s%s%s}",
			c > first ? "," : "", vvfe_vuhostile_name(c), why ? "false" : "true",
			r.closed ? "true" : "false", r.close_ms, r.host_eof ? "true" : "false",
			r.host_eof_ms, r.other_ms, r.sent, served ? "true" : "false", serve_ms, rc,
			r.note, why ? ",\"why\":\"" : "", why ? why : "", why ? "\"" : "");
		fprintf(stderr, "vuhostile %-17s %s closed=%d in %d ms host_eof=%d served=%d %s%s%s\n",
			vvfe_vuhostile_name(c), why ? "FAIL" : "pass", r.closed, r.close_ms,
			r.host_eof, served, r.note, why ? ": " : "", why ? why : "");
		count_case(why, &npass, &nfail);
	}
	cases_end(js, npass, nfail, "vuhostile");
	print_json(json);
	free(json);
	return 2; /* printed */
}

/* --------------------------------------------------------------- vm2vm */

/*
 * VM-to-VM streams: 2K devices in this process, guests of VMs the backend
 * puts in one group. VM i and VM i+K are a pair: VM i opens S streams to
 * VM i+K, and every stream carries N verified bytes each way, then closes.
 * One thread drives every device (vvfe_wait sleeps on all of them). Each
 * guest sends zero-copy from its own copy of the pattern table and checks
 * what it receives in place.
 *
 * --kill M: the first M pairs each lose one VM (the initiator in even
 * pairs, the acceptor in odd ones) once a quarter of the pair's bytes
 * moved: its vhost-user connection closes without GET_VRING_BASE, as when
 * QEMU is killed. The survivor's streams must then end with RST within
 * --rst-ms; every other pair must complete.
 */
#define V2V_SEED 0x7600000000ull

struct v2v_stream {
	struct vvfe_stream *s;
	struct v2v_vm *vm;
	struct vvfe_pattern out, in;
	uint64_t sent, got;
	bool shut, eof, closed, done, reset;
	uint64_t end_ns;
};

struct v2v_vm {
	struct vvfe_dev *d;
	uint64_t cid;
	int idx, pair;
	bool initiator, victim, killed;
	const uint8_t *table, *greg;
	struct v2v_stream *st;
	int n;        /* streams set up (connected or accepted) */
	struct vvfe_stats stats;
};

struct v2v_pair {
	struct v2v_vm *a, *b; /* initiator, acceptor */
	struct v2v_vm *victim;
	uint64_t kill_ns;
	uint64_t rst_ns_max;
	int completed, reset, rst_late;
};

/* Both ends derive a stream's patterns from the initiator's CID and port. */
static void v2v_patterns(struct v2v_stream *t, uint64_t init_cid, uint32_t init_port, bool initiator)
{
	uint64_t base = V2V_SEED ^ (init_cid << 32 | init_port);

	vvfe_pattern_init(initiator ? &t->out : &t->in, base);
	vvfe_pattern_init(initiator ? &t->in : &t->out, base ^ 0x5a5a5a5a00000000ull);
}

/* When a payload byte last arrived at any VM: a run in which none moves
 * for V2V_STALL_NS fails at once instead of at --timeout (a backend that
 * cannot deliver a packet larger than the receiver's rx buffers stalls). */
#define V2V_STALL_NS (20 * 1000000000ull)
static uint64_t v2v_progress_ns;

static void v2v_sink(struct vvfe_stream *s, const void *data, size_t len, void *arg)
{
	struct v2v_stream *t = arg;
	ssize_t bad = vvfe_pattern_check(&t->in, t->got, data, len);

	(void)s;
	if (bad >= 0)
		fail("vm %d (cid %" PRIu64 "): wrong byte at offset %" PRIu64 " from cid %" PRIu64,
		     t->vm->idx, t->vm->cid, t->got + (uint64_t)bad, vvfe_stream_peer_cid(s));
	t->got += len;
	v2v_progress_ns = now_ns();
	if (t->got > cfg.bytes)
		fail("vm %d: stream got %" PRIu64 " bytes, more than sent", t->vm->idx, t->got);
}

static void v2v_attach(struct v2v_stream *t, struct vvfe_stream *s)
{
	t->s = s;
	vvfe_stream_set_user(s, t);
	vvfe_stream_set_sink(s, v2v_sink, t);
}

/* One stream's turn: send, drain what the sink did not take, close at the end. */
static bool v2v_stream_step(struct v2v_stream *t)
{
	bool busy = false;

	if (t->closed || t->s == NULL || vvfe_stream_state(t->s) == VVFE_CONNECTING)
		return false;
	if (vvfe_stream_state(t->s) == VVFE_CLOSED) {
		/* The peer may close the stream before we looked at our EOF:
		 * complete if both directions are; otherwise it was reset. */
		if (vvfe_stream_error(t->s) == 0 && t->got == cfg.bytes && t->sent == cfg.bytes) {
			t->done = true;
		} else {
			t->reset = true;
			if (vvfe_stream_error(t->s) == -ECONNREFUSED)
				fail("vm %d: connect to cid %" PRIu64 " port %" PRIu32 " refused",
				     t->vm->idx, vvfe_stream_peer_cid(t->s), cfg.port);
			else if (!vvfe_stream_rst_received(t->s) && !t->vm->killed)
				fail("vm %d: stream ended without RST (%s)", t->vm->idx,
				     strerror(-vvfe_stream_error(t->s)));
		}
		t->end_ns = vvfe_stream_closed_ns(t->s);
		vvfe_close(t->s);
		t->s = NULL;
		t->closed = true;
		return true;
	}
	while (vvfe_stream_state(t->s) == VVFE_ESTABLISHED && t->sent < cfg.bytes) {
		size_t n;
		const uint8_t *p = vvfe_pattern_ptr(&t->out, t->sent, &n);
		ssize_t k;

		if (t->vm->greg)
			p = t->vm->greg + (p - t->vm->table);
		if (n > cfg.write_size)
			n = cfg.write_size;
		if (n > cfg.bytes - t->sent)
			n = (size_t)(cfg.bytes - t->sent);
		k = vvfe_send(t->s, p, n);
		if (k == -EAGAIN)
			break;
		if (k < 0)
			return busy; /* a reset: noticed above next turn */
		t->sent += (uint64_t)k;
		busy = true;
	}
	if (!t->shut && t->sent == cfg.bytes && vvfe_stream_state(t->s) == VVFE_ESTABLISHED) {
		vvfe_shutdown(t->s, VIRTIO_VSOCK_SHUTDOWN_SEND);
		t->shut = true;
		busy = true;
	}
	if (!t->eof) {
		uint64_t before = t->got;
		char what[48];
		int r;

		snprintf(what, sizeof(what), "vm %d guest", t->vm->idx);
		r = g_recv_verify(t->s, &t->in, &t->got, what);
		busy |= t->got != before;
		if (r == 1) {
			t->eof = true;
			if (t->got != cfg.bytes)
				fail("vm %d: EOF after %" PRIu64 " of %" PRIu64 " bytes", t->vm->idx,
				     t->got, cfg.bytes);
			busy = true;
		} else if (r < 0 && vvfe_stream_state(t->s) != VVFE_CLOSED) {
			return busy;
		}
	}
	/* The acceptor closes; the initiator then sees SHUTDOWN both ways
	 * and ends the stream with RST (the CLOSED case above). If both
	 * closed at once, each would wait for the other's RST until its
	 * close timeout, as Linux does. */
	if (t->eof && t->sent == cfg.bytes && t->shut && !t->vm->initiator) {
		t->done = true;
		t->closed = true;
		t->end_ns = now_ns();
		vvfe_close(t->s);
		t->s = NULL;
		busy = true;
	}
	return busy;
}

static int v2v_open(struct v2v_vm *v, int idx)
{
	struct vvfe_opts o = cfg.fe;

	o.socket_path = cfg.sock[idx];
	o.siblings = true;
	v->idx = idx;
	v->d = vvfe_dev_create(&o);
	if (v->d == NULL) {
		fail("vm %d: vhost-user setup with %s: %s", idx, cfg.sock[idx], strerror(errno));
		return -1;
	}
	v->cid = vvfe_dev_cid(v->d);
	v->greg = guest_pattern_region(v->d, &v->table);
	v->st = calloc((size_t)cfg.streams, sizeof(*v->st));
	if (v->st == NULL) {
		fail("out of memory");
		return -1;
	}
	for (int i = 0; i < cfg.streams; i++)
		v->st[i].vm = v;
	return 0;
}

/* Per-pair bookkeeping of one loop turn. */
static void v2v_pair_step(struct v2v_pair *p, int pidx, uint64_t now)
{
	struct v2v_vm *surv;
	uint64_t moved = 0;

	if (p->victim == NULL || p->kill_ns)
		return;
	surv = p->victim == p->a ? p->b : p->a;
	for (int i = 0; i < surv->n; i++)
		moved += surv->st[i].sent + surv->st[i].got;
	/* A quarter of the pair's bytes: mid-transfer, streams all busy. */
	if (surv->n == cfg.streams && moved * 4 >= 2ull * cfg.bytes * (uint64_t)cfg.streams) {
		set_progress("killing vm %d (pair %d)", p->victim->idx, pidx);
		p->victim->stats = *vvfe_dev_stats(p->victim->d);
		vvfe_dev_abort(p->victim->d);
		p->victim->killed = true;
		p->kill_ns = now;
		/* The victim's own streams died with it. */
		for (int i = 0; i < p->victim->n; i++) {
			struct v2v_stream *t = &p->victim->st[i];

			if (t->s) {
				vvfe_close(t->s);
				t->s = NULL;
			}
			t->closed = true;
		}
	}
}

static int run_vm2vm(int nvms)
{
	int K = nvms / 2, kills = cfg.kill, done_pairs = 0;
	struct v2v_vm *vms = calloc((size_t)nvms, sizeof(*vms));
	struct v2v_pair *pairs = calloc((size_t)K, sizeof(*pairs));
	struct vvfe_dev **devs = calloc((size_t)nvms, sizeof(*devs));
	uint64_t idle_since = 0, rst_limit = (uint64_t)cfg.rst_ms * 1000000u;
	char *json = NULL;
	size_t jlen = 0;
	int unanswered = 0;
	FILE *js;

	if (nvms < 2 || nvms % 2 || kills > K) {
		fprintf(stderr, "vv-frontend: vm2vm needs an even --vms >= 2 and --kill <= vms/2\n");
		exit(2);
	}
	if (vms == NULL || pairs == NULL || devs == NULL)
		return 1;
	for (int i = 0; i < nvms; i++) {
		if (v2v_open(&vms[i], i) < 0)
			goto out;
		devs[i] = vms[i].d;
	}
	note_dev(vms[0].d);
	/* The backend attaches a device's datapath a moment after the
	 * vhost-user setup; until then a sibling's REQUEST is refused. An
	 * RST to a probe proves the datapath runs (a booting guest does not
	 * connect within microseconds either). A backend that leaves a refused
	 * connect unanswered (vhost-device-vsock 0.3) gets a second instead:
	 * its datapath runs by then, and the JSON counts such VMs. */
	set_progress("probing %d VMs", nvms);
	for (int i = 0; i < nvms; i++) {
		uint64_t end = now_ns() + 1000000000ull;
		int r;

		while ((r = vvfe_probe(vms[i].d, cfg.probe_port, 100)) != 1) {
			if (is_failed() || r < 0) {
				fail("vm %d: the device stopped while probed", i);
				goto out;
			}
			if (now_ns() > end) {
				unanswered++;
				break;
			}
		}
	}
	for (int p = 0; p < K; p++) {
		pairs[p].a = &vms[p];
		pairs[p].b = &vms[p + K];
		vms[p].pair = vms[p + K].pair = p;
		vms[p].initiator = true;
		if (p < kills) {
			pairs[p].victim = p % 2 == 0 ? pairs[p].a : pairs[p].b;
			pairs[p].victim->victim = true;
		}
		if (vvfe_listen(pairs[p].b->d, cfg.port) < 0) {
			fail("vm %d: listen failed", p + K);
			goto out;
		}
	}
	for (int p = 0; p < K; p++) {
		struct v2v_vm *a = pairs[p].a;

		for (int i = 0; i < cfg.streams; i++) {
			struct vvfe_stream *s;
			int r = vvfe_connect_cid(a->d, pairs[p].b->cid, cfg.port, &s);

			if (r < 0) {
				fail("vm %d: connect to cid %" PRIu64 ": %s", a->idx, pairs[p].b->cid,
				     strerror(-r));
				goto out;
			}
			v2v_patterns(&a->st[i], a->cid, vvfe_stream_local_port(s), true);
			v2v_attach(&a->st[i], s);
		}
		a->n = cfg.streams;
	}
	mark_start();
	set_progress("%d pairs streaming", K);
	v2v_progress_ns = now_ns();
	while (!is_failed() && done_pairs < K) {
		uint64_t now = now_ns();
		bool busy = false;

		if (kills == 0 && now > v2v_progress_ns + V2V_STALL_NS) {
			fail("stalled: no payload byte arrived for %llu s",
			     (unsigned long long)(V2V_STALL_NS / 1000000000ull));
			break;
		}

		done_pairs = 0;
		for (int i = 0; i < nvms; i++) {
			struct v2v_vm *v = &vms[i];
			struct vvfe_stream *s;
			int r;

			if (v->killed)
				continue;
			r = vvfe_poll(v->d, 0);
			if (r < 0) {
				fail("vm %d: device: %s (%s)", i, strerror(-r),
				     vvfe_dev_stats(v->d)->last_error);
				break;
			}
			busy |= r > 0;
			while (!v->initiator && (s = vvfe_accept(v->d, cfg.port)) != NULL) {
				struct v2v_stream *t;

				if (v->n == cfg.streams) {
					fail("vm %d: more streams than opened", i);
					vvfe_reset(s);
					continue;
				}
				if (vvfe_stream_peer_cid(s) != pairs[v->pair].a->cid)
					fail("vm %d: stream from cid %" PRIu64 ", expected %" PRIu64, i,
					     vvfe_stream_peer_cid(s), pairs[v->pair].a->cid);
				t = &v->st[v->n++];
				v2v_patterns(t, vvfe_stream_peer_cid(s), vvfe_stream_peer_port(s), false);
				v2v_attach(t, s);
				busy = true;
			}
			for (int k = 0; k < v->n; k++)
				busy |= v2v_stream_step(&v->st[k]);
		}
		for (int p = 0; p < K; p++) {
			struct v2v_pair *pr = &pairs[p];
			struct v2v_vm *sides[2] = {pr->a, pr->b};
			int closed = 0;

			v2v_pair_step(pr, p, now);
			for (int s2 = 0; s2 < 2; s2++) {
				struct v2v_vm *v = sides[s2];

				for (int k = 0; k < v->n; k++)
					closed += v->st[k].closed;
				if (v->n < cfg.streams && !v->killed && pr->kill_ns == 0)
					closed -= 2 * cfg.streams; /* not all set up yet */
			}
			if (pr->kill_ns) {
				struct v2v_vm *surv = pr->victim == pr->a ? pr->b : pr->a;
				int open = 0;

				for (int k = 0; k < surv->n; k++)
					open += !surv->st[k].closed;
				if (open && now - pr->kill_ns > rst_limit)
					fail("pair %d: %d stream(s) of vm %d still open %" PRIu64
					     " ms after vm %d went away", p, open, surv->idx,
					     (now - pr->kill_ns) / 1000000u, pr->victim->idx);
				done_pairs += open == 0;
			} else {
				done_pairs += closed == 2 * cfg.streams;
			}
		}
		if (idle_should_sleep(busy, &idle_since)) {
			int w = vvfe_wait(devs, (unsigned int)nvms, NULL, 0, 10);

			if (w < 0) {
				fail("poll: %s", strerror(-w));
				break;
			}
		}
	}
	mark_end();
	/* Results per pair. */
	js = open_memstream(&json, &jlen);
	if (js == NULL)
		goto out;
	{
		uint64_t tot_bytes = 0, rst_max = 0;
		int ok_pairs = 0, s_done = 0, s_reset = 0, s_late = 0;

		fprintf(js, "\"vms\":%d,\"pairs\":%d,\"streams_per_pair\":%d,\"bytes_per_stream\":%" PRIu64
			",\"kill\":%d,\"rst_ms_limit\":%d,\"probes_unanswered\":%d,\"pair_results\":[",
			nvms, K, cfg.streams, cfg.bytes, kills, cfg.rst_ms, unanswered);
		for (int p = 0; p < K; p++) {
			struct v2v_pair *pr = &pairs[p];
			struct v2v_vm *sides[2] = {pr->a, pr->b};
			uint64_t bytes = 0;
			bool ok;

			for (int s2 = 0; s2 < 2; s2++) {
				struct v2v_vm *v = sides[s2];

				for (int k = 0; k < v->n; k++) {
					struct v2v_stream *t = &v->st[k];

					bytes += t->got;
					if (v->killed)
						continue;
					pr->completed += t->done;
					pr->reset += t->reset;
					if (t->reset && pr->kill_ns && t->end_ns > pr->kill_ns) {
						uint64_t d = t->end_ns - pr->kill_ns;

						if (d > pr->rst_ns_max)
							pr->rst_ns_max = d;
						pr->rst_late += d > rst_limit;
					}
				}
			}
			if (pr->victim)
				ok = pr->kill_ns && pr->rst_late == 0 &&
				     pr->completed + pr->reset == cfg.streams;
			else
				ok = pr->completed == 2 * cfg.streams;
			ok_pairs += ok;
			s_done += pr->completed;
			s_reset += pr->reset;
			s_late += pr->rst_late;
			tot_bytes += bytes;
			if (pr->rst_ns_max > rst_max)
				rst_max = pr->rst_ns_max;
			fprintf(js, "%s{\"pair\":%d,\"cids\":[%" PRIu64 ",%" PRIu64 "],\"killed\":",
				p ? "," : "", p, pr->a->cid, pr->b->cid);
			if (pr->victim)
				fprintf(js, "%" PRIu64 ",\"killed_at\":%s", pr->victim->cid,
					pr->kill_ns ? "\"mid-transfer\"" : "\"never\"");
			else
				fprintf(js, "null");
			fprintf(js, ",\"ok\":%s,\"completed\":%d,\"reset\":%d,\"bytes\":%" PRIu64
				",\"rst_ms_max\":%.3f}",
				ok ? "true" : "false", pr->completed, pr->reset, bytes,
				pr->rst_ns_max / 1e6);
			if (!ok && !is_failed())
				fail("pair %d: %d stream ends completed, %d reset, %d RST late%s", p,
				     pr->completed, pr->reset, pr->rst_late,
				     pr->victim && !pr->kill_ns ? ", victim never killed" : "");
		}
		fprintf(js, "],\"totals\":{\"pairs_ok\":%d,\"stream_ends_completed\":%d,"
			"\"stream_ends_reset\":%d,\"rst_late\":%d,\"bytes\":%" PRIu64
			",\"rst_ms_max\":%.3f}",
			ok_pairs, s_done, s_reset, s_late, tot_bytes, rst_max / 1e6);
		res.bytes = tot_bytes;
		res.ops = (uint64_t)s_done;
	}
	fclose(js);
out:
	/* Power off the survivors like guest_finish, keep VM 0's counters. */
	for (int i = 0; i < nvms; i++) {
		struct v2v_vm *v = &vms[i];

		if (v->d == NULL)
			continue;
		if (!v->killed) {
			guest_finish(v->d, &v->stats);
		}
		if (i == 0) {
			res.st = v->stats;
			res.have_st = true;
		}
		vvfe_dev_free(v->d);
		free(v->st);
	}
	free(vms);
	free(pairs);
	free(devs);
	print_json(json);
	free(json);
	return 2;
}

/* --------------------------------------------------------------- reboot */

/*
 * Power cycles: each round streams --bytes to the host, then reboots the
 * VM. Odd rounds power off cleanly (close, GET_VRING_BASE, new
 * connection); even rounds reboot with the stream still open, and the host
 * end must see it end. The CID must survive every reboot.
 */
static int run_reboot(void)
{
	struct vvfe_dev *d = guest_open(0);
	int lfd = host_listen(cfg.uds[0], cfg.port);
	uint8_t *buf = malloc(cfg.write_size);
	uint64_t cid;

	if (d == NULL || lfd < 0 || buf == NULL)
		return 1;
	cid = vvfe_dev_cid(d);
	mark_start();
	for (uint64_t i = 0; i < cfg.count && !is_failed(); i++) {
		struct sink k = {.lfd = lfd, .seed = 0x4000u + i};
		struct vvfe_pattern pat;
		struct vvfe_stream *s;
		bool clean = i % 2 == 1;
		int rx, tx, r;

		vvfe_pattern_init(&pat, k.seed);
		pthread_create(&k.th, NULL, sink_main, &k);
		if (vvfe_connect(d, cfg.port, &s) < 0 || g_established(d, s) < 0 ||
		    g_send(d, s, &pat, 0, cfg.bytes, buf) < 0 ||
		    !wait_until(d, NULL, &k.got, cfg.bytes, 10000)) {
			fail("round %" PRIu64 ": transfer did not complete (%" PRIu64 " bytes)", i, k.got);
			vvfe_dev_abort(d);
			pthread_join(k.th, NULL);
			break;
		}
		if (clean) {
			vvfe_close(s);
			if (!wait_until(d, &k.eof, NULL, 0, 5000))
				fail("round %" PRIu64 ": host saw no EOF after close", i);
			r = vvfe_dev_stop(d);
			vvfe_dev_vring_bases(d, &rx, &tx);
			if (r < 0 || rx < 0 || tx < 0)
				fail("round %" PRIu64 ": GET_VRING_BASE failed", i);
		}
		r = vvfe_dev_reconnect(d);
		if (r < 0) {
			fail("round %" PRIu64 ": reconnect: %s (%s)", i, strerror(-r),
			     vvfe_dev_stats(d)->last_error);
			pthread_join(k.th, NULL);
			break;
		}
		if (vvfe_dev_cid(d) != cid)
			fail("CID changed across reboot");
		/* The old boot's stream must not outlive it on the host. */
		if (!wait_until(d, &k.eof, NULL, 0, 5000))
			fail("round %" PRIu64 ": host end of a stream from before the reboot stayed open",
			     i);
		if (k.corrupt)
			fail("round %" PRIu64 ": host received wrong bytes", i);
		if (!k.eof)
			pthread_cancel(k.th);
		pthread_join(k.th, NULL);
		res.bytes += k.got;
		res.ops++;
	}
	mark_end();
	res.st = *vvfe_dev_stats(d);
	res.have_st = true;
	fail_protocol(&res.st);
	vvfe_dev_free(d);
	host_unlisten(cfg.uds[0], cfg.port, lfd);
	free(buf);
	return 0;
}

/* ------------------------------------------------------------ seqpacket */

/*
 * SEQPACKET messages both ways, every boundary and byte checked: on a
 * guest-initiated connection (the host end listens on <uds>_<port>) and a
 * host-initiated one (through <uds>.seqpacket), each carrying messages
 * guest to host and host to guest at once; with a second --socket, also
 * between the two guests (VM to VM). Message i has sp_len[i] bytes: a
 * ladder from 1 byte to --size (default 256K) around every power of two,
 * then --count (default 100) sizes spread over that range. Each message
 * must come out whole, of its length, with its bytes (pattern offsets run
 * on across messages). Guests send EOR with every third message: a guest
 * receiving from a guest must see it there and only there; host messages
 * must never carry one (a Unix socket has none to pass).
 */
#define SP_SEED 0x5e9000u

struct sp_dir {
	const char *name;
	struct vvfe_stream *gtx, *grx; /* guest ends, or NULL */
	int htx, hrx;		       /* host ends, or -1 */
	struct vvfe_pattern pat;
	unsigned int i_tx, i_rx;
	uint64_t off_tx, off_rx;
	size_t done; /* of message i_tx, bytes a guest sender got accepted */
	bool eor_passes;
};

static size_t *sp_len;
static unsigned int sp_n;

static int sp_sizes(size_t max)
{
	static const size_t small[] = { 1, 2, 3, 7, 43, 44, 45, 100, 1000 };
	unsigned int cap = 16 + 3 * 64 + (unsigned int)cfg.count, i;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	sp_len = calloc(cap, sizeof(*sp_len));
	if (sp_len == NULL)
		return -1;
	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++)
		if (small[i] <= max)
			sp_len[sp_n++] = small[i];
	for (size_t p = 512; p <= max; p *= 2)
		for (int d = -1; d <= 1; d++)
			if (p + (size_t)d <= max)
				sp_len[sp_n++] = p + (size_t)d;
	if (sp_len[sp_n - 1] != max)
		sp_len[sp_n++] = max;
	for (i = 0; i < cfg.count; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		sp_len[sp_n++] = 1 + (size_t)(x % max);
	}
	return 0;
}

/* The sender's next step. Returns true if it got something out. */
static bool sp_tx(struct sp_dir *t)
{
	size_t len, contig;
	const uint8_t *p;
	ssize_t r;

	if (t->i_tx == sp_n)
		return false;
	len = sp_len[t->i_tx];
	p = vvfe_pattern_ptr(&t->pat, t->off_tx, &contig);
	if (t->gtx != NULL) {
		r = vvfe_send_msg(t->gtx, p + t->done, len - t->done, t->i_tx % 3 == 0);
		if (r == -EAGAIN)
			return false;
		if (r == -EMSGSIZE) {
			fail("%s: message %u of %zu bytes is over the peer's buffer (%u): a backend "
			     "needs --tx-buffer-size >= %zu",
			     t->name, t->i_tx, len, vvfe_stream_peer_buf_alloc(t->gtx), len);
			return false;
		}
		if (r < 0) {
			fail("%s: message %u: %s", t->name, t->i_tx, strerror((int)-r));
			return false;
		}
		t->done += (size_t)r;
		if (t->done < len)
			return true;
	} else {
		r = send(t->htx, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return false;
		if (r != (ssize_t)len) {
			fail("%s: host send of message %u (%zu bytes): %s", t->name, t->i_tx, len,
			     r < 0 ? strerror(errno) : "short");
			return false;
		}
	}
	t->off_tx += len;
	t->i_tx++;
	t->done = 0;
	return true;
}

/* The receiver's next message, checked. Returns true if one came. */
static bool sp_rx(struct sp_dir *t, uint8_t *buf, size_t cap)
{
	bool eor = false;
	ssize_t r, bad;

	if (t->i_rx == sp_n)
		return false;
	if (t->grx != NULL) {
		r = vvfe_recv_msg(t->grx, buf, cap, &eor);
		if (r == -EAGAIN)
			return false;
	} else {
		r = recv(t->hrx, buf, cap, MSG_DONTWAIT | MSG_TRUNC);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return false;
		if (r < 0)
			r = -errno;
	}
	if (r <= 0) {
		fail("%s: message %u: %s", t->name, t->i_rx, r == 0 ? "end of stream" : strerror((int)-r));
		return false;
	}
	if ((size_t)r != sp_len[t->i_rx]) {
		fail("%s: message %u is %zd bytes, %zu were sent: a boundary moved", t->name, t->i_rx,
		     r, sp_len[t->i_rx]);
		return false;
	}
	bad = vvfe_pattern_check(&t->pat, t->off_rx, buf, (size_t)r);
	if (bad >= 0) {
		fail("%s: message %u: wrong byte %zd (stream offset %" PRIu64 ")", t->name, t->i_rx,
		     bad, t->off_rx + (uint64_t)bad);
		return false;
	}
	if (t->grx != NULL && eor != (t->eor_passes && t->i_rx % 3 == 0)) {
		fail("%s: message %u %s EOR", t->name, t->i_rx, eor ? "came with" : "lost its");
		return false;
	}
	t->off_rx += (uint64_t)r;
	t->i_rx++;
	res.bytes += (uint64_t)r;
	return true;
}

/* Room in the host socket for two of the largest messages (a Unix
 * SEQPACKET send needs the whole message to fit in the send buffer). */
static int sp_host_fd(int fd, size_t max)
{
	int want = (int)(max + 4096);

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Guest-initiated: the guest connects to <uds>_<port>, the host accepts. */
static int sp_connect_guest(struct vvfe_dev *d, uint32_t port, struct vvfe_stream **s, int *fd)
{
	int lfd = host_listen_type(cfg.uds[0], port, SOCK_SEQPACKET), r;

	if (lfd < 0)
		return -1;
	r = vvfe_connect_type(d, VVFE_HOST_CID, port, VIRTIO_VSOCK_TYPE_SEQPACKET, s);
	if (r < 0) {
		fail("guest SEQPACKET connect: %s", strerror(-r));
		host_unlisten(cfg.uds[0], port, lfd);
		return -1;
	}
	*fd = -1;
	while (!is_failed() && (*fd < 0 || vvfe_stream_state(*s) == VVFE_CONNECTING)) {
		if (*fd < 0)
			*fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (vvfe_stream_state(*s) == VVFE_CLOSED || vvfe_poll(d, 1) < 0)
			break;
	}
	host_unlisten(cfg.uds[0], port, lfd);
	if (vvfe_stream_state(*s) != VVFE_ESTABLISHED || *fd < 0) {
		fail("guest SEQPACKET connect to %s_%" PRIu32 ": %s", cfg.uds[0], port,
		     vvfe_stream_error(*s) ? strerror(-vvfe_stream_error(*s)) : "never accepted");
		return -1;
	}
	return 0;
}

/*
 * Host-initiated: connect to <uds>.seqpacket, "CONNECT <port>\n" and
 * "OK <port>\n" are a message each. A backend closes host connections
 * while the guest driver is not up yet: such a close is retried for a
 * while, and counted.
 */
static int sp_connect_host(struct vvfe_dev *d, uint32_t port, struct vvfe_stream **s, int *fd)
{
	uint64_t give_up = now_ns() + 3000000000ull;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 16], line[64], ok[32];
	struct sockaddr_un sa;
	unsigned int hport;
	ssize_t n = 0;
	int len, r;

	snprintf(path, sizeof(path), "%s.seqpacket", cfg.uds[0]);
	r = vvfe_listen_type(d, port, VIRTIO_VSOCK_TYPE_SEQPACKET);
	if (r < 0 || uds_addr(&sa, path) < 0) {
		fail("guest SEQPACKET listen on %" PRIu32 ": %s", port,
		     strerror(r < 0 ? -r : ENAMETOOLONG));
		return -1;
	}
	*s = NULL;
	while (n <= 0) {
		*fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (*fd < 0 || connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fail("connect %s: %s", path, strerror(errno));
			return -1;
		}
		len = snprintf(line, sizeof(line), "CONNECT %" PRIu32 "\n", port);
		if (send(*fd, line, (size_t)len, MSG_NOSIGNAL) != len && errno != EPIPE &&
		    errno != ECONNRESET) {
			fail("send CONNECT: %s", strerror(errno));
			return -1;
		}
		fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
		for (;;) {
			if (*s == NULL)
				*s = vvfe_accept(d, port);
			n = recv(*fd, line, sizeof(line) - 1, MSG_TRUNC);
			if (n >= 0 || (errno != EAGAIN && errno != EINTR))
				break;
			if (gpoll(d) < 0)
				return -1;
		}
		if (n > 0)
			break;
		/* Closed without an answer: too early, or refused. */
		close(*fd);
		*fd = -1;
		if (*s != NULL || now_ns() >= give_up) {
			fail("CONNECT %" PRIu32 " on %s: closed without OK", port, path);
			return -1;
		}
		host_connect_retries++;
		if (vvfe_poll(d, 10) < 0)
			return -1;
	}
	/* The answer is one message, "OK <host port>\n" and nothing else. */
	line[(size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1] = 0;
	if (sscanf(line, "OK %u", &hport) != 1 ||
	    snprintf(ok, sizeof(ok), "OK %u\n", hport) != n || strcmp(ok, line) != 0) {
		fail("CONNECT %" PRIu32 ": bad answer \"%s\" (%zd bytes)", port, line, n);
		return -1;
	}
	while (*s == NULL && !is_failed())
		if ((*s = vvfe_accept(d, port)) == NULL && gpoll(d) < 0)
			return -1;
	return *s ? 0 : -1;
}

static int run_seqpacket(void)
{
	const int nvms = cfg.nsock >= 2 ? 2 : 1;
	struct vvfe_dev *d[2] = { NULL, NULL };
	struct vvfe_stream *sa = NULL, *sb = NULL, *sc[2] = { NULL, NULL };
	int fa = -1, fb = -1, ndir = 4;
	struct sp_dir dir[6];
	size_t max = cfg.size;
	uint8_t *buf = NULL;
	char extra[256];

	memset(dir, 0, sizeof(dir));
	if (max > VVFE_PATTERN_SLACK) {
		fail("--size %zu: at most %u", max, VVFE_PATTERN_SLACK);
		return 1;
	}
	if (sp_sizes(max) < 0 || (buf = malloc(max + 1)) == NULL) {
		fail("out of memory");
		return 1;
	}
	for (int v = 0; v < nvms; v++) {
		struct vvfe_opts o = cfg.fe;

		o.socket_path = cfg.sock[v];
		o.siblings = nvms > 1;
		d[v] = vvfe_dev_create(&o);
		if (d[v] == NULL) {
			fail("vhost-user setup with %s: %s", cfg.sock[v], strerror(errno));
			goto out;
		}
		if (v == 0)
			note_dev(d[v]);
		if (!(vvfe_dev_features(d[v]) & (1ull << VIRTIO_VSOCK_F_SEQPACKET))) {
			fail("%s: the backend did not offer VIRTIO_VSOCK_F_SEQPACKET", cfg.sock[v]);
			goto out;
		}
	}
	set_progress("seqpacket: connecting");
	if (sp_connect_guest(d[0], cfg.port, &sa, &fa) < 0 ||
	    sp_connect_host(d[0], cfg.port + 1, &sb, &fb) < 0 || sp_host_fd(fa, max) < 0 ||
	    sp_host_fd(fb, max) < 0)
		goto out;
	dir[0] = (struct sp_dir){ .name = "g2h (guest-initiated)", .gtx = sa, .htx = -1, .hrx = fa };
	dir[1] = (struct sp_dir){ .name = "h2g (guest-initiated)", .htx = fa, .grx = sa, .hrx = -1 };
	dir[2] = (struct sp_dir){ .name = "g2h (host-initiated)", .gtx = sb, .htx = -1, .hrx = fb };
	dir[3] = (struct sp_dir){ .name = "h2g (host-initiated)", .htx = fb, .grx = sb, .hrx = -1 };
	if (nvms > 1) {
		uint32_t port = cfg.port + 2;
		int r = vvfe_listen_type(d[1], port, VIRTIO_VSOCK_TYPE_SEQPACKET);

		if (r == 0)
			r = vvfe_connect_type(d[0], vvfe_dev_cid(d[1]), port,
					      VIRTIO_VSOCK_TYPE_SEQPACKET, &sc[0]);
		if (r < 0) {
			fail("VM to VM SEQPACKET setup: %s", strerror(-r));
			goto out;
		}
		while (!is_failed() && (sc[1] == NULL || vvfe_stream_state(sc[0]) == VVFE_CONNECTING)) {
			if (sc[1] == NULL)
				sc[1] = vvfe_accept(d[1], port);
			if (vvfe_stream_state(sc[0]) == VVFE_CLOSED || gpoll(d[0]) < 0 ||
			    gpoll(d[1]) < 0)
				break;
		}
		if (vvfe_stream_state(sc[0]) != VVFE_ESTABLISHED || sc[1] == NULL) {
			fail("VM to VM SEQPACKET connect: %s", strerror(-vvfe_stream_error(sc[0])));
			goto out;
		}
		dir[4] = (struct sp_dir){ .name = "vm a->b", .gtx = sc[0], .grx = sc[1], .htx = -1,
					  .hrx = -1, .eor_passes = true };
		dir[5] = (struct sp_dir){ .name = "vm b->a", .gtx = sc[1], .grx = sc[0], .htx = -1,
					  .hrx = -1, .eor_passes = true };
		ndir = 6;
	}
	for (int i = 0; i < ndir; i++)
		vvfe_pattern_init(&dir[i].pat, SP_SEED + (uint64_t)i);

	mark_start();
	for (;;) {
		bool busy = false, all = true;

		for (int i = 0; i < ndir; i++) {
			busy |= sp_tx(&dir[i]);
			busy |= sp_rx(&dir[i], buf, max + 1);
			all &= dir[i].i_rx == sp_n;
		}
		if (all || is_failed())
			break;
		if (!busy) {
			char what[160];
			int k = 0;

			for (int i = 0; i < ndir; i++)
				k += snprintf(what + k, sizeof(what) - (size_t)k, " %s %u/%u",
					      dir[i].name, dir[i].i_tx, dir[i].i_rx);
			set_progress("seqpacket: of %u messages sent/received:%s", sp_n, what);
		}
		for (int v = 0; v < nvms; v++)
			if (vvfe_poll(d[v], busy ? 0 : 1) < 0) {
				fail("device: %s", vvfe_dev_stats(d[v])->last_error);
				break;
			}
	}
	mark_end();
	res.ops = (uint64_t)sp_n * (uint64_t)ndir;
out:
	if (sa != NULL)
		vvfe_close(sa);
	if (sb != NULL)
		vvfe_close(sb);
	for (int v = 0; v < 2; v++)
		if (sc[v] != NULL)
			vvfe_close(sc[v]);
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	for (int v = 0; v < nvms; v++) {
		if (d[v] == NULL)
			continue;
		guest_finish(d[v], v == 0 ? &res.st : &(struct vvfe_stats){ 0 });
		vvfe_dev_free(d[v]);
	}
	res.have_st = d[0] != NULL;
	snprintf(extra, sizeof(extra),
		 "\"seqpacket\":{\"messages_per_direction\":%u,\"directions\":%d,\"max_msg\":%zu}",
		 sp_n, ndir, max);
	print_json(extra);
	free(buf);
	free(sp_len);
	return 2; /* the JSON is out; failures were recorded by fail() */
}

/* ---------------------------------------------------------------- main */

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end || end == s) {
		fprintf(stderr, "vv-frontend: bad number \"%s\"\n", s);
		exit(2);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: vv-frontend MODE [options]\n"
		"modes: g2h h2g bidir pingpong connrate conns multi raw rawpp rawconn hostile\n"
		"       vuhostile reboot vm2vm seqpacket hold connlimit stuck hostgone\n"
		"  --socket S        backend vhost-user socket (repeat for multi)\n"
		"  --uds U           backend hybrid-vsock socket path (repeat for multi)\n"
		"  --port P          vsock port (default 1234)\n"
		"  --bytes N         bytes per stream and direction (K/M/G suffixes)\n"
		"  --write-size W    bytes per write (default 64K); --read-size R\n"
		"  --count N         pingpong round trips, connrate/conns connections, reboots\n"
		"                    connlimit: guest streams opened at once, past a cap too\n"
		"                    stuck: streams (1000) a host app accepts and never reads;\n"
		"                    'STUCK ...' on stderr once all are, then --stuck-ms (2000)\n"
		"                    before the host reads and checks every byte\n"
		"                    hostgone: streams (8) whose host apps leave mid-transfer\n"
		"  --size N          pingpong message size (default 64); seqpacket: largest\n"
		"                    message (default 256K), --count N more of random sizes\n"
		"                    (default 100); a second --socket adds VM to VM\n"
		"  --vms K --streams S   multi: VMs (sockets) and streams per VM\n"
		"                    vm2vm: 2K VMs in one group, VM i streams with VM i+K,\n"
		"                    S streams per pair, --bytes each way (default 4M)\n"
		"  --kill M          vm2vm: M VMs vanish mid-transfer; their peers' streams\n"
		"                    must end with RST within --rst-ms (1000)\n"
		"  --case NAME|all   hostile (guest) or vuhostile (vhost-user front-end) case;\n"
		"                    --wait-ms MS answer wait (500); hostile 'all' skips\n"
		"                    the cases that do not apply to the rings and features\n"
		"                    negotiated (avail_jump: split; indirect: without\n"
		"                    --indirect; indirect_*: with it)\n"
		"  --queue-size N --mem N --rx-buf N --rx-hdr-split --tx-seg N\n"
		"  --tx-hdr-split-at B --tx-hdr-joined --buf-alloc N --max-pkt N\n"
		"  --no-event-idx --spin --timeout S (default 120)\n"
		"  --packed          packed virtqueues (VIRTIO_F_RING_PACKED; any --queue-size)\n"
		"  --indirect        negotiate INDIRECT_DESC; chains of 2..16 descriptors go\n"
		"                    through indirect tables, as Linux sends its packets\n"
		"  --copy            copy payload into each tx packet (default: g2h, h2g,\n"
		"                    bidir send from a pattern region in guest memory)\n"
		"  --raw-cpus W,R    raw: pin the writer process to CPU W, the reader to CPU R\n"
		"                    (W != R: the cross-CPU ceiling a two-CPU path faces)\n"
		"  --raw-poll        raw: both ends non-blocking, spinning instead of sleeping\n"
		"  rawpp             --count round trips of --size bytes between two threads\n"
		"                    asleep in read(), on --raw-cpus A,B (A times them)\n"
		"  rawconn           --count connections to connrate's host application (on\n"
		"                    CPU R of --raw-cpus W,R) from a plain client on W: connect,\n"
		"                    8 bytes, close\n"
		"  --guest linux|poll  how the guest behaves (default linux; --spin, --rate,\n"
		"                    --busy-poll-us, --host-delay-us and hold mean poll):\n"
		"                    linux: like a Linux guest, it never spins: it sleeps on the\n"
		"                    call eventfds and looks at a ring after its interrupt; the\n"
		"                    host application is a thread in blocking reads and writes;\n"
		"                    128-entry rings, 4 KiB + header rx buffers\n"
		"                    poll: one thread plays guest and host and polls the rings\n"
		"  --busy-poll-us N  --guest poll without --spin: poll N us after the last\n"
		"  --host-delay-us N g2h/bidir (--guest poll): a slow host app, one read\n"
		"                    (--read-size) per N us\n"
		"                    work before sleeping on interrupts (default 50; 0 = never)\n"
		"  --backend-pid P   the backend's process: conns and multi report its memory\n"
		"                    per idle connection\n"
		"  --idle-check      g2h/h2g/bidir/pingpong: once the streams are closed, keep the\n"
		"                    VM up and idle and report the backend's CPU from 1 s to 3 s\n"
		"                    after the last packet (needs --backend-pid)\n"
		"  --rate N          g2h/h2g/bidir/hold: at most N bytes/s per direction (K/M/G);\n"
		"                    the JSON's stall_ms_max is the longest wait for bytes,\n"
		"                    stalls the 8 longest [start, end] (CLOCK_MONOTONIC s)\n"
		"  hold              stream g2h (paced by --rate) until the backend resets the\n"
		"                    stream and then closes the vhost-user connection\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"uds", required_argument, NULL, 'u'},
		{"port", required_argument, NULL, 'p'},
		{"bytes", required_argument, NULL, 'b'},
		{"write-size", required_argument, NULL, 'w'},
		{"read-size", required_argument, NULL, 'r'},
		{"count", required_argument, NULL, 'c'},
		{"size", required_argument, NULL, 'z'},
		{"vms", required_argument, NULL, 'V'},
		{"streams", required_argument, NULL, 'S'},
		{"case", required_argument, NULL, 'C'},
		{"wait-ms", required_argument, NULL, 'W'},
		{"queue-size", required_argument, NULL, 'q'},
		{"mem", required_argument, NULL, 'm'},
		{"rx-buf", required_argument, NULL, 'R'},
		{"rx-hdr-split", no_argument, NULL, 'H'},
		{"tx-seg", required_argument, NULL, 'T'},
		{"tx-hdr-split-at", required_argument, NULL, 'X'},
		{"tx-hdr-joined", no_argument, NULL, 'J'},
		{"buf-alloc", required_argument, NULL, 'A'},
		{"max-pkt", required_argument, NULL, 'M'},
		{"no-event-idx", no_argument, NULL, 'E'},
		{"packed", no_argument, NULL, '2'},
		{"indirect", no_argument, NULL, '3'},
		{"spin", no_argument, NULL, 'P'},
		{"copy", no_argument, NULL, 'Y'},
		{"busy-poll-us", required_argument, NULL, 'B'},
		{"kill", required_argument, NULL, 'K'},
		{"rst-ms", required_argument, NULL, 'Q'},
		{"raw-cpus", required_argument, NULL, 'U'},
		{"raw-poll", no_argument, NULL, '1'},
		{"guest", required_argument, NULL, 'G'},
		{"backend-pid", required_argument, NULL, 'D'},
		{"idle-check", no_argument, NULL, 'I'},
		{"stuck-ms", required_argument, NULL, 'O'},
		{"host-delay-us", required_argument, NULL, 'y'},
		{"rate", required_argument, NULL, 'L'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int o, vms = 1, rc = 0;
	struct rlimit rl;

	if (argc < 2 || argv[1][0] == '-')
		usage();
	cfg.mode = argv[1];
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			if (cfg.nsock == MAX_VMS)
				usage();
			cfg.sock[cfg.nsock++] = optarg;
			break;
		case 'u':
			if (cfg.nuds == MAX_VMS)
				usage();
			cfg.uds[cfg.nuds++] = optarg;
			break;
		case 'p': cfg.port = (uint32_t)parse_size(optarg); break;
		case 'b': cfg.bytes = parse_size(optarg); break;
		case 'w': cfg.write_size = (size_t)parse_size(optarg); break;
		case 'r': cfg.read_size = (size_t)parse_size(optarg); break;
		case 'c': cfg.count = parse_size(optarg); break;
		case 'z': cfg.size = (size_t)parse_size(optarg); break;
		case 'V': vms = (int)parse_size(optarg); break;
		case 'S': cfg.streams = (int)parse_size(optarg); break;
		case 'C': cfg.hostile_case = optarg; break;
		case 'W': cfg.wait_ms = (int)parse_size(optarg); break;
		case 'q': cfg.fe.queue_size = (uint16_t)parse_size(optarg); break;
		case 'm': cfg.fe.mem_size = (size_t)parse_size(optarg); break;
		case 'R': cfg.fe.rx_buf_size = (uint32_t)parse_size(optarg); break;
		case 'H': cfg.fe.rx_hdr_split = true; break;
		case 'T': cfg.fe.tx_seg_size = (uint32_t)parse_size(optarg); break;
		case 'X': cfg.fe.tx_hdr_split_at = (uint32_t)parse_size(optarg); break;
		case 'J': cfg.fe.tx_hdr_joined = true; break;
		case 'A': cfg.fe.buf_alloc = (uint32_t)parse_size(optarg); break;
		case 'M': cfg.fe.max_pkt = (uint32_t)parse_size(optarg); break;
		case 'E': cfg.fe.no_event_idx = true; break;
		case '2': cfg.fe.packed = true; break;
		case '3': cfg.fe.indirect = true; break;
		case 'P': cfg.fe.spin = true; break;
		case 'Y': cfg.copy = true; break;
		case 'B': cfg.busy_poll_ns = (int64_t)parse_size(optarg) * 1000; break;
		case 'K': cfg.kill = (int)parse_size(optarg); break;
		case 'Q': cfg.rst_ms = (int)parse_size(optarg); break;
		case 'U':
			if (sscanf(optarg, "%d,%d", &cfg.raw_cpu[0], &cfg.raw_cpu[1]) != 2)
				usage();
			break;
		case '1': cfg.raw_poll = true; break;
		case 'G':
			if (strcmp(optarg, "linux") != 0 && strcmp(optarg, "poll") != 0)
				usage();
			cfg.linux_guest = strcmp(optarg, "linux") == 0;
			cfg.guest_given = true;
			break;
		case 'D': cfg.backend_pid = (int)parse_size(optarg); break;
		case 'I': cfg.idle_check = true; break;
		case 'O': cfg.stuck_ms = (int)parse_size(optarg); break;
		case 'y': cfg.host_delay_ns = parse_size(optarg) * 1000; break;
		case 'L': cfg.rate = parse_size(optarg); break;
		case 't': cfg.timeout_s = (int)parse_size(optarg); break;
		default: usage();
		}
	}
	if (cfg.write_size == 0 || cfg.read_size == 0 || cfg.size == 0 || vms < 1 ||
	    vms > MAX_VMS || cfg.streams < 1)
		usage();
	/* The guest: Linux-like unless told to poll (--spin polls). */
	if (!cfg.guest_given)
		cfg.linux_guest = !cfg.fe.spin && cfg.busy_poll_ns < 0 && cfg.rate == 0 &&
				  cfg.host_delay_ns == 0 && strcmp(cfg.mode, "hold") != 0;
	if (cfg.linux_guest && (cfg.fe.spin || cfg.busy_poll_ns >= 0 || cfg.rate ||
				cfg.host_delay_ns || strcmp(cfg.mode, "hold") == 0)) {
		fprintf(stderr, "vv-frontend: --spin, --busy-poll-us, --rate, --host-delay-us and hold "
				"are for --guest poll\n");
		return 2;
	}
	if (cfg.streams > 1 && (strcmp(cfg.mode, "h2g") == 0 || strcmp(cfg.mode, "bidir") == 0 ||
				(strcmp(cfg.mode, "g2h") == 0 && !cfg.linux_guest))) {
		fprintf(stderr, "vv-frontend: --streams with g2h needs --guest linux; not with h2g, bidir\n");
		return 2;
	}
	if (cfg.idle_check && cfg.backend_pid <= 0) {
		fprintf(stderr, "vv-frontend: --idle-check needs --backend-pid\n");
		return 2;
	}
	if (cfg.linux_guest) {
		cfg.fe.linux_irq = true;
		if (!cfg.fe.queue_size)
			cfg.fe.queue_size = 128; /* QEMU's vhost-user-vsock rings */
		if (!cfg.fe.rx_buf_size)
			cfg.fe.rx_buf_size = 4096 + VVFE_HDR_LEN; /* Linux's rx buffers */
		cfg.busy_poll_ns = 0;
	}
	if (strcmp(cfg.mode, "vm2vm") == 0) {
		/* Guests talk to guests: no host sockets needed. */
		if (cfg.nsock < vms) {
			fprintf(stderr, "vv-frontend: vm2vm needs --socket for %d VM(s)\n", vms);
			return 2;
		}
	} else if (!is_raw_mode()) {
		if (strcmp(cfg.mode, "multi") == 0 && cfg.nsock > 1)
			vms = cfg.nsock;
		if (cfg.nsock < vms || cfg.nuds < vms) {
			fprintf(stderr, "vv-frontend: %s needs --socket and --uds for %d VM(s)\n",
				cfg.mode, vms);
			return 2;
		}
	}
	/* Many streams need many host sockets. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	{
		pthread_t wd;

		pthread_create(&wd, NULL, watchdog, NULL);
		pthread_detach(wd);
	}
	if (!cfg.fe.close_timeout_ms)
		cfg.fe.close_timeout_ms = 3000;
	if (cfg.busy_poll_ns < 0)
		cfg.busy_poll_ns = 50000;

	if (strcmp(cfg.mode, "g2h") == 0)
		rc = cfg.linux_guest ? run_xfer_linux(true, false) : run_xfer(true, false);
	else if (strcmp(cfg.mode, "h2g") == 0)
		rc = cfg.linux_guest ? run_xfer_linux(false, true) : run_xfer(false, true);
	else if (strcmp(cfg.mode, "bidir") == 0)
		rc = cfg.linux_guest ? run_xfer_linux(true, true) : run_xfer(true, true);
	else if (strcmp(cfg.mode, "pingpong") == 0)
		rc = cfg.linux_guest ? run_pingpong_linux() : run_pingpong();
	else if (strcmp(cfg.mode, "connrate") == 0)
		rc = run_connrate();
	else if (strcmp(cfg.mode, "conns") == 0) {
		cfg.streams = (int)cfg.count;
		if (cfg.bytes == 64u << 20)
			cfg.bytes = 4096; /* default per-stream size for many streams */
		rc = run_many(1, cfg.streams);
	} else if (strcmp(cfg.mode, "multi") == 0) {
		rc = run_many(vms, cfg.streams);
	} else if (strcmp(cfg.mode, "raw") == 0)
		rc = run_raw();
	else if (strcmp(cfg.mode, "rawpp") == 0)
		rc = run_rawpp();
	else if (strcmp(cfg.mode, "rawconn") == 0)
		rc = run_rawconn();
	else if (strcmp(cfg.mode, "hostile") == 0)
		rc = run_hostile();
	else if (strcmp(cfg.mode, "connlimit") == 0)
		rc = run_connlimit();
	else if (strcmp(cfg.mode, "hostgone") == 0) {
		if (cfg.count == 10000)
			cfg.count = 8;
		if (cfg.bytes == 64u << 20)
			cfg.bytes = 4u << 20;
		rc = run_hostgone();
	}
	else if (strcmp(cfg.mode, "stuck") == 0) {
		if (cfg.count == 10000)
			cfg.count = 1000;
		rc = run_stuck();
	}
	else if (strcmp(cfg.mode, "vuhostile") == 0)
		rc = run_vuhostile();
	else if (strcmp(cfg.mode, "vm2vm") == 0) {
		if (cfg.bytes == 64u << 20)
			cfg.bytes = 4u << 20;
		rc = run_vm2vm(vms);
	}
	else if (strcmp(cfg.mode, "seqpacket") == 0) {
		if (cfg.size == 64)
			cfg.size = 256u << 10;
		if (cfg.count == 10000)
			cfg.count = 100;
		rc = run_seqpacket();
	}
	else if (strcmp(cfg.mode, "hold") == 0)
		rc = run_hold();
	else if (strcmp(cfg.mode, "reboot") == 0) {
		if (cfg.bytes == 64u << 20)
			cfg.bytes = 1u << 20;
		if (cfg.count == 10000)
			cfg.count = 10;
		rc = run_reboot();
	}
	else
		usage();
	if (rc == 1 && !is_failed())
		fail("setup failed");
	if (rc != 2)
		print_json(NULL);
	vvfe_lat_free(&res.lat);
	return is_failed() ? 1 : 0;
}
