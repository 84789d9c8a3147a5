//! MSB-first bit packing for the pose format.

/// Appends fixed-width unsigned fields, most significant bit first.
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = the last byte is full or there is none).
    used: u32,
}

impl BitWriter {
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            used: 0,
        }
    }

    /// Writes the low `width` bits of `value` (width ≤ 32).
    pub(crate) fn write(&mut self, value: u32, width: u32) {
        debug_assert!(width <= 32, "fields are at most 32 bits wide");
        debug_assert!(
            width == 32 || value >> width == 0,
            "value must fit its field"
        );
        for i in (0..width).rev() {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let bit = ((value >> i) & 1) as u8;
            let last = self.bytes.last_mut().expect("a byte was pushed above");
            *last |= bit << (7 - self.used);
            self.used = (self.used + 1) % 8;
        }
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads fixed-width unsigned fields, most significant bit first.
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Reads `width` bits (width ≤ 32), or `None` past the end.
    pub(crate) fn read(&mut self, width: u32) -> Option<u32> {
        let end = self.pos.checked_add(width as usize)?;
        if end > self.bytes.len() * 8 {
            return None;
        }
        let mut value = 0u32;
        for _ in 0..width {
            let byte = self.bytes[self.pos / 8];
            let bit = (byte >> (7 - (self.pos % 8))) & 1;
            value = (value << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(value)
    }

    /// Bits consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
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
