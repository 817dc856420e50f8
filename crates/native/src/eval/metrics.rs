//! Classification metrics from counts alone: a confusion matrix per slice of the data, and the
//! accuracy, per-label precision/recall/F1 and macro-F1 derived from it. Pure arithmetic, no I/O.
//!
//! Definitions, as scikit-learn computes them with its default `zero_division` (which warns and
//! uses 0), for `labels` = the model's labels in `id2label` order:
//!
//! - precision = tp / (tp + fp), 0 when the label was never predicted;
//! - recall = tp / (tp + fn), 0 when the label never occurs in the gold labels;
//! - F1 = 2·tp / (2·tp + fp + fn) (the harmonic mean of the two), 0 when tp = 0, including a
//!   label that is neither predicted nor gold;
//! - macro-F1 = the unweighted mean of F1 over all the model's labels, which equals
//!   `sklearn.metrics.f1_score(gold, predicted, labels=model_labels, average="macro")`.
//!
//! Without `labels=`, scikit-learn averages only over labels seen in gold or predictions; the two
//! differ only when a label is absent from both, where this module counts an F1 of 0 so that
//! numbers from different slices (per language) are means over the same labels.

use std::collections::BTreeMap;

/// Counts of (gold, predicted) label pairs; rows are gold labels, columns predicted labels, both
/// as indices into the model's label list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confusion {
    labels: usize,
    counts: Vec<u64>,
}

impl Confusion {
    /// An empty matrix for `labels` labels.
    pub fn new(labels: usize) -> Self {
        Self {
            labels,
            counts: vec![0; labels * labels],
        }
    }

    /// Counts one text whose gold label is `gold` and whose predicted label is `predicted`.
    ///
    /// # Panics
    /// If either index is not below the number of labels (a caller bug, not a data problem).
    pub fn add(&mut self, gold: usize, predicted: usize) {
        assert!(gold < self.labels && predicted < self.labels);
        self.counts[gold * self.labels + predicted] += 1;
    }

    /// How many texts of gold label `gold` were predicted as `predicted`.
    pub fn count(&self, gold: usize, predicted: usize) -> u64 {
        self.counts[gold * self.labels + predicted]
    }

    /// The matrix as rows (gold) of columns (predicted).
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts
            .chunks(self.labels.max(1))
            .map(<[u64]>::to_vec)
            .collect()
    }

    /// Texts counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Texts whose prediction equals their gold label (the diagonal).
    pub fn correct(&self) -> u64 {
        (0..self.labels).map(|i| self.count(i, i)).sum()
    }

    /// Accuracy, per-label scores and macro-F1; see the module docs for the definitions.
    pub fn metrics(&self) -> Metrics {
        let per_label: Vec<LabelMetrics> = (0..self.labels)
            .map(|label| {
                let tp = self.count(label, label);
                let support: u64 = (0..self.labels).map(|p| self.count(label, p)).sum();
                let predicted: u64 = (0..self.labels).map(|g| self.count(g, label)).sum();
                let (fp, fn_) = (predicted - tp, support - tp);
                LabelMetrics {
                    precision: ratio(tp, predicted),
                    recall: ratio(tp, support),
                    f1: ratio(2 * tp, 2 * tp + fp + fn_),
                    support,
                    predicted,
                }
            })
            .collect();
        let macro_f1 = if per_label.is_empty() {
            0.0
        } else {
            per_label.iter().map(|m| m.f1).sum::<f64>() / per_label.len() as f64
        };
        Metrics {
            rows: self.total(),
            accuracy: ratio(self.correct(), self.total()),
            macro_f1,
            per_label,
        }
    }
}

/// `num / den`, or 0 when `den` is 0 (scikit-learn's default `zero_division` result).
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Scores of one label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelMetrics {
    /// Of the texts predicted as this label, the share whose gold label it is.
    pub precision: f64,
    /// Of the texts whose gold label this is, the share predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall: 2·tp / (2·tp + fp + fn).
    pub f1: f64,
    /// Texts whose gold label this is.
    pub support: u64,
    /// Texts predicted as this label.
    pub predicted: u64,
}

