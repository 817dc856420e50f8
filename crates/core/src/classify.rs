//! Text in, predictions out: preprocessing, tokenization with truncation, length-sorted batches,
//! the forward pass, and scores as the `transformers` text-classification pipeline computes them.

use crate::bundle::BundleInfo;
use crate::config::{Config, ScoreFunction};
use crate::device::{DeviceReport, Placement};
use crate::error::{Error, Result};
use crate::language::{LanguageCheck, TrainedLanguages};
use crate::model::XlmRobertaForSequenceClassification;
use crate::options::ClassifyOptions;
use crate::prediction::Prediction;
use crate::preprocess::preprocess_tweet;
use crate::tokenize::{Encoded, TextTokenizer};

/// What became of one text: its prediction, or why it has none (a text the tokenizer rejects,
/// an encoded sequence this model's tokenizer cannot have produced). One text's failure never
/// takes its neighbours' predictions with it.
pub type Outcome = Result<Prediction>;

/// A loaded model: config, tokenizer and weights, ready to classify.
#[derive(Debug)]
pub struct Classifier {
    config: Config,
    tokenizer: TextTokenizer,
    model: XlmRobertaForSequenceClassification,
    placement: Placement,
    bundle: Option<BundleInfo>,
    trained_languages: Option<TrainedLanguages>,
}

