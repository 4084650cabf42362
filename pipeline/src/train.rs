//! The presence CNN, trained on CPU with candle: two 1-D convolutions over time, two dense layers.
//! Its weights are plain arrays ([`NetWeights`]) so the ONNX exporter and the tests share them.

use crate::dataset::{NUM_TARGETS, PRESENT_ANY, Windows};
use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use hapticmat_core::features::{CHANNELS, WINDOW_FRAMES, WINDOW_LEN};
use hapticmat_core::personal::USER_LOAD_LEN;
use hapticmat_core::state::NUM_STATES;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::time::Instant;

/// Input scaling done inside the model, in float, before anything else: pascal → kilopascal.
pub const INPUT_SCALE: f32 = 1e-3;
/// Channels of the first convolution.
pub const C1: usize = 16;
/// Channels of the second convolution (stride 2).
pub const C2: usize = 16;
/// Kernel length of both convolutions, frames.
pub const K: usize = 5;
/// Time steps after the strided convolution.
pub const T2: usize = WINDOW_FRAMES / 2;
/// Width of the hidden dense layer.
pub const H: usize = 32;
/// Window inputs of the hidden dense layer: the flattened convolution output. The `user_load` input
/// (hapticmat_core::personal: `[share of the user's own load, known]`) enters the same layer through
/// weights of its own (`fc1_user_w`): kept apart, each is quantized at its own scale (in one matrix,
/// the share's large weights set every row's int8 step and the window's small ones round away).
pub const FC1_IN: usize = C2 * T2;

/// Training settings.
#[derive(Debug, Clone, Serialize)]
pub struct TrainConfig {
    /// Most epochs to run.
    pub epochs: usize,
    /// Windows per step.
    pub batch_size: usize,
    /// AdamW learning rate of the first epoch; it decays along a cosine to
    /// [`final_learning_rate`](Self::final_learning_rate) at the last epoch.
    pub learning_rate: f64,
    /// Learning rate of the last epoch.
    pub final_learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Stop after this many epochs without a better validation balanced accuracy (the mean of the
    /// four states' recalls: the empty mat is most windows, so plain accuracy hides the postures).
    pub patience: usize,
    /// Seed for initialisation and shuffling.
    pub seed: u64,
    /// Decay of the exponential moving average of the weights, per step (0: no averaging). The
    /// averaged weights are the ones scored and kept: single steps swing the sitting/lying-partially
    /// boundary by several recall points from epoch to epoch, and a model on such a swing also
    /// flips under int8 rounding.
    pub weight_average_decay: f64,
    /// Probability that a training window sees its subject's personal calibration; the others see
    /// "uncalibrated", so one model serves users with and without it.
    pub personal_calibration_rate: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 24,
            batch_size: 256,
            learning_rate: 1e-3,
            final_learning_rate: 3e-5,
            weight_decay: 1e-4,
            patience: 6,
            seed: 7,
            personal_calibration_rate: 0.5,
            weight_average_decay: 0.999,
        }
    }
}

/// One epoch's figures (kept for MLflow later, plotted in reports).
#[derive(Debug, Clone, Serialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean class-weighted training loss.
    pub train_loss: f64,
    /// Mean class-weighted validation loss.
    pub validation_loss: f64,
    /// Validation accuracy.
    pub validation_accuracy: f64,
    /// Validation balanced accuracy (mean recall of the four states) of users without personal
    /// calibration.
    pub validation_balanced_accuracy: f64,
    /// The same with every subject's personal calibration (equal to the above when the set has
    /// none). Early stopping uses the mean of the two.
    pub validation_balanced_accuracy_calibrated: f64,
    /// Learning rate of the epoch.
    pub learning_rate: f64,
    /// Wall time of the epoch, s.
    pub seconds: f64,
}

/// The network's weights as plain arrays, in PyTorch/ONNX layout.
#[derive(Debug, Clone, PartialEq)]
pub struct NetWeights {
    /// `[C1, CHANNELS, K]`.
    pub conv1_w: Vec<f32>,
    /// `[C1]`.
    pub conv1_b: Vec<f32>,
    /// `[C2, C1, K]`.
    pub conv2_w: Vec<f32>,
    /// `[C2]`.
    pub conv2_b: Vec<f32>,
    /// `[H, FC1_IN]`.
    pub fc1_w: Vec<f32>,
    /// `[H]`.
    pub fc1_b: Vec<f32>,
    /// `[H, USER_LOAD_LEN]`: the personal-calibration input's weights into the hidden layer.
    pub fc1_user_w: Vec<f32>,
    /// `[NUM_STATES, H]`.
    pub fc2_w: Vec<f32>,
    /// `[NUM_STATES]`.
    pub fc2_b: Vec<f32>,
}

