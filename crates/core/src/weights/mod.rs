//! Weight files: `model.safetensors` or `pytorch_model.bin`, recognised by their first bytes,
//! read from a [`WeightsSource`] into named f32 tensors, then handed out by name with the shape
//! the config implies.

pub mod gguf;
mod pickle_bound;
mod pytorch;
mod safetensors;
mod source;

pub use source::{past_end, ChunkedBytes, InPlaceBytes, ReadAt, WeightsSource};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::quantized::QTensor;
use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// The container format of a weights file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    /// Hugging Face safetensors (`model.safetensors`).
    Safetensors,
    /// A PyTorch zip archive holding a pickled state dict (`pytorch_model.bin`).
    PyTorch,
    /// GGUF: a model bundle written by `xlmr-sentiment pack` (tensors, possibly quantized, plus
    /// config.json and tokenizer.json as metadata).
    Gguf,
}

impl WeightsFormat {
    /// Recognises the format from the first bytes of the file.
    pub fn detect(bytes: &[u8]) -> Result<Self> {
        if bytes.starts_with(b"PK\x03\x04") {
            return Ok(Self::PyTorch);
        }
        if gguf::is_gguf(bytes) {
            return Ok(Self::Gguf);
        }
        // safetensors: an 8-byte little-endian header length, then a JSON object.
        if bytes.len() >= 9 && bytes[8] == b'{' {
            return Ok(Self::Safetensors);
        }
        if bytes.starts_with(&[0x80]) {
            return Err(Error::UnknownWeightsFormat(
                "this is a legacy (pre-1.6) PyTorch pickle; re-save it with torch.save or as \
                 safetensors"
                    .into(),
            ));
        }
        Err(Error::UnknownWeightsFormat(format!(
            "the file starts with {:02x?}",
            &bytes[..bytes.len().min(8)]
        )))
    }
}

/// A tensor as read: f32, or still quantized (from a GGUF bundle).
#[derive(Debug, Clone)]
pub enum Stored {
    /// An f32 tensor.
    Dense(Tensor),
    /// ggml blocks (Q8_0, Q4_K, ...): linear layers turn them into int8, the word embeddings
    /// keep them and expand only the rows they look up.
    Quantized(QuantizedRows),
    /// ggml blocks left in place in their file (see [`WeightsSource::in_place`]): the word
    /// embeddings of a bundle read from disk.
    InPlace(InPlaceRows),
}

/// A quantized tensor of whole rows left in place in its file.
#[derive(Debug, Clone)]
pub struct InPlaceRows {
    /// The tensor's bytes: `dims[0]` rows of ggml blocks.
    pub bytes: InPlaceBytes,
    /// The block type.
    pub dtype: candle_core::quantized::GgmlDType,
    /// `[rows, columns]`.
    pub dims: Vec<usize>,
}

impl InPlaceRows {
    /// The whole tensor as f32 (read whole; for callers that need it whole, which a model's
    /// word embeddings never do).
    pub fn dequantize(&self) -> Result<Tensor> {
        let mut raw = vec![0u8; self.bytes.len() as usize];
        self.bytes
            .read(0, &mut raw)
            .map_err(|e| Error::WeightsRead(e.to_string()))?;
        let q = candle_core::quantized::ggml_file::qtensor_from_ggml(
            self.dtype,
            &raw,
            self.dims.clone(),
            &Device::Cpu,
        )?;
        Ok(q.dequantize(&Device::Cpu)?)
    }
}

impl Stored {
    fn dims(&self) -> &[usize] {
        match self {
            Stored::Dense(t) => t.dims(),
            Stored::Quantized(q) => &q.dims,
            Stored::InPlace(m) => &m.dims,
        }
    }

    /// The values as an f32 tensor (expanded if quantized).
    pub fn to_dense(&self) -> Result<Tensor> {
        match self {
            Stored::Dense(t) => Ok(t.clone()),
            Stored::Quantized(q) => q.dequantize(),
            Stored::InPlace(m) => m.dequantize(),
        }
    }
}

