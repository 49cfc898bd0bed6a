//! The starter lexicons shipped with the crate, embedded at build time.

use crate::category::Category;
use crate::lexicon::{Lexicon, LexiconError};

/// The starter lexicon files: file name, category, text. The platform installs them as files
/// on first start; operators extend them.
pub const STARTER_FILES: &[(&str, Category, &str)] = &[
    ("illegal.txt", Category::Illegal, include_str!("../lexicons/illegal.txt")),
    ("harassment.txt", Category::Harassment, include_str!("../lexicons/harassment.txt")),
    ("defamation.txt", Category::Defamation, include_str!("../lexicons/defamation.txt")),
    ("abuse.txt", Category::Abuse, include_str!("../lexicons/abuse.txt")),
    ("threat.txt", Category::Threat, include_str!("../lexicons/threat.txt")),
    ("vulgar.txt", Category::Vulgar, include_str!("../lexicons/vulgar.txt")),
    ("obscene.txt", Category::Obscene, include_str!("../lexicons/obscene.txt")),
    ("advertising.txt", Category::Advertising, include_str!("../lexicons/advertising.txt")),
    ("crime_incitement.txt", Category::CrimeIncitement, include_str!("../lexicons/crime_incitement.txt")),
    ("national_security.txt", Category::NationalSecurity, include_str!("../lexicons/national_security.txt")),
    ("fraud.txt", Category::Fraud, include_str!("../lexicons/fraud.txt")),
    ("other_unlawful.txt", Category::OtherUnlawful, include_str!("../lexicons/other_unlawful.txt")),
];

/// Parses every starter lexicon. The shipped files parse (a test checks it); an error here
/// means a broken build.
pub fn try_starter_lexicons() -> Result<Vec<Lexicon>, LexiconError> {
    STARTER_FILES.iter().map(|(_, category, text)| Lexicon::parse(*category, text)).collect()
}

/// Parses every starter lexicon; a file that fails to parse (impossible for the shipped ones, a
/// test checks it) is left out rather than panicking.
pub fn starter_lexicons() -> Vec<Lexicon> {
    STARTER_FILES.iter().filter_map(|(_, category, text)| Lexicon::parse(*category, text).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_has_a_starter_file_that_parses() {
        let lexicons = try_starter_lexicons().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lexicons.len(), Category::ALL.len());
        for (c, (name, fc, _)) in Category::ALL.iter().zip(STARTER_FILES) {
            assert_eq!(c, fc);
            assert_eq!(*name, format!("{}.txt", c.as_str()));
        }
        for lex in &lexicons {
            assert!((20..=200).contains(&lex.len()), "{}: {} terms", lex.category(), lex.len());
            let again = Lexicon::parse(lex.category(), &lex.to_text()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&again, lex);
        }
        assert_eq!(starter_lexicons(), lexicons);
    }
}
