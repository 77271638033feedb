//! Pseudonyms derived from a secret: the same original gets the same replacement wherever it
//! appears, and nobody without the secret can recompute the original from it.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// Makes and remembers pseudonyms for UIDs and patient ids under one secret.
#[derive(Debug, Clone)]
pub struct Pseudonyms {
    secret: Vec<u8>,
    uids: BTreeMap<String, String>,
}

impl Pseudonyms {
    /// Pseudonyms under `secret` (keep it: another secret gives other pseudonyms).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            secret: secret.to_vec(),
            uids: BTreeMap::new(),
        }
    }

    fn digest(&self, kind: &str, original: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update((self.secret.len() as u64).to_le_bytes());
        h.update(&self.secret);
        h.update(kind.as_bytes());
        h.update([0]);
        h.update(original.as_bytes());
        h.finalize().into()
    }

    /// The replacement of UID `original`: a `2.25.` UID (a 128-bit number, PS3.5 B.2) derived
    /// from the secret and the original.
    pub fn uid(&mut self, original: &str) -> String {
        let original = original.trim_end_matches(['\0', ' ']);
        if let Some(done) = self.uids.get(original) {
            return done.clone();
        }
        let d = self.digest("uid", original);
        let n = u128::from_be_bytes(d[..16].try_into().expect("16 bytes")) >> 1;
        let uid = format!("2.25.{n}");
        self.uids.insert(original.to_string(), uid.clone());
        uid
    }

    /// The pseudonym of patient id `original` (`ANON-` and 12 hex digits).
    pub fn patient(&self, original: &str) -> String {
        let d = self.digest("patient", original.trim());
        let hex: String = d[..6].iter().map(|b| format!("{b:02X}")).collect();
        format!("ANON-{hex}")
    }

    /// The UIDs replaced so far: `(original, replacement)`.
    pub fn uid_map(&self) -> impl Iterator<Item = (&str, &str)> {
        self.uids.iter().map(|(a, b)| (a.as_str(), b.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_original_gets_the_same_pseudonym_and_another_secret_another() {
        let mut a = Pseudonyms::new(b"one");
        let mut b = Pseudonyms::new(b"one");
        let mut c = Pseudonyms::new(b"two");
        let uid = "1.2.840.113619.2.55.3.1";
        assert_eq!(a.uid(uid), b.uid(uid));
        assert_ne!(a.uid(uid), c.uid(uid));
        assert_ne!(a.uid(uid), a.uid("1.2.3"));
        let u = a.uid(uid);
        assert!(u.starts_with("2.25.") && u.len() <= 64, "{u}");
        assert!(u[5..].chars().all(|c| c.is_ascii_digit()));
        assert_eq!(a.patient("P1"), b.patient("P1"));
        assert_ne!(a.patient("P1"), a.patient("P2"));
        assert_eq!(a.uid_map().count(), 2);
    }
}
