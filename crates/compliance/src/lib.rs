//! tongdao's content screening: clause 2.3 of the SMS service agreement (the channel never
//! carries advertising, fraud or anything unlawful), as a pure function from a text to a
//! [`Screening`].
//!
//! This crate owns the lexicon file format ([`Lexicon::parse`]), the folding of text before
//! matching ([`normalise`]), the advertising signals found in code (links, promotions,
//! solicitations, opt-out footers) and the verdict rule. It ships starter lexicons
//! ([`starter_lexicons`], [`STARTER_FILES`]) that operators install and extend.
//!
//! # Must never
//! Do IO (lexicon text is handed in as `&str`), be async, panic on any input, or echo a lexicon
//! term in a verdict: a [`Finding`] names a term by index only.
//!
//! # Lexicon files
//! UTF-8, one term per line; blank lines and lines starting with `#` are ignored; a line is
//! `TERM`, `TERM @review` or `TERM @reject` (the default is reject); surrounding whitespace is
//! trimmed; a term must fold to 2..=64 letters or digits; at most 200,000 terms per file.
//! Errors name the line. `lexicons/README.md` describes the shipped lists.
//!
//! # Folding ([`normalise`])
//! Each character of the original, in order:
//! 1. invisible characters are removed (zero-width U+200B–U+200F, U+2060–U+206F, U+FEFF, soft
//!    hyphen, variation selectors, tags) — they do not even separate words;
//! 2. compatibility decomposition, the K of NFKC (full-width → half-width, ligatures, circled
//!    digits…), applied character by character so every output char maps to its source;
//!    combining marks are then dropped (so `é` → `e`, and strike-through marks vanish);
//! 3. Cyrillic and Greek look-alikes → Latin (`а`→`a`, `е`→`e`, `ο`→`o`, `Η`→`h` …), then lower
//!    case;
//! 4. traditional → simplified Chinese, character by character (fast2s's table);
//! 5. only letters and digits are kept (CJK included); everything else is a separator: spaces,
//!    punctuation, symbols, emoji;
//! 6. inside a run of ASCII letters, digits, `@` and `$` with no separator, and only when the
//!    run mixes letters with digits/`@`/`$`: `0→o 1→i 3→e 4→a 5→s 7→t 8→b @→a $→s` (`fr33`,
//!    `m0ney`, `v1agra`, `ca$h`). Pure numbers (codes, amounts) are never folded, and outside
//!    such runs `@` and `$` are separators.
//!
//! Lexicon terms go through the same folding. A term whose first (last) folded char is a Latin
//! letter or digit matches only at a word boundary there: the neighbouring folded char is
//! absent, not a Latin letter/digit, or separated from the match by a dropped separator. So
//! `s e x` and `sex!` match `sex`; `Essex` and `this exam` do not. CJK terms match anywhere.
//!
//! # Advertising score
//! Signals and their scores: an opt-out footer (回T退订, reply STOP) 4; a contact keyword followed
//! by an id (加微信 abc123, QQ 12345678) 4, without an id 0–3 by keyword; "reply … to get"
//! (回复1领取) 3; a link to a URL shortener 3, any other link 1; `N折`/`N% off` 3; promotional
//! words 3 (秒杀, 抢购, flash sale), 2 (优惠, 折扣, sale, coupon) or 1 (免费, 领取, offer, deal, free);
//! a 400/800 number 1. A signal inside a longer one counts once. The sum is
//! [`Screening::advertising_score`]; at [`Policy::advertising_reject_at`] (default 6) every signal
//! becomes a Reject finding of category advertising, at [`Policy::advertising_review_at`]
//! (default 4) a Review one, below it none is listed. Ordinary notifications (a code, a tracking
//! link to the sender's site, a bill that mentions a discount) stay below 4.
//!
//! # Verdict
//! The worst action over all findings (any reject → [`Verdict::Reject`], else any review →
//! [`Verdict::Review`], else [`Verdict::Pass`]); the deciding category is that of the worst
//! finding, ties going to the earliest in the text. Texts over 64 KiB are screened on their
//! first 64 KiB (the platform refuses longer ones anyway); at most 64 findings are listed.

mod category;
mod lexicon;
mod normalise;
mod screener;
mod signals;
mod starter;

pub use category::{Action, Category, Verdict};
pub use lexicon::{Lexicon, LexiconError, MAX_LEXICON_BYTES, MAX_LEXICON_TERMS, MAX_TERM_CHARS, MIN_TERM_CHARS, Term};
pub use normalise::{Normalised, normalise};
pub use screener::{
    BuildError, Finding, FindingKind, MAX_FINDINGS, MAX_MATCHES, MAX_SCREEN_BYTES, MAX_SCREENER_TERMS, Policy, Scratch,
    Screener, Screening,
};
pub use starter::{STARTER_FILES, starter_lexicons, try_starter_lexicons};
