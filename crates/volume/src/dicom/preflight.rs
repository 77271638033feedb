//! A walk over element headers before handing bytes to the DICOM parser.
//!
//! dicom-rs reserves memory for each element's declared length before reading its value, so a
//! few bytes claiming a 4 GiB value make it allocate 4 GiB. This walk checks every defined
//! length (nested sequences and items included) against the bytes that remain, and refuses the
//! file before parsing when one overshoots. Deflated data sets are inflated here first.
//!
//! dicom-rs also parses nested sequences recursively, so a file of a few MB nesting sequences a
//! hundred thousand deep overflows the stack and aborts the process: the walk counts the
//! nesting and refuses anything deeper than [`MAX_NESTING`].

use crate::error::ErrorKind;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";

/// Checks the data set in `bytes` (starting at the first element, after any preamble).
/// `bare_syntax` is the transfer syntax of a data set that has no meta group. Lengths past the
/// end are [`ErrorKind::Truncated`]; nesting or inflation past a cap is [`ErrorKind::Limit`].
pub(crate) fn check(bytes: &[u8], bare_syntax: Option<&str>) -> Result<(), ErrorKind> {
    let mut walker = Walker { bytes, pos: 0 };
    let syntax = match bare_syntax {
        Some(ts) => ts.to_string(),
        None => walker.walk_meta()?,
    };
    if syntax == DEFLATED {
        // The data set after the meta group is one raw deflate stream of explicit LE elements.
        let inflated = inflate(&bytes[walker.pos.min(bytes.len())..])?;
        return Walker {
            bytes: &inflated,
            pos: 0,
        }
        .walk(true, false, |_| true);
    }
    let explicit = syntax != IMPLICIT_LE;
    let big_endian = syntax == EXPLICIT_BE;
    walker.walk(explicit, big_endian, |_| true)
}

/// The deepest nesting of sequences and items accepted (real data sets nest a few levels).
pub const MAX_NESTING: usize = 32;

/// Most bytes a deflated data set may inflate to.
const MAX_INFLATED: u64 = 1 << 30;

fn inflate(deflated: &[u8]) -> Result<Vec<u8>, ErrorKind> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(deflated)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .map_err(|e| ErrorKind::Truncated(format!("deflated data set is damaged: {e}")))?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(ErrorKind::Limit(format!(
            "deflated data set inflates past {MAX_INFLATED} bytes"
        )));
    }
    Ok(out)
}

struct Walker<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// VRs whose explicit header has a 2-byte length. Every other VR, unknown ones included (the
/// parser reads those as UN), has two reserved bytes and a 4-byte length.
const SHORT_FORM: [&[u8; 2]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
];

/// The VR the standard dictionary gives `tag`.
fn dictionary_vr(tag: Tag) -> Option<VR> {
    StandardDataDictionary.by_tag(tag).map(|e| e.vr().relaxed())
}

/// Bytes per value of the VRs the parser reads as binary numbers (1 for the others).
fn number_size(vr: VR) -> usize {
    match vr {
        VR::US | VR::SS | VR::OW => 2,
        VR::UL | VR::SL | VR::FL | VR::AT | VR::OF | VR::OL => 4,
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => 8,
        _ => 1,
    }
}

fn short_form(vr: &[u8]) -> bool {
    SHORT_FORM.iter().any(|v| v.as_slice() == vr)
}

