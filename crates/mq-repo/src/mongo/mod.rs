//! The MongoDB metadata repositories: document structs, indexes and the repository impls.

mod alert_docs;
mod alerts;
mod dead_letter_docs;
mod dead_letters;
mod docs;
mod indexes;
mod queries;
mod repos;
mod security;
mod security_docs;
mod transaction_docs;
mod transactions;

pub use repos::MongoMetadata;
