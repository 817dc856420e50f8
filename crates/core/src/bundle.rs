//! Model bundles: one GGUF file holding the tensors (f32, f16, or quantized to Q8_0 / 4 bits)
//! plus `config.json` and `tokenizer.json` as metadata strings. One file is what a web page
//! downloads and caches, and what a server is pointed at.

use std::collections::HashMap;
use std::io::{Seek, Write};
use std::str::FromStr;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::language::TrainedLanguages;
use crate::model::XlmRobertaForSequenceClassification;
use crate::tokenize::TextTokenizer;
use crate::weights::{gguf, TensorStore, WeightsSource};

/// Metadata key holding `config.json`.
pub const CONFIG_KEY: &str = "xlmr_sentiment.config_json";
/// Metadata key holding `tokenizer.json`, deflated (an array of u8). XLM-R's is 17 MB of JSON,
/// 6% of a q8_0 bundle; compressed, the bundle stays under its 300 MB budget.
pub const TOKENIZER_KEY: &str = "xlmr_sentiment.tokenizer_json.deflate";
/// The most a bundle's tokenizer may inflate to: ten times XLM-R's, and a bound on a bomb.
const MAX_TOKENIZER_BYTES: usize = 200_000_000;
/// Metadata key holding the bundle layout version.
pub const VERSION_KEY: &str = "xlmr_sentiment.bundle_version";
/// Metadata key holding the precision the bundle was packed at.
pub const PRECISION_KEY: &str = "xlmr_sentiment.precision";
/// Metadata key holding the Hugging Face model id the bundle was packed from, if known.
pub const MODEL_ID_KEY: &str = "xlmr_sentiment.source_model_id";
/// Metadata key holding the commit the bundle was packed from, if known.
pub const REVISION_KEY: &str = "xlmr_sentiment.source_revision";
/// Metadata key holding the languages the model was trained on (ISO 639-1, comma-separated), if
/// known.
pub const LANGUAGES_KEY: &str = "xlmr_sentiment.trained_languages";
/// Metadata key holding the XXH3-64 digest of the bundle's tensor data: every tensor's bytes, in
/// file order. A copy damaged inside a tensor (a flipped bit on disk, a cached download written
/// over) loads numbers that are wrong but well-formed, so only a digest finds it. Bundles packed
/// before this key existed load unchecked.
pub const DIGEST_KEY: &str = "xlmr_sentiment.tensor_data_xxh3";
const VERSION: u32 = 1;

/// Bytes hashed at a time when a digest reads a tensor back from its source.
const DIGEST_READ: usize = 1 << 20;

/// The digest of a bundle's tensor data, built tensor by tensor as they are read.
pub(crate) struct TensorDigest {
    hasher: twox_hash::XxHash3_64,
    buffer: Vec<u8>,
}

impl TensorDigest {
    pub(crate) fn new() -> Self {
        Self {
            hasher: twox_hash::XxHash3_64::with_seed(0),
            buffer: Vec::new(),
        }
    }

    /// Adds the bytes of the tensor `info` (read from `source`, a megabyte at a time).
    pub(crate) fn add(
        &mut self,
        source: &dyn WeightsSource,
        info: &gguf::TensorInfo,
    ) -> Result<()> {
        let (start, size) = info.extent();
        let mut at = 0;
        while at < size {
            let n = (size - at).min(DIGEST_READ as u64) as usize;
            self.buffer.resize(n, 0);
            source
                .read_at(start + at, &mut self.buffer)
                .map_err(|e| gguf::corrupt(e.to_string()))?;
            std::hash::Hasher::write(&mut self.hasher, &self.buffer);
            at += n as u64;
        }
        Ok(())
    }

    /// Checks the digest against the one the bundle was packed with, if it has one.
    pub(crate) fn check(&self, expected: Option<u64>) -> Result<()> {
        let Some(expected) = expected else {
            return Ok(());
        };
        let read = std::hash::Hasher::finish(&self.hasher);
        // The fuzz targets (built with `--cfg fuzzing`) change tensor bytes to reach the code that
        // reads them; comparing there would stop every such input at this line.
        if read == expected || cfg!(fuzzing) {
            return Ok(());
        }
        Err(Error::CorruptWeights {
            format: "gguf",
            reason: format!(
                "the bundle is damaged: its tensor data does not match the digest it was packed \
                 with (xxh3 {expected:016x}, read {read:016x})"
            ),
        })
    }
}

/// How the weight matrices of a bundle are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats: exact.
    F32,
    /// 16-bit floats: half the size; expanded to f32 when loaded.
    F16,
    /// ggml Q8_0: 8-bit values with one f16 scale per 32 (8.5 bits per weight).
    Q8_0,
    /// 4-bit: ggml Q4_K (super-blocks of 256 with 6-bit sub-block scales, 4.5 bits per weight)
    /// where rows are a multiple of 256 long, else Q4_0 (blocks of 32).
    Q4,
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            "q8_0" | "q8" => Ok(Self::Q8_0),
            "q4" | "q4_k" => Ok(Self::Q4),
            _ => Err(Error::InvalidOption(format!(
                "precision `{s}`: expected f32, f16, q8_0 or q4"
            ))),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Q8_0 => "q8_0",
            Self::Q4 => "q4",
        })
    }
}

