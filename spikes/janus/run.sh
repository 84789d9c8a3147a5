#!/usr/bin/env bash
# The Janus spike (see README.md): Janus 1.1 (Debian's `janus`) in a network namespace of its
# own (Janus never offers loopback candidates), and the spike's webrtc-rs peers beside it.
# Needs root. Everything it starts ends with it.
set -euo pipefail
cd "$(dirname "$0")"
ns="haven-janus-spike-$$"
work="$(mktemp -d)"
cleanup() {
    [[ -n "${janus_pid:-}" ]] && kill "$janus_pid" 2>/dev/null || true
    [[ -n "${capture_pid:-}" ]] && kill "$capture_pid" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
# A veth pair with both ends inside: an address that is not loopback, reachable locally.
ip link add hjs0 netns "$ns" type veth peer name hjs1 netns "$ns"
ip -n "$ns" addr add 10.99.0.1/24 dev hjs0
ip -n "$ns" link set hjs0 up
ip -n "$ns" link set hjs1 up
conf=../../assets/janus
lib=$(dirname "$(ls /usr/lib/*/janus/plugins/libjanus_videoroom.so)")/..
cp "$conf/janus.plugin.videoroom.jcfg" "$work/"
sed "s#@IP@#10.99.0.1#" "$conf/janus.transport.websockets.jcfg.in" > "$work/janus.transport.websockets.jcfg"
sed "s#@CONF@#$work#; s#@LIB@#$lib#" "$conf/janus.jcfg.in" > "$work/janus.jcfg"
ip netns exec "$ns" janus -F "$work" -C "$work/janus.jcfg" > "$work/janus.log" 2>&1 &
janus_pid=$!
for _ in $(seq 50); do
    grep -q "WebSockets thread started" "$work/janus.log" && break
    sleep 0.2
done
cargo build --quiet
if [[ -n "${CAPTURE:-}" ]]; then
    # Everything in the namespace goes over its loopback (one address): SRTP headers, SSRCs
    # included, are readable in the capture.
    ip netns exec "$ns" tcpdump -i lo -w "$CAPTURE" -U udp 2>/dev/null &
    capture_pid=$!
    sleep 1
fi
timeout 120 ip netns exec "$ns" env SHOW_SDP="${SHOW_SDP:-}" ./target/debug/janus-spike ws://10.99.0.1:8188
