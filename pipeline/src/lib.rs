//! HapticMat Presence pipeline: the ML team's and Jenkins' tool. Simulates and imports data, trains
//! the presence CNN, exports ONNX, evaluates, and drives the monitor and recorder. The binary only
//! parses arguments; everything here is tested without a terminal.

pub mod compare;
pub mod dataset;
pub mod evaluate;
pub mod fsutil;
pub mod keyring;
pub mod keys;
pub mod live;
pub mod mlflow;
pub mod npy;
pub mod onnx;
pub mod plots;
pub mod promote;
pub mod ptq;
pub mod publish;
pub mod quantize;
pub mod release;
pub mod run;
pub mod scenarios;
pub mod store;
pub mod tracking;
pub mod train;
