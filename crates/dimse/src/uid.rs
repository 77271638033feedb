//! The syntax of DICOM UIDs (PS3.5 9.1): digits and dots, at most 64 characters, no empty
//! component, no leading zero in a component other than `0` itself.

/// Whether `uid` is a syntactically valid UID (trailing NUL or space padding ignored).
pub fn is_valid_uid(uid: &str) -> bool {
    let uid = uid.trim_end_matches(['\0', ' ']);
    !uid.is_empty()
        && uid.len() <= 64
        && uid.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        })
}

/// `uid` without its padding.
pub fn trimmed(uid: &str) -> &str {
    uid.trim_end_matches(['\0', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digits_and_dots_in_valid_components_pass() {
        assert!(is_valid_uid("1.2.840.10008.5.1.4.1.1.4"));
        assert!(is_valid_uid("2.25.0\0"));
        for bad in [
            "",
            "../../etc/passwd",
            "1..2",
            "1.02",
            "1.2.",
            "1.2.a",
            &"1.".repeat(40),
        ] {
            assert!(!is_valid_uid(bad), "{bad:?}");
        }
    }
}
