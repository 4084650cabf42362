//! HapticMat Presence pipeline: the ML team's and Jenkins' tool. Simulates and imports data, trains
//! the presence CNN, exports ONNX, evaluates, and drives the monitor and recorder. The binary only
//! parses arguments; everything here is tested without a terminal.
//!
//! The jobs here build on three libraries of this workspace, each usable on its own: `onnx-ptq` (ONNX
//! types, graph builder, int8 post-training quantization), `mlflow-rest` (the MLflow REST client) and
//! `hapticmat-release` (the production store and the release protocol).

pub mod compare;
pub mod dataset;
pub mod evaluate;
pub mod export;
pub mod fsutil;
pub mod keys;
pub mod live;
pub mod npy;
pub mod plots;
pub mod promote;
pub mod ptq;
pub mod publish;
pub mod run;
pub mod scenarios;
pub mod tracking;
pub mod train;