/// A quantized tensor, kept as consecutive runs of whole rows. A large table (the word
/// embeddings: 204 MB at Q8_0) is read a few megabytes at a time, so loading never holds it
/// twice; it is used a row at a time anyway. Smaller tensors are a single part.
#[derive(Debug, Clone)]
pub struct QuantizedRows {
    /// The parts, top to bottom; all of the same type and row length.
    pub parts: Vec<Arc<QTensor>>,
    /// The whole tensor's dimensions.
    pub dims: Vec<usize>,
}

impl QuantizedRows {
    /// One part holding the whole tensor.
    #[cfg(test)]
    pub fn whole(tensor: QTensor) -> Self {
        let dims = tensor.shape().dims().to_vec();
        Self {
            parts: vec![Arc::new(tensor)],
            dims,
        }
    }

    /// The block type.
    pub fn dtype(&self) -> candle_core::quantized::GgmlDType {
        self.parts[0].dtype()
    }

    /// The whole tensor as f32.
    pub fn dequantize(&self) -> Result<Tensor> {
        let parts = self
            .parts
            .iter()
            .map(|p| p.dequantize(&p.device()))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Tensor::cat(&parts, 0)?)
    }
}

/// Named tensors read from a weights file: f32, or quantized for matrices of a GGUF bundle.
#[derive(Debug)]
pub struct TensorStore {
    /// Behind a lock so a model can take each tensor out as it converts it: the store's copy is
    /// then freed at once, and loading never holds the weights twice.
    tensors: Mutex<HashMap<String, Stored>>,
}

impl TensorStore {
    /// Reads every floating-point tensor of a safetensors or PyTorch file, as f32, or every
    /// tensor of a GGUF bundle (`row_tables`: see [`gguf::read`]).
    pub fn from_source(source: &dyn WeightsSource, row_tables: &[&str]) -> Result<Self> {
        let mut head = vec![0u8; source.len().min(16) as usize];
        source
            .read_at(0, &mut head)
            .map_err(|e| Error::UnknownWeightsFormat(format!("cannot read the file: {e}")))?;
        let tensors = match WeightsFormat::detect(&head)? {
            WeightsFormat::Safetensors => dense(safetensors::read(source)?),
            WeightsFormat::PyTorch => dense(pytorch::read(source)?),
            WeightsFormat::Gguf => gguf::read(source, row_tables)?,
        };
        Ok(Self::from_tensors(tensors))
    }

    /// A store of the given tensors (names as in a Hugging Face checkpoint).
    pub fn from_tensors(tensors: Vec<(String, Stored)>) -> Self {
        let tensors = tensors
            .into_iter()
            .map(|(name, tensor)| (canonical_name(&name), tensor))
            .collect();
        Self {
            tensors: Mutex::new(tensors),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stored>> {
        // A panic while holding the lock cannot leave the map half-changed (every change is
        // one insert or remove), so a poisoned lock is still sound to use.
        self.tensors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every tensor still in the store, by name (cheap: tensors share their storage).
    pub fn entries(&self) -> Vec<(String, Stored)> {
        self.lock()
            .iter()
            .map(|(name, t)| (name.clone(), t.clone()))
            .collect()
    }

    /// A view that prefixes every name with `prefix.`, like candle's `VarBuilder::pp`.
    pub fn pp(&self, prefix: &str) -> Scope<'_> {
        Scope {
            store: self,
            prefix: prefix.to_string(),
        }
    }

    /// The shape of a tensor, if present.
    pub fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        self.lock().get(name).map(|t| t.dims().to_vec())
    }

    /// Whether any tensor name starts with `prefix`.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.lock().keys().any(|k| k.starts_with(prefix))
    }

