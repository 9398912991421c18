//! CSV usage input.
//!
//! One header line is required; column order is free, names are fixed:
//!
//! | column | required | format |
//! |---|---|---|
//! | `visited` | yes | TADIG of the visited network (the submitter) |
//! | `home` | yes | TADIG of the home network |
//! | `imsi` | yes | 6-15 digits |
//! | `msisdn` | no | 1-15 digits |
//! | `service` | yes | `voice_mo`, `voice_mt`, `sms_mo`, `sms_mt`, `data`, `mobile_session`, `messaging_event`, `supplementary_service`, `service_centre_usage`, `content`, `location` |
//! | `start` | yes | RFC 3339, e.g. `2026-11-23T15:16:00Z` or `...+09:00` |
//! | `duration_s` | no | seconds, default 0 |
//! | `volume_up_bytes`, `volume_down_bytes` | no | bytes, default 0 |
//! | `charged_units` | no | default: duration (voice, session), total volume (data), 1 (events) |
//! | `charge` | yes | decimal with at most the reader's scale of decimal places, e.g. `1.250` |
//! | `tax` | no | same, default 0 |
//! | `other_party` | no | 1-19 digits |
//! | `charging_id` | no | unsigned integer |
//!
//! Fields are comma-separated; a field may be double-quoted (RFC 4180, `""` for a quote) but
//! may not span lines. Unknown columns are an error (a typo must not silently drop data).
//! Lines are read one at a time, at most [`CSV_LINE_BYTES_MAX`] bytes each.

use std::io::{BufRead, Read};

use settlement::types::{
    Amount, BaseUnit, Imsi, Msisdn, PartyNumber, Scale, ServiceKind, SourceRef, Tadig, UsageRecord, UtcTime,
};

use crate::error::Error;
use crate::limits::CSV_LINE_BYTES_MAX;

/// The column names, in the recommended order.
pub const COLUMNS: [&str; 14] = [
    "visited",
    "home",
    "imsi",
    "msisdn",
    "service",
    "start",
    "duration_s",
    "volume_up_bytes",
    "volume_down_bytes",
    "charged_units",
    "charge",
    "tax",
    "other_party",
    "charging_id",
];

const REQUIRED: [&str; 6] = ["visited", "home", "imsi", "service", "start", "charge"];

/// Splits one line into fields.
fn split(line: &str, line_no: u64) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut col = 1usize;
    let mut field_start = true;
    loop {
        if field_start && chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        cur.push('"');
                    }
                    Some('"') => break,
                    Some(c) => cur.push(c),
                    None => {
                        return Err(Error::Csv {
                            line: line_no,
                            column: col,
                            field: String::new(),
                            reason: "quoted field is not closed on its line".to_owned(),
                        });
                    }
                }
            }
            match chars.next() {
                None => {
                    out.push(std::mem::take(&mut cur));
                    return Ok(out);
                }
                Some(',') => {
                    out.push(std::mem::take(&mut cur));
                    col += 1;
                    continue;
                }
                Some(_) => {
                    return Err(Error::Csv {
                        line: line_no,
                        column: col,
                        field: String::new(),
                        reason: "text after a closing quote".to_owned(),
                    });
                }
            }
        }
        match chars.next() {
            None => {
                out.push(std::mem::take(&mut cur));
                return Ok(out);
            }
            Some(',') => {
                out.push(std::mem::take(&mut cur));
                col += 1;
                field_start = true;
            }
            Some('"') => {
                return Err(Error::Csv {
                    line: line_no,
                    column: col,
                    field: String::new(),
                    reason: "a quote inside an unquoted field".to_owned(),
                });
            }
            Some(c) => {
                cur.push(c);
                field_start = false;
            }
        }
    }
}

/// Reads usage records from CSV, one line at a time.
pub struct CsvReader<R> {
    input: R,
    scale: Scale,
    columns: Vec<usize>,
    line_no: u64,
    index: u32,
    done: bool,
    buf: Vec<u8>,
}

