//! Phone numbers from job cells: any common notation (`+46701234567`, `+46 70-123 45 67`,
//! `+1 (425) 555-0100 x123`, `0046 70 ...`, `+44 (0)20 ...`) parsed and validated with the
//! `phonenumber` crate (Google's libphonenumber metadata) and written in Graph's form
//! `+{country code} {national significant number}[x{extension}]` (graph-contract.md, "Rules the
//! service enforces"). Numbers without a country code, or that a spreadsheet turned into
//! `4.67012E+10`, are refused with a hint: guessing a country would change someone's phone.
//! Only when the admin names the country explicitly (`--default-region SE`, [`normalise_in`])
//! is a national-format number (`070-123 45 67`, as HR systems export them) read as that
//! country's. Called by the row validation in [`crate::job`].

use std::sync::OnceLock;

pub use phonenumber::country::Id as CountryId;
use phonenumber::metadata::DATABASE;
use phonenumber::{Metadata, Type};
use regex::Regex;

use crate::job::value::ValueError;

const HINT_TEXT: &str = "format the column as text and export again";

/// The country `--default-region` names, by its ISO 3166 code (`SE`, `us`).
pub fn region(code: &str) -> Result<CountryId, ValueError> {
    code.trim().to_ascii_uppercase().parse().map_err(|_| {
        ValueError::new(
            "not a country code",
            "name the country of national-format numbers by its two-letter ISO code, e.g. SE, \
             GB, US",
        )
    })
}

/// Graph's form of a phone number written in any common notation, reading a number without a
/// country code (`070-123 45 67`) as a national number of `region` when one is given.
pub fn normalise_in(value: &str, region: Option<CountryId>) -> Result<String, ValueError> {
    // A leading apostrophe is the text marker spreadsheets (and authbulk's own reports, which
    // guard cells starting with `+`) put before a number; it is not part of the number.
    let value = value.strip_prefix('\'').unwrap_or(value).trim();
    if looks_scientific(value) {
        return Err(ValueError::new(
            "a spreadsheet turned this number into scientific notation",
            HINT_TEXT,
        ));
    }
    if looks_decimal(value) {
        return Err(ValueError::new(
            "a spreadsheet stored this phone number as a decimal number",
            HINT_TEXT,
        ));
    }
    let (number, extension) = split_extension(value)?;
    let mut digits = String::with_capacity(number.len());
    let mut plus = false;
    let mut rest = number;
    if let Some(after) = rest.strip_prefix('+') {
        plus = true;
        rest = after;
    }
    // `(0)` after the country code is the trunk prefix written in international notation
    // (`+44 (0)20 7946 0000`): it is not dialled from abroad.
    let mut trunk = false;
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '0'..='9' => digits.push(c),
            '(' if rest[i..].starts_with("(0)") && !trunk => {
                trunk = true;
                chars.next();
                chars.next();
            }
            ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' => {}
            '+' => {
                return Err(ValueError::new(
                    "a phone number has one + at its start",
                    "write one number per cell, e.g. +46 70 123 45 67",
                ));
            }
            _ => {
                return Err(ValueError::new(
                    format!("unexpected {c:?} in a phone number"),
                    "write digits, spaces and dashes only, e.g. +46 70 123 45 67",
                ));
            }
        }
    }
    if !plus {
        if let Some(international) = digits.strip_prefix("00") {
            digits = international.to_string();
        } else if digits.is_empty() {
            return Err(ValueError::bare("no digits in the phone number"));
        } else if let Some(region) = region {
            return national(number, extension, region);
        } else {
            return Err(ValueError::new(
                "the phone number has no country code",
                "write it with + and the country code, e.g. +46 70 123 45 67 (a spreadsheet may \
                 have dropped a leading + or 0: format the column as text)",
            ));
        }
    }
    if digits.len() < 4 {
        return Err(ValueError::bare("too few digits for a phone number"));
    }
    if digits.len() > 17 {
        return Err(ValueError::bare("too many digits for a phone number"));
    }
    if let Some(mut out) = fast_path(&digits) {
        if let Some(ext) = extension {
            out.push('x');
            out.push_str(ext);
        }
        return Ok(out);
    }
    let parsed = phonenumber::parse(None, format!("+{digits}")).map_err(|e| {
        ValueError::new(
            format!("not a phone number ({e})"),
            "check the country code and the digits",
        )
    })?;
    if !phonenumber::is_valid(&parsed) {
        return Err(ValueError::new(
            format!(
                "not a valid number for country code +{}",
                parsed.code().value()
            ),
            "check the country code and the number of digits",
        ));
    }
    let mut out = format!("+{} {}", parsed.code().value(), parsed.national());
    if let Some(ext) = extension {
        out.push('x');
        out.push_str(ext);
    }
    Ok(out)
}

