#!/usr/bin/env python3
"""aiortc's figures for `haven bench`, measured the way Haven's are, in one process on loopback.

Two aiortc peers exchange SDP directly (no signaling server, which favours aiortc a little):
  join_ms        from creating the peer connections to the answerer holding both its first
                 data-channel message and its first decoded audio frame;
  bulk_mb_per_s  a 20 MB object over a reliable, ordered data channel in 16 KiB messages, with
                 back-pressure on bufferedAmount, until the receiver holds every byte.
Prints one JSON object.
"""

import asyncio
import fractions
import json
import math
import time

import aioice.ice

aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"]

import av  # noqa: E402
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection  # noqa: E402

BULK = 20_000_000
CHUNK = 16 * 1024


class Tone(MediaStreamTrack):
    kind = "audio"

    def __init__(self):
        super().__init__()
        self.pts = 0
        self.start = None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.pts / 48000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        samples = bytes(
            b
            for i in range(960)
            for b in int(8000 * math.sin(2 * math.pi * 440 * (self.pts + i) / 48000)).to_bytes(
                2, "little", signed=True
            )
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(samples)
        frame.sample_rate = 48000
        frame.pts = self.pts
        frame.time_base = fractions.Fraction(1, 48000)
        self.pts += 960
        return frame


async def main():
    t0 = time.monotonic()
    a = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    b = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    first_message = asyncio.get_event_loop().create_future()
    first_audio = asyncio.get_event_loop().create_future()
    got = {"bytes": 0}
    bulk_done = asyncio.get_event_loop().create_future()

    a.addTrack(Tone())
    channel = a.createDataChannel("control")
    bulk = a.createDataChannel("bulk")

    @channel.on("open")
    def on_open():
        channel.send(b"hello")

    @b.on("datachannel")
    def on_channel(ch):
        @ch.on("message")
        def on_message(message):
            if ch.label == "control" and not first_message.done():
                first_message.set_result(time.monotonic())
            elif ch.label == "bulk":
                got["bytes"] += len(message)
                if got["bytes"] >= BULK and not bulk_done.done():
                    bulk_done.set_result(time.monotonic())

    @b.on("track")
    def on_track(track):
        async def pull():
            await track.recv()
            if not first_audio.done():
                first_audio.set_result(time.monotonic())
            while True:
                try:
                    await track.recv()
                except Exception:
                    return

        asyncio.ensure_future(pull())

    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)
    t_msg = await asyncio.wait_for(first_message, 30)
    t_audio = await asyncio.wait_for(first_audio, 30)
    join_ms = (max(t_msg, t_audio) - t0) * 1000

    while bulk.readyState != "open":
        await asyncio.sleep(0.01)
    payload = bytes(CHUNK)
    low = asyncio.Event()
    bulk.bufferedAmountLowThreshold = 64 * 1024

    @bulk.on("bufferedamountlow")
    def on_low():
        low.set()

    start = time.monotonic()
    sent = 0
    while sent < BULK:
        n = min(CHUNK, BULK - sent)
        bulk.send(payload[:n])
        sent += n
        if bulk.bufferedAmount > 256 * 1024:
            low.clear()
            await asyncio.wait_for(low.wait(), 30)
    done = await asyncio.wait_for(bulk_done, 120)
    mb_per_s = BULK / 1e6 / (done - start)
    await a.close()
    await b.close()
    print(json.dumps({"join_ms": round(join_ms, 3), "bulk_mb_per_s": round(mb_per_s, 3)}))


asyncio.run(main())
