//! The library surface of the integration tests (`tests/it`) and the benchmarks (`benches/`),
//! in one place. The crate's modules are private to it (`pub(crate)`): the binary needs only
//! [`crate::cli`] (its entry) and [`crate::Outcome`], and [`crate::sim`] is public as a product
//! feature of its own (`authbulk sim`, `run --simulate`, the tests' and benchmarks' tenant).
//! What a white-box test or a benchmark drives in-process beyond that is re-exported here, by
//! area, and nothing else: it is not an API for other crates, and an item that only this
//! module keeps alive is one a test needs.

/// Job files: the readers, validation, fingerprints, and the operation model of a row.
pub mod job {
    pub use crate::job::{
        Action, ActionKind, Column, DefaultMethod, Defaults, Format, JobError, JobReader,
        JobSource, MethodType, Operation, PhoneSelector, PhoneType, Problem, Selector, TapParams,
        fingerprint_file, open, open_reader, validate_files,
    };
}

/// Credentials and access tokens, and the credential flags they are built from.
pub mod auth {
    pub use crate::auth::{
        AuthConfig, AuthError, Cloud, CredentialSource, ManagedIdentityEndpoint, Secret,
        TokenProvider,
    };
    pub use crate::cli::auth_flags::AuthArgs;
}

/// The Graph wire: requests, the client, Graph's names, path encoding, the methods JSON.
pub mod graph {
    pub use crate::graph::client::GraphClient;
    pub use crate::graph::methods::parse_methods;
    pub use crate::graph::wire::DirectoryUser;
    pub use crate::graph::{ApiVersion, ErrorKind, GraphCall, Request};

    /// Graph's names of method types.
    pub mod names {
        pub use crate::graph::names::{
            beta_only, collection, is_singleton, method_path, odata_type,
        };
    }

    /// Path encoding.
    pub mod path {
        pub use crate::graph::path::{segment, user};
    }

    /// The listing requests.
    pub mod requests {
        pub use crate::graph::requests::{PAGE_SIZE, group_members, list_users};
    }
}

/// Client-side budgets and retry timing.
pub mod throttle {
    pub use crate::throttle::retry::RetryPolicy;
    pub use crate::throttle::{Budget, BudgetMode, Learned, RateConfig};
}

/// The executor and the per-user driver.
pub mod exec {
    pub use crate::exec::{DriveEnd, ExecConfig, Executor, Shutdown, UserWork, for_each_user};
}

/// The planner's applier and what it works with.
pub mod plan {
    pub use crate::plan::{
        Applier, Method, MethodKind, PlanSummary, SmsSignInState, TapOutFile, TapSink,
    };
}

/// Report records and the journal of `--resume`.
pub mod report {
    pub use crate::report::frame::seal;
    pub use crate::report::journal::Entry;
    pub use crate::report::{Journal, Record, Status};
}
