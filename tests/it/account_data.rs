//! account_data tests.
