#!/usr/bin/env python3
"""An independent WebRTC peer for Haven's interop test: aiortc (Python), not webrtc-rs.

It takes a Haven invite, joins through haven_signal (WebSocket over TLS, the certificate pinned
from the invite), answers the Haven peer's offer, and then for --seconds:
  - sends Opus audio read from --send (WAV, 48 kHz 16-bit mono) and records what it hears to
    --record (channel 0 of what aiortc decodes);
  - takes Haven's three data channels as Haven opens them in band (DCEP: pose, control, bulk),
    checks their settings, sends head-only
    pose updates it encodes itself from the wire format in haven_proto/src/pose.rs, and two
    control events (speaking, muted);
  - checks what arrives from Haven: pose updates (version bits, lengths) and control events.
At the end it prints one JSON object with what it saw.

Loopback only: no STUN server, and aioice is told to offer 127.0.0.1 (it leaves loopback out of
its host addresses by default).
"""

import argparse
import asyncio
import base64
import fractions
import hashlib
import json
import math
import ssl
import sys
import time
import wave
from array import array

import aioice.ice

# aioice skips loopback addresses; this test runs on loopback only (in its own network
# namespace), so offer 127.0.0.1 and nothing else.
aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"]

import av  # noqa: E402
from aiortc import (  # noqa: E402
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

RATE = 48000
FRAME = 960  # 20 ms


def log(*args):
    print("aiortc_peer:", *args, file=sys.stderr, flush=True)


def parse_invite(token):
    prefix, payload, _tag = token.strip().split(".")
    assert prefix == "hv1", "not a Haven invite"
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


class BitWriter:
    def __init__(self):
        self.bits = []

    def write(self, value, width):
        for i in reversed(range(width)):
            self.bits.append((value >> i) & 1)

    def finish(self):
        out = bytearray()
        for i in range(0, len(self.bits), 8):
            chunk = self.bits[i : i + 8] + [0] * (8 - len(self.bits[i : i + 8]))
            out.append(int("".join(map(str, chunk)), 2))
        return bytes(out)


def quantize(value, half, bits):
    m = (1 << (bits - 1)) - 1
    v = max(-half, min(half, value)) / half
    return int(round(v * m)) + m


def encode_head_pose(seq, t_ms, position, quat):
    """A head-only pose update, written from the format's description alone."""
    w = BitWriter()
    w.write(1, 3)  # version
    w.write(0, 4)  # flags: no hands
    w.write(seq & 0xFFFF, 16)
    w.write(t_ms & 0xFFFF, 16)
    for c in position:
        w.write(quantize(c, 16.0, 15), 15)
    q = list(quat)
    largest = max(range(4), key=lambda i: abs(q[i]))
    if q[largest] < 0:
        q = [-c for c in q]
    w.write(largest, 2)
    for i, c in enumerate(q):
        if i != largest:
            w.write(quantize(c, 1 / math.sqrt(2), 12), 12)
    return w.finish()


class WavTrack(MediaStreamTrack):
    """Audio from a WAV file, paced in real time, 20 ms a frame; silence after the end."""

    kind = "audio"

    def __init__(self, path):
        super().__init__()
        with wave.open(path) as f:
            assert f.getframerate() == RATE and f.getnchannels() == 1 and f.getsampwidth() == 2
            self.samples = f.readframes(f.getnframes())
        self.pts = 0
        self.start = None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.pts / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk = self.samples[self.pts * 2 : (self.pts + FRAME) * 2]
        chunk += b"\0" * (FRAME * 2 - len(chunk))
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(chunk)
        frame.sample_rate = RATE
        frame.pts = self.pts
        frame.time_base = fractions.Fraction(1, RATE)
        self.pts += FRAME
        return frame


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--invite", required=True)
    ap.add_argument("--send", required=True, help="WAV to send (48 kHz 16-bit mono)")
    ap.add_argument("--record", required=True, help="WAV to write with what is heard")
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()

    invite = parse_invite(args.invite)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # pinned below instead
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    url = f"wss://{invite['host']}:{invite['port']}"
    seen = {
        "welcomed": False,
        "connected": False,
        "poses_received": 0,
        "pose_first_bytes_ok": True,
        "channels_taken": [],
        "channel_settings_ok": True,
        "pose_lengths": [],
        "controls_received": [],
        "audio_frames_received": 0,
        "poses_sent": 0,
        "controls_sent": 0,
    }
    # What is heard, placed by each frame's timestamp, so that gaps (loss, DTX) stay gaps.
    recorded = array("h")
    first_pts = []
    async with connect(url, ssl=ctx, max_size=65536) as ws:
        cert = ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
        if hashlib.sha256(cert).hexdigest() != invite["pin"]:
            raise SystemExit("the server's certificate does not match the invite's pin")
        await ws.send(json.dumps({"type": "hello", "version": 1, "token": args.invite.strip()}))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        seen["welcomed"] = True
        print(json.dumps({"welcomed": welcome["peer_id"]}), flush=True)

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        channels = {}
        remote_set = asyncio.Event()
        pending = []
        done = asyncio.Event()
        ready = asyncio.Event()

        @pc.on("track")
        def on_track(track):
            async def pull():
                while True:
                    try:
                        frame = await track.recv()
                    except Exception:
                        return
                    seen["audio_frames_received"] += 1
                    channels = len(frame.layout.channels)
                    pcm = array("h", bytes(frame.planes[0])[: frame.samples * channels * 2])
                    mono = pcm[::channels]
                    if not first_pts:
                        first_pts.append(frame.pts)
                    at = frame.pts - first_pts[0]
                    if 0 <= at < RATE * 600:
                        if len(recorded) < at:
                            recorded.extend([0] * (at - len(recorded)))
                        recorded[at : at + len(mono)] = mono

            asyncio.ensure_future(pull())

        @pc.on("connectionstatechange")
        def on_state():
            log("connection", pc.connectionState)
            if pc.connectionState == "connected":
                seen["connected"] = True

        expected = {
            # label: (ordered, maxRetransmits)
            "pose": (False, 0),
            "control": (True, None),
            "bulk": (True, None),
        }

        @pc.on("datachannel")
        def on_datachannel(channel):
            # Haven opens its channels in band; a channel arrives here once its open message
            # did, so sending on it at once is safe.
            want = expected.get(channel.label)
            if (
                want is None
                or channel.protocol != "haven/1"
                or (channel.ordered, channel.maxRetransmits) != want
            ):
                seen["channel_settings_ok"] = False
                return
            channels[channel.label] = channel
            seen["channels_taken"].append(channel.label)
            if channel.label == "pose":

                @channel.on("message")
                def on_pose(message):
                    seen["poses_received"] += 1
                    if len(seen["pose_lengths"]) < 5:
                        seen["pose_lengths"].append(len(message))
                    if message[0] >> 5 != 1:
                        seen["pose_first_bytes_ok"] = False

            elif channel.label == "control":

                @channel.on("message")
                def on_control(message):
                    seen["controls_received"].append(bytes(message).hex())

                # speaking = true, muted = false: version 1, variant index, bool. No wait:
                # the channel is open on both sides by the time it arrives here.
                channel.send(bytes([1, 2, 1]))
                channel.send(bytes([1, 3, 0]))
                seen["controls_sent"] += 2
            if all(label in channels for label in expected):
                ready.set()

        async def send_poses():
            await ready.wait()
            start = time.monotonic()
            seq = 0
            while not done.is_set():
                pose = channels.get("pose")
                if pose is not None and pose.readyState == "open":
                    t = time.monotonic() - start
                    pos = (0.1 * math.sin(t), 1.6, -1.0)
                    yaw = 0.3 * math.sin(t)
                    quat = (0.0, math.sin(yaw / 2), 0.0, math.cos(yaw / 2))
                    pose.send(encode_head_pose(seq, int(t * 1000), pos, quat))
                    seq += 1
                    seen["poses_sent"] += 1
                await asyncio.sleep(0.02)

        async def signaling():
            async for text in ws:
                msg = json.loads(text)
                kind = msg["type"]
                if kind == "offer":
                    await pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "offer"))
                    # The track before the answer.
                    pc.addTrack(WavTrack(args.send))
                    await pc.setLocalDescription(await pc.createAnswer())
                    await ws.send(
                        json.dumps(
                            {"type": "answer", "to": msg["from"], "sdp": pc.localDescription.sdp}
                        )
                    )
                    remote_set.set()
                    for c in pending:
                        await pc.addIceCandidate(c)
                elif kind == "ice-candidate":
                    init = msg["candidate"]
                    line = init.get("candidate", "")
                    if not line:
                        candidate = None
                    else:
                        candidate = candidate_from_sdp(line.removeprefix("candidate:"))
                        candidate.sdpMid = init.get("sdpMid") or None
                        candidate.sdpMLineIndex = init.get("sdpMLineIndex", 0)
                    if remote_set.is_set():
                        await pc.addIceCandidate(candidate)
                    else:
                        pending.append(candidate)
                elif kind == "error":
                    log("server error", msg)

        sig = asyncio.ensure_future(signaling())
        poses = asyncio.ensure_future(send_poses())
        await asyncio.sleep(args.seconds)
        done.set()
        # What aiortc's receiver counted: lost packets come from gaps in sequence numbers.
        for report in (await pc.getStats()).values():
            if report.type == "inbound-rtp" and report.kind == "audio":
                seen["audio_packets_received"] = report.packetsReceived
                seen["audio_packets_lost"] = report.packetsLost
        await pc.close()
        sig.cancel()
        poses.cancel()

    with wave.open(args.record, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(RATE)
        f.writeframes(recorded.tobytes())
    print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