/// The scores of a confusion matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Texts counted.
    pub rows: u64,
    /// Share of texts predicted correctly (0 for no texts).
    pub accuracy: f64,
    /// Mean F1 over all the model's labels.
    pub macro_f1: f64,
    /// Per label, in the model's label order.
    pub per_label: Vec<LabelMetrics>,
}

/// One confusion matrix for the whole data and one per language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Every evaluated text.
    pub overall: Confusion,
    /// Texts by language; `None` collects texts without one. Empty when no text had a language.
    pub by_language: BTreeMap<Option<String>, Confusion>,
    labels: usize,
}

impl Tally {
    /// An empty tally for `labels` labels.
    pub fn new(labels: usize) -> Self {
        Self {
            overall: Confusion::new(labels),
            by_language: BTreeMap::new(),
            labels,
        }
    }

    /// Counts one text in the overall matrix and in its language's.
    pub fn add(&mut self, gold: usize, predicted: usize, language: Option<&str>) {
        self.overall.add(gold, predicted);
        self.by_language
            .entry(language.map(str::to_owned))
            .or_insert_with(|| Confusion::new(self.labels))
            .add(gold, predicted);
    }

    /// Whether any text had a language, i.e. whether a per-language breakdown means anything.
    pub fn has_languages(&self) -> bool {
        self.by_language.keys().any(Option::is_some)
    }

