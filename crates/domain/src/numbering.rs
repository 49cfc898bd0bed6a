//! Which Chinese carrier a mobile number belongs to, by prefix of its national number.
//!
//! The table is data (`data/cn-mobile-prefixes.txt`, embedded), not code, and the operator
//! can override or extend it in the config file. The longest matching prefix wins, so
//! `1349` (satellite, telecom) overrides `134` (mobile).

use std::collections::BTreeMap;
use std::fmt;

use crate::msisdn::Msisdn;

const DEFAULT_TABLE: &str = include_str!("../data/cn-mobile-prefixes.txt");

/// A carrier's short name, e.g. `mobile`, `unicom`, `telecom`, `broadnet`: lowercase ASCII
/// letters, digits, `_` and `-`, 1 to 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Carrier(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberingError {
    #[error("carrier name {0:?} must be 1-32 characters of a-z, 0-9, _ or -")]
    BadCarrier(String),
    #[error("prefix {0:?} must be 1-11 digits starting with 1")]
    BadPrefix(String),
    #[error("line {0}: expected `<prefix> <carrier>`")]
    BadLine(usize),
}

impl Carrier {
    pub fn parse(s: &str) -> Result<Carrier, NumberingError> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok { Ok(Carrier(s.to_owned())) } else { Err(NumberingError::BadCarrier(s.to_owned())) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Carrier {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Carrier::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Prefix → carrier for Chinese mobile numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberingPlan {
    /// Keyed by prefix; lookups try the longest prefix first.
    prefixes: BTreeMap<String, Carrier>,
    longest: usize,
}

impl NumberingPlan {
    /// The built-in table.
    pub fn builtin() -> NumberingPlan {
        // The embedded table is checked by a unit test; a broken build would fail there.
        Self::parse_table(DEFAULT_TABLE).unwrap_or_else(|_| NumberingPlan { prefixes: BTreeMap::new(), longest: 0 })
    }

    /// Parses lines of `<prefix> <carrier>`; `#` starts a comment.
    pub fn parse_table(text: &str) -> Result<NumberingPlan, NumberingError> {
        let mut plan = NumberingPlan { prefixes: BTreeMap::new(), longest: 0 };
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(prefix), Some(carrier), None) = (words.next(), words.next(), words.next()) else {
                return Err(NumberingError::BadLine(number + 1));
            };
            plan.insert(prefix, carrier)?;
        }
        Ok(plan)
    }

    /// Adds or replaces one prefix (config overrides go through here).
    pub fn insert(&mut self, prefix: &str, carrier: &str) -> Result<(), NumberingError> {
        let valid =
            (1..=11).contains(&prefix.len()) && prefix.starts_with('1') && prefix.bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return Err(NumberingError::BadPrefix(prefix.to_owned()));
        }
        let carrier = Carrier::parse(carrier)?;
        self.longest = self.longest.max(prefix.len());
        self.prefixes.insert(prefix.to_owned(), carrier);
        Ok(())
    }

    /// The carrier of a Chinese mobile number; `None` for other countries or unknown blocks.
    pub fn classify(&self, number: &Msisdn) -> Option<&Carrier> {
        let national = number.cn_national()?;
        (1..=self.longest.min(national.len())).rev().find_map(|len| self.prefixes.get(&national[..len]))
    }

    pub fn len(&self) -> usize {
        self.prefixes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn carrier_of(plan: &NumberingPlan, number: &str) -> Option<String> {
        let number = Msisdn::parse(number).ok()?;
        plan.classify(&number).map(|c| c.to_string())
    }

    #[test]
    fn the_builtin_table_parses_and_covers_the_four_carriers() {
        let plan = NumberingPlan::parse_table(DEFAULT_TABLE).expect("embedded table is valid");
        assert_eq!(plan, NumberingPlan::builtin());
        assert_eq!(carrier_of(&plan, "13800138000").as_deref(), Some("mobile"));
        assert_eq!(carrier_of(&plan, "18600000000").as_deref(), Some("unicom"));
        assert_eq!(carrier_of(&plan, "18900000000").as_deref(), Some("telecom"));
        assert_eq!(carrier_of(&plan, "19200000000").as_deref(), Some("broadnet"));
    }

    #[test]
    fn the_longest_prefix_wins() {
        let plan = NumberingPlan::builtin();
        assert_eq!(carrier_of(&plan, "13400000000").as_deref(), Some("mobile"));
        assert_eq!(carrier_of(&plan, "13490000000").as_deref(), Some("telecom"));
        assert_eq!(carrier_of(&plan, "17030000000").as_deref(), Some("mobile"));
        assert_eq!(carrier_of(&plan, "17000000000").as_deref(), Some("telecom"));
    }

    #[test]
    fn unknown_blocks_and_other_countries_have_no_carrier() {
        let plan = NumberingPlan::builtin();
        assert_eq!(carrier_of(&plan, "14000000000"), None);
        assert_eq!(carrier_of(&plan, "+447911123456"), None);
    }

    #[test]
    fn config_overrides_replace_and_extend_the_table() {
        let mut plan = NumberingPlan::builtin();
        plan.insert("1380013", "mvno-x").expect("valid");
        plan.insert("140", "iot").expect("valid");
        assert_eq!(carrier_of(&plan, "13800138000").as_deref(), Some("mvno-x"));
        assert_eq!(carrier_of(&plan, "13800238000").as_deref(), Some("mobile"));
        assert_eq!(carrier_of(&plan, "14000000000").as_deref(), Some("iot"));
        assert!(plan.insert("2", "x").is_err());
        assert!(plan.insert("138", "Not Valid").is_err());
        assert_eq!(NumberingPlan::parse_table("138 mobile extra"), Err(NumberingError::BadLine(1)));
    }
}
