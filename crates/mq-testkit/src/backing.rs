//! What stands behind a fixture (a shared external server, a container, or a spawned process)
//! and how each is stopped.

use testcontainers::{ContainerAsync, GenericImage};

use crate::process::ChildServer;

/// The server behind one fixture.
#[derive(Debug)]
pub(crate) enum Backing {
    /// Named by an environment variable; shared, never stopped by us.
    External,
    /// A testcontainers container; `None` once stopped. Dropping it removes the container.
    Container(Option<Box<ContainerAsync<GenericImage>>>),
    /// A process spawned for this fixture alone.
    Process(ChildServer),
}

impl Backing {
    /// Whether the fixture may stop its server.
    pub(crate) fn is_owned(&self) -> bool {
        !matches!(self, Backing::External)
    }

    /// A word for messages and `Debug`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Backing::External => "external",
            Backing::Container(_) => "container",
            Backing::Process(_) => "process",
        }
    }

    /// Stops an owned server; panics on a shared one, which a test must not take down under
    /// its neighbours (such tests start their fixture with `start_owned`).
    pub(crate) fn stop(&mut self, what: &str) {
        match self {
            Backing::External => panic!(
                "{what}::stop() on a shared external server: start the fixture with \
                 {what}::start_owned() to get a server the test may stop"
            ),
            // testcontainers removes the container in its `Drop`, blocking until it is gone.
            Backing::Container(container) => drop(container.take()),
            Backing::Process(process) => process.stop(),
        }
    }
}
