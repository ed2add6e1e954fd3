//! In-process sentence embeddings from a local sentence-transformers model folder
//! (`config.json`, `tokenizer.json`, `model.safetensors`; all-MiniLM-L6-v2 for example),
//! so a bot's knowledge base gets vectors with no embeddings server and nothing
//! downloaded at run time.
//!
//! [`model_dir`] (always built) tells whether an `embedding-model` setting names such a
//! folder. [`LocalEmbedder`] (feature `candle`) runs the model on the CPU: the folder's
//! `tokenizer.json` through the `tokenizers` crate, then a BERT encoder written here on
//! `candle-nn` (about 120 lines, instead of `candle-transformers`, whose 83,000 lines of
//! other models about double the feature's build time, measured), then mean
//! pooling over the attention mask and L2 normalisation, as sentence-transformers does.
//! Inference is CPU-heavy and blocking: callers run it on the blocking pool
//! (`tokio::task::spawn_blocking`). Loaded models are kept for the life of the process,
//! one per canonical folder path ([`LocalEmbedder::shared`]); a model changed on disk is
//! picked up at the next start. candle sizes its CPU thread pool from `CANDLE_NUM_THREADS`
//! (else the physical cores).

use std::path::{Path, PathBuf};

/// The folder an `embedding-model` setting names when it is a local model folder (an
/// existing directory holding `config.json`); `None` for a model served over HTTP.
pub fn model_dir(setting: &str) -> Option<PathBuf> {
    let dir = Path::new(setting.trim());
    (!setting.trim().is_empty() && dir.join("config.json").is_file()).then(|| dir.to_path_buf())
}

/// Whether a bot may use the model folder `dir`: it is the server's own model, or it lies
/// inside the server's `models_dir` (both compared after resolving links and `..`).
pub fn within(dir: &Path, server_model: Option<&str>, models_dir: &str) -> bool {
    let Ok(dir) = dir.canonicalize() else { return false };
    if server_model
        .and_then(|m| Path::new(m.trim()).canonicalize().ok())
        .is_some_and(|m| m == dir)
    {
        return true;
    }
    !models_dir.trim().is_empty()
        && Path::new(models_dir.trim())
            .canonicalize()
            .is_ok_and(|root| dir.starts_with(root))
}

#[cfg(feature = "candle")]
pub use encoder::{Embedded, LocalEmbedder, MAX_BATCH};

