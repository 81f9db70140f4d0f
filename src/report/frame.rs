//! The journal's line framing: each record's payload (whatever it is: the journal's entries
//! change shape as the journal grows) is followed by a tab and a checksum of the payload, so
//! damage anywhere in the journal is detected instead of silently ending the resume there.
//! Used by [`super::journal`] for every line it writes and reads.
//!
//! Why: one damaged line (a disk error, a hand edit, a second process writing into it) once
//! made `--resume` drop every later entry without a word, and rows whose entries were lost
//! were run again (passes issued twice). A line torn by a crash (no newline at its end) is
//! still expected at the very end and is the journal's to drop; any other bad line stops the
//! resume.

use std::io::{self, Write};

use sha2::{Digest, Sha256};

/// Hex digits of the checksum (the first 64 bits of the payload's SHA-256).
const CHECK_LEN: usize = 16;

/// Why a line's frame is not intact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    /// The line has no checksum at its end.
    #[error("it has no checksum")]
    NoChecksum,
    /// The checksum does not match the payload.
    #[error("its checksum does not match its content")]
    Mismatch,
}

fn check(payload: &[u8]) -> String {
    let digest = Sha256::digest(payload);
    digest[..CHECK_LEN / 2]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Write `payload` (one line's content, without a newline or a tab of its own at the end) as
/// one framed line, newline included.
pub fn seal(out: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    out.write_all(payload)?;
    out.write_all(b"\t")?;
    out.write_all(check(payload).as_bytes())?;
    out.write_all(b"\n")
}

/// The payload of a framed `line` (its newline already removed), when its checksum matches.
pub fn open(line: &str) -> Result<&str, Damage> {
    let (payload, sum) = line.rsplit_once('\t').ok_or(Damage::NoChecksum)?;
    if sum.len() != CHECK_LEN {
        return Err(Damage::NoChecksum);
    }
    if check(payload.as_bytes()) == sum {
        Ok(payload)
    } else {
        Err(Damage::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_line_opens_and_any_changed_byte_is_detected() {
        let mut out = Vec::new();
        seal(&mut out, br#"{"t":"start","seq":3}"#).unwrap();
        let line = std::str::from_utf8(&out)
            .unwrap()
            .strip_suffix('\n')
            .unwrap();
        assert_eq!(open(line), Ok(r#"{"t":"start","seq":3}"#));
        let damaged = line.replacen("start", "stxrt", 1);
        assert_eq!(open(&damaged), Err(Damage::Mismatch));
        assert_eq!(open(r#"{"t":"start","seq":3}"#), Err(Damage::NoChecksum));
    }
}
