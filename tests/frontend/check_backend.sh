#!/bin/sh
# Run vv-frontend's whole battery against a backend binary: transfers in
# every direction and guest layout, latency, connection rate, many streams,
# several VMs, reboots and the hostile guest. Each run prints one JSON line.
# Usage: tests/frontend/check_backend.sh BACKEND [VV_FRONTEND]
#   BACKEND      path to dpdk-vhost-vsock (or any backend taking
#                --guest-cid N --socket S --uds-path U)
#   VV_FRONTEND  path to the tool (default: build/tests/frontend/vv-frontend)
# Exit status: number of failed runs (0 = all passed), 2 on usage errors.
set -u
[ $# -ge 1 ] || { echo "usage: $0 BACKEND [VV_FRONTEND]" >&2; exit 2; }
BACKEND=$1
FE=${2:-build/tests/frontend/vv-frontend}
[ -x "$BACKEND" ] && [ -x "$FE" ] || { echo "$0: $BACKEND or $FE not executable" >&2; exit 2; }

dir=$(mktemp -d /tmp/vvfe-check.XXXXXX)
# CIDs unique per run: several instances (and other users) share the host.
base=$(( ($$ % 20000) * 4 + 1000 ))
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

start() { # start N: backend for VM N
	"$BACKEND" --guest-cid $((base + $1)) --socket "$dir/vm$1.vhost" \
		--uds-path "$dir/vm$1.vsock" >"$dir/backend$1.log" 2>&1 &
	pids="$pids $!"
}
start 0
start 1
i=0
while [ ! -S "$dir/vm0.vhost" ] || [ ! -S "$dir/vm1.vhost" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && { echo "$0: backend did not start" >&2; cat "$dir"/backend*.log >&2; exit 2; }
	sleep 0.1
done

fails=0
port=7000
run() { # run MODE ARGS...: one vv-frontend run on VM 0
	port=$((port + 1))
	if "$FE" "$@" --port $port --socket "$dir/vm0.vhost" --uds "$dir/vm0.vsock" --timeout 120; then
		:
	else
		fails=$((fails + 1))
		echo "FAILED: vv-frontend $*" >&2
	fi
}

run g2h --bytes 256M
run h2g --bytes 256M
run bidir --bytes 128M
for layout in "--rx-buf 1024 --rx-hdr-split" "--rx-buf 4140 --rx-hdr-split --no-event-idx" \
	"--tx-seg 4096 --tx-hdr-split-at 20" "--tx-hdr-joined" "--spin" \
	"--queue-size 64 --buf-alloc 32K" "--queue-size 1024 --mem 256M"; do
	# shellcheck disable=SC2086
	run bidir --bytes 32M $layout
done
run pingpong --count 20000 --size 64
run pingpong --count 20000 --size 64 --spin
run connrate --count 2000
run conns --count 1000 --bytes 16K
run reboot --count 10
run hostile --case all
port=$((port + 1))
if ! "$FE" multi --socket "$dir/vm0.vhost" --uds "$dir/vm0.vsock" --socket "$dir/vm1.vhost" \
	--uds "$dir/vm1.vsock" --streams 4 --bytes 32M --port $port --timeout 120; then
	fails=$((fails + 1))
	echo "FAILED: vv-frontend multi" >&2
fi
for p in $pids; do
	kill -0 "$p" 2>/dev/null || { echo "FAILED: backend $p died" >&2; fails=$((fails + 1)); }
done
echo "check_backend: $fails failed run(s)" >&2
exit $fails
