//! Encryption at rest of message values (design §7.2): the `encryption` topic setting, the keys
//! of `message_queue.encryption`, and the envelope stored in place of a value.
//!
//! A topic created with `config["encryption"] = "aes-256-gcm"` stores every message value as an
//! envelope, sealed once when it is published (or prepared in a transaction) and opened only
//! when it is handed out (fetch, browse, dead-letter reads). Everything that copies a stored
//! value (the delay schedule, half messages, dead letters and their redrives) copies the
//! envelope, so no store ever holds the plaintext. Only values are encrypted: keys, headers and
//! ids stay readable, since routing, filtering and redrives need them.
//!
//! Envelope: `MAGIC` (4 bytes), a version byte, the key id's length (1 byte) and the key id,
//! a random 12-byte nonce, then the AES-256-GCM ciphertext with its 16-byte tag. The associated
//! data is the envelope's header (magic to key id) followed by the topic name, so a value copied
//! into another topic, or relabelled with another key id, fails to open.
//!
//! Keys rotate by appending: the last key of `message_queue.encryption.keys` seals new values,
//! every listed key opens the values it sealed. A value whose key is no longer listed, or that
//! was altered, is an error where it would be delivered ([`BrokerError::Undecryptable`]), never
//! garbage.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use mq_model::{DeadLetterMessage, Topic};
use serde::{Deserialize, Serialize};

use crate::{Broker, BrokerError, BrokerResult};

/// The key of the `Topic.config` entry that turns encryption on.
pub const TOPIC_SETTING: &str = "encryption";
/// The one algorithm `config.encryption` may name.
pub const AES_256_GCM: &str = "aes-256-gcm";
/// Longest key id, in bytes (it is stored with every value).
pub const MAX_KEY_ID_LEN: usize = 64;

/// First bytes of every sealed value. The zero byte keeps text payloads from looking like one.
const MAGIC: &[u8; 4] = b"\0mqe";
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// The `message_queue.encryption` section: the keys values of encrypted topics are sealed with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionConfig {
    /// The keys, oldest first: the last one seals new values, all of them open old ones.
    /// Empty (default): encrypted topics can be neither published to nor read.
    pub keys: Vec<EncryptionKey>,
}

/// One key of `message_queue.encryption.keys`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionKey {
    /// A short name stored with every value it seals, unique in the list; at most 64 bytes.
    pub id: String,
    /// The key: standard base64 of exactly 32 random bytes.
    pub key: String,
}

// By hand, so that a config printed with `{:?}` (in a log line, a panic) never shows a key.
impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey").field("id", &self.id).field("key", &"<redacted>").finish()
    }
}

impl EncryptionConfig {
    /// Checks every key: ids non-empty, unique and short; keys base64 of exactly 32 bytes.
    /// Errors name the key, e.g. `message_queue.encryption.keys[1].key`, never its value.
    pub fn validate(&self) -> BrokerResult<()> {
        Keyring::from_config(self).map(drop)
    }
}

/// Why a stored value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The value is not an envelope of a version this broker reads.
    #[error("the stored value is not an encrypted value ({0})")]
    Malformed(&'static str),
    /// The key the value was sealed with is not configured here.
    #[error("it was encrypted with key {key_id:?}, which is not in message_queue.encryption.keys")]
    UnknownKey {
        /// The key id the value names.
        key_id: String,
    },
    /// Authentication failed: the value was altered, was copied from another topic, or the
    /// key with this id has other bytes than the one that sealed it.
    #[error("authentication with key {key_id:?} failed: the value was altered, belongs to another topic, or the key changed")]
    Rejected {
        /// The key id the value names.
        key_id: String,
    },
}

