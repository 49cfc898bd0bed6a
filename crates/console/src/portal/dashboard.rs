//! The dashboard: balance, today's messages by status, the delivery rate, and the last
//! 24 hours' throughput and delivery rate as charts.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use tongdao_api::AppState;
use tongdao_domain::MessageStatus;
use tongdao_domain::console::PortalArea;
use tongdao_store::TrafficRow;

use crate::charts::{self, Point};
use crate::page::{self, Chrome, OrPage, PageResult};
use crate::web::Customer;

const HOUR: i64 = 3_600_000;

/// Delivered of those that ended: what the customer calls its delivery rate.
pub fn delivery_rate(rows: &[TrafficRow]) -> Option<f64> {
    let delivered: u64 = rows.iter().filter(|r| r.status == MessageStatus::Delivered).map(|r| r.count).sum();
    let ended: u64 = rows
        .iter()
        .filter(|r| r.status.is_final() && !matches!(r.status, MessageStatus::Cancelled | MessageStatus::Deleted))
        .map(|r| r.count)
        .sum();
    (ended > 0).then(|| delivered as f64 * 100.0 / ended as f64)
}

#[derive(Debug, Clone)]
pub struct StatusCount {
    pub status: &'static str,
    pub count: u64,
}

#[derive(Template)]
#[template(path = "portal/dashboard.html")]
struct Dashboard {
    c: Chrome,
    balance: String,
    today_total: u64,
    today: Vec<StatusCount>,
    rate: Option<String>,
    throughput_chart: String,
    rate_chart: String,
    hours: Vec<(String, u64, String)>,
}

pub async fn page(State(state): State<AppState>, customer: Customer) -> PageResult {
    let visit = &customer.visit;
    customer.read(PortalArea::Overview).or_page(visit)?;
    let platform = &state.platform;
    let now = platform.now_ms();
    let balance = platform.balance(&customer.customer_id).await.or_page(visit)?.balance;
    let day_start = tongdao_domain::period::day_start_ms(tongdao_domain::agreement::cst_date(now));
    let today_rows =
        platform.traffic(&customer.customer_id, day_start, now + 1, now + 1 - day_start).await.or_page(visit)?;
    let today: Vec<StatusCount> = MessageStatus::ALL
        .iter()
        .filter_map(|s| {
            let count: u64 = today_rows.iter().filter(|r| r.status == *s).map(|r| r.count).sum();
            (count > 0).then_some(StatusCount { status: s.as_str(), count })
        })
        .collect();
    // The last 24 whole hours and this one.
    let from = (now / HOUR - 23) * HOUR;
    let rows = platform.traffic(&customer.customer_id, from, now + 1, HOUR).await.or_page(visit)?;
    let lang = visit.lang;
    let mut throughput = Vec::new();
    let mut rates = Vec::new();
    let mut hours = Vec::new();
    for h in 0..24 {
        let start = from + h * HOUR;
        let of_hour: Vec<TrafficRow> = rows.iter().filter(|r| r.period == start).copied().collect();
        let label = page::when(start)[11..13].to_owned() + "h";
        let count = of_hour.iter().map(|r| r.count).sum::<u64>();
        let rate = delivery_rate(&of_hour);
        throughput.push(Point { label: label.clone(), value: count as f64 });
        rates.push(Point { label: label.clone(), value: rate.unwrap_or(f64::NAN) });
        hours.push((label, count, rate.map(|r| format!("{r:.1}%")).unwrap_or_else(|| "—".into())));
    }
    let page = Dashboard {
        c: customer.chrome("Dashboard"),
        balance: balance.to_string(),
        today_total: today.iter().map(|s| s.count).sum(),
        today,
        rate: delivery_rate(&today_rows).map(|r| format!("{r:.1}%")),
        throughput_chart: charts::bars("throughput", lang.t("Messages per hour, last 24 hours"), &throughput),
        rate_chart: charts::percent_line("delivery-rate", lang.t("Delivery rate per hour, last 24 hours"), &rates),
        hours,
    };
    Ok(page::render(&page))
}

#[derive(Template)]
#[template(path = "portal/suspended.html")]
struct Suspended {
    c: Chrome,
}

/// Where a suspended customer's users land: what is still open to them.
pub async fn suspended(customer: Customer) -> Response {
    page::render(&Suspended { c: customer.chrome("Service suspended") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delivery_rate_counts_only_what_ended_and_was_sent() {
        let row = |status, count| TrafficRow { period: 0, status, count };
        assert_eq!(delivery_rate(&[row(MessageStatus::Queued, 5)]), None);
        let rows = [
            row(MessageStatus::Delivered, 3),
            row(MessageStatus::Failed, 1),
            row(MessageStatus::Cancelled, 10),
            row(MessageStatus::Submitted, 7),
        ];
        assert_eq!(delivery_rate(&rows), Some(75.0));
    }
}
