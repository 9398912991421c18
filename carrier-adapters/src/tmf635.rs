//! TM Forum TMF635 `Usage` input (JSON).
//!
//! Input is a JSON array of `Usage` objects (or one object). Fields used:
//!
//! - `usageDate`: RFC 3339 start time;
//! - `usageType`: a service name (`voice_mo`, `voice_mt`, `sms_mo`, `sms_mt`, `data`,
//!   `mobile_session`, `messaging_event`, `supplementary_service`, `service_centre_usage`,
//!   `content`, `location`);
//! - `usageCharacteristic`: `[{"name": ..., "value": ...}]` with `imsi` (required), `msisdn`,
//!   `otherParty`, `durationSeconds`, `volumeUpBytes`, `volumeDownBytes`, `chargedUnits`,
//!   `chargingId`;
//! - `ratedProductUsage`: `[{"taxExcludedRatingAmount": {"unit": "SDR", "value": 1.25},
//!   "taxIncludedRatingAmount": {...}}]`: the charge is the sum of tax-excluded amounts, the
//!   tax the sum of (included − excluded);
//! - `relatedParty`: `[{"role": "visitedNetwork", "id": "KORKT"}, {"role": "homeNetwork",
//!   "id": "JPNDO"}]` (`servingNetwork` is accepted for the visited network).
//!
//! Money is read from the JSON text of the number (or a string), never through a float: a
//! value with more decimal places than the configured scale, or in exponent form, is an error.

use serde::Deserialize;
use serde_json::value::RawValue;
use settlement::types::{
    Amount, BaseUnit, Currency, Imsi, Msisdn, PartyNumber, Rounding, Scale, ServiceKind, SourceRef, Tadig,
    UsageRecord, UtcTime,
};

use crate::error::Error;
use crate::limits::JSON_BYTES_MAX;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Usage<'a> {
    usage_date: Option<String>,
    usage_type: Option<String>,
    #[serde(default, borrow)]
    usage_characteristic: Vec<Characteristic<'a>>,
    #[serde(default, borrow)]
    rated_product_usage: Vec<Rated<'a>>,
    #[serde(default)]
    related_party: Vec<Party>,
}

#[derive(Deserialize)]
struct Characteristic<'a> {
    name: String,
    #[serde(borrow)]
    value: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rated<'a> {
    #[serde(borrow)]
    tax_excluded_rating_amount: Option<Money<'a>>,
    #[serde(borrow)]
    tax_included_rating_amount: Option<Money<'a>>,
}

#[derive(Deserialize)]
struct Money<'a> {
    unit: Option<String>,
    #[serde(borrow)]
    value: &'a RawValue,
}

#[derive(Deserialize)]
struct Party {
    id: Option<String>,
    role: Option<String>,
}

/// How amounts are read.
#[derive(Clone, Copy, Debug)]
pub struct JsonOptions {
    /// Scale of the records' amounts.
    pub scale: Scale,
    /// When set, every `unit` must be this currency.
    pub currency: Option<Currency>,
}

/// The JSON text of a number or string value, without quotes.
fn raw_text(v: &RawValue) -> Result<String, String> {
    let t = v.get().trim();
    if t.starts_with('"') {
        return serde_json::from_str::<String>(t).map_err(|e| e.to_string());
    }
    if t.starts_with(['{', '[']) || t == "null" || t == "true" || t == "false" {
        return Err(format!("expected a number or a string, found {t}"));
    }
    Ok(t.to_owned())
}

fn amount(m: &Money<'_>, opts: &JsonOptions) -> Result<Amount, String> {
    if let (Some(want), Some(unit)) = (opts.currency, &m.unit)
        && unit != want.as_str()
    {
        return Err(format!("unit {unit} is not the batch currency {want}"));
    }
    let t = raw_text(m.value)?;
    if t.contains(['e', 'E']) {
        return Err(format!(
            "amount {t} in exponent form is not accepted; write it as a decimal"
        ));
    }
    let a = Amount::parse_decimal(&t).map_err(|e| e.to_string())?;
    if a.scale() > opts.scale {
        return Err(format!(
            "amount {t} has more than the {} decimal places of the batch",
            opts.scale.places()
        ));
    }
    a.rescale(opts.scale, Rounding::HalfEven)
        .map_err(|e| e.to_string())
}