/// The usable keys, decoded once; the last seals.
#[derive(Clone, Default)]
pub(crate) struct Keyring {
    keys: Vec<(String, Aes256Gcm)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

impl Keyring {
    /// Whether no key is configured (encrypted topics can then be neither written nor read).
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Decodes and checks the configured keys.
    pub(crate) fn from_config(cfg: &EncryptionConfig) -> BrokerResult<Self> {
        let mut keys: Vec<(String, Aes256Gcm)> = Vec::with_capacity(cfg.keys.len());
        for (i, entry) in cfg.keys.iter().enumerate() {
            let bad = |leaf: &str, reason: String| BrokerError::InvalidConfig {
                field: format!("message_queue.encryption.keys[{i}].{leaf}"),
                reason,
            };
            if entry.id.is_empty() || entry.id.len() > MAX_KEY_ID_LEN {
                return Err(bad("id", format!("must be 1 to {MAX_KEY_ID_LEN} bytes long")));
            }
            if keys.iter().any(|(id, _)| *id == entry.id) {
                return Err(bad(
                    "id",
                    format!("{:?} is listed twice; ids must be unique", entry.id),
                ));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(entry.key.trim())
                .map_err(|_| bad("key", "must be standard base64 (of 32 bytes)".to_owned()))?;
            if bytes.len() != KEY_LEN {
                return Err(bad(
                    "key",
                    format!("must decode to exactly {KEY_LEN} bytes, got {}", bytes.len()),
                ));
            }
            keys.push((entry.id.clone(), Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes))));
        }
        Ok(Self { keys })
    }

    /// Seals `plaintext` for `topic` with the current (last) key; `None` without keys.
    pub(crate) fn seal(&self, topic: &str, plaintext: &[u8]) -> Option<Vec<u8>> {
        let (key_id, cipher) = self.keys.last()?;
        let mut out = header(key_id);
        let aad = [out.as_slice(), topic.as_bytes()].concat();
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // Encryption fails only for inputs beyond GCM's limit (64 GiB), far above any value.
        let sealed = cipher.encrypt(&nonce, Payload { msg: plaintext, aad: &aad }).ok()?;
        out.reserve(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Some(out)
    }

    /// Opens a value sealed for `topic` by any configured key.
    pub(crate) fn open(&self, topic: &str, stored: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let rest = stored
            .strip_prefix(MAGIC.as_slice())
            .ok_or(CryptoError::Malformed("no envelope header"))?;
        let (&version, rest) = rest.split_first().ok_or(CryptoError::Malformed("truncated"))?;
        if version != VERSION {
            return Err(CryptoError::Malformed("unknown envelope version"));
        }
        let (&id_len, rest) = rest.split_first().ok_or(CryptoError::Malformed("truncated"))?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed("truncated"));
        }
        let (id, rest) = rest.split_at(id_len);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let key_id = String::from_utf8_lossy(id).into_owned();
        let cipher = self
            .keys
            .iter()
            .find(|(known, _)| known.as_bytes() == id)
            .map(|(_, cipher)| cipher)
            .ok_or_else(|| CryptoError::UnknownKey { key_id: key_id.clone() })?;
        let header_len = MAGIC.len() + 2 + id_len;
        let aad = [&stored[..header_len], topic.as_bytes()].concat();
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: &aad })
            .map_err(|_| CryptoError::Rejected { key_id })
    }
}

