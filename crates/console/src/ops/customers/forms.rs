//! What the customer, money and user pages share: a form's fields as typed (kept to show
//! them again with a refusal), the refusal of the one form that failed on a page of many,
//! and operator writes done in the console user's name.

use std::future::Future;
use std::str::FromStr;

use serde::Deserialize;
use tongdao_domain::{Money, Rejection};

use crate::i18n::Lang;
use crate::page::Problems;
use crate::web::Operator;

/// A posted form's fields in their order, as typed. Read by name: a field left out reads
/// as empty, and an empty optional field is `None`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The field as typed, `""` when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// The field trimmed, `None` when empty or absent.
    pub fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name).trim()).filter(|v| !v.is_empty())
    }

    pub fn money(&self, name: &str) -> Result<Money, Rejection> {
        Money::parse(self.get(name).trim())
            .map_err(|e| Rejection::invalid(name, format!("{name} must be an amount such as 12.50 ({e})")))
    }

    pub fn opt_money(&self, name: &str) -> Result<Option<Money>, Rejection> {
        self.opt(name).map(|_| self.money(name)).transpose()
    }

    /// A whole number; `default` when the field is empty.
    pub fn number<T: FromStr>(&self, name: &str, default: Option<T>) -> Result<T, Rejection> {
        match (self.opt(name), default) {
            (None, Some(d)) => Ok(d),
            (value, _) => value
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Rejection::invalid(name, format!("{name} must be a whole number"))),
        }
    }
}

/// The outcome of the last form on a page of several forms: which one failed and why, with
/// what was typed, so that only that form shows the refusal and its values.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    pub form: &'static str,
    pub problems: Problems,
    pub typed: Fields,
}

impl Shown {
    pub fn failed(form: &'static str, rejection: &Rejection, lang: Lang, typed: Fields) -> Shown {
        Shown { form, problems: Problems::of(rejection, lang), typed }
    }

    /// The refusal for input `field` of `form`.
    pub fn at(&self, form: &str, field: &str) -> Option<&str> {
        if self.form == form { self.problems.at(field) } else { None }
    }

    /// The refusal for `form`'s banner.
    pub fn banner(&self, form: &str) -> Option<&str> {
        if self.form == form { self.problems.banner() } else { None }
    }

    /// What was typed in `field` of `form`, when that form is shown again; else `default`.
    pub fn val<'a>(&'a self, form: &str, field: &str, default: &'a str) -> &'a str {
        if self.form == form { self.typed.get(field) } else { default }
    }
}

/// Runs an operator write in the console user's name: the audit trail names
/// `operator:<e-mail>` rather than the API token's bare `operator`.
pub async fn act<T>(op: &Operator, work: impl Future<Output = Result<T, Rejection>>) -> Result<T, Rejection> {
    tongdao_pipeline::users::acting_as(&op.identity, work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_as_typed_and_empty_is_none() {
        let fields = Fields(vec![("amount".into(), " 12.50 ".into()), ("reference".into(), "  ".into())]);
        assert_eq!(fields.get("amount"), " 12.50 ");
        assert_eq!(fields.opt("reference"), None);
        assert_eq!(fields.money("amount").map(|m| m.to_string()), Ok("12.5000".to_owned()));
        assert_eq!(fields.opt_money("reference"), Ok(None));
        assert_eq!(fields.money("reference").map_err(|r| r.field), Err(Some("reference".to_owned())));
        assert_eq!(fields.number::<u32>("rps", Some(0)), Ok(0));
        assert!(fields.number::<u32>("amount", None).is_err());
        let shown = Shown::failed("topup", &Rejection::invalid("amount", "no"), Lang::En, fields);
        assert!(shown.at("topup", "amount").is_some() && shown.at("adjust", "amount").is_none());
        assert_eq!(shown.val("topup", "amount", "x"), " 12.50 ");
        assert_eq!(shown.val("adjust", "amount", "x"), "x");
    }
}
