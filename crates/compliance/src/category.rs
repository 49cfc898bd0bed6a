//! What a finding is about, what it asks for, and the overall verdict.

use serde::{Deserialize, Serialize};

/// The kinds of content that clause 2.3 of the service agreement keeps off the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Illegal,
    Harassment,
    Defamation,
    Abuse,
    Threat,
    Vulgar,
    Obscene,
    Advertising,
    CrimeIncitement,
    NationalSecurity,
    Fraud,
    OtherUnlawful,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 12] = [
        Category::Illegal,
        Category::Harassment,
        Category::Defamation,
        Category::Abuse,
        Category::Threat,
        Category::Vulgar,
        Category::Obscene,
        Category::Advertising,
        Category::CrimeIncitement,
        Category::NationalSecurity,
        Category::Fraud,
        Category::OtherUnlawful,
    ];

    /// The snake_case name, as serialized and as used for lexicon file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Illegal => "illegal",
            Category::Harassment => "harassment",
            Category::Defamation => "defamation",
            Category::Abuse => "abuse",
            Category::Threat => "threat",
            Category::Vulgar => "vulgar",
            Category::Obscene => "obscene",
            Category::Advertising => "advertising",
            Category::CrimeIncitement => "crime_incitement",
            Category::NationalSecurity => "national_security",
            Category::Fraud => "fraud",
            Category::OtherUnlawful => "other_unlawful",
        }
    }

    /// The category named `s` (exactly as [`Category::as_str`] spells it).
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a lexicon term (or an advertising score) asks for when it is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Hold the message for a person to look at.
    Review,
    /// Refuse the message.
    Reject,
}

/// The outcome of screening one text; ordered `Pass < Review < Reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Review,
    Reject,
}

impl From<Action> for Verdict {
    fn from(a: Action) -> Verdict {
        match a {
            Action::Review => Verdict::Review,
            Action::Reject => Verdict::Reject,
        }
    }
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Review => "review",
            Verdict::Reject => "reject",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
            let json = serde_json::to_string(&c).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        assert_eq!(Category::parse("Fraud"), None);
        assert_eq!(serde_json::to_string(&Action::Review).unwrap_or_default(), "\"review\"");
        assert_eq!(serde_json::to_string(&Verdict::Reject).unwrap_or_default(), "\"reject\"");
    }

    #[test]
    fn verdicts_are_ordered() {
        assert!(Verdict::Pass < Verdict::Review && Verdict::Review < Verdict::Reject);
        assert!(Action::Review < Action::Reject);
    }
}