#[cfg(feature = "candle")]
mod encoder {
    use candle_core::{DType, Device, Module, Tensor};
    use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
    use serde::Deserialize;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex, PoisonError};
    use tokenizers::{Tokenizer, TruncationParams};

    /// Most texts in one forward pass: larger inputs are cut into batches of this size
    /// (a batch's activations grow with its size times its longest text).
    pub const MAX_BATCH: usize = 32;
    /// Longest sequence any model is run on, in tokens (BERT's position table).
    const MAX_TOKENS: usize = 512;
    /// Bytes of a text given to the tokenizer: far more than a 512-token window needs in
    /// ordinary text (a token is a word piece), so that a huge text costs no more than its
    /// first part.
    const MAX_TEXT_BYTES: usize = 64 * 1024;

    /// Models loaded in this process, by canonical folder path.
    static LOADED: Mutex<BTreeMap<PathBuf, Arc<LocalEmbedder>>> = Mutex::new(BTreeMap::new());

    /// A sentence-transformers BERT model loaded for CPU inference.
    pub struct LocalEmbedder {
        dir: PathBuf,
        tokenizer: Tokenizer,
        bert: Bert,
        max_tokens: usize,
        pad_id: u32,
        pooling: Pooling,
    }

    /// Vectors and the number of tokens the model read to make them.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Embedded {
        /// One unit-length vector per text, in order.
        pub vectors: Vec<Vec<f32>>,
        /// Tokens read, `[CLS]` and `[SEP]` included, after truncation.
        pub tokens: usize,
    }

    /// `config.json`: the fields a BERT encoder needs.
    #[derive(Deserialize)]
    struct BertConfig {
        model_type: Option<String>,
        vocab_size: usize,
        hidden_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        intermediate_size: usize,
        #[serde(default = "gelu")]
        hidden_act: String,
        max_position_embeddings: usize,
        type_vocab_size: usize,
        #[serde(default = "layer_norm_eps")]
        layer_norm_eps: f64,
        #[serde(default)]
        pad_token_id: u32,
    }

    fn gelu() -> String {
        "gelu".into()
    }

    fn layer_norm_eps() -> f64 {
        1e-12
    }

    /// `sentence_bert_config.json`: the window the model was trained with.
    #[derive(Deserialize)]
    struct SentenceConfig {
        max_seq_length: Option<usize>,
    }

    /// `1_Pooling/config.json`.
    #[derive(Deserialize)]
    struct PoolingConfig {
        #[serde(default)]
        pooling_mode_cls_token: bool,
        #[serde(default)]
        pooling_mode_mean_tokens: bool,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Pooling {
        Mean,
        Cls,
    }

    #[derive(Clone, Copy)]
    enum Activation {
        Gelu,
        GeluTanh,
        Relu,
    }

    fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn candle_error(e: candle_core::Error) -> String {
        format!("the local embedding model failed: {e}")
    }

    impl LocalEmbedder {
        /// Loads the model in `dir` (`config.json`, `tokenizer.json`, `model.safetensors`;
        /// `sentence_bert_config.json` and `1_Pooling/config.json` when present).
        pub fn load(dir: &Path) -> Result<LocalEmbedder, String> {
            if !dir.is_dir() {
                return Err(format!("{}: not a model folder", dir.display()));
            }
            for file in ["config.json", "tokenizer.json", "model.safetensors"] {
                if !dir.join(file).is_file() {
                    return Err(format!(
                        "{}: no {file} (a sentence-transformers model folder holds config.json, \
                         tokenizer.json and model.safetensors)",
                        dir.display()
                    ));
                }
            }
            let config: BertConfig = read_json(&dir.join("config.json"))?;
            if let Some(kind) = config.model_type.as_deref().filter(|k| *k != "bert") {
                return Err(format!(
                    "{}: a {kind} model; only BERT models run in process",
                    dir.display()
                ));
            }
            let act = match config.hidden_act.as_str() {
                "gelu" => Activation::Gelu,
                "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
                "relu" => Activation::Relu,
                other => return Err(format!("{}: unsupported activation {other}", dir.display())),
            };
            if config.num_attention_heads == 0
                || !config.hidden_size.is_multiple_of(config.num_attention_heads)
            {
                return Err(format!(
                    "{}: the hidden size does not split into heads",
                    dir.display()
                ));
            }
            let trained = dir.join("sentence_bert_config.json");
            let trained = if trained.is_file() {
                read_json::<SentenceConfig>(&trained)?.max_seq_length
            } else {
                None
            };
            let max_tokens = trained
                .unwrap_or(config.max_position_embeddings)
                .min(config.max_position_embeddings)
                .min(MAX_TOKENS);
            if max_tokens < 2 {
                return Err(format!("{}: the model's window is too small", dir.display()));
            }
            let pooling_file = dir.join("1_Pooling").join("config.json");
            let pooling = if pooling_file.is_file() {
                match read_json::<PoolingConfig>(&pooling_file)? {
                    p if p.pooling_mode_mean_tokens => Pooling::Mean,
                    p if p.pooling_mode_cls_token => Pooling::Cls,
                    _ => {
                        return Err(format!(
                            "{}: unsupported pooling (mean or CLS only)",
                            pooling_file.display()
                        ));
                    }
                }
            } else {
                Pooling::Mean
            };

            let tokenizer_file = dir.join("tokenizer.json");
            let mut tokenizer = Tokenizer::from_file(&tokenizer_file)
                .map_err(|e| format!("{}: {e}", tokenizer_file.display()))?;
            // The file may carry its own padding and truncation (all-MiniLM-L6-v2's pads
            // everything to 128): batches are padded here, to their longest text.
            tokenizer.with_padding(None);
            tokenizer
                .with_truncation(Some(TruncationParams {
                    max_length: max_tokens,
                    ..Default::default()
                }))
                .map_err(|e| format!("{}: {e}", tokenizer_file.display()))?;

            let weights_file = dir.join("model.safetensors");
            let weights =
                std::fs::read(&weights_file).map_err(|e| format!("{}: {e}", weights_file.display()))?;
            let vb = VarBuilder::from_slice_safetensors(&weights, DType::F32, &Device::Cpu)
                .map_err(|e| format!("{}: {e}", weights_file.display()))?;
            // Checkpoints saved from a task model keep the encoder under `bert.`.
            let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
                vb.pp("bert")
            } else {
                vb
            };
            let bert = Bert::load(vb, &config, act)
                .map_err(|e| format!("{}: not a BERT checkpoint: {e}", weights_file.display()))?;
            Ok(LocalEmbedder {
                dir: dir.to_path_buf(),
                tokenizer,
                bert,
                max_tokens,
                pad_id: config.pad_token_id,
                pooling,
            })
        }

        /// The model in `dir`, loaded once per process (by canonical path) and shared.
        pub fn shared(dir: &Path) -> Result<Arc<LocalEmbedder>, String> {
            let key = dir
                .canonicalize()
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            if let Some(m) = LOADED.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
                return Ok(m.clone());
            }
            // Loaded outside the lock, so a slow load holds up no other model; two first
            // calls racing both load, and the first one stored is kept.
            let loaded = Arc::new(LocalEmbedder::load(&key)?);
            Ok(LOADED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key)
                .or_insert(loaded)
                .clone())
        }

        /// The folder the model was loaded from.
        pub fn dir(&self) -> &Path {
            &self.dir
        }

        /// Length of the vectors (384 for all-MiniLM-L6-v2).
        pub fn dimensions(&self) -> usize {
            self.bert.hidden
        }

        /// Longest text the model reads, in tokens; the rest of a longer text is ignored.
        pub fn max_tokens(&self) -> usize {
            self.max_tokens
        }

        /// One unit-length vector per text, in order.
        pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
            Ok(self.embed_counted(texts)?.vectors)
        }

        /// One unit-length vector per text, and the tokens read. Texts are run in batches
        /// of at most [`MAX_BATCH`], sorted by length so that little padding is computed.
        pub fn embed_counted(&self, texts: &[String]) -> Result<Embedded, String> {
            let clipped: Vec<&str> = texts.iter().map(|t| clip(t, MAX_TEXT_BYTES)).collect();
            let encodings = self
                .tokenizer
                .encode_batch(clipped, true)
                .map_err(|e| format!("the local embedding model's tokenizer failed: {e}"))?;
            let tokens = encodings.iter().map(|e| e.get_ids().len()).sum();
            let mut order: Vec<usize> = (0..encodings.len()).collect();
            order.sort_by_key(|&i| encodings[i].get_ids().len());
            let mut vectors = vec![Vec::new(); encodings.len()];
            for batch in order.chunks(MAX_BATCH) {
                let ids: Vec<&[u32]> = batch.iter().map(|&i| encodings[i].get_ids()).collect();
                let out = self.run(&ids).map_err(candle_error)?;
                for (&i, v) in batch.iter().zip(out) {
                    vectors[i] = v;
                }
            }
            Ok(Embedded { vectors, tokens })
        }

        /// One forward pass over token sequences, padded to the longest.
        fn run(&self, seqs: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
            let dev = &Device::Cpu;
            let len = seqs.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
            let mut ids = Vec::with_capacity(seqs.len() * len);
            let mut mask = Vec::with_capacity(seqs.len() * len);
            for s in seqs {
                ids.extend_from_slice(s);
                ids.resize(ids.len() + len - s.len(), self.pad_id);
                mask.extend(std::iter::repeat_n(1f32, s.len()));
                mask.resize(mask.len() + len - s.len(), 0.0);
            }
            let ids = Tensor::from_vec(ids, (seqs.len(), len), dev)?;
            let mask = Tensor::from_vec(mask, (seqs.len(), len), dev)?;
            let hidden = self.bert.forward(&ids, &mask)?;
            let pooled = match self.pooling {
                Pooling::Mean => {
                    let summed = hidden.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
                    summed.broadcast_div(&mask.sum_keepdim(1)?)?
                }
                Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            };
            let norm = pooled.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?;
            pooled.broadcast_div(&norm)?.to_vec2()
        }
    }

    /// The longest prefix of `text` of at most `max` bytes that ends on a character.
    fn clip(text: &str, max: usize) -> &str {
        if text.len() <= max {
            return text;
        }
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    }

    /// A BERT encoder (the embeddings and the transformer layers; no pooler or head),
    /// with the tensor names of Hugging Face checkpoints.
    struct Bert {
        words: Embedding,
        positions: Embedding,
        token_types: Embedding,
        norm: LayerNorm,
        layers: Vec<Layer>,
        hidden: usize,
    }

    struct Layer {
        query: Linear,
        key: Linear,
        value: Linear,
        attention_out: Linear,
        attention_norm: LayerNorm,
        intermediate: Linear,
        act: Activation,
        out: Linear,
        out_norm: LayerNorm,
        heads: usize,
    }

    impl Bert {
        fn load(vb: VarBuilder, c: &BertConfig, act: Activation) -> candle_core::Result<Bert> {
            let (h, e) = (c.hidden_size, c.layer_norm_eps);
            let emb = vb.pp("embeddings");
            let layers = (0..c.num_hidden_layers)
                .map(|i| {
                    let l = vb.pp(format!("encoder.layer.{i}"));
                    let att = l.pp("attention");
                    Ok(Layer {
                        query: candle_nn::linear(h, h, att.pp("self.query"))?,
                        key: candle_nn::linear(h, h, att.pp("self.key"))?,
                        value: candle_nn::linear(h, h, att.pp("self.value"))?,
                        attention_out: candle_nn::linear(h, h, att.pp("output.dense"))?,
                        attention_norm: candle_nn::layer_norm(h, e, att.pp("output.LayerNorm"))?,
                        intermediate: candle_nn::linear(h, c.intermediate_size, l.pp("intermediate.dense"))?,
                        act,
                        out: candle_nn::linear(c.intermediate_size, h, l.pp("output.dense"))?,
                        out_norm: candle_nn::layer_norm(h, e, l.pp("output.LayerNorm"))?,
                        heads: c.num_attention_heads,
                    })
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            Ok(Bert {
                words: candle_nn::embedding(c.vocab_size, h, emb.pp("word_embeddings"))?,
                positions: candle_nn::embedding(c.max_position_embeddings, h, emb.pp("position_embeddings"))?,
                token_types: candle_nn::embedding(c.type_vocab_size, h, emb.pp("token_type_embeddings"))?,
                norm: candle_nn::layer_norm(h, e, emb.pp("LayerNorm"))?,
                layers,
                hidden: h,
            })
        }

        /// The last hidden states, `(batch, len, hidden)`, for token ids `(batch, len)`
        /// and a mask of 1 (token) and 0 (padding).
        fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
            let len = ids.dim(1)?;
            let positions = Tensor::arange(0u32, len as u32, ids.device())?;
            // One sentence per input: every token is of type 0.
            let types = ids.zeros_like()?;
            let x = (self.words.forward(ids)? + self.token_types.forward(&types)?)?
                .broadcast_add(&self.positions.forward(&positions)?)?;
            let mut x = self.norm.forward(&x)?;
            // Added to the attention scores: 0 for tokens, the lowest float for padding,
            // so that no token attends to padding.
            let bias = mask
                .affine(f32::MAX as f64, f32::MIN as f64)?
                .unsqueeze(1)?
                .unsqueeze(1)?;
            for layer in &self.layers {
                x = layer.forward(&x, &bias)?;
            }
            Ok(x)
        }
    }

    impl Layer {
        fn forward(&self, x: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
            let (b, len, h) = x.dims3()?;
            let head = h / self.heads;
            let split = |t: Tensor| {
                t.reshape((b, len, self.heads, head))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = split(self.query.forward(x)?)?;
            let k = split(self.key.forward(x)?)?;
            let v = split(self.value.forward(x)?)?;
            let scores = (q.matmul(&k.t()?)? / (head as f64).sqrt())?.broadcast_add(bias)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, len, h))?;
            let attended = self
                .attention_norm
                .forward(&(self.attention_out.forward(&context)? + x)?)?;
            let inner = self.intermediate.forward(&attended)?;
            let inner = match self.act {
                Activation::Gelu => inner.gelu_erf()?,
                Activation::GeluTanh => inner.gelu()?,
                Activation::Relu => inner.relu()?,
            };
            self.out_norm.forward(&(self.out.forward(&inner)? + attended)?)
        }
    }
}