impl<R: BufRead> CsvReader<R> {
    /// Reads the header line. Amounts must have at most `scale` decimal places.
    pub fn new(input: R, scale: Scale) -> Result<Self, Error> {
        let mut r = CsvReader {
            input,
            scale,
            columns: Vec::new(),
            line_no: 0,
            index: 0,
            done: false,
            buf: Vec::new(),
        };
        let Some(header) = r.read_line()? else {
            return Err(Error::Csv {
                line: 1,
                column: 1,
                field: String::new(),
                reason: "empty input: a header line naming the columns is required".to_owned(),
            });
        };
        let names = split(&header, 1)?;
        for (i, n) in names.iter().enumerate() {
            let n = n.trim();
            let Some(pos) = COLUMNS.iter().position(|c| *c == n) else {
                return Err(Error::Csv {
                    line: 1,
                    column: i + 1,
                    field: n.to_owned(),
                    reason: format!("unknown column; the columns are {}", COLUMNS.join(", ")),
                });
            };
            if r.columns.contains(&pos) {
                return Err(Error::Csv {
                    line: 1,
                    column: i + 1,
                    field: n.to_owned(),
                    reason: "column named twice".to_owned(),
                });
            }
            r.columns.push(pos);
        }
        for req in REQUIRED {
            let pos = COLUMNS
                .iter()
                .position(|c| *c == req)
                .expect("required column exists");
            if !r.columns.contains(&pos) {
                return Err(Error::Csv {
                    line: 1,
                    column: names.len() + 1,
                    field: req.to_owned(),
                    reason: "required column is missing from the header".to_owned(),
                });
            }
        }
        Ok(r)
    }

    fn read_line(&mut self) -> Result<Option<String>, Error> {
        loop {
            self.buf.clear();
            self.line_no += 1;
            let n = (&mut self.input)
                .take(CSV_LINE_BYTES_MAX as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| Error::Csv {
                    line: self.line_no,
                    column: 1,
                    field: String::new(),
                    reason: format!("reading failed: {e}"),
                })?;
            if n == 0 {
                return Ok(None);
            }
            if self.buf.len() > CSV_LINE_BYTES_MAX {
                return Err(Error::Csv {
                    line: self.line_no,
                    column: 1,
                    field: String::new(),
                    reason: format!("line longer than {CSV_LINE_BYTES_MAX} bytes"),
                });
            }
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            let line = std::str::from_utf8(&self.buf).map_err(|e| Error::Csv {
                line: self.line_no,
                column: 1,
                field: String::new(),
                reason: format!("not UTF-8 text: {e}"),
            })?;
            if line.trim().is_empty() {
                continue;
            }
            return Ok(Some(line.to_owned()));
        }
    }

