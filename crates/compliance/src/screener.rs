//! The screener: one automaton over every lexicon term and built-in phrase, plus the scans of
//! the lite text, turned into findings and a verdict.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

use daachorse::{CharwiseDoubleArrayAhoCorasick, CharwiseDoubleArrayAhoCorasickBuilder};
use serde::{Deserialize, Serialize};

use crate::category::{Action, Category, Verdict};
use crate::lexicon::{Lexicon, Term};
use crate::normalise::{Normalised, normalise_into};
use crate::signals::{
    self, LiteSignal, PHRASES, PhraseKind, REPLY_GAP_CHARS, SCORE_DISCOUNT_PATTERN, SCORE_LINK, SCORE_REPLY_TO_GET,
    SCORE_SERVICE_NUMBER, SCORE_SHORTENER,
};

/// Texts longer than this many bytes are screened on their first 64 KiB only (cut at a char
/// boundary). The platform refuses longer texts before screening (`MAX_TEXT_BYTES`).
pub const MAX_SCREEN_BYTES: usize = 64 * 1024;
/// At most this many findings are returned (the verdict and deciding category are computed
/// over all of them first).
pub const MAX_FINDINGS: usize = 64;
/// At most this many automaton matches are examined per text (bounds adversarial inputs).
pub const MAX_MATCHES: usize = 4096;
/// At most this many terms in one screener, over all its lexicons.
pub const MAX_SCREENER_TERMS: usize = 2_000_000;

/// How the advertising score of a text becomes a verdict; part of each agreement.
///
/// Default: review at 4, reject at 6 — one opt-out footer, one shortened link with a promotion
/// word, or two promotion words are enough for a person to look; an opt-out footer with any
/// promotion word, or three strong signals, is advertising. See the crate docs for the scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub advertising_review_at: u32,
    pub advertising_reject_at: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy { advertising_review_at: 4, advertising_reject_at: 6 }
    }
}

/// What was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FindingKind {
    /// A lexicon term; `index` is into [`Screener::terms`]. The term's text is never part of a
    /// finding.
    Term { index: usize },
    /// A link; `shortener` when its host is a known URL shortener.
    Link { shortener: bool },
    /// A promotional word or a discount pattern (`8折`, `50% off`).
    Promotion,
    /// A solicitation: a contact id (微信号, QQ, VX), "reply … to get", a 400 number, "DM us".
    Solicitation,
    /// A marketing opt-out footer (回T退订, reply STOP to unsubscribe).
    OptOutFooter,
}

/// One finding in a screened text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub category: Category,
    pub action: Action,
    pub kind: FindingKind,
    /// The byte range in the original text, on char boundaries.
    pub span: Range<usize>,
    /// The advertising score this finding added (0 for lexicon terms).
    pub score: u32,
}

/// The result of screening one text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Screening {
    pub verdict: Verdict,
    /// The category of the worst finding (ties: the earliest in the text); `None` on pass.
    pub category: Option<Category>,
    /// The sum of the advertising signals' scores (reported even when below the thresholds).
    pub advertising_score: u32,
    /// Sorted by span start, at most [`MAX_FINDINGS`]. Advertising signals are listed only when
    /// the score reaches the policy's review threshold.
    pub findings: Vec<Finding>,
}

/// Why a screener could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("{count} terms, more than the {max} a screener holds")]
    TooManyTerms { count: usize, max: usize },
    #[error("building the automaton failed: {0}")]
    Automaton(String),
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Term(u32),
    Phrase(u16),
}

#[derive(Debug, Clone)]
struct Pattern {
    targets: Range<u32>,
    chars: u32,
    first_latin: bool,
    last_latin: bool,
}

/// Reusable buffers for [`Screener::screen_with`].
#[derive(Debug, Default)]
pub struct Scratch {
    norm: Normalised,
    hits: Vec<Hit>,
    leads: Vec<(usize, usize)>,
    goals: Vec<(usize, usize)>,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch::default()
    }

    fn trim(&mut self) {
        const KEEP: usize = 8 * 1024;
        if self.norm.lite.capacity() > 4 * KEEP {
            *self = Scratch::default();
        }
    }
}

