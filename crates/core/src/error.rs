//! The one error type of the core. Every failure a user can cause (a bad file, a bad option)
//! has its own variant, so adapters can map it to an exit code, an HTTP status or a JS `Error`.

/// Everything that can go wrong while loading a model or classifying text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `config.json` is not valid JSON or lacks a required field.
    #[error("config.json is malformed: {0}")]
    MalformedConfig(String),

    /// `config.json` parses but describes something this crate cannot run or that is inconsistent.
    #[error("config.json is invalid: {0}")]
    InvalidConfig(String),

    /// `tokenizer.json` cannot be parsed or used.
    #[error("tokenizer.json is invalid: {0}")]
    InvalidTokenizer(String),

    /// `sentencepiece.bpe.model` cannot be converted to a tokenizer: not a SentencePiece model,
    /// not a Unigram one, not laid out like XLM-R's, or with a damaged charsmap.
    #[error("sentencepiece.bpe.model is invalid: {0}")]
    InvalidSentencePiece(String),

    /// The tokenizer can emit ids that the word-embedding table has no row for.
    #[error(
        "tokenizer.json has {tokenizer_vocab} tokens but the model's word embeddings have only \
         {embedding_rows} rows: the tokenizer belongs to another model"
    )]
    VocabularyTooLarge {
        /// Vocabulary size of the tokenizer, added tokens included.
        tokenizer_vocab: usize,
        /// Rows of `word_embeddings.weight`.
        embedding_rows: usize,
    },

    /// The weights file is neither safetensors nor a PyTorch zip archive.
    #[error("unrecognised weights format: expected model.safetensors or pytorch_model.bin ({0})")]
    UnknownWeightsFormat(String),

    /// The weights file is recognised but corrupt or truncated.
    #[error("corrupt {format} weights: {reason}")]
    CorruptWeights {
        /// `safetensors` or `pytorch`.
        format: &'static str,
        /// What is wrong, in words.
        reason: String,
    },

    /// A tensor the architecture needs is not in the weights file.
    #[error("the weights lack tensor `{0}`")]
    MissingTensor(String),

    /// A tensor's shape disagrees with `config.json`.
    #[error("tensor `{name}` has shape {actual:?} but config.json implies {expected:?}")]
    ShapeMismatch {
        /// Tensor name as stored in the file.
        name: String,
        /// Shape implied by `config.json`.
        expected: Vec<usize>,
        /// Shape found in the file.
        actual: Vec<usize>,
    },

    /// `id2label` has a different number of labels than the classification head produces.
    #[error(
        "config.json's id2label names {labels} labels but the classification head outputs {head} \
         scores"
    )]
    LabelCountMismatch {
        /// Number of entries in `id2label`.
        labels: usize,
        /// Rows of `classifier.out_proj.weight`.
        head: usize,
    },

    /// A classification option is out of range (for example `max_length` above the model's limit).
    #[error("invalid option: {0}")]
    InvalidOption(String),

    /// An options object is not one the caller's surface accepts (an unknown key, a value of
    /// the wrong type).
    #[error("invalid options: {0}")]
    MalformedOptions(String),

    /// A text has more tokens than the limit and the options ask not to truncate it.
    #[error(
        "the text has {tokens} tokens, more than the limit of {limit} (<s> and </s> included)"
    )]
    TextTooLong {
        /// Its token count before truncation, `<s>` and `</s>` included.
        tokens: usize,
        /// The token limit in force.
        limit: usize,
    },

    /// The tokenizer failed on an input text.
    #[error("tokenization failed: {0}")]
    Tokenization(String),

    /// The tensor backend failed while running the model.
    #[error("inference failed: {0}")]
    Inference(#[from] candle_core::Error),

    /// An input the model has no row for: a token id past the word embeddings, a position past
    /// the position embeddings (the core's own checks keep user input from getting here).
    #[error("input out of the model's range: {0}")]
    OutOfRange(String),

    /// Weights read in place (a memory map, a JS buffer) could not be read while running.
    #[error("cannot read the weights: {0}")]
    WeightsRead(String),

    /// A compute kernel was handed inputs of the wrong size (a bug in this crate, not bad input).
    #[error("kernel failed: {0}")]
    Kernel(String),

    /// The GPU that was asked for cannot be used: no adapter, no device on it, a missing
    /// feature or limit, or a model it cannot take.
    #[error("no usable GPU: {0}")]
    GpuUnavailable(String),

    /// A pass on the GPU failed (the device lost, out of memory); the classifier redoes it on
    /// the CPU, so callers see this only from the GPU layer itself.
    #[error("the GPU pass failed: {0}")]
    Gpu(String),
}

/// Result with the core's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
