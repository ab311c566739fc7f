//! The MongoDB metadata repositories: document structs, indexes and the repository impls.

mod docs;
mod indexes;
mod queries;
mod repos;

pub use repos::MongoMetadata;
