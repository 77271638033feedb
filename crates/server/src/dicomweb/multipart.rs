//! `multipart/related; type="application/dicom"` bodies (PS3.18 8.6): a STOW-RS request's, a
//! WADO-RS answer's, split into their instances on disk; and made, for the results stored back.
//!
//! The splitter is written here rather than taken from a crate: the multipart crates of the
//! ecosystem parse `multipart/form-data` (named fields), not `multipart/related`, and this one
//! streams the body from disk so that a study of several hundred MiB never sits in memory.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Bytes read from the body at a time.
const CHUNK: usize = 1 << 20;
/// Longest header block of one part.
const MAX_PART_HEADERS: usize = 16 << 10;

/// Why a body cannot be split.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    /// The request is not `multipart/related` of DICOM instances, or its body is malformed.
    #[error("{0}")]
    Request(String),
    /// Reading the body or writing a part failed.
    #[error("{0}")]
    Io(String),
}

/// The boundary of a `multipart/related; type="application/dicom"; boundary=...` content type.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    let mut parts = content_type.split(';').map(str::trim);
    let media = parts.next().unwrap_or("").to_ascii_lowercase();
    if media != "multipart/related" {
        return Err(MultipartError::Request(format!(
            "Content-Type {content_type:?}: expected multipart/related; type=\"application/dicom\""
        )));
    }
    let mut boundary = None;
    let mut kind = None;
    for p in parts {
        if let Some((name, value)) = p.split_once('=') {
            let value = value.trim().trim_matches('"').to_string();
            match name.trim().to_ascii_lowercase().as_str() {
                "boundary" => boundary = Some(value),
                "type" => kind = Some(value.to_ascii_lowercase()),
                _ => {}
            }
        }
    }
    if kind.as_deref().is_some_and(|k| k != "application/dicom") {
        return Err(MultipartError::Request(format!(
            "type {:?}: this service stores application/dicom instances only",
            kind.unwrap_or_default()
        )));
    }
    // RFC 2046 allows 70 characters; Orthanc's DICOMweb client sends 73. Any length a header
    // line carries is taken.
    match boundary {
        Some(b) if !b.is_empty() && b.len() <= 200 => Ok(b),
        _ => Err(MultipartError::Request(
            "the Content-Type has no boundary (1 to 200 characters)".into(),
        )),
    }
}

/// One part of the body, written to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Its Content-Type, lower case, without parameters (empty when it has none).
    pub content_type: String,
    /// Where its content was written.
    pub path: PathBuf,
}

/// Splits the multipart body in file `body` on `boundary`, writing the content of each part to
/// `out/NNNNN.part`; at most `max_parts` parts.
pub fn split(
    body: &Path,
    boundary: &str,
    out: &Path,
    max_parts: usize,
) -> Result<Vec<Part>, MultipartError> {
    let io = |e: std::io::Error| MultipartError::Io(e.to_string());
    let bad = |m: &str| MultipartError::Request(format!("the multipart body is malformed: {m}"));
    std::fs::create_dir_all(out).map_err(io)?;
    let mut reader = std::fs::File::open(body).map_err(io)?;
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    let finder = memchr::memmem::Finder::new(&delimiter);
    // The body read so far and not yet placed; it starts with the CRLF that the first
    // delimiter lacks, so that every delimiter reads alike.
    let mut buffer: Vec<u8> = b"\r\n".to_vec();
    let mut eof = false;
    let mut fill = |buffer: &mut Vec<u8>, eof: &mut bool| -> Result<(), MultipartError> {
        let start = buffer.len();
        buffer.resize(start + CHUNK, 0);
        let n = reader.read(&mut buffer[start..]).map_err(io)?;
        buffer.truncate(start + n);
        *eof = n == 0;
        Ok(())
    };
    let mut parts: Vec<Part> = Vec::new();
    let mut current: Option<BufWriter<std::fs::File>> = None;
    let mut seen_first = false;
    loop {
        match finder.find(&buffer) {
            Some(at) => {
                if let Some(w) = current.as_mut() {
                    w.write_all(&buffer[..at]).map_err(io)?;
                }
                if let Some(mut w) = current.take() {
                    w.flush().map_err(io)?;
                }
                buffer.drain(..at + delimiter.len());
                // After a delimiter: "--" ends the body; else padding and CRLF, then headers.
                while buffer.len() < 2 && !eof {
                    fill(&mut buffer, &mut eof)?;
                }
                if buffer.starts_with(b"--") {
                    if !seen_first {
                        return Err(bad("it ends before its first part"));
                    }
                    return Ok(parts);
                }
                seen_first = true;
                let headers_end = loop {
                    if let Some(end) = memchr::memmem::find(&buffer, b"\r\n\r\n") {
                        break end;
                    }
                    if buffer.len() > MAX_PART_HEADERS {
                        return Err(bad("a part's headers are too long"));
                    }
                    if eof {
                        return Err(bad("a part's headers do not end"));
                    }
                    fill(&mut buffer, &mut eof)?;
                };
                let headers = String::from_utf8_lossy(&buffer[..headers_end]).to_string();
                buffer.drain(..headers_end + 4);
                if parts.len() == max_parts {
                    return Err(MultipartError::Request(format!(
                        "more than {max_parts} instances in one request"
                    )));
                }
                let content_type = headers
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-type"))
                    .map(|(_, v)| {
                        v.split(';')
                            .next()
                            .unwrap_or("")
                            .trim()
                            .to_ascii_lowercase()
                    })
                    .unwrap_or_default();
                let path = out.join(format!("{:05}.part", parts.len()));
                current = Some(BufWriter::new(std::fs::File::create(&path).map_err(io)?));
                parts.push(Part { content_type, path });
            }
            None => {
                if eof {
                    return Err(bad("no closing boundary"));
                }
                // Keep what could be the start of a delimiter; the rest is the part's.
                let keep = delimiter.len() - 1;
                if buffer.len() > keep {
                    let cut = buffer.len() - keep;
                    if let Some(w) = current.as_mut() {
                        w.write_all(&buffer[..cut]).map_err(io)?;
                    }
                    buffer.drain(..cut);
                }
                fill(&mut buffer, &mut eof)?;
            }
        }
    }
}