/// Errors of training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// candle failed.
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// Nothing to train on.
    #[error("the {0} set is empty: simulate more sessions")]
    Empty(&'static str),
}

/// The network on candle tensors.
pub struct PresenceNet {
    vars: Vec<Var>,
}

impl PresenceNet {
    /// Kaiming-uniform initialisation from our own seeded RNG (candle's CPU RNG cannot be seeded).
    pub fn init(seed: u64) -> Result<Self, TrainError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut param = |dims: &[usize], fan_in: usize| -> Result<Var, TrainError> {
            let bound = (6.0 / fan_in as f64).sqrt() as f32 * 0.5;
            let n: usize = dims.iter().product();
            let data: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
            Ok(Var::from_tensor(&Tensor::from_vec(data, dims, &Device::Cpu)?)?)
        };
        let vars = vec![
            param(&[C1, CHANNELS, K], CHANNELS * K)?,
            Var::zeros(C1, DType::F32, &Device::Cpu)?,
            param(&[C2, C1, K], C1 * K)?,
            Var::zeros(C2, DType::F32, &Device::Cpu)?,
            param(&[H, FC1_IN], FC1_IN)?,
            Var::zeros(H, DType::F32, &Device::Cpu)?,
            param(&[NUM_STATES, H], H)?,
            Var::zeros(NUM_STATES, DType::F32, &Device::Cpu)?,
            param(&[H, USER_LOAD_LEN], FC1_IN + USER_LOAD_LEN)?,
        ];
        Ok(PresenceNet { vars })
    }

    /// A network holding these weights.
    pub fn from_weights(w: &NetWeights) -> Result<Self, TrainError> {
        let t = |v: &Vec<f32>, dims: &[usize]| -> Result<Var, TrainError> {
            Ok(Var::from_tensor(&Tensor::from_slice(v, dims, &Device::Cpu)?)?)
        };
        Ok(PresenceNet {
            vars: vec![
                t(&w.conv1_w, &[C1, CHANNELS, K])?,
                t(&w.conv1_b, &[C1])?,
                t(&w.conv2_w, &[C2, C1, K])?,
                t(&w.conv2_b, &[C2])?,
                t(&w.fc1_w, &[H, FC1_IN])?,
                t(&w.fc1_b, &[H])?,
                t(&w.fc2_w, &[NUM_STATES, H])?,
                t(&w.fc2_b, &[NUM_STATES])?,
                t(&w.fc1_user_w, &[H, USER_LOAD_LEN])?,
            ],
        })
    }

    /// Logits for `x` of shape `[N, CHANNELS, WINDOW_FRAMES]` in pascal and `u`, `[N, USER_LOAD_LEN]`.
    pub fn forward(&self, x: &Tensor, u: &Tensor) -> Result<Tensor, TrainError> {
        let v = &self.vars;
        let x = x.affine(INPUT_SCALE as f64, 0.0)?;
        let x = x.conv1d(v[0].as_tensor(), K / 2, 1, 1, 1)?.broadcast_add(&v[1].reshape((1, C1, 1))?)?.relu()?;
        let x = x.conv1d(v[2].as_tensor(), K / 2, 2, 1, 1)?.broadcast_add(&v[3].reshape((1, C2, 1))?)?.relu()?;
        let x = x.flatten_from(1)?.matmul(&v[4].t()?)?.broadcast_add(&v[5])?;
        let x = (x + u.matmul(&v[8].t()?)?)?.relu()?;
        Ok(x.matmul(&v[6].t()?)?.broadcast_add(&v[7])?)
    }

    /// Class probabilities for windows laid end to end, with their `user_load` inputs laid end to
    /// end (`None`: uncalibrated).
    pub fn predict(&self, windows: &[f32], user_loads: Option<&[f32]>) -> Result<Vec<[f32; NUM_STATES]>, TrainError> {
        let n = windows.len() / WINDOW_LEN;
        let x = Tensor::from_slice(windows, (n, CHANNELS, WINDOW_FRAMES), &Device::Cpu)?;
        let u = match user_loads {
            Some(u) => Tensor::from_slice(u, (n, USER_LOAD_LEN), &Device::Cpu)?,
            None => Tensor::zeros((n, USER_LOAD_LEN), DType::F32, &Device::Cpu)?,
        };
        let p = candle_nn::ops::softmax(&self.forward(&x, &u)?, D::Minus1)?.to_vec2::<f32>()?;
        Ok(p.into_iter().map(|r| std::array::from_fn(|i| r[i])).collect())
    }

    /// The weights as plain arrays.
    pub fn weights(&self) -> Result<NetWeights, TrainError> {
        let f = |i: usize| -> Result<Vec<f32>, TrainError> { Ok(self.vars[i].flatten_all()?.to_vec1::<f32>()?) };
        Ok(NetWeights {
            conv1_w: f(0)?,
            conv1_b: f(1)?,
            conv2_w: f(2)?,
            conv2_b: f(3)?,
            fc1_w: f(4)?,
            fc1_b: f(5)?,
            fc2_w: f(6)?,
            fc2_b: f(7)?,
            fc1_user_w: f(8)?,
        })
    }
}

