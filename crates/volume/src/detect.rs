//! Recognising a file's format from its first bytes, before trusting its extension.

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// DICOM Part 10: 128-byte preamble then `DICM`.
    Dicom,
    /// A DICOM data set without preamble or meta group (starts with a group 0002 or 0008 tag).
    DicomNoPreamble,
    /// A gzip stream (`.nii.gz`, a gzipped DICOM file).
    Gzip,
    /// A zip archive.
    Zip,
    /// A NIfTI-1 header.
    Nifti1,
    /// A NIfTI-2 header.
    Nifti2,
    /// An Analyze 7.5 header (348 bytes, no NIfTI magic).
    Analyze,
    /// A numpy `.npy` array.
    Npy,
    /// A Python pickle, protocol 2 or later.
    Pickle,
    /// A PNG picture.
    Png,
    /// A JPEG picture.
    Jpeg,
    /// Nothing recognised.
    Unknown,
}

impl Sniffed {
    /// A short human name for error messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Sniffed::Dicom | Sniffed::DicomNoPreamble => "a DICOM file",
            Sniffed::Gzip => "a gzip stream",
            Sniffed::Zip => "a zip archive",
            Sniffed::Nifti1 => "a NIfTI-1 file",
            Sniffed::Nifti2 => "a NIfTI-2 file",
            Sniffed::Analyze => "an Analyze 7.5 header",
            Sniffed::Npy => "a numpy array",
            Sniffed::Pickle => "a Python pickle",
            Sniffed::Png => "a PNG picture",
            Sniffed::Jpeg => "a JPEG picture",
            Sniffed::Unknown => "unrecognised content",
        }
    }
}

/// Recognises a format from the first bytes of a file (give at least 544 when there are).
pub fn sniff(head: &[u8]) -> Sniffed {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if head.get(128..132) == Some(b"DICM") {
        return Sniffed::Dicom;
    }
    if starts(b"\x93NUMPY") {
        return Sniffed::Npy;
    }
    if starts(&[0x1f, 0x8b]) {
        return Sniffed::Gzip;
    }
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        return Sniffed::Zip;
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Sniffed::Png;
    }
    if starts(&[0xff, 0xd8, 0xff]) {
        return Sniffed::Jpeg;
    }
    if let Some(kind) = nifti_kind(head) {
        return kind;
    }
    if head.len() >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
        return Sniffed::Pickle;
    }
    if looks_like_bare_dicom(head) {
        return Sniffed::DicomNoPreamble;
    }
    Sniffed::Unknown
}

fn nifti_kind(head: &[u8]) -> Option<Sniffed> {
    let size = head.get(..4)?;
    let le = i32::from_le_bytes(size.try_into().ok()?);
    let be = i32::from_be_bytes(size.try_into().ok()?);
    if le == 540 || be == 540 {
        let magic = head.get(4..8)?;
        return (magic == b"n+2\0" || magic == b"ni2\0").then_some(Sniffed::Nifti2);
    }
    if le == 348 || be == 348 {
        return Some(match head.get(344..348) {
            Some(b"n+1\0") | Some(b"ni1\0") => Sniffed::Nifti1,
            _ => Sniffed::Analyze,
        });
    }
    None
}

fn looks_like_bare_dicom(head: &[u8]) -> bool {
    let Some(tag) = head.get(..4) else {
        return false;
    };
    let le_group = u16::from_le_bytes([tag[0], tag[1]]);
    let be_group = u16::from_be_bytes([tag[0], tag[1]]);
    let group_ok = |g: u16| g == 0x0002 || g == 0x0008;
    group_ok(le_group) || group_ok(be_group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_magic_bytes() {
        let mut dicom = vec![0u8; 132];
        dicom[128..].copy_from_slice(b"DICM");
        assert_eq!(sniff(&dicom), Sniffed::Dicom);
        assert_eq!(sniff(b"\x93NUMPY\x01\x00"), Sniffed::Npy);
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), Sniffed::Gzip);
        assert_eq!(sniff(b"PK\x05\x06"), Sniffed::Zip);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nxxxx"), Sniffed::Png);
        assert_eq!(sniff(&[0x80, 2, b']']), Sniffed::Pickle);
        assert_eq!(
            sniff(&[0x08, 0x00, 0x05, 0x00, b'C', b'S']),
            Sniffed::DicomNoPreamble
        );
        assert_eq!(sniff(b"hello world"), Sniffed::Unknown);
        assert_eq!(sniff(b""), Sniffed::Unknown);
    }

    #[test]
    fn tells_nifti_versions_and_analyze_apart() {
        let mut n1 = vec![0u8; 348];
        n1[..4].copy_from_slice(&348i32.to_be_bytes());
        assert_eq!(sniff(&n1), Sniffed::Analyze);
        n1[344..].copy_from_slice(b"n+1\0");
        assert_eq!(sniff(&n1), Sniffed::Nifti1);
        let mut n2 = vec![0u8; 540];
        n2[..4].copy_from_slice(&540i32.to_le_bytes());
        n2[4..8].copy_from_slice(b"n+2\0");
        assert_eq!(sniff(&n2), Sniffed::Nifti2);
    }
}
