//! Content screening on the accept path (clause 2.3): the screener built from the lexicon
//! files, reloaded when they change, and what a verdict does to a submission.
//!
//! Lexicons live in `<data-dir>/lexicons/`, one file per list, named `<category>.txt` or
//! `<category>.<anything>.txt` (format: `tongdao_compliance::Lexicon::parse`). On first use
//! of a directory that does not exist, the starter lexicons are written there. A change that
//! does not parse leaves the running screener as it was and is reported by
//! [`Platform::lexicon_status`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde::Serialize;
use tongdao_compliance::{Category, Lexicon, Policy, Screener, Screening, Verdict};
use tongdao_domain::{ComplianceTerms, ErrorCode, Rejection};

use crate::Platform;

/// Largest lexicon file accepted through the operator API.
pub const MAX_LEXICON_FILE_BYTES: usize = 8 * 1024 * 1024;
const MAX_LEXICON_FILES: usize = 256;

/// The screener in use and where its lexicons come from.
#[derive(Debug)]
pub struct ScreeningState {
    /// `None` only if not even an empty screener builds: then everything is held.
    screener: RwLock<Option<Arc<Screener>>>,
    dir: RwLock<Option<PathBuf>>,
    status: RwLock<LexiconStatus>,
}

/// What the operator sees of the lexicons: the files loaded, and the last error if a
/// reload failed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LexiconStatus {
    pub files: Vec<LexiconFile>,
    pub terms: usize,
    pub loaded_at: Option<i64>,
    pub error: Option<String>,
    #[serde(skip)]
    fingerprint: Vec<(String, u64, Option<SystemTime>)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LexiconFile {
    pub file: String,
    pub category: Category,
    pub terms: usize,
}

impl Default for ScreeningState {
    fn default() -> Self {
        let lexicons = tongdao_compliance::starter_lexicons();
        let screener = Screener::new(&lexicons).or_else(|_| Screener::new(&[])).ok().map(Arc::new);
        ScreeningState { screener: RwLock::new(screener), dir: RwLock::new(None), status: RwLock::default() }
    }
}

/// The category a lexicon file holds: its name up to the first dot.
pub fn file_category(file: &str) -> Option<Category> {
    let stem = file.strip_suffix(".txt")?;
    let ok = !stem.is_empty() && stem.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok || stem.starts_with('.') {
        return None;
    }
    Category::parse(stem.split('.').next()?)
}

fn fingerprint(dir: &Path) -> std::io::Result<Vec<(String, u64, Option<SystemTime>)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if file_category(&name).is_some() {
            let meta = entry.metadata()?;
            files.push((name, meta.len(), meta.modified().ok()));
        }
    }
    files.sort();
    Ok(files)
}

fn load_dir(dir: &Path) -> Result<(Vec<LexiconFile>, Vec<Lexicon>), String> {
    let mut files = Vec::new();
    let mut lexicons = Vec::new();
    for (name, len, _) in fingerprint(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        if files.len() >= MAX_LEXICON_FILES {
            return Err(format!("more than {MAX_LEXICON_FILES} lexicon files"));
        }
        if len as usize > MAX_LEXICON_FILE_BYTES {
            return Err(format!("{name}: over {MAX_LEXICON_FILE_BYTES} bytes"));
        }
        let Some(category) = file_category(&name) else { continue };
        let text = std::fs::read_to_string(dir.join(&name)).map_err(|e| format!("{name}: {e}"))?;
        let lexicon = Lexicon::parse(category, &text).map_err(|e| format!("{name}: {e}"))?;
        files.push(LexiconFile { file: name, category, terms: lexicon.len() });
        lexicons.push(lexicon);
    }
    Ok((files, lexicons))
}

impl Platform {
    fn screening_state(&self) -> &ScreeningState {
        &self.inner.screening
    }