fn convert(i: usize, u: Usage<'_>, opts: &JsonOptions) -> Result<UsageRecord, Error> {
    let index = u32::try_from(i).unwrap_or(u32::MAX);
    let bad = |path: String, reason: String| Error::Json {
        record_index: Some(index),
        path: format!("$[{i}]{path}"),
        reason,
    };
    let date = u
        .usage_date
        .ok_or_else(|| bad(".usageDate".into(), "required".into()))?;
    let start: UtcTime = date
        .parse()
        .map_err(|e: settlement::error::TypeError| bad(".usageDate".into(), e.to_string()))?;
    let ty = u
        .usage_type
        .ok_or_else(|| bad(".usageType".into(), "required".into()))?;
    let service: ServiceKind = ty
        .parse()
        .map_err(|e: settlement::error::TypeError| bad(".usageType".into(), e.to_string()))?;
    let (mut visited, mut home) = (None, None);
    for (k, p) in u.related_party.iter().enumerate() {
        let slot = match p.role.as_deref() {
            Some("visitedNetwork" | "servingNetwork") => &mut visited,
            Some("homeNetwork") => &mut home,
            _ => continue,
        };
        let id = p.id.as_deref().unwrap_or("");
        let t: Tadig = id.parse().map_err(|e: settlement::error::TypeError| {
            bad(format!(".relatedParty[{k}].id"), e.to_string())
        })?;
        if slot.replace(t).is_some() {
            return Err(bad(format!(".relatedParty[{k}].role"), "role given twice".into()));
        }
    }
    let visited =
        visited.ok_or_else(|| bad(".relatedParty".into(), "no party with role visitedNetwork".into()))?;
    let home = home.ok_or_else(|| bad(".relatedParty".into(), "no party with role homeNetwork".into()))?;
    let mut imsi = None;
    let mut msisdn = None;
    let mut other = None;
    let mut nums: [Option<u64>; 5] = [None; 5];
    for (k, c) in u.usage_characteristic.iter().enumerate() {
        let path = format!(".usageCharacteristic[{k}].value");
        let text = raw_text(c.value).map_err(|e| bad(path.clone(), e))?;
        let err = |e: String| bad(path.clone(), format!("{}: {e}", c.name));
        match c.name.as_str() {
            "imsi" => imsi = Some(text.parse::<Imsi>().map_err(|e| err(e.to_string()))?),
            "msisdn" => msisdn = Some(text.parse::<Msisdn>().map_err(|e| err(e.to_string()))?),
            "otherParty" => other = Some(text.parse::<PartyNumber>().map_err(|e| err(e.to_string()))?),
            n => {
                let slot = match n {
                    "durationSeconds" => 0,
                    "volumeUpBytes" => 1,
                    "volumeDownBytes" => 2,
                    "chargedUnits" => 3,
                    "chargingId" => 4,
                    // Characteristics roamledger does not use are kept by the sender.
                    _ => continue,
                };
                nums[slot] = Some(text.parse::<u64>().map_err(|e| err(e.to_string()))?);
            }
        }
    }
    let imsi = imsi.ok_or_else(|| {
        bad(
            ".usageCharacteristic".into(),
            "no characteristic named imsi".into(),
        )
    })?;
    let duration_s = u32::try_from(nums[0].unwrap_or(0)).map_err(|_| {
        bad(
            ".usageCharacteristic".into(),
            "durationSeconds does not fit 32 bits".into(),
        )
    })?;
    let (up, down) = (nums[1].unwrap_or(0), nums[2].unwrap_or(0));
    let mut charge = Amount::zero(opts.scale);
    let mut tax = Amount::zero(opts.scale);
    for (k, r) in u.rated_product_usage.iter().enumerate() {
        let ex = r.tax_excluded_rating_amount.as_ref().ok_or_else(|| {
            bad(
                format!(".ratedProductUsage[{k}].taxExcludedRatingAmount"),
                "required".into(),
            )
        })?;
        let ex = amount(ex, opts)
            .map_err(|e| bad(format!(".ratedProductUsage[{k}].taxExcludedRatingAmount"), e))?;
        charge = charge
            .checked_add(ex)
            .map_err(|e| bad(format!(".ratedProductUsage[{k}]"), e.to_string()))?;
        if let Some(inc) = &r.tax_included_rating_amount {
            let inc = amount(inc, opts)
                .map_err(|e| bad(format!(".ratedProductUsage[{k}].taxIncludedRatingAmount"), e))?;
            let t = inc
                .checked_sub(ex)
                .map_err(|e| bad(format!(".ratedProductUsage[{k}]"), e.to_string()))?;
            tax = tax
                .checked_add(t)
                .map_err(|e| bad(format!(".ratedProductUsage[{k}]"), e.to_string()))?;
        }
    }
    if u.rated_product_usage.is_empty() {
        return Err(bad(
            ".ratedProductUsage".into(),
            "at least one rated usage with an amount is required".into(),
        ));
    }
    Ok(UsageRecord {
        visited,
        home,
        imsi,
        msisdn,
        service,
        start,
        duration_s,
        volume_up_bytes: up,
        volume_down_bytes: down,
        charged_units: nums[3].unwrap_or(match service.base_unit() {
            BaseUnit::Second => u64::from(duration_s),
            BaseUnit::Byte => up.saturating_add(down),
            BaseUnit::Event => 1,
        }),
        charge,
        tax,
        other_party: other,
        charging_id: nums[4],
        source: SourceRef {
            file_sequence_number: None,
            record_index: index,
        },
    })
}

