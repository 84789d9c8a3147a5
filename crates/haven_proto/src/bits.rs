//! MSB-first bit packing for the pose format.

/// Appends fixed-width unsigned fields, most significant bit first.
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// Bits not yet written out, in the low `pending` bits.
    acc: u64,
    pending: u32,
}

impl BitWriter {
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            acc: 0,
            pending: 0,
        }
    }

    /// Writes the low `width` bits of `value` (width ≤ 32).
    pub(crate) fn write(&mut self, value: u32, width: u32) {
        debug_assert!(width <= 32, "fields are at most 32 bits wide");
        debug_assert!(
            width == 32 || value >> width == 0,
            "value must fit its field"
        );
        // At most 7 pending bits + 32 new ones: fits in the u64.
        self.acc = (self.acc << width) | u64::from(value);
        self.pending += width;
        while self.pending >= 8 {
            self.pending -= 8;
            self.bytes.push((self.acc >> self.pending) as u8);
        }
        self.acc &= (1 << self.pending) - 1;
    }

    /// The bytes, the last one padded with zero bits.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.pending > 0 {
            self.bytes.push((self.acc << (8 - self.pending)) as u8);
        }
        self.bytes
    }
}

/// Reads fixed-width unsigned fields, most significant bit first.
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Next byte to load.
    next: usize,
    /// Loaded bits not yet read, in the low `loaded` bits.
    acc: u64,
    loaded: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            next: 0,
            acc: 0,
            loaded: 0,
        }
    }

    /// Reads `width` bits (width ≤ 32), or `None` past the end.
    pub(crate) fn read(&mut self, width: u32) -> Option<u32> {
        debug_assert!(width <= 32, "fields are at most 32 bits wide");
        let have = (self.bytes.len() - self.next) as u64 * 8 + u64::from(self.loaded);
        if u64::from(width) > have {
            return None;
        }
        while self.loaded < width {
            self.acc = (self.acc << 8) | u64::from(self.bytes[self.next]);
            self.next += 1;
            self.loaded += 8;
        }
        self.loaded -= width;
        let value = (self.acc >> self.loaded) as u32 & (((1u64 << width) - 1) as u32);
        self.acc &= (1 << self.loaded) - 1;
        Some(value)
    }

    /// Bits consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.next * 8 - self.loaded as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_across_byte_boundaries() {
        let fields = [
            (1u32, 1u32),
            (5, 3),
            (0x7fff, 15),
            (0, 7),
            (0xabc, 12),
            (u32::MAX, 32),
        ];
        let mut w = BitWriter::with_capacity(16);
        for (v, width) in fields {
            w.write(v, width);
        }
        let bytes = w.finish();
        assert_eq!(bytes.len(), (1 + 3 + 15 + 7 + 12 + 32usize).div_ceil(8));
        let mut r = BitReader::new(&bytes);
        for (v, width) in fields {
            assert_eq!(r.read(width), Some(v));
        }
        assert_eq!(r.read(8), None, "only padding is left");
    }
}
