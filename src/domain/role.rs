//! What a dashboard administrator may do: `viewer` reads, `operator` also changes keys, `admin`
//! also manages the administrators. Each role may do everything of the ones before it.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AdminRole {
    Viewer,
    Operator,
    Admin,
}

impl AdminRole {
    pub const ALL: [AdminRole; 3] = [AdminRole::Viewer, AdminRole::Operator, AdminRole::Admin];

    /// The role as stored and as the CLI and forms spell it; `None` for anything else.
    pub fn parse(text: &str) -> Option<AdminRole> {
        match text {
            "viewer" => Some(AdminRole::Viewer),
            "operator" => Some(AdminRole::Operator),
            "admin" => Some(AdminRole::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Viewer => "viewer",
            AdminRole::Operator => "operator",
            AdminRole::Admin => "admin",
        }
    }

    /// Whether an admin with this role may use what `required` guards.
    pub fn allows(self, required: AdminRole) -> bool {
        self >= required
    }
}

impl fmt::Display for AdminRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_includes_the_ones_before_it() {
        assert!(AdminRole::Admin.allows(AdminRole::Operator));
        assert!(AdminRole::Operator.allows(AdminRole::Viewer));
        assert!(!AdminRole::Operator.allows(AdminRole::Admin));
        assert!(!AdminRole::Viewer.allows(AdminRole::Operator));
        for role in AdminRole::ALL {
            assert_eq!(AdminRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(AdminRole::parse("Admin"), None);
    }
}
