//! Loading: a model folder's files, or a bundle whole or as it arrives, assembled into a
//! [`Classifier`]. The bundle's format (its keys, writing and reading it) is `bundle.rs`'s; the
//! tokenizer is built beside the model's layers in one way, [`TokenizerBuild`].

use crate::bundle::{bundle_files, read_bundle, truncated, BundleInfo, TensorDigest};
use crate::classify::Classifier;
use crate::config::Config;
use crate::device::DeviceRequest;
use crate::error::{Error, Result};
use crate::model::XlmRobertaForSequenceClassification;
use crate::tokenize::TextTokenizer;
use crate::weights::{gguf, ChunkedBytes, Stored, TensorStore, WeightsSource};

/// The files of a Hugging Face model folder, as bytes.
#[derive(Debug, Clone, Copy)]
pub struct ModelFiles<'a> {
    /// `config.json`.
    pub config: &'a [u8],
    /// `tokenizer.json`.
    pub tokenizer: &'a [u8],
    /// `model.safetensors` or `pytorch_model.bin` (recognised by content).
    pub weights: &'a [u8],
}

impl Classifier {
    /// Loads a model from the bytes of its files, checking that they agree with each other.
    /// The weights are copied into the model; the caller's buffers can be dropped afterwards.
    pub fn load(files: ModelFiles<'_>) -> Result<Self> {
        Self::load_with(files, &DeviceRequest::cpu())
    }

    /// [`Classifier::load`] on the device `device` asks for.
    pub fn load_with(files: ModelFiles<'_>, device: &DeviceRequest) -> Result<Self> {
        Self::load_from_source_with(files.config, files.tokenizer, &files.weights, device)
    }

    /// Like [`Classifier::load`], with the weights read range by range from `weights`, each
    /// tensor straight into the model's memory: the way to load without first holding a second
    /// whole copy of the file (the wasm adapter reads from a JS `Uint8Array` this way).
    pub fn load_from_source(
        config: &[u8],
        tokenizer: &[u8],
        weights: &dyn WeightsSource,
    ) -> Result<Self> {
        Self::load_from_source_with(config, tokenizer, weights, &DeviceRequest::cpu())
    }

    /// [`Classifier::load_from_source`] on the device `device` asks for.
    pub fn load_from_source_with(
        config: &[u8],
        tokenizer: &[u8],
        weights: &dyn WeightsSource,
        device: &DeviceRequest,
    ) -> Result<Self> {
        let store =
            TensorStore::from_source(weights, XlmRobertaForSequenceClassification::ROW_TABLES)?;
        Self::assemble(config, tokenizer, store, None, device)
    }

    /// Loads a bundle written by [`crate::write_bundle`] (`xlmr-sentiment pack`): one GGUF file
    /// with the tensors, quantized or not, and `config.json` and `tokenizer.json` inside.
    /// Quantized matrices stay small in memory: linear layers as int8, the word embeddings in
    /// their blocks.
    pub fn load_bundle(bundle: &dyn WeightsSource) -> Result<Self> {
        Self::load_bundle_with(bundle, &DeviceRequest::cpu())
    }

    /// [`Classifier::load_bundle`] on the device `device` asks for.
    pub fn load_bundle_with(bundle: &dyn WeightsSource, device: &DeviceRequest) -> Result<Self> {
        let bundle = read_bundle(bundle)?;
        Self::assemble(
            &bundle.config,
            &bundle.tokenizer,
            bundle.store,
            Some(bundle.info),
            device,
        )
    }

    fn assemble(
        config: &[u8],
        tokenizer: &[u8],
        weights: TensorStore,
        bundle: Option<BundleInfo>,
        device: &DeviceRequest,
    ) -> Result<Self> {
        let config = Config::from_json(config)?;
        let tokenizer = TokenizerBuild::start(tokenizer.to_vec())?;
        Self::place(config, tokenizer.wait()?, weights, bundle, device)
    }

