//! devices tests.
