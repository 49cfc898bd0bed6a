//! The agreement's tariff (资费标准, clause 1 and the annex): a price per billable segment by
//! destination, chosen in this order: the longest matching number prefix, then the
//! destination's carrier, then the default. A destination no rule prices cannot be sent to.

use crate::money::Money;
use crate::msisdn::Msisdn;
use crate::numbering::Carrier;

/// The highest price of one segment: ¥1000. It keeps a request's total (1000 recipients ×
/// 255 segments) far inside `i64` micro-units.
pub const MAX_SEGMENT_PRICE: Money = Money::from_micros(1000 * crate::money::MICROS_PER_UNIT);

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    /// Price for destinations no rule matches; `None`: such destinations are refused.
    #[serde(default)]
    pub default: Option<Money>,
    #[serde(default)]
    pub rules: Vec<TariffRule>,
}

/// One line of the tariff: exactly one of `carrier` or `prefix`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TariffRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<Carrier>,
    /// E.164 digits, with or without `+`, e.g. `+86138` or `44`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    pub price: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TariffError {
    #[error("rules[{0}]: give exactly one of carrier or prefix")]
    RuleTarget(usize),
    #[error("rules[{0}]: prefix must be 1-15 digits, optionally after +")]
    Prefix(usize),
    #[error("prices must be from 0 to 1000.0000 per segment")]
    PriceRange,
    #[error("at most 1000 rules")]
    TooManyRules,
}

impl Tariff {
    /// One price for every destination of these carriers.
    pub fn per_carrier(carriers: &[&str], price: Money) -> Tariff {
        let rules = carriers
            .iter()
            .filter_map(|c| Carrier::parse(c).ok())
            .map(|carrier| TariffRule { carrier: Some(carrier), prefix: None, price })
            .collect();
        Tariff { default: None, rules }
    }

    /// Checks the tariff and normalises prefixes to bare digits.
    pub fn validated(mut self) -> Result<Tariff, TariffError> {
        if self.rules.len() > 1000 {
            return Err(TariffError::TooManyRules);
        }
        let in_range = |price: Money| !price.is_negative() && price <= MAX_SEGMENT_PRICE;
        if !self.default.is_none_or(in_range) {
            return Err(TariffError::PriceRange);
        }
        for (i, rule) in self.rules.iter_mut().enumerate() {
            if !in_range(rule.price) {
                return Err(TariffError::PriceRange);
            }
            match (&rule.carrier, &mut rule.prefix) {
                (Some(_), None) => {}
                (None, Some(prefix)) => {
                    let digits = prefix.strip_prefix('+').unwrap_or(prefix);
                    if !(1..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(TariffError::Prefix(i));
                    }
                    *prefix = digits.to_owned();
                }
                _ => return Err(TariffError::RuleTarget(i)),
            }
        }
        Ok(self)
    }

    /// The price of one billable segment to `number`, or `None` when nothing prices it.
    pub fn price_for(&self, number: &Msisdn, carrier: Option<&Carrier>) -> Option<Money> {
        let digits = number.digits();
        let by_prefix = self
            .rules
            .iter()
            .filter_map(|r| r.prefix.as_deref().filter(|p| digits.starts_with(p)).map(|p| (p.len(), r.price)))
            .max_by_key(|(len, _)| *len)
            .map(|(_, price)| price);
        by_prefix
            .or_else(|| {
                let carrier = carrier?;
                self.rules.iter().find(|r| r.carrier.as_ref() == Some(carrier)).map(|r| r.price)
            })
            .or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbering::NumberingPlan;

    fn price(tariff: &Tariff, number: &str) -> Option<String> {
        let plan = NumberingPlan::builtin();
        let number = Msisdn::parse(number).ok()?;
        tariff.price_for(&number, plan.classify(&number)).map(|m| m.to_string())
    }

    fn money(s: &str) -> Money {
        Money::parse(s).unwrap_or_default()
    }

    #[test]
    fn prefix_beats_carrier_beats_default() {
        let tariff = Tariff {
            default: Some(money("0.1000")),
            rules: vec![
                TariffRule { carrier: Carrier::parse("mobile").ok(), prefix: None, price: money("0.0450") },
                TariffRule { carrier: None, prefix: Some("+86138".into()), price: money("0.0400") },
                TariffRule { carrier: None, prefix: Some("861380".into()), price: money("0.0300") },
            ],
        }
        .validated()
        .expect("valid");
        assert_eq!(price(&tariff, "13800138000").as_deref(), Some("0.0300"));
        assert_eq!(price(&tariff, "13810138000").as_deref(), Some("0.0400"));
        assert_eq!(price(&tariff, "13900138000").as_deref(), Some("0.0450"));
        assert_eq!(price(&tariff, "18600138000").as_deref(), Some("0.1000"));
        assert_eq!(price(&tariff, "+447911123456").as_deref(), Some("0.1000"));
    }

    #[test]
    fn without_a_default_unpriced_destinations_have_no_price() {
        let tariff = Tariff::per_carrier(&["mobile", "unicom", "telecom", "broadnet"], money("0.0450"));
        assert_eq!(price(&tariff, "19200000000").as_deref(), Some("0.0450"));
        assert_eq!(price(&tariff, "+447911123456"), None);
    }

    #[test]
    fn malformed_rules_are_refused() {
        let both = TariffRule { carrier: Carrier::parse("mobile").ok(), prefix: Some("86".into()), price: Money::ZERO };
        assert_eq!(Tariff { default: None, rules: vec![both] }.validated(), Err(TariffError::RuleTarget(0)));
        let bad = TariffRule { carrier: None, prefix: Some("86a".into()), price: Money::ZERO };
        assert_eq!(Tariff { default: None, rules: vec![bad] }.validated(), Err(TariffError::Prefix(0)));
        let negative = Tariff { default: Some(money("-1")), rules: vec![] };
        assert_eq!(negative.validated(), Err(TariffError::PriceRange));
        let huge = Tariff { default: Some(money("1000.0001")), rules: vec![] };
        assert_eq!(huge.validated(), Err(TariffError::PriceRange));
    }
}
