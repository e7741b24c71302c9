//! filters tests.