/// A `multipart/related; type="application/dicom"` body of `instances` (Part 10 bytes) on
/// `boundary`, and its Content-Type.
pub fn body(instances: &[Vec<u8>], boundary: &str) -> (Vec<u8>, String) {
    let mut out = Vec::new();
    for bytes in instances {
        out.extend(part(bytes, boundary));
    }
    out.extend(closing(boundary));
    (out, content_type(boundary))
}

/// One instance as a part of a body on `boundary`: its delimiter and headers, its bytes, CRLF.
pub fn part(instance: &[u8], boundary: &str) -> Vec<u8> {
    part_of(instance, boundary, "application/dicom")
}

/// One part of `media_type` holding `bytes`, on `boundary` (a frame's pixels are
/// `application/octet-stream`).
pub fn part_of(bytes: &[u8], boundary: &str, media_type: &str) -> Vec<u8> {
    let mut out = format!("--{boundary}\r\nContent-Type: {media_type}\r\n\r\n").into_bytes();
    out.extend(bytes);
    out.extend(b"\r\n");
    out
}

/// The close of a body on `boundary`.
pub fn closing(boundary: &str) -> Vec<u8> {
    format!("--{boundary}--\r\n").into_bytes()
}

/// The Content-Type of a body of DICOM instances on `boundary`.
pub fn content_type(boundary: &str) -> String {
    content_type_of(boundary, "application/dicom")
}

/// The Content-Type of a body of parts of `media_type` on `boundary`.
pub fn content_type_of(boundary: &str, media_type: &str) -> String {
    format!("multipart/related; type=\"{media_type}\"; boundary={boundary}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, &[u8])], boundary: &str) -> Vec<u8> {
        let mut out = b"preamble, ignored\r\n".to_vec();
        for (kind, content) in parts {
            out.extend(format!("--{boundary}\r\nContent-Type: {kind}\r\n\r\n").as_bytes());
            out.extend(*content);
            out.extend(b"\r\n");
        }
        out.extend(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    #[test]
    fn a_body_splits_into_its_parts_whatever_bytes_they_hold() {
        let dir = tempfile::tempdir().unwrap();
        // A part larger than a chunk, holding CRLFs and the boundary's prefix, across the
        // chunk edges.
        let mut big: Vec<u8> = (0..CHUNK + 12_345).map(|i| (i % 251) as u8).collect();
        big.splice(CHUNK - 3..CHUNK - 3, b"\r\n--XYZ".iter().copied());
        let parts = [
            ("application/dicom", &big[..]),
            (
                "application/dicom; transfer-syntax=1.2.840.10008.1.2.1",
                &b"\r\n\r\n"[..],
            ),
            ("text/plain", &b""[..]),
        ];
        let path = dir.path().join("body");
        std::fs::write(&path, body(&parts, "XYZ123")).unwrap();
        let split = split(&path, "XYZ123", &dir.path().join("out"), 10).unwrap();
        assert_eq!(split.len(), 3);
        assert_eq!(std::fs::read(&split[0].path).unwrap(), big);
        assert_eq!(std::fs::read(&split[1].path).unwrap(), b"\r\n\r\n");
        assert_eq!(split[1].content_type, "application/dicom");
        assert_eq!(split[2].content_type, "text/plain");
        assert!(std::fs::read(&split[2].path).unwrap().is_empty());
        let too_many = split_err(&path, "XYZ123", 2);
        assert!(too_many.contains("more than 2"), "{too_many}");
    }

    fn split_err(path: &Path, boundary: &str, max: usize) -> String {
        let dir = tempfile::tempdir().unwrap();
        split(path, boundary, dir.path(), max)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_body_made_here_splits_back_into_its_instances() {
        let dir = tempfile::tempdir().unwrap();
        let instances = vec![b"DICM one\r\n".to_vec(), Vec::new(), vec![0u8; 3000]];
        let (made, content_type) = super::body(&instances, "bnd-42");
        let path = dir.path().join("made");
        std::fs::write(&path, made).unwrap();
        let parts = split(
            &path,
            &boundary(&content_type).unwrap(),
            &dir.path().join("o"),
            9,
        )
        .unwrap();
        let back: Vec<Vec<u8>> = parts
            .iter()
            .map(|p| std::fs::read(&p.path).unwrap())
            .collect();
        assert_eq!(back, instances);
        assert!(parts.iter().all(|p| p.content_type == "application/dicom"));
    }

    #[test]
    fn malformed_bodies_and_content_types_are_refused_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body");
        for (text, says) in [
            (
                &b"--B\r\nContent-Type: application/dicom\r\n\r\nDICM"[..],
                "no closing boundary",
            ),
            (&b"--B--\r\n"[..], "before its first part"),
            (&b"no boundary at all"[..], "no closing boundary"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = split_err(&path, "B", 10);
            assert!(e.contains(says), "{e}");
        }
        assert_eq!(
            boundary("multipart/related; type=\"application/dicom\"; boundary=\"a b\"").unwrap(),
            "a b"
        );
        assert!(boundary("multipart/form-data; boundary=x").is_err());
        assert!(boundary("multipart/related; type=\"application/dicom+xml\"; boundary=x").is_err());
        assert!(boundary("multipart/related; type=\"application/dicom\"").is_err());
    }
}
