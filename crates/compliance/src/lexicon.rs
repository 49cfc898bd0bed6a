//! Lexicons: the terms of one category, parsed from the text of one lexicon file.

use serde::{Deserialize, Serialize};

use crate::category::{Action, Category};
use crate::normalise::normalise;

/// A term must fold to at least this many chars.
pub const MIN_TERM_CHARS: usize = 2;
/// A term must fold to at most this many chars.
pub const MAX_TERM_CHARS: usize = 64;
/// At most this many terms in one lexicon.
pub const MAX_LEXICON_TERMS: usize = 200_000;
/// At most this many bytes of lexicon text.
pub const MAX_LEXICON_BYTES: usize = 64 * 1024 * 1024;

/// One lexicon term: the text as written in the lexicon file (not folded).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Term {
    pub text: String,
    pub category: Category,
    pub action: Action,
}

/// Why a lexicon text was refused. Every variant about a line names it (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LexiconError {
    #[error("the lexicon is {bytes} bytes, more than the {max} allowed")]
    TooLarge { bytes: usize, max: usize },
    #[error("line {line}: more than {max} terms")]
    TooManyTerms { line: usize, max: usize },
    #[error("line {line}: the term folds to {chars} letters or digits, fewer than {min}")]
    TermTooShort { line: usize, chars: usize, min: usize },
    #[error("line {line}: the term folds to {chars} letters or digits, more than {max}")]
    TermTooLong { line: usize, chars: usize, max: usize },
    #[error("line {line}: unknown marker `{marker}` (expected @review or @reject)")]
    UnknownMarker { line: usize, marker: String },
}

/// The terms of one category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lexicon {
    category: Category,
    terms: Vec<Term>,
}

impl Lexicon {
    /// Parses the text of one lexicon file.
    ///
    /// Format: UTF-8; one term per line; blank lines and lines starting with `#` are ignored; a
    /// line is `TERM`, `TERM @review` or `TERM @reject` (default reject); surrounding whitespace
    /// is trimmed; a term must fold (see [`crate::normalise`]) to 2..=64 letters or digits; at
    /// most 200,000 terms. Errors name the line number.
    pub fn parse(category: Category, text: &str) -> Result<Lexicon, LexiconError> {
        if text.len() > MAX_LEXICON_BYTES {
            return Err(LexiconError::TooLarge { bytes: text.len(), max: MAX_LEXICON_BYTES });
        }
        let mut terms = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (term, action) = split_marker(trimmed, line)?;
            let chars = normalise(term).char_count();
            if chars < MIN_TERM_CHARS {
                return Err(LexiconError::TermTooShort { line, chars, min: MIN_TERM_CHARS });
            }
            if chars > MAX_TERM_CHARS {
                return Err(LexiconError::TermTooLong { line, chars, max: MAX_TERM_CHARS });
            }
            if terms.len() >= MAX_LEXICON_TERMS {
                return Err(LexiconError::TooManyTerms { line, max: MAX_LEXICON_TERMS });
            }
            terms.push(Term { text: term.to_string(), category, action });
        }
        Ok(Lexicon { category, terms })
    }

    pub fn category(&self) -> Category {
        self.category
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The lexicon as lexicon-file text; [`Lexicon::parse`] of it gives this lexicon back.
    pub fn to_text(&self) -> String {
        let mut out = format!("# {} ({} terms)\n", self.category.as_str(), self.terms.len());
        for t in &self.terms {
            out.push_str(&t.text);
            // A term whose own last word looks like a marker gets an explicit one.
            let marker_like = t.text.rsplit(char::is_whitespace).next().is_some_and(|w| w.starts_with('@'));
            match t.action {
                Action::Review => out.push_str(" @review"),
                Action::Reject if marker_like => out.push_str(" @reject"),
                Action::Reject => {}
            }
            out.push('\n');
        }
        out
    }
}

/// Splits `TERM [@marker]` (already trimmed, non-empty).
fn split_marker(trimmed: &str, line: usize) -> Result<(&str, Action), LexiconError> {
    if let Some(at) = trimmed.rfind(char::is_whitespace) {
        let (head, tail) = trimmed.split_at(at);
        let marker = tail.trim();
        if let Some(name) = marker.strip_prefix('@') {
            let action = if name.eq_ignore_ascii_case("review") {
                Action::Review
            } else if name.eq_ignore_ascii_case("reject") {
                Action::Reject
            } else {
                return Err(LexiconError::UnknownMarker { line, marker: marker.to_string() });
            };
            return Ok((head.trim(), action));
        }
    }
    Ok((trimmed, Action::Reject))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_markers_comments_and_blank_lines() {
        let text = "# comment\n\n  代开发票  \n贷款 @review\nyou have won @reject\r\nfree money\t@REVIEW\n";
        let lex = Lexicon::parse(Category::Fraud, text).unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(&str, Action)> = lex.terms().iter().map(|t| (t.text.as_str(), t.action)).collect();
        assert_eq!(
            got,
            vec![
                ("代开发票", Action::Reject),
                ("贷款", Action::Review),
                ("you have won", Action::Reject),
                ("free money", Action::Review),
            ]
        );
        assert!(lex.terms().iter().all(|t| t.category == Category::Fraud));
        assert_eq!(lex.len(), 4);
        assert!(!lex.is_empty());
        assert_eq!(lex.category(), Category::Fraud);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            Lexicon::parse(Category::Illegal, "ok term\n\n# c\nx\n"),
            Err(LexiconError::TermTooShort { line: 4, chars: 1, min: 2 })
        );
        assert_eq!(
            Lexicon::parse(Category::Illegal, "ok term\n!!! ...\n"),
            Err(LexiconError::TermTooShort { line: 2, chars: 0, min: 2 })
        );
        let long = "长".repeat(65);
        assert_eq!(
            Lexicon::parse(Category::Illegal, &format!("a b\n{long}\n")),
            Err(LexiconError::TermTooLong { line: 2, chars: 65, max: 64 })
        );
        assert_eq!(
            Lexicon::parse(Category::Illegal, "a b\nc d\nterm @maybe\n"),
            Err(LexiconError::UnknownMarker { line: 3, marker: "@maybe".into() })
        );
        let err = Lexicon::parse(Category::Illegal, "x\n").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with("line 1:"), "{err}");
    }

    #[test]
    fn too_many_terms() {
        let text = "ab\n".repeat(MAX_LEXICON_TERMS + 1);
        assert_eq!(
            Lexicon::parse(Category::Vulgar, &text),
            Err(LexiconError::TooManyTerms { line: MAX_LEXICON_TERMS + 1, max: MAX_LEXICON_TERMS })
        );
    }

    #[test]
    fn to_text_round_trips() {
        let text = "代开发票\n贷款 @review\nab @review @reject\n@handle\nyou have won @review\n";
        let lex = Lexicon::parse(Category::Fraud, text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lex.terms()[2].text, "ab @review");
        assert_eq!(lex.terms()[3].text, "@handle");
        let again = Lexicon::parse(Category::Fraud, &lex.to_text()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, lex);
    }
}
