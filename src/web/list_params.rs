//! The key list's query string (paging, search, filters, sort), parsed once for the admin API
//! and the dashboard, each with its own page sizes.

use super::error::{ApiError, ApiResult};
use super::extract::QueryPairs;
use crate::domain::key::KeyStatus;
use crate::domain::listing::{ListQuery, SortField};

/// How many keys one page may hold.
#[derive(Debug, Clone, Copy)]
pub enum PageSizes {
    /// Any number from 1 to `max` (the API).
    UpTo { default: u64, max: u64 },
    /// One of the sizes a page offers (the dashboard's menu).
    OneOf { default: u64, sizes: &'static [u64] },
}

const LAST_PAGE: u64 = 1_000_000;
const MAX_SEARCH_CHARS: usize = 100;
const MAX_TAG_CHARS: usize = 50;

/// A parsed list query with the page it asks for.
#[derive(Debug, Clone)]
pub struct ListParams {
    pub query: ListQuery,
    /// From 1.
    pub page: u64,
    pub per_page: u64,
}

impl ListParams {
    pub fn parse(pairs: &QueryPairs, sizes: PageSizes) -> ApiResult<ListParams> {
        pairs.only(&[
            "page", "perPage", "q", "secret", "tag", "status", "sort", "order",
        ])?;
        let page = pairs.number("page", 1, 1, LAST_PAGE)?;
        let per_page = match sizes {
            PageSizes::UpTo { default, max } => pairs.number("perPage", default, 1, max)?,
            PageSizes::OneOf { default, sizes } => match pairs.get("perPage") {
                None | Some("") => default,
                Some(text) => text
                    .parse::<u64>()
                    .ok()
                    .filter(|n| sizes.contains(n))
                    .ok_or_else(|| ApiError::invalid("perPage", choose_one_of(sizes)))?,
            },
        };
        let search = pairs.get("q").map(str::trim).filter(|q| !q.is_empty());
        if search.is_some_and(|q| {
            q.chars().count() > MAX_SEARCH_CHARS || q.chars().any(char::is_control)
        }) {
            return Err(ApiError::invalid(
                "q",
                format!("must be at most {MAX_SEARCH_CHARS} printable characters"),
            ));
        }
        let tag = pairs.get("tag").map(str::trim).filter(|t| !t.is_empty());
        if tag.is_some_and(|t| t.chars().count() > MAX_TAG_CHARS) {
            return Err(ApiError::invalid(
                "tag",
                format!("must be at most {MAX_TAG_CHARS} characters"),
            ));
        }
        let status = match pairs.get("status").filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(KeyStatus::parse(s).ok_or_else(|| {
                ApiError::invalid("status", "must be active, disabled, expired or deleted")
            })?),
        };
        let sort = match pairs.get("sort").filter(|s| !s.is_empty()) {
            None => SortField::CreatedAt,
            Some(s) => SortField::parse(s).ok_or_else(|| {
                ApiError::invalid("sort", "must be createdAt, name, lastUsedAt or dailyCost")
            })?,
        };
        let descending = match pairs.get("order").filter(|s| !s.is_empty()) {
            None => sort != SortField::Name,
            Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(ApiError::invalid("order", "must be asc or desc")),
        };
        Ok(ListParams {
            query: ListQuery {
                sort,
                descending,
                offset: (page - 1) * per_page,
                count: per_page,
                tag: tag.map(str::to_string),
                status,
                search: search.map(str::to_lowercase),
            },
            page,
            per_page,
        })
    }

    /// Whether a search or filter narrows the list.
    pub fn is_filtered(&self) -> bool {
        self.query.search.is_some() || self.query.tag.is_some() || self.query.status.is_some()
    }
}

/// "choose 20, 50 or 100".
fn choose_one_of(sizes: &[u64]) -> String {
    let mut text = String::from("choose");
    for (i, size) in sizes.iter().enumerate() {
        let separator = match i {
            0 => " ",
            i if i + 1 == sizes.len() => " or ",
            _ => ", ",
        };
        text.push_str(separator);
        text.push_str(&size.to_string());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sizes_a_page_offers_read_as_a_sentence() {
        assert_eq!(choose_one_of(&[20, 50, 100]), "choose 20, 50 or 100");
        assert_eq!(choose_one_of(&[20]), "choose 20");
    }
}
