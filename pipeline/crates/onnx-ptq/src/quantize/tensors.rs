//! Initializer data in and out: float weights are read whatever their encoding (raw bytes or the typed
//! field), quantized tensors, scales and zero points are written as raw little-endian data.

use super::QuantizeError;
use crate::proto::TensorProto;
use crate::proto::tensor_proto::{DataLocation, DataType};

/// Number of elements of a tensor of these dimensions (a scalar has one).
pub(crate) fn numel(dims: &[i64]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, &d| usize::try_from(d).ok().and_then(|d| n.checked_mul(d)))
}

/// The values of a float32 initializer.
pub(crate) fn read_f32(t: &TensorProto) -> Result<Vec<f32>, QuantizeError> {
    let name = t.name.clone().unwrap_or_default();
    let bad = |reason: String| QuantizeError::Initializer { name: name.clone(), reason };
    if t.data_location == Some(DataLocation::External as i32) || !t.external_data.is_empty() {
        return Err(bad("stored as external data, which the quantizer does not read".into()));
    }
    if t.data_type != Some(DataType::Float as i32) {
        let ty = t.data_type.and_then(|d| DataType::try_from(d).ok()).map_or("unknown", |d| d.as_str_name());
        return Err(bad(format!("element type {ty}, expected FLOAT")));
    }
    let n = numel(&t.dims).ok_or_else(|| bad(format!("invalid dimensions {:?}", t.dims)))?;
    let values: Vec<f32> = match &t.raw_data {
        Some(raw) => {
            if raw.len() != 4 * n {
                return Err(bad(format!("{} raw bytes for {n} float values", raw.len())));
            }
            raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        }
        None => t.float_data.clone(),
    };
    if values.len() != n {
        return Err(bad(format!("{} values for dimensions {:?}", values.len(), t.dims)));
    }
    Ok(values)
}

fn raw(name: &str, dims: &[i64], data_type: DataType, bytes: Vec<u8>) -> TensorProto {
    TensorProto {
        name: Some(name.to_string()),
        dims: dims.to_vec(),
        data_type: Some(data_type as i32),
        raw_data: Some(bytes),
        ..Default::default()
    }
}

/// A float32 tensor.
pub(crate) fn f32_tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    raw(name, dims, DataType::Float, data.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// An int64 tensor.
pub(crate) fn i64_tensor(name: &str, dims: &[i64], data: &[i64]) -> TensorProto {
    raw(name, dims, DataType::Int64, data.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// An int32 tensor (quantized biases and their zero points).
pub(crate) fn i32_tensor(name: &str, dims: &[i64], data: &[i32]) -> TensorProto {
    raw(name, dims, DataType::Int32, data.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// An 8-bit tensor of the given type; `data` must already be in its range.
pub(crate) fn q8_tensor(name: &str, dims: &[i64], data: &[i32], signed: bool) -> TensorProto {
    let (ty, bytes) = if signed {
        (DataType::Int8, data.iter().map(|&v| (v.clamp(-128, 127) as i8) as u8).collect())
    } else {
        (DataType::Uint8, data.iter().map(|&v| v.clamp(0, 255) as u8).collect())
    };
    raw(name, dims, ty, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_from_raw_and_typed_encodings() {
        let t = f32_tensor("w", &[2, 2], &[1.0, -2.0, 3.5, 0.0]);
        assert_eq!(read_f32(&t).unwrap(), vec![1.0, -2.0, 3.5, 0.0]);
        let typed = TensorProto {
            name: Some("w".into()),
            dims: vec![3],
            data_type: Some(DataType::Float as i32),
            float_data: vec![1.0, 2.0, 3.0],
            ..Default::default()
        };
        assert_eq!(read_f32(&typed).unwrap(), vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn wrong_length_and_type_are_named_errors() {
        let mut t = f32_tensor("w", &[3], &[1.0, 2.0]);
        let e = read_f32(&t).unwrap_err().to_string();
        assert!(e.contains("'w'") && e.contains("8 raw bytes for 3"), "{e}");
        t.data_type = Some(DataType::Double as i32);
        assert!(read_f32(&t).unwrap_err().to_string().contains("DOUBLE"));
    }

    #[test]
    fn int8_tensors_keep_their_sign() {
        let t = q8_tensor("q", &[3], &[-128, 0, 127], true);
        assert_eq!(t.raw_data.unwrap(), vec![0x80, 0, 0x7f]);
        assert_eq!(numel(&[]), Some(1));
        assert_eq!(numel(&[2, -1]), None);
    }
}
