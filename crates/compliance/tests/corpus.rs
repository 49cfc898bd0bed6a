//! The corpus: forbidden and clean messages written for tongdao, screened with the starter
//! lexicons and the default policy.

use serde::Deserialize;
use tongdao_compliance::{Category, Policy, Screener, Verdict, starter_lexicons};

#[derive(Debug, Deserialize)]
struct Sample {
    text: String,
    expect: Verdict,
    category: Option<Category>,
    lang: String,
}

fn load(name: &str, text: &str) -> Vec<Sample> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1)))
        .collect()
}

#[test]
fn corpus_recall_and_false_positives() {
    let forbidden = load("forbidden.jsonl", include_str!("corpus/forbidden.jsonl"));
    let clean = load("clean.jsonl", include_str!("corpus/clean.jsonl"));
    assert!(forbidden.len() >= 160 && clean.len() >= 160, "{} forbidden, {} clean", forbidden.len(), clean.len());
    for s in &forbidden {
        assert!(s.expect != Verdict::Pass && s.category.is_some(), "mislabelled: {s:?}");
        assert!(s.lang == "zh" || s.lang == "en", "{s:?}");
    }
    for c in Category::ALL {
        assert!(forbidden.iter().any(|s| s.category == Some(c)), "no forbidden sample for {c}");
    }
    assert!(clean.iter().all(|s| s.expect == Verdict::Pass && s.category.is_none()));

    let screener = Screener::new(&starter_lexicons()).unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy::default();

    let (mut caught, mut right_category, mut right_verdict) = (0usize, 0usize, 0usize);
    for s in &forbidden {
        let r = screener.screen(&s.text, &policy);
        if r.verdict == Verdict::Pass {
            println!("MISSED [{}] {}", s.category.map_or("-", Category::as_str), s.text);
            continue;
        }
        caught += 1;
        if r.category == s.category {
            right_category += 1;
        } else {
            println!(
                "CATEGORY [{} expected, {} got] {}",
                s.category.map_or("-", Category::as_str),
                r.category.map_or("-", Category::as_str),
                s.text
            );
        }
        if r.verdict == s.expect {
            right_verdict += 1;
        } else {
            println!("VERDICT [{} expected, {} got] {}", s.expect.as_str(), r.verdict.as_str(), s.text);
        }
    }
    let mut false_positives = 0usize;
    for s in &clean {
        let r = screener.screen(&s.text, &policy);
        if r.verdict != Verdict::Pass {
            false_positives += 1;
            println!(
                "FALSE POSITIVE [{} {} score {}] {}",
                r.verdict.as_str(),
                r.category.map_or("-", Category::as_str),
                r.advertising_score,
                s.text
            );
        }
    }
    let recall = caught as f64 / forbidden.len() as f64;
    let fp_rate = false_positives as f64 / clean.len() as f64;
    println!(
        "corpus: {} forbidden ({} zh, {} en), {} clean ({} zh, {} en)",
        forbidden.len(),
        forbidden.iter().filter(|s| s.lang == "zh").count(),
        forbidden.iter().filter(|s| s.lang == "en").count(),
        clean.len(),
        clean.iter().filter(|s| s.lang == "zh").count(),
        clean.iter().filter(|s| s.lang == "en").count(),
    );
    println!("recall: {caught}/{} = {recall:.4}", forbidden.len());
    println!("false positives: {false_positives}/{} = {fp_rate:.4}", clean.len());
    println!(
        "expected category: {right_category}/{caught} of those caught; expected verdict: {right_verdict}/{caught}"
    );
    assert!(recall >= 0.95, "recall {recall:.4}");
    assert!(fp_rate <= 0.01, "false positives {fp_rate:.4}");
}
