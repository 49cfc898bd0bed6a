//! Clause 2 outside the accept path: the contact directory that bounds a customer's
//! recipients (2.2), opt-outs and the operator's blocklist, and the out-of-scope report.
//! The checks themselves run in [`crate::accept`].

use serde::{Deserialize, Serialize};
use tongdao_domain::{ErrorCode, Msisdn, Rejection};
use tongdao_store::{BlockedNumber, Contact, ContactKind, OutOfScopeSend, StoreError, Suppression, SuppressionSource};

use crate::{Platform, rejection_from_store};

/// Contacts in one import (a CSV of 100,000 rows is the size the issue names).
pub const MAX_IMPORT_ROWS: usize = 200_000;
/// Contacts written per transaction in an import.
const IMPORT_CHUNK: usize = 10_000;
/// Rows refused in an import that are listed in its answer (the count is always whole).
const MAX_LISTED_ERRORS: usize = 100;
const MAX_NAME_CHARS: usize = 100;
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 32;
const MAX_REASON_CHARS: usize = 200;

/// A contact as a customer writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub number: String,
    #[serde(default)]
    pub name: String,
    pub kind: ContactKind,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImportError {
    /// 1-based line of the CSV (the header is line 1).
    pub line: usize,
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: u64,
    pub rejected: usize,
    /// The first refused rows; nothing of a refused row is stored.
    pub errors: Vec<ImportError>,
}

/// The header of contact CSVs, for import and export.
pub const CSV_HEADER: [&str; 4] = ["number", "name", "kind", "tags"];

fn number_field(field: &str, number: &str) -> Result<String, Rejection> {
    Msisdn::parse(number)
        .map(|n| n.as_str().to_owned())
        .map_err(|e| Rejection::field(ErrorCode::InvalidNumber, field, e.to_string()))
}

impl ContactInput {
    /// The contact to store, or why not.
    fn into_contact(self, now_ms: i64) -> Result<Contact, Rejection> {
        let number = number_field("number", &self.number)?;
        let name = self.name.trim().to_owned();
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(Rejection::invalid(
                "name",
                format!("name must be at most {MAX_NAME_CHARS} printable characters"),
            ));
        }
        let mut tags: Vec<String> = self.tags.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
        tags.dedup();
        if tags.len() > MAX_TAGS
            || tags
                .iter()
                .any(|t| t.chars().count() > MAX_TAG_CHARS || t.contains([';', ',']) || t.chars().any(char::is_control))
        {
            return Err(Rejection::invalid(
                "tags",
                format!("at most {MAX_TAGS} tags of 1-{MAX_TAG_CHARS} characters, without ';' or ','"),
            ));
        }
        Ok(Contact { number, name, kind: self.kind, tags, created_at: now_ms, updated_at: now_ms })
    }
}

fn reason_field(reason: Option<String>) -> Result<String, Rejection> {
    let reason = reason.unwrap_or_default().trim().to_owned();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Rejection::invalid("reason", format!("reason must be at most {MAX_REASON_CHARS} characters")));
    }
    Ok(reason)
}

fn not_found(what: &'static str) -> impl Fn(StoreError) -> Rejection {
    move |e| match e {
        StoreError::NotFound => Rejection::new(ErrorCode::NotFound, what),
        other => rejection_from_store(other),
    }
}