/// Reads TMF635 usages. The whole input is parsed first (it must be valid JSON); then each
/// usage is converted, and a usage that does not convert gives an error naming its index and
/// JSON path while the others still convert.
pub fn read(bytes: &[u8], opts: &JsonOptions) -> Result<Vec<Result<UsageRecord, Error>>, Error> {
    if bytes.len() > JSON_BYTES_MAX {
        return Err(Error::Json {
            record_index: None,
            path: "$".into(),
            reason: format!(
                "input of {} bytes exceeds the limit of {JSON_BYTES_MAX}",
                bytes.len()
            ),
        });
    }
    let syntax = |e: serde_json::Error| Error::Json {
        record_index: None,
        path: format!("$ (line {}, column {})", e.line(), e.column()),
        reason: e.to_string(),
    };
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Json {
        record_index: None,
        path: "$".into(),
        reason: format!("not UTF-8: {e}"),
    })?;
    let items: Vec<&RawValue> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(syntax)?
    } else {
        vec![serde_json::from_str(text).map_err(syntax)?]
    };
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let u: Usage<'_> = serde_json::from_str(raw.get()).map_err(|e| Error::Json {
                record_index: Some(u32::try_from(i).unwrap_or(u32::MAX)),
                path: format!("$[{i}]"),
                reason: e.to_string(),
            })?;
            convert(i, u, opts)
        })
        .collect())
}

/// Writes records as a TMF635 `Usage` array (the shape [`read`] accepts; amounts as decimal
/// strings).
pub fn write(records: &[UsageRecord], currency: Currency) -> String {
    let items: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            let mut ch = vec![serde_json::json!({"name": "imsi", "value": r.imsi.to_string()})];
            if let Some(m) = r.msisdn {
                ch.push(serde_json::json!({"name": "msisdn", "value": m.to_string()}));
            }
            if let Some(p) = r.other_party {
                ch.push(serde_json::json!({"name": "otherParty", "value": p.to_string()}));
            }
            ch.push(serde_json::json!({"name": "durationSeconds", "value": r.duration_s}));
            ch.push(serde_json::json!({"name": "volumeUpBytes", "value": r.volume_up_bytes}));
            ch.push(serde_json::json!({"name": "volumeDownBytes", "value": r.volume_down_bytes}));
            ch.push(serde_json::json!({"name": "chargedUnits", "value": r.charged_units}));
            if let Some(c) = r.charging_id {
                ch.push(serde_json::json!({"name": "chargingId", "value": c}));
            }
            let inc = r.charge.checked_add(r.tax).unwrap_or(r.charge);
            serde_json::json!({
                "usageDate": r.start.to_string(),
                "usageType": r.service.name(),
                "usageCharacteristic": ch,
                "ratedProductUsage": [{
                    "taxExcludedRatingAmount": {"unit": currency.as_str(), "value": r.charge.to_string()},
                    "taxIncludedRatingAmount": {"unit": currency.as_str(), "value": inc.to_string()},
                }],
                "relatedParty": [
                    {"role": "visitedNetwork", "id": r.visited.as_str()},
                    {"role": "homeNetwork", "id": r.home.as_str()},
                ],
            })
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&items).expect("JSON values serialize");
    s.push('\n');
    s
}