impl Classifier {
    /// A classifier of parts built separately, checked to agree with each other.
    pub(crate) fn from_parts(
        config: Config,
        tokenizer: TextTokenizer,
        model: XlmRobertaForSequenceClassification,
        placement: Placement,
        bundle: Option<BundleInfo>,
    ) -> Result<Self> {
        // The embedding table now has exactly config.vocab_size rows.
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(Error::VocabularyTooLarge {
                tokenizer_vocab: tokenizer.vocab_size(),
                embedding_rows: config.vocab_size,
            });
        }
        if tokenizer.added_tokens() >= config.max_input_tokens() {
            return Err(Error::InvalidConfig(
                "the model's token limit leaves no room for text".into(),
            ));
        }
        let trained_languages = bundle
            .as_ref()
            .and_then(|b| b.source.trained_languages.clone());
        Ok(Self {
            config,
            tokenizer,
            model,
            placement,
            bundle,
            trained_languages,
        })
    }

    /// Where this classifier runs its batches, and why (the GPU's name, the crossover `auto`
    /// measured, the reason for the CPU).
    pub fn device(&self) -> DeviceReport {
        self.placement.report()
    }

    /// For a model loaded from a bundle: its precision and source.
    pub fn bundle_info(&self) -> Option<&BundleInfo> {
        self.bundle.as_ref()
    }

    /// The languages the model was trained on, when known: from a bundle's record or set with
    /// [`Classifier::set_trained_languages`]. Never guessed.
    pub fn trained_languages(&self) -> Option<&TrainedLanguages> {
        self.trained_languages.as_ref()
    }

    /// Sets (or, with `None`, forgets) the languages the model was trained on.
    pub fn set_trained_languages(&mut self, languages: Option<TrainedLanguages>) {
        self.trained_languages = languages;
    }

    /// `text`'s detected language and whether the model was trained on it (what
    /// [`ClassifyOptions::language`] adds to a prediction). The raw text is checked, before
    /// preprocessing.
    pub fn check_language(&self, text: &str) -> LanguageCheck {
        LanguageCheck::of(text, self.trained_languages.as_ref())
    }

    /// The validated config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Label names in output order.
    pub fn labels(&self) -> &[String] {
        &self.config.labels
    }

    /// The longest input the model accepts, in tokens, `<s>` and `</s>` included.
    pub fn max_input_tokens(&self) -> usize {
        self.config.max_input_tokens()
    }

    fn token_limit(&self, options: &ClassifyOptions) -> Result<usize> {
        let model_limit = self.max_input_tokens();
        match options.max_length {
            None => Ok(model_limit),
            Some(n) if n > model_limit => Err(Error::InvalidOption(format!(
                "max_length {n} exceeds the model's limit of {model_limit} tokens"
            ))),
            Some(n) if n <= self.tokenizer.added_tokens() => Err(Error::InvalidOption(format!(
                "max_length {n} leaves no room for text after {} special tokens",
                self.tokenizer.added_tokens()
            ))),
            Some(n) => Ok(n),
        }
    }

    /// Checks options against this model without classifying anything.
    pub fn check_options(&self, options: &ClassifyOptions) -> Result<()> {
        if options.batch_size == 0 {
            return Err(Error::InvalidOption("batch_size must be at least 1".into()));
        }
        self.token_limit(options).map(|_| ())
    }

    /// `text` ready for the model under `options`: preprocessed, tokenized, truncated to the
    /// token limit (with the count before truncation; refused instead without
    /// [`ClassifyOptions::truncate`]), and with its language checked when
    /// [`ClassifyOptions::language`] asks for it (on the raw text, before preprocessing).
    pub fn encode(&self, text: &str, options: &ClassifyOptions) -> Result<Encoded> {
        let limit = self.token_limit(options)?;
        let mut encoded = if options.preprocess {
            self.tokenizer.encode(&preprocess_tweet(text), limit)
        } else {
            self.tokenizer.encode(text, limit)
        }?;
        if encoded.truncated && !options.truncate {
            return Err(Error::TextTooLong {
                tokens: encoded.untruncated_tokens,
                limit,
            });
        }
        if options.language {
            encoded.language = Some(self.check_language(text));
        }
        Ok(encoded)
    }

    /// Classifies texts; one prediction per text, in input order, or the first text's error
    /// when any text cannot be classified ([`Classifier::classify_each`] keeps the others).
    ///
    /// Texts are sorted by token count and batched; a batch's texts are packed one after another
    /// (no padding) and attend only to themselves, so a text's scores do not depend on its batch
    /// beyond the last bits of f32 rounding.
    pub fn classify<S: AsRef<str>>(
        &self,
        texts: &[S],
        options: &ClassifyOptions,
    ) -> Result<Vec<Prediction>> {
        self.classify_each(texts, options)?.into_iter().collect()
    }

    /// Classifies texts with one [`Outcome`] per text, in input order. The call itself fails
    /// only for what no text can fix: options this model refuses, or the model failing.
    pub fn classify_each<S: AsRef<str>>(
        &self,
        texts: &[S],
        options: &ClassifyOptions,
    ) -> Result<Vec<Outcome>> {
        let (ready, slots) = self.encode_all(texts, options)?;
        Ok(merge(slots, self.classify_encoded(&ready, options)?))
    }

    /// [`Classifier::classify`], each GPU pass awaited (in a browser, where it cannot block).
    #[cfg(feature = "gpu")]
    pub async fn classify_async<S: AsRef<str>>(
        &self,
        texts: &[S],
        options: &ClassifyOptions,
    ) -> Result<Vec<Prediction>> {
        let (ready, slots) = self.encode_all(texts, options)?;
        let mut plan = self.plan(&ready, options)?;
        for batch in 0..plan.batches.len() {
            let sequences = plan.sequences(&ready, batch);
            let logits = self
                .placement
                .forward_async(&self.model, &ids_of(&sequences))
                .await?;
            plan.settle(batch, self.predictions(&sequences, logits, plan.function));
        }
        merge(slots, plan.finish()).into_iter().collect()
    }

    /// The GPU's warm-up where it must be awaited (a browser; natively it ran at load): until
    /// then batches run on the CPU. With `auto` this measures the crossover, and may leave
    /// every batch on the CPU, saying why in [`Classifier::device`].
    #[cfg(feature = "gpu")]
    pub async fn calibrate_device(&mut self) -> Result<()> {
        let report = self.device();
        let placement = std::mem::replace(&mut self.placement, Placement::Cpu(report.clone()));
        match placement
            .calibrate(&self.model, self.config.vocab_size)
            .await
        {
            Ok(placement) => {
                self.placement = placement;
                Ok(())
            }
            Err(error) => {
                // `gpu` was asked for and failed: the CPU runs every batch, and says why.
                self.placement = Placement::Cpu(DeviceReport {
                    adapter: report.adapter,
                    ..DeviceReport::cpu(
                        report.requested,
                        Some(format!("the GPU failed its warm-up: {error}")),
                    )
                });
                Err(error)
            }
        }
    }

    /// Every text encoded: the encodings, and per text `Ok(())` where its encoding went into
    /// them, else why it has none.
    fn encode_all<S: AsRef<str>>(
        &self,
        texts: &[S],
        options: &ClassifyOptions,
    ) -> Result<(Vec<Encoded>, Vec<Result<()>>)> {
        self.check_options(options)?;
        let mut ready = Vec::with_capacity(texts.len());
        let slots: Vec<Result<()>> = texts
            .iter()
            .map(|t| self.encode(t.as_ref(), options).map(|e| ready.push(e)))
            .collect();
        Ok((ready, slots))
    }

    /// Classifies texts already prepared with [`Classifier::encode`] (so a server can tokenize
    /// on request threads and batch on its model thread): one [`Outcome`] per sequence, in
    /// order; a sequence that this model's tokenizer cannot have produced is refused alone.
    /// Uses `options.batch_size`, `max_batch_tokens` and `function`; each prediction carries
    /// its sequence's language check.
    pub fn classify_encoded(
        &self,
        encoded: &[Encoded],
        options: &ClassifyOptions,
    ) -> Result<Vec<Outcome>> {
        let mut plan = self.plan(encoded, options)?;
        for batch in 0..plan.batches.len() {
            let sequences = plan.sequences(encoded, batch);
            let predictions = self.forward(&sequences, plan.function)?;
            plan.settle(batch, predictions);
        }
        Ok(plan.finish())
    }

    /// The batches of `encoded` under `options`: sorted by length, each within
    /// `options.batch_size` texts and `max_batch_tokens` tokens; refused sequences settled.
    fn plan(&self, encoded: &[Encoded], options: &ClassifyOptions) -> Result<Plan> {
        self.check_options(options)?;
        let function = options
            .function
            .unwrap_or_else(|| self.config.default_score_function());
        let outcomes: Vec<Option<Outcome>> =
            encoded.iter().map(|e| self.refusal(e).map(Err)).collect();
        let mut order: Vec<usize> = (0..encoded.len())
            .filter(|&i| outcomes[i].is_none())
            .collect();
        order.sort_by_key(|&i| encoded[i].ids.len());

        let mut batches = Vec::new();
        let mut start = 0;
        while start < order.len() {
            // Batches are packed, not padded: their activations grow with the sum of the texts'
            // tokens, which is what the limit counts.
            let mut end = start + 1;
            let mut tokens = encoded[order[start]].ids.len();
            while end < order.len()
                && end - start < options.batch_size
                && tokens + encoded[order[end]].ids.len() <= options.max_batch_tokens
            {
                tokens += encoded[order[end]].ids.len();
                end += 1;
            }
            batches.push(order[start..end].to_vec());
            start = end;
        }
        Ok(Plan {
            outcomes,
            batches,
            function,
        })
    }

    /// Runs exactly these sequences as one forward pass, in this order, for a caller that forms
    /// its own batches (the server's batcher): one [`Outcome`] per sequence; a sequence that
    /// this model's tokenizer cannot have produced is refused alone and leaves the batch.
    pub fn classify_batch(
        &self,
        batch: &[&Encoded],
        function: ScoreFunction,
    ) -> Result<Vec<Outcome>> {
        let refusals: Vec<Option<Error>> = batch.iter().map(|e| self.refusal(e)).collect();
        let valid: Vec<&Encoded> = batch
            .iter()
            .zip(&refusals)
            .filter(|(_, r)| r.is_none())
            .map(|(e, _)| *e)
            .collect();
        let mut predictions = if valid.is_empty() {
            Vec::new()
        } else {
            self.forward(&valid, function)?
        }
        .into_iter();
        Ok(refusals
            .into_iter()
            .map(|r| match r {
                Some(error) => Err(error),
                None => Ok(predictions
                    .next()
                    .expect("one prediction per valid sequence")),
            })
            .collect())
    }

    /// Why this model refuses a sequence as input, if it does.
    fn refusal(&self, encoded: &Encoded) -> Option<Error> {
        let max_ids = self.config.vocab_size as u32;
        let valid = !encoded.ids.is_empty()
            && encoded.ids.len() <= self.config.max_input_tokens()
            && encoded.ids.iter().all(|&id| id < max_ids);
        (!valid).then(|| {
            Error::InvalidOption(format!(
                "an encoded sequence of {} ids is not one this model's tokenizer produces",
                encoded.ids.len()
            ))
        })
    }

    /// One forward pass over valid sequences, packed one after another.
    fn forward(&self, batch: &[&Encoded], function: ScoreFunction) -> Result<Vec<Prediction>> {
        let logits = self.placement.forward(&self.model, &ids_of(batch))?;
        Ok(self.predictions(batch, logits, function))
    }

    fn predictions(
        &self,
        batch: &[&Encoded],
        logits: Vec<Vec<f32>>,
        function: ScoreFunction,
    ) -> Vec<Prediction> {
        batch
            .iter()
            .zip(logits)
            .map(|(e, row)| Prediction::from_logits(&self.config.labels, &row, function, e))
            .collect()
    }
}