/// Inverse-frequency weights per target, so rare postures count as much as the empty mat.
pub fn class_weights(w: &Windows) -> [f32; NUM_TARGETS] {
    let counts = w.class_counts();
    let n: usize = counts.iter().sum();
    let present = counts.iter().filter(|c| **c > 0).count().max(1) as f32;
    std::array::from_fn(|c| if counts[c] == 0 { 0.0 } else { (n as f32 / (present * counts[c] as f32)).min(10.0) })
}

/// A batch's targets as tensors: the state index to pick (0 for [`PRESENT_ANY`], masked out), the
/// presence-only mask, and the target index into the weights.
struct Targets {
    pick: Tensor,
    any: Tensor,
    index: Tensor,
}

impl Targets {
    fn new(y: &[u32]) -> Result<Self, TrainError> {
        let pick: Vec<u32> = y.iter().map(|&t| if t == PRESENT_ANY { 0 } else { t }).collect();
        let any: Vec<f32> = y.iter().map(|&t| (t == PRESENT_ANY) as u8 as f32).collect();
        Ok(Targets {
            pick: Tensor::from_vec(pick, y.len(), &Device::Cpu)?,
            any: Tensor::from_vec(any, y.len(), &Device::Cpu)?,
            index: Tensor::from_slice(y, y.len(), &Device::Cpu)?,
        })
    }
}

/// Class-weighted negative log-likelihood. A window known only to hold a person scores the log of
/// the total probability of the three postures, so posture-less recordings teach presence only.
fn weighted_loss(logits: &Tensor, t: &Targets, weights: &Tensor) -> Result<Tensor, TrainError> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = logp.gather(&t.pick.unsqueeze(1)?, 1)?.squeeze(1)?;
    let present = logp.narrow(1, 1, NUM_STATES - 1)?.exp()?.sum(1)?.clamp(1e-12, 1.0)?.log()?;
    let term = ((picked * (1.0 - &t.any)?)? + (present * &t.any)?)?;
    let w = weights.index_select(&t.index, 0)?;
    Ok((term * &w)?.sum_all()?.neg()?.broadcast_div(&w.sum_all()?)?)
}

/// How the network does on a set.
#[derive(Debug, Clone, Copy)]
pub struct Score {
    /// Mean class-weighted loss.
    pub loss: f64,
    /// Accuracy (a [`PRESENT_ANY`] window is right when any posture wins).
    pub accuracy: f64,
    /// Mean recall over the states present in the set ([`PRESENT_ANY`] windows left out).
    pub balanced_accuracy: f64,
}

