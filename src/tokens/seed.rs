//! A vendor's hardware OATH seed file: CSV with a header, one token per line. Headers are
//! matched like job headers (case ignored, spaces, `_` and `-` ignored): `serial number`,
//! `secret key`, `manufacturer`, `model`, `time interval` (or `timeIntervalInSeconds`), and
//! optionally `hash function` (default `hmacsha1`). Other columns (the admin center's `upn`)
//! are ignored. UTF-8 with or without BOM; `,`, `;` or tab delimiters; blank lines skipped.
//!
//! Every row is checked before any request: the properties "Create
//! hardwareOathTokenAuthenticationMethodDevice" requires, a 30 or 60 second interval, a
//! `hmacsha1`/`hmacsha256` hash, a base32 key (RFC 4648) of at least 128 bits (RFC 4226's
//! minimum shared secret), and no serial number twice in the file. A problem names the file and
//! the line, never the key.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};

/// One token of the seed file.
#[derive(Clone)]
pub struct SeedRow {
    /// Line of the row in the file (the header is line 1).
    pub line: u64,
    /// `serialNumber`.
    pub serial: String,
    /// `manufacturer`.
    pub manufacturer: String,
    /// `model`.
    pub model: String,
    /// `secretKey`, base32 without spaces or padding, upper case. Only the create body sees it.
    pub secret: String,
    /// `timeIntervalInSeconds`: 30 or 60.
    pub interval: u32,
    /// `hashFunction`: `hmacsha1` or `hmacsha256`.
    pub hash: &'static str,
}

impl fmt::Debug for SeedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeedRow")
            .field("line", &self.line)
            .field("serial", &self.serial)
            .field("secret", &"******")
            .finish_non_exhaustive()
    }
}

/// A problem with one line (or the header) of the seed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedProblem {
    /// The file as given.
    pub file: String,
    /// Its line.
    pub line: u64,
    /// What is wrong.
    pub why: String,
}

impl fmt::Display for SeedProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.why)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Serial,
    Secret,
    Manufacturer,
    Model,
    Interval,
    Hash,
}

const FIELDS: [(Field, &str, &[&str]); 6] = [
    (
        Field::Serial,
        "serial number",
        &["serialnumber", "serial", "sn"],
    ),
    (
        Field::Secret,
        "secret key",
        &["secretkey", "secret", "seed", "key"],
    ),
    (
        Field::Manufacturer,
        "manufacturer",
        &["manufacturer", "vendor"],
    ),
    (Field::Model, "model", &["model"]),
    (
        Field::Interval,
        "time interval",
        &[
            "timeinterval",
            "timeintervalinseconds",
            "interval",
            "timestep",
        ],
    ),
    (
        Field::Hash,
        "hash function",
        &["hashfunction", "hash", "algorithm"],
    ),
];

fn normalise(header: &str) -> String {
    header
        .trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Base32 (RFC 4648) without spaces and padding, upper case; `None` when another character
/// appears. Returns the canonical text and the key's length in bytes.
pub fn canonical_base32(text: &str) -> Option<(String, usize)> {
    let canonical: String = text
        .trim()
        .trim_end_matches('=')
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if canonical.is_empty()
        || !canonical
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    {
        return None;
    }
    let bytes = canonical.len() * 5 / 8;
    Some((canonical, bytes))
}

/// Read and check the whole seed file: the rows, or every problem found.
pub fn read(path: &Path) -> Result<Result<Vec<SeedRow>, Vec<SeedProblem>>> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{name}: not UTF-8 text; save the seed file as UTF-8 CSV"))?;
    Ok(parse(&name, text.trim_start_matches('\u{feff}')))
}