/// A number from a Graph user property exported by PowerShell: `MobilePhone` as it is, and
/// `BusinessPhones`, a list that Graph holds at most one number in ("only one number can be set
/// for this property", user resource, Microsoft Graph v1.0), joined with `;` by an export. A
/// list exported without joining reads `System.String[]`.
pub fn normalise_property(value: &str, region: Option<CountryId>) -> Result<String, ValueError> {
    if value.trim() == "System.String[]" || value.trim() == "System.Object[]" {
        return Err(ValueError::new(
            "PowerShell wrote the list's type name instead of its numbers",
            "export with @{n='BusinessPhones';e={$_.BusinessPhones -join ';'}}",
        ));
    }
    let mut numbers = value.split(';').map(str::trim).filter(|n| !n.is_empty());
    match (numbers.next(), numbers.next()) {
        (Some(number), None) => normalise_in(number, region),
        (Some(_), Some(_)) => Err(ValueError::new(
            "several numbers in one cell",
            "keep one number: Graph holds one business phone per user",
        )),
        (None, _) => Err(ValueError::bare("no digits in the phone number")),
    }
}

/// A number in `region`'s national format, in Graph's form; libphonenumber strips the trunk
/// prefix (Sweden's leading 0) and checks the number against the region's patterns.
fn national(
    number: &str,
    extension: Option<&str>,
    region: CountryId,
) -> Result<String, ValueError> {
    let parsed = phonenumber::parse(Some(region), number).map_err(|e| {
        ValueError::new(
            format!("not a phone number of {} ({e})", region.as_ref()),
            "check the digits, or write the number with + and its country code",
        )
    })?;
    if !phonenumber::is_valid(&parsed) {
        return Err(ValueError::new(
            format!("not a valid number of {}", region.as_ref()),
            "check the digits, or write the number with + and its country code if it is \
             another country's",
        ));
    }
    let mut out = format!("+{} {}", parsed.code().value(), parsed.national());
    if let Some(ext) = extension {
        out.push('x');
        out.push_str(ext);
    }
    Ok(out)
}

/// One national-number pattern of the metadata, with its possible lengths.
struct Pattern {
    lengths: Vec<u16>,
    regex: Regex,
}

impl Pattern {
    /// The crate's `Descriptor::is_match`: a possible length, and a match at the start.
    fn matches(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16)))
            && self.regex.is_match(national)
    }
}

/// What the fast path needs of one region's metadata.
struct Region {
    leading_digits: Option<Regex>,
    general: Pattern,
    types: Vec<Pattern>,
    national_prefix: Option<String>,
    prefix_for_parsing: Option<Regex>,
}

/// A pattern anchored at the start, as the crate matches them (`find` at index 0). The
/// metadata's patterns are laid out over several lines: whitespace is insignificant (`x`).
fn anchored(pattern: &str) -> Option<Regex> {
    Regex::new(&format!("^(?x:{pattern})")).ok()
}

