//! Bounded waits: every call into a remote store goes through [`bounded`], so a store that is
//! down or hangs gives a typed [`RepoError::Timeout`] instead of a hang.

use std::future::Future;
use std::time::Duration;

use crate::{Backend, RepoError, RepoResult};

/// Runs `fut`, failing with [`RepoError::Timeout`] if it takes longer than `after`.
pub(crate) async fn bounded<T>(
    backend: Backend,
    op: &'static str,
    after: Duration,
    fut: impl Future<Output = RepoResult<T>>,
) -> RepoResult<T> {
    match tokio::time::timeout(after, fut).await {
        Ok(result) => result,
        Err(_) => Err(RepoError::Timeout { backend, op, after }),
    }
}
