//! Form input as every page reads it: a field left empty is no value (HTML sends empty
//! strings), times are typed in China time, and a form's fields can be kept as typed to
//! show them again with a refusal.

use std::str::FromStr;

use serde::Deserialize;
use tongdao_domain::{Money, Rejection};

/// An optional input: empty or blank is `None`, else trimmed.
pub fn optional(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// A posted form's fields in their order, as typed. Read by name: a field left out reads
/// as empty, and an empty optional field is `None`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The fields of a urlencoded body (forms with repeated names, such as checkboxes,
    /// which `Form<T>` cannot read into a list).
    pub fn parse(body: &[u8]) -> Fields {
        Fields(url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// Every non-empty value of `name`, trimmed.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim().to_owned()).collect()
    }

    /// The field as typed, `""` when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// The field trimmed, `None` when empty or absent.
    pub fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name).trim()).filter(|v| !v.is_empty())
    }

    pub fn money(&self, name: &str) -> Result<Money, Rejection> {
        Money::parse(self.get(name).trim())
            .map_err(|e| Rejection::invalid(name, format!("{name} must be an amount such as 12.50 ({e})")))
    }

    pub fn opt_money(&self, name: &str) -> Result<Option<Money>, Rejection> {
        self.opt(name).map(|_| self.money(name)).transpose()
    }

    /// A whole number; `default` when the field is empty.
    pub fn number<T: FromStr>(&self, name: &str, default: Option<T>) -> Result<T, Rejection> {
        match (self.opt(name), default) {
            (None, Some(d)) => Ok(d),
            (value, _) => value
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Rejection::invalid(name, format!("{name} must be a whole number"))),
        }
    }
}

/// A time typed in a form, read in China time: `2026-06-01T12:30` (a `datetime-local`
/// input, seconds optional), `2026-06-01` (a `date` input: its midnight) or RFC 3339 as the
/// API takes it.
pub fn form_time(field: &str, value: &str) -> Result<i64, Rejection> {
    let value = value.trim();
    let full = match value.len() {
        10 => format!("{value}T00:00:00+08:00"),
        16 => format!("{value}:00+08:00"),
        19 => format!("{value}+08:00"),
        _ => value.to_owned(),
    };
    tongdao_domain::clock::parse_rfc3339(&full)
        .ok_or_else(|| Rejection::invalid(field, format!("{field} must be a date and time like 2026-06-01T12:30")))
}

/// `ms` as a `datetime-local` input's value in China time (`2026-06-05T10:30`).
pub fn local_value(ms: i64) -> String {
    crate::page::when(ms).replacen(' ', "T", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_as_typed_and_empty_is_none() {
        let fields = Fields::parse(b"services=http&services=smpp&services=&amount=+12.50+&reference=++");
        assert_eq!(fields.all("services"), ["http", "smpp"]);
        assert_eq!(fields.get("amount"), " 12.50 ");
        assert_eq!(fields.opt("reference"), None);
        assert_eq!(fields.money("amount").map(|m| m.to_string()), Ok("12.5000".to_owned()));
        assert_eq!(fields.opt_money("reference"), Ok(None));
        assert_eq!(fields.money("reference").map_err(|r| r.field), Err(Some("reference".to_owned())));
        assert_eq!(fields.number::<u32>("rps", Some(0)), Ok(0));
        assert_eq!(optional(&Some("  ".into())), None);
        assert_eq!(optional(&Some(" a ".into())).as_deref(), Some("a"));
    }

    #[test]
    fn form_times_are_china_time() {
        // 2026-06-01 12:00 in Beijing is 04:00 UTC.
        assert_eq!(form_time("starts_at", "2026-06-01T12:00"), Ok(1_780_286_400_000));
        assert_eq!(form_time("starts_at", "2026-06-01T12:00:30"), Ok(1_780_286_430_000));
        assert_eq!(form_time("send_at", "2026-06-01"), Ok(1_780_286_400_000 - 12 * 3_600_000));
        assert_eq!(form_time("send_at", "2026-06-01T04:00:00Z"), Ok(1_780_286_400_000));
        assert_eq!(local_value(1_780_286_400_000), "2026-06-01T12:00");
        for bad in ["", "tomorrow", "2026-13-01T10:00", "2026-02-30T10:00", "2026-06-01T25:00"] {
            assert_eq!(form_time("starts_at", bad).map_err(|r| r.field), Err(Some("starts_at".to_owned())), "{bad}");
        }
    }
}