    /// Per-language matrices, languages in alphabetical order and texts without a language
    /// (`None`) last; empty when no text had a language.
    pub fn languages(&self) -> Vec<(Option<&str>, &Confusion)> {
        if !self.has_languages() {
            return Vec::new();
        }
        let named = self
            .by_language
            .iter()
            .filter_map(|(k, c)| k.as_deref().map(|k| (Some(k), c)));
        let unnamed = self.by_language.get(&None).map(|c| (None, c));
        named.chain(unnamed).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEG: usize = 0;
    const NEU: usize = 1;
    const POS: usize = 2;

    fn confusion(pairs: &[(usize, usize)]) -> Confusion {
        let mut c = Confusion::new(3);
        for &(g, p) in pairs {
            c.add(g, p);
        }
        c
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn perfect_predictions_score_one_except_absent_labels() {
        let m = confusion(&[(NEG, NEG), (NEU, NEU), (POS, POS), (POS, POS)]).metrics();
        assert_eq!(m.rows, 4);
        close(m.accuracy, 1.0);
        close(m.macro_f1, 1.0);
        assert_eq!(m.per_label[POS].support, 2);
        // Only two labels occur; the third, neither gold nor predicted, has F1 0 and counts.
        let m = confusion(&[(NEG, NEG), (NEU, NEU)]).metrics();
        close(m.accuracy, 1.0);
        close(m.per_label[POS].f1, 0.0);
        close(m.macro_f1, 2.0 / 3.0);
    }

    #[test]
    fn label_absent_from_both_counts_as_zero() {
        // gold  a a b b a b, predicted a b b b a a (labels a=NEG, b=NEU; POS absent).
        let c = confusion(&[
            (NEG, NEG),
            (NEG, NEU),
            (NEU, NEU),
            (NEU, NEU),
            (NEG, NEG),
            (NEU, NEG),
        ]);
        assert_eq!(c.rows(), [[2, 1, 0], [1, 2, 0], [0, 0, 0]]);
        let m = c.metrics();
        close(m.accuracy, 4.0 / 6.0);
        // NEG: tp 2, fp 1, fn 1 -> P = R = F1 = 2/3; NEU likewise; POS 0.
        for label in [NEG, NEU] {
            close(m.per_label[label].precision, 2.0 / 3.0);
            close(m.per_label[label].recall, 2.0 / 3.0);
            close(m.per_label[label].f1, 2.0 / 3.0);
            assert_eq!(m.per_label[label].support, 3);
        }
        assert_eq!(
            m.per_label[POS],
            LabelMetrics {
                precision: 0.0,
                recall: 0.0,
                f1: 0.0,
                support: 0,
                predicted: 0
            }
        );
        // f1_score(..., labels=[a, b, c], average="macro") = (2/3 + 2/3 + 0) / 3.
        close(m.macro_f1, 4.0 / 9.0);
    }

    #[test]
    fn never_predicted_and_never_gold_labels() {
        // gold neg neg neu neu neu, predicted neu neu neu pos neu:
        // NEG is never predicted, POS never gold.
        let m = confusion(&[(NEG, NEU), (NEG, NEU), (NEU, NEU), (NEU, POS), (NEU, NEU)]).metrics();
        close(m.accuracy, 2.0 / 5.0);
        // NEG: tp 0, fp 0, fn 2 -> precision 0/0 = 0, recall 0, F1 0.
        close(m.per_label[NEG].precision, 0.0);
        close(m.per_label[NEG].recall, 0.0);
        close(m.per_label[NEG].f1, 0.0);
        assert_eq!(
            (m.per_label[NEG].support, m.per_label[NEG].predicted),
            (2, 0)
        );
        // NEU: tp 2, fp 2, fn 1 -> P 1/2, R 2/3, F1 4/7.
        close(m.per_label[NEU].precision, 0.5);
        close(m.per_label[NEU].recall, 2.0 / 3.0);
        close(m.per_label[NEU].f1, 4.0 / 7.0);
        // POS: tp 0, fp 1, fn 0 -> precision 0, recall 0/0 = 0, F1 0.
        close(m.per_label[POS].precision, 0.0);
        close(m.per_label[POS].recall, 0.0);
        close(m.per_label[POS].f1, 0.0);
        assert_eq!(
            (m.per_label[POS].support, m.per_label[POS].predicted),
            (0, 1)
        );
        // All three labels occur, so this is also sklearn's value without labels=: 4/21.
        close(m.macro_f1, 4.0 / 21.0);
    }

    #[test]
    fn empty_matrix_scores_zero() {
        let m = Confusion::new(3).metrics();
        assert_eq!(m.rows, 0);
        close(m.accuracy, 0.0);
        close(m.macro_f1, 0.0);
    }

    #[test]
    fn splits_by_language_with_unlabelled_texts_last() {
        let mut t = Tally::new(3);
        // en: 3 texts, 2 right (neg->neg, pos->pos, neu->pos).
        t.add(NEG, NEG, Some("en"));
        t.add(POS, POS, Some("en"));
        t.add(NEU, POS, Some("en"));
        // de: 1 text, wrong.
        t.add(POS, NEG, Some("de"));
        // no language: 2 texts, right.
        t.add(NEU, NEU, None);
        t.add(NEU, NEU, None);
        assert!(t.has_languages());
        let langs = t.languages();
        let names: Vec<_> = langs.iter().map(|(l, _)| *l).collect();
        assert_eq!(names, [Some("de"), Some("en"), None]);

        let en = langs[1].1.metrics();
        assert_eq!(en.rows, 3);
        close(en.accuracy, 2.0 / 3.0);
        // NEG: 1/1/1 -> F1 1; NEU: tp 0 -> 0; POS: tp 1, fp 1, fn 0 -> 2/3.
        close(en.macro_f1, (1.0 + 0.0 + 2.0 / 3.0) / 3.0);

        let de = langs[0].1.metrics();
        close(de.accuracy, 0.0);
        close(de.macro_f1, 0.0);

        let none = langs[2].1.metrics();
        close(none.accuracy, 1.0);
        close(none.macro_f1, 1.0 / 3.0);

        let all = t.overall.metrics();
        assert_eq!(all.rows, 6);
        close(all.accuracy, 4.0 / 6.0);
        // NEG: tp 1, fp 1, fn 0 -> 2/3; NEU: tp 2, fp 0, fn 1 -> 4/5; POS: tp 1, fp 1, fn 1 -> 1/2.
        close(all.macro_f1, (2.0 / 3.0 + 4.0 / 5.0 + 0.5) / 3.0);
    }

    #[test]
    fn no_languages_means_no_breakdown() {
        let mut t = Tally::new(2);
        t.add(0, 1, None);
        assert!(!t.has_languages());
        assert!(t.languages().is_empty());
    }
}
