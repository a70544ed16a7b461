//! Chart data for the usage pages: daily series per model, handed to the chart script as
//! JSON in a `data-chart` attribute (escaped by the template like any attribute).

use serde_json::json;

use super::format::{count, tokens, usd};
use crate::domain::key::UsageTotals;
use crate::store::DailyModelUsage;

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
}

impl UsageCharts {
    pub fn new(days: u32, usage: &[DailyModelUsage]) -> UsageCharts {
        UsageCharts {
            days,
            cost_chart: cost_chart(usage),
            token_chart: token_chart(usage),
            has_usage: has_usage(usage),
            models: model_rows(usage),
        }
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

fn series(days: &[DailyModelUsage], unit: &str, value: impl Fn(&UsageTotals) -> f64) -> String {
    let labels: Vec<String> = days
        .iter()
        .map(|d| d.date.format("%Y-%m-%d").to_string())
        .collect();
    let datasets: Vec<serde_json::Value> = model_rows(days)
        .iter()
        .map(|row| {
            let data: Vec<f64> = days
                .iter()
                .map(|d| {
                    d.models
                        .iter()
                        .find(|(m, _)| *m == row.model)
                        .map(|(_, u)| value(u))
                        .unwrap_or(0.0)
                })
                .collect();
            json!({"label": row.model, "data": data})
        })
        .collect();
    json!({"type": "bar", "stacked": true, "unit": unit, "labels": labels, "datasets": datasets})
        .to_string()
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