fn header(key_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + key_id.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    // Ids are checked to be at most MAX_KEY_ID_LEN (64) bytes, so the length fits a byte.
    out.push(u8::try_from(key_id.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(key_id.as_bytes());
    out
}

/// Whether a topic config asks for encryption. Unknown algorithms are an `InvalidRequest`
/// naming `config.encryption`: a topic must never silently store in the clear what its owner
/// asked to encrypt.
pub(crate) fn topic_encryption(config: &BTreeMap<String, String>) -> BrokerResult<bool> {
    match config.get(TOPIC_SETTING).map(String::as_str) {
        None => Ok(false),
        Some(AES_256_GCM) => Ok(true),
        Some(other) => Err(BrokerError::invalid(
            "config.encryption",
            format!("unknown algorithm {other:?}; the only one is {AES_256_GCM:?} (leave it out for none)"),
        )),
    }
}

/// Checks a topic's `config.encryption` on update: a valid value, and the same as before,
/// because the messages already stored were written under the old setting.
pub(crate) fn check_encryption_update(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> BrokerResult<()> {
    topic_encryption(new)?;
    if old.get(TOPIC_SETTING) != new.get(TOPIC_SETTING) {
        return Err(BrokerError::invalid(
            "config.encryption",
            "cannot change after the topic is created (its stored messages keep the setting \
             they were written with); keep the current value, or create a new topic",
        ));
    }
    Ok(())
}

fn is_encrypted(topic: &Topic) -> bool {
    topic.config.get(TOPIC_SETTING).is_some_and(|v| v == AES_256_GCM)
}

impl Broker {
    /// The value to store for a message published to `topic`: sealed if the topic is encrypted.
    /// `EncryptionKeyMissing` when it is and no key is configured.
    pub(crate) fn seal_value(&self, topic: &Topic, value: Vec<u8>) -> BrokerResult<Vec<u8>> {
        if !topic_encryption(&topic.config)? {
            return Ok(value);
        }
        self.inner
            .keyring
            .seal(&topic.name, &value)
            .ok_or_else(|| BrokerError::EncryptionKeyMissing { topic: topic.name.clone() })
    }

    /// The plaintext of a value stored in `topic`; `at` says where, for the error.
    pub(crate) fn open_value(
        &self,
        topic: &Topic,
        at: impl FnOnce() -> String,
        value: Vec<u8>,
    ) -> BrokerResult<Vec<u8>> {
        if !is_encrypted(topic) {
            return Ok(value);
        }
        self.open_sealed(&topic.name, at, &value)
    }

    fn open_sealed(
        &self,
        topic: &str,
        at: impl FnOnce() -> String,
        value: &[u8],
    ) -> BrokerResult<Vec<u8>> {
        self.inner.keyring.open(topic, value).map_err(|source| {
            let error =
                BrokerError::Undecryptable { topic: topic.to_owned(), location: at(), source };
            tracing::error!(%error, "stored value cannot be decrypted");
            error
        })
    }

    /// A dead letter with its content in plaintext. Its topic decides, as for the log; a dead
    /// letter whose topic is gone is opened if its content is an envelope.
    pub(crate) async fn open_dead_letter(
        &self,
        mut dead: DeadLetterMessage,
    ) -> BrokerResult<DeadLetterMessage> {
        let encrypted = match self.cached_topic(&dead.original_topic_name).await? {
            Some(topic) => is_encrypted(&topic),
            None => dead.message_content.starts_with(MAGIC),
        };
        if encrypted {
            let at = || format!("dead letter {}", dead.id);
            dead.message_content =
                self.open_sealed(&dead.original_topic_name, at, &dead.message_content)?;
        }
        Ok(dead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, byte: u8) -> EncryptionKey {
        let key = base64::engine::general_purpose::STANDARD.encode([byte; KEY_LEN]);
        EncryptionKey { id: id.to_owned(), key }
    }

    fn ring(keys: &[EncryptionKey]) -> Keyring {
        Keyring::from_config(&EncryptionConfig { keys: keys.to_vec() }).unwrap()
    }

    #[test]
    fn a_value_round_trips_and_hides_its_plaintext() {
        let ring = ring(&[key("k1", 1)]);
        let sealed = ring.seal("orders", b"secret payload").unwrap();
        assert!(sealed.starts_with(MAGIC));
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(sealed.len(), MAGIC.len() + 2 + 2 + NONCE_LEN + 14 + TAG_LEN);
        assert_eq!(ring.open("orders", &sealed).unwrap(), b"secret payload");
        // A fresh nonce each time: equal values do not look equal.
        assert_ne!(sealed, ring.seal("orders", b"secret payload").unwrap());
        let empty = ring.seal("orders", b"").unwrap();
        assert_eq!(ring.open("orders", &empty).unwrap(), b"");
    }

    #[test]
    fn a_value_opens_only_in_its_topic_with_its_key_untouched() {
        let k1 = ring(&[key("k1", 1)]);
        let sealed = k1.seal("orders", b"secret").unwrap();
        let rejected = CryptoError::Rejected { key_id: "k1".into() };
        // Another topic: the associated data differs.
        assert_eq!(k1.open("payments", &sealed), Err(rejected.clone()));
        // Same id, other bytes.
        assert_eq!(ring(&[key("k1", 2)]).open("orders", &sealed), Err(rejected.clone()));
        // Unknown id.
        let unknown = ring(&[key("k2", 1)]).open("orders", &sealed);
        assert_eq!(unknown, Err(CryptoError::UnknownKey { key_id: "k1".into() }));
        // Any flipped byte after the header: nonce, ciphertext or tag.
        for i in MAGIC.len() + 4..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert_eq!(k1.open("orders", &tampered), Err(rejected.clone()), "byte {i}");
        }
        // A header relabelled to another configured key.
        let both = ring(&[key("k1", 1), key("k2", 1)]);
        let mut relabelled = sealed.clone();
        relabelled[MAGIC.len() + 3] = b'2';
        assert_eq!(
            both.open("orders", &relabelled),
            Err(CryptoError::Rejected { key_id: "k2".into() })
        );
        // Not an envelope at all, or cut short.
        assert!(matches!(k1.open("orders", b"plain"), Err(CryptoError::Malformed(_))));
        assert!(matches!(k1.open("orders", &sealed[..20]), Err(CryptoError::Malformed(_))));
        let mut future = sealed.clone();
        future[MAGIC.len()] = 9;
        assert!(matches!(k1.open("orders", &future), Err(CryptoError::Malformed(_))));
    }

    #[test]
    fn the_last_key_seals_and_every_key_opens() {
        let old = ring(&[key("k1", 1)]).seal("t", b"old").unwrap();
        let rotated = ring(&[key("k1", 1), key("k2", 2)]);
        let new = rotated.seal("t", b"new").unwrap();
        assert_eq!(&new[MAGIC.len() + 2..MAGIC.len() + 4], b"k2");
        assert_eq!(rotated.open("t", &old).unwrap(), b"old");
        assert_eq!(rotated.open("t", &new).unwrap(), b"new");
        assert!(ring(&[key("k2", 2)]).open("t", &old).is_err());
        assert!(Keyring::default().seal("t", b"x").is_none());
    }

    #[test]
    fn bad_keys_are_named_and_never_printed() {
        let check = |keys: Vec<EncryptionKey>, field: &str| {
            let err = EncryptionConfig { keys }.validate().unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        };
        let short = EncryptionKey {
            id: "k2".into(),
            key: base64::engine::general_purpose::STANDARD.encode([7u8; 16]),
        };
        check(vec![key("k1", 1), short], "message_queue.encryption.keys[1].key");
        check(vec![key("k1", 1), key("k1", 2)], "message_queue.encryption.keys[1].id");
        check(vec![key("", 1)], "message_queue.encryption.keys[0].id");
        check(vec![key(&"x".repeat(65), 1)], "message_queue.encryption.keys[0].id");
        let not_base64 = EncryptionKey { id: "k".into(), key: "not base64!".into() };
        check(vec![not_base64], "message_queue.encryption.keys[0].key");
        EncryptionConfig::default().validate().unwrap();
        EncryptionConfig { keys: vec![key("k1", 1), key("k2", 2)] }.validate().unwrap();

        let cfg = EncryptionConfig { keys: vec![key("k1", 1)] };
        let printed = format!("{cfg:?} {:?}", ring(&cfg.keys));
        assert!(printed.contains("k1") && !printed.contains(&cfg.keys[0].key), "{printed}");
    }

    #[test]
    fn topics_name_a_known_algorithm_and_keep_it() {
        let with = |v: &str| BTreeMap::from([(TOPIC_SETTING.to_owned(), v.to_owned())]);
        assert!(!topic_encryption(&BTreeMap::new()).unwrap());
        assert!(topic_encryption(&with("aes-256-gcm")).unwrap());
        for bad in ["aes-128-gcm", "AES-256-GCM", "none", ""] {
            let err = topic_encryption(&with(bad)).unwrap_err();
            assert!(err.to_string().contains("config.encryption"), "{err}");
        }
        check_encryption_update(&with("aes-256-gcm"), &with("aes-256-gcm")).unwrap();
        check_encryption_update(&BTreeMap::new(), &BTreeMap::new()).unwrap();
        assert!(check_encryption_update(&with("aes-256-gcm"), &BTreeMap::new()).is_err());
        assert!(check_encryption_update(&BTreeMap::new(), &with("aes-256-gcm")).is_err());
    }
}
