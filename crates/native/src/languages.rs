//! The languages of a run's texts: the summary a batch job prints at its end ("312 of 10,000
//! texts in languages the model was not trained on: ru 200, ja 112").

use std::collections::BTreeMap;

use xlmr_sentiment_core::LanguageCheck;

/// Counts of a run's language checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LanguageTally {
    /// Texts checked.
    pub texts: u64,
    /// Texts whose language was detected.
    pub detected: u64,
    /// Texts in a language the model was not trained on, by language.
    pub unsupported: BTreeMap<&'static str, u64>,
}

impl LanguageTally {
    /// Counts one text's check.
    pub fn add(&mut self, check: &LanguageCheck) {
        self.texts += 1;
        if let Some(code) = check.language {
            self.detected += 1;
            if check.language_supported == Some(false) {
                *self.unsupported.entry(code).or_default() += 1;
            }
        }
    }

    /// One line for standard error; `trained_known` says whether the model's trained languages
    /// are known (without them nothing can be called unsupported).
    pub fn summary(&self, trained_known: bool) -> String {
        let texts = group_thousands(self.texts);
        if !trained_known {
            return format!(
                "languages: detected for {} of {texts} texts; the model's trained languages are \
                 unknown, so none is called unsupported (pass --languages)",
                group_thousands(self.detected)
            );
        }
        let total: u64 = self.unsupported.values().sum();
        if total == 0 {
            return format!(
                "languages: none of {texts} texts in a language the model was not trained on \
                 ({} detected)",
                group_thousands(self.detected)
            );
        }
        let mut by_count: Vec<(&str, u64)> =
            self.unsupported.iter().map(|(&c, &n)| (c, n)).collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let list: Vec<String> = by_count
            .iter()
            .map(|(code, n)| format!("{code} {}", group_thousands(*n)))
            .collect();
        format!(
            "{} of {texts} texts in languages the model was not trained on: {}",
            group_thousands(total),
            list.join(", ")
        )
    }
}

/// `10000` as `10,000`.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(language: Option<&'static str>, supported: Option<bool>) -> LanguageCheck {
        LanguageCheck {
            language,
            language_supported: supported,
        }
    }

    #[test]
    fn summary_lists_unsupported_languages_most_first() {
        let mut tally = LanguageTally::default();
        for _ in 0..9688 {
            tally.add(&check(Some("en"), Some(true)));
        }
        for _ in 0..112 {
            tally.add(&check(Some("ja"), Some(false)));
        }
        for _ in 0..200 {
            tally.add(&check(Some("ru"), Some(false)));
        }
        assert_eq!(
            tally.summary(true),
            "312 of 10,000 texts in languages the model was not trained on: ru 200, ja 112"
        );
    }

    #[test]
    fn summary_without_trained_languages_or_unsupported_texts() {
        let mut tally = LanguageTally::default();
        tally.add(&check(Some("en"), None));
        tally.add(&check(None, None));
        assert!(tally.summary(false).contains("detected for 1 of 2 texts"));
        assert!(tally
            .summary(true)
            .starts_with("languages: none of 2 texts"));
    }
}
