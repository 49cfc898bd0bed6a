//! The delivery receipt text an MC puts in a receipt's short_message (SMPP 3.4 Appendix B,
//! "not part of the specification" and so written many ways):
//! `id:IIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:…`.
//!
//! Parsed tolerantly: keys in any case and order, unknown keys skipped, dates of 10 or 12
//! digits, ids decimal or hex (see [`DeliveryReceipt::id_forms`]); `text:` takes the rest.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryReceipt {
    pub id: String,
    pub sub: Option<u32>,
    pub dlvrd: Option<u32>,
    /// `YYMMDDhhmm` or `YYMMDDhhmmss`, as sent.
    pub submit_date: Option<String>,
    pub done_date: Option<String>,
    /// `DELIVRD`, `EXPIRED`, `DELETED`, `UNDELIV`, `ACCEPTD`, `UNKNOWN`, `REJECTD`, `ENROUTE`; upper-cased.
    pub stat: String,
    pub err: Option<String>,
    pub text: Option<String>,
}

/// Where a receipt leaves the message (SMPP 3.4 §5.2.28 message_state, by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    Delivered,
    Undeliverable,
    Expired,
    Rejected,
    Deleted,
    Accepted,
    EnRoute,
    Unknown,
}

impl ReceiptOutcome {
    /// From the `stat:` word (first 5 letters suffice: carriers abbreviate differently).
    pub fn from_stat(stat: &str) -> ReceiptOutcome {
        let upper = stat.to_ascii_uppercase();
        match upper.get(..5).unwrap_or(&upper) {
            "DELIV" => ReceiptOutcome::Delivered,
            "UNDEL" => ReceiptOutcome::Undeliverable,
            "EXPIR" => ReceiptOutcome::Expired,
            "REJEC" => ReceiptOutcome::Rejected,
            "DELET" => ReceiptOutcome::Deleted,
            "ACCEP" => ReceiptOutcome::Accepted,
            "ENROU" => ReceiptOutcome::EnRoute,
            _ => ReceiptOutcome::Unknown,
        }
    }

    /// From the message_state TLV (SMPP 3.4 §5.3.2.35).
    pub fn from_message_state(state: u8) -> ReceiptOutcome {
        match state {
            1 => ReceiptOutcome::EnRoute,
            2 => ReceiptOutcome::Delivered,
            3 => ReceiptOutcome::Expired,
            4 => ReceiptOutcome::Deleted,
            5 => ReceiptOutcome::Undeliverable,
            6 => ReceiptOutcome::Accepted,
            8 => ReceiptOutcome::Rejected,
            _ => ReceiptOutcome::Unknown,
        }
    }
}

const KEYS: [&str; 8] = ["submit date", "done date", "id", "sub", "dlvrd", "stat", "err", "text"];

impl DeliveryReceipt {
    /// Parses receipt text; `None` when there is no `id` or no `stat`, i.e. it is not a receipt.
    pub fn parse(text: &str) -> Option<DeliveryReceipt> {
        let lower = text.to_ascii_lowercase();
        // Positions of every known `key:` at the start of the text or after a space.
        let mut found: Vec<(usize, &str)> = Vec::new();
        for key in KEYS {
            let pattern = format!("{key}:");
            let mut from = 0;
            while let Some(at) = lower[from..].find(&pattern) {
                let at = from + at;
                let boundary = at == 0 || lower.as_bytes()[at - 1] == b' ';
                // "date:" inside "submit date:" must not count as another key
                if boundary && !found.iter().any(|(p, _)| *p == at) {
                    found.push((at, key));
                }
                from = at + pattern.len();
            }
        }
        found.sort();
        let mut receipt = DeliveryReceipt::default();
        let mut has_id = false;
        let mut has_stat = false;
        for (i, (at, key)) in found.iter().enumerate() {
            let start = at + key.len() + 1;
            let end = if *key == "text" { text.len() } else { found.get(i + 1).map_or(text.len(), |(next, _)| *next) };
            // A value is one word: what follows it up to the next key is an unknown key.
            let value = text.get(start..end).unwrap_or("").split_whitespace().next().unwrap_or("");
            match *key {
                "id" => {
                    receipt.id = value.to_owned();
                    has_id = !value.is_empty();
                }
                "sub" => receipt.sub = value.parse().ok(),
                "dlvrd" => receipt.dlvrd = value.parse().ok(),
                "submit date" => receipt.submit_date = date(value),
                "done date" => receipt.done_date = date(value),
                "stat" => {
                    receipt.stat = value.to_ascii_uppercase();
                    has_stat = !value.is_empty();
                }
                "err" => receipt.err = Some(value.to_owned()).filter(|v| !v.is_empty()),
                _ => receipt.text = Some(text.get(start..).unwrap_or("").to_owned()),
            }
            if *key == "text" {
                break;
            }
        }
        (has_id && has_stat).then_some(receipt)
    }

    pub fn outcome(&self) -> ReceiptOutcome {
        ReceiptOutcome::from_stat(&self.stat)
    }

