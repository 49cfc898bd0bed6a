//! The daily work: carrier links with their live state, the moderation queue and
//! violations, tickets with their deadlines, maintenance, breach notices and the audit
//! trail.
//!
//! Every write is done [`acting_as`](tongdao_pipeline::users::acting_as) the console user,
//! so that the audit trail names the person rather than the bare `operator` of the API.

mod audit;
mod breaches;
pub(crate) mod carriers;
mod maintenance;
mod moderation;
mod tickets;

use axum::Router;
use axum::routing::{get, post};
use tongdao_api::AppState;
use tongdao_domain::Rejection;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops/carriers", get(carriers::page))
        .route("/ops/carriers/live", get(carriers::live))
        .route("/ops/moderation", get(moderation::page))
        .route("/ops/moderation/held/{id}/approve", post(moderation::approve))
        .route("/ops/moderation/held/{id}/delete", post(moderation::delete))
        .route("/ops/moderation/{kind}/{id}/approve", post(moderation::approve_reviewed))
        .route("/ops/moderation/{kind}/{id}/reject", post(moderation::reject_reviewed))
        .route("/ops/tickets", get(tickets::list))
        .route("/ops/tickets/{id}", get(tickets::page))
        .route("/ops/tickets/{id}/answer", post(tickets::answer))
        .route("/ops/tickets/{id}/status", post(tickets::set_status))
        .route("/ops/tickets/{id}/settle", post(tickets::settle))
        .route("/ops/maintenance", get(maintenance::page).post(maintenance::schedule))
        .route("/ops/maintenance/{id}/cancel", post(maintenance::cancel))
        .route("/ops/breaches", get(breaches::page).post(breaches::issue))
        .route("/ops/breaches/{id}/cure", post(breaches::cure))
        .route("/ops/breaches/{id}/terminate", post(breaches::terminate))
        .route("/ops/audit", get(audit::page))
}

/// A form field as typed: trimmed, and `None` when left empty (HTML sends empty strings).
pub(crate) fn typed(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// The fields of a urlencoded form, for forms with repeated names (checkboxes), which
/// `Form<T>` cannot read into a list.
#[derive(Debug, Default)]
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    pub(crate) fn parse(body: &[u8]) -> Fields {
        Fields(url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }
    /// The first value of `name`, trimmed; empty is `None`.
    pub(crate) fn one(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned()).filter(|v| !v.is_empty())
    }
    /// Every non-empty value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim().to_owned()).collect()
    }
}

const CST_OFFSET_MS: i64 = 8 * 3_600_000;

/// A `<input type="datetime-local">` value (`2026-06-05T10:30`, seconds optional), read as
/// China time (UTC+8), in ms since the epoch.
pub(crate) fn parse_local(field: &str, value: &str) -> Result<i64, Rejection> {
    let bad = || Rejection::invalid(field, format!("{field} must be a date and time such as 2026-06-05T10:30"));
    let (date, clock) = value.trim().split_once(['T', ' ']).ok_or_else(bad)?;
    let mut d = date.splitn(3, '-').map(str::parse::<i32>);
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day))) = (d.next(), d.next(), d.next()) else {
        return Err(bad());
    };
    let mut t = clock.splitn(3, ':').map(str::parse::<u8>);
    let (Some(Ok(hour)), Some(Ok(minute))) = (t.next(), t.next()) else { return Err(bad()) };
    let second = match t.next() {
        None => 0,
        Some(Ok(s)) => s,
        Some(Err(_)) => return Err(bad()),
    };
    let month = u8::try_from(month).ok().and_then(|m| time::Month::try_from(m).ok()).ok_or_else(bad)?;
    let day = u8::try_from(day).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    let at = time::Time::from_hms(hour, minute, second).map_err(|_| bad())?;
    let utc = time::PrimitiveDateTime::new(date, at).assume_utc().unix_timestamp() * 1000;
    Ok(utc - CST_OFFSET_MS)
}

/// `ms` as a `<input type="datetime-local">` value in China time (`2026-06-05T10:30`).
pub(crate) fn local_value(ms: i64) -> String {
    crate::page::when(ms).replacen(' ', "T", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_china_time() {
        // 2026-06-01 12:00 in Beijing is 04:00 UTC.
        assert_eq!(parse_local("starts_at", "2026-06-01T12:00"), Ok(1_780_286_400_000));
        assert_eq!(parse_local("starts_at", "2026-06-01T12:00:30"), Ok(1_780_286_430_000));
        assert_eq!(local_value(1_780_286_400_000), "2026-06-01T12:00");
        for bad in ["", "2026-06-01", "2026-13-01T10:00", "2026-02-30T10:00", "2026-06-01T25:00", "x-y-zTa:b"] {
            let refused = parse_local("starts_at", bad).expect_err(bad);
            assert_eq!(refused.field.as_deref(), Some("starts_at"));
        }
    }

    #[test]
    fn repeated_fields_are_all_read() {
        let fields = Fields::parse(b"services=http&services=smpp&services=&description=+work+&x=");
        assert_eq!(fields.all("services"), ["http", "smpp"]);
        assert_eq!(fields.one("description").as_deref(), Some("work"));
        assert_eq!(fields.one("x"), None);
        assert_eq!(typed(&Some("  ".into())), None);
        assert_eq!(typed(&Some(" a ".into())).as_deref(), Some("a"));
    }
}