/// Scores the network on a set, every subject with (`calibrated`) or without personal calibration.
pub fn score(
    net: &PresenceNet,
    set: &Windows,
    weights: &[f32; NUM_TARGETS],
    calibrated: bool,
) -> Result<Score, TrainError> {
    let wt = Tensor::from_slice(weights, NUM_TARGETS, &Device::Cpu)?;
    let (mut loss, mut correct, mut total_w) = (0.0, 0usize, 0.0);
    let (mut hit, mut support) = ([0usize; NUM_STATES], [0usize; NUM_STATES]);
    for start in (0..set.len()).step_by(4096) {
        let end = (start + 4096).min(set.len());
        let x = Tensor::from_slice(
            &set.x[start * WINDOW_LEN..end * WINDOW_LEN],
            (end - start, CHANNELS, WINDOW_FRAMES),
            &Device::Cpu,
        )?;
        let u: Vec<f32> = (start..end).flat_map(|i| set.user_load(i, calibrated)).collect();
        let u = Tensor::from_vec(u, (end - start, USER_LOAD_LEN), &Device::Cpu)?;
        let y = &set.y[start..end];
        let logits = net.forward(&x, &u)?;
        let bw: f64 = y.iter().map(|&c| weights[c as usize] as f64).sum();
        loss += weighted_loss(&logits, &Targets::new(y)?, &wt)?.to_scalar::<f32>()? as f64 * bw;
        total_w += bw;
        let pred = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
        correct += pred.iter().zip(y).filter(|(p, t)| p == t || (**t == PRESENT_ANY && **p != 0)).count();
        for (&p, &t) in pred.iter().zip(y).filter(|(_, t)| **t != PRESENT_ANY) {
            support[t as usize] += 1;
            hit[t as usize] += (p == t) as usize;
        }
    }
    let recalls: Vec<f64> =
        (0..NUM_STATES).filter(|&c| support[c] > 0).map(|c| hit[c] as f64 / support[c] as f64).collect();
    Ok(Score {
        loss: loss / total_w.max(1e-12),
        accuracy: correct as f64 / set.len().max(1) as f64,
        balanced_accuracy: recalls.iter().sum::<f64>() / recalls.len().max(1) as f64,
    })
}