    /// The forms the id may have had when the MC answered our submit_sm: carriers write the
    /// id in the receipt in decimal when they answered in hex, and the other way round.
    pub fn id_forms(&self) -> Vec<String> {
        id_forms(&self.id)
    }
}

/// `id`, lower-cased, plus its hex form if it is decimal and its decimal form if it is hex.
pub fn id_forms(id: &str) -> Vec<String> {
    let id = id.trim().to_ascii_lowercase();
    let mut forms = vec![id.clone()];
    if !id.is_empty()
        && id.len() <= 20
        && id.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = id.parse::<u64>()
    {
        forms.push(format!("{n:x}"));
    }
    if !id.is_empty()
        && id.len() <= 16
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && let Ok(n) = u64::from_str_radix(&id, 16)
    {
        forms.push(n.to_string());
    }
    forms.dedup();
    forms
}

fn date(value: &str) -> Option<String> {
    (matches!(value.len(), 10 | 12) && value.bytes().all(|b| b.is_ascii_digit())).then(|| value.to_owned())
}

impl fmt::Display for DeliveryReceipt {
    /// The common form: three-digit counters, 10-digit dates, the first 20 characters of text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "id:{} sub:{:03} dlvrd:{:03} submit date:{} done date:{} stat:{} err:{} text:{}",
            self.id,
            self.sub.unwrap_or(1),
            self.dlvrd.unwrap_or(0),
            self.submit_date.as_deref().unwrap_or("0000000000"),
            self.done_date.as_deref().unwrap_or("0000000000"),
            self.stat,
            self.err.as_deref().unwrap_or("000"),
            self.text.as_deref().map(|t| t.chars().take(20).collect::<String>()).unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_form_parses() {
        let r = DeliveryReceipt::parse(
            "id:1234567890 sub:001 dlvrd:001 submit date:2611261230 done date:2611261231 stat:DELIVRD err:000 text:Your code is 1",
        )
        .expect("a receipt");
        assert_eq!(r.id, "1234567890");
        assert_eq!((r.sub, r.dlvrd), (Some(1), Some(1)));
        assert_eq!(r.submit_date.as_deref(), Some("2611261230"));
        assert_eq!(r.done_date.as_deref(), Some("2611261231"));
        assert_eq!(r.stat, "DELIVRD");
        assert_eq!(r.err.as_deref(), Some("000"));
        assert_eq!(r.text.as_deref(), Some("Your code is 1"));
        assert_eq!(r.outcome(), ReceiptOutcome::Delivered);
    }

    #[test]
    fn odd_forms_parse_too() {
        let r = DeliveryReceipt::parse(
            "ID:ABCDEF12 Stat:undeliv ERR:034 Submit Date:261126123059 extra:1 done date:261126123100",
        )
        .expect("a receipt");
        assert_eq!((r.id.as_str(), r.stat.as_str(), r.err.as_deref()), ("ABCDEF12", "UNDELIV", Some("034")));
        assert_eq!(r.submit_date.as_deref(), Some("261126123059"), "12-digit dates");
        assert_eq!(r.outcome(), ReceiptOutcome::Undeliverable);
        assert_eq!(r.text, None);
        let r = DeliveryReceipt::parse("id:7 stat:EXPIRED text:id:9 stat:DELIVRD").expect("a receipt");
        assert_eq!((r.id.as_str(), r.stat.as_str()), ("7", "EXPIRED"), "text takes the rest, keys in it are text");
        assert_eq!(r.text.as_deref(), Some("id:9 stat:DELIVRD"));
        assert_eq!(DeliveryReceipt::parse("hello, this is a reply"), None, "not a receipt");
        assert_eq!(DeliveryReceipt::parse("id: stat:DELIVRD"), None);
    }

    #[test]
    fn ids_match_in_decimal_and_hex() {
        assert_eq!(id_forms("255"), vec!["255", "ff", "597"]);
        assert_eq!(id_forms("FF"), vec!["ff", "255"]);
        assert_eq!(id_forms("msg-1"), vec!["msg-1"]);
    }

    #[test]
    fn formatting_then_parsing_gives_the_receipt_back() {
        let r = DeliveryReceipt {
            id: "0a1b".into(),
            sub: Some(1),
            dlvrd: Some(1),
            submit_date: Some("2611261230".into()),
            done_date: Some("2611261231".into()),
            stat: "DELIVRD".into(),
            err: Some("000".into()),
            text: Some("hello".into()),
        };
        assert_eq!(DeliveryReceipt::parse(&r.to_string()), Some(r));
    }

    #[test]
    fn message_states_map_to_outcomes() {
        assert_eq!(ReceiptOutcome::from_message_state(2), ReceiptOutcome::Delivered);
        assert_eq!(ReceiptOutcome::from_message_state(5), ReceiptOutcome::Undeliverable);
        assert_eq!(ReceiptOutcome::from_message_state(99), ReceiptOutcome::Unknown);
    }
}
