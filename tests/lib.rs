//! The integration tests of the tidepool workspace (`tests/*.rs`), against
//! a real PostgreSQL that they start themselves through
//! [`tidepool-testdb`](../tidepool_testdb/index.html). This library holds
//! nothing: the tests are the package.