    /// The model's layers built from `weights` and placed on `device`'s choice: the GPU's copy
    /// is read first, as the CPU model takes each tensor out of the store.
    fn place(
        config: Config,
        tokenizer: TextTokenizer,
        weights: TensorStore,
        bundle: Option<BundleInfo>,
        device: &DeviceRequest,
    ) -> Result<Self> {
        let preparing = device.prepare(&config, &weights)?;
        let model = XlmRobertaForSequenceClassification::new(&config, &weights)?;
        let placement = preparing.finish(&model, config.vocab_size)?;
        Self::from_parts(config, tokenizer, model, placement, bundle)
    }
}

/// A bundle received piece by piece (a download, or a read of a cached copy), turned into a
/// [`Classifier`] while it arrives.
///
/// Given the file's length up front, every push does the work the bytes so far allow: once the
/// header is in, the config is parsed and the tokenizer built (on another thread where rayon
/// has more than one); then each tensor is read as soon
/// as its last byte arrives, and its pieces are freed. The download's waits and the loading's
/// work overlap (in a browser, the file is read by another process while the model's thread
/// builds), [`finish`](Self::finish) is left with only the model's layers to build, and the
/// whole file is never held beside the model. Without a length, the pieces are kept until
/// `finish` and loaded then, as [`Classifier::load_bundle`] does.
///
/// A damaged header fails the push that completes it, before the rest is downloaded.
#[derive(Debug)]
pub struct BundleStream {
    bytes: ChunkedBytes,
    /// Where the header stands: still arriving (and how many bytes it needs), or read.
    stage: Stage,
    /// Raw bytes of quantized parts, reused (see `gguf::read_tensor`).
    scratch: Vec<u8>,
    /// An error ended the stream: later calls give it again.
    failed: Option<String>,
}

#[derive(Debug)]
enum Stage {
    Header { needs: u64 },
    Tensors(Box<Building>),
}

struct Building {
    config: Config,
    tokenizer: TokenizerBuild,
    info: BundleInfo,
    /// Tensors not read yet, in file order.
    pending: std::collections::VecDeque<gguf::TensorInfo>,
    read: Vec<(String, Stored)>,
    /// The digest of the tensors read so far, and the one the bundle records.
    digest: TensorDigest,
    expected_digest: Option<u64>,
}

/// The tokenizer, built on a thread of rayon's pool while the model's layers are built or a
/// bundle's pieces go on arriving, where there is more than one thread (native, and the
/// threaded wasm build, whose worker's own thread reads the file); else built at once.
enum TokenizerBuild {
    Built(TextTokenizer),
    Building(std::sync::mpsc::Receiver<Result<TextTokenizer>>),
}

impl TokenizerBuild {
    /// Starts the build; an error now only when it ran at once.
    fn start(json: Vec<u8>) -> Result<Self> {
        if rayon::current_num_threads() < 2 {
            return TextTokenizer::from_json(&json).map(Self::Built);
        }
        let (done, result) = std::sync::mpsc::sync_channel(1);
        rayon::spawn(move || {
            // The receiver is gone only if the stream was dropped: nobody needs the result.
            let _ = done.send(TextTokenizer::from_json(&json));
        });
        Ok(Self::Building(result))
    }

    fn wait(self) -> Result<TextTokenizer> {
        match self {
            Self::Built(tokenizer) => Ok(tokenizer),
            Self::Building(result) => result.recv().unwrap_or_else(|_| {
                Err(Error::InvalidTokenizer(
                    "building the tokenizer stopped without a result".into(),
                ))
            }),
        }
    }
}

impl std::fmt::Debug for Building {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Building")
            .field("pending", &self.pending.len())
            .field("read", &self.read.len())
            .finish_non_exhaustive()
    }
}

impl BundleStream {
    /// A stream of a bundle whose length is `len` bytes if known (a `content-length`, a
    /// cached file's size); `None` defers all work to [`finish`](Self::finish).
    pub fn new(len: Option<u64>) -> Self {
        Self {
            bytes: len.map_or_else(ChunkedBytes::new, ChunkedBytes::with_len),
            // The smallest header: magic, version and two counts.
            stage: Stage::Header { needs: 24 },
            scratch: Vec::new(),
            failed: None,
        }
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.bytes.received()
    }

