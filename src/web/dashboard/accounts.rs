//! Upstream account pages: every account with usage or a bound key, and one account's charts.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};

use super::charts::{parse_days, UsageCharts};
use super::flash::Flash;
use super::format::{count, optional_relative, optional_time, tokens, usd};
use super::key_view::KeyView;
use crate::domain::ids::is_account_id;
use crate::domain::key::UsageTotals;
use crate::domain::role::AdminRole;
use crate::web::access::{get, Access, RouteSpec};
use crate::web::auth::SessionAdmin;
use crate::web::error::{PageError, PageResult};
use crate::web::extract::QueryPairs;
use crate::web::AppState;

pub fn routes() -> Vec<RouteSpec> {
    const READ: Access = Access::Page(AdminRole::Viewer);
    vec![
        get("/accounts", READ, route_get_accounts),
        get("/accounts/{account}", READ, route_get_account),
    ]
}

/// Days summed for the accounts overview.
const OVERVIEW_DAYS: u32 = 30;

pub struct AccountRow {
    pub id: String,
    pub last_used: String,
    /// `3 min ago`, empty when never used.
    pub last_used_ago: String,
    pub bound_keys: usize,
    pub today_requests: String,
    pub today_cost: String,
    pub month_requests: String,
    pub month_tokens: String,
    pub month_cost: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/accounts.html")]
struct AccountsPage {
    csrf: String,
    flashes: Vec<Flash>,
    accounts: Vec<AccountRow>,
}

async fn route_get_accounts(
    State(state): State<AppState>,
    admin: SessionAdmin,
) -> PageResult<AccountsPage> {
    let zone = state.keys.zone();
    let now = chrono::Utc::now();
    let mut rows = Vec::new();
    // One pipelined round trip per account; the number of upstream accounts is small.
    for (id, last_used) in state.keys.accounts().await? {
        let days = state.keys.account_usage(&id, OVERVIEW_DAYS).await?;
        let mut month = UsageTotals::default();
        let mut today = UsageTotals::default();
        for (i, day) in days.iter().enumerate() {
            for (_, usage) in &day.models {
                month.add(usage);
                if i + 1 == days.len() {
                    today.add(usage);
                }
            }
        }
        rows.push(AccountRow {
            bound_keys: state.keys.bound_key_count(&id).await?,
            last_used: optional_time(last_used, zone, "never"),
            last_used_ago: optional_relative(last_used, now),
            today_requests: count(today.requests),
            today_cost: usd(today.cost),
            month_requests: count(month.requests),
            month_tokens: tokens(month.all_tokens),
            month_cost: usd(month.cost),
            id,
        });
    }
    Ok(AccountsPage {
        csrf: admin.csrf,
        flashes: Flash::take_all(&admin.session).await?,
        accounts: rows,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/account.html")]
struct AccountPage {
    csrf: String,
    flashes: Vec<Flash>,
    account: String,
    charts: UsageCharts,
    period: UsageTotals,
    keys: Vec<KeyView>,
    /// Every key bound to the account; `keys` holds only the first few hundred.
    bound_keys: usize,
}

impl AccountPage {
    fn period_cost(&self) -> String {
        usd(self.period.cost)
    }
    fn period_requests(&self) -> String {
        count(self.period.requests)
    }
    fn period_tokens(&self) -> String {
        tokens(self.period.all_tokens)
    }
}

async fn route_get_account(
    State(state): State<AppState>,
    admin: SessionAdmin,
    Path(account): Path<String>,
    query: QueryPairs,
) -> PageResult<AccountPage> {
    // An id nothing was ever recorded for is a mistyped or forged link, not an empty account.
    if !is_account_id(&account) || !state.keys.is_known_account(&account).await? {
        return Err(PageError::NotFound);
    }
    let days = parse_days(&query)?;
    let usage = state.keys.account_usage(&account, days).await?;
    let charts =
        UsageCharts::new(days, &usage).flag_fallback(|model| state.keys.priced_by_fallback(model));
    let zone = state.keys.zone();
    let keys = state.keys.keys_bound_to(&account).await?;
    let bound_keys = state.keys.bound_key_count(&account).await?;
    Ok(AccountPage {
        bound_keys,
        csrf: admin.csrf,
        flashes: Flash::take_all(&admin.session).await?,
        account,
        period: charts.period(),
        charts,
        keys: keys.iter().map(|k| KeyView::new(k, zone)).collect(),
    })
}
