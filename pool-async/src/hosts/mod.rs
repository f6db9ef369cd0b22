//! Several hosts in one connection string: libpq's `target_session_attrs`
//! and `load_balance_hosts`, the walk over the hosts, and the role of the
//! server each connection reached.

mod attrs;
mod role;
mod walk;

pub(crate) use attrs::{LoadBalance, Routing, SessionAttrs};
pub(crate) use role::{Role, RoleWatch};
pub(crate) use walk::{Attempt, Failure};