/// Check the text of a seed file named `file`.
pub fn parse(file: &str, text: &str) -> Result<Vec<SeedRow>, Vec<SeedProblem>> {
    let problem = |line: u64, why: String| SeedProblem {
        file: file.to_string(),
        line,
        why,
    };
    let first = text.lines().next().unwrap_or_default();
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| first.bytes().filter(|b| b == d).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![problem(1, format!("cannot read the header: {e}"))]),
    };
    let mut columns: Vec<Option<usize>> = vec![None; FIELDS.len()];
    for (i, header) in headers.iter().enumerate() {
        let wanted = normalise(header);
        if let Some(f) = FIELDS
            .iter()
            .position(|(_, _, names)| names.contains(&wanted.as_str()))
            && columns[f].is_none()
        {
            columns[f] = Some(i);
        }
    }
    let missing: Vec<&str> = FIELDS
        .iter()
        .zip(&columns)
        .filter(|((field, _, _), at)| at.is_none() && *field != Field::Hash)
        .map(|((_, name, _), _)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(vec![problem(
            1,
            format!(
                "the header lacks {} (a seed file has serial number, secret key, \
                 manufacturer, model, time interval and optionally hash function)",
                missing.join(", ")
            ),
        )]);
    }
    let at = |f: Field| columns[FIELDS.iter().position(|(x, _, _)| *x == f).unwrap_or(0)];
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut seen: Vec<(String, u64)> = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(problem(line, format!("cannot read the line: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cell = |f: Field| at(f).and_then(|i| record.get(i)).unwrap_or("").trim();
        let mut why: Vec<String> = Vec::new();
        for (field, name, _) in FIELDS {
            if field != Field::Hash && cell(field).is_empty() {
                why.push(format!("{name} is empty"));
            }
        }
        let secret = match canonical_base32(cell(Field::Secret)) {
            Some((key, bytes)) if bytes >= 16 => Some(key),
            Some(_) => {
                why.push("secret key is shorter than 128 bits (26 base32 characters)".into());
                None
            }
            None if cell(Field::Secret).is_empty() => None,
            None => {
                why.push("secret key is not base32 (letters A-Z and digits 2-7)".into());
                None
            }
        };
        let interval = match cell(Field::Interval) {
            "" => None,
            "30" => Some(30),
            "60" => Some(60),
            other => {
                why.push(format!("time interval {other:?} is not 30 or 60 seconds"));
                None
            }
        };
        let hash = match normalise(cell(Field::Hash)).as_str() {
            "" | "hmacsha1" | "sha1" => "hmacsha1",
            "hmacsha256" | "sha256" => "hmacsha256",
            other => {
                why.push(format!(
                    "hash function {other:?} is not hmacsha1 or hmacsha256"
                ));
                "hmacsha1"
            }
        };
        let serial = cell(Field::Serial).to_string();
        if !serial.is_empty() {
            if let Some((_, earlier)) = seen.iter().find(|(s, _)| *s == serial) {
                why.push(format!("serial number {serial} is also on line {earlier}"));
            } else {
                seen.push((serial.clone(), line));
            }
        }
        match (secret, interval) {
            (Some(secret), Some(interval)) if why.is_empty() => rows.push(SeedRow {
                line,
                serial,
                manufacturer: cell(Field::Manufacturer).to_string(),
                model: cell(Field::Model).to_string(),
                secret,
                interval,
                hash,
            }),
            _ => problems.push(problem(line, why.join("; "))),
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "6PJ4UKIW33NNXYZAEHQNFUFTZF7WFTFB";

    #[test]
    fn headers_match_like_job_headers_and_the_hash_defaults_to_sha1() {
        let text = format!(
            "\u{feff}Serial Number;SECRET_KEY;Manufacturer;Model;Time-Interval\nT1;{};Contoso;H1000;30\n\n",
            KEY.to_lowercase()
        );
        let rows = parse("seeds.csv", &text).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].secret, KEY);
        assert_eq!(rows[0].hash, "hmacsha1");
        assert!(!format!("{:?}", rows[0]).contains(KEY));
    }

    #[test]
    fn every_bad_row_is_named_by_its_line_without_its_key() {
        let text = format!(
            "serial number,secret key,manufacturer,model,time interval,hash function\n\
             T1,{KEY},C,M,30,hmacsha1\nT2,NOT-BASE32!,C,M,30,\nT3,{KEY},C,M,45,\nT1,{KEY},C,M,60,md5\nT5,MZXW6YTB,C,M,30,\n"
        );
        let problems = parse("seeds.csv", &text).unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        assert!(text[0].starts_with("seeds.csv:3: secret key is not base32"));
        assert!(text[1].starts_with("seeds.csv:4: time interval \"45\""));
        assert!(text[2].contains("hash function") && text[2].contains("also on line 2"));
        assert!(text[3].starts_with("seeds.csv:6: secret key is shorter"));
        assert!(
            text.iter()
                .all(|t| !t.contains(KEY) && !t.contains("NOT-BASE32"))
        );
    }

    #[test]
    fn a_header_without_the_required_columns_is_refused() {
        let problems = parse("s.csv", "serial,model\nA,B\n").unwrap_err();
        assert!(
            problems[0].why.contains("secret key, manufacturer"),
            "{problems:?}"
        );
    }
}
