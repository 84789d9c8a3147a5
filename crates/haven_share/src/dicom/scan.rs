//! A bounded walk over a DICOM file's element structure, run before the file is handed to
//! the parser.
//!
//! The parser trusts each element's length and allocates that much up front; a 40-byte
//! file whose element claims 4 GiB would make it try. This walk checks every length against
//! the bytes that are really there (and against its parent sequence or item), limits the
//! nesting depth and the number of elements, and finds the transfer syntax and where the
//! top-level Pixel Data sits (to prove later that de-identification kept it byte for byte).

use std::ops::Range;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use super::{DicomError, DicomLimits};

const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: (u16, u16) = (0xFFFE, 0xE000);
const ITEM_END: (u16, u16) = (0xFFFE, 0xE00D);
const SEQ_END: (u16, u16) = (0xFFFE, 0xE0DD);
const PIXEL_DATA: (u16, u16) = (0x7FE0, 0x0010);

/// How the data set after the file meta group is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    ImplicitLe,
    ExplicitLe,
    ExplicitBe,
}

/// What the walk learnt.
#[derive(Debug, Clone)]
pub(super) struct Scanned {
    /// The transfer syntax UID, trimmed.
    pub(super) transfer_syntax: String,
    /// Byte range of the top-level Pixel Data value (native bytes, or the whole encapsulated
    /// item sequence), if any.
    pub(super) pixel_data: Option<Range<usize>>,
}

/// An element, item or delimiter header.
struct ElementHeader {
    tag: (u16, u16),
    /// The VR, in explicit encodings (not for items and delimiters).
    vr: Option<[u8; 2]>,
    len: u32,
    value_at: usize,
}

struct Walker<'a> {
    b: &'a [u8],
    limits: &'a DicomLimits,
    elements: usize,
    pixel_data: Option<Range<usize>>,
}

/// Walks `bytes` (a whole file: preamble, "DICM", meta group, data set).
pub(super) fn scan(bytes: &[u8], limits: &DicomLimits) -> Result<Scanned, DicomError> {
    if bytes.get(128..132) != Some(b"DICM") {
        return Err(DicomError::NotDicom);
    }
    let mut w = Walker {
        b: bytes,
        limits,
        elements: 0,
        pixel_data: None,
    };
    // File meta group: always explicit VR little endian.
    let mut pos = 132;
    let mut transfer_syntax = None;
    while w.u16_at(pos, false)? == 0x0002 {
        let ElementHeader {
            tag,
            vr,
            len,
            value_at,
        } = w.header(pos, Encoding::ExplicitLe, bytes.len())?;
        if len == UNDEFINED {
            return Err(malformed("undefined length in the file meta group"));
        }
        let end = w.value_end(value_at, len, bytes.len())?;
        if tag == (0x0002, 0x0010) {
            let raw = &bytes[value_at..end];
            let uid = String::from_utf8_lossy(raw)
                .trim_end_matches(['\0', ' '])
                .to_owned();
            transfer_syntax = Some(uid);
        }
        let _ = vr;
        pos = end;
        if pos == bytes.len() {
            break;
        }
    }
    let transfer_syntax = transfer_syntax.ok_or_else(|| malformed("no transfer syntax"))?;
    let encoding = match transfer_syntax.as_str() {
        "1.2.840.10008.1.2" => Encoding::ImplicitLe,
        "1.2.840.10008.1.2.2" => Encoding::ExplicitBe,
        "1.2.840.10008.1.2.1.99" => {
            return Err(DicomError::UnsupportedTransferSyntax {
                uid: transfer_syntax,
                name: "Deflated Explicit VR Little Endian",
            });
        }
        _ => Encoding::ExplicitLe,
    };
    w.walk_dataset(pos, bytes.len(), encoding, 0, false)?;
    Ok(Scanned {
        transfer_syntax,
        pixel_data: w.pixel_data,
    })
}

