//! Request and response shapes of the API, in camelCase JSON. Request bodies refuse unknown
//! fields so a misspelt field is an error rather than silently ignored.
//!
//! Topics and consumer groups are answered with the models' own JSON (`mq_model::Topic`,
//! `mq_model::ConsumerGroup`); the shapes here are the ones that exist only on the wire.

mod admin;
mod dead_letters;
mod delay;
mod messages;

pub(crate) use admin::{
    ConsumerOut, CreateGroup, CreateTopic, GroupPartitionOut, TopicCreated, UpdateGroup,
    UpdateTopic,
};
pub(crate) use dead_letters::{DeadLetterOut, RetryBody, RetryOut};
pub(crate) use delay::{CancelledOut, Reschedule, ScheduledOut, ScheduledPageOut};
pub(crate) use messages::{
    Acked, BatchOut, Consume, ExtendBody, Extended, MessageOut, MessagesOut, NackBody, Nacked,
    PreparedOut, PublishedOut, Released, SendBatch, SendMessage, SentOut, Settle,
};