impl Precision {
    /// The storage type of a weight matrix whose rows hold `cols` values. Quantized blocks must
    /// not straddle rows, so a row length that no block size divides falls back to f16.
    fn matrix_dtype(self, cols: usize) -> GgmlDType {
        match self {
            Self::F32 => GgmlDType::F32,
            Self::F16 => GgmlDType::F16,
            Self::Q8_0 if cols.is_multiple_of(32) => GgmlDType::Q8_0,
            Self::Q4 if cols.is_multiple_of(256) => GgmlDType::Q4K,
            Self::Q4 if cols.is_multiple_of(32) => GgmlDType::Q4_0,
            Self::Q8_0 | Self::Q4 => GgmlDType::F16,
        }
    }

    /// The storage type of the small tables (position and token-type embeddings).
    fn table_dtype(self) -> GgmlDType {
        match self {
            Self::F32 => GgmlDType::F32,
            _ => GgmlDType::F16,
        }
    }
}

/// Where a bundle's weights came from, recorded in its metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleSource {
    /// Hugging Face model id.
    pub model_id: Option<String>,
    /// Commit hash.
    pub revision: Option<String>,
    /// The languages the model was trained on, when known (the default model's manifest records
    /// them; `pack --languages` sets them for any other).
    pub trained_languages: Option<TrainedLanguages>,
}

/// What `pack` wrote: tensor counts by storage type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackSummary {
    /// (storage type, tensors, parameters), one entry per type used.
    pub by_type: Vec<(String, usize, usize)>,
}

/// Which tensors are weight matrices (quantized in a compact bundle): every 2-D tensor but the
/// small position and token-type tables, which are looked up by index like the word
/// embeddings but are tiny.
fn is_matrix(name: &str, dims: &[usize]) -> bool {
    dims.len() == 2
        && !name.contains("position_embeddings")
        && !name.contains("token_type_embeddings")
}

/// Writes a bundle of the model in `config`, `tokenizer` and `weights` (any weights format)
/// at `precision`. The files are checked to be a loadable model first.
pub fn write_bundle<W: Write + Seek>(
    out: &mut W,
    config: &[u8],
    tokenizer: &[u8],
    weights: &dyn WeightsSource,
    precision: Precision,
    source: &BundleSource,
) -> Result<PackSummary> {
    let parsed = Config::from_json(config)?;
    TextTokenizer::from_json(tokenizer)?;
    let store = TensorStore::from_source(weights, XlmRobertaForSequenceClassification::ROW_TABLES)?;
    // Building the model checks every name and shape against the config. The model takes the
    // tensors it uses out of its store, so it gets a second store sharing the same storage.
    crate::model::XlmRobertaForSequenceClassification::new(
        &parsed,
        &TensorStore::from_tensors(store.entries()),
    )?;

    let mut entries = store.entries();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut tensors = Vec::with_capacity(entries.len());
    let mut summary: Vec<(String, usize, usize)> = Vec::new();
    for (name, stored) in entries {
        let tensor = stored.to_dense()?;
        let dims = tensor.dims().to_vec();
        let dtype = if is_matrix(&name, &dims) {
            precision.matrix_dtype(dims[1])
        } else if dims.len() == 2 {
            precision.table_dtype()
        } else {
            GgmlDType::F32
        };
        let params = tensor.elem_count();
        let label = format!("{dtype:?}");
        match summary.iter_mut().find(|(t, _, _)| *t == label) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += params;
            }
            None => summary.push((label, 1, params)),
        }
        tensors.push((name, QTensor::quantize(&tensor, dtype)?));
    }
    drop(store);

    let text = |bytes: &[u8], what: &str| {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::InvalidOption(format!("{what} is not UTF-8")))
    };
    let mut metadata = vec![
        (VERSION_KEY, gguf_file::Value::U32(VERSION)),
        (
            "general.architecture",
            gguf_file::Value::String("xlm-roberta".into()),
        ),
        (
            PRECISION_KEY,
            gguf_file::Value::String(precision.to_string()),
        ),
        (
            CONFIG_KEY,
            gguf_file::Value::String(text(config, "config.json")?),
        ),
        (TOKENIZER_KEY, deflated(&text(tokenizer, "tokenizer.json")?)),
    ];
    if let Some(id) = &source.model_id {
        metadata.push((MODEL_ID_KEY, gguf_file::Value::String(id.clone())));
    }
    if let Some(revision) = &source.revision {
        metadata.push((REVISION_KEY, gguf_file::Value::String(revision.clone())));
    }
    if let Some(languages) = &source.trained_languages {
        metadata.push((
            LANGUAGES_KEY,
            gguf_file::Value::String(languages.to_string()),
        ));
    }
    // candle writes the tensors in this order, each at a higher offset: the file order.
    let mut digest = twox_hash::XxHash3_64::with_seed(0);
    for (_, tensor) in &tensors {
        std::hash::Hasher::write(&mut digest, &tensor.data()?);
    }
    metadata.push((
        DIGEST_KEY,
        gguf_file::Value::U64(std::hash::Hasher::finish(&digest)),
    ));
    let metadata_refs: Vec<(&str, &gguf_file::Value)> =
        metadata.iter().map(|(k, v)| (*k, v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    gguf_file::write(out, &metadata_refs, &tensor_refs)?;
    Ok(PackSummary { by_type: summary })
}

/// `text` deflated (best compression) as a GGUF array of u8.
fn deflated(text: &str) -> gguf_file::Value {
    let packed = miniz_oxide::deflate::compress_to_vec(text.as_bytes(), 10);
    gguf_file::Value::Array(packed.into_iter().map(gguf_file::Value::U8).collect())
}

/// A bundle, read: its files and its tensors.
pub(crate) struct Bundle {
    pub config: Vec<u8>,
    pub tokenizer: Vec<u8>,
    pub store: TensorStore,
    pub info: BundleInfo,
}

/// What a bundle says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInfo {
    /// The precision it was packed at.
    pub precision: String,
    /// Where its weights came from, when known.
    pub source: BundleSource,
}