    /// The screener in use.
    pub fn screener(&self) -> Option<Arc<Screener>> {
        let lock = &self.screening_state().screener;
        lock.read().map(|s| s.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Screens `text` under an agreement's thresholds. Without a screener (it failed to
    /// build) every text is held for a person to read: failing closed.
    pub fn screen(&self, text: &str, terms: &ComplianceTerms) -> Screening {
        match self.screener() {
            Some(screener) => screener.screen(text, &policy(terms)),
            None => Screening {
                verdict: Verdict::Review,
                category: Some(Category::OtherUnlawful),
                advertising_score: 0,
                findings: Vec::new(),
            },
        }
    }

    /// Takes the lexicons from `dir` (writing the starter lexicons there first if it does
    /// not exist) and keeps watching it through [`Platform::reload_lexicons`].
    pub fn use_lexicon_dir(&self, dir: &Path) -> Result<LexiconStatus, String> {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for (file, _, text) in tongdao_compliance::STARTER_FILES {
                std::fs::write(dir.join(file), text).map_err(|e| format!("{file}: {e}"))?;
            }
        }
        if let Ok(mut d) = self.screening_state().dir.write() {
            *d = Some(dir.to_owned());
        }
        self.reload_lexicons(true)
    }

    /// Rebuilds the screener when the lexicon files changed (or always, with `force`). A
    /// failure keeps the running screener and is reported in the status.
    pub fn reload_lexicons(&self, force: bool) -> Result<LexiconStatus, String> {
        let state = self.screening_state();
        let Some(dir) = state.dir.read().ok().and_then(|d| d.clone()) else {
            return Err("no lexicon directory is configured".into());
        };
        let now_fingerprint = fingerprint(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let unchanged = state.status.read().map(|s| s.fingerprint == now_fingerprint).unwrap_or(false);
        if unchanged && !force {
            return Ok(self.lexicon_status());
        }
        let built = load_dir(&dir)
            .and_then(|(files, lexicons)| Screener::new(&lexicons).map(|s| (files, s)).map_err(|e| e.to_string()));
        let mut status = state.status.write().unwrap_or_else(|e| e.into_inner());
        status.fingerprint = now_fingerprint;
        match built {
            Ok((files, screener)) => {
                status.terms = screener.term_count();
                status.files = files;
                status.loaded_at = Some(self.now_ms());
                status.error = None;
                *state.screener.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(screener));
                tracing::info!(terms = status.terms, files = status.files.len(), "lexicons loaded");
                Ok(status.clone())
            }
            Err(error) => {
                tracing::error!(%error, "lexicons not reloaded; the previous ones stay in use");
                status.error = Some(error.clone());
                Err(error)
            }
        }
    }

    pub fn lexicon_status(&self) -> LexiconStatus {
        self.screening_state().status.read().map(|s| s.clone()).unwrap_or_default()
    }

    fn lexicon_path(&self, file: &str) -> Result<PathBuf, Rejection> {
        if file_category(file).is_none() {
            return Err(Rejection::invalid(
                "file",
                "a lexicon file is named <category>.txt or <category>.<name>.txt, with a category of clause 2.3",
            ));
        }
        let dir = self.screening_state().dir.read().ok().and_then(|d| d.clone());
        let dir = dir.ok_or_else(|| Rejection::new(ErrorCode::NotFound, "no lexicon directory is configured"))?;
        Ok(dir.join(file))
    }

    /// The text of one lexicon file.
    pub fn lexicon_text(&self, file: &str) -> Result<String, Rejection> {
        let path = self.lexicon_path(file)?;
        std::fs::read_to_string(&path).map_err(|_| Rejection::new(ErrorCode::NotFound, "no such lexicon file"))
    }

    /// Writes one lexicon file (checked first: a text that does not parse is refused and
    /// nothing changes) and reloads.
    pub fn put_lexicon(&self, file: &str, text: &str) -> Result<LexiconStatus, Rejection> {
        let path = self.lexicon_path(file)?;
        let category = file_category(file).ok_or_else(|| Rejection::invalid("file", "bad file name"))?;
        Lexicon::parse(category, text).map_err(|e| Rejection::invalid("body", e.to_string()))?;
        let temporary = path.with_extension("txt.tmp");
        std::fs::write(&temporary, text).and_then(|()| std::fs::rename(&temporary, &path)).map_err(|e| {
            tracing::error!(error = %e, "cannot write a lexicon file");
            Rejection::internal()
        })?;
        self.reload_lexicons(true).map_err(|e| Rejection::invalid("body", e))
    }

    pub fn delete_lexicon(&self, file: &str) -> Result<LexiconStatus, Rejection> {
        let path = self.lexicon_path(file)?;
        std::fs::remove_file(&path).map_err(|_| Rejection::new(ErrorCode::NotFound, "no such lexicon file"))?;
        self.reload_lexicons(true).map_err(|e| Rejection::invalid("file", e))
    }
}

/// The screening thresholds of an agreement.
pub fn policy(terms: &ComplianceTerms) -> Policy {
    let default = Policy::default();
    Policy {
        advertising_review_at: terms.advertising_review_at.unwrap_or(default.advertising_review_at),
        advertising_reject_at: terms.advertising_reject_at.unwrap_or(default.advertising_reject_at),
    }
}

/// `content_rejected`, naming the category and never the lexicon term.
pub fn content_rejected(category: Option<Category>) -> Rejection {
    let category = category.map_or("other_unlawful", Category::as_str);
    Rejection::field(
        ErrorCode::ContentRejected,
        "text",
        format!("the text is refused as {category} (agreement clause 2.3)"),
    )
}

/// What a quote says of a text's screening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScreeningView {
    pub verdict: Verdict,
    pub category: Option<Category>,
}

impl From<&Screening> for ScreeningView {
    fn from(s: &Screening) -> Self {
        ScreeningView { verdict: s.verdict, category: s.category }
    }
}

/// The verdict kept with a held message, for the moderator: categories, spans, scores and,
/// for lexicon findings, the term (the operator's own lexicon; customers never see it).
pub fn screening_record(screener: Option<&Screener>, s: &Screening) -> String {
    let findings: Vec<serde_json::Value> = s
        .findings
        .iter()
        .map(|f| {
            let term = match f.kind {
                tongdao_compliance::FindingKind::Term { index } => {
                    screener.and_then(|s| s.term(index)).map(|t| t.text.clone())
                }
                _ => None,
            };
            serde_json::json!({
                "category": f.category,
                "action": f.action,
                "kind": f.kind,
                "span": [f.span.start, f.span.end],
                "score": f.score,
                "term": term,
            })
        })
        .collect();
    serde_json::json!({
        "verdict": s.verdict,
        "category": s.category,
        "advertising_score": s.advertising_score,
        "findings": findings,
    })
    .to_string()
}
