//! rate_limits tests.