/// Learning rate of `epoch` (1-based) of `epochs`: cosine decay from the first to the final rate.
pub fn learning_rate(cfg: &TrainConfig, epoch: usize) -> f64 {
    let progress = if cfg.epochs <= 1 { 0.0 } else { (epoch - 1) as f64 / (cfg.epochs - 1) as f64 };
    cfg.final_learning_rate
        + 0.5 * (cfg.learning_rate - cfg.final_learning_rate) * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// The result of training: the best network by validation balanced accuracy, and the curves.
pub struct Trained {
    /// Weights of the best epoch.
    pub weights: NetWeights,
    /// Per-epoch metrics.
    pub curves: Vec<EpochMetrics>,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Weights per target used in the loss.
    pub class_weights: [f32; NUM_TARGETS],
}

/// Trains with AdamW, a cosine learning-rate decay and early stopping on the validation balanced
/// accuracy. `progress` sees each step
/// (`step, steps_per_epoch, epoch`) and each finished epoch.
pub fn train(
    train_set: &Windows,
    validation: &Windows,
    cfg: &TrainConfig,
    mut progress: impl FnMut(TrainProgress<'_>),
) -> Result<Trained, TrainError> {
    if train_set.is_empty() {
        return Err(TrainError::Empty("training"));
    }
    if validation.is_empty() {
        return Err(TrainError::Empty("validation"));
    }
    let net = PresenceNet::init(cfg.seed)?;
    let params = ParamsAdamW { lr: cfg.learning_rate, weight_decay: cfg.weight_decay, ..Default::default() };
    let mut opt = AdamW::new(net.vars.clone(), params)?;
    let cw = class_weights(train_set);
    let wt = Tensor::from_slice(&cw, NUM_TARGETS, &Device::Cpu)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed);
    let mut order: Vec<usize> = (0..train_set.len()).collect();
    let steps = train_set.len().div_ceil(cfg.batch_size);
    let (mut best, mut best_epoch, mut since_best) = (None::<(f64, NetWeights)>, 0, 0);
    let mut curves = Vec::new();
    let mut xb = Vec::with_capacity(cfg.batch_size * WINDOW_LEN);
    let mut yb = Vec::with_capacity(cfg.batch_size);
    let mut ub = Vec::with_capacity(cfg.batch_size * USER_LOAD_LEN);
    let mut steps_done = 0f64;
    let mut average: Option<Vec<Tensor>> = if cfg.weight_average_decay > 0.0 {
        Some(net.vars.iter().map(|v| v.as_tensor().copy()).collect::<Result<_, _>>()?)
    } else {
        None
    };
    for epoch in 1..=cfg.epochs {
        let started = Instant::now();
        let lr = learning_rate(cfg, epoch);
        opt.set_learning_rate(lr);
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for (step, batch) in order.chunks(cfg.batch_size).enumerate() {
            xb.clear();
            yb.clear();
            ub.clear();
            for &i in batch {
                xb.extend_from_slice(train_set.window(i));
                yb.push(train_set.y[i]);
                ub.extend(train_set.user_load(i, rng.random_bool(cfg.personal_calibration_rate)));
            }
            let x = Tensor::from_slice(&xb, (batch.len(), CHANNELS, WINDOW_FRAMES), &Device::Cpu)?;
            let u = Tensor::from_slice(&ub, (batch.len(), USER_LOAD_LEN), &Device::Cpu)?;
            let loss = weighted_loss(&net.forward(&x, &u)?, &Targets::new(&yb)?, &wt)?;
            opt.backward_step(&loss)?;
            steps_done += 1.0;
            if let Some(avg) = average.as_mut() {
                // Warm-up as TensorFlow's ExponentialMovingAverage: early steps are not outweighed by the
                // random initialisation.
                let d = cfg.weight_average_decay.min((1.0 + steps_done) / (10.0 + steps_done));
                for (a, v) in avg.iter_mut().zip(&net.vars) {
                    *a = ((&*a * d)? + (v.as_tensor() * (1.0 - d))?)?;
                }
            }
            loss_sum += loss.to_scalar::<f32>()? as f64;
            progress(TrainProgress::Step { epoch, step: step + 1, steps });
        }
        let averaged = match &average {
            Some(avg) => Some(PresenceNet { vars: avg.iter().map(Var::from_tensor).collect::<Result<_, _>>()? }),
            None => None,
        };
        let scored = averaged.as_ref().unwrap_or(&net);
        let v = score(scored, validation, &cw, false)?;
        let vc = if validation.has_calibrations() { score(scored, validation, &cw, true)? } else { v };
        let criterion = (v.balanced_accuracy + vc.balanced_accuracy) / 2.0;
        let m = EpochMetrics {
            epoch,
            train_loss: loss_sum / steps as f64,
            validation_loss: v.loss,
            validation_accuracy: v.accuracy,
            validation_balanced_accuracy: v.balanced_accuracy,
            validation_balanced_accuracy_calibrated: vc.balanced_accuracy,
            learning_rate: lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        progress(TrainProgress::Epoch(&m));
        curves.push(m);
        if best.as_ref().is_none_or(|(b, _)| criterion > *b) {
            best = Some((criterion, scored.weights()?));
            best_epoch = epoch;
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= cfg.patience {
                break;
            }
        }
    }
    let weights = match best {
        Some((_, w)) => w,
        None => net.weights()?,
    };
    Ok(Trained { weights, curves, best_epoch, class_weights: cw })
}

/// Progress of training, for a progress bar in the binary.
pub enum TrainProgress<'a> {
    /// A step finished.
    Step {
        /// Epoch, 1-based.
        epoch: usize,
        /// Step within the epoch, 1-based.
        step: usize,
        /// Steps per epoch.
        steps: usize,
    },
    /// An epoch finished.
    Epoch(&'a EpochMetrics),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(rows: &[[f32; NUM_STATES]], y: &[u32]) -> f32 {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let logits = Tensor::from_vec(flat, (rows.len(), NUM_STATES), &Device::Cpu).unwrap();
        let w = Tensor::from_slice(&[1f32; NUM_TARGETS], NUM_TARGETS, &Device::Cpu).unwrap();
        weighted_loss(&logits, &Targets::new(y).unwrap(), &w).unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn a_presence_only_target_is_met_by_any_posture_and_missed_by_absent() {
        let sitting = [0.0, 8.0, 0.0, 0.0];
        let lying = [0.0, 0.0, 8.0, 0.0];
        let absent = [8.0, 0.0, 0.0, 0.0];
        assert!(loss(&[sitting, lying], &[PRESENT_ANY, PRESENT_ANY]) < 0.01);
        assert!(loss(&[absent], &[PRESENT_ANY]) > 6.0, "-ln(3e-8) ≈ 6.9");
        // Full labels keep their ordinary meaning next to presence-only ones.
        assert!(loss(&[sitting, absent], &[2, PRESENT_ANY]) > 6.0);
        assert!(loss(&[lying, sitting], &[2, PRESENT_ANY]) < 0.01);
    }
}
