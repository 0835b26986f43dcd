//! The in-process backend of the store traits.