impl Platform {
    /// Held while the carrier side stores a reply that opts its sender out: the accept path
    /// must see the suppression as soon as it is committed, so no profile is cached from
    /// before the commit until the hold is dropped.
    pub fn opting_out(&self) -> crate::cache::Hold<'_> {
        self.cache().hold_profiles()
    }

    /// Creates or replaces one contact.
    pub async fn put_contact(&self, customer: &str, input: ContactInput) -> Result<Contact, Rejection> {
        let customer = self.customer(customer).await?;
        let contact = input.into_contact(self.now_ms())?;
        let number = contact.number.clone();
        self.store().upsert_contacts(&customer.id, vec![contact]).await.map_err(rejection_from_store)?;
        self.cache().forget_profile(&customer.id);
        self.store().find_contact(&customer.id, &number).await.map_err(rejection_from_store)
    }

    pub async fn contact(&self, customer: &str, number: &str) -> Result<Contact, Rejection> {
        let customer = self.customer(customer).await?;
        let number = number_field("number", number)?;
        self.store().find_contact(&customer.id, &number).await.map_err(not_found("no such contact"))
    }

    pub async fn delete_contact(&self, customer: &str, number: &str) -> Result<(), Rejection> {
        let customer = self.customer(customer).await?;
        let number = number_field("number", number)?;
        self.store().delete_contact(&customer.id, &number).await.map_err(not_found("no such contact"))?;
        self.cache().forget_profile(&customer.id);
        Ok(())
    }

    /// One page of contacts by number, after `after`.
    pub async fn contacts(&self, customer: &str, after: Option<&str>, limit: u32) -> Result<Vec<Contact>, Rejection> {
        let customer = self.customer(customer).await?;
        self.store().list_contacts(&customer.id, after.unwrap_or(""), limit).await.map_err(rejection_from_store)
    }

    /// Imports a CSV of contacts (`number,name,kind,tags`, tags separated by `;`): every
    /// valid row is stored, every invalid one reported by line.
    pub async fn import_contacts(&self, customer: &str, csv: &[u8]) -> Result<ImportReport, Rejection> {
        let customer = self.customer(customer).await?;
        let now = self.now_ms();
        let mut reader =
            csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(csv);
        let headers = reader.headers().map_err(|e| Rejection::invalid("body", format!("not CSV: {e}")))?.clone();
        let column =
            |name: &str| headers.iter().position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name));
        let (Some(number_at), Some(kind_at)) = (column("number"), column("kind")) else {
            return Err(Rejection::invalid("body", "the first line must name the columns: number,name,kind,tags"));
        };
        let (name_at, tags_at) = (column("name"), column("tags"));
        let mut contacts = Vec::new();
        let mut errors = Vec::new();
        let mut rejected = 0;
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            if contacts.len() + rejected >= MAX_IMPORT_ROWS {
                return Err(Rejection::invalid("body", format!("at most {MAX_IMPORT_ROWS} rows per import")));
            }
            let row = record.map_err(|e| Rejection::invalid("body", format!("line {line}: {e}"))).and_then(|r| {
                let get = |at: Option<usize>| at.and_then(|a| r.get(a)).unwrap_or("").to_owned();
                let kind = ContactKind::parse(&get(Some(kind_at)).to_ascii_lowercase())
                    .ok_or_else(|| Rejection::invalid("kind", "kind must be staff or customer"))?;
                let tags = get(tags_at).split(';').map(str::to_owned).collect();
                ContactInput { number: get(Some(number_at)), name: get(name_at), kind, tags }.into_contact(now)
            });
            match row {
                Ok(contact) => contacts.push(contact),
                Err(rejection) => {
                    rejected += 1;
                    if errors.len() < MAX_LISTED_ERRORS {
                        errors.push(ImportError { line, code: rejection.code.as_str(), message: rejection.message });
                    }
                }
            }
        }
        // In transactions of IMPORT_CHUNK rows, so that other customers' writes are not held
        // up behind one long one; rows are upserts, so a failed import can be sent again.
        let mut imported = 0;
        let mut rest = contacts;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(IMPORT_CHUNK));
            imported += self.store().upsert_contacts(&customer.id, rest).await.map_err(rejection_from_store)?;
            rest = tail;
        }
        self.cache().forget_profile(&customer.id);
        Ok(ImportReport { imported, rejected, errors })
    }

    /// Every contact as CSV, in the import's format.
    pub async fn export_contacts(&self, customer: &str) -> Result<String, Rejection> {
        let customer = self.customer(customer).await?;
        let mut writer = csv::Writer::from_writer(Vec::new());
        let internal = |_| Rejection::internal();
        writer.write_record(CSV_HEADER).map_err(internal)?;
        let mut after = String::new();
        loop {
            let page = self.store().list_contacts(&customer.id, &after, 10_000).await.map_err(rejection_from_store)?;
            for c in &page {
                writer.write_record([&c.number, &c.name, c.kind.as_str(), &c.tags.join(";")]).map_err(internal)?;
            }
            match page.last() {
                Some(last) if page.len() == 10_000 => after = last.number.clone(),
                _ => break,
            }
        }
        let bytes = writer.into_inner().map_err(|_| Rejection::internal())?;
        String::from_utf8(bytes).map_err(|_| Rejection::internal())
    }

    /// Puts a number on a customer's suppression list.
    pub async fn suppress(
        &self,
        customer: &str,
        number: &str,
        source: SuppressionSource,
        reason: Option<String>,
    ) -> Result<Suppression, Rejection> {
        let customer = self.customer(customer).await?;
        let suppression = Suppression {
            number: number_field("number", number)?,
            source,
            reason: reason_field(reason)?,
            created_at: self.now_ms(),
        };
        let added = self.store().add_suppression(&customer.id, suppression).await.map_err(rejection_from_store)?;
        self.cache().forget_profile(&customer.id);
        Ok(added)
    }

    pub async fn unsuppress(&self, customer: &str, number: &str) -> Result<(), Rejection> {
        let customer = self.customer(customer).await?;
        let number = number_field("number", number)?;
        self.store()
            .remove_suppression(&customer.id, &number)
            .await
            .map_err(not_found("the number is not suppressed"))?;
        self.cache().forget_profile(&customer.id);
        Ok(())
    }

    pub async fn suppressions(
        &self,
        customer: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Suppression>, Rejection> {
        let customer = self.customer(customer).await?;
        self.store().list_suppressions(&customer.id, after.unwrap_or(""), limit).await.map_err(rejection_from_store)
    }

    /// Puts a number on the operator's blocklist: no customer may reach it.
    pub async fn block(&self, number: &str, reason: Option<String>) -> Result<BlockedNumber, Rejection> {
        let blocked = BlockedNumber {
            number: number_field("number", number)?,
            reason: reason_field(reason)?,
            created_at: self.now_ms(),
        };
        let added = self.store().add_blocked(blocked).await.map_err(rejection_from_store)?;
        self.cache().forget_profiles();
        Ok(added)
    }

    pub async fn unblock(&self, number: &str) -> Result<(), Rejection> {
        let number = number_field("number", number)?;
        self.store().remove_blocked(&number).await.map_err(not_found("the number is not blocked"))?;
        self.cache().forget_profiles();
        Ok(())
    }

    pub async fn blocked(&self, after: Option<&str>, limit: u32) -> Result<Vec<BlockedNumber>, Rejection> {
        self.store().list_blocked(after.unwrap_or(""), limit).await.map_err(rejection_from_store)
    }

    /// Messages accepted out of scope (policy `audit`) in `[from_ms, to_ms)`: the count and
    /// the newest `limit`.
    pub async fn out_of_scope(
        &self,
        customer: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<(u64, Vec<OutOfScopeSend>), Rejection> {
        let customer = self.customer(customer).await?;
        if from_ms >= to_ms {
            return Err(Rejection::invalid("from", "from must be before to"));
        }
        self.store().out_of_scope_sends(&customer.id, from_ms, to_ms, limit).await.map_err(rejection_from_store)
    }
}
