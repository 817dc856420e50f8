//! Layers built from stored weights: the word-embedding table and dense layers, dense or
//! quantized, each decoded once at load.

mod embedding;
mod linear;

pub(crate) use embedding::WordEmbedding;
pub(crate) use linear::{linear, linear_of, values};
