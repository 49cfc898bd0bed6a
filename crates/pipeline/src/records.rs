//! The regulatory export (clause 3.1, the Internet Information Services measures): a
//! customer's messages in a time range — content, times, sender, recipient and where each
//! came from — as CSV or JSON, with a SHA-256 checksum of exactly the bytes written, and an
//! entry in the audit trail. Operator only.

use sha2::{Digest, Sha256};
use tongdao_domain::Rejection;
use tongdao_domain::clock::rfc3339;
use tongdao_store::MessageRecord;

use crate::{Platform, rejection_from_store};

const PAGE: u32 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    Csv,
    Json,
}

/// An export: its bytes, how many records, and the SHA-256 of the bytes (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub bytes: Vec<u8>,
    pub records: u64,
    pub sha256: String,
}

fn record_json(r: &MessageRecord) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "created_at": rfc3339(r.created_at),
        "sender": r.sender,
        "recipient": r.recipient,
        "text": r.text,
        "status": r.status,
        "source": r.source,
    })
}

impl Platform {
    /// Exports the customer's messages accepted in `[from_ms, to_ms)`; `actor` is named in
    /// the audit trail.
    pub async fn export_records(
        &self,
        customer: &str,
        from_ms: i64,
        to_ms: i64,
        format: RecordFormat,
        actor: &str,
    ) -> Result<Export, Rejection> {
        let customer = self.customer(customer).await?;
        if from_ms >= to_ms {
            return Err(Rejection::invalid("from", "from must be before to"));
        }
        let internal = |_| Rejection::internal();
        let mut csv = csv::Writer::from_writer(Vec::new());
        let mut json = Vec::new();
        match format {
            RecordFormat::Csv => {
                csv.write_record(["id", "created_at", "sender", "recipient", "text", "status", "source"])
                    .map_err(internal)?;
            }
            RecordFormat::Json => json.extend_from_slice(b"[\n"),
        }
        let mut after = String::new();
        let mut records = 0u64;
        loop {
            let page = self
                .store()
                .message_records(&customer.id, from_ms, to_ms, &after, PAGE)
                .await
                .map_err(rejection_from_store)?;
            for r in &page {
                match format {
                    RecordFormat::Csv => csv
                        .write_record([
                            r.id.as_str(),
                            &rfc3339(r.created_at),
                            r.sender.as_deref().unwrap_or(""),
                            &r.recipient,
                            &r.text,
                            &r.status,
                            r.source.as_deref().unwrap_or(""),
                        ])
                        .map_err(internal)?,
                    RecordFormat::Json => {
                        if records > 0 {
                            json.extend_from_slice(b",\n");
                        }
                        json.extend_from_slice(record_json(r).to_string().as_bytes());
                    }
                }
                records += 1;
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = last.id.clone(),
                _ => break,
            }
        }
        let bytes = match format {
            RecordFormat::Csv => csv.into_inner().map_err(|_| Rejection::internal())?,
            RecordFormat::Json => {
                json.extend_from_slice(b"\n]\n");
                json
            }
        };
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let reason = format!(
            "{records} records of {} from {} to {}, sha256 {sha256}",
            customer.id,
            rfc3339(from_ms),
            rfc3339(to_ms)
        );
        let entry = self.audit_entry(actor, "records.export", &customer.id, Some(reason));
        self.store().append_audit(entry).await.map_err(rejection_from_store)?;
        Ok(Export { bytes, records, sha256 })
    }
}
