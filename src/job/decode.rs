//! Bytes to UTF-8 text for the job readers, without loading the file: byte-order-mark sniffing
//! (UTF-8 with and without BOM, UTF-16 LE/BE with BOM as Excel's "Unicode text" writes it), a
//! streaming UTF-16 to UTF-8 transcoder, and a reader that hashes the raw bytes as they pass
//! (the job's fingerprint for `--resume`). Called by [`crate::job::open`].

use std::io::{self, Read};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

/// The text encoding found at the start of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (a BOM, if any, is dropped).
    Utf8,
    /// UTF-16, little-endian, after an `FF FE` BOM.
    Utf16Le,
    /// UTF-16, big-endian, after an `FE FF` BOM.
    Utf16Be,
}

/// A shared SHA-256 of every raw byte read so far.
#[derive(Clone, Default)]
pub struct SharedHash(Arc<Mutex<Sha256>>);

impl SharedHash {
    /// The digest of the bytes read so far.
    pub fn digest(&self) -> [u8; 32] {
        let hasher = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        hasher.clone().finalize().into()
    }
}

/// Hashes every byte that passes through.
pub struct Hashing<R> {
    inner: R,
    hash: SharedHash,
}

impl<R: Read> Hashing<R> {
    /// Wrap `inner`; the digest is read through `hash`.
    pub fn new(inner: R, hash: SharedHash) -> Hashing<R> {
        Hashing { inner, hash }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .update(&buf[..n]);
        Ok(n)
    }
}

