#!/usr/bin/env python3
"""RTP packets per SSRC per second in a pcap (tcpdump -w) of the spike's loopback."""
import struct, sys, collections
data = open(sys.argv[1], 'rb').read()
magic = struct.unpack('<I', data[:4])[0]
endian = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
linktype = struct.unpack(endian + 'I', data[20:24])[0]
off, t0, counts = 24, None, collections.defaultdict(collections.Counter)
while off + 16 <= len(data):
    sec, usec, incl, _ = struct.unpack(endian + 'IIII', data[off:off + 16])
    pkt = data[off + 16: off + 16 + incl]
    off += 16 + incl
    ip = pkt[16:] if linktype == 113 else pkt[14:] if linktype == 1 else pkt[4:] if linktype == 0 else pkt
    if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
        continue
    ihl = (ip[0] & 15) * 4
    sport, dport = struct.unpack('!HH', ip[ihl:ihl + 4])
    rtp = ip[ihl + 8:]
    if len(rtp) < 12 or rtp[0] >> 6 != 2 or (rtp[1] & 0x7f) != 111:
        continue
    t = sec + usec / 1e6
    t0 = t if t0 is None else t0
    ssrc = struct.unpack('!I', rtp[8:12])[0]
    counts[(ssrc, sport, dport)][int(t - t0)] += 1
for (ssrc, sport, dport), per_s in sorted(counts.items()):
    print(f"ssrc {ssrc:>10} {sport}->{dport}: " + " ".join(f"{s}s:{n}" for s, n in sorted(per_s.items())))