    /// The tensor `name`, checked against `shape`; with `take`, removed from the store.
    fn get_stored(&self, name: &str, shape: &[usize], take: bool) -> Result<Stored> {
        let mut tensors = self.lock();
        let tensor = tensors
            .get(name)
            .ok_or_else(|| Error::MissingTensor(name.to_string()))?;
        if tensor.dims() != shape {
            return Err(Error::ShapeMismatch {
                name: name.to_string(),
                expected: shape.to_vec(),
                actual: tensor.dims().to_vec(),
            });
        }
        Ok(if take {
            tensors.remove(name).expect("present: just read")
        } else {
            tensor.clone()
        })
    }

    fn get(&self, name: &str, shape: &[usize], take: bool) -> Result<Tensor> {
        self.get_stored(name, shape, take)?.to_dense()
    }
}

/// Old BERT-family checkpoints name LayerNorm parameters `gamma`/`beta`; `transformers` renames
/// them to `weight`/`bias` on load (`PreTrainedModel._fix_state_dict_key_on_load`).
fn canonical_name(name: &str) -> String {
    if let Some(stem) = name.strip_suffix(".gamma") {
        format!("{stem}.weight")
    } else if let Some(stem) = name.strip_suffix(".beta") {
        format!("{stem}.bias")
    } else {
        name.to_string()
    }
}

/// A prefixed view of a [`TensorStore`].
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    store: &'a TensorStore,
    prefix: String,
}

impl<'a> Scope<'a> {
    /// A deeper view: `self.prefix.name`.
    pub fn pp(&self, name: impl std::fmt::Display) -> Scope<'a> {
        let prefix = if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        };
        Scope {
            store: self.store,
            prefix,
        }
    }

    /// Takes the tensor `prefix.name`, which must have exactly `shape`, out of the store as
    /// f32 (expanded if it was stored quantized), so its memory goes as soon as the caller has
    /// converted it.
    pub fn take(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.store.get(&self.pp(name).prefix, shape, true)
    }

    /// The tensor `prefix.name`, which must have exactly `shape`, as f32, left in the store: a
    /// second copy of the model (the GPU's) reads it before the CPU's takes it.
    #[cfg(feature = "gpu")]
    pub fn read(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.store.get(&self.pp(name).prefix, shape, false)
    }

    /// The tensor `prefix.name` as stored, left in the store (the GPU's copy keeps a bundle's
    /// precision).
    #[cfg(feature = "gpu")]
    pub fn read_stored(&self, name: &str, shape: &[usize]) -> Result<Stored> {
        self.store.get_stored(&self.pp(name).prefix, shape, false)
    }

    /// Takes the tensor `prefix.name` out of the store as stored: matrices of a bundle stay
    /// quantized.
    pub fn take_stored(&self, name: &str, shape: &[usize]) -> Result<Stored> {
        self.store.get_stored(&self.pp(name).prefix, shape, true)
    }
}

fn dense(tensors: Vec<(String, Tensor)>) -> Vec<(String, Stored)> {
    tensors
        .into_iter()
        .map(|(name, tensor)| (name, Stored::Dense(tensor)))
        .collect()
}

fn shape_elements(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(
            WeightsFormat::detect(b"PK\x03\x04rest").unwrap(),
            WeightsFormat::PyTorch
        );
        assert_eq!(
            WeightsFormat::detect(b"\x02\0\0\0\0\0\0\0{}").unwrap(),
            WeightsFormat::Safetensors
        );
        assert!(matches!(
            WeightsFormat::detect(b"\x80\x02garbage"),
            Err(Error::UnknownWeightsFormat(_))
        ));
        assert!(matches!(
            WeightsFormat::detect(b""),
            Err(Error::UnknownWeightsFormat(_))
        ));
        assert!(matches!(
            WeightsFormat::detect(b"<!doctype html>"),
            Err(Error::UnknownWeightsFormat(_))
        ));
    }

    #[test]
    fn renames_gamma_and_beta() {
        assert_eq!(canonical_name("a.LayerNorm.gamma"), "a.LayerNorm.weight");
        assert_eq!(canonical_name("a.LayerNorm.beta"), "a.LayerNorm.bias");
        assert_eq!(canonical_name("a.dense.weight"), "a.dense.weight");
    }
}
