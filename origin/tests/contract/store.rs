//! Contract tests of the store traits.
