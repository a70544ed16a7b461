//! The key page's request log (the newest usage records, paged with the log's cursor) and its
//! chart of today by hour.

use chrono::Utc;
use serde::Serialize;

use super::format::{count, time_seconds, tokens, usd, zone_name};
use crate::domain::audit::is_entry_id;
use crate::domain::ids::KeyId;
use crate::domain::request_log::{HourlyUsage, RequestLogEntry, RequestLogPage, RequestLogQuery};
use crate::domain::timezone::Zone;
use crate::web::error::{PageError, PageResult};
use crate::web::extract::QueryPairs;

/// Requests the key page lists at once.
const PAGE_ROWS: usize = 20;

/// Which slice of the log the page shows: `?before=` from an "Older" link, or the newest.
pub fn parse_log_query(query: &QueryPairs) -> PageResult<RequestLogQuery> {
    let before = query.get("before").filter(|b| !b.is_empty());
    if before.is_some_and(|b| !is_entry_id(b)) {
        return Err(PageError::BadRequest(
            "before: must be the link of an earlier page".into(),
        ));
    }
    Ok(RequestLogQuery {
        limit: PAGE_ROWS,
        before: before.map(str::to_string),
    })
}

/// One row of the "Recent requests" table, formatted.
pub struct RequestRow {
    pub at: String,
    pub model: String,
    /// Empty when the model is its own price row.
    pub priced_as: String,
    pub account_id: String,
    pub input: String,
    pub output: String,
    pub cache_write: String,
    pub cache_read: String,
    pub cost: String,
}

impl RequestRow {
    fn new(entry: &RequestLogEntry, zone: Zone) -> RequestRow {
        RequestRow {
            at: time_seconds(entry.at, zone),
            model: entry.model.clone(),
            priced_as: if entry.priced_as == entry.model {
                String::new()
            } else {
                entry.priced_as.clone()
            },
            account_id: entry.account_id.clone().unwrap_or_default(),
            input: tokens(entry.input_tokens),
            output: tokens(entry.output_tokens),
            cache_write: tokens(entry.cache_create_tokens),
            cache_read: tokens(entry.cache_read_tokens),
            cost: usd(entry.cost),
        }
    }
}

/// The "Recent requests" section: rows, the links around them and the export.
pub struct RecentRequests {
    pub rows: Vec<RequestRow>,
    /// The next page (older requests), when there is one.
    pub older_href: Option<String>,
    /// Back to the newest requests, when this is not the first page.
    pub newest_href: Option<String>,
    pub csv_href: String,
}

impl RecentRequests {
    pub fn new(
        id: KeyId,
        days: u32,
        shown_from_start: bool,
        page: &RequestLogPage,
        zone: Zone,
    ) -> RecentRequests {
        let base = format!("/keys/{id}?days={days}");
        RecentRequests {
            rows: page
                .entries
                .iter()
                .map(|e| RequestRow::new(e, zone))
                .collect(),
            older_href: page
                .next
                .as_ref()
                .map(|next| format!("{base}&before={next}#recent-requests")),
            newest_href: (!shown_from_start).then(|| format!("{base}#recent-requests")),
            csv_href: format!("/api/v1/admin/keys/{id}/requests.csv"),
        }
    }
}

/// Today's hours as the chart script draws them.
#[derive(Serialize)]
struct HourChart {
    #[serde(rename = "type")]
    kind: &'static str,
    stacked: bool,
    unit: &'static str,
    labels: Vec<String>,
    datasets: Vec<HourDataset>,
}

#[derive(Serialize)]
struct HourDataset {
    label: &'static str,
    data: Vec<f64>,
}

/// Today's charts by hour, on the configured zone's clock.
pub struct HourlyCharts {
    pub zone: String,
    pub cost_chart: String,
    pub request_chart: String,
    pub has_usage: bool,
    /// `12 requests · $0.0372` over today's hours, for the text beside the charts.
    pub summary: String,
}

impl HourlyCharts {
    pub fn new(hours: &HourlyUsage, zone: Zone) -> HourlyCharts {
        let has_usage = hours.iter().any(|h| h.requests > 0);
        let chart = |unit: &'static str, label: &'static str, value: &dyn Fn(usize) -> f64| {
            let chart = HourChart {
                kind: "bar",
                stacked: false,
                unit,
                labels: (0..24).map(|h| format!("{h:02}:00")).collect(),
                datasets: if has_usage {
                    vec![HourDataset {
                        label,
                        data: (0..24).map(value).collect(),
                    }]
                } else {
                    Vec::new()
                },
            };
            // Plain numbers and strings: serializing cannot fail.
            serde_json::to_string(&chart).unwrap_or_default()
        };
        let requests: u64 = hours.iter().map(|h| h.requests).sum();
        let cost = hours
            .iter()
            .try_fold(crate::domain::money::NanoUsd::ZERO, |sum, h| {
                sum.checked_add(h.cost)
            })
            .unwrap_or_default();
        HourlyCharts {
            zone: zone_name(Utc::now(), zone),
            cost_chart: chart("USD", "Cost", &|h| hours[h].cost.as_usd_f64()),
            request_chart: chart("", "Requests", &|h| hours[h].requests as f64),
            has_usage,
            summary: format!("{} requests · {}", count(requests), usd(cost)),
        }
    }
}
