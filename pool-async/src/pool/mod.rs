//! The pool around the sessions: the [`Pool`](handle::Pool) handle and its
//! builder, the guard of a checked-out connection, the manager that opens,
//! checks and resets connections for the engine (`manager`, `connect`,
//! `source`), its open connections (`roster`), the callbacks (`hooks`),
//! settings files (`settings`) and a primary with its standbys
//! (`replica_set`).

pub(crate) mod builder;
pub(crate) mod connect;
pub(crate) mod fields;
pub(crate) mod guard;
pub(crate) mod handle;
pub(crate) mod hooks;
pub(crate) mod manager;
pub(crate) mod replica_set;
pub(crate) mod roster;
pub(crate) mod session_settings;
pub(crate) mod settings;
pub(crate) mod source;
