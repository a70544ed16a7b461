//! Which keys a list shows, in what order: the query the API and the dashboard both build.

use super::key::KeyStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    Name,
    LastUsedAt,
    DailyCost,
}

impl SortField {
    pub fn parse(value: &str) -> Option<SortField> {
        match value {
            "createdAt" => Some(SortField::CreatedAt),
            "name" => Some(SortField::Name),
            "lastUsedAt" => Some(SortField::LastUsedAt),
            "dailyCost" => Some(SortField::DailyCost),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortField::CreatedAt => "createdAt",
            SortField::Name => "name",
            SortField::LastUsedAt => "lastUsedAt",
            SortField::DailyCost => "dailyCost",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub sort: SortField,
    pub descending: bool,
    pub offset: u64,
    pub count: u64,
    pub tag: Option<String>,
    pub status: Option<KeyStatus>,
    /// Matched as a substring of the lowercased name.
    pub search: Option<String>,
}
