//! Phone numbers, parsed once to E.164 with CN as the default region.
//!
//! Accepted forms: `13800138000`, `+86 138-0013-8000`, `008613800138000`, `8613800138000`,
//! and international numbers written with `+` or `00`. A Chinese number must be a mobile
//! number (11 digits, `1[3-9]…`): landlines cannot receive SMS. Other countries are kept as
//! well-formed E.164 (7 to 15 digits after a non-zero country code); whether they can be
//! reached is the tariff's question, not the parser's.

use std::fmt;

/// The longest input we look at: anything longer is not a phone number.
pub const MAX_INPUT_LEN: usize = 32;

/// A phone number in E.164 form, `+` and digits, e.g. `+8613800138000`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Msisdn(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid mobile number: {0}")]
pub struct InvalidNumber(pub &'static str);

impl Msisdn {
    pub fn parse(input: &str) -> Result<Msisdn, InvalidNumber> {
        if input.len() > MAX_INPUT_LEN {
            return Err(InvalidNumber("too long"));
        }
        let trimmed = input.trim();
        let (international, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(16);
        let mut last_separator: Option<char> = None;
        for c in rest.chars() {
            match c {
                '0'..='9' => {
                    digits.push(c);
                    last_separator = None;
                }
                // Separators people write between digit groups; two in a row only around a
                // parenthesis, as in `+86 (138) 0013 8000`.
                ' ' | '-' | '.' | '(' | ')' => {
                    let paren = |c: char| c == '(' || c == ')';
                    if last_separator.is_some_and(|p| !paren(p) && !paren(c)) {
                        return Err(InvalidNumber("unexpected separators"));
                    }
                    last_separator = Some(c);
                }
                _ => return Err(InvalidNumber("unexpected character")),
            }
        }
        if digits.is_empty() {
            return Err(InvalidNumber("no digits"));
        }
        let e164 = if international {
            digits
        } else if let Some(after) = digits.strip_prefix("00") {
            after.to_owned()
        } else if digits.len() == 11 && digits.starts_with('1') {
            format!("86{digits}")
        } else if digits.len() == 13 && digits.starts_with("861") {
            digits
        } else {
            return Err(InvalidNumber("not a Chinese mobile number; write other countries with +"));
        };
        check_e164(&e164)?;
        Ok(Msisdn(format!("+{e164}")))
    }

    /// `+8613800138000`
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The digits without `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
    /// The 11-digit national number when this is a Chinese number.
    pub fn cn_national(&self) -> Option<&str> {
        self.digits().strip_prefix("86")
    }
    /// `+86138****8000`: for logs, which must never carry whole numbers.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks four digits before the last four, as Chinese practice writes `138****8000`;
/// works on any string, valid or not, and masks short strings whole.
pub fn mask(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head = chars.len() - 8;
    chars.iter().enumerate().map(|(i, c)| if i >= head && i < head + 4 { '*' } else { *c }).collect()
}

fn check_e164(digits: &str) -> Result<(), InvalidNumber> {
    if digits.starts_with('0') {
        return Err(InvalidNumber("country code cannot start with 0"));
    }
    if let Some(national) = digits.strip_prefix("86") {
        let bytes = national.as_bytes();
        let mobile = bytes.len() == 11 && bytes[0] == b'1' && (b'3'..=b'9').contains(&bytes[1]);
        return if mobile { Ok(()) } else { Err(InvalidNumber("not a Chinese mobile number")) };
    }
    if !(8..=15).contains(&digits.len()) {
        return Err(InvalidNumber("wrong length for E.164"));
    }
    Ok(())
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn chinese_forms_become_one_e164_number() {
        for input in [
            "13800138000",
            "+86 138-0013-8000",
            "008613800138000",
            "8613800138000",
            "+8613800138000",
            " 138 0013 8000 ",
            "+86 (138) 0013 8000",
        ] {
            assert_eq!(
                Msisdn::parse(input).map(|m| m.as_str().to_owned()),
                Ok("+8613800138000".to_owned()),
                "{input:?}"
            );
        }
    }

    #[test]
    fn anything_else_is_invalid() {
        for input in [
            "",
            "+",
            "abc",
            "1380013800",       // 10 digits
            "138001380000",     // 12 digits
            "12800138000",      // 12x is not mobile
            "+86 10 6552 9988", // Beijing landline
            "010-65529988",
            "+0123456789",
            "+1234",
            "+1234567890123456",
            "138--0013-8000",
            "１３８００１３８０００", // full-width digits are not accepted silently
            "13800138000; DROP",
            "+86 138 0013 8000 0000 0000 0000 0000",
        ] {
            assert!(Msisdn::parse(input).is_err(), "{input:?} should be invalid");
        }
    }

    #[test]
    fn other_countries_keep_their_e164_form() {
        assert_eq!(Msisdn::parse("+44 7911 123456").map(|m| m.to_string()), Ok("+447911123456".into()));
        assert_eq!(Msisdn::parse("0044 7911 123456").map(|m| m.to_string()), Ok("+447911123456".into()));
        assert_eq!(Msisdn::parse("+447911123456").map(|m| m.cn_national().is_none()), Ok(true));
    }

    #[test]
    fn masking_hides_the_middle() {
        assert_eq!(mask("+8613800138000"), "+86138****8000");
        assert_eq!(mask("+447911123456"), "+4479****3456");
        assert_eq!(mask("12345"), "*****");
    }

    proptest! {
        #[test]
        fn every_chinese_mobile_number_parses_in_every_form(second in 3u8..=9, rest in 0u64..1_000_000_000) {
            let national = format!("1{second}{rest:09}");
            let expected = format!("+86{national}");
            for form in [national.clone(), format!("+86{national}"), format!("0086{national}"), format!("86{national}"),
                         format!("+86 {}-{}-{}", &national[..3], &national[3..7], &national[7..])] {
                prop_assert_eq!(Msisdn::parse(&form).map(|m| m.to_string()), Ok(expected.clone()));
            }
        }

        #[test]
        fn parsing_never_panics(input in ".{0,40}") {
            let _ = Msisdn::parse(&input);
        }
    }
}