fn malformed(reason: &str) -> DicomError {
    DicomError::Malformed {
        reason: reason.to_owned().into(),
    }
}

/// Whether an explicit VR has the 4-byte length form. An unknown VR code is read as UN (as
/// the parser does), so it has the long form too: the walk must see the lengths the parser
/// will use.
fn has_long_length(vr: [u8; 2]) -> bool {
    !is_known_vr(vr)
        || matches!(
            &vr,
            b"OB"
                | b"OD"
                | b"OF"
                | b"OL"
                | b"OV"
                | b"OW"
                | b"SQ"
                | b"UC"
                | b"UN"
                | b"UR"
                | b"UT"
                | b"SV"
                | b"UV"
        )
}

fn is_known_vr(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FD"
            | b"FL"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SQ"
            | b"SS"
            | b"ST"
            | b"SV"
            | b"TM"
            | b"UC"
            | b"UI"
            | b"UL"
            | b"UN"
            | b"UR"
            | b"US"
            | b"UT"
            | b"UV"
    )
}

impl Walker<'_> {
    fn u16_at(&self, at: usize, big: bool) -> Result<u16, DicomError> {
        let s = self.b.get(at..at + 2).ok_or(DicomError::Truncated)?;
        Ok(if big {
            u16::from_be_bytes([s[0], s[1]])
        } else {
            u16::from_le_bytes([s[0], s[1]])
        })
    }

    fn u32_at(&self, at: usize, big: bool) -> Result<u32, DicomError> {
        let s = self.b.get(at..at + 4).ok_or(DicomError::Truncated)?;
        let a = [s[0], s[1], s[2], s[3]];
        Ok(if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    /// Reads an element (or item/delimiter) header at `pos`; returns the tag, the VR (explicit
    /// only), the length and where the value starts.
    fn header(
        &mut self,
        pos: usize,
        enc: Encoding,
        end: usize,
    ) -> Result<ElementHeader, DicomError> {
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(DicomError::TooLarge {
                what: "elements",
                size: self.elements as u64,
                max: self.limits.max_elements as u64,
            });
        }
        if pos + 8 > end {
            return Err(if end == self.b.len() {
                DicomError::Truncated
            } else {
                malformed("element header crosses its parent's end")
            });
        }
        let big = enc == Encoding::ExplicitBe;
        let tag = (self.u16_at(pos, big)?, self.u16_at(pos + 2, big)?);
        // Items and delimiters have no VR, in every encoding.
        if tag.0 == 0xFFFE || enc == Encoding::ImplicitLe {
            return Ok(ElementHeader {
                tag,
                vr: None,
                len: self.u32_at(pos + 4, big)?,
                value_at: pos + 8,
            });
        }
        let vr = [self.b[pos + 4], self.b[pos + 5]];
        if has_long_length(vr) {
            if pos + 12 > end {
                return Err(DicomError::Truncated);
            }
            Ok(ElementHeader {
                tag,
                vr: Some(vr),
                len: self.u32_at(pos + 8, big)?,
                value_at: pos + 12,
            })
        } else {
            Ok(ElementHeader {
                tag,
                vr: Some(vr),
                len: u32::from(self.u16_at(pos + 6, big)?),
                value_at: pos + 8,
            })
        }
    }

    fn value_end(&self, at: usize, len: u32, end: usize) -> Result<usize, DicomError> {
        let stop = at.checked_add(len as usize).ok_or(DicomError::Truncated)?;
        if stop > end {
            return Err(if end == self.b.len() {
                DicomError::Truncated
            } else {
                malformed("an element runs past its parent's end")
            });
        }
        Ok(stop)
    }

    fn check_depth(&self, depth: usize) -> Result<(), DicomError> {
        if depth > self.limits.max_depth {
            return Err(DicomError::TooLarge {
                what: "sequence nesting",
                size: depth as u64,
                max: self.limits.max_depth as u64,
            });
        }
        Ok(())
    }

    /// Walks a data set from `pos` to `end`; in an undefined-length item it stops at the item
    /// delimiter and returns the position after it.
    fn walk_dataset(
        &mut self,
        mut pos: usize,
        end: usize,
        enc: Encoding,
        depth: usize,
        in_undefined_item: bool,
    ) -> Result<usize, DicomError> {
        self.check_depth(depth)?;
        while pos < end {
            let ElementHeader {
                tag,
                vr,
                len,
                value_at,
            } = self.header(pos, enc, end)?;
            if tag == ITEM_END {
                if in_undefined_item {
                    return Ok(value_at);
                }
                return Err(malformed("item delimiter outside an item"));
            }
            if tag.0 == 0xFFFE {
                return Err(malformed("item or sequence delimiter in a data set"));
            }
            let is_sq = match vr {
                Some(vr) => &vr == b"SQ",
                None => {
                    len == UNDEFINED
                        || StandardDataDictionary
                            .by_tag(Tag(tag.0, tag.1))
                            .is_some_and(|e| e.vr().relaxed() == VR::SQ)
                }
            };
            let is_un = vr.is_some_and(|vr| &vr == b"UN" || !is_known_vr(vr));
            pos = if tag == PIXEL_DATA && depth == 0 && len == UNDEFINED {
                let stop = self.walk_fragments(value_at, end)?;
                self.pixel_data = Some(value_at..stop);
                stop
            } else if is_sq || (is_un && len == UNDEFINED) {
                // An undefined-length UN holds an implicit VR little endian sequence.
                let inner = if is_un { Encoding::ImplicitLe } else { enc };
                self.walk_items(value_at, len, end, inner, depth + 1)?
            } else if len == UNDEFINED {
                return Err(malformed("undefined length on a non-sequence element"));
            } else {
                let stop = self.value_end(value_at, len, end)?;
                if tag == PIXEL_DATA && depth == 0 {
                    self.pixel_data = Some(value_at..stop);
                }
                stop
            };
        }
        if in_undefined_item {
            return Err(if end == self.b.len() {
                DicomError::Truncated
            } else {
                malformed("item without its delimiter")
            });
        }
        Ok(pos)
    }

    /// Walks a sequence's items; returns the position after the sequence.
    fn walk_items(
        &mut self,
        at: usize,
        len: u32,
        end: usize,
        enc: Encoding,
        depth: usize,
    ) -> Result<usize, DicomError> {
        self.check_depth(depth)?;
        let undefined = len == UNDEFINED;
        let seq_end = if undefined {
            end
        } else {
            self.value_end(at, len, end)?
        };
        let mut pos = at;
        loop {
            if !undefined && pos == seq_end {
                return Ok(pos);
            }
            let ElementHeader {
                tag,
                len: item_len,
                value_at,
                ..
            } = self.header(pos, enc, seq_end)?;
            match tag {
                SEQ_END if undefined => return Ok(value_at),
                ITEM if item_len == UNDEFINED => {
                    pos = self.walk_dataset(value_at, seq_end, enc, depth + 1, true)?;
                }
                ITEM => {
                    let item_end = self.value_end(value_at, item_len, seq_end)?;
                    let stop = self.walk_dataset(value_at, item_end, enc, depth + 1, false)?;
                    if stop != item_end {
                        return Err(malformed("item content does not match its length"));
                    }
                    pos = item_end;
                }
                _ => return Err(malformed("expected an item in a sequence")),
            }
        }
    }

    /// Walks encapsulated pixel data fragments; returns the position after the delimiter.
    fn walk_fragments(&mut self, mut pos: usize, end: usize) -> Result<usize, DicomError> {
        loop {
            let ElementHeader {
                tag, len, value_at, ..
            } = self.header(pos, Encoding::ExplicitLe, end)?;
            match tag {
                SEQ_END => return Ok(value_at),
                ITEM if len != UNDEFINED => pos = self.value_end(value_at, len, end)?,
                _ => return Err(malformed("bad encapsulated pixel data")),
            }
        }
    }
}