    /// Takes the next piece and does what work it allows. An error (a damaged header, more
    /// bytes than declared) ends the stream.
    pub fn push(&mut self, piece: Vec<u8>) -> Result<()> {
        if let Some(reason) = &self.failed {
            return Err(Error::CorruptWeights {
                format: "gguf",
                reason: format!("the bundle already failed to load: {reason}"),
            });
        }
        self.bytes.push(piece);
        let result = match self.bytes.declared_len() {
            Some(declared) if self.bytes.received() > declared => Err(Error::CorruptWeights {
                format: "gguf",
                reason: format!(
                    "more than the {declared} bytes announced arrived ({})",
                    self.bytes.received()
                ),
            }),
            _ => self.advance(),
        };
        if let Err(e) = &result {
            self.failed = Some(e.to_string());
            self.bytes = ChunkedBytes::new(); // nothing more will be read: free it
        }
        result
    }

    fn advance(&mut self) -> Result<()> {
        if self.bytes.declared_len().is_none() {
            return Ok(());
        }
        if let Stage::Header { needs } = self.stage {
            if self.bytes.received() < needs {
                return Ok(());
            }
            let header = match gguf::read_header(&self.bytes)? {
                gguf::HeaderRead::Complete(header) => header,
                gguf::HeaderRead::NeedsBytes(needs) => {
                    self.stage = Stage::Header { needs };
                    return Ok(());
                }
            };
            let files = bundle_files(&header.metadata)?;
            let config = Config::from_json(&files.config)?;
            let tokenizer = TokenizerBuild::start(files.tokenizer)?;
            self.stage = Stage::Tensors(Box::new(Building {
                config,
                tokenizer,
                info: files.info,
                pending: header.tensors.into(),
                read: Vec::new(),
                digest: TensorDigest::new(),
                expected_digest: files.digest,
            }));
        }
        let Stage::Tensors(building) = &mut self.stage else {
            return Ok(());
        };
        while building
            .pending
            .front()
            .is_some_and(|next| next.end() <= self.bytes.received())
        {
            let info = building.pending.pop_front().expect("checked");
            building.digest.add(&self.bytes, &info)?;
            building.read.push(gguf::read_tensor(
                &self.bytes,
                info,
                &mut self.scratch,
                XlmRobertaForSequenceClassification::ROW_TABLES,
            )?);
        }
        Ok(())
    }

    /// Loads the classifier once every byte has arrived: builds the model's layers from the
    /// tensors read. Errors name what is wrong (a truncated or damaged bundle, or a file that
    /// is not one).
    pub fn finish(self) -> Result<Classifier> {
        self.finish_with(&DeviceRequest::cpu())
    }

    /// [`BundleStream::finish`] on the device `device` asks for.
    pub fn finish_with(self, device: &DeviceRequest) -> Result<Classifier> {
        if let Some(reason) = self.failed {
            return Err(Error::CorruptWeights {
                format: "gguf",
                reason,
            });
        }
        let Some(declared) = self.bytes.declared_len() else {
            return Classifier::load_bundle_with(&self.bytes, device);
        };
        if self.bytes.received() < declared {
            return Err(Error::CorruptWeights {
                format: "gguf",
                reason: format!(
                    "the bundle is truncated: {} of {declared} bytes arrived",
                    self.bytes.received()
                ),
            });
        }
        match self.stage {
            // With every byte in, the header either was read or failed to parse.
            Stage::Header { needs } => Err(truncated(needs, declared)),
            Stage::Tensors(building) => {
                let Building {
                    config,
                    tokenizer,
                    info,
                    pending,
                    read,
                    digest,
                    expected_digest,
                } = *building;
                debug_assert!(pending.is_empty(), "every byte is in");
                digest.check(expected_digest)?;
                let store = TensorStore::from_tensors(read);
                Classifier::place(config, tokenizer.wait()?, store, Some(info), device)
            }
        }
    }
}
