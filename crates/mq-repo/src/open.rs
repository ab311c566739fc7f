//! Picking an implementation from config: what the server binary calls at start-up.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    MemoryMessageLog, MemoryMetadata, MessageStores, MetadataStores, MongoConfig, MongoMetadata,
    RedisConfig, RedisMessageLog, RepoResult,
};

/// Where messages are stored (`message_queue.provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogProvider {
    /// In process memory: nothing to run, nothing survives a restart.
    #[default]
    Memory,
    /// Redis Streams.
    RedisStreams,
}

/// Where metadata is stored (`metadata.provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataProvider {
    /// In process memory.
    #[default]
    Memory,
    /// MongoDB (or a MongoDB-wire server).
    Mongodb,
}

/// Opens the message log and its schedule of delayed messages in the store the provider
/// names (one store serves both: firing moves a message from one into the other atomically);
/// `redis` is used only for Redis.
pub async fn open_message_stores(
    provider: LogProvider,
    redis: &RedisConfig,
) -> RepoResult<MessageStores> {
    Ok(match provider {
        LogProvider::Memory => MessageStores::from_shared(Arc::new(MemoryMessageLog::default())),
        LogProvider::RedisStreams => {
            MessageStores::from_shared(Arc::new(RedisMessageLog::connect(redis).await?))
        }
    })
}

/// Opens the metadata repositories the provider names; `mongo` is used only for MongoDB.
pub async fn open_metadata(
    provider: MetadataProvider,
    mongo: &MongoConfig,
) -> RepoResult<MetadataStores> {
    Ok(match provider {
        MetadataProvider::Memory => MemoryMetadata::stores(),
        MetadataProvider::Mongodb => {
            MetadataStores::from_shared(Arc::new(MongoMetadata::connect(mongo).await?))
        }
    })
}
