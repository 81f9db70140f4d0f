//! Shared helpers of the hardware OATH tests: TOTP codes (RFC 6238) from a base32 seed, written
//! here from the RFCs (not borrowed from the simulator or the client), and seed files.

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Seeds of the test tokens (base32, 160 bits); they must never appear in any output.
pub const SEEDS: [&str; 3] = [
    "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
    "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U",
];

/// Serial numbers of the test tokens.
pub const SERIALS: [&str; 3] = ["TKN-0001", "TKN-0002", "TKN-0003"];

fn base32(text: &str) -> Vec<u8> {
    let mut bits = 0u64;
    let mut held = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32"),
        };
        bits = (bits << 5) | u64::from(v);
        held += 5;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    out
}

fn hmac<D: Digest + Default>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let mut inner = D::default();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(data);
    let inner = inner.finalize();
    let mut outer = D::default();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().to_vec()
}

/// The current 6-digit TOTP code of a base32 seed.
pub fn totp(seed: &str, interval: u64, sha256: bool) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let counter = (now / interval).to_be_bytes();
    let key = base32(seed);
    let mac = if sha256 {
        hmac::<Sha256>(&key, &counter)
    } else {
        hmac::<Sha1>(&key, &counter)
    };
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let code = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!("{:06}", code % 1_000_000)
}

/// A code that is not the token's (the current one, each digit shifted).
pub fn wrong_code(seed: &str) -> String {
    totp(seed, 30, false)
        .bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 5) % 10))
        .collect()
}

/// The seed file of the test tokens (the first SHA-1/30 s, the second SHA-256/60 s, the third
/// SHA-1/30 s), as a vendor might write it.
pub fn seed_file() -> String {
    format!(
        "Serial Number,Secret Key,Manufacturer,Model,Time Interval,Hash Function\n\
         {},{},Contoso,H1000,30,HMACSHA1\n\
         {},{},Contoso,H1000,60,hmacsha256\n\
         {},{},Contoso,H2000,30,\n",
        SERIALS[0], SEEDS[0], SERIALS[1], SEEDS[1], SERIALS[2], SEEDS[2]
    )
}
