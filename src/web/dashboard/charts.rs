//! Chart data for the usage pages: daily series per model, handed to the chart script as
//! JSON in a `data-chart` attribute (escaped by the template like any attribute).

use serde::Serialize;

use super::format::{count, plural, tokens, usd};
use crate::domain::key::{DailyModelUsage, UsageTotals};
use crate::web::error::{PageError, PageResult};
use crate::web::extract::QueryPairs;

/// The period a usage page charts: `?days=` 7 (the default) or 30.
pub fn parse_days(query: &QueryPairs) -> PageResult<u32> {
    match query.get("days") {
        None | Some("") | Some("7") => Ok(7),
        Some("30") => Ok(30),
        Some(_) => Err(PageError::BadRequest("days: choose 7 or 30".into())),
    }
}

/// Per-model rows over the period, biggest cost first.
pub struct ModelRow {
    pub model: String,
    pub totals: UsageTotals,
}

/// The cells of a per-model row, formatted as everywhere else.
impl ModelRow {
    pub fn requests(&self) -> String {
        count(self.totals.requests)
    }
    pub fn input(&self) -> String {
        tokens(self.totals.input_tokens)
    }
    pub fn output(&self) -> String {
        tokens(self.totals.output_tokens)
    }
    pub fn cache_write(&self) -> String {
        tokens(self.totals.cache_create_tokens())
    }
    pub fn cache_read(&self) -> String {
        tokens(self.totals.cache_read_tokens)
    }
    pub fn cost(&self) -> String {
        usd(self.totals.cost)
    }
}

/// Everything the usage section of a key or account page shows for a period.
pub struct UsageCharts {
    pub days: u32,
    pub cost_chart: String,
    pub token_chart: String,
    pub has_usage: bool,
    pub models: Vec<ModelRow>,
    /// Models in the period priced with the fallback price (in neither price file), with their
    /// request counts: `claude-x-9 (12 requests)`.
    pub fallback_priced: Vec<String>,
}

impl UsageCharts {
    pub fn new(days: u32, usage: &[DailyModelUsage]) -> UsageCharts {
        UsageCharts {
            days,
            cost_chart: cost_chart(usage),
            token_chart: token_chart(usage),
            has_usage: has_usage(usage),
            models: model_rows(usage),
            fallback_priced: Vec::new(),
        }
    }

    /// Marks the models `priced_by_fallback` says the price table does not know, so the page
    /// can warn that their cost is the fallback price's.
    pub fn flag_fallback(mut self, priced_by_fallback: impl Fn(&str) -> bool) -> UsageCharts {
        self.fallback_priced = self
            .models
            .iter()
            .filter(|row| priced_by_fallback(&row.model))
            .map(|row| {
                format!(
                    "{} ({})",
                    row.model,
                    plural(row.totals.requests, "request", "requests")
                )
            })
            .collect();
        self
    }

    /// The period's totals over every model.
    pub fn period(&self) -> UsageTotals {
        let mut period = UsageTotals::default();
        for row in &self.models {
            period.add(&row.totals);
        }
        period
    }

    /// The totals row under the per-model table.
    pub fn total_row(&self) -> ModelRow {
        ModelRow {
            model: "Total".into(),
            totals: self.period(),
        }
    }
}

fn model_rows(days: &[DailyModelUsage]) -> Vec<ModelRow> {
    let mut rows: Vec<ModelRow> = Vec::new();
    for day in days {
        for (model, usage) in &day.models {
            match rows.iter_mut().find(|r| &r.model == model) {
                Some(row) => row.totals.add(usage),
                None => rows.push(ModelRow {
                    model: model.clone(),
                    totals: usage.clone(),
                }),
            }
        }
    }
    rows.sort_by(|a, b| {
        b.totals
            .cost
            .cmp(&a.totals.cost)
            .then(a.model.cmp(&b.model))
    });
    rows
}

/// The chart script's input: one stacked bar series per model over the days.
#[derive(Serialize)]
struct ChartData<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    stacked: bool,
    unit: &'static str,
    labels: Vec<String>,
    datasets: Vec<Dataset<'a>>,
}

#[derive(Serialize)]
struct Dataset<'a> {
    label: &'a str,
    data: Vec<f64>,
}

fn series(
    days: &[DailyModelUsage],
    unit: &'static str,
    value: impl Fn(&UsageTotals) -> f64,
) -> String {
    let rows = model_rows(days);
    let chart = ChartData {
        kind: "bar",
        stacked: true,
        unit,
        labels: days
            .iter()
            .map(|d| d.date.format("%Y-%m-%d").to_string())
            .collect(),
        datasets: rows
            .iter()
            .map(|row| Dataset {
                label: &row.model,
                data: days
                    .iter()
                    .map(|d| {
                        d.models
                            .iter()
                            .find(|(m, _)| *m == row.model)
                            .map(|(_, u)| value(u))
                            .unwrap_or(0.0)
                    })
                    .collect(),
            })
            .collect(),
    };
    // Plain numbers and strings: serializing cannot fail.
    serde_json::to_string(&chart).unwrap_or_default()
}

fn cost_chart(days: &[DailyModelUsage]) -> String {
    series(days, "USD", |u| u.cost.as_usd_f64())
}

fn token_chart(days: &[DailyModelUsage]) -> String {
    series(days, "tokens", |u| u.all_tokens as f64)
}

fn has_usage(days: &[DailyModelUsage]) -> bool {
    days.iter().any(|d| !d.models.is_empty())
}