impl Walker<'_> {
    fn u16(&self, at: usize, big_endian: bool) -> u16 {
        let b = [self.bytes[at], self.bytes[at + 1]];
        if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32(&self, at: usize, big_endian: bool) -> u32 {
        let b = [
            self.bytes[at],
            self.bytes[at + 1],
            self.bytes[at + 2],
            self.bytes[at + 3],
        ];
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    /// Walks the explicit little-endian meta group and returns its transfer syntax UID.
    fn walk_meta(&mut self) -> Result<String, ErrorKind> {
        let mut syntax = None;
        self.walk(true, false, |w| {
            if w.pos + 8 > w.bytes.len() || w.u16(w.pos, false) != 0x0002 {
                return false;
            }
            if w.u16(w.pos + 2, false) == 0x0010 {
                let len = w.u16(w.pos + 6, false) as usize;
                if let Some(v) = w.bytes.get(w.pos + 8..w.pos + 8 + len) {
                    syntax = Some(
                        String::from_utf8_lossy(v)
                            .trim_end_matches(['\0', ' '])
                            .to_string(),
                    );
                }
            }
            true
        })?;
        Ok(syntax.unwrap_or_default())
    }

    /// Steps over elements while `keep_going` says so, entering sequences and items.
    fn walk(
        &mut self,
        explicit: bool,
        big_endian: bool,
        mut keep_going: impl FnMut(&Self) -> bool,
    ) -> Result<(), ErrorKind> {
        // Inside encapsulated pixel data, items are compressed fragments to step over whole.
        let mut in_fragments = false;
        // The open sequences and items: where each ends, or `None` until its delimiter.
        let mut open: Vec<Option<usize>> = Vec::new();
        while self.pos + 8 <= self.bytes.len() && keep_going(self) {
            while open
                .last()
                .is_some_and(|end| end.is_some_and(|e| self.pos >= e))
            {
                open.pop();
            }
            if open.len() > MAX_NESTING {
                return Err(ErrorKind::Limit(format!(
                    "sequences nested deeper than {MAX_NESTING} levels at byte {}",
                    self.pos
                )));
            }
            let group = self.u16(self.pos, big_endian);
            let element = self.u16(self.pos + 2, big_endian);
            let tag = Tag(group, element);
            let remaining = |header: usize| self.bytes.len().saturating_sub(self.pos + header);
            if group == 0xFFFE {
                // Item (E000), item delimiter (E00D), sequence delimiter (E0DD): a 4-byte
                // length and no VR. Any other element of this group is read the same way,
                // with its value.
                let len = self.u32(self.pos + 4, big_endian);
                let delimiter = matches!(element, 0xE00D | 0xE0DD);
                if !delimiter && len != u32::MAX && len as usize > remaining(8) {
                    return Err(ErrorKind::Truncated(format!(
                        "item ({group:04X},{element:04X}) at byte {} claims {len} bytes, only {} remain",
                        self.pos,
                        remaining(8)
                    )));
                }
                if element == 0xE0DD {
                    in_fragments = false;
                }
                let is_item = element == 0xE000;
                if delimiter {
                    // Closes the innermost open item (E00D) or sequence (E0DD).
                    open.pop();
                } else if is_item && !in_fragments {
                    open.push((len != u32::MAX).then(|| self.pos + 8 + len as usize));
                }
                let skip =
                    if (in_fragments && is_item) || (!is_item && !delimiter && len != u32::MAX) {
                        len as usize
                    } else {
                        0
                    };
                self.pos += 8 + skip;
                continue;
            }
            let (header, len, vr) = if explicit {
                let code = [self.bytes[self.pos + 4], self.bytes[self.pos + 5]];
                // Bytes that are no VR keep the 4-byte length form, and the parser reads the
                // value with the dictionary's VR.
                let vr = VR::from_binary(code).or_else(|| dictionary_vr(tag));
                if !short_form(&code) {
                    if self.pos + 12 > self.bytes.len() {
                        return Ok(());
                    }
                    (12, self.u32(self.pos + 8, big_endian), vr)
                } else {
                    (8, self.u16(self.pos + 6, big_endian) as u32, vr)
                }
            } else {
                (8, self.u32(self.pos + 4, big_endian), dictionary_vr(tag))
            };
            let is_sequence = vr == Some(VR::SQ);
            if len == u32::MAX || is_sequence {
                // Undefined length (sequence or encapsulated pixel data), or a sequence whose
                // items are walked in turn.
                if len != u32::MAX && len as usize > remaining(header) {
                    return Err(ErrorKind::Truncated(format!(
                        "sequence {tag} claims {len} bytes, only {} remain",
                        remaining(header)
                    )));
                }
                in_fragments = len == u32::MAX && tag == Tag(0x7FE0, 0x0010);
                if !in_fragments {
                    open.push((len != u32::MAX).then(|| self.pos + header + len as usize));
                }
                self.pos += header;
                continue;
            }
            if len as usize > remaining(header) {
                return Err(ErrorKind::Truncated(format!(
                    "element {tag} claims {len} bytes, only {} remain",
                    remaining(header)
                )));
            }
            // The parser reads binary numbers whole: a length that is not a multiple of the
            // number's size leaves the remainder to be read as the next element's header.
            let unit = vr.map_or(1, number_size);
            self.pos += header + len as usize - len as usize % unit;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlong_element_is_caught_before_parsing() {
        // (0008,0016) UI, implicit VR LE, length 0xFFFFFFF0 with 4 bytes of data.
        let mut bytes = vec![0x08, 0x00, 0x16, 0x00];
        bytes.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        bytes.extend_from_slice(b"1.2\0");
        let err = check(&bytes, Some(IMPLICIT_LE)).unwrap_err().to_string();
        assert!(
            err.contains("(0008,0016)") && err.contains("claims"),
            "{err}"
        );
    }

    /// `depth` sequences, each holding one item that holds the next, in explicit VR LE.
    fn nested(depth: usize, defined: bool) -> Vec<u8> {
        let mut inner: Vec<u8> = vec![0x10, 0x00, 0x10, 0x00, b'P', b'N', 2, 0, b'A', b'B'];
        for _ in 0..depth {
            let item_len = if defined {
                inner.len() as u32
            } else {
                u32::MAX
            };
            let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
            item.extend_from_slice(&item_len.to_le_bytes());
            item.extend_from_slice(&inner);
            if !defined {
                item.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
            }
            let seq_len = if defined { item.len() as u32 } else { u32::MAX };
            let mut seq = vec![0x40, 0x00, 0x30, 0xA7, b'S', b'Q', 0, 0];
            seq.extend_from_slice(&seq_len.to_le_bytes());
            seq.extend_from_slice(&item);
            if !defined {
                seq.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
            }
            inner = seq;
        }
        inner
    }

    #[test]
    fn nesting_is_bounded_whether_lengths_are_defined_or_not() {
        const LE: &str = "1.2.840.10008.1.2.1";
        for defined in [true, false] {
            // A sequence and an item per level: 16 levels open 32.
            assert!(check(&nested(16, defined), Some(LE)).is_ok(), "{defined}");
            let e = check(&nested(17, defined), Some(LE))
                .unwrap_err()
                .to_string();
            assert!(e.contains("nested deeper than 32 levels"), "{e}");
            // Siblings do not add up: many shallow sequences in a row pass.
            let many: Vec<u8> = (0..100).flat_map(|_| nested(3, defined)).collect();
            assert!(check(&many, Some(LE)).is_ok(), "{defined}");
        }
    }

    #[test]
    fn well_formed_elements_pass() {
        let mut bytes = vec![0x08, 0x00, 0x16, 0x00, b'U', b'I', 4, 0];
        bytes.extend_from_slice(b"1.2\0");
        assert!(check(&bytes, Some("1.2.840.10008.1.2.1")).is_ok());
    }
}
