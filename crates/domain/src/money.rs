//! Money as an exact integer count of micro-units (10⁻⁶ yuan) in an `i64`.
//!
//! Amounts enter and leave the platform as decimal strings with at most 4 decimals
//! (`"0.0450"`), so every amount the platform holds is a whole number of 10⁻⁴ yuan and
//! renders exactly; the two spare digits leave room for finer tariffs later without a
//! schema change.

use std::fmt;

/// Micro-units per yuan.
pub const MICROS_PER_UNIT: i64 = 1_000_000;
/// Micro-units per displayed decimal step (10⁻⁴).
const MICROS_PER_STEP: i64 = 100;
/// The largest amount accepted from outside: ¥1,000,000,000.0000.
pub const MAX_AMOUNT: Money = Money(1_000_000_000 * MICROS_PER_UNIT);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("not a decimal amount such as \"12.3400\"")]
    Syntax,
    #[error("at most 4 decimals")]
    TooPrecise,
    #[error("amount out of range")]
    OutOfRange,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_micros(micros: i64) -> Self {
        Money(micros)
    }
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Parses `"1000"`, `"0.045"`, `"-5.5000"`: an optional sign, digits, at most 4
    /// decimals, magnitude at most [`MAX_AMOUNT`].
    pub fn parse(s: &str) -> Result<Money, MoneyError> {
        let (negative, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (whole, fraction) = match body.split_once('.') {
            Some((w, f)) => (w, f),
            None => (body, ""),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::Syntax);
        }
        if !fraction.bytes().all(|b| b.is_ascii_digit()) || (body.contains('.') && fraction.is_empty()) {
            return Err(MoneyError::Syntax);
        }
        if fraction.len() > 4 {
            return Err(MoneyError::TooPrecise);
        }
        if whole.len() > 10 {
            return Err(MoneyError::OutOfRange);
        }
        let whole: i64 = whole.parse().map_err(|_| MoneyError::Syntax)?;
        let mut steps: i64 = 0;
        for (i, b) in fraction.bytes().enumerate() {
            steps += i64::from(b - b'0') * 10_i64.pow(3 - i as u32);
        }
        let micros = whole * MICROS_PER_UNIT + steps * MICROS_PER_STEP;
        if micros > MAX_AMOUNT.0 {
            return Err(MoneyError::OutOfRange);
        }
        Ok(Money(if negative { -micros } else { micros }))
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }
    pub fn checked_mul(self, n: i64) -> Option<Money> {
        self.0.checked_mul(n).map(Money)
    }
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl std::ops::Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl fmt::Display for Money {
    /// Four decimals, no currency sign: `0.0450`, `-12.0000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        let units = magnitude / MICROS_PER_UNIT as u64;
        let steps = (magnitude % MICROS_PER_UNIT as u64) / MICROS_PER_STEP as u64;
        write!(f, "{sign}{units}.{steps:04}")
    }
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Money::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_price_of_four_and_a_half_fen_is_exact() {
        let price = Money::parse("0.0450").expect("parses");
        assert_eq!(price.micros(), 45_000);
        assert_eq!(price.to_string(), "0.0450");
        assert_eq!(price.checked_mul(7).map(|m| m.to_string()), Some("0.3150".into()));
    }

    #[test]
    fn amounts_parse_with_sign_and_short_fractions() {
        assert_eq!(Money::parse("1000").map(|m| m.to_string()), Ok("1000.0000".into()));
        assert_eq!(Money::parse("-5.5").map(|m| m.to_string()), Ok("-5.5000".into()));
        assert_eq!(Money::parse("0.045").map(|m| m.micros()), Ok(45_000));
        assert_eq!(Money::parse("0.00001"), Err(MoneyError::TooPrecise));
        for bad in ["", "-", "1.", ".5", "1,5", "1e3", "¥1", " 1", "0x10"] {
            assert_eq!(Money::parse(bad), Err(MoneyError::Syntax), "{bad:?}");
        }
        assert_eq!(Money::parse("99999999999"), Err(MoneyError::OutOfRange));
        assert_eq!(Money::parse("1000000000.0001"), Err(MoneyError::OutOfRange));
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(steps in -10_000_000_000_000i64..10_000_000_000_000i64) {
            let money = Money::from_micros(steps * 100);
            prop_assert_eq!(Money::parse(&money.to_string()), Ok(money));
        }
    }
}