fn ids_of<'a>(batch: &[&'a Encoded]) -> Vec<&'a [u32]> {
    batch.iter().map(|e| e.ids.as_slice()).collect()
}

/// Per text, its slot's error or the next outcome.
fn merge(slots: Vec<Result<()>>, outcomes: Vec<Outcome>) -> Vec<Outcome> {
    let mut outcomes = outcomes.into_iter();
    slots
        .into_iter()
        .map(|slot| slot.and_then(|()| outcomes.next().expect("one outcome per encoded text")))
        .collect()
}

/// A call's batches, and each sequence's outcome as the batches run.
struct Plan {
    outcomes: Vec<Option<Outcome>>,
    /// Indices into the encoded sequences, one list per forward pass.
    batches: Vec<Vec<usize>>,
    function: ScoreFunction,
}

impl Plan {
    fn sequences<'a>(&self, encoded: &'a [Encoded], batch: usize) -> Vec<&'a Encoded> {
        self.batches[batch].iter().map(|&i| &encoded[i]).collect()
    }

    fn settle(&mut self, batch: usize, predictions: Vec<Prediction>) {
        for (&i, prediction) in self.batches[batch].iter().zip(predictions) {
            self.outcomes[i] = Some(Ok(prediction));
        }
    }

    fn finish(self) -> Vec<Outcome> {
        self.outcomes
            .into_iter()
            .map(|o| o.expect("every sequence is refused or in one batch"))
            .collect()
    }
}