#[derive(Debug, Clone)]
struct Hit {
    kind: FindingKind,
    span: Range<usize>,
    score: u32,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

/// The screening engine: immutable once built, `Send + Sync`, cheap to share behind an `Arc`.
/// Build one per lexicon reload.
pub struct Screener {
    ac: CharwiseDoubleArrayAhoCorasick<u32>,
    patterns: Vec<Pattern>,
    targets: Vec<Target>,
    terms: Vec<Term>,
}

impl std::fmt::Debug for Screener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screener").field("terms", &self.terms.len()).field("patterns", &self.patterns.len()).finish()
    }
}

impl Screener {
    /// Builds a screener over `lexicons` (several may share a category) and the built-in
    /// advertising phrases.
    pub fn new(lexicons: &[Lexicon]) -> Result<Screener, BuildError> {
        let count: usize = lexicons.iter().map(Lexicon::len).sum();
        if count > MAX_SCREENER_TERMS {
            return Err(BuildError::TooManyTerms { count, max: MAX_SCREENER_TERMS });
        }
        let mut terms = Vec::with_capacity(count);
        let mut by_folded: HashMap<String, usize> = HashMap::with_capacity(count + PHRASES.len());
        let mut pattern_targets: Vec<(String, Vec<Target>)> = Vec::with_capacity(count + PHRASES.len());
        let mut norm = Normalised::default();
        let mut add = |text: &str, target: Target, norm: &mut Normalised| {
            normalise_into(text, norm);
            let folded = norm.as_str();
            if folded.is_empty() {
                return;
            }
            match by_folded.get(folded) {
                Some(&p) => {
                    if let Some((_, t)) = pattern_targets.get_mut(p) {
                        t.push(target);
                    }
                }
                None => {
                    by_folded.insert(folded.to_string(), pattern_targets.len());
                    pattern_targets.push((folded.to_string(), vec![target]));
                }
            }
        };
        for lexicon in lexicons {
            for term in lexicon.terms() {
                let index = u32::try_from(terms.len()).map_err(|e| BuildError::Automaton(e.to_string()))?;
                add(&term.text, Target::Term(index), &mut norm);
                terms.push(term.clone());
            }
        }
        for (i, phrase) in PHRASES.iter().enumerate() {
            let index = u16::try_from(i).map_err(|e| BuildError::Automaton(e.to_string()))?;
            add(phrase.text, Target::Phrase(index), &mut norm);
        }
        let mut patterns = Vec::with_capacity(pattern_targets.len());
        let mut targets = Vec::with_capacity(terms.len() + PHRASES.len());
        for (folded, ts) in &pattern_targets {
            let start = targets.len() as u32;
            targets.extend_from_slice(ts);
            patterns.push(Pattern {
                targets: start..targets.len() as u32,
                chars: folded.chars().count() as u32,
                first_latin: folded.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()),
                last_latin: folded.chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric()),
            });
        }
        let ac = CharwiseDoubleArrayAhoCorasickBuilder::new()
            .build_with_values(pattern_targets.iter().enumerate().map(|(i, (p, _))| (p.as_str(), i as u32)))
            .map_err(|e| BuildError::Automaton(e.to_string()))?;
        Ok(Screener { ac, patterns, targets, terms })
    }

    /// The number of lexicon terms (not counting the built-in phrases).
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// The screener's term list, which [`FindingKind::Term`] indexes.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The term at `index` of a [`FindingKind::Term`].
    pub fn term(&self, index: usize) -> Option<&Term> {
        self.terms.get(index)
    }

    /// Screens `text` under `policy`. Never panics. Uses a per-thread [`Scratch`]; texts over
    /// [`MAX_SCREEN_BYTES`] are screened on their first 64 KiB.
    pub fn screen(&self, text: &str, policy: &Policy) -> Screening {
        SCRATCH
            .try_with(|cell| match cell.try_borrow_mut() {
                Ok(mut scratch) => self.screen_with(text, policy, &mut scratch),
                Err(_) => self.screen_with(text, policy, &mut Scratch::new()),
            })
            .unwrap_or_else(|_| self.screen_with(text, policy, &mut Scratch::new()))
    }

    /// As [`Screener::screen`], with caller-owned buffers.
    pub fn screen_with(&self, text: &str, policy: &Policy, scratch: &mut Scratch) -> Screening {
        let text = &text[..text.floor_char_boundary(MAX_SCREEN_BYTES)];
        normalise_into(text, &mut scratch.norm);
        scratch.hits.clear();
        scratch.leads.clear();
        scratch.goals.clear();
        let n = &scratch.norm;
        let mut findings = Vec::new();

        for m in self.ac.find_overlapping_iter(n.as_str()).take(MAX_MATCHES) {
            let Some(p) = self.patterns.get(m.value() as usize) else { continue };
            let s = n.char_at_byte(m.start());
            let e = s + p.chars as usize;
            let start_ok = !p.first_latin || boundary_before(n, s);
            let end_ok = !p.last_latin || boundary_after(n, e);
            let targets = self.targets.get(p.targets.start as usize..p.targets.end as usize).unwrap_or_default();
            for target in targets {
                match *target {
                    Target::Term(index) => {
                        let Some(term) = self.terms.get(index as usize) else { continue };
                        if start_ok && end_ok {
                            findings.push(Finding {
                                category: term.category,
                                action: term.action,
                                kind: FindingKind::Term { index: index as usize },
                                span: n.char_span(s, e),
                                score: 0,
                            });
                        }
                    }
                    Target::Phrase(pi) => {
                        let Some(phrase) = PHRASES.get(pi as usize) else { continue };
                        let (kind, score) = match phrase.kind {
                            PhraseKind::Contact { base } if start_ok => {
                                let score = if id_follows(n, e, text) { phrase.score } else { base };
                                (FindingKind::Solicitation, score)
                            }
                            _ if !(start_ok && end_ok) => continue,
                            PhraseKind::Promotion => (FindingKind::Promotion, phrase.score),
                            PhraseKind::Solicitation => (FindingKind::Solicitation, phrase.score),
                            PhraseKind::OptOut => (FindingKind::OptOutFooter, phrase.score),
                            PhraseKind::ReplyLead => {
                                scratch.leads.push((s, e));
                                continue;
                            }
                            PhraseKind::ReplyGoal => {
                                scratch.goals.push((s, e));
                                continue;
                            }
                            PhraseKind::Contact { .. } => continue,
                        };
                        if score > 0 {
                            scratch.hits.push(Hit { kind, span: n.char_span(s, e), score });
                        }
                    }
                }
            }
        }

        for &(ls, le) in &scratch.leads {
            if let Some(&(_, ge)) = scratch.goals.iter().find(|&&(gs, _)| gs >= le && gs - le <= REPLY_GAP_CHARS) {
                let span = n.char_span(ls, ge);
                scratch.hits.push(Hit { kind: FindingKind::Solicitation, span, score: SCORE_REPLY_TO_GET });
            }
        }

        let lite = &n.lite;
        let hits = &mut scratch.hits;
        signals::scan_lite(lite, |signal, start, end| {
            let (Some(a), Some(b)) = (lite.get(start), end.checked_sub(1).and_then(|l| lite.get(l))) else { return };
            let span = a.start as usize..b.end as usize;
            let (kind, score) = match signal {
                LiteSignal::Link { shortener: true } => (FindingKind::Link { shortener: true }, SCORE_SHORTENER),
                LiteSignal::Link { shortener: false } => (FindingKind::Link { shortener: false }, SCORE_LINK),
                LiteSignal::Discount => (FindingKind::Promotion, SCORE_DISCOUNT_PATTERN),
                LiteSignal::ServiceNumber => (FindingKind::Solicitation, SCORE_SERVICE_NUMBER),
            };
            if hits.len() < MAX_MATCHES {
                hits.push(Hit { kind, span, score });
            }
        });

        // A signal inside a longer one (优惠 in 优惠券, sale in www.sale.com) counts once.
        hits.sort_by(|a, b| a.span.start.cmp(&b.span.start).then(b.span.end.cmp(&a.span.end)));
        let mut covered_to = 0usize;
        let mut any_kept = false;
        hits.retain(|h| {
            let contained = any_kept && h.span.end <= covered_to;
            if !contained {
                covered_to = covered_to.max(h.span.end);
                any_kept = true;
            }
            !contained
        });
        let advertising_score = hits.iter().fold(0u32, |acc, h| acc.saturating_add(h.score));
        let ad_action = if advertising_score >= policy.advertising_reject_at {
            Some(Action::Reject)
        } else if advertising_score >= policy.advertising_review_at {
            Some(Action::Review)
        } else {
            None
        };
        if let Some(action) = ad_action {
            findings.extend(hits.iter().map(|h| Finding {
                category: Category::Advertising,
                action,
                kind: h.kind,
                span: h.span.clone(),
                score: h.score,
            }));
        }

        findings.sort_by_key(|f| f.span.start);
        // Worst action; among equals the earliest, and at the same start the longest.
        let worst = findings.iter().fold(None::<&Finding>, |w, f| match w {
            Some(w) if w.action > f.action => Some(w),
            Some(w) if w.action == f.action && (w.span.start < f.span.start || w.span.end >= f.span.end) => Some(w),
            _ => Some(f),
        });
        let (verdict, category) = match worst {
            Some(f) => (Verdict::from(f.action), Some(f.category)),
            None => (Verdict::Pass, None),
        };
        findings.truncate(MAX_FINDINGS);
        scratch.trim();
        Screening { verdict, category, advertising_score, findings }
    }
}

