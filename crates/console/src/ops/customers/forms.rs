//! What the customer, money and user pages share: a form's fields as typed (kept to show
//! them again with a refusal), the refusal of the one form that failed on a page of many,
//! and operator writes done in the console user's name.

use std::future::Future;

use tongdao_domain::Rejection;

use crate::i18n::Lang;
use crate::page::Problems;
use crate::web::Operator;

pub use crate::forms::Fields;

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