/// A bundle's files, from its header's metadata.
pub(crate) struct BundleFiles {
    pub config: Vec<u8>,
    /// Inflated.
    pub tokenizer: Vec<u8>,
    pub info: BundleInfo,
    /// The tensor data's digest ([`DIGEST_KEY`]), when the bundle records one.
    pub digest: Option<u64>,
}

/// Reads a bundle written by [`write_bundle`]. Its metadata is checked before any tensor is
/// read, so another kind of GGUF file fails at once.
pub(crate) fn read_bundle(source: &dyn WeightsSource) -> Result<Bundle> {
    let header = gguf::whole_header(source)?;
    let files = bundle_files(&header.metadata)?;
    let mut digest = TensorDigest::new();
    let mut scratch = Vec::new();
    let tensors = header
        .tensors
        .into_iter()
        .map(|info| {
            digest.add(source, &info)?;
            gguf::read_tensor(
                source,
                info,
                &mut scratch,
                XlmRobertaForSequenceClassification::ROW_TABLES,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    digest.check(files.digest)?;
    Ok(Bundle {
        config: files.config,
        tokenizer: files.tokenizer,
        store: TensorStore::from_tensors(tensors),
        info: files.info,
    })
}

pub(crate) fn truncated(needed: u64, received: u64) -> Error {
    Error::CorruptWeights {
        format: "gguf",
        reason: format!("the bundle is truncated: {received} bytes, its header needs {needed}"),
    }
}

pub(crate) fn bundle_files(metadata: &HashMap<String, gguf::MetaValue>) -> Result<BundleFiles> {
    let text = |key: &str| match metadata.get(key) {
        Some(gguf::MetaValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let not_ours = |what: &str| Error::CorruptWeights {
        format: "gguf",
        reason: format!("this GGUF file is not an xlmr-sentiment bundle: it has no {what}"),
    };
    match metadata.get(VERSION_KEY) {
        Some(gguf::MetaValue::Int(v)) if *v == i128::from(VERSION) => {}
        Some(gguf::MetaValue::Int(v)) => {
            return Err(Error::CorruptWeights {
                format: "gguf",
                reason: format!("bundle version {v}; this version reads {VERSION}"),
            })
        }
        _ => return Err(not_ours(VERSION_KEY)),
    }
    let config = text(CONFIG_KEY).ok_or_else(|| not_ours(CONFIG_KEY))?;
    let tokenizer = match metadata.get(TOKENIZER_KEY) {
        Some(gguf::MetaValue::Bytes(packed)) => {
            miniz_oxide::inflate::decompress_to_vec_with_limit(packed, MAX_TOKENIZER_BYTES)
                .map_err(|e| Error::CorruptWeights {
                    format: "gguf",
                    reason: format!("the bundle's tokenizer does not inflate: {e}"),
                })?
        }
        _ => return Err(not_ours(TOKENIZER_KEY)),
    };
    let info = BundleInfo {
        precision: text(PRECISION_KEY).unwrap_or_else(|| "unknown".into()),
        source: BundleSource {
            model_id: text(MODEL_ID_KEY),
            revision: text(REVISION_KEY),
            trained_languages: text(LANGUAGES_KEY)
                .map(|list| TrainedLanguages::parse(&list))
                .transpose()
                .map_err(|e| Error::CorruptWeights {
                    format: "gguf",
                    reason: format!("the bundle's trained languages: {e}"),
                })?,
        },
    };
    let digest = match metadata.get(DIGEST_KEY) {
        None => None,
        Some(gguf::MetaValue::Int(d)) if u64::try_from(*d).is_ok() => Some(*d as u64),
        Some(other) => {
            return Err(Error::CorruptWeights {
                format: "gguf",
                reason: format!("{DIGEST_KEY} is {other:?}, not a u64"),
            })
        }
    };
    Ok(BundleFiles {
        config: config.into_bytes(),
        tokenizer,
        info,
        digest,
    })
}
