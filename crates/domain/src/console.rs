//! Who may do what in the web console (issue 8): operator users' and customer users'
//! roles, and the one permission table each. Reading is broad (every operator role sees
//! the customers, carriers and tickets it works with); changing is narrow.

use crate::{ErrorCode, Rejection};

/// The operator console's parts, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpsArea {
    /// The dashboard, carrier links and their live state.
    Overview,
    /// Customers, agreements, keys, numbers, SMPP accounts, suspension and resumption.
    Customers,
    /// Top-ups, adjustments, statements and reconciliation.
    Money,
    Tariffs,
    /// Held messages, violations, signatures, templates and lexicons.
    Moderation,
    /// Maintenance windows and breach notices.
    Lifecycle,
    Tickets,
    Audit,
    /// Operator users.
    Users,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperatorRole {
    Admin,
    Support,
    Moderator,
    Finance,
}

impl OperatorRole {
    pub const ALL: [OperatorRole; 4] =
        [OperatorRole::Admin, OperatorRole::Support, OperatorRole::Moderator, OperatorRole::Finance];

    pub fn as_str(self) -> &'static str {
        match self {
            OperatorRole::Admin => "admin",
            OperatorRole::Support => "support",
            OperatorRole::Moderator => "moderator",
            OperatorRole::Finance => "finance",
        }
    }

    pub fn parse(s: &str) -> Result<OperatorRole, Rejection> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            Rejection::invalid("role", format!("unknown operator role {s:?}: admin, support, moderator or finance"))
        })
    }

    /// May this role see `area`?
    pub fn may_read(self, area: OpsArea) -> bool {
        use OperatorRole::*;
        match area {
            OpsArea::Overview | OpsArea::Customers | OpsArea::Lifecycle | OpsArea::Tickets => true,
            OpsArea::Money | OpsArea::Tariffs => matches!(self, Admin | Finance | Support),
            OpsArea::Moderation => matches!(self, Admin | Moderator | Support),
            OpsArea::Audit | OpsArea::Users => self == Admin,
        }
    }

    /// May this role change anything in `area`?
    pub fn may_write(self, area: OpsArea) -> bool {
        use OperatorRole::*;
        match area {
            OpsArea::Overview | OpsArea::Audit => false,
            OpsArea::Customers | OpsArea::Lifecycle | OpsArea::Users => self == Admin,
            OpsArea::Money | OpsArea::Tariffs => matches!(self, Admin | Finance),
            OpsArea::Moderation => matches!(self, Admin | Moderator),
            OpsArea::Tickets => matches!(self, Admin | Support | Finance),
        }
    }
}

/// The customer portal's parts, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortalArea {
    /// Dashboard, message log, statements, notices, the agreement (reading).
    Overview,
    /// Sending, contacts, signatures and templates.
    Messaging,
    /// API keys, SMPP credentials and webhook settings.
    Integration,
    Tickets,
    /// Accepting the agreement, and the customer's console users.
    Account,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CustomerRole {
    Admin,
    Developer,
    Viewer,
}

impl CustomerRole {
    pub const ALL: [CustomerRole; 3] = [CustomerRole::Admin, CustomerRole::Developer, CustomerRole::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            CustomerRole::Admin => "admin",
            CustomerRole::Developer => "developer",
            CustomerRole::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Result<CustomerRole, Rejection> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            Rejection::invalid("role", format!("unknown customer role {s:?}: admin, developer or viewer"))
        })
    }

    /// Every customer role may look at everything of its own customer but its users list.
    pub fn may_read(self, area: PortalArea) -> bool {
        area != PortalArea::Account || self == CustomerRole::Admin
    }

    pub fn may_write(self, area: PortalArea) -> bool {
        match self {
            CustomerRole::Admin => true,
            CustomerRole::Developer => area != PortalArea::Account && area != PortalArea::Overview,
            CustomerRole::Viewer => false,
        }
    }
}

/// The refusal for a role that may not: `forbidden`, naming the role.
pub fn not_allowed(role: &str) -> Rejection {
    Rejection::new(ErrorCode::Forbidden, format!("the {role} role may not do this"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_roles_change_only_their_own_areas() {
        use OperatorRole::*;
        for role in OperatorRole::ALL {
            assert_eq!(OperatorRole::parse(role.as_str()), Ok(role));
            assert!(role.may_read(OpsArea::Overview) && !role.may_write(OpsArea::Audit));
        }
        assert!(OperatorRole::parse("root").is_err());
        let writes = |role: OperatorRole| {
            [
                OpsArea::Customers,
                OpsArea::Money,
                OpsArea::Tariffs,
                OpsArea::Moderation,
                OpsArea::Lifecycle,
                OpsArea::Tickets,
                OpsArea::Users,
            ]
            .into_iter()
            .filter(|a| role.may_write(*a))
            .collect::<Vec<_>>()
        };
        assert_eq!(writes(Admin).len(), 7);
        assert_eq!(writes(Support), vec![OpsArea::Tickets]);
        assert_eq!(writes(Moderator), vec![OpsArea::Moderation]);
        assert_eq!(writes(Finance), vec![OpsArea::Money, OpsArea::Tariffs, OpsArea::Tickets]);
        assert!(!Finance.may_read(OpsArea::Moderation) && !Moderator.may_read(OpsArea::Money));
        assert!(!Support.may_read(OpsArea::Users) && Admin.may_read(OpsArea::Audit));
    }

    #[test]
    fn customer_viewers_only_look_and_only_admins_manage_the_account() {
        use CustomerRole::*;
        for area in [PortalArea::Messaging, PortalArea::Integration, PortalArea::Tickets, PortalArea::Account] {
            assert!(Admin.may_write(area));
            assert!(!Viewer.may_write(area));
        }
        assert!(Developer.may_write(PortalArea::Messaging) && Developer.may_write(PortalArea::Integration));
        assert!(!Developer.may_write(PortalArea::Account) && !Developer.may_read(PortalArea::Account));
        assert!(Viewer.may_read(PortalArea::Overview) && !Viewer.may_read(PortalArea::Account));
        assert_eq!(CustomerRole::parse("owner").map_err(|r| r.field), Err(Some("role".to_owned())));
    }
}