/// Read up to `n` bytes (fewer only at the end of the input).
fn read_prefix(reader: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut prefix = vec![0; n];
    let mut filled = 0;
    while filled < n {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    prefix.truncate(filled);
    Ok(prefix)
}

/// Why a file's bytes are not text we can read.
#[derive(Debug)]
pub enum DecodeError {
    /// Reading failed.
    Io(io::Error),
    /// NUL bytes without a UTF-16 byte-order mark.
    Utf16WithoutBom,
}

/// Sniff the encoding and return a reader of UTF-8 text (BOM removed) plus what was found.
pub fn decode(
    mut raw: Box<dyn Read + Send>,
) -> Result<(Box<dyn Read + Send>, Encoding), DecodeError> {
    let prefix = read_prefix(&mut raw, 4).map_err(DecodeError::Io)?;
    let (encoding, skip) = match prefix.as_slice() {
        [0xEF, 0xBB, 0xBF, ..] => (Encoding::Utf8, 3),
        [0xFF, 0xFE, ..] => (Encoding::Utf16Le, 2),
        [0xFE, 0xFF, ..] => (Encoding::Utf16Be, 2),
        bytes if bytes.contains(&0) => return Err(DecodeError::Utf16WithoutBom),
        _ => (Encoding::Utf8, 0),
    };
    let rest = io::Cursor::new(prefix[skip..].to_vec()).chain(raw);
    let text: Box<dyn Read + Send> = match encoding {
        Encoding::Utf8 => Box::new(rest),
        Encoding::Utf16Le => Box::new(Utf16::new(rest, false)),
        Encoding::Utf16Be => Box::new(Utf16::new(rest, true)),
    };
    Ok((text, encoding))
}

/// Streaming UTF-16 to UTF-8. Unpaired surrogates and a dangling odd byte become U+FFFD, which
/// the row checks then refuse where they matter (a UPN, a number), so a bad byte spoils one row,
/// not the file.
pub struct Utf16<R> {
    inner: R,
    big_endian: bool,
    raw: Vec<u8>,
    raw_len: usize,
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
}

impl<R: Read> Utf16<R> {
    /// Transcode `inner` (already past its BOM).
    pub fn new(inner: R, big_endian: bool) -> Utf16<R> {
        Utf16 {
            inner,
            big_endian,
            raw: vec![0; 16 * 1024],
            raw_len: 0,
            out: Vec::with_capacity(24 * 1024),
            out_pos: 0,
            eof: false,
        }
    }

    /// Decode the next chunk into `out`; false at the end of the input.
    fn refill(&mut self) -> io::Result<bool> {
        self.out.clear();
        self.out_pos = 0;
        while self.out.is_empty() {
            if self.eof {
                if self.raw_len > 0 {
                    // A dangling odd byte or a lone high surrogate at the very end.
                    self.raw_len = 0;
                    self.out.extend_from_slice("\u{FFFD}".as_bytes());
                    return Ok(true);
                }
                return Ok(false);
            }
            let n = loop {
                match self.inner.read(&mut self.raw[self.raw_len..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                self.eof = true;
            }
            self.raw_len += n;
            let mut units = self.raw_len / 2;
            // Keep a trailing high surrogate for the next chunk: its pair may follow there.
            if !self.eof && units > 0 {
                let last = unit(&self.raw, self.big_endian, units - 1);
                if (0xD800..0xDC00).contains(&last) {
                    units -= 1;
                }
            }
            let (raw, big_endian, out) = (&self.raw, self.big_endian, &mut self.out);
            let decoded = char::decode_utf16((0..units).map(|i| unit(raw, big_endian, i)))
                .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER));
            let mut buf = [0u8; 4];
            for c in decoded {
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            let used = units * 2;
            self.raw.copy_within(used..self.raw_len, 0);
            self.raw_len -= used;
        }
        Ok(true)
    }
}

/// The `i`th UTF-16 code unit of `raw`.
fn unit(raw: &[u8], big_endian: bool, i: usize) -> u16 {
    let pair = [raw[2 * i], raw[2 * i + 1]];
    if big_endian {
        u16::from_be_bytes(pair)
    } else {
        u16::from_le_bytes(pair)
    }
}

impl<R: Read> Read for Utf16<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.out_pos == self.out.len() && !self.refill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(bytes: Vec<u8>) -> (String, Encoding) {
        let (mut reader, encoding) = decode(Box::new(io::Cursor::new(bytes)))
            .map_err(|_| ())
            .unwrap();
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        (text, encoding)
    }

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let mut bytes = if big_endian {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for unit in text.encode_utf16() {
            if big_endian {
                bytes.extend_from_slice(&unit.to_be_bytes());
            } else {
                bytes.extend_from_slice(&unit.to_le_bytes());
            }
        }
        bytes
    }

    #[test]
    fn utf8_bom_is_dropped() {
        assert_eq!(
            text_of(b"\xEF\xBB\xBFuser\n".to_vec()),
            ("user\n".to_string(), Encoding::Utf8)
        );
        assert_eq!(text_of(b"u".to_vec()), ("u".to_string(), Encoding::Utf8));
        assert_eq!(text_of(Vec::new()), (String::new(), Encoding::Utf8));
    }

    #[test]
    fn utf16_both_byte_orders_decode_across_chunk_boundaries() {
        // Long enough to cross the 16 KiB chunk, with astral characters (surrogate pairs).
        let text = "user\taction\r\nåsa@contoso.com\tlist 😀\r\n".repeat(2000);
        assert_eq!(
            text_of(utf16(&text, false)),
            (text.clone(), Encoding::Utf16Le)
        );
        assert_eq!(text_of(utf16(&text, true)), (text, Encoding::Utf16Be));
    }

    #[test]
    fn broken_utf16_becomes_replacement_characters() {
        let mut bytes = utf16("ab", false);
        bytes.extend_from_slice(&[0x00, 0xD8]); // a lone high surrogate
        bytes.push(0x41); // and an odd byte
        let (text, _) = text_of(bytes);
        assert!(text.starts_with("ab\u{FFFD}"), "{text:?}");
    }

    #[test]
    fn nul_bytes_without_bom_are_refused() {
        let bytes = b"u\0s\0e\0r\0".to_vec();
        assert!(matches!(
            decode(Box::new(io::Cursor::new(bytes))),
            Err(DecodeError::Utf16WithoutBom)
        ));
    }
}