    fn row(&mut self, line: &str) -> Result<UsageRecord, Error> {
        let ln = self.line_no;
        let fields = split(line, ln)?;
        if fields.len() != self.columns.len() {
            return Err(Error::Csv {
                line: ln,
                column: fields.len().min(self.columns.len()) + 1,
                field: String::new(),
                reason: format!(
                    "{} fields where the header names {}",
                    fields.len(),
                    self.columns.len()
                ),
            });
        }
        let mut v: [Option<(usize, &str)>; 14] = [None; 14];
        for (i, f) in fields.iter().enumerate() {
            let t = f.trim();
            if !t.is_empty() {
                v[self.columns[i]] = Some((i + 1, t));
            }
        }
        let err = |col: usize, name: &str, reason: String| Error::Csv {
            line: ln,
            column: col,
            field: name.to_owned(),
            reason,
        };
        let col_of = |name: &str| {
            let pos = COLUMNS.iter().position(|c| *c == name).expect("known column");
            self.columns.iter().position(|c| *c == pos).map_or(0, |i| i + 1)
        };
        let get = |name: &'static str| -> Result<Option<(usize, &str)>, Error> {
            Ok(v[COLUMNS.iter().position(|c| *c == name).expect("known column")])
        };
        let req = |name: &'static str| -> Result<(usize, &str), Error> {
            get(name)?.ok_or_else(|| err(col_of(name), name, "required value is empty".to_owned()))
        };
        fn parse<T: std::str::FromStr>(
            x: Option<(usize, &str)>,
            name: &str,
            ln: u64,
        ) -> Result<Option<T>, Error>
        where
            T::Err: std::fmt::Display,
        {
            x.map(|(c, s)| {
                s.parse::<T>().map_err(|e| Error::Csv {
                    line: ln,
                    column: c,
                    field: name.to_owned(),
                    reason: e.to_string(),
                })
            })
            .transpose()
        }
        let (c, s) = req("visited")?;
        let visited: Tadig = s
            .parse()
            .map_err(|e: settlement::error::TypeError| err(c, "visited", e.to_string()))?;
        let (c, s) = req("home")?;
        let home: Tadig = s
            .parse()
            .map_err(|e: settlement::error::TypeError| err(c, "home", e.to_string()))?;
        let (c, s) = req("imsi")?;
        let imsi: Imsi = s
            .parse()
            .map_err(|e: settlement::error::TypeError| err(c, "imsi", e.to_string()))?;
        let (c, s) = req("service")?;
        let service: ServiceKind = s
            .parse()
            .map_err(|e: settlement::error::TypeError| err(c, "service", e.to_string()))?;
        let (c, s) = req("start")?;
        let start: UtcTime = s
            .parse()
            .map_err(|e: settlement::error::TypeError| err(c, "start", e.to_string()))?;
        let (c, s) = req("charge")?;
        let charge = Amount::parse_at(s, self.scale).map_err(|e| err(c, "charge", e.to_string()))?;
        let tax = match get("tax")? {
            Some((c, s)) => Amount::parse_at(s, self.scale).map_err(|e| err(c, "tax", e.to_string()))?,
            None => Amount::zero(self.scale),
        };
        let duration_s: u32 = parse(get("duration_s")?, "duration_s", ln)?.unwrap_or(0);
        let up: u64 = parse(get("volume_up_bytes")?, "volume_up_bytes", ln)?.unwrap_or(0);
        let down: u64 = parse(get("volume_down_bytes")?, "volume_down_bytes", ln)?.unwrap_or(0);
        let charged_units =
            parse(get("charged_units")?, "charged_units", ln)?.unwrap_or(match service.base_unit() {
                BaseUnit::Second => u64::from(duration_s),
                BaseUnit::Byte => up.saturating_add(down),
                BaseUnit::Event => 1,
            });
        let index = self.index;
        Ok(UsageRecord {
            visited,
            home,
            imsi,
            msisdn: parse::<Msisdn>(get("msisdn")?, "msisdn", ln)?,
            service,
            start,
            duration_s,
            volume_up_bytes: up,
            volume_down_bytes: down,
            charged_units,
            charge,
            tax,
            other_party: parse::<PartyNumber>(get("other_party")?, "other_party", ln)?,
            charging_id: parse(get("charging_id")?, "charging_id", ln)?,
            source: SourceRef {
                file_sequence_number: None,
                record_index: index,
            },
        })
    }
}

impl<R: BufRead> Iterator for CsvReader<R> {
    type Item = Result<UsageRecord, Error>;

    /// The next data row. A bad row is an error for that row; reading goes on with the next
    /// (its record index is still used up, so indexes match data rows).
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let line = match self.read_line() {
            Ok(Some(l)) => l,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let r = self.row(&line);
        self.index = self.index.saturating_add(1);
        Some(r)
    }
}

/// Writes records as CSV with every column (for exports and test fixtures).
pub fn write(records: &[UsageRecord]) -> String {
    let mut s = COLUMNS.join(",");
    s.push('\n');
    for r in records {
        let opt = |x: Option<String>| x.unwrap_or_default();
        let row = [
            r.visited.to_string(),
            r.home.to_string(),
            r.imsi.to_string(),
            opt(r.msisdn.map(|m| m.to_string())),
            r.service.to_string(),
            r.start.to_string(),
            r.duration_s.to_string(),
            r.volume_up_bytes.to_string(),
            r.volume_down_bytes.to_string(),
            r.charged_units.to_string(),
            r.charge.to_string(),
            r.tax.to_string(),
            opt(r.other_party.map(|m| m.to_string())),
            opt(r.charging_id.map(|m| m.to_string())),
        ];
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}