/// A match starting at folded char `s` starts at a word boundary.
#[inline]
fn boundary_before(n: &Normalised, s: usize) -> bool {
    match (n.chars.get(s), s.checked_sub(1).and_then(|p| n.chars.get(p))) {
        (Some(cur), Some(prev)) => cur.sep_before || !prev.c.is_ascii_alphanumeric(),
        _ => true,
    }
}

/// A match ending before folded char `e` ends at a word boundary.
#[inline]
fn boundary_after(n: &Normalised, e: usize) -> bool {
    match n.chars.get(e) {
        Some(next) => next.sep_before || !next.c.is_ascii_alphanumeric(),
        None => true,
    }
}

/// A contact id follows folded char `e` (one CJK char such as 号 or 是 may come first): one
/// unbroken run of 5 to 20 Latin letters or digits, at least one of them a digit in the original
/// (WeChat and QQ ids; "WhatsApp code is" is not one).
fn id_follows(n: &Normalised, e: usize, text: &str) -> bool {
    let mut j = e;
    if n.chars.get(j).is_some_and(|c| !c.c.is_ascii_alphanumeric()) {
        j += 1;
    }
    let rest = n.chars.get(j..).unwrap_or_default();
    let mut len = 0;
    let mut digit = false;
    for (k, c) in rest.iter().enumerate() {
        if !c.c.is_ascii_alphanumeric() || (k > 0 && c.sep_before) {
            break;
        }
        len += 1;
        digit |= text.get(c.orig_start as usize..c.orig_end as usize).is_some_and(|o| o.chars().any(char::is_numeric));
        if len > 20 {
            return false;
        }
    }
    len >= 5 && digit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screener(lexicons: &[(Category, &str)]) -> Screener {
        let lexicons: Vec<Lexicon> =
            lexicons.iter().map(|(c, t)| Lexicon::parse(*c, t).unwrap_or_else(|e| panic!("{e}"))).collect();
        Screener::new(&lexicons).unwrap_or_else(|e| panic!("{e}"))
    }

    fn spans(s: &Screener, text: &str) -> Vec<String> {
        s.screen(text, &Policy::default()).findings.iter().map(|f| text[f.span.clone()].to_string()).collect()
    }

    #[test]
    fn word_boundaries_for_latin_terms() {
        let s = screener(&[(Category::Obscene, "sex\n")]);
        let p = Policy::default();
        for hit in ["s e x", "s.e.x", "sex!", "SEX", "free sex now", "s\u{0435}x", "5ex", "买sex"] {
            assert_eq!(s.screen(hit, &p).verdict, Verdict::Reject, "{hit}");
        }
        for clean in ["Essex office", "this exam", "sextant", "unisex", "sussex", "sexy2"] {
            assert_eq!(s.screen(clean, &p).verdict, Verdict::Pass, "{clean}");
        }
        assert_eq!(spans(&s, "call s.e.x!"), vec!["s.e.x"]);
    }

    #[test]
    fn cjk_terms_match_anywhere_with_original_spans() {
        let s = screener(&[(Category::Illegal, "代开发票\n"), (Category::Fraud, "安全账户 @review\n")]);
        let text = "专业代\u{200D}開 發-票，转到安全賬戶";
        let r = s.screen(text, &Policy::default());
        assert_eq!(r.verdict, Verdict::Reject);
        assert_eq!(r.category, Some(Category::Illegal));
        assert_eq!(spans(&s, text), vec!["代\u{200D}開 發-票", "安全賬戶"]);
    }

    #[test]
    fn verdict_is_the_worst_action_and_category_the_earliest_worst() {
        let s = screener(&[(Category::Fraud, "刷单 @review\n中奖\n"), (Category::Illegal, "赌博\n")]);
        let p = Policy::default();
        let r = s.screen("刷单返利", &p);
        assert_eq!((r.verdict, r.category), (Verdict::Review, Some(Category::Fraud)));
        let r = s.screen("刷单，赌博，中奖", &p);
        assert_eq!((r.verdict, r.category), (Verdict::Reject, Some(Category::Illegal)));
        let r = s.screen("您的快递已到", &p);
        assert_eq!((r.verdict, r.category, r.findings.len()), (Verdict::Pass, None, 0));
    }

    #[test]
    fn screening_never_echoes_a_term() {
        let term = "zqxjkv秘密词";
        let s = screener(&[(Category::OtherUnlawful, &format!("{term}\n"))]);
        let r = s.screen(&format!("hello {term} there"), &Policy::default());
        assert_eq!(r.verdict, Verdict::Reject);
        let debug = format!("{r:?}");
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert!(json.contains("\"verdict\":\"reject\""), "{json}");
        for form in [debug, json] {
            assert!(!form.contains("zqxjkv") && !form.contains("秘密"), "{form}");
        }
        assert_eq!(s.term(0).map(|t| t.text.as_str()), Some(term));
    }

    #[test]
    fn advertising_scores_and_thresholds() {
        let s = screener(&[]);
        let p = Policy::default();
        let r = s.screen("【某店】双11大促，全场5折起，点击 t.cn/A6xYz 抢购，回T退订", &p);
        assert_eq!((r.verdict, r.category), (Verdict::Reject, Some(Category::Advertising)));
        assert!(r.advertising_score >= p.advertising_reject_at);
        assert!(r.findings.iter().any(|f| f.kind == FindingKind::OptOutFooter));
        assert!(r.findings.iter().any(|f| f.kind == FindingKind::Link { shortener: true }));
        let r = s.screen("退订回T", &p);
        assert_eq!(r.verdict, Verdict::Review);
        let r = s.screen("您的订单已发货，查看物流 https://www.jd.com/order/123", &p);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert_eq!(r.advertising_score, 1);
        assert!(r.findings.is_empty());
        let r = s.screen("Your discount on the tariff was applied to your bill.", &p);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        let strict = Policy { advertising_review_at: 1, advertising_reject_at: 2 };
        assert_eq!(s.screen("Your discount on the tariff was applied to your bill.", &strict).verdict, Verdict::Reject);
    }

    #[test]
    fn solicitations() {
        let s = screener(&[]);
        let p = Policy::default();
        for text in ["加微信：abc12345 了解", "VX: xyz888888", "QQ 123456789", "回复1领取红包"] {
            let r = s.screen(text, &p);
            assert!(r.findings.iter().any(|f| f.kind == FindingKind::Solicitation), "{text}: {r:?}");
        }
        assert_eq!(s.screen("关注微信公众号查看账单", &p).verdict, Verdict::Pass);
        assert_eq!(s.screen("您通过微信支付128.00元", &p).verdict, Verdict::Pass);
        assert_eq!(s.screen("Your WhatsApp code is 338-104. Don't share it.", &p).verdict, Verdict::Pass);
    }

    #[test]
    fn long_and_odd_inputs_never_panic() {
        let s = screener(&[(Category::Vulgar, "aa\naaa\naaaa\n")]);
        let p = Policy::default();
        let long = "a".repeat(MAX_SCREEN_BYTES * 2);
        let r = s.screen(&long, &p);
        assert!(r.findings.len() <= MAX_FINDINGS);
        assert!(r.findings.iter().all(|f| f.span.end <= MAX_SCREEN_BYTES));
        let cjk = "代".repeat(MAX_SCREEN_BYTES);
        let _ = s.screen(&cjk, &p);
        let _ = s.screen("", &p);
        let _ = s.screen("\u{200B}\u{FE0F}🔥", &p);
    }

    #[test]
    fn screener_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Screener>();
        assert_send_sync::<Screening>();
    }
}