fn region_of(meta: &Metadata) -> Option<Region> {
    let pattern = |d: &phonenumber::metadata::Descriptor| {
        Some(Pattern {
            lengths: d.possible_length().to_vec(),
            regex: anchored(d.national_number().as_str())?,
        })
    };
    let d = meta.descriptors();
    let mut types = Vec::new();
    // Validity is "any type matches", so order does not change the answer; the common types
    // go first so a typical number costs two or three regex runs, not ten.
    for kind in [
        Type::Mobile,
        Type::FixedLine,
        Type::TollFree,
        Type::Voip,
        Type::PremiumRate,
        Type::SharedCost,
        Type::PersonalNumber,
        Type::Pager,
        Type::Uan,
        Type::Voicemail,
    ] {
        if let Some(desc) = d.get(kind) {
            types.push(pattern(desc)?);
        }
    }
    Some(Region {
        leading_digits: match meta.leading_digits() {
            Some(re) => Some(anchored(re.as_str())?),
            None => None,
        },
        general: pattern(d.general())?,
        types,
        national_prefix: meta.national_prefix().map(str::to_string),
        prefix_for_parsing: match meta.national_prefix_for_parsing() {
            Some(re) => Some(anchored(re.as_str())?),
            None => None,
        },
    })
}

/// The regions of a country code, in the crate's order, with their patterns compiled once.
/// `None` when the code is unknown or a pattern does not compile (the slow path decides then).
/// Country codes have at most three digits, so a fixed table holds them all, without locks.
fn regions(code: u16) -> Option<&'static [Region]> {
    static TABLE: [OnceLock<Option<Vec<Region>>>; 1000] = [const { OnceLock::new() }; 1000];
    TABLE
        .get(usize::from(code))?
        .get_or_init(|| {
            let names = DATABASE.region(&code)?;
            let metas: Vec<&Metadata> = if names.len() == 1 && names[0] == "001" {
                DATABASE.by_code(&code)?.into_iter().take(1).collect()
            } else {
                names
                    .iter()
                    .map(|n| DATABASE.by_id(*n))
                    .collect::<Option<_>>()?
            };
            metas.into_iter().map(region_of).collect::<Option<Vec<_>>>()
        })
        .as_deref()
}

/// Graph's form of `+digits` when it is plainly valid, without the crate's parser.
///
/// The crate's `parse` and `is_valid` run each metadata regex through a shared LRU cache keyed
/// by the pattern text, which costs about 20 µs a number (measured in `benches/job_read.rs`):
/// too slow for a million-row migration. This path mirrors `is_valid` (region choice by leading
/// digits, the general pattern, then any number type) on regexes compiled once per country
/// code. It answers only when the number is valid and has nothing the parser would strip (a
/// national prefix); everything else, and every error message, goes through the crate. A test
/// checks that both paths agree.
fn fast_path(digits: &str) -> Option<String> {
    // Country codes are prefix-free (ITU E.164), so the first known prefix is the code; none
    // starts with 0.
    if digits.starts_with('0') {
        return None;
    }
    let (code, regions, national) = (1..=3).filter(|n| *n < digits.len()).find_map(|n| {
        let code: u16 = digits[..n].parse().ok()?;
        regions(code).map(|r| (code, r, &digits[n..]))
    })?;
    let strippable = regions.iter().any(|r| {
        r.national_prefix
            .as_deref()
            .is_some_and(|p| national.starts_with(p))
            || r.prefix_for_parsing
                .as_ref()
                .is_some_and(|re| re.is_match(national))
    });
    if strippable {
        return None;
    }
    let valid_in =
        |r: &Region| r.general.matches(national) && r.types.iter().any(|t| t.matches(national));
    let valid = if regions.len() == 1 {
        valid_in(&regions[0])
    } else {
        regions
            .iter()
            .find(|r| match &r.leading_digits {
                Some(re) => re.is_match(national),
                None => valid_in(r),
            })
            .is_some_and(valid_in)
    };
    valid.then(|| format!("+{code} {national}"))
}

