//! Receipts: the opaque token a consumer hands back to ack or nack a delivery. A receipt is the
//! URL-safe base64 of a bincode-encoded (version, partition, offset, delivery count), so acking
//! needs no lookup and a receipt stays valid across server restarts.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::{BrokerError, BrokerResult};

const VERSION: u8 = 1;

/// What a receipt names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Receipt {
    version: u8,
    pub(crate) partition: u32,
    pub(crate) offset: u64,
    pub(crate) delivery_count: u32,
}

impl Receipt {
    pub(crate) fn new(partition: u32, offset: u64, delivery_count: u32) -> Self {
        Self { version: VERSION, partition, offset, delivery_count }
    }

    pub(crate) fn encode(&self) -> String {
        // Encoding plain integers into a Vec cannot fail; an empty receipt would be rejected on
        // the way back, never silently accepted.
        let bytes =
            bincode::serde::encode_to_vec(self, bincode::config::standard()).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub(crate) fn decode(text: &str) -> BrokerResult<Self> {
        let malformed = || BrokerError::invalid("receipts", format!("malformed receipt {text:?}"));
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| malformed())?;
        let (receipt, used): (Receipt, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
                .map_err(|_| malformed())?;
        if used != bytes.len() || receipt.version != VERSION {
            return Err(malformed());
        }
        Ok(receipt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let r = Receipt::new(5, 1_234_567_890_123, 3);
        let text = r.encode();
        assert!(text.len() < 24, "compact: {text}");
        assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(Receipt::decode(&text).unwrap(), r);
        for bad in ["", "!!!", "AAAA", &format!("{text}AA")] {
            assert!(Receipt::decode(bad).is_err(), "{bad:?}");
        }
    }
}