/// `4.67012E+10`, `4,67E+10`, `46701234567E0`: what Excel shows for long numbers.
fn looks_scientific(value: &str) -> bool {
    let Some(e) = value.find(['e', 'E']) else {
        return false;
    };
    let (mantissa, exponent) = (&value[..e], &value[e + 1..]);
    let mantissa = mantissa.strip_prefix('+').unwrap_or(mantissa);
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    !mantissa.is_empty()
        && mantissa.bytes().any(|b| b.is_ascii_digit())
        && mantissa
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
        && !exponent.is_empty()
        && exponent.bytes().all(|b| b.is_ascii_digit())
}

/// `46701234567.0`: a number stored as a float, with its leading `+` or `0` lost.
fn looks_decimal(value: &str) -> bool {
    match value.split_once(['.', ',']) {
        Some((int, frac)) => {
            int.len() >= 6
                && int.bytes().all(|b| b.is_ascii_digit())
                && !frac.is_empty()
                && frac.bytes().all(|b| b == b'0')
        }
        None => false,
    }
}

/// Split `+1 425 555 0100 x123` (also `ext`, `ext.`, `extension`, `#`, `;ext=`) into the number
/// and the extension digits.
fn split_extension(value: &str) -> Result<(&str, Option<&str>), ValueError> {
    // Every marker contains one of these bytes; most numbers have none of them.
    if !value
        .bytes()
        .any(|b| matches!(b, b'x' | b'X' | b'#' | b';' | b'e' | b'E'))
    {
        return Ok((value, None));
    }
    let lower = value.to_ascii_lowercase();
    let markers = [";ext=", "extension", "ext.", "ext", "x", "#"];
    let found = markers
        .iter()
        .filter_map(|m| lower.find(m).map(|at| (at, m.len())))
        .min_by_key(|(at, len)| (*at, usize::MAX - len));
    let Some((at, len)) = found else {
        return Ok((value, None));
    };
    let ext = value[at + len..].trim_start_matches([' ', ':', '.']).trim();
    if ext.is_empty() || ext.len() > 10 || !ext.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::new(
            "the extension must be 1 to 10 digits",
            "write it as +1 425 555 0100 x123",
        ));
    }
    Ok((value[..at].trim_end(), Some(ext)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalise(value: &str) -> Result<String, ValueError> {
        normalise_in(value, None)
    }

    #[test]
    fn business_phones_as_powershell_exports_them() {
        assert_eq!(
            normalise_property("+1 425 555 0100", None).unwrap(),
            "+1 4255550100"
        );
        assert_eq!(
            normalise_property(" +1 425 555 0100 ; ", None).unwrap(),
            "+1 4255550100"
        );
        let err = normalise_property("System.String[]", None).unwrap_err();
        assert!(err.hint.unwrap().contains("-join"));
        let err = normalise_property("+1 425 555 0100;+1 425 555 0101", None).unwrap_err();
        assert!(err.why.contains("several numbers"), "{}", err.why);
    }

    #[test]
    fn a_default_region_reads_national_numbers_and_only_then() {
        let se = region("se").unwrap();
        assert_eq!(
            normalise_in("070-123 45 67", Some(se)).unwrap(),
            "+46 701234567"
        );
        assert_eq!(
            normalise_in("08-123 456 78", Some(se)).unwrap(),
            "+46 812345678"
        );
        // International notation wins over the region.
        assert_eq!(
            normalise_in("+1 425 555 0100", Some(se)).unwrap(),
            "+1 4255550100"
        );
        assert_eq!(
            normalise_in("0044 20 7946 0958", Some(se)).unwrap(),
            "+44 2079460958"
        );
        assert!(normalise_in("070-12", Some(se)).is_err());
        // Without a region, still refused.
        let err = normalise("070-123 45 67").unwrap_err();
        assert!(err.why.contains("no country code"), "{}", err.why);
        assert!(region("Sweden").is_err());
    }

    #[test]
    fn common_notations_become_graphs_form() {
        for (input, want) in [
            ("+46701234567", "+46 701234567"),
            ("+46 70-123 45 67", "+46 701234567"),
            ("+46 (0)70 123 45 67", "+46 701234567"),
            ("0046 70 123 45 67", "+46 701234567"),
            ("00 46 70-123 45 67", "+46 701234567"),
            ("+1 (425) 555-0100", "+1 4255550100"),
            ("+1.425.555.0100", "+1 4255550100"),
            ("+44 20 7946 0958", "+44 2079460958"),
            ("'+46 70 123 45 67", "+46 701234567"),
            ("+39 06 6982 1234", "+39 0669821234"),
        ] {
            assert_eq!(normalise(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn extensions_are_kept_after_an_x() {
        for input in [
            "+1 (425) 555-0100 x123",
            "+1 425 555 0100 ext. 123",
            "+1 425 555 0100 ext 123",
            "+1 425 555 0100 extension 123",
            "+1 425 555 0100#123",
            "+1-425-555-0100;ext=123",
        ] {
            assert_eq!(
                normalise(input).as_deref(),
                Ok("+1 4255550100x123"),
                "{input}"
            );
        }
        assert_eq!(
            normalise("+1 425 555 0100 x").unwrap_err().why,
            "the extension must be 1 to 10 digits"
        );
    }

    #[test]
    fn scientific_notation_from_spreadsheets_is_refused_not_guessed() {
        for input in ["4.67012E+10", "4,67012E+10", "4.67E+10", "46701234567e0"] {
            let e = normalise(input).unwrap_err();
            assert_eq!(
                e.why, "a spreadsheet turned this number into scientific notation",
                "{input}"
            );
            assert_eq!(e.hint.as_deref(), Some(HINT_TEXT));
        }
        assert_eq!(
            normalise("46701234567.0").unwrap_err().why,
            "a spreadsheet stored this phone number as a decimal number"
        );
    }

    #[test]
    fn numbers_without_country_code_are_refused() {
        for input in ["070-123 45 67", "46701234567", "(425) 555-0100"] {
            assert_eq!(
                normalise(input).unwrap_err().why,
                "the phone number has no country code",
                "{input}"
            );
        }
    }

    /// The crate's own answer, without the fast path.
    fn slow(digits: &str) -> Option<String> {
        let parsed = phonenumber::parse(None, format!("+{digits}")).ok()?;
        phonenumber::is_valid(&parsed)
            .then(|| format!("+{} {}", parsed.code().value(), parsed.national()))
    }

    #[test]
    fn fast_path_agrees_with_the_phonenumber_crate() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let prefixes = [
            "4670", "4673", "468", "1425", "1212", "1876", "44791", "4420", "44", "4915", "4930",
            "336", "331", "3906", "393", "7916", "7701", "8613", "8190", "6141", "5511", "549",
            "919", "2348", "9715", "", "0", "99", "1",
        ];
        let mut fast_answers = 0;
        for _ in 0..4_000 {
            let prefix = prefixes[rng.random_range(0..prefixes.len())];
            let len = rng.random_range(0..12);
            let digits: String = prefix
                .chars()
                .chain((0..len).map(|_| char::from(b'0' + rng.random_range(0..10u8))))
                .collect();
            if let Some(fast) = fast_path(&digits) {
                fast_answers += 1;
                assert_eq!(Some(fast), slow(&digits), "+{digits}");
            }
        }
        // The fast path must carry the bulk of valid numbers, or it is not worth having.
        assert!(fast_answers > 400, "{fast_answers}");
    }

    #[test]
    fn invalid_numbers_and_junk_are_refused() {
        assert!(normalise("+46 12").is_err());
        assert!(normalise("+999 123456789").is_err());
        assert!(normalise("+46 70 123 45 67 89 01 23 45").is_err());
        assert_eq!(
            normalise("+46 70 CALL ME").unwrap_err().why,
            "unexpected 'C' in a phone number"
        );
        assert!(normalise("+46 70 +46 71").is_err());
        assert!(normalise("").is_err());
    }
}
